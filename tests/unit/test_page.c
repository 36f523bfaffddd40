/* test_page.c - resolve pages: every live record once across pages, in shard order then placement hash; a page resumes after the last hash given, whatever a re-read lost or gained; shards past the first unread wait for their page */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/node_private.h"

#define N 60
#define POSITIONS 6

static uint8_t rid[DR_ID_LEN];
static dr_entry recs[N];
static char names[N][16];

static int setup(void **state) {
  (void)state;
  memset(rid, 7, sizeof rid);
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "svc-%02d", i);
    recs[i].kind = DR_KIND_RECORD;
    memcpy(recs[i].rid, rid, DR_ID_LEN);
    memset(recs[i].issuer, i % 3 + 1, DR_ID_LEN);
    recs[i].name = names[i];
  }
  return 0;
}

/* The records as a read found them: record i at position i % POSITIONS,
 * except those absent (absent[i] true). */
static size_t placed_of(dr_placed *p, const bool *absent) {
  size_t k = 0;
  for (int i = 0; i < N; i++) {
    if (absent && absent[i]) continue;
    p[k++] = (dr_placed){&recs[i], (uint32_t)(i % POSITIONS), dr_entry_placement(&recs[i])};
  }
  return k;
}

static int index_of(const dr_entry *e) {
  return (int)(e - recs);
}

/* Pages with limit through everything (every shard read); each record comes
 * exactly once, positions never go back, and within one the hashes rise. */
static void test_every_record_once(void **state) {
  (void)state;
  for (size_t limit = 1; limit <= N + 1; limit += 6) {
    int seen[N] = {0}, pages = 0, total = 0;
    dr_resolve_page from = {0};
    for (;;) {
      dr_placed p[N];
      size_t k = placed_of(p, NULL);
      dr_resolution res = {0};
      assert_int_equal(dr__page(p, k, 42, POSITIONS, POSITIONS, &from, limit, POSITIONS, &res), 0);
      assert_true(res.n_records <= limit);
      for (size_t i = 0; i < res.n_records; i++) {
        int j = index_of(res.records[i]);
        assert_int_equal(seen[j]++, 0);
        total++;
      }
      free((void *)res.records);
      pages++;
      if (!res.more) break;
      assert_true(res.next.set);
      assert_true(res.next.pos < POSITIONS);
      from = res.next;
    }
    assert_int_equal(total, N);
    assert_int_equal(pages, (int)((N + limit - 1) / limit));
  }
}

/* A record given on page 1 that the re-read for page 2 misses, and one of
 * the same shard that the re-read finds: page 2 neither repeats nor skips
 * what came after the last record given. */
static void test_resumes_after_the_last_hash(void **state) {
  (void)state;
  dr_placed p[N];
  size_t k = placed_of(p, NULL);
  dr_resolution res = {0};
  dr_resolve_page none = {0};
  /* position 0 holds 10 records; a page of 4 ends inside it */
  assert_int_equal(dr__page(p, k, 1, POSITIONS, POSITIONS, &none, 4, POSITIONS, &res), 0);
  assert_true(res.more && res.next.mid && res.next.pos == 0);
  const dr_entry *given[4];
  memcpy(given, res.records, sizeof given);
  free((void *)res.records);

  bool absent[N] = {false};
  absent[index_of(given[1])] = true; /* lost by the re-read */
  k = placed_of(p, absent);
  dr_resolution res2 = {0};
  assert_int_equal(dr__page(p, k, 1, POSITIONS, POSITIONS, &res.next, 100, POSITIONS, &res2), 0);
  int at0 = 0;
  for (size_t i = 0; i < res2.n_records; i++) {
    for (int g = 0; g < 4; g++) assert_ptr_not_equal(res2.records[i], given[g]);
    at0 += index_of(res2.records[i]) % POSITIONS == 0;
  }
  assert_int_equal(at0, 10 - 4); /* the rest of position 0, none skipped */
  assert_int_equal(res2.n_records, N - 4);
  assert_false(res2.more);
  free((void *)res2.records);
}

/* Records read at a position past the first unread one (the head, read
 * first to learn the shard count) wait for the page that reaches it. */
static void test_positions_past_unread_wait(void **state) {
  (void)state;
  dr_placed p[N];
  size_t k = placed_of(p, NULL);
  dr_resolution res = {0};
  dr_resolve_page none = {0};
  assert_int_equal(dr__page(p, k, 1, POSITIONS, POSITIONS, &none, N, 2, &res), 0);
  assert_int_equal(res.n_records, 20); /* positions 0 and 1 only */
  for (size_t i = 0; i < res.n_records; i++) assert_true(index_of(res.records[i]) % POSITIONS < 2);
  assert_true(res.more);
  assert_int_equal(res.next.pos, 2);
  assert_false(res.next.mid);
  free((void *)res.records);
}

static void test_page_before(void **state) {
  (void)state;
  dr_resolve_page at = {.seed = 1, .shards = 8, .pos = 3, .after = 100, .mid = true, .set = true};
  assert_true(dr__page_before(&at, 2, 500));
  assert_true(dr__page_before(&at, 3, 100));
  assert_false(dr__page_before(&at, 3, 101));
  assert_false(dr__page_before(&at, 4, 0));
  at.mid = false;
  assert_false(dr__page_before(&at, 3, 0));
  assert_false(dr__page_before(NULL, 0, 0));
}

/* Shard orders: a permutation; past DR_READ_WINDOW shards, windowed, the
 * seed's window first; at or below it, windowed or not, the same order; a
 * window is drawn alike for every window of a resource. */
static void test_shard_order_window(void **state) {
  (void)state;
  enum { S = 512 };
  uint32_t order[S], pos_of[S], order2[S], pos2[S];
  unsigned first_window[S / DR_READ_WINDOW] = {0};
  for (uint32_t t = 0; t < 4096; t++) {
    uint32_t seed = t * 2654435761u;
    dr__shard_order(seed, S, true, order, pos_of);
    uint32_t base = (seed >> 20) % (S / DR_READ_WINDOW) * DR_READ_WINDOW;
    for (uint32_t i = 0; i < S; i++) {
      assert_int_equal(pos_of[order[i]], i);
      if (i < DR_READ_WINDOW) assert_true(order[i] >= base && order[i] < base + DR_READ_WINDOW);
      else assert_false(order[i] >= base && order[i] < base + DR_READ_WINDOW);
    }
    first_window[base / DR_READ_WINDOW]++;
    /* not windowed: any shard may come first, and every one is there once */
    dr__shard_order(seed, S, false, order2, pos2);
    for (uint32_t i = 0; i < S; i++) assert_int_equal(pos2[order2[i]], i);
    /* a resource of at most one window: the window changes nothing */
    dr__shard_order(seed, DR_READ_WINDOW, true, order, pos_of);
    dr__shard_order(seed, DR_READ_WINDOW, false, order2, pos2);
    assert_memory_equal(order, order2, DR_READ_WINDOW * sizeof *order);
  }
  for (int w = 0; w < S / DR_READ_WINDOW; w++) assert_in_range(first_window[w], 400, 624); /* 512 expected */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_record_once),
      cmocka_unit_test(test_resumes_after_the_last_hash),
      cmocka_unit_test(test_positions_past_unread_wait),
      cmocka_unit_test(test_page_before),
      cmocka_unit_test(test_shard_order_window),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
