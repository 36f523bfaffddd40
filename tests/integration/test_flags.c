/* test_flags.c - bad flags, bad environment and bad files: a one-line reason and a non-zero exit */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

static char *slurp(const char *path) {
  static char buf[8192];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  return buf;
}

/* Starts dhtregd with args and expects it to exit with status want and a
 * log that contains text. */
static void expect_refusal(const char *name, const char *const *args, int want, const char *text) {
  h_node n;
  int status = 0;
  assert_int_equal(h_node_try_start(&n, name, args, &status), -1);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), want);
  const char *log = slurp(n.log);
  if (!strstr(log, text)) fail_msg("%s: expected \"%s\" in:\n%s", name, text, log);
}

static void test_bad_flags(void **state) {
  expect_refusal("port-word", (const char *[]){"--port", "abc", NULL}, 2, "--port: 'abc' is not a port");
  expect_refusal("port-big", (const char *[]){"--port", "70000", NULL}, 2, "is not a port");
  expect_refusal("port-neg", (const char *[]){"--port", "-1", NULL}, 2, "is not a port");
  expect_refusal("boot", (const char *[]){"--bootstrap", "nocolon", NULL}, 2, "'nocolon' is not HOST:PORT");
  expect_refusal("boot0", (const char *[]){"--bootstrap", "127.0.0.1:0", NULL}, 2, "is not HOST:PORT");
  expect_refusal("level", (const char *[]){"--log-level", "loud", NULL}, 2, "'loud' is not one of");
  expect_refusal("unknown", (const char *[]){"--frobnicate", NULL}, 2, "unknown option '--frobnicate'");
  expect_refusal("missing", (const char *[]){"--network", NULL}, 2, "--network needs a value");
  expect_refusal("network", (const char *[]){"--network", "x1", NULL}, 2, "--network: 'x1' is not a number");
  expect_refusal("listen", (const char *[]){"--rpc-listen", "10.0.0.1:8500", NULL}, 2, "is not a loopback");
  expect_refusal("positional", (const char *[]){"extra", NULL}, 2, "unexpected argument 'extra'");
  /* usage follows the reason */
  h_node n;
  int status;
  h_node_try_start(&n, "usage", (const char *[]){"--port", "x", NULL}, &status);
  assert_non_null(strstr(slurp(n.log), "usage: dhtregd"));
}

static void test_bad_environment(void **state) {
  setenv("DHTREG_BOOTSTRAP", "127.0.0.1:4000, broken", 1);
  expect_refusal("env", NULL, 2, "DHTREG_BOOTSTRAP: 'broken' is not HOST:PORT");
  unsetenv("DHTREG_BOOTSTRAP");
}

static void test_loose_key_file_refused(void **state) {
  h_node n;
  h_node_start(&n, "keyed", NULL);
  h_node_signal(&n, SIGTERM);
  assert_true(h_node_wait(&n, 10000) >= 0);
  char key[400];
  snprintf(key, sizeof key, "%s/identity.key", n.dir);
  assert_int_equal(chmod(key, 0644), 0);
  expect_refusal("keyed", NULL, 1, "chmod 600");
  /* fixed as told, the node starts again with the same identity */
  assert_int_equal(chmod(key, 0600), 0);
  char before[64];
  snprintf(before, sizeof before, "%s", n.peer_id);
  h_node_start(&n, "keyed", NULL);
  assert_string_equal(n.peer_id, before);
}

static void test_corrupt_key_file_refused(void **state) {
  char dir[300], key[400];
  snprintf(dir, sizeof dir, "%s/corrupt", h_tmpdir());
  mkdir(dir, 0700);
  snprintf(key, sizeof key, "%s/identity.key", dir);
  FILE *f = fopen(key, "w");
  assert_non_null(f);
  fputs("not a key\n", f);
  fclose(f);
  chmod(key, 0600);
  expect_refusal("corrupt", NULL, 1, "is corrupt");
}

static void test_port_and_socket_in_use(void **state) {
  h_node a;
  char port[8];
  h_node_start(&a, "first", NULL);
  snprintf(port, sizeof port, "%u", a.port);
  expect_refusal("second", (const char *[]){"--port", port, NULL}, 1, "cannot start the DHT on UDP port");
  expect_refusal("third", (const char *[]){"--rpc-socket", a.sock, NULL}, 1, "another node is serving");
  /* and the first is unharmed */
  json_decref(h_ok(&a, "health", NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_flags),
      cmocka_unit_test(test_bad_environment),
      cmocka_unit_test(test_loose_key_file_refused),
      cmocka_unit_test(test_corrupt_key_file_refused),
      cmocka_unit_test(test_port_and_socket_in_use),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
