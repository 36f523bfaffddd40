/* test_checks.c - health checks of advertisements (tcp, http, exec): the signed health every node reads, resolve and discover leaving critical records out, watch events, a restart, bad params */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/cli_run.h"
#include "tests/support/harness.h"

#define INTERVAL 1
#define FAILURES 2
#define PASSES 2
/* a change shows on every node within interval x runs, plus this */
#define SLACK_MS 6000

static h_node a, b, c;
static char rid[64], boot[32];

/* ---- test servers: a process that accepts (and closes), or answers HTTP with a status ---- */

typedef struct server {
  pid_t pid;
  uint16_t port; /* kept across a stop, so that it starts again on the same one */
  int status;    /* 0: plain TCP; else the HTTP status it answers */
} server;

static void serve(int fd, int status) {
  for (;;) {
    int conn = accept(fd, NULL, NULL);
    if (conn < 0) {
      if (errno == EINTR) continue;
      _exit(0);
    }
    if (status) { /* read the request's head, answer, close */
      char buf[4096], resp[160];
      size_t len = 0;
      struct pollfd pf = {.fd = conn, .events = POLLIN};
      while (len < sizeof buf - 1 && poll(&pf, 1, 2000) > 0) {
        ssize_t r = read(conn, buf + len, sizeof buf - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n")) break;
      }
      int n = snprintf(resp, sizeof resp, "HTTP/1.0 %d %s\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
                       status, status == 200 ? "OK" : "Internal Server Error");
      if (write(conn, resp, (size_t)n) < 0) {}
    }
    close(conn);
  }
}

static void server_start(server *s) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(s->port)};
  socklen_t len = sizeof sa;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
    fail_msg("test server on port %u: %s", s->port, strerror(errno));
  s->port = ntohs(sa.sin_port);
  pid_t parent = getpid();
  s->pid = fork();
  assert_true(s->pid >= 0);
  if (s->pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(1);
    serve(fd, s->status);
  }
  close(fd);
}

/* The listener is gone once this returns: the process holding it is dead. */
static void server_stop(server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

static server tcp_srv, http_500 = {.status = 500}, http_200 = {.status = 200};

/* ---- nodes and calls ------------------------------------------------------------------- */

static void start_a(bool join) {
  const char *args[] = {"--tick-ms", "100", "--op-timeout-ms", "3000", join ? "--bootstrap" : NULL, boot, NULL};
  h_node_start(&a, "a", args);
}

static int setup(void **state) {
  start_a(false);
  char boot_a[32];
  h_addr(&a, boot_a, sizeof boot_a);
  const char *args[] = {"--tick-ms", "100", "--op-timeout-ms", "3000", "--bootstrap", boot_a, NULL};
  h_node_start(&b, "b", args);
  h_node_start(&c, "c", args);
  h_addr(&b, boot, sizeof boot); /* a joins through b when it starts again */
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "checked"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

static int teardown(void **state) {
  server_stop(&tcp_srv);
  server_stop(&http_500);
  server_stop(&http_200);
  return 0;
}

static json_t *check_of(const char *kind, json_t *target, int interval, int failures, int timeout) {
  json_t *chk = json_pack("{s:o, s:i, s:i, s:i}", kind, target, "interval", interval, "failures", failures,
                          "passes", PASSES);
  if (timeout) json_object_set_new(chk, "timeout", json_integer(timeout));
  return chk;
}

static void advertise(const char *sid, json_t *check) {
  json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:s}", "resource_id", rid, "service_id", sid, "host", "127.0.0.1",
                        "port", 7000, "type", "svc");
  if (check) json_object_set_new(p, "check", check);
  json_decref(h_ok(&a, "record.advertise", p));
}

/* The health of sid in n's resolve of the resource ("passing", "critical"),
 * or "" when it is not there; all: include critical records. */
