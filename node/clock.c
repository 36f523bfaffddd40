/* clock.c - how far this node's clock is from the network's, estimated from the entries it reads and stores, the correction it lives by, and a warning beyond the tolerance
 *
 * Every entry carries its issuer's clock (issued_at), and readers drop a
 * record the moment its expires_at passes on their clock: no tolerance is
 * added to lifetimes. A node whose clock is off would therefore drop fresh
 * entries (ahead) or keep dead ones (behind), and sign entries that expire
 * early or late for everybody else. So the node estimates its offset and
 * lives by the network's time: its clock minus the correction (see
 * dr__net_now), for what it signs and for every expiry it checks.
 *
 * The estimate: for each other issuer whose records or tombstones it read
 * (verified signature) in the last ESTIMATE_WINDOW_S, the smallest apparent
 * age (this node's now minus issued_at); the offset is the median of those
 * over issuers. An entry read late looks older than it is, so ages
 * overstate how far ahead the node is, never how far behind: entries read
 * with a get may be half a TTL old (a renewal replaces them in place). So
 * the ages of entries this node received as they were put (it stores
 * values for the DHT: the store policy sees each put on OpenDHT's thread
 * and drops its sample in an inbox) are kept apart, as fresh: a node
 * corrects itself backwards (it is behind) on any entries, forwards (ahead)
 * only on fresh ones. Within CORRECT_MIN_S it corrects nothing: clocks that
 * agree to a second are taken as they are.
 *
 * Issue times are the issuers' word: one DHT peer can sign entries from
 * any time it likes. So an estimate needs QUORUM issuers at least, and,
 * being a median, moves only when most of them agree; only entries that
 * passed every check but time count. The correction is capped at the
 * tolerated skew, so issuers that lie together move a node's time by that
 * much at most (as Bitcoin capped its network-adjusted time, for the same
 * reason). Beyond the tolerance the node says so in the log, node.info and
 * its readiness, and refuses to publish a record that the network would
 * find expired. Its own history is a second witness that nobody else can
 * forge: a clock now behind the newest entry the node signed before (a
 * backward step) also refuses such a record.
 */
#include "node/node_private.h"

#include <stdlib.h>
#include <string.h>

#define ESTIMATE_WINDOW_S 600
#define QUORUM 3             /* other issuers an estimate needs */
#define ISSUERS_MAX 4096     /* issuers tracked at most */
#define REPEAT_WARNING_S 600 /* how often a lasting skew is logged again */
#define CORRECT_MIN_S 2      /* offsets smaller than this are not corrected */

typedef struct issuer_age {
  int64_t min_age;   /* the smallest now - issued_at read (seconds; negative: from the future) */
  uint64_t at;       /* when it was read (this node's Unix seconds) */
  int64_t fresh_age; /* the same of entries put to this node, as they were put */
  uint64_t fresh_at; /* 0: none in the window */
} issuer_age;

static void sample(dr_node *n, const uint8_t issuer[DR_ID_LEN], int64_t age, bool fresh, uint64_t now) {
  issuer_age *a = dr_map_get(&n->clock_ages, issuer, DR_ID_LEN);
  if (!a) {
    if (n->clock_ages.count >= ISSUERS_MAX || !(a = calloc(1, sizeof *a))) return;
    if (dr_map_put(&n->clock_ages, issuer, DR_ID_LEN, a, NULL) < 0) {
      free(a);
      return;
    }
    a->min_age = age;
    a->at = now;
  }
  if (age < a->min_age || a->at + ESTIMATE_WINDOW_S < now) {
    a->min_age = age;
    a->at = now;
  }
  if (fresh && (!a->fresh_at || age < a->fresh_age || a->fresh_at + ESTIMATE_WINDOW_S < now)) {
    a->fresh_age = age;
    a->fresh_at = now;
  }
}

void dr__clock_sample(dr_node *n, const dr_entry *e, uint64_t now) {
  if (e->kind == DR_KIND_RESOURCE || memcmp(e->issuer, n->id.pk, DR_ID_LEN) == 0) return;
  sample(n, e->issuer, (int64_t)now - (int64_t)e->issued_at, false, now);
}

