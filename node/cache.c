/* cache.c - watched and pinned resources: a listen-fed, verified, merged copy, and its events
 *
 * A resource that some connection watches, or that the node pins, has a
 * cache: an OpenDHT listen on each of its keys (records and tombstones;
 * on the head, another of resource entries, which hears only this node's
 * own storage: dht.h) feeds every value through the same verification as
 * a resolve into a dr_merge that lives as long as the cache. Each change
 * of which records are live becomes an event for the watchers: register
 * (a record is new, or its content changed), deregister (a tombstone hid
 * it), expire (its expiry passed, checked by the tick), critical and
 * passing (the signed health of a record reported before changed; after
 * its register when its content changed too). Renewals (a new seq, the
 * same content and health) are not events. resolve of a cached resource
 * is answered from here once the first get is over.
 *
 * A renewal replaces its record in place (the same OpenDHT value id), and
 * OpenDHT's listen reports a value id only once: the cache learns renewals
 * of other nodes' records with a get of the storers (never answered from a
 * listen's cache: dht.h), when one of them is three quarters through its
 * lifetime, and again shortly before its expiry if it still was not
 * renewed, and at its expiry: the expire event waits for that last get,
 * so a lease renewed late is not reported gone. Gets are spaced by a tenth
 * of the shortest lifetime (at least 500 ms), so one get serves every
 * record due around then.
 */
#include "node/merge.h"
#include "node/node_private.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct dr_sub {
  struct dr_sub *next;
  uint64_t id;
  dr_cache *c;
  dr_node_event_cb cb;
  void *ctx;
} dr_sub;

/* One shard of a cached resource: its listen, its first get, its renewal
 * checks. */
typedef struct cache_shard {
  struct dr_cache *c;
  uint32_t shard;
  uint8_t key[DR_DHT_KEY_SIZE];
  dr_dht_listen *listen;  /* records and tombstones */
  dr_dht_listen *rlisten; /* the head's: resource entries */
  struct cache_get *get;  /* the first get, while under way */
  struct cache_get *poll; /* a renewal check, while under way */
  uint64_t last_poll_ms;
  bool ready;
} cache_shard;

typedef struct cache_get {
  cache_shard *s; /* NULL once the cache is gone */
  bool poll;      /* a renewal check, not the first get */
} cache_get;

struct dr_cache {
  dr_node *n;
  uint8_t rid[DR_ID_LEN];
  cache_shard **shards; /* the shards listened to so far */
  uint32_t n_shards;
  dr_merge m;
  dr_behind behind; /* older copies behind a newer version seen before: judged at the next tick */
  dr_map live;  /* issuer || service id -> the live winner, as last reported */
  dr_map where; /* issuer || service id -> shard + 1 its winner was read from */
  dr_sub *subs;
  size_t n_subs;
  bool pinned, ready;
};

static bool str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool strs_eq(char **a, size_t na, char **b, size_t nb) {
  if (na != nb) return false;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) return false;
  return true;
}

/* Whether two records of one service say the same thing (times and seq
 * aside). */
static bool same_content(const dr_entry *a, const dr_entry *b) {
  if (!str_eq(a->host, b->host) || a->port != b->port || !str_eq(a->type, b->type) ||
      !strs_eq(a->addrs, a->n_addrs, b->addrs, b->n_addrs) ||
      !strs_eq(a->tags, a->n_tags, b->tags, b->n_tags) || a->n_meta != b->n_meta)
    return false;
  for (size_t i = 0; i < a->n_meta; i++)
    if (strcmp(a->meta[i].key, b->meta[i].key) != 0 || strcmp(a->meta[i].value, b->meta[i].value) != 0)
      return false;
  return true;
}

static bool is_live(const dr_cache *c, const dr_entry *e, uint64_t now) {
  return e && e->kind == DR_KIND_RECORD && e->expires_at > now &&
         dr_merge_allowed(c->m.resource, e->issuer);
}

static void emit(dr_cache *c, dr_event_type type, const dr_entry *rec) {
  dr_node *n = c->n;
  n->events++;
  /* a callback must not unwatch (node.h: the cache would be freed under the
   * caller); walking by id at least keeps this loop sound if one ever
   * ended another subscription of the same cache */
  for (dr_sub *s = c->subs; s;) {
    uint64_t next_id = s->next ? s->next->id : 0;
    s->cb(s->ctx, s->id, type, rec);
    if (!next_id) break;
    s = dr_map_get(&n->subs, &next_id, sizeof next_id);
  }
}

