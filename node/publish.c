/* publish.c - this node's own entries: create resources, advertise, withdraw, keep announced */
#include "node/node_private.h"

#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TTL 300
#define KEEP_MARGIN_S 5 /* storers keep an entry this long past its last use to readers */

/* A caller waiting for the first announce of an entry. */
typedef struct dr_pub {
  dr_node *n;
  dr_announce *ann;
  dr_node_publish_cb cb;
  void *ctx;
  dr_deadline dl;
} dr_pub;

/* Answers the waiting caller and lets go of it. */
static void pub_finish(dr_pub *pub, bool published) {
  dr_announce *a = pub->ann;
  a->pub = NULL;
  dr__deadline_remove(pub->n, &pub->dl);
  pub->cb(pub->ctx, 0, a->entry, published);
  free(pub);
}

static void on_pub_deadline(dr_deadline *dl) {
  dr_pub *pub = (dr_pub *)((char *)dl - offsetof(dr_pub, dl));
  DR_DEBUG(&pub->n->log, "first announce not confirmed within the op timeout");
  pub_finish(pub, false);
}

/* When to put an entry again: before storers drop it (80% of the value
 * lifetime, less up to a tenth at random so the puts of many entries do not
 * bunch up). */
static uint64_t reput_time(const dr_node *n) {
  uint64_t life_ms = (uint64_t)n->value_lifetime * 1000;
  uint64_t base = life_ms / 10 * 8;
  return uv_now(n->loop) + base - randombytes_uniform((uint32_t)(life_ms / 10) + 1);
}

static void on_put_done(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes);

/* Puts a's entry (as it is) under its key, with its value id and seq. */
static int put_now(dr_node *n, dr_announce *a) {
  uint8_t buf[DR_WIRE_MAX];
  size_t len;
  const uint8_t *wire = dr__wire_of(n, a->entry, buf, &len);
  /* storers keep a record or tombstone as long as readers may take it,
   * not a value lifetime after its expiry */
  uint64_t now = dr__net_now(n), keep = 0;
  if (a->entry->kind != DR_KIND_RESOURCE) {
    uint64_t until = a->entry->expires_at + n->clock_skew + KEEP_MARGIN_S;
    keep = until > now ? until - now : 1;
  }
  a->put = dr_dht_put(n->dht, a->key, a->vid, a->vseq, a->entry->kind == DR_KIND_RESOURCE, wire, len,
                      (unsigned)keep, on_put_done, a);
  a->reput_at = reput_time(n);
  return a->put ? 0 : -ENOMEM;
}

/* Announces what waited for a's put. */
static void release_then(dr_announce *a) {
  dr_announce *t = a->then;
  if (!t) return;
  a->then = NULL;
  if (dr__announce(a->n, t, NULL, a->then_entry, a->then_shard, NULL, NULL) < 0 && !a->n->stopping)
    DR_WARN(&a->n->log, "cannot announce the tombstone of %s in its old shard", a->then_entry->name);
}

static void on_put_done(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  dr_announce *a = ctx;
  a->put = NULL;
  if (ok && a->entry) dr__repl_put_done(a->n, a->key, nodes, n_nodes);
  if (a->pub) pub_finish(a->pub, ok);
  release_then(a);
}

