/* test_flags.c - bad flags, bad environment and bad files: a one-line reason and a non-zero exit */
#include <setjmp.h>
#include <signal.h>
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
  /* where the flags are listed follows the reason */
  h_node n;
  int status;
  h_node_try_start(&n, "usage", (const char *[]){"--port", "x", NULL}, &status);
  assert_non_null(strstr(slurp(n.log), "dhtregd --help lists the flags"));
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
  expect_refusal("second", (const char *[]){"--port", port, NULL}, 1, "Address already in use");
  expect_refusal("third", (const char *[]){"--rpc-socket", a.sock, NULL}, 1, "another node is serving");
  /* an HTTP port in use: its errno, naming the flag */
  char busy[32];
  snprintf(busy, sizeof busy, "127.0.0.1:%u", h_free_tcp_port());
  h_node h;
  h_node_start(&h, "http1", (const char *[]){"--http-listen", busy, NULL});
  expect_refusal("http2", (const char *[]){"--http-listen", busy, NULL}, 1,
                 "cannot listen on 127.0.0.1");
  expect_refusal("http2", (const char *[]){"--http-listen", busy, NULL}, 1,
                 "(--http-listen): Address already in use");
  /* and the first is unharmed */
  json_decref(h_ok(&a, "health", NULL));
  json_decref(h_ok(&h, "health", NULL));
}

/* Every flag has a variable; the command line wins over it; a bad value is
 * refused naming the variable. */
static void test_environment_per_flag(void **state) {
  setenv("DHTREG_NETWORK", "abc", 1);
  expect_refusal("env-network", NULL, 2, "DHTREG_NETWORK: 'abc' is not a number");
  unsetenv("DHTREG_NETWORK");
  setenv("DHTREG_MAX_STORE", "0", 1);
  expect_refusal("env-store", NULL, 2, "DHTREG_MAX_STORE: '0' is not 1-2047 MB");
  unsetenv("DHTREG_MAX_STORE");
  setenv("DHTREG_EPHEMERAL", "maybe", 1);
  expect_refusal("env-eph", NULL, 2, "DHTREG_EPHEMERAL: 'maybe' is not 1/true/yes or 0/false/no");
  unsetenv("DHTREG_EPHEMERAL");
  setenv("DHTREG_HTTP_LISTEN", "10.1.2.3:9422", 1);
  expect_refusal("env-http", NULL, 2, "add --http-any-address");
  unsetenv("DHTREG_HTTP_LISTEN");
  expect_refusal("rpc-group", (const char *[]){"--rpc-group", "no-such-group-here", NULL}, 2,
                 "--rpc-group: no group 'no-such-group-here'");
  expect_refusal("log-format", (const char *[]){"--log-format", "xml", NULL}, 2, "'xml' is not text or json");
  /* the flag wins: a bad variable under a good flag is not read */
  setenv("DHTREG_CLOCK_SKEW", "0", 1);
  setenv("DHTREG_LOG_FORMAT", "json", 1);
  h_node n;
  h_node_start(&n, "env-wins", (const char *[]){"--clock-skew", "5", NULL});
  unsetenv("DHTREG_CLOCK_SKEW");
  unsetenv("DHTREG_LOG_FORMAT");
  json_t *info = h_ok(&n, "node.info", NULL);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "clock"), "tolerance_s")), 5);
  json_decref(info);
  /* DHTREG_LOG_FORMAT=json: every line of its log is a JSON object */
  FILE *f = fopen(n.log, "r");
  assert_non_null(f);
  char line[2048];
  int lines = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "==", 2) == 0) continue; /* valgrind's, under scripts/check.sh */
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    if (!o) fail_msg("not a JSON line: %s", line);
    assert_non_null(json_string_value(json_object_get(o, "msg")));
    assert_non_null(json_string_value(json_object_get(o, "level")));
    assert_non_null(json_string_value(json_object_get(o, "time")));
    json_decref(o);
    lines++;
  }
  fclose(f);
  assert_true(lines > 0);
}

/* An ephemeral node with a fresh DHTREG_HOME, parents missing too: the
 * directory is made (0700) and the socket is there. */
static void test_ephemeral_fresh_home(void **state) {
  char home[300], sock[340], log[340];
  snprintf(home, sizeof home, "%s/fresh/a/b", h_tmpdir());
  snprintf(sock, sizeof sock, "%s/rpc.sock", home);
  snprintf(log, sizeof log, "%s/fresh.log", h_tmpdir());
  setenv("DHTREG_HOME", home, 1);
  char *argv[] = {DR_BIN_DIR "/dhtregd", "--ephemeral", "--port", "0", NULL};
  pid_t pid = h_spawn(argv, log);
  unsetenv("DHTREG_HOME");
  struct stat st;
  uint64_t end = h_now_ms() + 10000;
  while (stat(sock, &st) < 0) {
    if (h_now_ms() > end) fail_msg("no socket at %s; log:\n%s", sock, slurp(log));
    usleep(20000);
  }
  assert_int_equal(stat(home, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  kill(pid, SIGTERM);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
      cmocka_unit_test(test_environment_per_flag),
      cmocka_unit_test(test_ephemeral_fresh_home),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
