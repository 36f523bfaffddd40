/* dht.h - the OpenDHT adapter's API: one runner, its operations handed to a libuv loop
 *
 * OpenDHT runs on its own threads and calls back from there. This module is
 * the only place that sees those threads: its callbacks copy what they get
 * into events on a locked queue and wake the loop with uv_async_send. Every
 * dr_dht_* function and every callback given to them runs on the loop
 * thread, and nothing else here may be called from any other thread -- but
 * the store and edit policies, which OpenDHT calls on its own thread.
 *
 * Operations in flight are bounded (config.max_inflight); the rest wait in a
 * FIFO on the loop side and start as earlier ones finish, so a burst of
 * requests queues up instead of swamping OpenDHT. Gets waiting are bounded
 * too (config.max_queued).
 *
 * Every value this adapter puts or gets is of dhtreg's value type, put as a
 * plain (not permanent) value: OpenDHT keeps nothing of a put once it is
 * done, and the caller puts again what it wants kept (storers drop a value
 * value_lifetime_s after its last put).
 */
#ifndef DR_DHT_H
#define DR_DHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DR_DHT_KEY_SIZE 20

/* A latency histogram (Prometheus' cumulative buckets are summed when
 * written): counts[i] holds the observations up to DR_LATENCY_BOUNDS[i]
 * seconds and above the bound before; counts[DR_LATENCY_BUCKETS] those
 * above the last. */
#define DR_LATENCY_BUCKETS 14
#define DR_LATENCY_BOUNDS \
  {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
typedef struct dr_latency {
  uint64_t counts[DR_LATENCY_BUCKETS + 1];
  uint64_t count;
  double sum; /* seconds */
} dr_latency;

static inline void dr_latency_observe(dr_latency *h, uint64_t ns) {
  static const double bounds[DR_LATENCY_BUCKETS] = DR_LATENCY_BOUNDS;
  double s = (double)ns / 1e9;
  int i = 0;
  while (i < DR_LATENCY_BUCKETS && s > bounds[i]) i++;
  h->counts[i]++;
  h->count++;
  h->sum += s;
}
/* The OpenDHT value type of dhtreg's entries (docs/PROTOCOL.md). */
#define DR_DHT_VALUE_TYPE 0x6472
/* The OpenDHT user type of a resource entry's values (records and
 * tombstones have none): a get of the resource entry alone filters on it
 * on the storers, and storers refuse a value marked so that is not one. */
#define DR_DHT_RESOURCE_MARK "dhtreg-resource"
/* Nodes a put or get reports at most (its search's closest nodes). */
#define DR_DHT_NODES_MAX 16
/* Reasons a store is refused are small numbers below this: the caller's,
 * and DR_DHT_STORE_FULL, the adapter's own (no room left, see dht.c). */
#define DR_DHT_STORE_REASONS 16
#define DR_DHT_STORE_FULL (DR_DHT_STORE_REASONS - 1)

typedef struct dr_dht dr_dht;
typedef struct dr_dht_putop dr_dht_putop;
typedef struct dr_dht_lookup dr_dht_lookup;
typedef struct dr_dht_listen dr_dht_listen;

enum { DR_DHT_LOG_ERROR = 0, DR_DHT_LOG_WARN, DR_DHT_LOG_INFO, DR_DHT_LOG_DEBUG };

typedef struct dr_dht_config {
  uint16_t port;         /* UDP port; 0 picks a free one */
  uint32_t network;      /* OpenDHT network id */
  const uint8_t *node_id; /* 20 bytes, or NULL for a random one */
  const char *bind4, *bind6; /* numeric addresses to bind, or NULL; both NULL: all of both families */
  unsigned max_inflight; /* 0: default (64) */
  unsigned max_queued;   /* gets waiting at most (0: default, 1024); more are refused */
  unsigned value_lifetime_s; /* how long nodes keep a value after its last put; 0: 600 */
  long peer_rate_limit;  /* requests served per second to one IP address; 0:
                            OpenDHT's default (1024), -1: no limit */
  long max_store_bytes;  /* what this node stores for the DHT at most (0: 256 MiB) */
  /* the policies of DR_DHT_VALUE_TYPE values, called on OpenDHT's thread
   * (they must only look at their arguments and policy_ctx): store returns
   * 0 to accept a new value under key (mark: 1 when its OpenDHT user type
   * is DR_DHT_RESOURCE_MARK, 0 when it has none, -1 for any other), or a
   * reason 1..DR_DHT_STORE_REASONS-1
   * (counted, see dr_dht_store_refused); edit says whether a stored value
   * may be replaced by a new one of the same id */
  int (*store_ok)(void *policy_ctx, const uint8_t key[DR_DHT_KEY_SIZE], int mark,
                  const uint8_t *data, size_t len);
  bool (*edit_ok)(void *policy_ctx, uint64_t value_id, const uint8_t *old, size_t old_len,
                  const uint8_t *nw, size_t new_len);
  void *policy_ctx;
  /* optional logger, called on the loop thread */
  void (*log)(void *log_ctx, int level, const char *msg);
  void *log_ctx;
} dr_dht_config;

/* Starts a runner bound to cfg's addresses and port and ties it to loop. On
 * success *out is the adapter (free it with dr_dht_close) and 0 is
 * returned; otherwise a negative errno (-ENOTCONN when the port is taken,
 * -EADDRNOTAVAIL for a bind address that is not valid). */
int dr_dht_start(dr_dht **out, uv_loop_t *loop, const dr_dht_config *cfg);

/* Stops the runner, fails every operation still queued or in flight (their
 * done callbacks run with ok=false, value callbacks no more), and frees the
 * adapter; done(ctx) runs on the loop once all of it is over. Every
 * handle is invalid after this returns. */
void dr_dht_close(dr_dht *d, void (*done)(void *ctx), void *ctx);

/* An operation is over: ok, and the ids of the nodes its search settled on
 * (the key's closest it knows, at most DR_DHT_NODES_MAX; valid during the
 * call). */
typedef void (*dr_dht_done_cb)(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE],
                               size_t n_nodes);