static void open_shards(dr_cache *c, uint32_t shards);

/* Offers one verified, checked entry of c's resource read from shard;
 * takes what e owns. */
static void cache_take(dr_cache *c, dr_entry *e, uint32_t shard) {
  if (e->kind == DR_KIND_RESOURCE) {
    if (dr_merge_offer(&c->m, e) == 1) {
      dr__count_note(c->n, c->rid, c->m.resource);
      if (c->m.resource->shards > c->n_shards)
        open_shards(c, c->m.resource->shards); /* the owner gave it more shards: follow */
    }
    return;
  }
  uint64_t now = dr__net_now(c->n);
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  size_t klen = dr_merge_key(key, e);
  const dr_entry *cur = dr_map_get(&c->m.winners, key, klen);
  if (cur && dr_merge_cmp(e, cur) <= 0) {
    dr_entry_clear(e);
    return;
  }
  const dr_entry *reported = dr_map_get(&c->live, key, klen);
  bool changed = !reported || e->kind != DR_KIND_RECORD || !same_content(reported, e);
  /* known before, and its check changed its state (read before the offer frees it) */
  bool health_changed = reported && e->kind == DR_KIND_RECORD && reported->health != e->health;
  dr_entry gone = {0};
  if (reported && e->kind == DR_KIND_TOMBSTONE && c->subs) dr_entry_copy(&gone, reported);
  if (dr_merge_offer(&c->m, e) < 0) return;
  dr_map_put(&c->where, key, klen, (void *)(uintptr_t)(shard + 1), NULL);
  const dr_entry *win = dr_map_get(&c->m.winners, key, klen);
  if (is_live(c, win, now)) {
    if (dr_map_put(&c->live, key, klen, (void *)win, NULL) == 0) {
      if (changed) emit(c, DR_EVENT_REGISTER, win);
      if (health_changed) emit(c, win->health == DR_HEALTH_CRITICAL ? DR_EVENT_CRITICAL : DR_EVENT_PASSING, win);
    }
  } else if (reported) {
    dr_map_del(&c->live, key, klen);
    if (win && win->kind == DR_KIND_TOMBSTONE)
      emit(c, DR_EVENT_DEREGISTER, gone.name ? &gone : win);
  }
  dr_entry_clear(&gone);
}

uint32_t dr__cache_shard_of(const dr_cache *c, const dr_entry *e) {
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  uintptr_t w = (uintptr_t)dr_map_get(&c->where, key, dr_merge_key(key, e));
  return w ? (uint32_t)(w - 1) : 0;
}

uint32_t dr__cache_shards(const dr_cache *c) {
  return c->n_shards;
}

static void on_value(cache_shard *s, const uint8_t *data, size_t len) {
  dr_cache *c = s->c;
  dr_entry e;
  dr_read r = dr__entry_read(c->n, c->rid, s->shard, data, len, &e);
  if (r == DR_READ_OK) cache_take(c, &e, s->shard);
  else if (r == DR_READ_BEHIND) dr__behind_add(c->n, &c->behind, &e);
}

static void on_listen(void *ctx, const uint8_t *data, size_t len, bool expired) {
  /* a value leaving a node's storage says nothing about the entry: its own
   * expiry does */
  if (!expired) on_value(ctx, data, len);
}

static void on_get_value(void *ctx, const uint8_t *data, size_t len) {
  cache_get *g = ctx;
  if (g->s) on_value(g->s, data, len);
}

/* The cache is ready once the first get of every shard is over (the
 * head's first: it says how many shards there are). */
static void check_ready(dr_cache *c) {
  for (uint32_t i = 0; i < c->n_shards; i++)
    if (!c->shards[i]->ready) return;
  if (!c->ready) dr__resinfo_note(c->n, c->rid, c->m.resource, 0, true);
  c->ready = true;
}

static void on_get_done(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  cache_get *g = ctx;
  cache_shard *s = g->s;
  (void)ok;
  (void)nodes;
  (void)n_nodes;
  if (s && g->poll) {
    s->poll = NULL;
  } else if (s) {
    s->ready = true;
    s->get = NULL;
    s->last_poll_ms = dr__net_now_ms(s->c->n); /* the network's time, as the expiries it is compared with */
    dr_cache *c = s->c;
    if (s->shard == 0 && c->m.resource && c->m.resource->shards > c->n_shards)
      open_shards(c, c->m.resource->shards);
    check_ready(c);
  }
  free(g);
}

