/* test_clock.c - a node whose clock is off (libfaketime): within the tolerance nothing changes, beyond it the node says so and publishes nothing that would arrive expired
 *
 * Three nodes with the machine's clock (a, b, d) advertise into one
 * resource; a fourth (c) runs under libfaketime (Debian's faketime) ahead
 * of or behind them. Skips when libfaketime is not installed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
#define TTL 30

static h_node a, b, d;
static char rid[64], boot[32];
static int generation;

static const char *const fast[] = {"--min-ttl", "1", "--tick-ms", "100", NULL};

static void advertise(const h_node *n, const char *sid) {
  json_decref(h_ok(n, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i, s:i}", "resource_id", rid, "service_id", sid,
                             "host", "10.1.1.1", "port", 80, "ttl", TTL)));
}

static int setup(void **state) {
  if (access(FAKETIME_LIB, R_OK) != 0) return 0;
  h_node_start(&a, "a", fast);
  h_addr(&a, boot, sizeof boot);
  const char *args[] = {"--bootstrap", boot, "--min-ttl", "1", "--tick-ms", "100", NULL};
  h_node_start(&b, "b", args);
  h_node_start(&d, "d", args);
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "clock"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

/* Starts c offset seconds off the machine's clock. */
static void start_c_named(h_node *c, const char *name, long offset);

static void start_c(h_node *c, long offset) {
  char name[48];
  snprintf(name, sizeof name, "c%d", ++generation % 100);
  start_c_named(c, name, offset);
}

static void start_c_named(h_node *c, const char *name, long offset) {
  char wrap[1024], *saved = NULL;
  const char *prev = getenv("DR_NODE_WRAPPER"), *asan = getenv("ASAN_OPTIONS");
  if (prev) saved = strdup(prev);
  /* under ASan, libfaketime is preloaded ahead of its runtime: allowed */
  snprintf(wrap, sizeof wrap, "env LD_PRELOAD=%s FAKETIME=%+lds FAKETIME_DONT_FAKE_MONOTONIC=1 "
           "FAKETIME_NO_CACHE=1 ASAN_OPTIONS=%s%sverify_asan_link_order=0", FAKETIME_LIB, offset,
           asan ? asan : "", asan ? ":" : "");
  setenv("DR_NODE_WRAPPER", wrap, 1);
  h_node_start(c, name, (const char *[]){"--bootstrap", boot, "--min-ttl", "1", "--tick-ms", "100", NULL});
  if (saved) setenv("DR_NODE_WRAPPER", saved, 1);
  else unsetenv("DR_NODE_WRAPPER");
  free(saved);
}

/* The others advertise afresh, and c reads them: its estimate's samples. */
static void others_advertise(void) {
  char sid[64];
  const h_node *ns[] = {&a, &b, &d};
  for (int i = 0; i < 3; i++) {
    snprintf(sid, sizeof sid, "%s-%d", ns[i]->name, generation);
    advertise(ns[i], sid);
  }
}

typedef struct clock_view {
  h_node *c;
  bool ok;
  long long offset, correction;
} clock_view;

static bool estimated(void *ctx) {
  clock_view *v = ctx;
  json_decref(h_call(v->c, "resolve", json_pack("{s:s}", "resource_id", rid)));
  json_t *info = h_ok(v->c, "node.info", NULL);
  json_t *clk = json_object_get(info, "clock");
  bool have = json_integer_value(json_object_get(clk, "issuers")) >= 3;
  v->ok = json_is_true(json_object_get(clk, "ok"));
  v->offset = json_integer_value(json_object_get(clk, "offset_s"));
  v->correction = json_integer_value(json_object_get(clk, "correction_s"));
  json_decref(info);
  return have;
}

static void stop(h_node *c) {
  h_node_signal(c, SIGTERM);
  h_node_wait(c, 10000);
}

/* Starts c offset seconds off, lets it read the others' fresh entries, and
 * returns its estimate once it rests on all three of them (within 20 s of
 * the truth). */
static clock_view estimate_of_c(h_node *c, long offset) {
  start_c(c, offset);
  others_advertise();
  clock_view v = {c, false, 0, 0};
  assert_true(h_wait_for(estimated, &v, 10000));
  print_message("c %+ld s: estimate %+lld s\n", offset, v.offset);
  assert_true(v.offset > offset - 20 && v.offset < offset + 20);
  return v;
}

