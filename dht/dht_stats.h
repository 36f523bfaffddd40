/* dht_stats.h - private to dht/: what the C++ shim adds to opendht_c.h */
#ifndef DR_DHT_STATS_H
#define DR_DHT_STATS_H

#include <opendht/opendht_c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/* A new handle on a copy of v that keeps v's value id: putting it again
 * under the same key makes OpenDHT announce it afresh to every node of the
 * search, and nodes that hold it already only refresh it. NULL on failure. */
dht_value *dr__dht_value_clone(const dht_value *v);

/* Sets a value's id, type and OpenDHT sequence number before it is put (a
 * node that holds the id with a lower seq is sent the new value; with the
 * same seq, only a refresh). */
void dr__dht_value_set_id(dht_value *v, uint64_t id, uint16_t type, uint16_t seq);

/* Whether a stored value (old) may be replaced by a new one with the same
 * id. Runs on OpenDHT's thread: it must not touch loop state. */
typedef bool (*dr__dht_edit_fn)(void *ud, uint64_t id, const uint8_t *old, size_t old_len,
                                const uint8_t *nw, size_t new_len);

/* Registers the value type `type` on a running runner: nodes keep its values
 * lifetime_s seconds after their last announce, and edit_ok is its edit
 * policy. Returns 0, -ENOMEM or -EIO. */
int dr__dht_register_type(dht_runner *runner, uint16_t type, unsigned lifetime_s,
                          dr__dht_edit_fn edit_ok, void *ud);

/* Starts runner on UDP port (0: any) with node_id (20 bytes, NULL: random)
 * and OpenDHT's request rate limits: at most max_req_per_sec requests
 * served per second in all, max_peer_req_per_sec from one IP address (0:
 * OpenDHT's defaults, 8192 and a eighth of it; -1: no per-address limit).
 * Returns 0, -ENOMEM or -ENOTCONN (the port is taken, or no socket). */
int dr__dht_run(dht_runner *runner, uint16_t port, const uint8_t node_id[20], uint32_t network,
                long max_req_per_sec, long max_peer_req_per_sec);

/* Makes OpenDHT step the search of h now (by a get that matches nothing).
 * Returns 0 or -ENOMEM. */
int dr__dht_step_search(dht_runner *runner, const dht_infohash *h);

/* dht_runner_listen for the values of one type only (see dht_stats.cpp).
 * NULL on failure (then done_cb never runs). */
dht_op_token *dr__dht_listen_type(dht_runner *runner, const dht_infohash *h, uint16_t type,
                                  dht_value_cb cb, dht_shutdown_cb done_cb, void *ud);

#ifdef __cplusplus
}
#endif

#endif