/* When each shard should next look for renewals of other nodes' records
 * (never: UINT64_MAX), and how far apart such looks must be: one walk over
 * the live records. */
static void poll_due(const dr_cache *c, uint64_t *due, uint64_t *gap) {
  size_t b;
  for (uint32_t i = 0; i < c->n_shards; i++) due[i] = gap[i] = UINT64_MAX;
  for (dr_map_item *it = dr_map_next(&c->live, NULL, &b); it; it = dr_map_next(&c->live, it, &b)) {
    const dr_entry *e = it->value;
    if (memcmp(e->issuer, c->n->id.pk, DR_ID_LEN) == 0) continue; /* ours: offered directly */
    uintptr_t w = (uintptr_t)dr_map_get(&c->where, it->key, it->key_len);
    uint32_t sh = w ? (uint32_t)(w - 1) : 0;
    if (sh >= c->n_shards) continue;
    uint64_t last = c->shards[sh]->last_poll_ms;
    uint64_t life = (e->expires_at - e->issued_at) * 1000, end = e->expires_at * 1000;
    uint64_t t1 = e->issued_at * 1000 + life / 4 * 3;
    uint64_t t2 = end - (life / 8 > 500 ? life / 8 : 500);
    uint64_t t = t1 > last ? t1 : t2 > last ? t2 : end > last ? end /* a last look before the expire event */
                                                               : UINT64_MAX;
    if (t < due[sh]) due[sh] = t;
    if (life / 10 < gap[sh]) gap[sh] = life / 10;
  }
}

static int shard_get(cache_shard *s, bool poll) {
  cache_get *g = calloc(1, sizeof *g);
  if (!g) return -ENOMEM;
  g->s = s;
  g->poll = poll;
  int r = dr_dht_get(s->c->n->dht, s->key, on_get_value, on_get_done, g, NULL);
  if (r < 0) {
    free(g);
    return r;
  }
  if (poll) s->poll = g;
  else s->get = g;
  return 0;
}

static void maybe_poll(dr_cache *c, uint64_t now_ms) {
  dr_node *n = c->n;
  if (!c->ready || n->stopping || !n->dht || !c->n_shards) return;
  uint64_t *due = malloc(2 * c->n_shards * sizeof *due);
  if (!due) return;
  uint64_t *gap = due + c->n_shards;
  poll_due(c, due, gap);
  for (uint32_t i = 0; i < c->n_shards; i++) {
    cache_shard *s = c->shards[i];
    uint64_t g = gap[i] < 500 ? 500 : gap[i];
    if (!s->ready || s->poll || due[i] > now_ms || now_ms < s->last_poll_ms + g) continue;
    if (shard_get(s, true) < 0) break;
    s->last_poll_ms = now_ms;
    n->cache_polls++;
  }
  free(due);
}

/* Our own entries of the resource, as they are now. */
static void offer_own(dr_cache *c) {
  dr_node *n = c->n;
  dr_entry copy;
  own_resource *res = dr_map_get(&n->resources, c->rid, DR_ID_LEN);
  if (res && dr_entry_copy(&copy, &res->entry) == 0) cache_take(c, &copy, 0);
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    const dr_entry *e = ad->withdrawn ? &ad->tomb->e : &ad->rec;
    if (memcmp(e->rid, c->rid, DR_ID_LEN) == 0 && dr_entry_copy(&copy, e) == 0)
      cache_take(c, &copy, ad->shard);
  }
}

static void shard_free(cache_shard *s) {
  dr_node *n = s->c->n;
  if (s->listen && n->dht) dr_dht_unlisten(n->dht, s->listen);
  if (s->rlisten && n->dht) dr_dht_unlisten(n->dht, s->rlisten);
  if (s->get) s->get->s = NULL;
  if (s->poll) s->poll->s = NULL;
  free(s);
}

