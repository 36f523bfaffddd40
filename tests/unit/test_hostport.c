/* test_hostport.c - parsing HOST:PORT bootstrap addresses */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "node/node.h"

static void test_accepts(void **state) {
  char host[64], port[8];
  assert_int_equal(dr_split_hostport("127.0.0.1:4222", host, sizeof host, port, sizeof port), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_string_equal(port, "4222");
  assert_int_equal(dr_split_hostport("[::1]:4222", host, sizeof host, port, sizeof port), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(dr_split_hostport("localhost:1", host, sizeof host, port, sizeof port), 0);
  assert_string_equal(host, "localhost");
  assert_string_equal(port, "1");
}

static void test_rejects(void **state) {
  char host[64], port[8];
  const char *bad[] = {"127.0.0.1", ":4222", "host:", "host:0", "host:65536", "host:12a",
                       "::1:4222", "[::1]4222", "[::1:4222", "host:-1", "host:+5", "", NULL};
  for (const char **b = bad; *b; b++)
    if (dr_split_hostport(*b, host, sizeof host, port, sizeof port) == 0) fail_msg("accepted %s", *b);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_accepts), cmocka_unit_test(test_rejects)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
