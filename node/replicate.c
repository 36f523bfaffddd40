/* replicate.c - the replication task: keep what this node answers for on the nodes closest to its key
 *
 * Every period (the mean of --replicate-ms, with +-20% jitter so that nodes
 * started together do not run together):
 *
 * - Own entries (resources, records, tombstones) are OpenDHT permanent
 *   values: OpenDHT keeps a search per key that announces them to the eight
 *   closest nodes it knows and refreshes them before they expire there (ten
 *   minutes). What it does not do promptly is notice that those nodes died:
 *   a storer that stopped answering still counts as holding the value until
 *   some request to it fails. So once per period and per resource, the task
 *   announces one own entry of that resource again (the same value id and
 *   version, dr_dht_reput; a different one each period): OpenDHT then asks
 *   each of the key's nodes which value ids it holds (one request per node),
 *   replaces the nodes that do not answer with the next closest ones, and
 *   sends every own value of the key to the nodes that lack it (a refresh
 *   of the re-announced one to the others). Entries that are in place cost
 *   no put; a steady resource costs about two messages per storer per period,
 *   whatever its number of records.
 * - Pinned resources: one get per resource; each live entry of another
 *   issuer that came back from no node is put again once (under a fresh
 *   value id; nodes keep it ten minutes, and the next period looks again).
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

/* Puts e back under key once when the get did not find it. */
static void repair(check *k, const uint8_t key[DR_DHT_KEY_SIZE], const dr_entry *e) {
  uint8_t h[16], buf[DR_WIRE_MAX];
  size_t len;
  const uint8_t *wire = dr__wire_of(k->n, e, buf, &len);
  k->n->repl_checked++;
  hash16(h, wire, len);
  if (dr_map_get(&k->seen, h, sizeof h)) return;
  if (dr_dht_put_once(k->n->dht, key, 0, wire, len) == 0) k->n->repl_repaired++;
}

static void on_done(void *ctx, bool ok) {
  check *k = ctx;
  dr_node *n = k->n;
  size_t b;
  uint64_t now = dr__expiry_horizon(n);
  n->repl_outstanding--;
  if (!ok || n->stopping || !n->dht) goto out;
  /* a pinned resource: every live entry, whoever issued it */
  dr_cache *c = dr_map_get(&n->caches, k->rid, DR_ID_LEN);
  const dr_merge *m = c ? dr__cache_merge(c) : NULL;
  if (m && dr__cache_is_pinned(c)) {
    uint8_t key[DR_DHT_KEY_SIZE];
    dr__dht_key_of(n, k->rid, key);
    {
      const dr_entry *r = m->resource;
      if (r && r->raw && memcmp(r->issuer, n->id.pk, DR_ID_LEN) != 0) repair(k, key, r);
      for (dr_map_item *it = dr_map_next(&m->winners, NULL, &b); it; it = dr_map_next(&m->winners, it, &b)) {
        const dr_entry *e = it->value;
        if (e->expires_at <= now || !e->raw || memcmp(e->issuer, n->id.pk, DR_ID_LEN) == 0) continue;
        repair(k, key, e);
      }
    }
  }
out:
  dr_map_free(&k->seen);
  free(k);
}

/* One resource's own announces. */
typedef struct own_list {
  size_t n, cap;
  dr_announce **a;
} own_list;

static void want(dr_map *rids, const uint8_t rid[DR_ID_LEN], dr_announce *a) {
  if (!a->put) return; /* not announced (the DHT refused it): nothing to re-check */
  own_list *l = dr_map_get(rids, rid, DR_ID_LEN);
  if (!l) {
    if (!(l = calloc(1, sizeof *l)) || dr_map_put(rids, rid, DR_ID_LEN, l, NULL) < 0) {
      free(l);
      return;
    }
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    dr_announce **grown = realloc(l->a, cap * sizeof *grown);
    if (!grown) return;
    l->a = grown;
    l->cap = cap;
  }
  l->a[l->n++] = a;
}

static void schedule(dr_node *n);

/* Re-announces one own entry of a resource (tried from a random one on):
 * OpenDHT re-checks every node of the key and fills in what they lack. */
static void kick(dr_node *n, dr_announce **a, size_t count) {
  if (!count) return;
  size_t first = randombytes_uniform((uint32_t)count);
  for (size_t i = 0; i < count; i++) {
    dr_announce *x = a[(first + i) % count];
    if (dr_dht_reput(n->dht, x->put) == 0) {
      n->repl_checked += count;
      return;
    }
  }
}

static void on_timer(uv_timer_t *t) {
  dr_node *n = t->data;
  schedule(n);
  if (n->stopping || !n->dht) return;
  dr_map own;
  dr_map_init(&own);
  size_t b;
  uint64_t now = dr_now();
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it; it = dr_map_next(&n->resources, it, &b))
    want(&own, it->key, &((own_resource *)it->value)->ann);
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    if (ad->withdrawn) want(&own, ad->rec.rid, &ad->tomb_ann);
    else if (ad->rec.expires_at > now) want(&own, ad->rec.rid, &ad->rec_ann);
  }
  n->repl_runs++;
  for (dr_map_item *it = dr_map_next(&own, NULL, &b); it; it = dr_map_next(&own, it, &b)) {
    own_list *l = it->value;
    kick(n, l->a, l->n);
    free(l->a);
    free(l);
  }
  dr_map_free(&own);
  if (n->repl_outstanding) return; /* the last check of pinned resources is not over */
  dr_cache **pins;
  size_t np = dr__cache_pinned(n, &pins);
  for (size_t i = 0; i < np; i++) {
    check *k = calloc(1, sizeof *k);
    if (!k) break;
    k->n = n;
    memcpy(k->rid, dr__cache_rid(pins[i]), DR_ID_LEN);
    dr_map_init(&k->seen);
    uint8_t key[DR_DHT_KEY_SIZE];
    dr__dht_key_of(n, k->rid, key);
    if (dr_dht_get(n->dht, key, on_value, on_done, k, NULL) < 0) {
      dr_map_free(&k->seen);
      free(k);
      break;
    }
    n->repl_outstanding++;
  }
  free(pins);
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
