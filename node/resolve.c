/* resolve.c - reading a resource: DHT get, verify every value, merge with our own entries */
#include "node/merge.h"
#include "node/node_private.h"

#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct resolve_op {
  dr_node *n;
  uint8_t rid[DR_ID_LEN];
  size_t limit;
  dr_node_resolve_cb cb;
  void *ctx;
  dr_merge merge;
  dr_map seen;   /* BLAKE2b-128 of each distinct value received */
  dr_deadline dl;
  size_t values; /* distinct values received */
  bool answered; /* cb ran (the deadline may beat the get's done) */
} resolve_op;

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
  if (op->answered) return;
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

static void answer(resolve_op *op, int err) {
  dr_node *n = op->n;
  const dr_entry **recs = NULL;
  size_t forbidden = 0;
  op->answered = true;
  dr__deadline_remove(n, &op->dl);
  offer_own(op);
  dr_resolution res = {0};
  res.resource = op->merge.resource;
  res.n_records = dr_merge_records(&op->merge, dr__expiry_horizon(n), op->limit, &recs, &forbidden);
  res.records = recs;
  n->rejected[DR_REJ_POLICY] += forbidden;
  op->cb(op->ctx, err, &res);
}

static void on_done(void *ctx, bool ok) {
  resolve_op *op = ctx;
  if (!op->answered) answer(op, 0);
  op_free(op);
}

static void on_deadline(dr_deadline *dl) {
  resolve_op *op = (resolve_op *)((char *)dl - offsetof(resolve_op, dl));
  DR_DEBUG(&op->n->log, "resolve: the DHT did not finish within the op timeout (%zu values)",
           op->values);
  /* a lone node or a partial answer is still an answer; nothing at all from
   * a node that has no peers is a timeout */
  unsigned good = 0, dubious = 0;
  if (op->n->dht) dr_dht_node_counts(op->n->dht, &good, &dubious);
  answer(op, op->values == 0 && good + dubious == 0 ? DR_ETIMEOUT : 0);
  /* the get still holds op: on_done frees it */
}

int dr_node_resolve(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                    dr_node_resolve_cb cb, void *ctx) {
  uint8_t key[DR_DHT_KEY_SIZE];
  if (n->stopping) return -ESHUTDOWN;
  if (dr__cache_resolve(n, rid, limit, cb, ctx)) return 0;
  resolve_op *op = calloc(1, sizeof *op);
  if (!op) return -ENOMEM;
  op->n = n;
  memcpy(op->rid, rid, DR_ID_LEN);
  op->limit = limit;
  op->cb = cb;
  op->ctx = ctx;
  dr_merge_init(&op->merge, rid);
  dr_map_init(&op->seen);
  dr__dht_key_of(n, rid, key);
  int r = dr_dht_get(n->dht, key, on_value, on_done, op);
  if (r < 0) {
    op_free(op);
    return r;
  }
  dr__deadline_add(n, &op->dl, on_deadline);
  return 0;
}