int dr__announce(dr_node *n, dr_announce *a, dr_announce *prev, dr_entry *e, uint32_t shard,
                 dr_node_publish_cb cb, void *ctx) {
  uint64_t vid = 0;
  uint16_t vseq = 0;
  if (prev) {
    /* in place: storers replace the old version rather than keep both */
    if (prev->vseq < UINT16_MAX) {
      vid = prev->vid;
      vseq = (uint16_t)(prev->vseq + 1);
    }
    if (prev->put) dr_dht_put_cancel(n->dht, prev->put);
    prev->put = NULL;
    if (prev->pub) pub_finish(prev->pub, false);
  }
  if (a != prev && a->put) {
    dr_dht_put_cancel(n->dht, a->put);
    a->put = NULL;
  }
  if (n->stopping) return -ESHUTDOWN;
  if (!vid) {
    /* the id of an entry's first version, random so nobody can take it
     * first (a storer keeps the first value of an id of another type) */
    randombytes_buf(&vid, sizeof vid);
    vid |= 1; /* never 0: "no id" to OpenDHT */
  }
  dr_pub *pub = NULL;
  if (cb && !(pub = calloc(1, sizeof *pub))) return -ENOMEM;
  if (pub) {
    pub->n = n;
    pub->ann = a;
    pub->cb = cb;
    pub->ctx = ctx;
  }
  a->n = n;
  a->entry = e;
  a->vid = vid;
  a->vseq = vseq;
  a->since_ms = uv_now(n->loop);
  dr__shard_key_of(n, e->rid, shard, a->key);
  dr__clock_own(n, e);
  dr__cache_offer_own(n, e, shard);
  a->pub = pub;
  if (put_now(n, a) < 0) {
    a->pub = NULL;
    free(pub);
    return -ENOMEM;
  }
  if (pub) dr__deadline_add(n, &pub->dl, on_pub_deadline);
  return 0;
}

void dr__announce_due(dr_node *n, dr_announce *a, uint64_t now_ms) {
  if (now_ms >= a->reput_at) dr__reput(n, a);
}

void dr__reput(dr_node *n, dr_announce *a) {
  if (a->entry && !a->put && !n->stopping) put_now(n, a);
}

void dr__unannounce(dr_node *n, dr_announce *a) {
  if (a->put && n->dht) dr_dht_put_cancel(n->dht, a->put);
  a->put = NULL;
  release_then(a);
  if (a->pub) pub_finish(a->pub, false);
  a->entry = NULL;
}

/* ---- changes: prepared, written (change.c), applied ------------------------ */

static dr_change *change_new(dr_change_kind kind, const uint8_t *key, size_t klen,
                             dr_node_publish_cb cb, void *ctx) {
  dr_change *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->kind = kind;
  memcpy(c->key, key, klen);
  c->klen = klen;
  c->cb = cb;
  c->ctx = ctx;
  return c;
}

/* A copy of e re-signed with a new seq; records and tombstones also get a
 * new issue time and, after ttl, expiry (keep_expiry: e's own, as a lease
 * only its client extends). */
static int resign_copy(dr_node *n, const dr_entry *e, uint32_t ttl, bool keep_expiry, dr_entry *out) {
  int r = dr_entry_copy(out, e);
  if (r < 0) return r;
  free(out->raw);
  out->raw = NULL;
  out->seq = dr__next_seq(n);
  if (out->kind != DR_KIND_RESOURCE) {
    out->issued_at = dr__net_now(n);
    out->expires_at = keep_expiry && e->expires_at > out->issued_at ? e->expires_at : out->issued_at + ttl;
  }
  if ((r = dr_entry_sign(out, &n->id, NULL, NULL)) < 0) dr_entry_clear(out);
  return r;
}

/* The tombstone of ad's record, signed now. */
static int make_tomb(dr_node *n, const own_ad *ad, dr_entry *t) {
  uint64_t now = dr__net_now(n);
  *t = (dr_entry){
      .kind = DR_KIND_TOMBSTONE,
      .name = ad->rec.name,
      .seq = dr__next_seq(n),
      .issued_at = now,
      /* the tombstone lives as long as the record it hides could */
      .expires_at = ad->rec.expires_at > now ? ad->rec.expires_at : now + 1,
  };
  memcpy(t->rid, ad->rec.rid, DR_ID_LEN);
  int r = dr_entry_sign(t, &n->id, NULL, NULL);
  t->name = NULL;
  if (r < 0 || !(t->name = strdup(ad->rec.name))) {
    dr_entry_clear(t);
    return r < 0 ? r : -ENOMEM;
  }
  return 0;
}

own_side *dr__side_new(dr_entry *e) {
  own_side *s = calloc(1, sizeof *s);
  if (!s) {
    dr_entry_clear(e);
    return NULL;
  }
  s->e = *e;
  memset(e, 0, sizeof *e);
  return s;
}

