/* resinfo.c - what this node knows of a resource's entry (its policy, its shard count): its own, a watched or pinned one's, or one read lately
 *
 * A resolve of a sharded resource needs its shard count before it knows
 * which keys to read, and an advertise needs the policy and the shard its
 * record goes to. Reading the head first costs a round trip, so what a read
 * learned is kept for a while (RESINFO_KEEP_MS); callers say how old an
 * answer they accept. The node's own resources and the caches of watched
 * and pinned ones are always current.
 */
#include "node/node_private.h"

#include <stdlib.h>
#include <string.h>

#define RESINFO_KEEP_MS (10 * 60 * 1000)
#define COUNTS_MAX 16384
#define RESINFO_MAX 16384
#define RESINFO_SWEEP_MS 10000

/* The shard counts of a resource this node saw: the current one, since
 * when, and the smallest of it and those before it within the settle time
 * (what records are placed by meanwhile). */
typedef struct count_hist {
  uint32_t cur, low;
  uint64_t since_ms; /* uv_now() when cur was first seen (0: on first sight) */
  uint64_t seen_ms;  /* uv_now() when last seen */
} count_hist;

typedef struct resinfo {
  dr_entry res;       /* kind 0: the resource had no entry when read */
  uint64_t at_ms;     /* uv_now() of the read */
  uint32_t per_shard; /* live records per shard the last resolve saw (0: unknown) */
} resinfo;

uint32_t dr__res_shards(const dr_entry *res) {
  return res && res->shards > 1 ? res->shards : 1;
}

bool dr__resinfo(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms,
                 const dr_entry **res, uint32_t *shards) {
  own_resource *own = dr_map_get(&n->resources, rid, DR_ID_LEN);
  const dr_entry *e = NULL;
  bool known = false;
  if (own) {
    e = &own->entry;
    known = true;
  } else if ((e = dr__cache_resource(n, rid, &known)), known) {
    /* a watched or pinned resource's cache, kept current by its listen */
  } else {
    resinfo *ri = dr_map_get(&n->resinfo, rid, DR_ID_LEN);
    if (ri && uv_now(n->loop) - ri->at_ms <= max_age_ms) {
      e = ri->res.kind ? &ri->res : NULL;
      known = true;
    }
  }
  if (res) *res = known ? e : NULL;
  if (shards) *shards = dr__res_shards(known ? e : NULL);
  return known;
}

uint32_t dr__shards_of(dr_node *n, const uint8_t rid[DR_ID_LEN]) {
  uint32_t shards;
  dr__resinfo(n, rid, UINT64_MAX, NULL, &shards);
  return shards;
}

uint32_t dr__resinfo_per_shard(dr_node *n, const uint8_t rid[DR_ID_LEN]) {
  resinfo *ri = dr_map_get(&n->resinfo, rid, DR_ID_LEN);
  return ri ? ri->per_shard : 0;
}

void dr__count_note(dr_node *n, const uint8_t rid[DR_ID_LEN], const dr_entry *res) {
  uint32_t shards = dr__res_shards(res);
  uint64_t now = uv_now(n->loop);
  count_hist *h = dr_map_get(&n->counts, rid, DR_ID_LEN);
  if (!h) {
    /* first sight: what it was before is unknown, and taken as settled */
    if (n->counts.count >= COUNTS_MAX || !(h = calloc(1, sizeof *h))) return;
    if (dr_map_put(&n->counts, rid, DR_ID_LEN, h, NULL) < 0) {
      free(h);
      return;
    }
    *h = (count_hist){shards, shards, 0, now};
    return;
  }
  h->seen_ms = now;
  if (shards == h->cur) return;
  /* the counts of the last migration window, and this one */
  bool migrating = h->since_ms && now < h->since_ms + DR_COUNT_MIGRATE_MS;
  uint32_t low = migrating ? (h->low < h->cur ? h->low : h->cur) : h->cur;
  h->low = shards < low ? shards : low;
  h->cur = shards;
  h->since_ms = now;
  n->counts_changed_ms = now;
}

uint32_t dr__migrating_low(dr_node *n, const uint8_t rid[DR_ID_LEN], uint32_t shards) {
  count_hist *h = dr_map_get(&n->counts, rid, DR_ID_LEN);
  if (!h || h->cur != shards || !h->since_ms || uv_now(n->loop) >= h->since_ms + DR_COUNT_MIGRATE_MS)
    return shards;
  return h->low < shards ? h->low : shards;
}

