/* resolve.c - reading a resource: its shards in a random order until enough live records, each value verified, all merged; pages, discover, the resource entry alone
 *
 * A resource's records are spread over its shards (docs/PROTOCOL.md). A
 * resolve reads shards in an order drawn from a random seed, a few at a
 * time, until it has the live records it was asked for: a resource of one
 * shard is one lookup; a big one costs about limit / (records per shard)
 * lookups, and the random order spreads the load over the shards' storers.
 * Of a resource of more than DR_READ_WINDOW shards, a node's first pages
 * come from a window of DR_READ_WINDOW of them (random for each resource,
 * drawn again every DR_READ_WINDOW_S), in a random order each time: OpenDHT
 * keeps a search for every key a node read in the last hour and walks them
 * all for each message it receives.
 * When the shard count is not known (read in the last DR_COUNT_FRESH_MS),
 * the head (shard 0, which holds the resource entry) is read first.
 *
 * The answer lists records in that order: shard by shard, and within a
 * shard by service id then issuer. A page that stops inside the order says
 * where the next one starts (the seed, the shard count, the position and
 * how many records of that shard were given): the next resolve of that page
 * reads the same order from there, so a client reads every live record of
 * a resource in pages (the API's cursor).
 *
 * discover picks one live record uniformly: a shard at random, and one of
 * its records with a probability of its count over DISCOVER_BOUND (so a
 * record in a full shard is not less likely than one in a sparse one);
 * else another shard.
 */
#include "node/merge.h"
#include "node/node_private.h"

#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARALLEL 8          /* shard reads in flight for one resolve */
#define PER_SHARD_GUESS 64      /* live records a shard holds, before any was read */
#define DISCOVER_BOUND 128      /* records a shard holds at most, for discover's sampling */
#define DISCOVER_TRIES 24       /* shards discover samples before it takes what it saw */

typedef enum rs_mode { RS_RESOLVE, RS_DISCOVER, RS_RESOURCE } rs_mode;

typedef struct shard_read {
  struct dr_resolve *r;
  uint32_t shard, pos; /* the shard and its position in the order */
  dr_dht_lookup *get;  /* while in flight */
  uint8_t key[DR_DHT_KEY_SIZE];
  bool fresh_key, done, sampled;
  uint64_t started_ms;
  dr_map seen;         /* BLAKE2b-128 of the values received: copies from several storers */
} shard_read;

/* An own entry of the resource, offered when its shard is read. */
typedef struct own_entry {
  dr_entry e;
  uint32_t shard;
} own_entry;

struct dr_resolve {
  dr_node *n;
  uint8_t rid[DR_ID_LEN];
  rs_mode mode;
  size_t limit;
  char *type; /* discover: of this type only (NULL: any) */
  dr_include include; /* critical records too, or passing ones only */
  dr_node_resolve_cb cb;
  void *ctx;
  dr_deadline dl;
  /* the order */
  uint32_t seed, shards, start; /* start: the first position read */
  dr_resolve_page from;         /* where the page starts (set: not a first page) */
  uint32_t page_shards; /* the shard count a page was drawn for (0: a first page) */
  /* while records may still sit under a count as low as this (a migration:
   * low < shards), each record is given at its own shard's position under
   * shards, whichever shard it was read from, and each position is read
   * with its ancestors under the counts from low up (where a record not
   * moved yet sits): a record moving during a walk is given once, at one
   * position. low == shards: records are given where they were read. */
  uint32_t low;
  bool shards_known;
  bool head_read;  /* the head (shard 0) came from the DHT: the count is known afresh */
  bool whole_head; /* resource.get: the head read whole (no marked entry found) */
  uint32_t *order; /* order[pos] = shard */
  uint32_t *pos_of; /* pos_of[shard] = pos */
  shard_read **reads; /* by position, once started */
  shard_read *head;   /* the head, read before the shard count was known */
  uint32_t next;      /* the next position to start */
  unsigned in_flight;
  unsigned tries;     /* discover: shards sampled */
  uint32_t per_shard; /* live records per shard expected */
  dr_merge merge;
  dr_behind behind; /* older copies behind a newer version seen before: judged once the read is over */
  dr_map where; /* issuer || service id -> 1 + the shard its winner was read from */
  own_entry *own;
  size_t n_own;
};
typedef struct dr_resolve resolve_op;

