/* test_datadir.c - one node per data dir (a lock), data dirs and keys of other users refused, a socket of another user refused by the CLI */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define NOBODY 65534

static char *slurp(const char *path, size_t *len) {
  static char buf[1 << 20];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

/* Starts dhtregd with args in a data dir of its own (name) and expects it
 * to exit 1 with text in its log. */
static void expect_refusal(const char *name, const char *const *args, const char *text) {
  h_node n;
  int status = 0;
  assert_int_equal(h_node_try_start(&n, name, args, &status), -1);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1);
  const char *log = slurp(n.log, NULL);
  if (!strstr(log, text)) fail_msg("%s: expected \"%s\" in:\n%s", name, text, log);
}

static void advertise(const h_node *n, const char *rid, const char *sid) {
  json_decref(h_ok(n, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", sid, "host",
                             "10.0.0.1", "port", 80)));
}

/* A second dhtregd on a live node's data dir (with a socket of its own) is
 * refused before it reads or writes anything there: the journal is the
 * same byte for byte, and the first node's advertisements are all there
 * after its own restart. */
static void test_two_daemons_one_dir(void **state) {
  h_node a;
  char rid[64], log_path[400], pid[32], sock2[300], args_dir[300];
  h_node_start(&a, "a", NULL);
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "web"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  for (int i = 0; i < 20; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "web-%d", i);
    advertise(&a, rid, sid);
  }
  snprintf(log_path, sizeof log_path, "%s/state.log", a.dir);
  size_t len0;
  char *journal = slurp(log_path, &len0);
  char *before = malloc(len0 + 1);
  memcpy(before, journal, len0);

  /* the same data dir, another socket: refused, naming a's pid */
  snprintf(sock2, sizeof sock2, "%s/second.sock", h_tmpdir());
  snprintf(args_dir, sizeof args_dir, "%s", a.dir);
  snprintf(pid, sizeof pid, "pid %d", (int)a.pid);
  h_node b;
  int status = 0;
  char *argv[] = {DR_BIN_DIR "/dhtregd", "--port", "0", "--data-dir", args_dir, "--rpc-socket",
                  sock2, NULL};
  char blog[400];
  snprintf(blog, sizeof blog, "%s/second.log", h_tmpdir());
  pid_t p = h_spawn(argv, blog);
  assert_true(p > 0);
  assert_int_equal(waitpid(p, &status, 0), p);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  const char *out = slurp(blog, NULL);
  if (!strstr(out, "in use by another dhtregd") || !strstr(out, pid))
    fail_msg("expected a refusal naming %s, got:\n%s", pid, out);
  size_t len1;
  journal = slurp(log_path, &len1);
  assert_int_equal(len1, len0);
  assert_memory_equal(journal, before, len0);
  free(before);
  (void)b;

  /* another data dir, a's socket: refused before its data dir is even made */
  char other[300];
  snprintf(other, sizeof other, "%s/third", h_tmpdir());
  char *argv3[] = {DR_BIN_DIR "/dhtregd", "--port", "0", "--data-dir", other, "--rpc-socket", a.sock, NULL};
  snprintf(blog, sizeof blog, "%s/third.log", h_tmpdir());
  p = h_spawn(argv3, blog);
  assert_int_equal(waitpid(p, &status, 0), p);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  assert_non_null(strstr(slurp(blog, NULL), "another node is serving"));
  struct stat st;
  assert_int_equal(stat(other, &st), -1);

  /* a still has all 20 after a restart of its own */
  h_node_signal(&a, SIGTERM);
  assert_true(h_node_wait(&a, 10000) >= 0);
  h_node_start(&a, "a", NULL);
  json_t *list = h_ok(&a, "list", NULL);
  assert_int_equal(json_array_size(json_object_get(list, "records")), 20);
  json_decref(list);
}

/* A data dir another user prepared, with a key of theirs, is refused with
 * the chown that fixes it; so is one open to others, with the chmod. */