bool dr__counts_migrating(dr_node *n) {
  return n->counts_changed_ms && uv_now(n->loop) < n->counts_changed_ms + DR_COUNT_MIGRATE_MS;
}

bool dr__ad_move_to(dr_node *n, const own_ad *ad, uint32_t *want) {
  bool known;
  uint32_t shards = dr__placement_shards(n, ad->rec.rid, DR_MOVE_KNOWN_MS, &known);
  *want = (uint32_t)(dr_entry_placement(&ad->rec) % shards);
  return known && *want != ad->shard;
}

bool dr__ad_should_move(dr_node *n, const own_ad *ad) {
  count_hist *h = dr_map_get(&n->counts, ad->rec.rid, DR_ID_LEN);
  /* only the resources whose count changed lately: where a record is stays
   * right otherwise (a renewal moves it anyway) */
  if (!h || !h->since_ms || uv_now(n->loop) >= h->since_ms + DR_COUNT_MIGRATE_MS) return false;
  uint32_t want;
  return dr__ad_move_to(n, ad, &want);
}

uint32_t dr__placement_shards(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms, bool *known) {
  uint32_t shards;
  *known = dr__resinfo(n, rid, max_age_ms, NULL, &shards);
  if (!*known) return 1;
  /* no change seen (a first sight is settled): the count itself */
  count_hist *h = dr_map_get(&n->counts, rid, DR_ID_LEN);
  if (h && h->cur == shards && h->since_ms && uv_now(n->loop) < h->since_ms + DR_COUNT_SETTLE_MS)
    return h->low < shards ? h->low : shards;
  return shards;
}

void dr__resinfo_note(dr_node *n, const uint8_t rid[DR_ID_LEN], const dr_entry *res,
                      uint32_t per_shard, bool head_read) {
  if (dr_map_get(&n->resources, rid, DR_ID_LEN)) return; /* its own: known already */
  resinfo *ri = dr_map_get(&n->resinfo, rid, DR_ID_LEN);
  if (!head_read) { /* the count is as old as it was */
    if (ri && per_shard) ri->per_shard = per_shard;
    return;
  }
  if (!ri) {
    if (n->resinfo.count >= RESINFO_MAX || !(ri = calloc(1, sizeof *ri))) return;
    if (dr_map_put(&n->resinfo, rid, DR_ID_LEN, ri, NULL) < 0) {
      free(ri);
      return;
    }
  } else if (res && ri->res.kind && ri->res.seq > res->seq) {
    res = &ri->res; /* what it knew is newer: keep it, as fresh */
  }
  if (res != &ri->res) {
    dr_entry copy = {0};
    if (res && dr_entry_copy(&copy, res) < 0) return;
    dr_entry_clear(&ri->res);
    ri->res = copy;
  }
  ri->at_ms = uv_now(n->loop);
  if (per_shard) ri->per_shard = per_shard;
  dr__count_note(n, rid, ri->res.kind ? &ri->res : NULL);
}

static bool resinfo_over(void *value, void *now) {
  resinfo *ri = value;
  if (ri->at_ms + RESINFO_KEEP_MS > *(uint64_t *)now) return false;
  dr_entry_clear(&ri->res);
  free(ri);
  return true;
}

static bool count_over(void *value, void *now) {
  count_hist *h = value;
  if (h->seen_ms + RESINFO_KEEP_MS > *(uint64_t *)now || h->since_ms + DR_COUNT_MIGRATE_MS > *(uint64_t *)now)
    return false;
  free(h);
  return true;
}

void dr__resinfo_tick(dr_node *n) {
  uint64_t now = uv_now(n->loop);
  if (now < n->resinfo_swept_ms + RESINFO_SWEEP_MS) return;
  n->resinfo_swept_ms = now;
  dr_map_remove_if(&n->resinfo, resinfo_over, &now);
  dr_map_remove_if(&n->counts, count_over, &now);
}

void dr__resinfo_free(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->resinfo, NULL, &b); it; it = dr_map_next(&n->resinfo, it, &b)) {
    resinfo *ri = it->value;
    dr_entry_clear(&ri->res);
    free(ri);
  }
  dr_map_free(&n->resinfo);
  for (dr_map_item *it = dr_map_next(&n->counts, NULL, &b); it; it = dr_map_next(&n->counts, it, &b))
    free(it->value);
  dr_map_free(&n->counts);
}

const dr_entry *dr_node_resource_known(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms,
                                       bool *known) {
  const dr_entry *res;
  *known = dr__resinfo(n, rid, max_age_ms, &res, NULL);
  return res;
}