void dr__clock_inbox_put(dr_policy_ctx *pc, const dr_entry *e, uint64_t now) {
  dr_clock_inbox *in = &pc->inbox;
  if (!in->ready || e->kind == DR_KIND_RESOURCE || (pc->self && memcmp(e->issuer, pc->self, DR_ID_LEN) == 0))
    return;
  int64_t age = (int64_t)now - (int64_t)e->issued_at;
  pthread_mutex_lock(&in->lock);
  size_t i = 0;
  while (i < in->n && memcmp(in->s[i].issuer, e->issuer, DR_ID_LEN) != 0) i++;
  if (i < in->n) {
    if (age < in->s[i].age) in->s[i].age = age; /* the youngest of an issuer is what counts */
  } else if (in->n < DR_CLOCK_INBOX) { /* else dropped: the next tick empties the inbox */
    memcpy(in->s[i].issuer, e->issuer, DR_ID_LEN);
    in->s[i].age = age;
    in->n++;
  }
  pthread_mutex_unlock(&in->lock);
}

/* The samples the store policy left since the last tick. */
static void drain_inbox(dr_node *n, uint64_t now) {
  dr_clock_inbox *in = &n->policy.inbox;
  if (!in->ready) return;
  pthread_mutex_lock(&in->lock);
  size_t k = in->n;
  struct dr_clock_sample taken[DR_CLOCK_INBOX];
  memcpy(taken, in->s, k * sizeof taken[0]);
  in->n = 0;
  pthread_mutex_unlock(&in->lock);
  for (size_t i = 0; i < k; i++) sample(n, taken[i].issuer, taken[i].age, true, now);
}

static bool age_over(void *value, void *now) {
  issuer_age *a = value;
  if (a->fresh_at && a->fresh_at + ESTIMATE_WINDOW_S < *(uint64_t *)now) a->fresh_at = 0;
  if (a->at + ESTIMATE_WINDOW_S >= *(uint64_t *)now) return false;
  free(a);
  return true;
}

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

/* The median of ages[0..k) (sorted here); of an even count, the middle one
 * nearer zero (of two issuers, one off, the node does not take itself for
 * the one). */
static int64_t median(int64_t *ages, size_t k) {
  qsort(ages, k, sizeof *ages, cmp_i64);
  int64_t lo = ages[(k - 1) / 2], hi = ages[k / 2];
  return llabs(lo) <= llabs(hi) ? lo : hi;
}

