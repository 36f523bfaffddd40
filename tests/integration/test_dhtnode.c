/* test_dhtnode.c - two dhtreg nodes that know only a stock OpenDHT dhtnode find each other through it */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define DHTNODE "/usr/bin/dhtnode"

static h_node a, b;
static char rid[64];

static bool b_sees_record(void *ctx) {
  (void)ctx;
  return h_resolve_has(&b, rid, "db-1");
}

static void test_bootstrap_through_dhtnode(void **state) {
  char port[8], boot[32], log[300];
  uint16_t p = h_free_udp_port();
  snprintf(port, sizeof port, "%u", p);
  snprintf(boot, sizeof boot, "127.0.0.1:%u", p);
  snprintf(log, sizeof log, "%s/dhtnode.log", h_tmpdir());
  char *argv[] = {DHTNODE, "-s", "-p", port, NULL};
  assert_true(h_spawn(argv, log) > 0);

  const char *args[] = {"--bootstrap", boot, NULL};
  h_node_start(&a, "a", args);
  h_node_start(&b, "b", args);

  json_t *res = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "db"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(res, "resource_id")));
  json_decref(res);
  json_decref(h_ok(&a, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", "db-1",
                             "host", "10.9.9.9", "port", 5432)));
  assert_true(h_wait_for(b_sees_record, NULL, 20000));
  json_t *r = h_ok(&b, "resolve", json_pack("{s:s}", "resource_id", rid));
  assert_string_equal(json_string_value(json_object_get(json_object_get(r, "resource"), "owner")),
                      a.peer_id);
  json_decref(r);
}

int main(void) {
  if (access(DHTNODE, X_OK) != 0) {
    fprintf(stderr, "%s is missing: install the Debian package dhtnode\n", DHTNODE);
    return 1;
  }
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bootstrap_through_dhtnode)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
