/* test_gc.c - memory returns after load: advertise and withdraw 10 000 records (over 100
 * resources), round after round; once the tombstones are collected and two maintenance periods
 * passed, the node's RSS is within 10% (at least 2 MB) of where it stood after the first round
 *
 * The first round is the warm-up: it makes the allocator's per-thread arenas, thread stacks and
 * OpenDHT's searches for the 100 keys, which a process keeps for reuse. What must not happen is
 * what this checks: memory that grows with each burst, or stays after it. The node runs alone:
 * what is measured is its own bookkeeping (entries, journal, OpenDHT's storage and announce
 * lists), not the pace of a peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define N_RECORDS 10000
#define N_RESOURCES 100 /* OpenDHT 2.4.12 cannot hold thousands of values under one key */
#define ROUNDS 4 /* the first one warms up */
#define TTL 2 /* seconds: the tombstones are collected soon after the withdrawals */
#define TICK_MS 200 /* the maintenance (GC) period */
#define WINDOW 512 /* requests in flight on the connection */
#define SLACK_KB 2048 /* RSS the allocator may keep or not, run to run */

static h_node a;
static char rid[N_RESOURCES][64];


static long long entries(const h_node *n, const char *what) {
  json_t *info = h_ok(n, "node.info", NULL);
  long long v = json_integer_value(json_object_get(json_object_get(info, "entries"), what));
  json_decref(info);
  return v;
}

static int advertise_req(char *buf, size_t cap, int k, void *ctx) {
  (void)ctx;
  return snprintf(buf, cap,
                  "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.advertise\",\"params\":"
                  "{\"resource_id\":\"%s\",\"service_id\":\"gc-%05d\",\"host\":\"10.2.%d.%d\","
                  "\"port\":8080,\"ttl\":%d,\"metadata\":{\"zone\":\"eu-west-1\"}}}",
                  k, rid[k % N_RESOURCES], k, k / 250, k % 250, TTL);
}

static int withdraw_req(char *buf, size_t cap, int k, void *ctx) {
  (void)ctx;
  return snprintf(buf, cap,
                  "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.withdraw\",\"params\":"
                  "{\"resource_id\":\"%s\",\"service_id\":\"gc-%05d\"}}",
                  k, rid[k % N_RESOURCES], k);
}

static bool collected(void *p) {
  (void)p;
  return entries(&a, "records") == 0 && entries(&a, "tombstones") == 0;
}

/* OpenDHT let go of the records and tombstones put (its own copies last as
 * long as readers may take them: their expiry, the skew, a margin) */
static bool let_go(void *p) {
  (void)p;
  json_t *info = h_ok(&a, "node.info", NULL);
  long long values = json_integer_value(json_object_get(json_object_get(info, "dht_storage"), "values"));
  json_decref(info);
  return values <= N_RESOURCES;
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One round of load, then the wait for its collection; returns the RSS
 * two GC periods after. */
static long round_of_load(int r, long *peak) {
  uint64_t t0 = h_now_ms();
  h_pipeline(&a, N_RECORDS, WINDOW, 60000, advertise_req, NULL);
  long after_ads = h_proc_kb(a.pid, "VmRSS");
  h_pipeline(&a, N_RECORDS, WINDOW, 60000, withdraw_req, NULL);
  if (after_ads > *peak) *peak = after_ads;
  uint64_t t1 = h_now_ms();
  /* the tombstones go once the records they hide expired */
  if (!h_wait_for(collected, NULL, (TTL + 10) * 1000))
    fail_msg("entries left after round %d: %lld records, %lld tombstones", r, entries(&a, "records"),
             entries(&a, "tombstones"));
  if (!h_wait_for(let_go, NULL, (TTL + 20) * 1000)) fail_msg("OpenDHT still holds the values of round %d", r);
  /* the node gives memory back one second after its last collection; then
   * two GC periods */
  nap_ms(1000 + 2 * TICK_MS);
  long rss = h_proc_kb(a.pid, "VmRSS");
  print_message("round %d: %d advertised and withdrawn in %llu ms; RSS %ld kB loaded, %ld kB after\n", r,
                N_RECORDS, (unsigned long long)(t1 - t0), after_ads, rss);
  return rss;
}

static void test_rss_returns(void **state) {
  long cold = h_proc_kb(a.pid, "VmRSS"), peak = cold;
  assert_true(cold > 0);
  long base = round_of_load(0, &peak), end = base;
  for (int r = 1; r < ROUNDS; r++) end = round_of_load(r, &peak);
  print_message("RSS: %ld kB cold, %ld kB after the warm-up round, %ld kB at the peak, %ld kB at the end\n",
                cold, base, peak, end);
  /* 10%, and at least 2 MB: after handing back 30-50 MB, the allocator keeps
   * more or less from run to run (up to 1.7 MB above this base in the runs
   * measured), while keeping a round's 10 000 records would be ~10 MB */
  long slack = base / 10 > SLACK_KB ? base / 10 : SLACK_KB;
  if (end > base + slack)
    fail_msg("RSS %ld kB is more than %ld kB above the %ld kB after the first round", end, slack, base);
  /* and OpenDHT let go of the withdrawn values: only the resources remain */
  json_t *info = h_ok(&a, "node.info", NULL);
  long long pending = json_integer_value(json_object_get(info, "dht_pending"));
  json_decref(info);
  assert_int_equal(pending, 0);
}

static int setup(void **state) {
  const char *args[] = {"--min-ttl", "1", "--clock-skew", "1", "--tick-ms", "200", "--log-level", "info", NULL};
  h_node_start(&a, "a", args);
  for (int i = 0; i < N_RESOURCES; i++) {
    char label[16];
    snprintf(label, sizeof label, "gc%d", i);
    json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", label));
    snprintf(rid[i], sizeof rid[i], "%s", json_string_value(json_object_get(r, "resource_id")));
    json_decref(r);
  }
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_rss_returns)};
  return cmocka_run_group_tests(tests, setup, NULL);
}