static void health_of(const h_node *n, const char *sid, bool all, char health[16]) {
  json_t *p = json_pack("{s:s, s:i}", "resource_id", rid, "limit", 1000), *rec;
  if (all) json_object_set_new(p, "include", json_string("all"));
  json_t *resp = h_call(n, "resolve", p);
  json_t *recs = json_object_get(json_object_get(resp, "result"), "records");
  size_t i;
  health[0] = '\0';
  json_array_foreach(recs, i, rec)
    if (strcmp(json_string_value(json_object_get(rec, "service_id")), sid) == 0)
      snprintf(health, 16, "%s", json_string_value(json_object_get(rec, "health")));
  json_decref(resp);
}

typedef struct want {
  const h_node *n;
  const char *sid, *health; /* "" for absent */
  bool all;
} want;

static bool shows(void *ctx) {
  want *w = ctx;
  char h[16];
  health_of(w->n, w->sid, w->all, h);
  return strcmp(h, w->health) == 0;
}

/* Waits until n's resolve shows sid so; returns how long that took (ms). */
static uint64_t wait_shows(const h_node *n, const char *sid, bool all, const char *health, int timeout_ms) {
  want w = {n, sid, health, all};
  uint64_t t0 = h_now_ms();
  if (!h_wait_for(shows, &w, timeout_ms)) {
    char h[16];
    health_of(n, sid, all, h);
    fail_msg("%s: %s is '%s' after %d ms (include %s), not '%s'", n->name, sid, h, timeout_ms, all ? "all" : "passing",
             health);
  }
  return h_now_ms() - t0;
}

/* list's check of sid on a. */
static json_t *own_check(const char *sid) {
  json_t *res = h_ok(&a, "list", NULL), *rec, *chk = NULL;
  size_t i;
  json_array_foreach(json_object_get(res, "records"), i, rec)
    if (strcmp(json_string_value(json_object_get(rec, "service_id")), sid) == 0)
      chk = json_incref(json_object_get(rec, "check"));
  json_decref(res);
  return chk;
}

static const char *cur_sid;
static int runs_wanted;
static bool passed_runs(void *ctx) {
  json_t *chk = own_check(cur_sid);
  bool ok = json_integer_value(json_object_get(chk, "consecutive_passes")) >= runs_wanted;
  json_decref(chk);
  return ok;
}

/* ---- watch events ------------------------------------------------------------------------ */

/* Reads events until one is "type:sid" (the ones before it dropped). */
static void expect_event(int fd, const char *type, const char *sid, int ms) {
  uint64_t end = h_now_ms() + (uint64_t)ms;
  for (;;) {
    int left = (int)(end - h_now_ms());
    json_t *m = left > 0 ? h_read_json(fd, left) : NULL;
    if (!m) fail_msg("no %s event of %s within %d ms", type, sid, ms);
    json_t *p = json_object_get(m, "params");
    bool hit = strcmp(json_string_value(json_object_get(p, "type")), type) == 0 &&
               strcmp(json_string_value(json_object_get(json_object_get(p, "record"), "service_id")), sid) == 0;
    if (hit) assert_string_equal(json_string_value(json_object_get(json_object_get(p, "record"), "health")),
                                 strcmp(type, "critical") == 0 ? "critical" : "passing");
    json_decref(m);
    if (hit) return;
  }
}

/* ---- the tests ------------------------------------------------------------------------------- */

/* A TCP check against a listener that closes: critical on every other node
 * (gone from the default resolve and from discover), passing again once
 * the listener is back; watch events for both; the latencies printed. */
