/* wire.c - how a node's entries travel in the DHT: their key, their bytes (sealed on a private network), reading them back
 *
 * On the public registry an entry travels as its signed encoding. With
 * --psk the DHT key is derived with the network key and every value is
 * sealed (crypto/psk.c), so nodes without the passphrase can neither find
 * nor read nor forge the network's entries; everything else in the node
 * works on the plain, signed entry.
 */
#include "node/merge.h"
#include "node/node_private.h"

#include <stdlib.h>
#include <string.h>

/* The newest version of each entry this node has read, so an older one read
 * later is dropped as a replay: a withdrawal or an allow-list change stays
 * in force here even if a storer hides it and serves the older version. */
#define SEEN_MAX 262144          /* entries remembered at most; past it, new ones are not */
#define SEEN_RESOURCE_S 86400    /* how long a resource's version is remembered after a read */
#define SEEN_SWEEP_MS 10000      /* how often forgotten versions are collected */

typedef struct seen_version {
  uint64_t seq;
  uint64_t until; /* Unix seconds: no older version can be live after this */
  bool counts;    /* the newest is a tombstone or a resource: an older copy would undo it */
} seen_version;

/* How long past its expiry a copy is still what storers may hold (they
 * keep an entry until its expiry + the skew + 5 s, and collect on their
 * own schedule): a normal drop until then, a rejection after. */
#define EXPIRED_NORMAL_S 60

/* What the memory of versions says of an entry read. */
typedef enum seen_outcome {
  SEEN_NEWEST, /* the newest version read so far */
  SEEN_BEHIND, /* older than a tombstone or resource entry read before */
  SEEN_STALE,  /* older than a renewal read before: superseded, a normal drop */
} seen_outcome;

static size_t seen_key(uint8_t *out, const dr_entry *e) {
  size_t len = strlen(e->name);
  memcpy(out, e->rid, DR_ID_LEN);
  memcpy(out + DR_ID_LEN, e->issuer, DR_ID_LEN);
  out[2 * DR_ID_LEN] = e->kind == DR_KIND_RESOURCE; /* a label and a service id may be equal */
  memcpy(out + 2 * DR_ID_LEN + 1, e->name, len);
  return 2 * DR_ID_LEN + 1 + len;
}

/* Checks e against the newest version seen and remembers it when newer. */
static seen_outcome remember(dr_node *n, const dr_entry *e, uint64_t now) {
  uint8_t key[2 * DR_ID_LEN + 1 + DR_NAME_MAX];
  size_t klen = seen_key(key, e);
  uint64_t until = e->kind == DR_KIND_RESOURCE ? now + SEEN_RESOURCE_S : e->expires_at + n->clock_skew;
  seen_version *v = dr_map_get(&n->seen, key, klen);
  if (v) {
    if (e->seq < v->seq) return v->counts ? SEEN_BEHIND : SEEN_STALE;
    if (e->seq > v->seq) v->counts = e->kind != DR_KIND_RECORD;
    v->seq = e->seq;
    if (until > v->until) v->until = until;
    return SEEN_NEWEST;
  }
  if (n->seen.count >= SEEN_MAX || !(v = malloc(sizeof *v))) return SEEN_NEWEST;
  v->seq = e->seq;
  v->until = until;
  v->counts = e->kind != DR_KIND_RECORD;
  if (dr_map_put(&n->seen, key, klen, v, NULL) < 0) free(v);
  return SEEN_NEWEST;
}

static bool seen_over(void *value, void *now) {
  seen_version *v = value;
  if (v->until >= *(uint64_t *)now) return false;
  free(v);
  return true;
}

void dr__wire_tick(dr_node *n, uint64_t now) {
  uint64_t now_ms = uv_now(n->loop);
  if (now_ms < n->seen_swept_ms + SEEN_SWEEP_MS) return;
  n->seen_swept_ms = now_ms;
  dr_map_remove_if(&n->seen, seen_over, &now);
}

void dr__wire_free(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->seen, NULL, &b); it; it = dr_map_next(&n->seen, it, &b))
    free(it->value);
  dr_map_free(&n->seen);
}

void dr__dht_key_of(const dr_node *n, const uint8_t rid[DR_ID_LEN],
                    uint8_t key[DR_DHT_KEY_SIZE]) {
  dr_dht_key(key, rid, n->net ? n->net->dht : NULL);
}

void dr__shard_key_of(const dr_node *n, const uint8_t rid[DR_ID_LEN], uint32_t shard,
                      uint8_t key[DR_DHT_KEY_SIZE]) {
  dr_shard_key(key, rid, shard, n->net ? n->net->dht : NULL);
}

