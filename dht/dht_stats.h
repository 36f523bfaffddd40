/* dht_stats.h - private to dht/: what the C++ shim adds to opendht_c.h */
#ifndef DR_DHT_STATS_H
#define DR_DHT_STATS_H

#include <opendht/opendht_c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Asks the runner for its routing-table counts. cb runs later on OpenDHT's
 * thread with the good and dubious node counts of IPv4 and IPv6 together.
 * Returns 0, or -ENOMEM (then cb never runs). */
int dr__dht_request_stats(dht_runner *runner,
                          void (*cb)(void *ud, unsigned good, unsigned dubious),
                          void *ud);

#ifdef __cplusplus
}
#endif

#endif