static void test_tcp_check(void **state) {
  server_start(&tcp_srv);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", tcp_srv.port);
  advertise("plain", NULL);
  advertise("tcp-1", check_of("tcp", json_string(target), INTERVAL, FAILURES, 0));
  wait_shows(&b, "tcp-1", false, "passing", 20000);
  wait_shows(&c, "plain", false, "passing", 20000);
  cur_sid = "tcp-1", runs_wanted = 2;
  assert_true(h_wait_for(passed_runs, NULL, 10000));

  int fd = h_connect(&c);
  assert_true(fd >= 0);
  h_watch(fd, rid);

  server_stop(&tcp_srv);
  uint64_t t_down = wait_shows(&b, "tcp-1", true, "critical", INTERVAL * FAILURES * 1000 + SLACK_MS);
  wait_shows(&c, "tcp-1", true, "critical", 5000);
  expect_event(fd, "critical", "tcp-1", 5000);
  char h[16];
  health_of(&b, "tcp-1", false, h);
  assert_string_equal(h, ""); /* not in the default resolve */
  for (int i = 0; i < 30; i++) { /* discover never hands it out */
    json_t *r = h_ok(&b, "discover", json_pack("{s:s}", "resource_id", rid));
    assert_string_equal(json_string_value(json_object_get(r, "service_id")), "plain");
    json_decref(r);
  }
  bool seen = false; /* include all: it may */
  for (int i = 0; i < 60 && !seen; i++) {
    json_t *r = h_ok(&b, "discover", json_pack("{s:s, s:s}", "resource_id", rid, "include", "all"));
    seen = strcmp(json_string_value(json_object_get(r, "service_id")), "tcp-1") == 0;
    json_decref(r);
  }
  assert_true(seen);
  json_t *chk = own_check("tcp-1");
  assert_string_equal(json_string_value(json_object_get(chk, "status")), "critical");
  assert_non_null(strstr(json_string_value(json_object_get(chk, "output")), "connection refused"));
  json_decref(chk);

  server_start(&tcp_srv); /* the same port */
  uint64_t t_up = wait_shows(&b, "tcp-1", false, "passing", INTERVAL * PASSES * 1000 + SLACK_MS);
  expect_event(fd, "passing", "tcp-1", 5000);
  close(fd);
  print_message("tcp check: listener closed -> critical on a remote resolve in %llu ms; back -> passing in "
                "%llu ms (interval %d s, failures %d, passes %d)\n", (unsigned long long)t_down,
                (unsigned long long)t_up, INTERVAL, FAILURES, PASSES);
}

/* An HTTP check of a server answering 500 goes critical; of one answering 200 stays passing. */
static void test_http_check(void **state) {
  server_start(&http_500);
  server_start(&http_200);
  char bad[64], good[64];
  snprintf(bad, sizeof bad, "http://127.0.0.1:%u/health", http_500.port);
  snprintf(good, sizeof good, "http://127.0.0.1:%u/health", http_200.port);
  advertise("http-ok", check_of("http", json_string(good), INTERVAL, FAILURES, 0));
  advertise("http-500", check_of("http", json_string(bad), INTERVAL, FAILURES, 0));
  wait_shows(&b, "http-500", true, "critical", INTERVAL * FAILURES * 1000 + SLACK_MS + 10000);
  cur_sid = "http-ok", runs_wanted = FAILURES + 2; /* as many runs as made the other critical, and more */
  assert_true(h_wait_for(passed_runs, NULL, 15000));
  wait_shows(&b, "http-ok", false, "passing", 5000);
  json_t *chk = own_check("http-ok");
  assert_string_equal(json_string_value(json_object_get(chk, "status")), "passing");
  assert_non_null(strstr(json_string_value(json_object_get(chk, "output")), "200"));
  json_decref(chk);
  chk = own_check("http-500");
  assert_non_null(strstr(json_string_value(json_object_get(chk, "output")), "HTTP/1.0 500"));
  assert_string_equal(json_string_value(json_object_get(chk, "last_result")), "fail");
  json_decref(chk);
}

/* Processes of a check's program (their command line holds "30.7"):
 * how many, and how many of a's children are zombies. */
static void count_programs(int *running, int *zombies) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  *running = *zombies = 0;
  while (d && (e = readdir(d))) {
    char path[300], buf[512], st[512];
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    for (size_t i = 0; i < n; i++)
      if (!buf[i]) buf[i] = ' ';
    buf[n] = '\0';
    if (strstr(buf, "30.7")) (*running)++;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    f = fopen(path, "r");
    n = f ? fread(st, 1, sizeof st - 1, f) : 0;
    if (f) fclose(f);
    st[n] = '\0';
    char *rp = strrchr(st, ')');
    char state = 0;
    int ppid = 0;
    if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == a.pid && state == 'Z') (*zombies)++;
  }
  if (d) closedir(d);
}

