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
#define RESINFO_MAX 16384
#define RESINFO_SWEEP_MS 10000

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

void dr__resinfo_note(dr_node *n, const uint8_t rid[DR_ID_LEN], const dr_entry *res,
                      uint32_t per_shard) {
  if (dr_map_get(&n->resources, rid, DR_ID_LEN)) return; /* its own: known already */
  resinfo *ri = dr_map_get(&n->resinfo, rid, DR_ID_LEN);
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
}

static bool resinfo_over(void *value, void *now) {
  resinfo *ri = value;
  if (ri->at_ms + RESINFO_KEEP_MS > *(uint64_t *)now) return false;
  dr_entry_clear(&ri->res);
  free(ri);
  return true;
}

void dr__resinfo_tick(dr_node *n) {
  uint64_t now = uv_now(n->loop);
  if (now < n->resinfo_swept_ms + RESINFO_SWEEP_MS) return;
  n->resinfo_swept_ms = now;
  dr_map_remove_if(&n->resinfo, resinfo_over, &now);
}

void dr__resinfo_free(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->resinfo, NULL, &b); it; it = dr_map_next(&n->resinfo, it, &b)) {
    resinfo *ri = it->value;
    dr_entry_clear(&ri->res);
    free(ri);
  }
  dr_map_free(&n->resinfo);
}

const dr_entry *dr_node_resource_known(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms,
                                       bool *known) {
  const dr_entry *res;
  *known = dr__resinfo(n, rid, max_age_ms, &res, NULL);
  return res;
}