/* Joins the network through host:port (numeric: the caller resolves
 * names): pings it now, and OpenDHT keeps it to ping again whenever it
 * has no node left. answered (may be NULL) runs once, on the loop, with
 * ok true once a DHT node answered the ping there, false once the ping was
 * given up (OpenDHT tries three times, about 3 s in all) or the adapter
 * closed first (no nodes either way). Returns 0, or -ESHUTDOWN (closing),
 * -EINVAL (not a numeric address) or -ENOMEM, and then answered never
 * runs. */
int dr_dht_bootstrap(dr_dht *d, const char *host, const char *port, dr_dht_done_cb answered, void *ctx);

/* The UDP port the runner is bound to (IPv4's, or IPv6's without IPv4). */
uint16_t dr_dht_port(const dr_dht *d);

/* Routing-table counts (IPv4 and IPv6 together), as last sampled. Never
 * blocks: the adapter refreshes them on OpenDHT's thread. */
void dr_dht_node_counts(const dr_dht *d, unsigned *good, unsigned *dubious);

/* The searches OpenDHT holds (one per key and address family used in the
 * last hour), as last sampled. */
unsigned dr_dht_searches(const dr_dht *d);

/* Operations waiting and in flight, for node.info and tests. */
size_t dr_dht_pending(const dr_dht *d);

/* Listens OpenDHT holds: started and not yet ended (an unlisten ends one
 * a moment later, on OpenDHT's thread). */
size_t dr_dht_listens(const dr_dht *d);

/* How often a put in flight too long had its search stepped (see NUDGE_MS
 * in dht.c). */
uint64_t dr_dht_nudges(const dr_dht *d);

/* Binds and closes a UDP socket as a runner of that port and addresses
 * (NULL, NULL: every address of both families) would: 0, or the negative
 * errno that kept it from binding (dr_dht_start does not learn it). */
int dr_dht_probe_bind(const char *bind4, const char *bind6, uint16_t port);

/* How long this runner's gets and puts took, from their start (not their
 * wait in the queue) to their end, retries included. */
void dr_dht_latencies(const dr_dht *d, dr_latency *get, dr_latency *put);

/* Gets refused because the queue was full. */
uint64_t dr_dht_refused(const dr_dht *d);

/* Gets that came back empty from fewer nodes than a lookup should reach,
 * and were asked again (once). */
uint64_t dr_dht_retries(const dr_dht *d);

/* Stores the policy refused, by its reason (reasons[0] unused). */
void dr_dht_store_refused(const dr_dht *d, uint64_t reasons[DR_DHT_STORE_REASONS]);