void dr__clock_tick(dr_node *n, uint64_t now) {
  drain_inbox(n, now);
  dr_map_remove_if(&n->clock_ages, age_over, &now);
  size_t k = 0, kf = 0, b;
  int64_t *ages = malloc((2 * n->clock_ages.count + 1) * sizeof *ages), *fresh;
  if (!ages) return;
  fresh = ages + n->clock_ages.count;
  for (dr_map_item *it = dr_map_next(&n->clock_ages, NULL, &b); it; it = dr_map_next(&n->clock_ages, it, &b)) {
    const issuer_age *a = it->value;
    ages[k++] = a->min_age;
    if (a->fresh_at) fresh[kf++] = a->fresh_age;
  }
  int64_t all = k >= QUORUM ? median(ages, k) : 0, put = kf >= QUORUM ? median(fresh, kf) : 0;
  free(ages);
  /* behind: any entries say so (reading late cannot make them look
   * young); ahead: only fresh ones can tell it from reading late */
  int64_t off = all < 0 ? all : kf >= QUORUM ? put : all;
  bool trusted = (k >= QUORUM && all < 0) || kf >= QUORUM;
  n->clock_issuers = all < 0 || kf < QUORUM ? k : kf;
  n->clock_offset = k >= QUORUM || kf >= QUORUM ? off : 0;
  int64_t skew = (int64_t)n->clock_skew, corr = 0;
  if (trusted && llabs(off) >= CORRECT_MIN_S) corr = off > skew ? skew : off < -skew ? -skew : off;
  if (corr != n->clock_correction) {
    int64_t prev = n->clock_correction;
    if (corr && (!prev || llabs(corr - prev) >= 10))
      DR_INFO(&n->log, "this node's clock seems %lld s %s the network's (the entries of %zu other issuers): "
              "it signs and checks entries %lld s %s its clock; synchronise the clock (NTP)",
              (long long)llabs(off), off < 0 ? "behind" : "ahead of", n->clock_issuers, (long long)llabs(corr),
              corr < 0 ? "ahead of" : "behind");
    else if (!corr)
      DR_INFO(&n->log, "this node's clock agrees with the network's: it signs and checks entries by it again");
    n->clock_correction = corr;
  }
  bool beyond = n->clock_issuers >= QUORUM && (off > skew || -off > skew);
  if (beyond && (!n->clock_beyond || now >= n->clock_warned + REPEAT_WARNING_S)) {
    DR_WARN(&n->log,
            "this node's clock seems %lld s %s the network's (the entries of %zu other issuer%s), "
            "beyond the tolerated skew of %llu s, which is all it corrects: %s; synchronise the clock "
            "(NTP: timedatectl, chronyc tracking)",
            (long long)(off < 0 ? -off : off), off < 0 ? "behind" : "ahead of", n->clock_issuers,
            n->clock_issuers == 1 ? "" : "s", (unsigned long long)n->clock_skew,
            off < 0 ? "this node drops fresh entries as issued in the future, and its records expire early for the others"
                    : "the others drop this node's entries as issued in the future");
    n->clock_warned = now;
  } else if (!beyond && n->clock_beyond) {
    DR_INFO(&n->log, "this node's clock is within %llu s of the network's again",
            (unsigned long long)n->clock_skew);
  }
  n->clock_beyond = beyond;
}

uint64_t dr__net_now(const dr_node *n) {
  int64_t now = (int64_t)dr_now() - n->clock_correction;
  return now > 0 ? (uint64_t)now : 0;
}

uint64_t dr__net_now_ms(const dr_node *n) {
  int64_t now = (int64_t)dr_now_ms() - n->clock_correction * 1000;
  return now > 0 ? (uint64_t)now : 0;
}

bool dr__clock_would_expire(const dr_node *n, uint64_t expires_at) {
  uint64_t now = dr_now();
  /* the network's now is this node's minus its whole offset (the
   * correction stops at the tolerance); and it is not before the newest
   * entry this node signed earlier */
  int64_t net_now = (int64_t)now - (n->clock_beyond ? n->clock_offset : n->clock_correction);
  if ((int64_t)n->own_issued_max > net_now) net_now = (int64_t)n->own_issued_max;
  return (int64_t)expires_at <= net_now;
}

void dr__clock_own(dr_node *n, const dr_entry *e) {
  if (e->issued_at > n->own_issued_max) n->own_issued_max = e->issued_at;
}

void dr__clock_check_own(dr_node *n, uint64_t now) {
  if (n->own_issued_max > now + n->clock_skew)
    DR_WARN(&n->log, "this node's clock is %llu s behind the newest entry it signed before (did it "
            "step back?): records that would arrive expired are not published; synchronise the "
            "clock (NTP)", (unsigned long long)(n->own_issued_max - now));
}

void dr__clock_init(dr_node *n) {
  dr_map_init(&n->clock_ages);
  n->policy.self = n->id.pk;
  n->policy.inbox.ready = pthread_mutex_init(&n->policy.inbox.lock, NULL) == 0;
}

void dr__clock_free(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->clock_ages, NULL, &b); it; it = dr_map_next(&n->clock_ages, it, &b))
    free(it->value);
  dr_map_free(&n->clock_ages);
  if (n->policy.inbox.ready) pthread_mutex_destroy(&n->policy.inbox.lock);
  n->policy.inbox.ready = false;
}