static bool no_program(void *ctx) {
  int running, zombies;
  count_programs(&running, &zombies);
  return running == 0 && zombies == 0;
}

/* An exec check that hangs is killed at its timeout (a failure), with what
 * it started; nothing of it is left behind. */
static void test_exec_timeout(void **state) {
  /* sh forks sleep (a command follows it): the kill must reach the group */
  json_t *argv = json_pack("[s, s, s]", "sh", "-c", "sleep 30.7; echo never");
  advertise("exec-hang", check_of("exec", argv, 2, 1, 1));
  wait_shows(&b, "exec-hang", true, "critical", 2 * 1000 + SLACK_MS);
  json_t *chk = own_check("exec-hang");
  assert_non_null(strstr(json_string_value(json_object_get(chk, "output")), "timed out after 1 s (killed)"));
  json_decref(chk);
  /* every run is killed within its second: between runs, nothing of it
   * runs, and no child of the node is a zombie */
  uint64_t end = h_now_ms() + 6000;
  int most = 0, zombies_seen = 0;
  while (h_now_ms() < end) {
    int running, zombies;
    count_programs(&running, &zombies);
    if (running > most) most = running;
    zombies_seen += zombies > 0;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  assert_true(most <= 2); /* one run's sh and sleep at most */
  assert_true(zombies_seen <= 2); /* a killed one is reaped as soon as it dies (not polled) */
  json_decref(h_ok(&a, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "exec-hang")));
  if (!h_wait_for(no_program, NULL, 3000)) fail_msg("a check's program, or a zombie, is left after the withdrawal");
}

/* The check is written with its advertisement: after a restart of the node
 * it runs again and still changes the record's health. */
static void test_restart(void **state) {
  cur_sid = "tcp-1", runs_wanted = 1;
  assert_true(h_wait_for(passed_runs, NULL, 10000));
  h_node_signal(&a, SIGTERM);
  assert_true(h_node_wait(&a, 10000) >= 0);
  start_a(true);
  json_t *chk = own_check("tcp-1");
  assert_non_null(chk);
  assert_int_equal(json_integer_value(json_object_get(chk, "interval")), INTERVAL);
  json_decref(chk);
  wait_shows(&b, "tcp-1", false, "passing", 20000);
  server_stop(&tcp_srv);
  uint64_t t_down = wait_shows(&b, "tcp-1", true, "critical", INTERVAL * FAILURES * 1000 + SLACK_MS);
  server_start(&tcp_srv);
  uint64_t t_up = wait_shows(&b, "tcp-1", false, "passing", INTERVAL * PASSES * 1000 + SLACK_MS);
  /* and critical survives a restart as it was signed */
  server_stop(&tcp_srv);
  wait_shows(&b, "tcp-1", true, "critical", INTERVAL * FAILURES * 1000 + SLACK_MS);
  h_node_signal(&a, SIGTERM);
  assert_true(h_node_wait(&a, 10000) >= 0);
  start_a(true);
  wait_shows(&b, "tcp-1", true, "critical", 20000);
  print_message("after a restart: critical in %llu ms, passing again in %llu ms\n", (unsigned long long)t_down,
                (unsigned long long)t_up);
}

static void expect_bad(json_t *check, const char *param) {
  json_t *p = json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "bad");
  json_object_set_new(p, "check", check);
  json_t *resp = h_call(&a, "record.advertise", p);
  assert_non_null(resp);
  if (h_error_code(resp) != -32602 || !strstr(h_error_message(resp), param))
    fail_msg("expected -32602 naming %s, got %d %s", param, h_error_code(resp), h_error_message(resp));
  json_decref(resp);
}

