/* lifecycle.c - the maintenance task: renew before half the TTL, end leases, collect tombstones; withdraw all */
#include "node/node_private.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define BURST_PENDING 256 /* DHT operations pending that make a burst */
#define BURST_VALUES 1000 /* stored values gone that are worth a trim */

/* What the tick does to one advertisement. */
typedef enum ad_due { AD_KEEP, AD_RENEW, AD_DROP } ad_due;

static ad_due due(const own_ad *ad, uint64_t now) {
  if (ad->withdrawn) /* the tombstone outlived every copy of the record */
    return now >= ad->tomb->e.expires_at ? AD_DROP : AD_KEEP;
  if (ad->lease) /* nobody renewed it in time: it expires, as a TTL check */
    return now >= ad->rec.expires_at ? AD_DROP : AD_KEEP;
  /* re-sign before half the TTL has passed */
  return now >= ad->rec.issued_at + ad->ttl / 2 ? AD_RENEW : AD_KEEP;
}

static void on_tick(uv_timer_t *t) {
  dr_node *n = t->data;
  /* the network's time (clock.c) for this node's entries, its own for its clock */
  uint64_t clock_now = dr_now(), now = dr__net_now(n), now_ms = uv_now(n->loop);
  size_t b, n_drop = 0;
  own_ad **drop = NULL;
  bool migrating = dr__counts_migrating(n);
  /* own entries are plain values: each is put again before storers drop it */
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it; it = dr_map_next(&n->resources, it, &b))
    dr__announce_due(n, &((own_resource *)it->value)->ann, now_ms);
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    dr__announce_due(n, &ad->rec_ann, now_ms);
    if (ad->tomb) dr__announce_due(n, &ad->tomb->ann, now_ms);
    if (ad->moved) {
      /* the record left in the old shard has expired: its tombstone too */
      if (ad->moved->e.expires_at <= now) {
        if (ad->rec_ann.then == &ad->moved->ann) ad->rec_ann.then = NULL;
        dr__side_free(n, &ad->moved);
      }
      else dr__announce_due(n, &ad->moved->ann, now_ms);
    }
    /* a change a client asked for is being written: it decides first */
    if (dr__change_pending(n, it->key, it->key_len)) continue;
    dr__check_sync(ad); /* a change of health that such a change held back */
    ad_due d = due(ad, now);
    /* after a count change, records move as soon as the count is settled,
     * not at their next renewal: readers take the old shards too for
     * DR_COUNT_MIGRATE_MS only (a lease ending within the second stays) */
    if (d == AD_KEEP && migrating && !ad->withdrawn && (!ad->lease || ad->rec.expires_at > now + 1) &&
        dr__ad_should_move(n, ad))
      d = AD_RENEW;
    switch (d) {
    case AD_KEEP:
      break;
    case AD_RENEW:
      if (dr__ad_resign(n, ad, NULL, NULL) < 0)
        DR_WARN(&n->log, "could not renew %s; will retry", ad->rec.name);
      break;
    case AD_DROP: {
      own_ad **grown = realloc(drop, (n_drop + 1) * sizeof *drop);
      if (!grown) break; /* next tick */
      drop = grown;
      drop[n_drop++] = ad;
      break;
    }
    }
  }
  /* removed after the walk: the map may not change under its iterator */
  for (size_t i = 0; i < n_drop; i++) {
    own_ad *ad = drop[i];
    uint8_t key[DR_ID_LEN + DR_NAME_MAX];
    const dr_entry *e = ad->withdrawn ? &ad->tomb->e : &ad->rec;
    DR_DEBUG(&n->log, "%s %s", ad->withdrawn ? "collected the tombstone of" : "lease ended for",
             e->name);
    size_t klen = dr__ad_key(key, e->rid, e->name);
    dr_map_del(&n->ads, key, klen);
    dr__persist_drop(n, key, klen);
    dr__ad_free(n, ad);
  }
  free(drop);
  dr__cache_tick(n, now);
  dr__wire_tick(n, now);
  dr__clock_tick(n, clock_now);
  dr__persist_tick(n);
  dr__bootstrap_tick(n);
  dr__lookups_tick(n);
  dr__resinfo_tick(n);
  /* once collections stop for a second, hand the freed pages back to the
   * system (glibc keeps them for reuse otherwise); OpenDHT's threads free
   * theirs in arenas of their own, which malloc_trim walks too */
  if (n_drop) n->trim_at_ms = now_ms + 1000;
  /* a burst of lookups is over too: its operations and answers are freed */
  size_t pending = n->dht ? dr_dht_pending(n->dht) : 0;
  if (pending >= BURST_PENDING) n->burst = true;
  else if (n->burst && pending == 0) {
    n->burst = false;
    n->trim_at_ms = now_ms + 1000;
  }
  /* and once OpenDHT let go of many stored values */
  uint64_t values = 0, bytes = 0;
  if (n->dht) dr_dht_store_size(n->dht, &values, &bytes);
  if (values + BURST_VALUES < n->stored_peak) {
    n->stored_peak = values;
    n->trim_at_ms = now_ms + 1000;
  } else if (values > n->stored_peak) {
    n->stored_peak = values;
  }
  if (n->trim_at_ms && now_ms >= n->trim_at_ms) {
    malloc_trim(0);
    n->trim_at_ms = 0;
  }
}

void dr__tick_start(dr_node *n, unsigned period_ms) {
  uv_timer_init(n->loop, &n->tick_timer);
  n->tick_timer.data = n;
  uv_timer_start(&n->tick_timer, on_tick, period_ms, period_ms);
}

/* ---- withdraw all ----------------------------------------------------------- */

typedef struct withdraw_all {
  size_t left;
  void (*done)(void *);
  void *ctx;
} withdraw_all;

static void on_one_withdrawn(void *ctx, int err, const dr_entry *e, bool published) {
  withdraw_all *w = ctx;
  if (--w->left) return;
  w->done(w->ctx);
  free(w);
}

static void on_withdrawals_written(void *ctx, int err) {
  on_one_withdrawn(ctx, err, NULL, false);
}

size_t dr_node_withdraw_all(dr_node *n, void (*done)(void *ctx), void *ctx) {
  size_t b, count = 0, n_live = 0;
  withdraw_all *w = calloc(1, sizeof *w);
  own_ad **live = malloc((n->ads.count + 1) * sizeof *live);
  if (!w || !live) {
    free(w);
    free(live);
    done(ctx);
    return 0;
  }
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    if (ad->withdrawn) continue;
    live[n_live++] = ad;
  }
  w->done = done;
  w->ctx = ctx;
  w->left = 1; /* held until every withdrawal has started */
  n->withdrawing = true; /* changes written from now on are withdrawn once applied (change.c) */
  for (size_t i = 0; i < n_live; i++) {
    w->left++;
    /* a lease ends with the node; a plain advertisement comes back when the
     * node starts again, as Consul's agent restores its services */
    if (dr__ad_withdraw(n, live[i], !live[i]->lease, on_one_withdrawn, w) == 0) count++;
    else w->left--;
  }
  free(live);
  if (count) DR_INFO(&n->log, "withdrew %zu advertisement%s", count, count == 1 ? "" : "s");
  /* the ended leases' tombstones are written now, off the loop, not when
   * the node closes: a stop cut short at its bound keeps them all the same */
  w->left++;
  dr_node_sync(n, on_withdrawals_written, w);
  on_one_withdrawn(w, 0, NULL, false);
  return count;
}