/* Listens to (and gets) shards n_shards..shards-1. */
static void open_shards(dr_cache *c, uint32_t shards) {
  dr_node *n = c->n;
  if (shards > DR_SHARDS_MAX || shards <= c->n_shards || n->stopping || !n->dht) return;
  cache_shard **grown = realloc(c->shards, shards * sizeof *grown);
  if (!grown) return;
  c->shards = grown;
  for (uint32_t i = c->n_shards; i < shards; i++) {
    cache_shard *s = calloc(1, sizeof *s);
    if (!s) return;
    s->c = c;
    s->shard = i;
    dr__shard_key_of(n, c->rid, i, s->key);
    s->listen = dr_dht_listen_start(n->dht, s->key, false, on_listen, s);
    if (i == 0) s->rlisten = dr_dht_listen_start(n->dht, s->key, true, on_listen, s);
    /* a first get that cannot start now (a full queue) comes with the
     * first renewal check: the listen reports what is there meanwhile */
    if (!s->listen || shard_get(s, false) < 0) s->ready = true;
    c->shards[c->n_shards++] = s;
  }
  c->ready = false;
  check_ready(c);
}

/* The cache of rid, opened if need be. Returns 0 with *out set, or
 * -ESHUTDOWN, -ENOBUFS (the DHT queue is full) or -ENOMEM. */
static int cache_open(dr_node *n, const uint8_t rid[DR_ID_LEN], dr_cache **out) {
  dr_cache *c = dr_map_get(&n->caches, rid, DR_ID_LEN);
  if ((*out = c)) return 0;
  if (n->stopping || !n->dht) return -ESHUTDOWN;
  c = calloc(1, sizeof *c);
  if (!c || dr_map_put(&n->caches, rid, DR_ID_LEN, c, NULL) < 0) {
    free(c);
    return -ENOMEM;
  }
  c->n = n;
  memcpy(c->rid, rid, DR_ID_LEN);
  dr_merge_init(&c->m, rid);
  dr_map_init(&c->live);
  dr_map_init(&c->where);
  /* the head first; more once it (or what the node knew) says how many */
  open_shards(c, dr__shards_of(n, rid));
  if (!c->n_shards || !c->shards[0]->listen || !c->shards[0]->rlisten) {
    dr_map_del(&n->caches, rid, DR_ID_LEN);
    for (uint32_t i = 0; i < c->n_shards; i++) shard_free(c->shards[i]);
    free(c->shards);
    dr_merge_free(&c->m);
    dr_map_free(&c->live);
    dr_map_free(&c->where);
    free(c);
    return -ENOMEM;
  }
  offer_own(c);
  *out = c;
  return 0;
}

static void cache_free(dr_cache *c) {
  for (uint32_t i = 0; i < c->n_shards; i++) shard_free(c->shards[i]);
  free(c->shards);
  dr__behind_free(&c->behind);
  dr_merge_free(&c->m);
  dr_map_free(&c->live);
  dr_map_free(&c->where);
  free(c);
}

static void cache_release(dr_cache *c) {
  if (c->n_subs || c->pinned) return;
  dr_map_del(&c->n->caches, c->rid, DR_ID_LEN);
  cache_free(c);
}

/* ---- the node's API -------------------------------------------------------- */

int dr_node_watch(dr_node *n, const uint8_t rid[DR_ID_LEN], dr_node_event_cb cb, void *ctx,
                  uint64_t *sub_id) {
  if (n->subs.count >= n->max_watches) return -EDQUOT;
  dr_sub *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  dr_cache *c;
  int r = cache_open(n, rid, &c);
  if (r < 0) {
    free(s);
    return r;
  }
  s->id = ++n->next_sub;
  s->c = c;
  s->cb = cb;
  s->ctx = ctx;
  if (dr_map_put(&n->subs, &s->id, sizeof s->id, s, NULL) < 0) {
    free(s);
    cache_release(c);
    return -ENOMEM;
  }
  /* appended: events reach watchers in the order they subscribed */
  dr_sub **pp = &c->subs;
  while (*pp) pp = &(*pp)->next;
  *pp = s;
  c->n_subs++;
  *sub_id = s->id;
  return 0;
}

void dr_node_watch_replay(dr_node *n, uint64_t sub_id) {
  dr_sub *s = dr_map_get(&n->subs, &sub_id, sizeof sub_id);
  if (!s) return;
  size_t b;
  for (dr_map_item *it = dr_map_next(&s->c->live, NULL, &b); it; it = dr_map_next(&s->c->live, it, &b))
    s->cb(s->ctx, s->id, DR_EVENT_REGISTER, it->value);
}

