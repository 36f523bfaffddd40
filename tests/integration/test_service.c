/* test_service.c - dhtregd under systemd: a test plays systemd's side of NOTIFY_SOCKET (READY once joined or given up, STATUS, WATCHDOG, STOPPING) and the stop's 2 s bound */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

/* systemd's end of NOTIFY_SOCKET: a datagram socket at path. */
static int notify_socket(const char *name, char *path, size_t len) {
  snprintf(path, len, "%s/%s.notify", h_tmpdir(), name);
  unlink(path);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

/* The next datagram within timeout_ms, or NULL (static buffer). */
static const char *next_msg(int fd, int timeout_ms) {
  static char buf[4096];
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, timeout_ms) <= 0) return NULL;
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  if (n < 0) return NULL;
  buf[n] = '\0';
  return buf;
}

/* Waits for a datagram holding want; fails after timeout_ms. Returns it. */
static const char *wait_msg(int fd, const char *want, int timeout_ms) {
  uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    uint64_t now = h_now_ms();
    if (now >= end) fail_msg("no \"%s\" from the node in %d ms", want, timeout_ms);
    const char *m = next_msg(fd, (int)(end - now));
    if (m && strstr(m, want)) return m;
  }
}

/* A node under a "systemd": READY=1 comes once it has joined and says so
 * in STATUS; the watchdog is fed; SIGTERM brings STOPPING=1 and an exit
 * within 2 s, even with advertisements to withdraw and the only peer gone. */
static void test_ready_status_watchdog_stopping(void **state) {
  h_node a, b;
  h_node_start(&a, "seed", NULL);
  char path[300], boot[64];
  int fd = notify_socket("b", path, sizeof path);
  setenv("NOTIFY_SOCKET", path, 1);
  setenv("WATCHDOG_USEC", "200000", 1);
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--bootstrap", boot, NULL});
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  const char *m = wait_msg(fd, "READY=1", 15000);
  assert_non_null(strstr(m, "STATUS=ready: 1 peer,"));
  /* fed at half of WatchdogSec: several within a second */
  int feeds = 0;
  uint64_t end = h_now_ms() + 1000;
  while (h_now_ms() < end) {
    const char *w = next_msg(fd, 200);
    if (w && strstr(w, "WATCHDOG=1")) feeds++;
  }
  assert_true(feeds >= 3);
  /* a STATUS line follows what the node holds */
  json_t *r = h_ok(&b, "resource.create", json_pack("{s:s}", "label", "svc"));
  char rid[64];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  for (int i = 0; i < 3; i++) {
    char sid[8];
    snprintf(sid, sizeof sid, "s%d", i);
    json_decref(h_ok(&b, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid,
                                                        "service_id", sid, "host", "127.0.0.1", "port", 80 + i)));
  }
  wait_msg(fd, "3 advertisements", 5000);
  /* the peer dies: the withdrawals cannot be confirmed, the stop is bounded all the same */
  h_node_signal(&a, SIGKILL);
  assert_true(h_node_wait(&a, 5000) >= 0);
  uint64_t t0 = h_now_ms();
  h_node_signal(&b, SIGTERM);
  m = wait_msg(fd, "STOPPING=1", 2000);
  assert_non_null(strstr(m, "STATUS=stopping"));
  int st = h_node_wait(&b, 5000);
  uint64_t took = h_now_ms() - t0;
  assert_true(st >= 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  if (took > 2300) fail_msg("the stop took %llu ms; the bound is 2 s", (unsigned long long)took);
  close(fd);
}

/* A node whose bootstrap address never answers: not READY while it tries
 * (STATUS says why, naming the address); READY after 10 s so systemd does
 * not fail the start, still saying it is not joined; joined later through
 * node.bootstrap, the STATUS says ready. */
static void test_not_joined_then_joined(void **state) {
  h_node a, c;
  h_node_start(&a, "seed2", NULL);
  char path[300], quiet[32], boot[64];
  int fd = notify_socket("c", path, sizeof path);
  snprintf(quiet, sizeof quiet, "127.0.0.1:%u", h_free_udp_port());
  setenv("NOTIFY_SOCKET", path, 1);
  uint64_t t0 = h_now_ms();
  h_node_start(&c, "c", (const char *[]){"--bootstrap", quiet, NULL});
  unsetenv("NOTIFY_SOCKET");
  const char *m = wait_msg(fd, "STATUS=not joined", 5000);
  assert_null(strstr(m, "READY=1"));
  m = wait_msg(fd, "READY=1", 15000);
  assert_true(h_now_ms() - t0 >= 9000);
  assert_non_null(strstr(m, "STATUS=not joined"));
  assert_non_null(strstr(m, quiet));
  h_addr(&a, boot, sizeof boot);
  json_decref(h_ok(&c, "node.bootstrap", json_pack("{s:[s]}", "addresses", boot)));
  wait_msg(fd, "STATUS=ready: 1 peer,", 15000);
  close(fd);
}

/* Under journald (JOURNAL_STREAM names the stream stderr is): each line
 * starts with its sd-daemon priority, without a time (the journal has it). */
static void test_journal_priorities(void **state) {
  char log[300];
  snprintf(log, sizeof log, "%s/journal.log", h_tmpdir());
  FILE *f = fopen(log, "w");
  assert_non_null(f);
  fclose(f);
  struct stat st;
  assert_int_equal(stat(log, &st), 0);
  char js[64];
  snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
  setenv("JOURNAL_STREAM", js, 1);
  h_node n;
  char quiet[32];
  snprintf(quiet, sizeof quiet, "127.0.0.1:%u", h_free_udp_port());
  h_node_start(&n, "journal", (const char *[]){"--bootstrap", quiet, NULL});
  unsetenv("JOURNAL_STREAM");
  assert_string_equal(n.log, log);
  /* the warning about the silent bootstrap address comes at <4>; every
   * line has a priority (but valgrind's own, under scripts/check.sh) */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "grep -q '^<4>no DHT node has answered' '%s'", log);
  uint64_t end = h_now_ms() + 15000;
  while (system(cmd) != 0) {
    if (h_now_ms() > end) fail_msg("no <4> warning in %s", log);
    usleep(100000);
  }
  snprintf(cmd, sizeof cmd, "grep -q '^<6>node ' '%s' && ! grep -v '^==' '%s' | grep -qv '^<[3467]>'", log, log);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ready_status_watchdog_stopping),
      cmocka_unit_test(test_not_joined_then_joined),
      cmocka_unit_test(test_journal_priorities),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
