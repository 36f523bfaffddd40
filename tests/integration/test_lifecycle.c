/* test_lifecycle.c - records that live and die correctly: renewal, leases, withdraw over stale copies, graceful stop, kill -9, discover
 *
 * The nodes run as a deployment's would, each on its own address (--bind),
 * in a network namespace of their own where every address of 10.77.0.0/16
 * is local (h_netns: root; unbound on 127.0.0.1 otherwise). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define TTL 3 /* seconds; the nodes run with --min-ttl 1 */

static h_node a, b, c;
static char rid[64];
static char boot[32];
static bool bound; /* each node on an address of the namespace */

/* Starts node i (through a, unless it is a), on its own address when the
 * test has its namespace. */
static void start(h_node *n, const char *name, int i) {
  char addr[32];
  const char *args[16] = {"--min-ttl", "1", "--clock-skew", "1", "--tick-ms", "100", "--op-timeout-ms", "3000",
                          "--replicate-ms", "300"};
  int k = 10;
  if (i > 0) {
    args[k++] = "--bootstrap";
    args[k++] = boot;
  }
  if (bound) {
    h_netns_addr(i, addr, sizeof addr);
    args[k++] = "--bind";
    args[k++] = addr;
  }
  args[k] = NULL;
  h_node_start(n, name, args);
}

static int setup(void **state) {
  bound = h_netns();
  if (!bound) fprintf(stderr, "no network namespace (it needs root): the nodes run on 127.0.0.1\n");
  start(&a, "a", 0);
  h_addr(&a, boot, sizeof boot);
  start(&b, "b", 1);
  start(&c, "c", 2);
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "life"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

static void advertise(const h_node *n, const char *sid, int ttl, bool lease, const char *type) {
  json_decref(h_ok(n, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i, s:i, s:b, s:s}", "resource_id", rid, "service_id",
                             sid, "host", "10.0.0.1", "port", 80, "ttl", ttl, "lease", lease,
                             "type", type)));
}

typedef struct want {
  const h_node *n;
  const char *sid;
  bool present;
} want;

static bool check(void *p) {
  want *w = p;
  return h_resolve_has(w->n, rid, w->sid) == w->present;
}

static void wait_state(const h_node *n, const char *sid, bool present, int ms) {
  want w = {n, sid, present};
  if (!h_wait_for(check, &w, ms))
    fail_msg("%s: %s still %s after %d ms", n->name, sid, present ? "missing" : "present", ms);
}

static void test_renewal_keeps_a_record_alive(void **state) {
  advertise(&a, "renewed", TTL, false, "http");
  wait_state(&b, "renewed", true, 5000);
  long long first_seq = -1, last_seq = -1;
  /* every resolve from another node finds it, across three TTL periods */
  uint64_t end = h_now_ms() + 3 * TTL * 1000 + 500;
  int rounds = 0;
  while (h_now_ms() < end) {
    json_t *r = h_ok(rounds % 2 ? &b : &c, "resolve", json_pack("{s:s}", "resource_id", rid));
    json_t *recs = json_object_get(r, "records"), *rec;
    size_t i;
    bool found = false;
    json_array_foreach(recs, i, rec) {
      if (strcmp(json_string_value(json_object_get(rec, "service_id")), "renewed")) continue;
      found = true;
      last_seq = json_integer_value(json_object_get(rec, "seq"));
      if (first_seq < 0) first_seq = last_seq;
    }
    json_decref(r);
    if (!found) fail_msg("the renewed record was missing after %d rounds", rounds);
    rounds++;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL); /* pacing of the probe, not a wait for a state */
  }
  assert_true(last_seq > first_seq); /* it was re-signed */
}

static void test_lease_needs_renewals(void **state) {
  advertise(&a, "leased", TTL, true, "db");
  wait_state(&b, "leased", true, 5000);
  /* renewed by its client within the TTL, it stays */
  for (int i = 0; i < 3; i++) {
    json_t *r = h_ok(&a, "record.renew", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "leased"));
    assert_true(json_integer_value(json_object_get(r, "expires_at")) > 0);
    json_decref(r);
    assert_true(h_resolve_has(&c, rid, "leased"));
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL); /* the client's heartbeat period */
  }
  /* the client stops: gone from every node within the TTL (plus a tick) */
  uint64_t t0 = h_now_ms();
  wait_state(&b, "leased", false, TTL * 1000 + 1500);
  wait_state(&c, "leased", false, 1000);
  wait_state(&a, "leased", false, 1000);
  assert_true(h_now_ms() - t0 <= TTL * 1000 + 1500);
  /* and the node let go of it */
  assert_int_equal(h_err(&a, "record.renew", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "leased")), -32004);
}

static long long repl_runs(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  long long r = json_integer_value(json_object_get(json_object_get(info, "replication"), "runs"));
  json_decref(info);
  return r;
}