int dr_node_unwatch(dr_node *n, uint64_t sub_id) {
  dr_sub *s = dr_map_del(&n->subs, &sub_id, sizeof sub_id);
  if (!s) return DR_ENOTFOUND;
  dr_cache *c = s->c;
  for (dr_sub **pp = &c->subs; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  c->n_subs--;
  free(s);
  cache_release(c);
  return 0;
}

int dr_node_pin(dr_node *n, const uint8_t rid[DR_ID_LEN]) {
  dr_cache *c;
  int r = cache_open(n, rid, &c);
  if (r < 0) return r;
  c->pinned = true;
  return 0;
}

int dr_node_unpin(dr_node *n, const uint8_t rid[DR_ID_LEN]) {
  dr_cache *c = dr_map_get(&n->caches, rid, DR_ID_LEN);
  if (!c || !c->pinned) return DR_ENOTFOUND;
  c->pinned = false;
  cache_release(c);
  return 0;
}

/* ---- what the rest of node/ uses ------------------------------------------------ */

void dr__cache_offer_own(dr_node *n, const dr_entry *e, uint32_t shard) {
  dr_cache *c = dr_map_get(&n->caches, e->rid, DR_ID_LEN);
  dr_entry copy;
  if (c && dr_entry_copy(&copy, e) == 0) cache_take(c, &copy, shard);
}

/* The cache's live records (of that type, unless NULL) placed in the
 * order drawn from seed. *out is malloc'd. */
static size_t cache_placed(dr_cache *c, uint32_t seed, const char *type, dr_include include, dr_placed **out) {
  dr_node *n = c->n;
  const dr_entry **recs;
  size_t forbidden;
  size_t k = dr_merge_records(&c->m, dr__net_now(n), SIZE_MAX, &recs, &forbidden);
  uint32_t *order = malloc(2 * c->n_shards * sizeof *order);
  dr_placed *p = malloc((k ? k : 1) * sizeof *p);
  size_t m = 0;
  if (order && p) {
    uint32_t *pos_of = order + c->n_shards;
    dr__shard_order(seed, c->n_shards, true, order, pos_of);
    for (size_t i = 0; i < k; i++) {
      if (type && strcmp(recs[i]->type ? recs[i]->type : "", type) != 0) continue;
      if (include != DR_INCLUDE_ALL && !dr_entry_passing(recs[i])) continue;
      /* at its own shard's position, wherever it sits now: a record that
       * moves between pages is given at one position (and the same as a
       * page read from the DHT during a migration gives it) */
      uint64_t h = dr_entry_placement(recs[i]);
      p[m++] = (dr_placed){recs[i], pos_of[h % c->n_shards], h};
    }
  }
  free(order);
  *out = p;
  return m;
}

bool dr__cache_resolve(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                       const dr_resolve_page *from, dr_include include, dr_node_resolve_cb cb, void *ctx) {
  dr_cache *c = dr_map_get(&n->caches, rid, DR_ID_LEN);
  if (!c || !c->ready) return false;
  dr_resolution res = {.resource = c->m.resource, .shards = c->n_shards};
  n->cache_hits++;
  if (from && from->set && from->shards != c->n_shards) {
    cb(ctx, DR_ECURSOR, &res);
    return true;
  }
  uint32_t seed = from && from->set ? from->seed : dr__page_seed(n, rid);
  dr_placed *p;
  size_t k = cache_placed(c, seed, NULL, include, &p);
  uint32_t low = from && from->set && from->low ? from->low : dr__migrating_low(n, rid, c->n_shards);
  int r = p ? dr__page(p, k, seed, c->n_shards, low, from, limit, c->n_shards, &res) : -ENOMEM;
  free(p);
  cb(ctx, r, &res);
  free((void *)res.records);
  return true;
}

bool dr__cache_discover(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *type, dr_include include,
                        dr_node_resolve_cb cb, void *ctx) {
  dr_cache *c = dr_map_get(&n->caches, rid, DR_ID_LEN);
  if (!c || !c->ready) return false;
  dr_placed *p;
  size_t k = cache_placed(c, 0, type, include, &p);
  const dr_entry *pick = k ? p[randombytes_uniform((uint32_t)k)].e : NULL; /* uniform: all are known */
  dr_resolution res = {.resource = c->m.resource, .shards = c->n_shards, .records = &pick,
                       .n_records = pick ? 1 : 0};
  n->cache_hits++;
  cb(ctx, p ? 0 : -ENOMEM, &res);
  free(p);
  return true;
}

const dr_entry *dr__cache_resource(dr_node *n, const uint8_t rid[DR_ID_LEN], bool *known) {
  dr_cache *c = dr_map_get(&n->caches, rid, DR_ID_LEN);
  *known = c && c->ready;
  return *known ? c->m.resource : NULL;
}

/* Expire events, and the collection of what no longer matters: records past
 * their expiry, tombstones past theirs (the records they hid are expired
 * too by then). */
void dr__cache_tick(dr_node *n, uint64_t now) {
  size_t b, b2;
  uint64_t now_ms = dr__net_now_ms(n);
  for (dr_map_item *it = dr_map_next(&n->caches, NULL, &b); it; it = dr_map_next(&n->caches, it, &b)) {
    dr_cache *c = it->value;
    maybe_poll(c, now_ms);
    if (c->ready) dr__behind_settle(n, &c->behind, &c->m); /* its first sync is over */
    size_t n_old = 0, cap = 0;
    struct old {
      uint8_t key[DR_ID_LEN + DR_NAME_MAX];
      size_t len;
    } *old = NULL;
    for (dr_map_item *w = dr_map_next(&c->m.winners, NULL, &b2); w; w = dr_map_next(&c->m.winners, w, &b2)) {
      const dr_entry *e = w->value;
      if (e->expires_at > now) continue;
      /* another node's record: gone once a get begun after its expiry did
       * not find it renewed */
      if (e->kind == DR_KIND_RECORD && c->ready && !n->stopping &&
          memcmp(e->issuer, n->id.pk, DR_ID_LEN) != 0) {
        uintptr_t sh = (uintptr_t)dr_map_get(&c->where, w->key, w->key_len);
        cache_shard *s = sh && sh - 1 < c->n_shards ? c->shards[sh - 1] : c->shards[0];
        if (s->poll || s->last_poll_ms < e->expires_at * 1000) continue;
      }
      if (n_old == cap) {
        size_t ncap = cap ? cap * 2 : 16;
        struct old *grown = realloc(old, ncap * sizeof *old);
        if (!grown) break;
        old = grown;
        cap = ncap;
      }
      memcpy(old[n_old].key, w->key, w->key_len);
      old[n_old++].len = w->key_len;
    }
    for (size_t i = 0; i < n_old; i++) {
      dr_entry *e = dr_map_del(&c->m.winners, old[i].key, old[i].len);
      dr_map_del(&c->where, old[i].key, old[i].len);
      if (dr_map_del(&c->live, old[i].key, old[i].len) && e->kind == DR_KIND_RECORD)
        emit(c, DR_EVENT_EXPIRE, e);
      dr_entry_clear(e);
      free(e);
    }
    free(old);
    if (c->m.resource && c->m.resource->expires_at && c->m.resource->expires_at <= now) {
      dr_entry_clear(c->m.resource);
      free(c->m.resource);
      c->m.resource = NULL;
    }
  }
}

void dr__cache_free_all(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->subs, NULL, &b); it; it = dr_map_next(&n->subs, it, &b))
    free(it->value);
  dr_map_free(&n->subs);
  for (dr_map_item *it = dr_map_next(&n->caches, NULL, &b); it; it = dr_map_next(&n->caches, it, &b))
    cache_free(it->value);
  dr_map_free(&n->caches);
}