void dr__side_free(dr_node *n, own_side **s) {
  if (!*s) return;
  dr__unannounce(n, &(*s)->ann);
  dr_entry_clear(&(*s)->e);
  free(*s);
  *s = NULL;
}

/* Hides ad's record behind t (taken) and announces t. */
static int set_withdrawn(dr_node *n, own_ad *ad, dr_entry *t, dr_node_publish_cb cb, void *ctx) {
  dr__check_stop(ad->check); /* its spec stays: a stopping node's ad comes back with it */
  dr__unannounce(n, &ad->rec_ann);
  dr__side_free(n, &ad->tomb);
  if (!(ad->tomb = dr__side_new(t))) return -ENOMEM;
  ad->withdrawn = true;
  /* a value id of its own, so that watchers' listens report it at once;
   * stored copies of the record lose to its higher seq until they expire */
  return dr__announce(n, &ad->tomb->ann, NULL, &ad->tomb->e, ad->shard, cb, ctx);
}

static own_ad *live_ad(dr_node *n, const uint8_t *key, size_t klen) {
  own_ad *ad = dr_map_get(&n->ads, key, klen);
  /* an expired lease is over even before the maintenance task collects it:
   * its client must advertise again */
  return ad && !ad->withdrawn && ad->rec.expires_at > dr__net_now(n) ? ad : NULL;
}

static uint32_t shards_or_1(uint32_t s) {
  return s > 1 ? s : 1;
}

/* Whether resource entries a and b set the same policy, allow-list and
 * shard count (a create of b over a would change nothing). */
static bool same_policy(const dr_entry *a, const dr_entry *b) {
  if (a->policy != b->policy || a->n_allow != b->n_allow || shards_or_1(a->shards) != shards_or_1(b->shards))
    return false;
  return a->n_allow == 0 || memcmp(a->allow, b->allow, a->n_allow * DR_ID_LEN) == 0;
}

/* Fills in what a create did not give (given: DR_GIVEN_*) of e, its
 * resource entry, from cur, this node's entry of it now (NULL: none yet,
 * the defaults): the policy, the shard count, and the allow-list, which
 * only an owner policy has. 0 or -ENOMEM. */
static int resource_fill(dr_entry *e, unsigned given, const dr_entry *cur) {
  if (!(given & DR_GIVEN_POLICY)) e->policy = cur ? cur->policy : DR_POLICY_OPEN;
  if (!(given & DR_GIVEN_SHARDS)) e->shards = cur ? cur->shards : 0;
  if (given & DR_GIVEN_ALLOW) return 0;
  free(e->allow);
  e->allow = NULL;
  e->n_allow = 0;
  if (!cur || !cur->n_allow || e->policy != DR_POLICY_OWNER) return 0;
  if (!(e->allow = malloc(cur->n_allow * DR_ID_LEN))) return -ENOMEM;
  memcpy(e->allow, cur->allow, cur->n_allow * DR_ID_LEN);
  e->n_allow = cur->n_allow;
  return 0;
}

/* A record the network would find expired on arrival (this node's clock is
 * behind beyond the tolerance) is not published. */
static int clock_check(dr_node *n, const dr_entry *e) {
  if (!dr__clock_would_expire(n, e->expires_at)) return 0;
  DR_WARN(&n->log, "refused to publish %s: it would be expired on arrival, this node's clock "
          "being %lld s behind the network's", e->name, (long long)-n->clock_offset);
  return DR_ECLOCK;
}