/* Whether e belongs in that shard of its resource: a resource entry in the
 * head only, a record or tombstone where its placement hash puts it for
 * some number of shards (docs/PROTOCOL.md, "Shards"). */
static bool in_shard(const dr_entry *e, uint32_t shard) {
  if (e->kind == DR_KIND_RESOURCE) return shard == 0;
  return dr_shard_fits(dr_entry_placement(e), shard);
}

const uint8_t *dr__wire_of(const dr_node *n, const dr_entry *e, uint8_t buf[DR_WIRE_MAX],
                           size_t *len) {
  if (!n->net) {
    *len = e->raw_len;
    return e->raw;
  }
  int r = dr_seal(n->net, e->raw, e->raw_len, buf, DR_WIRE_MAX);
  if (r < 0) return NULL; /* cannot happen: signed entries fit DR_ENTRY_MAX */
  *len = (size_t)r;
  return buf;
}

/* Opens (private network) and decodes one value; no checks of time or key. */
static dr_reject decode(const dr_netkey *net, const uint8_t *data, size_t len, dr_entry *out) {
  if (!net) return dr_entry_decode(data, len, out);
  uint8_t plain[DR_ENTRY_MAX];
  size_t plen;
  dr_reject rej = dr_open(net, data, len, plain, &plen);
  if (rej != DR_REJ_NONE) {
    memset(out, 0, sizeof *out);
    return rej;
  }
  return dr_entry_decode(plain, plen, out);
}

dr_read dr__entry_read(dr_node *n, const uint8_t rid[DR_ID_LEN], uint32_t shard,
                       const uint8_t *data, size_t len, dr_entry *out) {
  uint64_t now = dr_now(), net_now = dr__net_now(n); /* its own clock is what the estimate samples */
  dr_reject rej = decode(n->net, data, len, out);
  if (rej == DR_REJ_NONE) {
    rej = dr_entry_check(out, rid, net_now, n->clock_skew);
    if (rej == DR_REJ_NONE && !in_shard(out, shard)) rej = DR_REJ_WRONG_KEY;
    /* a verified issue time of the right key, even from the future or
     * expired (what a clock ahead sees) */
    if (rej == DR_REJ_NONE || rej == DR_REJ_FUTURE || rej == DR_REJ_EXPIRED) dr__clock_sample(n, out, now);
    if (rej == DR_REJ_NONE) {
      seen_outcome s = remember(n, out, now);
      if (s == SEEN_NEWEST) return DR_READ_OK;
      if (s == SEEN_BEHIND) return DR_READ_BEHIND;
      n->dropped[DR_DROP_SUPERSEDED]++;
      dr_entry_clear(out);
      return DR_READ_DROPPED;
    }
    /* a storer's copy of what just expired is a normal drop: it keeps it
     * a while; long expired, it is not (a replay, or a storer that keeps
     * values for ever) */
    bool just_expired = rej == DR_REJ_EXPIRED && out->expires_at + n->clock_skew + EXPIRED_NORMAL_S > net_now;
    dr_entry_clear(out);
    if (just_expired) {
      n->dropped[DR_DROP_EXPIRED]++;
      return DR_READ_DROPPED;
    }
  }
  n->rejected[rej]++;
  DR_DEBUG(&n->log, "dropped a value of %zu bytes: %s", len, dr_reject_name(rej));
  return DR_READ_DROPPED;
}

void dr__behind_add(dr_node *n, dr_behind *b, dr_entry *e) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    dr_entry *v = cap <= DR_BEHIND_MAX ? realloc(b->v, cap * sizeof *v) : NULL;
    if (!v) {
      n->dropped[DR_DROP_SUPERSEDED]++;
      dr_entry_clear(e);
      return;
    }
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = *e;
  memset(e, 0, sizeof *e);
}

void dr__behind_settle(dr_node *n, dr_behind *b, const dr_merge *m) {
  for (size_t i = 0; i < b->n; i++) {
    if (dr_merge_has_newer(m, &b->v[i])) {
      n->dropped[DR_DROP_SUPERSEDED]++;
    } else {
      n->rejected[DR_REJ_REPLAYED]++;
      DR_DEBUG(&n->log, "replayed: an older version of %s read without the newer one this node saw",
               b->v[i].name);
    }
  }
  dr__behind_free(b);
}

void dr__behind_free(dr_behind *b) {
  for (size_t i = 0; i < b->n; i++) dr_entry_clear(&b->v[i]);
  free(b->v);
  *b = (dr_behind){0};
}

/* Whether key is where e may be stored: the key of a shard e fits in,
 * derived with the network key it was sealed with (NULL: public). */