static void test_withdraw_beats_stale_copies(void **state) {
  /* b pins the resource: its replication task re-puts live entries of
   * other nodes that it finds missing, and its cache holds the record */
  json_decref(h_ok(&b, "resource.pin", json_pack("{s:s}", "resource_id", rid)));
  /* several versions of the record, each under its own value id (their
   * contents differ), are stored in the DHT: with three nodes, every node
   * stores every value */
  for (int i = 0; i < 4; i++) {
    json_decref(h_ok(&a, "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i, s:i}", "resource_id", rid, "service_id", "stale",
                               "host", "10.0.0.1", "port", 8000 + i, "ttl", 60)));
  }
  wait_state(&c, "stale", true, 5000);
  wait_state(&b, "stale", true, 5000);
  json_decref(h_ok(&a, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "stale")));
  wait_state(&b, "stale", false, 5000);
  wait_state(&c, "stale", false, 5000);
  /* it stays withdrawn while the replication task (and the maintenance
   * task) run on every node, twice at least after the withdrawal */
  long long ra = repl_runs(&a) + 2, rb = repl_runs(&b) + 2, rc = repl_runs(&c) + 2;
  uint64_t end = h_now_ms() + 10000;
  while (repl_runs(&a) < ra || repl_runs(&b) < rb || repl_runs(&c) < rc) {
    if (h_now_ms() > end) fail_msg("the replication task did not run twice on every node in 10 s");
    assert_false(h_resolve_has(&b, rid, "stale"));
    assert_false(h_resolve_has(&c, rid, "stale"));
    assert_false(h_resolve_has(&a, rid, "stale"));
  }
  assert_false(h_resolve_has(&b, rid, "stale"));
  assert_false(h_resolve_has(&c, rid, "stale"));
  assert_false(h_resolve_has(&a, rid, "stale"));
  json_decref(h_ok(&b, "resource.unpin", json_pack("{s:s}", "resource_id", rid)));
}

static long long tombstones(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  long long t = json_integer_value(json_object_get(json_object_get(info, "entries"), "tombstones"));
  json_decref(info);
  return t;
}

static void test_tombstone_is_collected(void **state) {
  long long before = tombstones(&a);
  advertise(&a, "short", 2, false, "http");
  json_decref(h_ok(&a, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "short")));
  assert_int_equal(tombstones(&a), before + 1);
  json_t *info;
  uint64_t end = h_now_ms() + 5000;
  long long left = -1;
  while (h_now_ms() < end) {
    info = h_ok(&a, "node.info", NULL);
    left = json_integer_value(json_object_get(json_object_get(info, "entries"), "tombstones"));
    json_decref(info);
    if (left == before) break;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(left, before);
}

static void test_discover(void **state) {
  advertise(&b, "d-http-1", 60, false, "http");
  advertise(&c, "d-http-2", 60, false, "http");
  advertise(&c, "d-grpc", 60, false, "grpc");
  wait_state(&a, "d-grpc", true, 5000);
  wait_state(&a, "d-http-1", true, 5000);
  int seen1 = 0, seen2 = 0;
  for (int i = 0; i < 60; i++) {
    json_t *r = h_ok(&a, "discover", json_pack("{s:s, s:s}", "resource_id", rid, "type", "http"));
    const char *sid = json_string_value(json_object_get(r, "service_id"));
    assert_string_equal(json_string_value(json_object_get(r, "type")), "http");
    seen1 += strcmp(sid, "d-http-1") == 0;
    seen2 += strcmp(sid, "d-http-2") == 0;
    json_decref(r);
  }
  assert_true(seen1 > 0 && seen2 > 0); /* spread over both (p of failing: 2^-59) */
  json_t *r = h_ok(&a, "discover", json_pack("{s:s, s:s}", "resource_id", rid, "type", "grpc"));
  assert_string_equal(json_string_value(json_object_get(r, "service_id")), "d-grpc");
  json_decref(r);
  assert_int_equal(h_err(&a, "discover", json_pack("{s:s, s:s}", "resource_id", rid, "type", "smtp")), -32004);
}

static void test_graceful_stop_withdraws(void **state) {
  h_node d;
  start(&d, "d", 3);
  advertise(&d, "graceful", 60, false, "http");
  advertise(&d, "graceful-lease", 60, true, "http");
  wait_state(&b, "graceful", true, 5000);
  wait_state(&b, "graceful-lease", true, 5000);
  uint64_t t0 = h_now_ms();
  h_node_signal(&d, SIGTERM);
  int st = h_node_wait(&d, 10000);
  assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  wait_state(&b, "graceful", false, 3000);
  wait_state(&c, "graceful-lease", false, 3000);
  assert_true(h_now_ms() - t0 < 5000);
}

static void test_kill_9_expires_at_ttl(void **state) {
  h_node e;
  start(&e, "e", 4);
  advertise(&e, "crashed", TTL, false, "http");
  wait_state(&b, "crashed", true, 5000);
  h_node_signal(&e, SIGKILL);
  h_node_wait(&e, 5000);
  /* no tombstone: the last signed version lives out its TTL, then is gone */
  wait_state(&b, "crashed", false, TTL * 1000 + 1500);
  wait_state(&c, "crashed", false, 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_renewal_keeps_a_record_alive),
      cmocka_unit_test(test_lease_needs_renewals),
      cmocka_unit_test(test_withdraw_beats_stale_copies),
      cmocka_unit_test(test_tombstone_is_collected),
      cmocka_unit_test(test_discover),
      cmocka_unit_test(test_graceful_stop_withdraws),
      cmocka_unit_test(test_kill_9_expires_at_ttl),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