int dr__change_prepare(dr_node *n, dr_change *c) {
  own_ad *ad;
  dr_entry e;
  int r;
  switch (c->kind) {
  case DR_CH_RESOURCE: {
    own_resource *res = dr_map_get(&n->resources, c->key, DR_ID_LEN);
    if (!c->queued) return 0;
    /* it waited: what it keeps is what came before left, which may have
     * made it a no-op */
    if ((r = resource_fill(&c->e, c->given, res ? &res->entry : NULL)) < 0) return r;
    if (res && same_policy(&res->entry, &c->e)) {
      c->cb(c->ctx, 0, &res->entry, true);
      return 1;
    }
    if ((r = resign_copy(n, &c->e, 0, false, &e)) < 0) return r;
    if (res) e.issued_at = res->entry.issued_at;
    break;
  }
  case DR_CH_ADVERTISE:
    /* an advertisement keeps its shard; a new one goes where the resource's
     * shard count puts it now */
    if ((ad = dr_map_get(&n->ads, c->key, c->klen))) c->shard = ad->shard;
    else {
      bool known;
      uint32_t shards = dr__placement_shards(n, c->e.rid, UINT64_MAX, &known);
      c->shard = (uint32_t)(dr_entry_placement(&c->e) % shards);
      DR_DEBUG(&n->log, "advertise %s: shard %u of %u", c->e.name, c->shard, shards);
    }
    if (!c->queued) return clock_check(n, &c->e);
    if ((r = resign_copy(n, &c->e, c->ttl, false, &e)) < 0) return r; /* a seq after its predecessors' */
    break;
  case DR_CH_RENEW:
    if (!(ad = live_ad(n, c->key, c->klen))) return DR_ENOTFOUND;
    if ((r = resign_copy(n, &ad->rec, ad->ttl, false, &e)) < 0) return r;
    c->lease = ad->lease;
    c->ttl = ad->ttl;
    c->shard = ad->shard;
    break;
  case DR_CH_WITHDRAW:
    if (!(ad = live_ad(n, c->key, c->klen))) return DR_ENOTFOUND;
    if ((r = make_tomb(n, ad, &e)) < 0) return r;
    c->shard = ad->shard;
    break;
  default:
    return -EINVAL;
  }
  if (c->kind == DR_CH_RENEW || c->kind == DR_CH_ADVERTISE) {
    if ((r = clock_check(n, &e)) < 0) {
      dr_entry_clear(&e);
      return r;
    }
  }
  dr_entry_clear(&c->e);
  c->e = e;
  return 0;
}

static void apply_resource(dr_node *n, dr_change *c) {
  own_resource *res = dr_map_get(&n->resources, c->key, DR_ID_LEN);
  if (!res) {
    if (!(res = calloc(1, sizeof *res)) || dr_map_put(&n->resources, c->key, DR_ID_LEN, res, NULL) < 0) {
      free(res);
      c->cb(c->ctx, -ENOMEM, NULL, false);
      return;
    }
  } else {
    dr_entry_clear(&res->entry); /* the new version replaces it */
  }
  res->entry = c->e;
  memset(&c->e, 0, sizeof c->e);
  dr__count_note(n, res->entry.rid, &res->entry);
  /* a new version under a new value id: OpenDHT's listens report an id
   * once, so watchers would not hear of an edit in place; the old version
   * is not put again and storers drop it within a value lifetime */
  dr__unannounce(n, &res->ann);
  int r = dr__announce(n, &res->ann, NULL, &res->entry, 0, c->cb, c->ctx);
  if (r < 0) c->cb(c->ctx, r, NULL, false);
}

static void apply_advertise(dr_node *n, dr_change *c) {
  own_ad *ad = dr_map_get(&n->ads, c->key, c->klen);
  if (!ad) {
    if (!(ad = calloc(1, sizeof *ad)) || dr_map_put(&n->ads, c->key, c->klen, ad, NULL) < 0) {
      free(ad);
      c->cb(c->ctx, -ENOMEM, NULL, false);
      return;
    }
  } else {
    /* the new record's seq beats the old one and any tombstone of it. It
     * gets a value id of its own, as a tombstone does: watchers' listens
     * report a new value id, not a value replaced in place */
    dr__unannounce(n, &ad->rec_ann);
    dr_entry_clear(&ad->rec);
    dr__side_free(n, &ad->tomb);
  }
  ad->rec = c->e;
  memset(&c->e, 0, sizeof c->e);
  ad->withdrawn = false;
  ad->lease = c->lease;
  ad->ttl = c->ttl;
  ad->shard = c->shard;
  /* advertising again starts its check again (or ends the one it had) */
  dr__check_free(ad->check);
  ad->check = c->check;
  c->check = NULL;
  int r = dr__announce(n, &ad->rec_ann, NULL, &ad->rec, ad->shard, c->cb, c->ctx);
  if (r < 0) c->cb(c->ctx, r, NULL, false);
  dr__check_start(n, ad);
}

