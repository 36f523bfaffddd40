/* foreign.h - integration-test support: a plain OpenDHT node in the test process (opendht_c.h),
 * the outsider that puts forged values and reads raw ones under a resource's DHT key */
#ifndef DR_FOREIGN_H
#define DR_FOREIGN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

typedef struct h_foreign h_foreign;

/* Starts a runner on a free port and bootstraps it through 127.0.0.1:port. */
h_foreign *h_foreign_start(uint16_t bootstrap_port);
/* The same bound to the IPv4 address bind4 (NULL: any), bootstrapping
 * through host:port (host empty: 127.0.0.1), for tests in h_netns. */
h_foreign *h_foreign_start_at(const char *bind4, const char *host, uint16_t bootstrap_port);
/* The same with the OpenDHT node id node_id, storing dhtreg's values as a
 * dhtreg node would let them be renewed (a value is replaced by any other
 * of its id, where OpenDHT's default denies it): a test puts such nodes next
 * to a key, so that they, not the dhtreg nodes, are the key's storers. */
h_foreign *h_foreign_start_storer(const char *bind4, const char *host, uint16_t bootstrap_port,
                                  const uint8_t node_id[DR_DHT_KEY_LEN]);
void h_foreign_stop(h_foreign *f);

/* The nodes f has heard answer lately (OpenDHT's good nodes): 1 once its
 * bootstrap node answered, which then knows f too. */
unsigned h_foreign_peers(h_foreign *f);

/* Puts raw bytes under key (a dhtreg DHT key) as a plain OpenDHT value of
 * dhtreg's value type (of type, for h_foreign_put_type) and waits until the
 * put is done (retries a few times; fails the test if none succeeds). The
 * foreign node keeps what it puts itself, whatever the storers decide. */
void h_foreign_put(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], const uint8_t *data, size_t len);
void h_foreign_put_type(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], const uint8_t *data,
                        size_t len, uint16_t type);
/* The same with an OpenDHT user type (NULL: none). */
void h_foreign_put_marked(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], const uint8_t *data,
                          size_t len, uint16_t type, const char *user_type);

/* One value as a raw get found it. */
typedef struct h_raw_value {
  uint8_t *data;
  size_t len;
} h_raw_value;

/* Gets every value under key (waits for the get to end, at most 20 s).
 * Returns how many distinct values came back, in *out (free with
 * h_raw_values_free). */
size_t h_foreign_get(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], h_raw_value **out);
void h_raw_values_free(h_raw_value *v, size_t n);

#endif
