/* clock.c - how far this node's clock is from the network's, estimated from the entries it reads, and a warning beyond the tolerance
 *
 * Every entry carries its issuer's clock (issued_at). A reader whose clock
 * is behind by more than the tolerated skew drops fresh entries as
 * `future`; one that is ahead makes its own entries `future` for everybody
 * else. Neither shows anywhere by itself, so the node estimates its offset:
 * for each other issuer whose records or tombstones it read (verified
 * signature) in the last ESTIMATE_WINDOW_S, it keeps the smallest apparent
 * age (its now minus issued_at) of what it read; the estimate is the median
 * of those over issuers. Renewed entries are young, so this is close to the
 * offset when the node reads entries as they are published, and an
 * overstatement of how far ahead it is when it reads only old ones.
 *
 * Issue times are the issuers' word: one DHT peer can sign entries from
 * any time it likes. So the estimate needs QUORUM issuers at least, and,
 * being a median, moves only when most of them agree; only entries that
 * passed every check but time count (a record of another resource says
 * nothing; a stale copy of an issuer that stopped is outweighed by the
 * young entries of those that renew). Beyond the tolerance the node says so in the
 * log, node.info and its readiness, and refuses to publish a record that
 * the network would find expired. Its own history is a second witness
 * that nobody else can forge: a clock now behind the newest entry the node
 * signed before (a backward step) also refuses such a record.
 */
#include "node/node_private.h"

#include <stdlib.h>
#include <string.h>

#define ESTIMATE_WINDOW_S 600
#define QUORUM 3             /* other issuers an estimate needs */
#define ISSUERS_MAX 4096     /* issuers tracked at most */
#define REPEAT_WARNING_S 600 /* how often a lasting skew is logged again */

typedef struct issuer_age {
  int64_t min_age; /* the smallest now - issued_at read (seconds; negative: from the future) */
  uint64_t at;     /* when it was read (this node's Unix seconds) */
} issuer_age;

void dr__clock_sample(dr_node *n, const dr_entry *e, uint64_t now) {
  if (e->kind == DR_KIND_RESOURCE || memcmp(e->issuer, n->id.pk, DR_ID_LEN) == 0) return;
  int64_t age = (int64_t)now - (int64_t)e->issued_at;
  issuer_age *a = dr_map_get(&n->clock_ages, e->issuer, DR_ID_LEN);
  if (!a) {
    if (n->clock_ages.count >= ISSUERS_MAX || !(a = malloc(sizeof *a))) return;
    if (dr_map_put(&n->clock_ages, e->issuer, DR_ID_LEN, a, NULL) < 0) {
      free(a);
      return;
    }
  } else if (age >= a->min_age && a->at + ESTIMATE_WINDOW_S >= now) {
    return; /* older than what was read of this issuer lately */
  }
  a->min_age = age;
  a->at = now;
}

static bool age_over(void *value, void *now) {
  issuer_age *a = value;
  if (a->at + ESTIMATE_WINDOW_S >= *(uint64_t *)now) return false;
  free(a);
  return true;
}

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

void dr__clock_tick(dr_node *n, uint64_t now) {
  dr_map_remove_if(&n->clock_ages, age_over, &now);
  size_t k = 0, b;
  int64_t *ages = malloc((n->clock_ages.count + 1) * sizeof *ages);
  if (!ages) return;
  for (dr_map_item *it = dr_map_next(&n->clock_ages, NULL, &b); it; it = dr_map_next(&n->clock_ages, it, &b))
    ages[k++] = ((issuer_age *)it->value)->min_age;
  qsort(ages, k, sizeof *ages, cmp_i64);
  n->clock_issuers = k;
  /* the median; of an even count, the middle one nearer zero (of two
   * issuers, one off, the node does not take itself for the one) */
  int64_t lo = k ? ages[(k - 1) / 2] : 0, hi = k ? ages[k / 2] : 0;
  n->clock_offset = k >= QUORUM ? (llabs(lo) <= llabs(hi) ? lo : hi) : 0;
  free(ages);
  int64_t off = n->clock_offset;
  bool beyond = k >= QUORUM && (off > (int64_t)n->clock_skew || -off > (int64_t)n->clock_skew);
  if (beyond && (!n->clock_beyond || now >= n->clock_warned + REPEAT_WARNING_S)) {
    DR_WARN(&n->log,
            "this node's clock seems %lld s %s the network's (the entries of %zu other issuer%s), "
            "beyond the tolerated skew of %llu s: %s; synchronise the clock (NTP: timedatectl, "
            "chronyc tracking)",
            (long long)(off < 0 ? -off : off), off < 0 ? "behind" : "ahead of", k, k == 1 ? "" : "s",
            (unsigned long long)n->clock_skew,
            off < 0 ? "this node drops fresh entries as issued in the future, and its records expire early for the others"
                    : "the others drop this node's entries as issued in the future");
    n->clock_warned = now;
  } else if (!beyond && n->clock_beyond) {
    DR_INFO(&n->log, "this node's clock is within %llu s of the network's again",
            (unsigned long long)n->clock_skew);
  }
  n->clock_beyond = beyond;
}

bool dr__clock_would_expire(const dr_node *n, uint64_t expires_at, uint64_t now) {
  /* the network's now is this node's minus the offset; and it is not
   * before the newest entry this node signed earlier */
  int64_t net_now = (int64_t)now - (n->clock_beyond ? n->clock_offset : 0);
  if ((int64_t)n->own_issued_max > net_now) net_now = (int64_t)n->own_issued_max;
  return (int64_t)expires_at + (int64_t)n->clock_skew <= net_now;
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

void dr__clock_free(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->clock_ages, NULL, &b); it; it = dr_map_next(&n->clock_ages, it, &b))
    free(it->value);
  dr_map_free(&n->clock_ages);
}
