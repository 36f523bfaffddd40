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

/* Messages that say the real cause. */
static void test_messages_name_the_cause(void **state) {
  /* 65 bootstrap addresses: the limit, not the 65th address */
  static char many[65 * 24];
  size_t used = 0;
  for (int i = 0; i < 65; i++) used += (size_t)snprintf(many + used, sizeof many - used, "127.0.0.1:%d ", 20001 + i);
  setenv("DHTREG_BOOTSTRAP", many, 1);
  expect_refusal("many", NULL, 2, "DHTREG_BOOTSTRAP: more than 64 addresses");
  unsetenv("DHTREG_BOOTSTRAP");
  /* --clock-skew 0 is refused, not silently 60 */
  expect_refusal("skew0", (const char *[]){"--clock-skew", "0", NULL}, 2, "--clock-skew: '0' is not a number of seconds (1-86400)");
  /* a socket in a directory that does not exist: said so, not "permission denied" */
  expect_refusal("nodir", (const char *[]){"--rpc-socket", "/nonexistent-dir/x.sock", NULL}, 1,
                 "no such directory /nonexistent-dir");
  /* a socket in a directory others may write */
  char dir[300], sock[340];
  snprintf(dir, sizeof dir, "%s/open", h_tmpdir());
  mkdir(dir, 0777);
  chmod(dir, 0777);
  snprintf(sock, sizeof sock, "%s/x.sock", dir);
  expect_refusal("opendir", (const char *[]){"--rpc-socket", sock, NULL}, 1, "writable by others");
}

/* A TTL out of range gets one message, whichever end; a bootstrap name that
 * does not resolve is an error of node.bootstrap and a warning in the log. */
static void test_ttl_and_bootstrap_messages(void **state) {
  h_node n;
  h_node_start(&n, "msgs", NULL);
  json_t *r = h_ok(&n, "resource.id", json_pack("{s:s}", "label", "x"));
  char rid[64];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  const int ttls[] = {0, 10, 86401};
  for (int i = 0; i < 3; i++) {
    json_t *resp = h_call(&n, "record.advertise", json_pack("{s:s, s:s, s:i}", "resource_id", rid,
                                                            "service_id", "s", "ttl", ttls[i]));
    assert_int_equal(h_error_code(resp), -32602);
    assert_string_equal(h_error_message(resp), "invalid param ttl: must be between 30 and 86400 seconds");
    json_decref(resp);
  }
  json_t *resp = h_call(&n, "node.bootstrap", json_pack("{s:[s]}", "addresses", "no-such-host.invalid:4222"));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "cannot resolve no-such-host.invalid"));
  json_decref(resp);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "grep -q 'bootstrap address cannot resolve no-such-host.invalid' '%s'", n.log);
  assert_int_equal(system(cmd), 0);
  /* one that resolves but never answers: a warning within seconds, naming it */
  char quiet[32];
  snprintf(quiet, sizeof quiet, "127.0.0.1:%u", h_free_udp_port());
  json_decref(h_ok(&n, "node.bootstrap", json_pack("{s:[s]}", "addresses", quiet)));
  snprintf(cmd, sizeof cmd, "grep -q 'no DHT node has answered.*%s' '%s'", quiet, n.log);
  uint64_t end = h_now_ms() + 15000;
  while (system(cmd) != 0) {
    if (h_now_ms() > end) fail_msg("no warning about %s in the log", quiet);
    usleep(100000);
  }
  /* not ready meanwhile: it was asked to join and has no peers */
  json_t *h = h_ok(&n, "health", NULL);
  assert_false(json_is_true(json_object_get(h, "ready")));
  json_decref(h);
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
      cmocka_unit_test(test_messages_name_the_cause),
      cmocka_unit_test(test_ttl_and_bootstrap_messages),
      cmocka_unit_test(test_loose_key_file_refused),
      cmocka_unit_test(test_corrupt_key_file_refused),
      cmocka_unit_test(test_port_and_socket_in_use),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
