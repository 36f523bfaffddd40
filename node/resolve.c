/* resolve.c - reading a resource: DHT get, verify every value, merge with our own entries */
#include "node/merge.h"
#include "node/node_private.h"

#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* OpenDHT 2.4.12 keeps a search for every key it looked up for an hour
 * after its last use (SEARCH_EXPIRE_TIME, 62 min; about 1.7 KB for each
 * address family) and offers no way to drop one, nor a working cap of its
 * own (Dht::search loops forever at max_searches). A client resolving ids
 * nobody stores would grow the node by that much per id. So the node counts
 * the distinct keys it looked up in the last LOOKUP_KEEP_MS and refuses a
 * lookup of a new key beyond --max-lookup-keys (-EDQUOT); a key looked up
 * again costs nothing more. */
#define LOOKUP_KEEP_MS (63 * 60 * 1000)
#define LOOKUP_SWEEP_MS 10000

typedef struct lookup_key {
  uint64_t last_ms; /* uv_now() of the last lookup */
  bool started;     /* a lookup of it reached OpenDHT (which keeps a search now) */
} lookup_key;

/* Admits a lookup of key; *fresh says whether the key is new to the count. */
static int admit_key(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE], bool *fresh) {
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

/* A lookup of key never reached OpenDHT: a key it made new does not count. */
static void unadmit_key(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE]) {
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

struct dr_resolve {
  dr_node *n;
  uint8_t rid[DR_ID_LEN];
  size_t limit;
  dr_node_resolve_cb cb;
  void *ctx;
  dr_merge merge;
  dr_map seen;   /* BLAKE2b-128 of each distinct value received */
  dr_deadline dl;
  size_t values; /* distinct values received */
  dr_dht_lookup *get;
  uint8_t key[DR_DHT_KEY_SIZE];
  bool fresh_key; /* its key was new to the lookup count */
};
typedef struct dr_resolve resolve_op;

static void op_free(resolve_op *op) {
  dr_merge_free(&op->merge);
  dr_map_free(&op->seen);
  free(op);
}

/* Verifies one value read under the resource's key; counts what it drops. */
static void on_value(void *ctx, const uint8_t *data, size_t len) {
  resolve_op *op = ctx;
  dr_node *n = op->n;
  uint8_t h[16];
  crypto_generichash(h, sizeof h, data, len, NULL, 0);
  if (dr_map_get(&op->seen, h, sizeof h)) return; /* the same bytes from another node */
  if (dr_map_put(&op->seen, h, sizeof h, op, NULL) < 0) return;
  op->values++;
  dr_entry e;
  if (dr__entry_read(n, op->rid, data, len, &e) == DR_REJ_NONE) dr_merge_offer(&op->merge, &e);
}

/* Our own entries take part as if read from the DHT: a node sees what it
 * published even before any other node stores it. */
static void offer_own(resolve_op *op) {
  dr_node *n = op->n;
  dr_entry copy;
  own_resource *res = dr_map_get(&n->resources, op->rid, DR_ID_LEN);
  if (res && dr_entry_copy(&copy, &res->entry) == 0) dr_merge_offer(&op->merge, &copy);
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    const dr_entry *e = ad->withdrawn ? &ad->tomb : &ad->rec;
    if (memcmp(e->rid, op->rid, DR_ID_LEN) != 0) continue;
    if (dr_entry_copy(&copy, e) == 0) dr_merge_offer(&op->merge, &copy);
  }
}

/* Answers with what the get found: it is done. */
static void answer(resolve_op *op) {
  dr_node *n = op->n;
  const dr_entry **recs = NULL;
  size_t forbidden = 0;
  dr__deadline_remove(n, &op->dl);
  offer_own(op);
  dr_resolution res = {0};
  res.resource = op->merge.resource;
  res.n_records = dr_merge_records(&op->merge, dr__expiry_horizon(n), op->limit, &recs, &forbidden);
  res.records = recs;
  n->rejected[DR_REJ_POLICY] += forbidden;
  op->cb(op->ctx, 0, &res);
}

/* The get reached OpenDHT, or the caller gave up: its key counts or not. */
static void drop_get(resolve_op *op) {
  if (!op->get) return;
  bool started = dr_dht_get_cancel(op->n->dht, op->get);
  op->get = NULL;
  if (!started && op->fresh_key) unadmit_key(op->n, op->key);
}

static void on_done(void *ctx, bool ok) {
  resolve_op *op = ctx;
  (void)ok;
  op->get = NULL;
  lookup_key *k = dr_map_get(&op->n->lookups, op->key, DR_DHT_KEY_SIZE);
  if (k) k->started = true;
  answer(op);
  op_free(op);
}

/* The get did not finish in time (still queued, or still asking): the
 * caller hears -32010, never a partial or empty answer as a success, and
 * the get is dropped. */
static void on_deadline(dr_deadline *dl) {
  resolve_op *op = (resolve_op *)((char *)dl - offsetof(resolve_op, dl));
  DR_DEBUG(&op->n->log, "resolve: the DHT did not finish within the op timeout (%zu values)",
           op->values);
  drop_get(op);
  dr_resolution res = {0};
  op->cb(op->ctx, DR_ETIMEOUT, &res);
  op_free(op);
}

int dr_node_resolve(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                    dr_node_resolve_cb cb, void *ctx, dr_resolve **out) {
  uint8_t key[DR_DHT_KEY_SIZE];
  if (out) *out = NULL;
  if (n->stopping) return -ESHUTDOWN;
  if (dr__cache_resolve(n, rid, limit, cb, ctx)) return 0;
  bool fresh;
  dr__dht_key_of(n, rid, key);
  int r = admit_key(n, key, &fresh);
  if (r < 0) return r;
  resolve_op *op = calloc(1, sizeof *op);
  if (!op) return -ENOMEM;
  op->n = n;
  memcpy(op->rid, rid, DR_ID_LEN);
  op->limit = limit;
  op->cb = cb;
  op->ctx = ctx;
  dr_merge_init(&op->merge, rid);
  dr_map_init(&op->seen);
  memcpy(op->key, key, sizeof key);
  op->fresh_key = fresh;
  r = dr_dht_get(n->dht, key, on_value, on_done, op, &op->get);
  if (r < 0) {
    if (fresh) unadmit_key(n, key);
    op_free(op);
    return r;
  }
  dr__deadline_add(n, &op->dl, on_deadline);
  if (out) *out = op;
  return 0;
}

void dr_node_resolve_cancel(dr_node *n, dr_resolve *op) {
  dr__deadline_remove(n, &op->dl);
  if (n->dht) drop_get(op);
  op_free(op);
}
