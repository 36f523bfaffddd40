/* replicate.c - the replication task: check that what this node answers for is in the DHT, repair what is not
 *
 * Every period (the mean of --replicate-ms, with +-20% jitter so that nodes
 * started together do not check together), one DHT get per resource this
 * node is responsible for: its own resources, the resources of its
 * advertisements and tombstones, and the resources it pins. Each value
 * received is hashed; an entry of ours whose bytes came back from no node is
 * announced again under its own value id (dr_dht_reput), and an entry of a
 * pinned resource that came back from nowhere is put once. Nothing is sent
 * for entries that are present: a steady registry costs one get per resource
 * per period on top of OpenDHT's own announces.
 */
#include "node/merge.h"
#include "node/node_private.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct check {
  dr_node *n;
  uint8_t rid[DR_ID_LEN];
  dr_map seen; /* BLAKE2b-128 of every value received */
  uint64_t started_ms;
} check;

static void hash16(uint8_t h[16], const uint8_t *data, size_t len) {
  crypto_generichash(h, 16, data, len, NULL, 0);
}

static void on_value(void *ctx, const uint8_t *data, size_t len) {
  check *k = ctx;
  uint8_t h[16];
  hash16(h, data, len);
  dr_map_put(&k->seen, h, sizeof h, k, NULL);
}

static bool present(check *k, const dr_entry *e) {
  uint8_t h[16];
  hash16(h, e->raw, e->raw_len);
  return dr_map_get(&k->seen, h, sizeof h) != NULL;
}

/* One entry of ours: announced before the check began, and not seen. */
static void repair_own(check *k, dr_announce *a) {
  dr_node *n = k->n;
  if (!a->put || !a->entry || a->since_ms >= k->started_ms) return;
  n->repl_checked++;
  if (present(k, a->entry)) return;
  if (dr_dht_reput(n->dht, a->put) == 0) {
    n->repl_repaired++;
    DR_DEBUG(&n->log, "replication: %s was missing from the DHT; announced it again",
             a->entry->name);
  }
}

static void on_done(void *ctx, bool ok) {
  check *k = ctx;
  dr_node *n = k->n;
  n->repl_outstanding--;
  if (!ok || n->stopping || !n->dht) goto out;
  own_resource *res = dr_map_get(&n->resources, k->rid, DR_ID_LEN);
  if (res) repair_own(k, &res->ann);
  size_t b;
  uint64_t now = dr_now();
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    if (memcmp(ad->rec.rid, k->rid, DR_ID_LEN) != 0) continue;
    if (ad->withdrawn) repair_own(k, &ad->tomb_ann);
    else if (ad->rec.expires_at > now) repair_own(k, &ad->rec_ann);
  }
  /* a pinned resource: every live entry, whoever issued it */
  dr_cache *c = dr_map_get(&n->caches, k->rid, DR_ID_LEN);
  const dr_merge *m = c ? dr__cache_merge(c) : NULL;
  if (m && dr__cache_is_pinned(c)) {
    uint8_t key[DR_DHT_KEY_SIZE];
    dr__dht_key_of(n, k->rid, key);
    {
      const dr_entry *r = m->resource;
      if (r && r->raw && memcmp(r->issuer, n->id.pk, DR_ID_LEN) != 0) {
        n->repl_checked++;
        if (!present(k, r) && dr_dht_put_once(n->dht, key, r->raw, r->raw_len) == 0) n->repl_repaired++;
      }
      for (dr_map_item *it = dr_map_next(&m->winners, NULL, &b); it; it = dr_map_next(&m->winners, it, &b)) {
        const dr_entry *e = it->value;
        if (e->expires_at <= now || !e->raw || memcmp(e->issuer, n->id.pk, DR_ID_LEN) == 0) continue;
        n->repl_checked++;
        if (!present(k, e) && dr_dht_put_once(n->dht, key, e->raw, e->raw_len) == 0) n->repl_repaired++;
      }
    }
  }
out:
  dr_map_free(&k->seen);
  free(k);
}

static void want(dr_map *rids, const uint8_t rid[DR_ID_LEN]) {
  dr_map_put(rids, rid, DR_ID_LEN, (void *)rid, NULL);
}

static void schedule(dr_node *n);

static void on_timer(uv_timer_t *t) {
  dr_node *n = t->data;
  schedule(n);
  if (n->stopping || !n->dht || n->repl_outstanding) return; /* the last run is not over */
  dr_map rids;
  dr_map_init(&rids);
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it; it = dr_map_next(&n->resources, it, &b))
    want(&rids, it->key);
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b))
    want(&rids, ((own_ad *)it->value)->rec.rid);
  dr_cache **pins;
  size_t np = dr__cache_pinned(n, &pins);
  for (size_t i = 0; i < np; i++) want(&rids, dr__cache_rid(pins[i]));
  free(pins);
  n->repl_runs++;
  uint64_t now_ms = uv_now(n->loop);
  for (dr_map_item *it = dr_map_next(&rids, NULL, &b); it; it = dr_map_next(&rids, it, &b)) {
    check *k = calloc(1, sizeof *k);
    if (!k) break;
    k->n = n;
    memcpy(k->rid, it->key, DR_ID_LEN);
    k->started_ms = now_ms;
    dr_map_init(&k->seen);
    uint8_t key[DR_DHT_KEY_SIZE];
    dr__dht_key_of(n, k->rid, key);
    if (dr_dht_get(n->dht, key, on_value, on_done, k) < 0) {
      free(k);
      break;
    }
    n->repl_outstanding++;
  }
  dr_map_free(&rids);
}

static void schedule(dr_node *n) {
  /* uniform in [0.8, 1.2] x the period */
  uint64_t span = n->repl_ms / 5 * 2;
  uint64_t next = n->repl_ms - n->repl_ms / 5 + (span ? randombytes_uniform((uint32_t)span + 1) : 0);
  uv_timer_start(&n->repl_timer, on_timer, next ? next : 1, 0);
}

void dr__repl_start(dr_node *n, unsigned period_ms) {
  n->repl_ms = period_ms;
  uv_timer_init(n->loop, &n->repl_timer);
  n->repl_timer.data = n;
  schedule(n);
}