static void read_free(shard_read *s) {
  if (!s) return;
  dr_map_free(&s->seen);
  free(s);
}

static void op_free(resolve_op *op) {
  if (op->reads)
    for (uint32_t p = 0; p < op->shards; p++)
      if (op->reads[p] != op->head) read_free(op->reads[p]);
  read_free(op->head);
  free(op->reads);
  free(op->order);
  free(op->pos_of);
  for (size_t i = 0; i < op->n_own; i++) dr_entry_clear(&op->own[i].e);
  free(op->own);
  free(op->type);
  dr__behind_free(&op->behind);
  dr_merge_free(&op->merge);
  dr_map_free(&op->where);
  free(op);
}

/* Drops a read's get (its caller gave up, or the resolve is over). */
static void read_drop(resolve_op *op, shard_read *s) {
  if (!s || !s->get) return;
  bool started = dr_dht_get_cancel(op->n->dht, s->get);
  s->get = NULL;
  op->in_flight--;
  if (!started && s->fresh_key) dr__lookup_unadmit(op->n, s->key);
}

static void drop_all(resolve_op *op) {
  if (op->reads)
    for (uint32_t p = 0; p < op->shards; p++) read_drop(op, op->reads[p]);
  read_drop(op, op->head);
}

/* ---- the order ------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Shuffles a[0..n) (Fisher-Yates) with the generator state st. */
static void shuffle(uint32_t *a, uint32_t n, uint64_t *st) {
  for (uint32_t i = n ? n - 1 : 0; i > 0; i--) {
    uint32_t j = (uint32_t)(splitmix(st) % (i + 1));
    uint32_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

void dr__shard_order(uint32_t seed, uint32_t shards, bool windowed, uint32_t *order, uint32_t *pos_of) {
  uint64_t st = seed;
  uint32_t w = shards, base = 0;
  if (windowed && shards > DR_READ_WINDOW) {
    w = DR_READ_WINDOW;
    base = (seed >> 20) % (shards / DR_READ_WINDOW) * DR_READ_WINDOW;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < w; i++) order[k++] = base + i;
  for (uint32_t i = 0; i < shards; i++)
    if (i < base || i >= base + w) order[k++] = i;
  shuffle(order, w, &st);
  shuffle(order + w, shards - w, &st);
  for (uint32_t i = 0; i < shards; i++) pos_of[order[i]] = i;
}

uint32_t dr__page_seed(const dr_node *n, const uint8_t rid[DR_ID_LEN]) {
  uint8_t in[DR_ID_LEN + 8], h[8];
  uint64_t epoch = dr_now() / DR_READ_WINDOW_S;
  memcpy(in, rid, DR_ID_LEN);
  for (int i = 0; i < 8; i++) in[DR_ID_LEN + i] = (uint8_t)(epoch >> (8 * i));
  crypto_generichash(h, sizeof h, in, sizeof in, n->window_key, sizeof n->window_key);
  uint32_t window = ((uint32_t)h[0] << 4) | (h[1] >> 4); /* 12 bits */
  return window << 20 | (randombytes_random() & 0xfffff);
}

static int make_order(resolve_op *op) {
  uint32_t n = op->shards;
  op->order = malloc(n * sizeof *op->order);
  op->pos_of = malloc(n * sizeof *op->pos_of);
  op->reads = calloc(n, sizeof *op->reads);
  if (!op->order || !op->pos_of || !op->reads) return -ENOMEM;
  /* discover samples every shard alike: no window */
  dr__shard_order(op->seed, n, op->mode != RS_DISCOVER, op->order, op->pos_of);
  op->shards_known = true;
  if (op->mode != RS_RESOLVE) op->low = n;
  else if (op->from.set) op->low = op->from.low && op->from.low <= n ? op->from.low : n;
  else op->low = dr__migrating_low(op->n, op->rid, n);
  if (op->head) { /* read already: it takes its place in the order */
    op->head->pos = op->pos_of[0];
    op->reads[op->head->pos] = op->head;
  }
  op->next = op->start;
  return 0;
}

/* ---- reading one shard --------------------------------------------------------------- */

/* Offers one verified entry read from shard. (Where it sits in the order
 * is looked up when the page is made: the head is read before there is an
 * order.) */
static void offer(resolve_op *op, dr_entry *e, uint32_t shard) {
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  size_t klen = e->kind == DR_KIND_RESOURCE ? 0 : dr_merge_key(key, e);
  if (dr_merge_offer(&op->merge, e) == 1 && klen)
    dr_map_put(&op->where, key, klen, (void *)((uintptr_t)shard + 1), NULL);
}

static void on_value(void *ctx, const uint8_t *data, size_t len) {
  shard_read *s = ctx;
  resolve_op *op = s->r;
  uint8_t h[16];
  crypto_generichash(h, sizeof h, data, len, NULL, 0);
  if (dr_map_get(&s->seen, h, sizeof h)) return; /* the same bytes from another node */
  if (dr_map_put(&s->seen, h, sizeof h, s, NULL) < 0) return;
  dr_entry e;
  dr_read r = dr__entry_read(op->n, op->rid, s->shard, data, len, &e);
  if (r == DR_READ_OK) offer(op, &e, s->shard);
  else if (r == DR_READ_BEHIND) dr__behind_add(op->n, &op->behind, &e);
}

static bool step(resolve_op *op);

static void on_read_done(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  shard_read *s = ctx;
  resolve_op *op = s->r;
  (void)ok;
  (void)nodes;
  (void)n_nodes;
  s->get = NULL;
  s->done = true;
  op->in_flight--;
  if (s->shard == 0) op->head_read = true;
  dr__lookup_started(op->n, s->key);
  DR_DEBUG(&op->n->log, "resolve: shard %u read, %zu values from %zu nodes in %llu ms", s->shard,
           s->seen.count, n_nodes, (unsigned long long)(uv_now(op->n->loop) - s->started_ms));
  dr_map_free(&s->seen); /* its values are in the merge */
  /* this node's own entries of that shard take part as if read: it sees
   * what it published before any other node stores it */
  for (size_t i = 0; i < op->n_own; i++) {
    own_entry *o = &op->own[i];
    if (o->e.kind && o->shard == s->shard) {
      dr_entry e = o->e;
      memset(&o->e, 0, sizeof o->e);
      offer(op, &e, s->shard);
    }
  }
  step(op);
}

/* Starts reading shard at position pos (UINT32_MAX: the head, before the
 * order is known). */
static int read_start(resolve_op *op, uint32_t shard, uint32_t pos) {
  dr_node *n = op->n;
  shard_read *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->r = op;
  s->shard = shard;
  s->pos = pos;
  s->started_ms = uv_now(n->loop);
  dr_map_init(&s->seen);
  dr__shard_key_of(n, op->rid, shard, s->key);
  int r = dr__lookup_admit(n, s->key, &s->fresh_key);
  if (r == 0) {
    if (op->mode == RS_RESOURCE && !op->whole_head)
      r = dr_dht_get_resource(n->dht, s->key, on_value, on_read_done, s, &s->get);
    else
      r = dr_dht_get(n->dht, s->key, on_value, on_read_done, s, &s->get);
    if (r < 0 && s->fresh_key) dr__lookup_unadmit(n, s->key);
  }
  if (r < 0) {
    read_free(s);
    return r;
  }
  op->in_flight++;
  if (pos == UINT32_MAX) op->head = s;
  else op->reads[pos] = s;
  return 0;
}

/* ---- answering -------------------------------------------------------------------- */

typedef dr_placed placed;

static int by_place(const void *a, const void *b) {
  const placed *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  int c = strcmp(x->e->name, y->e->name);
  return c ? c : memcmp(x->e->issuer, y->e->issuer, DR_ID_LEN);
}

/* The live records read at positions >= op->start, in the order (of the
 * type asked for, for discover). Returns how many; *out is malloc'd. */
static size_t live_placed(resolve_op *op, placed **out, size_t *forbidden) {
  const dr_entry **recs;
  size_t n = dr_merge_records(&op->merge, dr__net_now(op->n), SIZE_MAX, &recs, forbidden);
  placed *p = malloc((n ? n : 1) * sizeof *p);
  size_t k = 0;
  *out = p;
  if (!p) return 0;
  for (size_t i = 0; i < n; i++) {
    if (op->type && strcmp(recs[i]->type ? recs[i]->type : "", op->type) != 0) continue;
    if (op->include != DR_INCLUDE_ALL && !dr_entry_passing(recs[i])) continue;
    uint8_t key[DR_ID_LEN + DR_NAME_MAX];
    uintptr_t w = (uintptr_t)dr_map_get(&op->where, key, dr_merge_key(key, recs[i]));
    p[k] = (placed){recs[i], 0, dr_entry_placement(recs[i])};
    /* during a migration at its own shard's position, else where it was read */
    uint32_t shard = op->low < op->shards ? (uint32_t)(p[k].h % op->shards) : w ? (uint32_t)(w - 1) : 0;
    p[k].pos = op->pos_of && shard < op->shards ? op->pos_of[shard] : 0;
    if (p[k].pos >= op->start) k++;
  }
  return k;
}

static void finish(resolve_op *op, int err, dr_resolution *res) {
  dr_node *n = op->n;
  dr__deadline_remove(n, &op->dl);
  drop_all(op);
  if (err == 0) dr__behind_settle(n, &op->behind, &op->merge);
  op->cb(op->ctx, err, res);
  op_free(op);
}

bool dr__page_before(const dr_resolve_page *from, uint32_t pos, uint64_t h) {
  if (!from || !from->set) return false;
  return pos < from->pos || (pos == from->pos && from->mid && h <= from->after);
}

int dr__page(dr_placed *p, size_t k, uint32_t seed, uint32_t shards, uint32_t low, const dr_resolve_page *from,
             size_t limit, uint32_t unread, dr_resolution *res) {
  qsort(p, k, sizeof *p, by_place);
  /* only positions before unread: the head, read first to learn the shard
   * count, may sit at a later position, which a later page reads */
  while (k && p[k - 1].pos >= unread) k--;
  /* what earlier pages gave: the positions before from's, and of its
   * shard, the records up to the last hash given */
  size_t first = 0;
  while (first < k && dr__page_before(from, p[first].pos, p[first].h)) first++;
  size_t count = k - first < limit ? k - first : limit;
  const dr_entry **recs = malloc((count ? count : 1) * sizeof *recs);
  if (!recs) return -ENOMEM;
  for (size_t i = 0; i < count; i++) recs[i] = p[first + i].e;
  res->records = recs;
  res->n_records = count;
  res->shards = shards;
  /* the next page starts after the last record given, or at the first
   * shard not read */
  size_t end = first + count;
  if (end < k) {
    res->more = true;
    if (count && p[end - 1].pos == p[end].pos)
      res->next = (dr_resolve_page){seed, shards, p[end].pos, p[end - 1].h, true, true, low};
    else
      res->next = (dr_resolve_page){seed, shards, p[end].pos, 0, false, true, low};
  } else if (unread < shards) {
    res->more = true;
    res->next = (dr_resolve_page){seed, shards, unread, 0, false, true, low};
  }
  return 0;
}

static void answer_resolve(resolve_op *op) {
  dr_node *n = op->n;
  placed *p;
  size_t forbidden, k = live_placed(op, &p, &forbidden);
  n->rejected[DR_REJ_POLICY] += forbidden;
  dr_resolution res = {.resource = op->merge.resource, .shards = op->shards};
  int r = p ? dr__page(p, k, op->seed, op->shards, op->low, &op->from, op->limit, op->next, &res) : -ENOMEM;
  if (op->next > op->start) {
    uint32_t read = op->next - op->start;
    dr__resinfo_note(n, op->rid, op->merge.resource, (uint32_t)(k / read) + 1, op->head_read);
  }
  free(p);
  const dr_entry **recs = (const dr_entry **)res.records;
  finish(op, r, &res);
  free(recs);
}

/* discover: one shard's records, taken with a probability of their count
 * over DISCOVER_BOUND; after DISCOVER_TRIES shards (or all), one of what
 * was seen. Returns whether it answered. */
static bool answer_discover(resolve_op *op, shard_read *s) {
  placed *p;
  if (!s) return false;
  size_t forbidden, k = live_placed(op, &p, &forbidden);
  if (p) qsort(p, k, sizeof *p, by_place);
  size_t in_s = 0, first = 0;
  for (size_t i = 0; i < k; i++)
    if (p[i].pos == s->pos && in_s++ == 0) first = i;
  const dr_entry *pick = NULL;
  bool all = op->next >= op->shards && op->in_flight == 0;
  if (op->shards == 1 || in_s >= DISCOVER_BOUND || randombytes_uniform(DISCOVER_BOUND) < in_s) {
    if (in_s) pick = p[first + randombytes_uniform((uint32_t)in_s)].e;
  }
  if (!pick && k && (op->tries >= DISCOVER_TRIES || all))
    pick = p[randombytes_uniform((uint32_t)k)].e; /* what was seen: a degenerate resource */
  if (!pick && !all) {
    free(p);
    return false;
  }
  dr_resolution res = {.resource = op->merge.resource, .shards = op->shards};
  res.records = &pick;
  res.n_records = pick ? 1 : 0;
  free(p);
  finish(op, 0, &res);
  return true;
}

/* ---- driving ---------------------------------------------------------------------- */

/* Live records read so far that the page may give (not given before). */
static size_t have(resolve_op *op) {
  placed *p;
  size_t forbidden, k = live_placed(op, &p, &forbidden), got = 0;
  for (size_t i = 0; i < k; i++) got += p[i].pos < op->next && !dr__page_before(&op->from, p[i].pos, p[i].h);
  free(p);
  return got;
}

/* Starts reads at the next positions while fewer than want are in flight.
 * Returns 0, or an error when none could start and none is in flight. */
static int read_more(resolve_op *op, size_t want) {
  while (op->in_flight < want && op->next < op->shards) {
    uint32_t pos = op->next++, shard = op->order[pos];
    int r = op->reads[pos] ? 0 : read_start(op, shard, pos); /* the head, or an ancestor: read already */
    /* a migration: where the records of this position not moved yet sit */
    for (uint32_t m = op->low; r == 0 && m < op->shards; m <<= 1) {
      uint32_t a = shard % m;
      if (a != shard && !op->reads[op->pos_of[a]]) r = read_start(op, a, op->pos_of[a]);
    }
    if (r < 0) return op->in_flight ? 0 : r; /* what is in flight answers */
  }
  return 0;
}

/* After a read: answer, or read more. Returns true when it answered (op is
 * freed then). */
static bool step(resolve_op *op) {
  dr_node *n = op->n;
  dr_resolution none = {0};
  if (!op->shards_known) {
    if (op->in_flight) return false;
    /* the head is read: the resource entry says how many shards */
    op->shards = dr__res_shards(op->merge.resource);
    if (op->mode == RS_RESOURCE && !op->merge.resource && !op->whole_head) {
      /* none marked: a writer from before the mark puts it unmarked */
      op->whole_head = true;
      read_free(op->head);
      op->head = NULL;
      int r = read_start(op, 0, UINT32_MAX);
      if (r == 0) return false;
      finish(op, r, &none);
      return true;
    }
    if (op->mode == RS_RESOURCE) {
      dr__resinfo_note(n, op->rid, op->merge.resource, 0, true);
      dr_resolution res = {.resource = op->merge.resource, .shards = op->shards};
      finish(op, 0, &res);
      return true;
    }
    if ((op->page_shards && op->page_shards != op->shards) || op->start >= op->shards) {
      finish(op, DR_ECURSOR, &none);
      return true;
    }
    if (make_order(op) < 0) {
      finish(op, -ENOMEM, &none);
      return true;
    }
  }
  int r;
  if (op->mode == RS_DISCOVER) {
    r = read_more(op, 2);
    for (uint32_t pos = op->start; pos < op->next; pos++) { /* each read done is a sample */
      shard_read *s = op->reads[pos];
      if (s && s->done && !s->sampled) {
        s->sampled = true;
        op->tries++;
        if (answer_discover(op, s)) return true;
      }
    }
    if (r < 0 || !op->in_flight) { /* every shard read: what was seen */
      if (r == 0 && answer_discover(op, op->reads[op->next - 1])) return true;
      finish(op, r < 0 ? r : 0, &none);
      return true;
    }
    return false;
  }
  size_t got = have(op);
  if (got < op->limit && op->next < op->shards) {
    /* as many more shards as the missing records need, a few at a time */
    uint32_t per = op->per_shard ? op->per_shard : PER_SHARD_GUESS;
    size_t want = (op->limit - got + per - 1) / per;
    if ((r = read_more(op, want < MAX_PARALLEL ? want : MAX_PARALLEL)) < 0) {
      finish(op, r, &none);
      return true;
    }
  }
  if (op->in_flight) return false;
  answer_resolve(op);
  return true;
}

static void on_deadline(dr_deadline *dl) {
  resolve_op *op = (resolve_op *)((char *)dl - offsetof(resolve_op, dl));
  DR_DEBUG(&op->n->log, "resolve: the DHT did not answer within the op timeout");
  dr_resolution res = {0};
  /* a partial answer is no answer: it may lack what hides or replaces a record */
  finish(op, DR_ETIMEOUT, &res);
}

/* This node's own entries of rid, offered when their shard is read. */
static int collect_own(resolve_op *op) {
  dr_node *n = op->n;
  size_t b, cap = 0;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    const dr_entry *e = ad->withdrawn ? &ad->tomb->e : &ad->rec;
    if (memcmp(e->rid, op->rid, DR_ID_LEN) != 0) continue;
    if (op->n_own == cap) {
      cap = cap ? cap * 2 : 8;
      own_entry *grown = realloc(op->own, cap * sizeof *grown);
      if (!grown) return -ENOMEM;
      op->own = grown;
    }
    if (dr_entry_copy(&op->own[op->n_own].e, e) < 0) return -ENOMEM;
    op->own[op->n_own++].shard = ad->shard;
  }
  return 0; /* its own resource entry, if any, start() offers (dr__resinfo knows it) */
}

static int start(dr_node *n, const uint8_t rid[DR_ID_LEN], rs_mode mode, size_t limit,
                 const char *type, dr_include include, const dr_resolve_page *from, dr_node_resolve_cb cb,
                 void *ctx, dr_resolve **out) {
  if (out) *out = NULL;
  if (n->stopping) return -ESHUTDOWN;
  resolve_op *op = calloc(1, sizeof *op);
  if (!op) return -ENOMEM;
  op->n = n;
  memcpy(op->rid, rid, DR_ID_LEN);
  op->mode = mode;
  op->limit = limit;
  op->include = include;
  op->cb = cb;
  op->ctx = ctx;
  dr_merge_init(&op->merge, rid);
  dr_map_init(&op->where);
  op->seed = from && from->set ? from->seed : mode == RS_DISCOVER ? randombytes_random() : dr__page_seed(n, rid);
  op->start = from && from->set ? from->pos : 0;
  if (from && from->set) op->from = *from;
  int r = 0;
  if (type && !(op->type = strdup(type))) r = -ENOMEM;
  if (r == 0 && mode != RS_RESOURCE) r = collect_own(op);
  const dr_entry *known_res;
  uint32_t shards;
  bool known = mode != RS_RESOURCE && dr__resinfo(n, rid, DR_COUNT_FRESH_MS, &known_res, &shards);
  if (from && from->set) op->page_shards = from->shards;
  if (r == 0 && known) {
    if (op->page_shards && op->page_shards != shards) r = DR_ECURSOR;
    else {
      dr_entry copy;
      if (known_res && dr_entry_copy(&copy, known_res) == 0) dr_merge_offer(&op->merge, &copy);
      op->shards = shards;
      op->per_shard = dr__resinfo_per_shard(n, rid);
      if (op->start >= op->shards) r = DR_ECURSOR;
      else r = make_order(op);
    }
  }
  if (r == 0) {
    if (known) {
      if (step(op)) return 0; /* answered at once: op is gone */
    } else {
      r = read_start(op, 0, UINT32_MAX);
    }
  }
  if (r < 0) {
    op_free(op);
    return r;
  }
  dr__deadline_add(n, &op->dl, on_deadline);
  if (out) *out = op;
  return 0;
}

int dr_node_resolve_with(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                         const dr_resolve_page *from, dr_include include, dr_node_resolve_cb cb,
                         void *ctx, dr_resolve **out) {
  if (out) *out = NULL;
  if (n->stopping) return -ESHUTDOWN;
  if (dr__cache_resolve(n, rid, limit, from, include, cb, ctx)) return 0;
  return start(n, rid, RS_RESOLVE, limit, NULL, include, from, cb, ctx, out);
}

int dr_node_resolve(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                    const dr_resolve_page *from, dr_node_resolve_cb cb, void *ctx, dr_resolve **out) {
  return dr_node_resolve_with(n, rid, limit, from, DR_INCLUDE_PASSING, cb, ctx, out);
}

int dr_node_discover_with(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *type,
                          dr_include include, dr_node_resolve_cb cb, void *ctx, dr_resolve **out) {
  if (out) *out = NULL;
  if (n->stopping) return -ESHUTDOWN;
  if (dr__cache_discover(n, rid, type, include, cb, ctx)) return 0;
  return start(n, rid, RS_DISCOVER, 1, type, include, NULL, cb, ctx, out);
}

int dr_node_discover(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *type,
                     dr_node_resolve_cb cb, void *ctx, dr_resolve **out) {
  return dr_node_discover_with(n, rid, type, DR_INCLUDE_PASSING, cb, ctx, out);
}

int dr_node_resource_get(dr_node *n, const uint8_t rid[DR_ID_LEN], dr_node_resolve_cb cb,
                         void *ctx, dr_resolve **out) {
  const dr_entry *res;
  uint32_t shards;
  if (out) *out = NULL;
  if (n->stopping) return -ESHUTDOWN;
  bool known = dr__resinfo(n, rid, 0, &res, &shards); /* its own or a cached one: current */
  if (known && (dr_map_get(&n->resources, rid, DR_ID_LEN) || res)) {
    dr_resolution r = {.resource = res, .shards = shards};
    cb(ctx, 0, &r);
    return 0;
  }
  return start(n, rid, RS_RESOURCE, 0, NULL, DR_INCLUDE_ALL, NULL, cb, ctx, out);
}

void dr_node_resolve_cancel(dr_node *n, dr_resolve *op) {
  dr__deadline_remove(n, &op->dl);
  if (n->dht) drop_all(op);
  op_free(op);
}