typedef struct want_correction {
  clock_view v;
  long offset; /* c's clock minus the machine's */
} want_correction;

static bool corrected(void *ctx) {
  want_correction *w = ctx;
  estimated(&w->v);
  return llabs(w->v.correction - w->offset) <= 2;
}

/* Within the tolerance: c corrects its clock by its offset, its
 * short-lived records resolve elsewhere, c sees the others', and c is
 * ready with no clock warning. */
static void within(long offset) {
  h_node c;
  if (access(FAKETIME_LIB, R_OK) != 0) skip();
  assert_true(estimate_of_c(&c, offset).ok);
  want_correction w = {{&c, false, 0, 0}, offset};
  if (!h_wait_for(corrected, &w, 10000))
    fail_msg("c, %+ld s off, corrects its clock by %+lld s", offset, w.v.correction);
  if (!h_wait_for(h_ready_pred, &c, 10000)) {
    json_t *h = h_ok(&c, "health", NULL);
    fail_msg("c is not ready: %s", json_dumps(h, JSON_COMPACT));
  }
  char sid[32];
  snprintf(sid, sizeof sid, "c-%d", generation);
  advertise(&c, sid);
  h_has has = {&a, rid, sid};
  assert_true(h_wait_for(h_resolves, &has, 10000));
  /* a record of a clock 30 s behind with a TTL of 30 s is not expired on arrival */
  assert_true(h_resolve_count(&c, rid) >= 3);
  stop(&c);
}

/* Beyond it: c says so (node.info, health, log), and when behind refuses
 * to publish a record that would arrive expired. */
static void beyond(long offset) {
  h_node c;
  if (access(FAKETIME_LIB, R_OK) != 0) skip();
  assert_false(estimate_of_c(&c, offset).ok);
  assert_false(h_ready(&c));
  json_t *h = h_ok(&c, "health", NULL);
  const char *w = json_string_value(json_array_get(json_object_get(h, "warnings"), 0));
  assert_non_null(w);
  assert_non_null(strstr(w, offset < 0 ? "behind" : "ahead"));
  json_decref(h);
  assert_true(h_log_has(&c, "this node's clock seems"));
  /* the others are unmoved */
  assert_true(h_ready(&a));
  if (offset < 0) {
    json_t *r = h_call(&c, "record.advertise",
                       json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", "late",
                                 "host", "10.1.1.2", "ttl", TTL));
    assert_int_equal(h_error_code(r), -32603);
    assert_non_null(strstr(h_error_message(r), "clock"));
    json_decref(r);
    json_t *l = h_ok(&c, "list", NULL);
    assert_int_equal(json_array_size(json_object_get(l, "records")), 0);
    json_decref(l);
  }
  stop(&c);
}

/* A clock that stepped back a day behind what the node signed before: its
 * own history says so, whatever the others' entries say. */
static void test_stepped_back(void **state) {
  h_node e;
  if (access(FAKETIME_LIB, R_OK) != 0) skip();
  h_node_start(&e, "stepped", (const char *[]){"--bootstrap", boot, NULL});
  advertise(&e, "before-the-step");
  h_node_signal(&e, SIGTERM);
  h_node_wait(&e, 10000);
  start_c_named(&e, "stepped", -86400);
  json_t *r = h_call(&e, "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", "after-the-step",
                               "host", "10.1.1.3", "ttl", 300));
  assert_int_equal(h_error_code(r), -32603);
  assert_non_null(strstr(h_error_message(r), "clock"));
  json_decref(r);
  assert_true(h_log_has(&e, "behind the newest entry it signed before"));
  stop(&e);
}

static void test_ahead_within(void **state) {
  within(30);
}

static void test_behind_within(void **state) {
  within(-30);
}

static void test_ahead_beyond(void **state) {
  beyond(120);
}

static void test_behind_beyond(void **state) {
  beyond(-120);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ahead_within),
      cmocka_unit_test(test_behind_within),
      cmocka_unit_test(test_ahead_beyond),
      cmocka_unit_test(test_behind_beyond),
      cmocka_unit_test(test_stepped_back),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