static void test_foreign_dir_and_key(void **state) {
  char dir[300], key[400];
  if (geteuid() != 0) skip();
  /* the key of another user in a dir of another user (mode 755) */
  snprintf(dir, sizeof dir, "%s/hers", h_tmpdir());
  assert_int_equal(mkdir(dir, 0755), 0);
  snprintf(key, sizeof key, "%s/identity.key", dir);
  int fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  const char *text = "# dhtreg identity\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  assert_int_equal(chown(key, NOBODY, NOBODY), 0);
  assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
  expect_refusal("hers", NULL, "belongs to uid 65534");
  expect_refusal("hers", NULL, "chown -R 0");
  /* ours, but open to others */
  assert_int_equal(chown(dir, 0, 0), 0);
  expect_refusal("hers", NULL, "chmod 700");
  /* ours and private, but the key is still hers */
  assert_int_equal(chmod(dir, 0700), 0);
  expect_refusal("hers", NULL, "identity key");
  expect_refusal("hers", NULL, "belongs to uid 65534");
  /* fixed as told, it starts with that key */
  assert_int_equal(chown(key, 0, 0), 0);
  h_node n;
  h_node_start(&n, "hers", NULL);
  assert_string_equal(n.peer_id, "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF");
}

/* A state file open to others is refused too. */
static void test_loose_state_file(void **state) {
  h_node n;
  char path[400], rid[64];
  h_node_start(&n, "loose", NULL);
  json_t *r = h_ok(&n, "resource.create", json_pack("{s:s}", "label", "x"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  advertise(&n, rid, "x-1");
  h_node_signal(&n, SIGTERM);
  assert_true(h_node_wait(&n, 10000) >= 0);
  snprintf(path, sizeof path, "%s/state.log", n.dir);
  assert_int_equal(chmod(path, 0644), 0);
  expect_refusal("loose", NULL, "chmod 600");
  assert_int_equal(chmod(path, 0600), 0);
  /* a deleted key is not silently replaced: the state it signed is there */
  snprintf(path, sizeof path, "%s/identity.key", n.dir);
  char saved[400];
  snprintf(saved, sizeof saved, "%s/key.saved", h_tmpdir());
  assert_int_equal(rename(path, saved), 0);
  expect_refusal("loose", NULL, "identity.key is missing");
  struct stat st;
  assert_int_equal(stat(path, &st), -1); /* and no new key was made */
  assert_int_equal(rename(saved, path), 0);
  h_node_start(&n, "loose", NULL);
  json_t *list = h_ok(&n, "list", NULL);
  assert_int_equal(json_array_size(json_object_get(list, "records")), 1);
  json_decref(list);
}

static int run_cli(const char *args, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/dhtreg %s 2>&1", DR_BIN_DIR, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t len = fread(out, 1, cap - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The CLI does not talk to a socket another user owns unless told to. */
static void test_cli_refuses_foreign_socket(void **state) {
  char path[300], args[600], out[4096];
  if (geteuid() != 0) skip();
  /* a socket of another user where the CLI looks for its node */
  snprintf(path, sizeof path, "%s/fake.sock", h_tmpdir());
  pid_t p = h_fake_node(path, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"status\":\"ok\",\"timestamp\":1}}\n");
  assert_int_equal(chown(path, NOBODY, NOBODY), 0);
  snprintf(args, sizeof args, "--socket %s health", path);
  assert_int_equal(run_cli(args, out, sizeof out), 1);
  if (!strstr(out, "refusing") || !strstr(out, "--socket-owner"))
    fail_msg("expected a refusal, got: %s", out);
  /* the same through the environment */
  snprintf(args, sizeof args, "DHTREG_SOCKET=%s %s/dhtreg health 2>&1", path, DR_BIN_DIR);
  FILE *f = popen(args, "r");
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = '\0';
  assert_int_not_equal(pclose(f), 0);
  assert_non_null(strstr(out, "refusing"));
  /* told that this user runs the node, it talks to it */
  snprintf(args, sizeof args, "--socket %s --socket-owner %d health", path, NOBODY);
  assert_int_equal(run_cli(args, out, sizeof out), 0);
  assert_non_null(strstr(out, "ok"));
  kill(p, SIGKILL);
  waitpid(p, NULL, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_daemons_one_dir),
      cmocka_unit_test(test_foreign_dir_and_key),
      cmocka_unit_test(test_loose_state_file),
      cmocka_unit_test(test_cli_refuses_foreign_socket),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
