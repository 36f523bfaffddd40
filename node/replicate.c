/* replicate.c - the replication task: repair what went missing of this node's entries, without sending again what storers hold
 *
 * Own entries are plain values, put again before storers drop them
 * (publish.c): OpenDHT keeps nothing of them once a put is done. What that
 * does not cover promptly is a storer that dies: its copies are gone, and
 * the next put may be most of a value lifetime away. So the node keeps, per
 * key that holds own entries, the nodes its last put there reached (the
 * key's closest nodes then). Every period (the mean of --replicate-ms, with
 * +-20% jitter so that nodes started together do not run together) it asks
 * which nodes are the key's closest now (a get of a value id nobody uses:
 * a few messages, no value moves); when one of them is a node the last put
 * did not reach, the node's entries under that key are put again: the new
 * node gets them, the others only refresh theirs. A key whose nodes did not
 * change costs that one lookup.
 *
 * The resources this node advertises into but does not own have their
 * entry read again each period (the head filtered on the resource mark: one
 * cheap lookup), so
 * the node learns when their owner gave them more shards: its records move
 * there at their next renewal.
 *
 * Pinned resources: one get per shard; each live entry of another issuer
 * that came back from no node is put again once (under an id derived from
 * its bytes, so that repeated repairs do not pile up copies; the next
 * period looks again).
 */
#include "node/merge.h"
#include "node/node_private.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEY_NODES 8 /* the nodes a put is meant for */

typedef struct key_state {
  uint8_t nodes[KEY_NODES][DR_DHT_KEY_SIZE]; /* reached by the last put */
  size_t n_nodes;
  uint64_t put_ms;  /* uv_now() of that put */
  bool probing;
} key_state;

struct dr_repl {
  dr_map keys; /* DHT key -> key_state */
};

static struct dr_repl *repl_of(dr_node *n) {
  if (!n->repl && (n->repl = calloc(1, sizeof *n->repl))) dr_map_init(&n->repl->keys);
  return n->repl;
}

void dr__repl_put_done(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE],
                       const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  struct dr_repl *r = repl_of(n);
  if (!r || !n_nodes) return;
  key_state *ks = dr_map_get(&r->keys, key, DR_DHT_KEY_SIZE);
  if (!ks) {
    if (!(ks = calloc(1, sizeof *ks)) || dr_map_put(&r->keys, key, DR_DHT_KEY_SIZE, ks, NULL) < 0) {
      free(ks);
      return;
    }
  }
  ks->n_nodes = n_nodes < KEY_NODES ? n_nodes : KEY_NODES;
  memcpy(ks->nodes, nodes, ks->n_nodes * DR_DHT_KEY_SIZE);
  ks->put_ms = uv_now(n->loop);
}

void dr__repl_free(dr_node *n) {
  if (!n->repl) return;
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->repl->keys, NULL, &b); it; it = dr_map_next(&n->repl->keys, it, &b))
    free(it->value);
  dr_map_free(&n->repl->keys);
  free(n->repl);
  n->repl = NULL;
}

/* ---- own entries: the nodes of their keys ------------------------------------------------ */

typedef struct probe {
  dr_node *n;
  uint8_t key[DR_DHT_KEY_SIZE];
} probe;

static void reput_if(dr_node *n, dr_announce *a, const uint8_t key[DR_DHT_KEY_SIZE], size_t *count) {
  if (!a->entry || memcmp(a->key, key, DR_DHT_KEY_SIZE) != 0) return;
  dr__reput(n, a);
  (*count)++;
}

/* Puts every own entry under key again. */
static size_t repair_key(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE]) {
  size_t b, count = 0;
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it; it = dr_map_next(&n->resources, it, &b))
    reput_if(n, &((own_resource *)it->value)->ann, key, &count);
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    reput_if(n, &ad->rec_ann, key, &count);
    if (ad->tomb) reput_if(n, &ad->tomb->ann, key, &count);
    if (ad->moved) reput_if(n, &ad->moved->ann, key, &count);
  }
  return count;
}

static void on_probe(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  probe *p = ctx;
  dr_node *n = p->n;
  key_state *ks = n->repl ? dr_map_get(&n->repl->keys, p->key, DR_DHT_KEY_SIZE) : NULL;
  if (ks) ks->probing = false;
  if (ok && ks && !n->stopping) {
    /* a node among the closest now that the last put did not reach */
    size_t top = n_nodes < KEY_NODES ? n_nodes : KEY_NODES;
    bool missing = false;
    for (size_t i = 0; i < top && !missing; i++) {
      bool held = false;
      for (size_t k = 0; k < ks->n_nodes && !held; k++)
        held = memcmp(nodes[i], ks->nodes[k], DR_DHT_KEY_SIZE) == 0;
      missing = !held;
    }
    n->repl_checked++;
    if (missing) {
      size_t count = repair_key(n, p->key);
      n->repl_repaired += count;
      DR_DEBUG(&n->log, "replication: a new node among a key's closest: %zu entries put again", count);
    }
  }
  free(p);
}

static bool key_over(void *value, void *ctx) {
  key_state *ks = value;
  dr_node *n = ctx;
  /* own entries are put at least every value lifetime: a key not put to
   * for longer holds none any more */
  if (ks->probing || uv_now(n->loop) < ks->put_ms + (uint64_t)n->value_lifetime * 1000) return false;
  free(ks);
  return true;
}