void dr__change_apply(dr_node *n, dr_change *c) {
  int r;
  own_ad *ad;
  switch (c->kind) {
  case DR_CH_RESOURCE:
    apply_resource(n, c);
    return;
  case DR_CH_ADVERTISE:
    apply_advertise(n, c);
    return;
  case DR_CH_RENEW:
  case DR_CH_WITHDRAW:
    /* the chain kept the maintenance task off this entry: it is as prepared */
    if (!(ad = dr_map_get(&n->ads, c->key, c->klen))) {
      c->cb(c->ctx, DR_ENOTFOUND, NULL, false);
      return;
    }
    if (c->kind == DR_CH_WITHDRAW) {
      r = set_withdrawn(n, ad, &c->e, c->cb, c->ctx);
    } else {
      dr_entry_clear(&ad->rec);
      ad->rec = c->e;
      memset(&c->e, 0, sizeof c->e);
      r = dr__announce(n, &ad->rec_ann, &ad->rec_ann, &ad->rec, ad->shard, c->cb, c->ctx);
    }
    if (r < 0) c->cb(c->ctx, r, NULL, false);
    return;
  }
}

/* ---- the node's API ---------------------------------------------------------- */

int dr_node_resource_create(dr_node *n, const dr_resource_params *p, dr_node_publish_cb cb, void *ctx,
                            dr_param_error *pe) {
  uint8_t rid[DR_ID_LEN];
  dr_entry e = {.kind = DR_KIND_RESOURCE};
  int r = -ENOMEM;
  size_t llen = strlen(p->label);
  if (llen == 0 || llen > DR_NAME_MAX) {
    pe->field = "label";
    pe->why = llen ? "longer than 128 bytes" : "must not be empty";
    return llen ? -EMSGSIZE : -EINVAL;
  }
  dr_resource_id(rid, n->id.pk, p->label, llen);
  own_resource *res = dr_map_get(&n->resources, rid, DR_ID_LEN);
  unsigned given = (p->has_policy ? DR_GIVEN_POLICY : 0) | (p->has_allow ? DR_GIVEN_ALLOW : 0) |
                   (p->shards ? DR_GIVEN_SHARDS : 0);
  /* what it gives, over what the resource is now (a change of it under way
   * fills it in again once it is through: dr__change_prepare) */
  memcpy(e.rid, rid, DR_ID_LEN);
  e.policy = p->policy;
  e.shards = p->shards > 1 ? p->shards : 0;
  if (!(e.name = strdup(p->label))) goto err;
  if (p->has_allow && p->n_allow) {
    if (!(e.allow = malloc(p->n_allow * DR_ID_LEN))) goto err;
    memcpy(e.allow, p->allow, p->n_allow * DR_ID_LEN);
    e.n_allow = p->n_allow;
  }
  if ((r = resource_fill(&e, given, res ? &res->entry : NULL)) < 0) goto err;
  if (res && !dr__change_pending(n, rid, DR_ID_LEN) && same_policy(&res->entry, &e)) {
    dr_entry_clear(&e); /* nothing to change: nothing signed */
    cb(ctx, 0, &res->entry, true);
    return 0;
  }
  e.issued_at = res ? res->entry.issued_at : dr__net_now(n);
  e.seq = dr__next_seq(n);
  if ((r = dr_entry_sign(&e, &n->id, &pe->field, &pe->why)) < 0) goto err;
  dr_change *c = change_new(DR_CH_RESOURCE, rid, DR_ID_LEN, cb, ctx);
  if (!c) {
    r = -ENOMEM;
    goto err;
  }
  c->e = e;
  c->given = given;
  dr__change_submit(n, c);
  return 0;
err:
  dr_entry_clear(&e);
  return r;
}

static int by_meta_key(const void *a, const void *b) {
  return strcmp(((const dr_meta *)a)->key, ((const dr_meta *)b)->key);
}

