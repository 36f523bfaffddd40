/* opendht_shim.h - private to dht/: what the one C++ file adds to opendht_c.h
 *
 * opendht_c.h has no bind address, rate limits, storage limit, value types
 * with policies, Where filters on gets or listens, nor the node list of a
 * done callback. These functions reach OpenDHT's C++ API for them; the
 * runner is still created and deleted through opendht_c.h (its dht_runner
 * is a dht::DhtRunner). Callbacks given here run on OpenDHT's thread.
 */
#ifndef DR_OPENDHT_SHIM_H
#define DR_OPENDHT_SHIM_H

#include <opendht/opendht_c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DR__NODE_ID_LEN 20
#define DR__DONE_NODES_MAX 16 /* nodes a done callback reports at most */

/* How a runner starts. */
typedef struct dr__dht_run_cfg {
  uint16_t port;               /* 0: any free port */
  const uint8_t *node_id;      /* 20 bytes, or NULL for a random one */
  uint32_t network;
  long max_req_per_sec;        /* 0: OpenDHT's default; -1: no limit */
  long max_peer_req_per_sec;   /* the same, per source address */
  const char *bind4, *bind6;   /* numeric addresses to bind (only the families given), or
                                  both NULL: every address of both families; the
                                  runner works as one of both families either way */
  long max_store_bytes;        /* OpenDHT's storage limit (at most INT_MAX) */
} dr__dht_run_cfg;

/* Starts runner. Returns 0, -ENOMEM, -EADDRNOTAVAIL (a bind address that is
 * not valid) or -ENOTCONN (no socket could be bound: the port is taken). */
int dr__dht_run(dht_runner *runner, const dr__dht_run_cfg *cfg);

/* Sets the receive buffer of this process's UDP sockets bound to port4
 * (IPv4) or port6 (IPv6) to want bytes (a runner's sockets: opendht_c.h
 * does not reach them). Returns the size granted (the kernel caps it at
 * net.core.rmem_max), or -1 when no socket was found. Implemented in C
 * (dht/socket.c). */
int dr__raise_rcvbuf(uint16_t port4, uint16_t port6, int want);

/* Asks the runner for its routing-table counts. cb runs later on OpenDHT's
 * thread with the good and dubious node counts and the searches OpenDHT
 * holds, IPv4 and IPv6 together. Returns 0, or -ENOMEM (then cb never runs). */
int dr__dht_request_stats(dht_runner *runner,
                          void (*cb)(void *ud, unsigned good, unsigned dubious, unsigned searches),
                          void *ud);

/* Adds the DHT requests this runner sent and received since the last call
 * (ping, find, get, listen, put) to sent[5] and received[5], and sets
 * store[] to the values and bytes in the runner's storage. Takes the
 * runner's lock, so it blocks while OpenDHT's thread is busy: call it off the
 * loop thread. */
int dr__dht_message_stats(dht_runner *runner, uint64_t sent[5], uint64_t received[5],
                          uint64_t store[2]);

/* A value's policies, on OpenDHT's thread: they must only look at their
 * arguments (and state made for that thread). store: may a new value (with
 * that OpenDHT user type, ut_len bytes) be stored under key? 0 yes, or a
 * reason (> 0) why not. edit: may a stored
 * value (old) be replaced by a newer one of the same id (which store
 * accepted)? */
typedef int (*dr__dht_store_fn)(void *ud, const uint8_t key[20], const char *user_type, size_t ut_len,
                                const uint8_t *data, size_t len);
typedef bool (*dr__dht_edit_fn)(void *ud, uint64_t id, const uint8_t *old, size_t old_len,
                                const uint8_t *nw, size_t new_len);

/* Registers the value type `type` on a running runner: nodes keep its values
 * lifetime_s seconds after their last put, store and edit are its policies.
 * Returns 0, -ENOMEM or -EIO. */
int dr__dht_register_type(dht_runner *runner, uint16_t type, unsigned lifetime_s,
                          dr__dht_store_fn store, dr__dht_edit_fn edit, void *ud);

/* What a get or put reports when it is over: whether it succeeded and the
 * ids of the nodes its search settled on (at most DR__DONE_NODES_MAX). */
typedef void (*dr__dht_done_fn)(void *ud, bool ok, const uint8_t (*nodes)[DR__NODE_ID_LEN],
                                size_t n_nodes);
typedef void (*dr__dht_value_fn)(void *ud, const uint8_t *data, size_t len);

/* Gets the values of one type stored under key, filtered on the storers
 * (and of one id, unless id is 0; of one OpenDHT user type, unless
 * user_type is NULL). value runs per value, then done once. Returns 0 or
 * -ENOMEM (then nothing runs). */
int dr__dht_get(dht_runner *runner, const dht_infohash *key, uint16_t type, uint64_t id,
                const char *user_type, dr__dht_value_fn value, dr__dht_done_fn done, void *ud);

/* Puts data under key once, as a value of that type, id, seq and OpenDHT
 * user type (NULL: none); nothing
 * of it stays in the runner's searches once done has run. Storers keep it
 * their type's lifetime after its creation, which is set age_s seconds in
 * the past (so that a value meant to live less than that lifetime is
 * dropped when it should). Returns 0 or -ENOMEM (then done never runs). */
int dr__dht_put(dht_runner *runner, const dht_infohash *key, uint16_t type, uint64_t id,
                uint16_t seq, const char *user_type, const uint8_t *data, size_t len,
                unsigned age_s, dr__dht_done_fn done, void *ud);

/* Makes OpenDHT step the search of h now (by a get that matches nothing).
 * Returns 0 or -ENOMEM. */
int dr__dht_step_search(dht_runner *runner, const dht_infohash *h);

/* dht_runner_listen for the values of one type and one OpenDHT user type
 * (NULL: none), filtered so that OpenDHT 2.4.12 delivers what other nodes
 * send and gets of records are not answered from the listen's cache (see
 * opendht_shim.cpp; a listen of the resource mark hears only this node's
 * own storage). NULL on failure (then done_cb never runs). */
dht_op_token *dr__dht_listen_type(dht_runner *runner, const dht_infohash *h, uint16_t type,
                                  const char *user_type, dht_value_cb cb, dht_shutdown_cb done_cb,
                                  void *ud);

#ifdef __cplusplus
}
#endif

#endif