/* DHT requests sent and received (ping, find, get, listen, put), counted
 * by OpenDHT and collected every second. */
enum { DR_DHT_MSG_PING, DR_DHT_MSG_FIND, DR_DHT_MSG_GET, DR_DHT_MSG_LISTEN, DR_DHT_MSG_PUT, DR_DHT_MSG__COUNT };
void dr_dht_message_counts(const dr_dht *d, uint64_t sent[DR_DHT_MSG__COUNT],
                           uint64_t received[DR_DHT_MSG__COUNT]);

/* What OpenDHT stores on this node (for itself and for others), as
 * sampled with the message counts. */
void dr_dht_store_size(const dr_dht *d, uint64_t *values, uint64_t *bytes);

typedef void (*dr_dht_value_cb)(void *ctx, const uint8_t *data, size_t len);

/* Gets the dhtreg values stored under key (filtered on the storers: values
 * of other types are not even listed). on_value runs once per value
 * received (duplicates from several nodes included), then on_done exactly
 * once, unless the get is cancelled first. A get that received nothing
 * from fewer nodes than OpenDHT's search targets (8) and than the routing
 * table has good nodes is asked again once before on_done: a young or
 * churning routing table ends some lookups on nodes that do not hold the
 * key. ctx must stay valid until then. *out
 * (may be NULL) is the handle for dr_dht_get_cancel, valid until on_done
 * runs. Returns 0, or -ENOBUFS when max_queued gets wait already, -ESHUTDOWN
 * or -ENOMEM; then no callback runs. */
int dr_dht_get(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_value_cb on_value,
               dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out);

/* Gets the values under key marked DR_DHT_RESOURCE_MARK (a resource's
 * entries, without its records), as dr_dht_get. */
int dr_dht_get_resource(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_value_cb on_value,
                        dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out);

/* Its caller gave up: a get not started yet is dropped (false); one in
 * flight (true) finishes inside OpenDHT, but none of its callbacks runs. */
bool dr_dht_get_cancel(dr_dht *d, dr_dht_lookup *g);

/* Asks which nodes are now closest to key (a get of an id nobody uses):
 * on_done gets them. Not refused for a full queue. Returns 0, -ESHUTDOWN
 * or -ENOMEM. */
int dr_dht_probe(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_done_cb on_done, void *ctx);

/* Puts data under key, once, as a dhtreg value with that id and OpenDHT
 * seq, marked DR_DHT_RESOURCE_MARK when resource (a resource entry) (a node
 * that holds the id with a lower seq replaces it, when its
 * edit policy allows; with the same content it only refreshes it). Storers
 * keep it keep_s seconds, or the value lifetime when keep_s is 0 or more.
 * on_done (may be NULL) runs once the put is over, with the nodes it
 * reached. Returns a handle valid until on_done ran or dr_dht_put_cancel,
 * or NULL (closing, or out of memory). */
dr_dht_putop *dr_dht_put(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                         uint16_t seq, bool resource, const uint8_t *data, size_t len,
                         unsigned keep_s, dr_dht_done_cb on_done, void *ctx);

/* Its caller gave up: a put not started yet is not made; one in flight
 * goes on, but its on_done does not run. */
void dr_dht_put_cancel(dr_dht *d, dr_dht_putop *p);

/* Listens to key: on_value(ctx, data, len, expired) for every record and
 * tombstone (resource false: values without a user type) or every resource
 * entry (values marked DR_DHT_RESOURCE_MARK) stored or expiring there, until
 * dr_dht_unlisten. A listen of records hears every storer; under OpenDHT
 * 2.4.12 one of resource entries hears only what this node stores
 * (dht/opendht_shim.cpp says why). Only this node's own storage reports
 * an edit in place (a renewal): a get finds them, and no get is answered
 * from a listen's cache (but dr_dht_get_resource, from a listen of
 * resource entries, which are never edited). Returns NULL on failure. */
typedef void (*dr_dht_listen_cb)(void *ctx, const uint8_t *data, size_t len,
                                 bool expired);
dr_dht_listen *dr_dht_listen_start(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], bool resource,
                                   dr_dht_listen_cb on_value, void *ctx);

/* Stops a listen; on_value does not run again after this returns. */
void dr_dht_unlisten(dr_dht *d, dr_dht_listen *l);

#endif
