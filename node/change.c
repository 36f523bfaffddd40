/* change.c - changes a client asks of this node's own entries: written to the journal first, then applied, one at a time per entry
 *
 * An operation answered with an error must have no effect anywhere. So a
 * create, advertise, renew or withdraw is prepared (signed), its frame is
 * logged and made durable (dr_node_sync), and only then is it applied to
 * the node's state and announced in the DHT. When the write fails, the
 * caller hears DR_EWRITE and nothing happened: not in memory, not in the
 * DHT, not in the journal (persist.c cuts a failed append off again).
 *
 * Changes of one entry (a resource; one advertisement: resource id and
 * service id) form a FIFO chain and run one at a time: a change is prepared
 * from the state its predecessors left (a renew after an advertise renews
 * the new content), and its seq is drawn then, so the journal, the node and
 * the DHT see the versions of an entry in one order. The maintenance task
 * leaves an entry alone while it has a change in its chain.
 */
#include "node/node_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct chain {
  dr_change *head, *tail;
} chain;

static void change_free(dr_change *c) {
  dr_entry_clear(&c->e);
  dr__check_free(c->check); /* an advertise's check, unless it went to its ad */
  free(c);
}

static void run(dr_node *n, const uint8_t *key, size_t klen);

/* The head of its chain is written (err 0) or not: apply it or say why
 * not, then go on with the next change of the entry. */
static void on_written(void *ctx, int err) {
  dr_change *c = ctx;
  dr_node *n = c->n;
  uint8_t key[sizeof c->key];
  size_t klen = c->klen;
  memcpy(key, c->key, klen);
  chain *ch = dr_map_get(&n->writing, key, klen);
  ch->head = c->next;
  if (!ch->head) ch->tail = NULL;
  if (err < 0) {
    c->cb(c->ctx, DR_EWRITE, NULL, false);
  } else if (n->stopping) {
    /* it is in the journal: the next start applies it (a record is
     * announced then), so it took effect, unpublished */
    c->cb(c->ctx, 0, &c->e, false);
  } else {
    dr__change_apply(n, c); /* answers c->cb once announced */
    /* the node withdrew its advertisements on its way out before this
     * one was written: this one goes the same way */
    if (n->withdrawing && (c->kind == DR_CH_ADVERTISE || c->kind == DR_CH_RENEW)) {
      own_ad *ad = dr_map_get(&n->ads, key, klen);
      if (ad && !ad->withdrawn) dr__ad_withdraw(n, ad, !ad->lease, NULL, NULL);
    }
  }
  change_free(c);
  run(n, key, klen);
}

/* Prepares and writes the head of key's chain; answers and drops the
 * changes that have nothing to write; frees the chain once it is empty. */
static void run(dr_node *n, const uint8_t *key_in, size_t klen) {
  uint8_t key[sizeof ((dr_change *)0)->key];
  memcpy(key, key_in, klen); /* key_in may be a change's, freed below */
  for (;;) {
    chain *ch = dr_map_get(&n->writing, key, klen);
    if (!ch) return;
    dr_change *c = ch->head;
    if (!c) {
      dr_map_del(&n->writing, key, klen);
      free(ch);
      return;
    }
    if (c->writing) return; /* under way: on_written goes on */
    int r = n->stopping ? -ESHUTDOWN : dr__change_prepare(n, c);
    if (r == 0) {
      c->writing = true;
      dr__persist_change(n, c);
      dr_node_sync(n, on_written, c); /* may call back at once (no data dir) */
      return;
    }
    ch->head = c->next;
    if (!ch->head) ch->tail = NULL;
    if (r < 0) c->cb(c->ctx, r, NULL, false); /* r > 0: prepare answered it */
    change_free(c);
  }
}

void dr__change_submit(dr_node *n, dr_change *c) {
  c->n = n;
  c->next = NULL;
  c->writing = false;
  chain *ch = dr_map_get(&n->writing, c->key, c->klen);
  if (ch) {
    c->queued = true;
    ch->tail->next = c;
    ch->tail = c;
    return;
  }
  c->queued = false;
  if (!(ch = calloc(1, sizeof *ch)) || dr_map_put(&n->writing, c->key, c->klen, ch, NULL) < 0) {
    free(ch);
    c->cb(c->ctx, -ENOMEM, NULL, false);
    change_free(c);
    return;
  }
  ch->head = ch->tail = c;
  run(n, c->key, c->klen);
}

bool dr__change_pending(const dr_node *n, const uint8_t *key, size_t klen) {
  return dr_map_get(&n->writing, key, klen) != NULL;
}

void dr__change_free_all(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->writing, NULL, &b); it; it = dr_map_next(&n->writing, it, &b)) {
    chain *ch = it->value;
    while (ch->head) {
      dr_change *c = ch->head;
      ch->head = c->next;
      if (!c->writing) c->cb(c->ctx, -ESHUTDOWN, NULL, false);
      change_free(c);
    }
    free(ch);
  }
  dr_map_free(&n->writing);
}