int dr_node_advertise(dr_node *n, const dr_advertise_params *p, dr_node_publish_cb cb,
                      void *ctx, dr_param_error *pe) {
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  /* metadata is signed with its keys in ascending order (one encoding) */
  dr_meta meta[DR_META_ENCODED_MAX / 2];
  if (p->n_meta > sizeof meta / sizeof meta[0]) {
    pe->field = "metadata";
    pe->why = "larger than 2048 bytes encoded";
    return -EMSGSIZE;
  }
  if (p->n_meta) memcpy(meta, p->meta, p->n_meta * sizeof *meta);
  qsort(meta, p->n_meta, sizeof *meta, by_meta_key);
  uint32_t ttl = p->ttl ? p->ttl : DEFAULT_TTL;
  uint64_t now = dr__net_now(n);
  dr_entry tmpl = {
      .kind = DR_KIND_RECORD,
      .name = (char *)p->service_id,
      .seq = dr__next_seq(n),
      .issued_at = now,
      .expires_at = now + ttl,
      .host = (char *)p->host,
      .port = p->port,
      .addrs = p->addrs,
      .n_addrs = p->n_addrs,
      .type = (char *)p->type,
      .tags = p->tags,
      .n_tags = p->n_tags,
      .meta = meta,
      .n_meta = p->n_meta,
  };
  int r;
  memcpy(tmpl.rid, p->rid, DR_ID_LEN);
  if (ttl < n->min_ttl || ttl > DR_TTL_MAX) {
    pe->field = "ttl";
    pe->why = dr_node_ttl_range(n);
    return -EINVAL;
  }
  dr_check_spec spec = {0};
  if (p->check) {
    spec = *p->check;
    if ((r = dr_check_spec_validate(&spec, pe)) < 0) return r;
  }
  /* sign a template that borrows the caller's strings, then keep a copy */
  r = dr_entry_sign(&tmpl, &n->id, &pe->field, &pe->why);
  if (r < 0) {
    free(tmpl.raw);
    return r;
  }
  dr_change *c = change_new(DR_CH_ADVERTISE, key, dr__ad_key(key, p->rid, p->service_id), cb, ctx);
  if (!c || (r = dr_entry_copy(&c->e, &tmpl)) < 0 || (p->check && !(c->check = dr__check_new(&spec)))) {
    if (c) dr_entry_clear(&c->e);
    free(c);
    free(tmpl.raw);
    return -ENOMEM;
  }
  free(tmpl.raw);
  c->lease = p->lease;
  c->ttl = ttl;
  dr__change_submit(n, c);
  return 0;
}

/* A renew or withdraw of (rid, service_id): DR_ENOTFOUND at once when there
 * is no such live advertisement and no change of it under way. */
static int submit_for_ad(dr_node *n, dr_change_kind kind, const uint8_t rid[DR_ID_LEN],
                         const char *service_id, dr_node_publish_cb cb, void *ctx) {
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  if (strlen(service_id) > DR_NAME_MAX) return DR_ENOTFOUND;
  size_t klen = dr__ad_key(key, rid, service_id);
  if (!dr__change_pending(n, key, klen) && !live_ad(n, key, klen)) return DR_ENOTFOUND;
  dr_change *c = change_new(kind, key, klen, cb, ctx);
  if (!c) return -ENOMEM;
  dr__change_submit(n, c);
  return 0;
}

int dr_node_withdraw(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *service_id,
                     dr_node_publish_cb cb, void *ctx) {
  return submit_for_ad(n, DR_CH_WITHDRAW, rid, service_id, cb, ctx);
}

int dr_node_renew(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *service_id,
                  dr_node_publish_cb cb, void *ctx) {
  return submit_for_ad(n, DR_CH_RENEW, rid, service_id, cb, ctx);
}

/* ---- the node's own changes: in effect at once, logged -------------------------- */

/* Publishes a tombstone for ad. keep: the withdrawal of a stopping node,
 * which leaves the record in the data dir so that the next start re-signs
 * it with a higher seq (the tombstone is not written down). */
