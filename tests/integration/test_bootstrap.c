/* test_bootstrap.c - bootstrap addresses: a warning in the log for each one where no DHT node answers, naming it, 5 s after, and none for those that answer */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define WARNING "no DHT node has answered at "

typedef struct in_log {
  const h_node *n;
  char needle[200];
} in_log;

static bool logged(void *ctx) {
  in_log *w = ctx;
  return h_log_has(w->n, w->needle);
}

/* Waits (bounded) for the warning about addr in n's log; returns how long
 * after since_ms it came. */
static uint64_t wait_warning(const h_node *n, const char *addr, uint64_t since_ms) {
  in_log w = {.n = n};
  snprintf(w.needle, sizeof w.needle, WARNING "%s ", addr);
  if (!h_wait_for(logged, &w, 15000)) fail_msg("%s: no warning about %s in %s", n->name, addr, n->log);
  return h_now_ms() - since_ms;
}

static void expect_no_warning(const h_node *n, const char *addr) {
  char needle[200];
  snprintf(needle, sizeof needle, WARNING "%s ", addr);
  if (h_log_has(n, needle)) fail_msg("%s warned about %s, which answered", n->name, addr);
}

/* Joined through a live node, given a dead address and a node of another
 * network too: each silent address is named, 5 s after it was given, the
 * live one is not; the node is joined and ready all the same. */
static void test_warns_for_silent_addresses_only(void **state) {
  h_node live, other, c;
  char live_addr[64], other_addr[64], dead[32];
  h_node_start(&live, "live", NULL);
  h_node_start(&other, "other-net", (const char *[]){"--network", "7", NULL});
  h_addr(&live, live_addr, sizeof live_addr);
  h_addr(&other, other_addr, sizeof other_addr);
  snprintf(dead, sizeof dead, "127.0.0.1:%u", h_free_udp_port());
  uint64_t t0 = h_now_ms();
  h_node_start(&c, "c", (const char *[]){"--bootstrap", live_addr, "--bootstrap", dead, "--bootstrap", other_addr,
                                         NULL});
  uint64_t took = wait_warning(&c, dead, t0);
  assert_true(took >= 5000);
  wait_warning(&c, other_addr, t0);
  expect_no_warning(&c, live_addr);
  assert_true(h_log_has(&c, "(the node has peers through other addresses)"));
  assert_true(h_wait_for(h_ready_pred, &c, 10000));

  /* given at run time: the same, from the call on */
  char dead2[32];
  snprintf(dead2, sizeof dead2, "127.0.0.1:%u", h_free_udp_port());
  uint64_t t1 = h_now_ms();
  json_decref(h_ok(&c, "node.bootstrap", json_pack("{s:[s,s]}", "addresses", dead2, live_addr)));
  took = wait_warning(&c, dead2, t1);
  assert_true(took >= 5000);
  expect_no_warning(&c, live_addr);
}

/* Every address answers: no warning. Checked once the warning about an
 * address given after them has come, so their 5 s have passed. */
static void test_no_warning_when_all_answer(void **state) {
  h_node a, b, d;
  char a_addr[64], b_addr[64], dead[32];
  h_node_start(&a, "a", NULL);
  h_addr(&a, a_addr, sizeof a_addr);
  h_node_start(&b, "b", (const char *[]){"--bootstrap", a_addr, NULL});
  h_addr(&b, b_addr, sizeof b_addr);
  h_node_start(&d, "d", (const char *[]){"--bootstrap", a_addr, "--bootstrap", b_addr, NULL});
  snprintf(dead, sizeof dead, "127.0.0.1:%u", h_free_udp_port());
  json_decref(h_ok(&d, "node.bootstrap", json_pack("{s:[s]}", "addresses", dead)));
  wait_warning(&d, dead, h_now_ms());
  expect_no_warning(&d, a_addr);
  expect_no_warning(&d, b_addr);
  expect_no_warning(&b, a_addr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_warns_for_silent_addresses_only),
      cmocka_unit_test(test_no_warning_when_all_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