static bool key_fits(const dr_entry *e, const uint8_t key[DR_DHT_KEY_SIZE], const uint8_t *netkey) {
  uint8_t k[DR_DHT_KEY_SIZE];
  if (e->kind == DR_KIND_RESOURCE) {
    dr_shard_key(k, e->rid, 0, netkey);
    return memcmp(k, key, sizeof k) == 0;
  }
  uint64_t h = dr_entry_placement(e);
  for (uint32_t n = 1; n <= DR_SHARDS_MAX; n <<= 1) {
    dr_shard_key(k, e->rid, (uint32_t)(h % n), netkey);
    if (memcmp(k, key, sizeof k) == 0) return true;
  }
  return false;
}

/* The store policy: runs on OpenDHT's thread for every new value another
 * node asks this one to store. A value is kept only if it is a dhtreg entry
 * for that key (or shard of it): it decodes and verifies, is within the
 * limits, not expired and not further in the future than the skew. A
 * sealed value of a private network this node is not in cannot be opened:
 * it is kept when it has the shape and size of one. Returns 0 or the
 * reason (a dr_reject). */
int dr__store_ok(void *ctx, const uint8_t key[DR_DHT_KEY_SIZE], int mark, const uint8_t *data,
                 size_t len) {
  const dr_policy_ctx *pc = ctx;
  dr_entry e;
  const uint8_t *netkey = NULL;
  dr_reject rej;
  if (len > DR_WIRE_MAX) return DR_REJ_TOO_LARGE;
  if (mark < 0) return DR_REJ_MALFORMED;
  if (dr_is_sealed(data, len)) {
    if (!pc->net) return 0; /* another network's: it cannot tell more */
    uint8_t plain[DR_ENTRY_MAX];
    size_t plen;
    if (dr_open(pc->net, data, len, plain, &plen) != DR_REJ_NONE) return 0; /* another network's */
    rej = dr_entry_decode(plain, plen, &e);
    netkey = pc->net->dht;
  } else {
    rej = dr_entry_decode(data, len, &e);
  }
  if (rej == DR_REJ_NONE) {
    uint64_t now = dr_now();
    if (mark == 1 && e.kind != DR_KIND_RESOURCE) rej = DR_REJ_MALFORMED;
    else if (!key_fits(&e, key, netkey)) rej = DR_REJ_WRONG_KEY;
    else rej = dr_entry_check(&e, e.rid, now, pc->skew);
    /* a storer keeps an entry up to the skew past its expiry, as its issuer
     * asked (the put's lifetime): readers drop it at its expiry anyway */
    if (rej == DR_REJ_EXPIRED && e.expires_at + pc->skew > now) rej = DR_REJ_NONE;
    /* what was put as it was signed tells this node's clock apart from
     * the network's */
    if (rej == DR_REJ_NONE || rej == DR_REJ_FUTURE || rej == DR_REJ_EXPIRED)
      dr__clock_inbox_put((dr_policy_ctx *)ctx, &e, now);
    dr_entry_clear(&e);
  }
  return (int)rej;
}

/* Runs on OpenDHT's thread for any node's values this node stores (the
 * new one passed the store policy). A value this node can read gives way
 * only to a newer version of itself (its tombstone included); garbage never
 * blocks a valid entry; a sealed value of a network this node is not in can
 * only be replaced by another such value (it cannot tell more). */
bool dr__edit_ok(void *ctx, uint64_t vid, const uint8_t *old, size_t old_len, const uint8_t *nw,
                 size_t new_len) {
  const dr_netkey *net = ((const dr_policy_ctx *)ctx)->net;
  dr_entry o, e;
  (void)vid;
  bool new_ok = decode(net, nw, new_len, &e) == DR_REJ_NONE;
  bool old_ok = decode(net, old, old_len, &o) == DR_REJ_NONE;
  bool ok;
  if (!new_ok) ok = !old_ok && dr_is_sealed(nw, new_len);
  else if (!old_ok) ok = true;
  else
    ok = (o.kind == DR_KIND_RESOURCE) == (e.kind == DR_KIND_RESOURCE) &&
         memcmp(o.issuer, e.issuer, DR_ID_LEN) == 0 && memcmp(o.rid, e.rid, DR_ID_LEN) == 0 &&
         strcmp(o.name, e.name) == 0 && e.seq > o.seq;
  /* a renewal replaces its value in place: OpenDHT gives it to this policy
   * alone, not to the store policy, so it is sampled here (as it was put) */
  if (ok && new_ok) dr__clock_inbox_put((dr_policy_ctx *)ctx, &e, dr_now());
  dr_entry_clear(&o);
  dr_entry_clear(&e);
  return ok;
}
