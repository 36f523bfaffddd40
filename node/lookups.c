/* lookups.c - the distinct keys this node looked up in the last hour, and their bound
 *
 * OpenDHT 2.4.12 keeps a search for every key it looked up for an hour
 * after its last use (SEARCH_EXPIRE_TIME, 62 min; about 1.7 KB for each
 * address family) and offers no way to drop one, nor a working cap of its
 * own (Dht::search loops forever at max_searches). A client resolving ids
 * nobody stores would grow the node by that much per id. So the node counts
 * the distinct keys it looked up in the last LOOKUP_KEEP_MS and refuses a
 * lookup of a new key beyond --max-lookup-keys (-EDQUOT); a key looked up
 * again costs nothing more.
 */
#include "node/node_private.h"

#include <errno.h>
#include <stdlib.h>

#define LOOKUP_KEEP_MS (63 * 60 * 1000)
#define LOOKUP_SWEEP_MS 10000

typedef struct lookup_key {
  uint64_t last_ms; /* uv_now() of the last lookup */
  bool started;     /* a lookup of it reached OpenDHT (which keeps a search now) */
} lookup_key;

int dr__lookup_admit(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE], bool *fresh) {
  uint64_t now = uv_now(n->loop);
  lookup_key *k = dr_map_get(&n->lookups, key, DR_DHT_KEY_SIZE);
  *fresh = !k;
  if (k) {
    k->last_ms = now;
    return 0;
  }
  if (n->lookups.count >= n->max_lookup_keys) {
    n->lookups_refused++;
    if (now >= n->lookups_warned_ms + 60000) {
      DR_WARN(&n->log, "refusing lookups of new keys: %zu distinct keys looked up in the last hour "
              "(--max-lookup-keys)", n->lookups.count);
      n->lookups_warned_ms = now;
    }
    return -EDQUOT;
  }
  if (!(k = malloc(sizeof *k))) return -ENOMEM;
  k->last_ms = now;
  k->started = false;
  if (dr_map_put(&n->lookups, key, DR_DHT_KEY_SIZE, k, NULL) < 0) {
    free(k);
    return -ENOMEM;
  }
  return 0;
}

void dr__lookup_unadmit(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE]) {
  lookup_key *k = dr_map_get(&n->lookups, key, DR_DHT_KEY_SIZE);
  if (k && !k->started) free(dr_map_del(&n->lookups, key, DR_DHT_KEY_SIZE));
}

static bool lookup_over(void *value, void *now) {
  lookup_key *k = value;
  if (k->last_ms + LOOKUP_KEEP_MS > *(uint64_t *)now) return false;
  free(k);
  return true;
}

void dr__lookups_tick(dr_node *n) {
  uint64_t now = uv_now(n->loop);
  if (now < n->lookups_swept_ms + LOOKUP_SWEEP_MS) return;
  n->lookups_swept_ms = now;
  dr_map_remove_if(&n->lookups, lookup_over, &now);
}

void dr__lookups_free(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->lookups, NULL, &b); it; it = dr_map_next(&n->lookups, it, &b))
    free(it->value);
  dr_map_free(&n->lookups);
}

void dr__lookup_started(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE]) {
  lookup_key *k = dr_map_get(&n->lookups, key, DR_DHT_KEY_SIZE);
  if (k) k->started = true;
}