int dr__ad_withdraw(dr_node *n, own_ad *ad, bool keep, dr_node_publish_cb cb, void *ctx) {
  dr_entry t;
  int r = make_tomb(n, ad, &t);
  if (r < 0) return r;
  if ((r = set_withdrawn(n, ad, &t, cb, ctx)) < 0) {
    DR_ERROR(&n->log, "cannot announce a tombstone: %s", strerror(-r));
    return r;
  }
  ad->kept = keep;
  if (!keep) dr__persist_ad(n, ad);
  return 0;
}

int dr__ad_resign(dr_node *n, own_ad *ad, dr_node_publish_cb cb, void *ctx) {
  dr_entry e, t = {0};
  /* moved only when the resource's shard count is known (read lately):
   * where a record is stays valid, a guess would not be; and by a count
   * readers have had time to learn (dr__placement_shards) */
  uint32_t want;
  bool moving = dr__ad_move_to(n, ad, &want);
  /* a move: a tombstone hides the record left in its old shard (until that
   * one's expiry), and the record, re-signed after it (a higher seq), goes
   * to its new shard first, so no reader sees it hidden in between */
  if (moving && make_tomb(n, ad, &t) < 0) moving = false; /* where it is will do */
  /* a lease moved by the node keeps its expiry: only its client renews it */
  int r = resign_copy(n, &ad->rec, ad->ttl, ad->lease, &e);
  if (r < 0) {
    dr_entry_clear(&t);
    return r;
  }
  dr_entry_clear(&ad->rec);
  ad->rec = e;
  uint32_t old = ad->shard;
  if (moving) {
    DR_DEBUG(&n->log, "moving %s from shard %u to shard %u", ad->rec.name, old, want);
    n->records_moved++;
    dr__unannounce(n, &ad->rec_ann);
    ad->shard = want;
  }
  dr__persist_ad(n, ad);
  if (moving) {
    dr__side_free(n, &ad->moved);
    ad->moved = dr__side_new(&t); /* NULL: the copy left behind loses to the newer seq */
  }
  r = dr__announce(n, &ad->rec_ann, moving ? NULL : &ad->rec_ann, &ad->rec, ad->shard, cb, ctx);
  if (moving && ad->moved) { /* once the record is in its new shard */
    ad->rec_ann.then = &ad->moved->ann;
    ad->rec_ann.then_entry = &ad->moved->e;
    ad->rec_ann.then_shard = old;
    if (r < 0) release_then(&ad->rec_ann);
  }
  return r;
}

int dr__ad_set_health(dr_node *n, own_ad *ad, uint8_t health) {
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  uint64_t now = dr__net_now(n);
  if (ad->withdrawn || n->stopping || ad->rec.health == health) return 0;
  if (dr__change_pending(n, key, dr__ad_key(key, ad->rec.rid, ad->rec.name))) return -EAGAIN;
  if (ad->lease && ad->rec.expires_at <= now + 1) return 0; /* an ending lease: nothing to say */
  dr_entry e;
  int r = dr_entry_copy(&e, &ad->rec);
  if (r < 0) return r;
  free(e.raw);
  e.raw = NULL;
  e.seq = dr__next_seq(n);
  e.issued_at = now;
  e.expires_at = ad->lease ? ad->rec.expires_at : now + ad->ttl; /* only its client renews a lease */
  e.health = health;
  if ((r = dr_entry_sign(&e, &n->id, NULL, NULL)) < 0) {
    dr_entry_clear(&e);
    return r;
  }
  dr_entry_clear(&ad->rec);
  ad->rec = e;
  dr__persist_ad(n, ad);
  /* a change, not a renewal: a value id of its own, which watchers' listens
   * report at once (a value replaced in place they would not hear of). An
   * advertise still waiting for its first put hears of this one instead. */
  dr_pub *waiting = ad->rec_ann.pub;
  ad->rec_ann.pub = NULL;
  dr__unannounce(n, &ad->rec_ann);
  r = dr__announce(n, &ad->rec_ann, NULL, &ad->rec, ad->shard, NULL, NULL);
  if (waiting) {
    ad->rec_ann.pub = waiting;
    if (r < 0) pub_finish(waiting, false);
  }
  return r;
}

