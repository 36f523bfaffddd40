/* dht_stats.h - private to dht/: what the C++ shim adds to opendht_c.h */
#ifndef DR_DHT_STATS_H
#define DR_DHT_STATS_H

#include <opendht/opendht_c.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Asks the runner for its routing-table counts. cb runs later on OpenDHT's
 * thread with the good and dubious node counts of IPv4 and IPv6 together.
 * Returns 0, or -ENOMEM (then cb never runs). */
int dr__dht_request_stats(dht_runner *runner,
                          void (*cb)(void *ud, unsigned good, unsigned dubious),
                          void *ud);

/* Adds the DHT requests this runner sent and received since the last call
 * (ping, find, get, listen, put) to sent[5] and received[5]. Takes the
 * runner's lock, so it blocks while OpenDHT's thread is busy: call it off the
 * loop thread. */
int dr__dht_message_stats(dht_runner *runner, uint64_t sent[5], uint64_t received[5]);

/* A new handle on a copy of v that keeps v's value id: putting it again
 * under the same key makes OpenDHT announce it afresh to every node of the
 * search, and nodes that hold it already only refresh it. NULL on failure. */
dht_value *dr__dht_value_clone(const dht_value *v);

#ifdef __cplusplus
}
#endif

#endif