static void test_bad_params(void **state) {
  expect_bad(json_string("tcp"), "param check:");
  expect_bad(json_object(), "param check:");
  expect_bad(json_pack("{s:s, s:s}", "tcp", "127.0.0.1:1", "http", "http://x/"), "param check:");
  expect_bad(json_pack("{s:s}", "tcp", "127.0.0.1"), "check.tcp");
  expect_bad(json_pack("{s:s}", "tcp", "127.0.0.1:70000"), "check.tcp");
  expect_bad(json_pack("{s:i}", "tcp", 80), "check.tcp");
  expect_bad(json_pack("{s:s}", "http", "https://127.0.0.1/"), "check.http");
  expect_bad(json_pack("{s:s}", "http", "ftp://127.0.0.1/"), "check.http");
  expect_bad(json_pack("{s:s}", "http", "http://127.0.0.1:80/a b"), "check.http");
  expect_bad(json_pack("{s:[]}", "exec"), "check.exec");
  expect_bad(json_pack("{s:s}", "exec", "true"), "check.exec");
  expect_bad(json_pack("{s:[i]}", "exec", 1), "check.exec");
  expect_bad(json_pack("{s:[s], s:i}", "exec", "true", "interval", 0), "check.interval");
  expect_bad(json_pack("{s:[s], s:s}", "exec", "true", "interval", "10"), "check.interval");
  expect_bad(json_pack("{s:[s], s:i}", "exec", "true", "timeout", 3601), "check.timeout");
  expect_bad(json_pack("{s:[s], s:i}", "exec", "true", "failures", 0), "check.failures");
  expect_bad(json_pack("{s:[s], s:i}", "exec", "true", "passes", 101), "check.passes");
  expect_bad(json_pack("{s:[s], s:i}", "exec", "true", "retries", 1), "param check:");
  json_t *resp = h_call(&a, "resolve", json_pack("{s:s, s:s}", "resource_id", rid, "include", "critical"));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "include"));
  json_decref(resp);
  resp = h_call(&a, "discover", json_pack("{s:s, s:i}", "resource_id", rid, "include", 1));
  assert_int_equal(h_error_code(resp), -32602);
  json_decref(resp);
  assert_false(h_resolve_has(&a, rid, "bad")); /* nothing of them was advertised */
}

/* The command line: --check-tcp and friends, list's check columns, resolve --include all. */
static void test_cli(void **state) {
  char args[600];
  snprintf(args, sizeof args, "advertise %s cli-1 --host 127.0.0.1 --check-tcp 127.0.0.1:%u --check-interval 1 "
           "--check-failures 1 --check-passes 1", rid, h_free_tcp_port()); /* where nothing listens */
  assert_int_equal(cli(&a, args), 0);
  char line[200];
  first_line(line, sizeof line);
  assert_non_null(strstr(line, "resource_id"));
  wait_shows(&b, "cli-1", true, "critical", 1000 + SLACK_MS);
  assert_int_equal(cli(&a, "list"), 0);
  expect_out("CHECK_STATE");
  expect_out("critical (");
  expect_out("connection refused");
  snprintf(args, sizeof args, "resolve %s --include all", rid);
  assert_int_equal(cli(&b, args), 0);
  expect_out("critical");
  snprintf(args, sizeof args, "resolve %s", rid);
  assert_int_equal(cli(&b, args), 0);
  expect_no("cli-1");
  snprintf(args, sizeof args, "advertise %s cli-2 --check-exec \"sh -c 'exit 0'\" --check-interval 1", rid);
  assert_int_equal(cli(&a, args), 0);
  snprintf(args, sizeof args, "advertise %s cli-3 --check-http https://x/", rid);
  assert_int_equal(cli(&a, args), 2);
  snprintf(args, sizeof args, "advertise %s cli-3 --check-interval 5", rid);
  assert_int_equal(cli(&a, args), 2);
  snprintf(args, sizeof args, "advertise %s cli-3 --check-exec \"sh -c 'unclosed\"", rid);
  assert_int_equal(cli(&a, args), 2);
  snprintf(args, sizeof args, "resolve %s --include most", rid);
  assert_int_equal(cli(&a, args), 2);
  cur_sid = "cli-2", runs_wanted = 1;
  assert_true(h_wait_for(passed_runs, NULL, 10000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tcp_check),
      cmocka_unit_test(test_http_check),
      cmocka_unit_test(test_exec_timeout),
      cmocka_unit_test(test_bad_params),
      cmocka_unit_test(test_cli),
      cmocka_unit_test(test_restart),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