void dr__ad_free(dr_node *n, own_ad *ad) {
  dr__check_free(ad->check);
  dr__unannounce(n, &ad->rec_ann);
  dr__side_free(n, &ad->tomb);
  dr__side_free(n, &ad->moved);
  dr_entry_clear(&ad->rec);
  free(ad);
}

/* ---- listing and teardown ------------------------------------------------- */

size_t dr_node_own_resources(const dr_node *n, const dr_entry ***out) {
  size_t i = 0, b;
  *out = malloc((n->resources.count + 1) * sizeof **out);
  if (!*out) return 0;
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it;
       it = dr_map_next(&n->resources, it, &b))
    (*out)[i++] = &((own_resource *)it->value)->entry;
  return i;
}

size_t dr_node_own_ads(const dr_node *n, dr_own_ad_view **out) {
  size_t i = 0, b;
  *out = malloc((n->ads.count + 1) * sizeof **out);
  if (!*out) return 0;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    const own_ad *ad = it->value;
    if (ad->withdrawn) continue;
    dr_own_ad_view *v = &(*out)[i++];
    *v = (dr_own_ad_view){&ad->rec, ad->ttl, ad->lease, NULL, {0}};
    if (!ad->check) continue;
    v->check = dr__check_spec(ad->check);
    dr__check_status(ad->check, &v->status);
    if (!v->status.ran) v->status.health = ad->rec.health; /* as last signed, until it runs */
  }
  return i;
}

void dr__announce_loaded(dr_node *n) {
  size_t b, n_drop = 0, n_ads = 0;
  uint64_t now = dr__net_now(n);
  uint8_t(*drop)[DR_ID_LEN + DR_NAME_MAX + 1] = malloc((n->ads.count + 1) * sizeof *drop);
  size_t *drop_len = malloc((n->ads.count + 1) * sizeof *drop_len);
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it; it = dr_map_next(&n->resources, it, &b)) {
    own_resource *res = it->value;
    dr__announce(n, &res->ann, NULL, &res->entry, 0, NULL, NULL);
  }
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    const dr_entry *e = ad->withdrawn ? &ad->tomb->e : &ad->rec;
    bool over = ad->withdrawn || ad->lease ? e->expires_at <= now : false;
    if (over) {
      if (drop && drop_len && it->key_len <= sizeof *drop) {
        memcpy(drop[n_drop], it->key, it->key_len);
        drop_len[n_drop++] = it->key_len;
      }
      continue;
    }
    n_ads++;
    if (ad->withdrawn) dr__announce(n, &ad->tomb->ann, NULL, &ad->tomb->e, ad->shard, NULL, NULL);
    else if (ad->lease) dr__announce(n, &ad->rec_ann, NULL, &ad->rec, ad->shard, NULL, NULL);
    else dr__ad_resign(n, ad, NULL, NULL); /* it may have expired while the node was down */
    if (!ad->withdrawn) dr__check_start(n, ad); /* from the health it was signed with */
  }
  for (size_t i = 0; i < n_drop; i++) {
    own_ad *ad = dr_map_del(&n->ads, drop[i], drop_len[i]);
    if (ad) dr__ad_free(n, ad);
    dr__persist_drop(n, drop[i], drop_len[i]);
  }
  free(drop);
  free(drop_len);
  if (n->resources.count || n_ads)
    DR_INFO(&n->log, "restored %zu resource%s and %zu advertisement%s from the data dir",
            n->resources.count, n->resources.count == 1 ? "" : "s", n_ads, n_ads == 1 ? "" : "s");
}

/* After the DHT adapter closed: its put handles are gone already. */
void dr__own_free_all(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it;
       it = dr_map_next(&n->resources, it, &b)) {
    own_resource *res = it->value;
    res->ann.put = NULL;
    dr__unannounce(n, &res->ann);
    dr_entry_clear(&res->entry);
    free(res);
  }
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    own_ad *ad = it->value;
    ad->rec_ann.put = NULL;
    if (ad->tomb) ad->tomb->ann.put = NULL;
    if (ad->moved) ad->moved->ann.put = NULL;
    dr__ad_free(n, ad);
  }
  dr_map_free(&n->resources);
  dr_map_free(&n->ads);
}
