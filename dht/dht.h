/* dht.h - the OpenDHT adapter's API: one runner, its operations handed to a libuv loop
 *
 * OpenDHT runs on its own threads and calls back from there. This module is
 * the only place that sees those threads: its callbacks copy what they get
 * into events on a locked queue and wake the loop with uv_async_send. Every
 * dr_dht_* function and every callback given to them runs on the loop
 * thread, and nothing else here may be called from any other thread.
 *
 * Operations in flight are bounded (config.max_inflight); the rest wait in a
 * FIFO on the loop side and start as earlier ones finish, so a burst of
 * requests queues up instead of swamping OpenDHT.
 */
#ifndef DR_DHT_H
#define DR_DHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DR_DHT_KEY_SIZE 20
/* The OpenDHT value type of dhtreg's entries: user data whose stored copies
 * a newer version with the same value id may replace (see edit_ok). */
#define DR_DHT_VALUE_TYPE 0x6472

typedef struct dr_dht dr_dht;
typedef struct dr_dht_put dr_dht_put;
typedef struct dr_dht_lookup dr_dht_lookup;
typedef struct dr_dht_listen dr_dht_listen;

enum { DR_DHT_LOG_ERROR = 0, DR_DHT_LOG_WARN, DR_DHT_LOG_INFO, DR_DHT_LOG_DEBUG };

typedef struct dr_dht_config {
  uint16_t port;         /* UDP port; 0 picks a free one */
  uint32_t network;      /* OpenDHT network id */
  const uint8_t *node_id; /* 20 bytes, or NULL for a random one */
  unsigned max_inflight; /* 0: default (64) */
  unsigned max_queued;   /* gets waiting at most (0: default, 1024); more are refused */
  unsigned value_lifetime_s; /* how long nodes keep a value after its last announce; 0: 600 */
  long peer_rate_limit;  /* requests served per second to one IP address; 0:
                            OpenDHT's default (1024), -1: no limit */
  /* optional edit policy of DR_DHT_VALUE_TYPE values: may a stored value
   * (old) be replaced by a new one with the same value id? Called on
   * OpenDHT's thread, so it must only look at its arguments. */
  bool (*edit_ok)(void *edit_ctx, uint64_t value_id, const uint8_t *old, size_t old_len,
                  const uint8_t *nw, size_t new_len);
  void *edit_ctx;
  /* optional logger, called on the loop thread */
  void (*log)(void *log_ctx, int level, const char *msg);
  void *log_ctx;
} dr_dht_config;

/* Starts a runner bound to cfg->port and ties it to loop. On success *out is
 * the adapter (free it with dr_dht_close) and 0 is returned; otherwise a
 * negative errno (-ENOTCONN when the port is taken). */
int dr_dht_start(dr_dht **out, uv_loop_t *loop, const dr_dht_config *cfg);

/* Stops the runner, fails every operation still queued or in flight (their
 * done callbacks run with ok=false, value callbacks no more), and frees the
 * adapter; done(ctx) runs on the loop once all of it is over. Every
 * dr_dht_put and dr_dht_listen handle is invalid after this returns. */
void dr_dht_close(dr_dht *d, void (*done)(void *ctx), void *ctx);

/* Joins the network through host:port (name resolution happens on OpenDHT's
 * thread). */
void dr_dht_bootstrap(dr_dht *d, const char *host, const char *port);

/* The UDP port the runner is bound to. */
uint16_t dr_dht_port(const dr_dht *d);

/* Routing-table counts (IPv4 and IPv6 together), as last sampled. Never
 * blocks: the adapter refreshes them on OpenDHT's thread. */
void dr_dht_node_counts(const dr_dht *d, unsigned *good, unsigned *dubious);

/* The searches OpenDHT holds (one per key looked up or announced in the
 * last hour), as last sampled. */
unsigned dr_dht_searches(const dr_dht *d);

/* Operations waiting and in flight, for node.info and tests. */
size_t dr_dht_pending(const dr_dht *d);

/* How often a put in flight too long had its search stepped (see NUDGE_MS
 * in dht.c). */
uint64_t dr_dht_nudges(const dr_dht *d);

/* DHT requests sent and received (ping, find, get, listen, put), counted
 * by OpenDHT and collected every second. */