void dr__cache_counts(const dr_node *n, size_t *caches, size_t *entries, size_t *subs) {
  size_t b;
  *caches = n->caches.count;
  *subs = n->subs.count;
  *entries = 0;
  for (dr_map_item *it = dr_map_next(&n->caches, NULL, &b); it; it = dr_map_next(&n->caches, it, &b)) {
    const dr_cache *c = it->value;
    *entries += c->m.winners.count + (c->m.resource ? 1 : 0);
  }
}

/* For the replication task: the pinned caches' entries of other issuers. */
size_t dr__cache_pinned(dr_node *n, dr_cache ***out) {
  size_t b, k = 0;
  *out = malloc((n->caches.count + 1) * sizeof **out);
  if (!*out) return 0;
  for (dr_map_item *it = dr_map_next(&n->caches, NULL, &b); it; it = dr_map_next(&n->caches, it, &b)) {
    dr_cache *c = it->value;
    if (c->pinned) (*out)[k++] = c;
  }
  return k;
}

bool dr__cache_is_pinned(const dr_cache *c) {
  return c->pinned;
}

const uint8_t *dr__cache_rid(const dr_cache *c) {
  return c->rid;
}

const dr_merge *dr__cache_merge(const dr_cache *c) {
  return &c->m;
}


bool dr_node_may_advertise(const dr_entry *resource, const uint8_t issuer[DR_ID_LEN]) {
  return dr_merge_allowed(resource, issuer) != 0;
}