static void probe_keys(dr_node *n) {
  if (!n->repl) return;
  dr_map_remove_if(&n->repl->keys, key_over, n);
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->repl->keys, NULL, &b); it; it = dr_map_next(&n->repl->keys, it, &b)) {
    key_state *ks = it->value;
    if (ks->probing) continue;
    probe *p = malloc(sizeof *p);
    if (!p) return;
    p->n = n;
    memcpy(p->key, it->key, DR_DHT_KEY_SIZE);
    if (dr_dht_probe(n->dht, p->key, on_probe, p) < 0) {
      free(p);
      return;
    }
    ks->probing = true;
  }
}

/* ---- pinned resources ---------------------------------------------------------------- */

typedef struct check {
  dr_node *n;
  uint8_t rid[DR_ID_LEN];
  uint32_t shard;
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
  uint64_t vid;
  memcpy(&vid, h, sizeof vid);
  uint64_t now = dr__net_now(k->n), until = e->expires_at + k->n->clock_skew;
  unsigned keep = e->kind == DR_KIND_RESOURCE ? 0 : until > now ? (unsigned)(until - now) : 1;
  if (dr_dht_put(k->n->dht, key, vid | 1, 0, e->kind == DR_KIND_RESOURCE, wire, len, keep, NULL, NULL))
    k->n->repl_repaired++;
}

static void on_done(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  check *k = ctx;
  dr_node *n = k->n;
  (void)nodes;
  (void)n_nodes;
  n->repl_outstanding--;
  dr_cache *c = ok && !n->stopping && n->dht ? dr_map_get(&n->caches, k->rid, DR_ID_LEN) : NULL;
  if (c && dr__cache_is_pinned(c)) {
    /* every live entry of that shard, whoever issued it */
    uint8_t key[DR_DHT_KEY_SIZE];
    uint64_t now = dr__net_now(n);
    dr__shard_key_of(n, k->rid, k->shard, key);
    const dr_merge *m = dr__cache_merge(c);
    const dr_entry *r = m->resource;
    if (k->shard == 0 && r && r->raw && memcmp(r->issuer, n->id.pk, DR_ID_LEN) != 0) repair(k, key, r);
    size_t b;
    for (dr_map_item *it = dr_map_next(&m->winners, NULL, &b); it; it = dr_map_next(&m->winners, it, &b)) {
      const dr_entry *e = it->value;
      if (e->expires_at <= now || !e->raw || memcmp(e->issuer, n->id.pk, DR_ID_LEN) == 0) continue;
      if (dr__cache_shard_of(c, e) != k->shard) continue;
      repair(k, key, e);
    }
  }
  dr_map_free(&k->seen);
  free(k);
}

static void check_pinned(dr_node *n) {
  if (n->repl_outstanding) return; /* the last check is not over */
  dr_cache **pins;
  size_t np = dr__cache_pinned(n, &pins);
  for (size_t i = 0; i < np; i++) {
    uint32_t shards = dr__cache_shards(pins[i]);
    for (uint32_t s = 0; s < shards; s++) {
      check *k = calloc(1, sizeof *k);
      if (!k) break;
      k->n = n;
      memcpy(k->rid, dr__cache_rid(pins[i]), DR_ID_LEN);
      k->shard = s;
      dr_map_init(&k->seen);
      uint8_t key[DR_DHT_KEY_SIZE];
      dr__shard_key_of(n, k->rid, s, key);
      if (dr_dht_get(n->dht, key, on_value, on_done, k, NULL) < 0) {
        dr_map_free(&k->seen);
        free(k);
        break;
      }
      n->repl_outstanding++;
    }
  }
  free(pins);
}

/* ---- the resources this node advertises into -------------------------------------------- */

#define REFRESH_MAX 256 /* resource entries read per period at most */

static void on_resource_read(void *ctx, int err, const dr_resolution *res) {
  (void)ctx;
  (void)err;
  (void)res; /* resolve.c noted what it found */
}

static void refresh_resources(dr_node *n) {
  dr_map rids;
  dr_map_init(&rids);
  size_t b, started = 0;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it && started < REFRESH_MAX;
       it = dr_map_next(&n->ads, it, &b)) {
    const own_ad *ad = it->value;
    const uint8_t *rid = ad->rec.rid;
    if (ad->withdrawn || dr_map_get(&rids, rid, DR_ID_LEN)) continue;
    dr_map_put(&rids, rid, DR_ID_LEN, (void *)ad, NULL);
    if (dr__resinfo(n, rid, n->repl_ms, NULL, NULL)) continue; /* own, cached, or read lately */
    if (dr_node_resource_get(n, rid, on_resource_read, NULL, NULL) == 0) started++;
  }
  dr_map_free(&rids);
}

/* ---- the task ---------------------------------------------------------------------- */

static void schedule(dr_node *n);

static void on_timer(uv_timer_t *t) {
  dr_node *n = t->data;
  schedule(n);
  if (n->stopping || !n->dht) return;
  n->repl_runs++;
  probe_keys(n);
  refresh_resources(n);
  check_pinned(n);
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