enum { DR_DHT_MSG_PING, DR_DHT_MSG_FIND, DR_DHT_MSG_GET, DR_DHT_MSG_LISTEN, DR_DHT_MSG_PUT, DR_DHT_MSG__COUNT };
void dr_dht_message_counts(const dr_dht *d, uint64_t sent[DR_DHT_MSG__COUNT],
                           uint64_t received[DR_DHT_MSG__COUNT]);

/* What OpenDHT stores on this node (for itself and for others), as
 * sampled with the message counts. */
void dr_dht_store_size(const dr_dht *d, uint64_t *values, uint64_t *bytes);

typedef void (*dr_dht_value_cb)(void *ctx, const uint8_t *data, size_t len);
typedef void (*dr_dht_done_cb)(void *ctx, bool ok);

/* Gets every value stored under key. on_value runs once per value received
 * (duplicates from several nodes included), then on_done exactly once,
 * unless the get is cancelled first. ctx must stay valid until then. *out
 * (may be NULL) is the handle for dr_dht_get_cancel, valid until on_done
 * runs. Returns 0, or -ENOBUFS when max_queued gets wait already (a burst
 * the DHT cannot answer in time), -ESHUTDOWN or -ENOMEM; then no callback
 * runs. */
int dr_dht_get(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_value_cb on_value,
               dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out);

/* Its caller gave up: a get not started yet is dropped (false); one in
 * flight (true) finishes inside OpenDHT, but none of its callbacks runs. */
bool dr_dht_get_cancel(dr_dht *d, dr_dht_lookup *g);

/* Gets refused because the queue was full. */
uint64_t dr_dht_refused(const dr_dht *d);

/* Puts data under key as a DR_DHT_VALUE_TYPE value with id value_id (0:
 * OpenDHT picks one; give a random one to be able to replace it). With permanent, OpenDHT keeps re-announcing it until
 * dr_dht_cancel. on_done (may be NULL) runs once, when the first announce
 * completes. Returns a handle the caller owns until dr_dht_cancel, or NULL
 * on allocation failure. */
dr_dht_put *dr_dht_put_value(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                             const uint8_t *data, size_t len, bool permanent,
                             dr_dht_done_cb on_done, void *ctx);

/* Replaces the value of the permanent put old with data, under the same key
 * and value id with the next OpenDHT seq: OpenDHT announces the new value in
 * place of the old one and nodes that store the old one replace it (when
 * their edit policy allows). old is released (as by dr_dht_cancel, but
 * without withdrawing the id) and the new handle is returned. Once the
 * 16-bit seq is used up (or old had no id of its own), old is cancelled and
 * the new value put under fresh_id instead. NULL on allocation failure (then
 * old is cancelled). */
dr_dht_put *dr_dht_replace(dr_dht *d, dr_dht_put *old, uint64_t fresh_id, const uint8_t *data,
                           size_t len, dr_dht_done_cb on_done, void *ctx);

/* Puts data under key once (OpenDHT's nodes keep it ten minutes); nothing
 * to cancel or free. Returns 0, -ESHUTDOWN or -ENOMEM. */
int dr_dht_put_once(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                    const uint8_t *data, size_t len);

/* Announces a permanent put's value again, under the same value id, to the
 * nodes now closest to its key (the replication task's repair: nodes that
 * still hold it only refresh it). Returns 0, or -EAGAIN while its first
 * announce is still under way, or -ENOMEM. */
int dr_dht_reput(dr_dht *d, dr_dht_put *p);

/* Stops announcing a value and releases its handle: its on_done will not run
 * any more. Safe while the put is still queued or in flight. */
void dr_dht_cancel(dr_dht *d, dr_dht_put *p);

/* Listens to key: on_value(ctx, data, len, expired) for every value stored
 * or expiring there, until dr_dht_unlisten. Returns NULL on failure. */
typedef void (*dr_dht_listen_cb)(void *ctx, const uint8_t *data, size_t len,
                                 bool expired);
dr_dht_listen *dr_dht_listen_start(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE],
                                   dr_dht_listen_cb on_value, void *ctx);

/* Stops a listen; on_value does not run again after this returns. */
void dr_dht_unlisten(dr_dht *d, dr_dht_listen *l);

#endif
