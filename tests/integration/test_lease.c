/* test_lease.c - a lease ends at its TTL everywhere: its holder or its node killed with SIGKILL, other nodes stop returning the record within a second of its expires_at, and a watcher hears expire
 *
 * Three nodes with the defaults that matter here (the clock skew tolerance,
 * the maintenance period): a holds the lease, b watches the resource (its
 * resolves come from its cache), c resolves from the DHT. The holder is a
 * process renewing the lease once a second through a's socket (the CLI).
 * Once the holder, or a itself, is killed, b and c are polled until the
 * record is gone; the moment it goes is compared with its expires_at. It
 * must also still be there shortly before: a record dropped early would
 * pass a test of lateness alone. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define TTL 5 /* the nodes run with --min-ttl 1 */
#define LATE_MS 1000 /* how long after expires_at a record may still be returned */

static h_node a, b, c;
static char rid[64], boot[64];

static uint64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static int setup(void **state) {
  (void)state;
  h_node_start(&a, "a", (const char *[]){"--min-ttl", "1", NULL});
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--min-ttl", "1", "--bootstrap", boot, NULL});
  h_node_start(&c, "c", (const char *[]){"--min-ttl", "1", "--bootstrap", boot, NULL});
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "leases"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

/* The record sid as n returns it (NULL: not returned); caller decrefs. */
static json_t *record_on(const h_node *n, const char *sid) {
  json_t *res = h_ok(n, "resolve", json_pack("{s:s}", "resource_id", rid));
  json_t *found = NULL, *r;
  size_t i;
  json_array_foreach(json_object_get(res, "records"), i, r) {
    if (strcmp(json_string_value(json_object_get(r, "service_id")), sid) == 0) found = json_incref(r);
  }
  json_decref(res);
  return found;
}

/* A holder of lease sid on a: advertises it, then renews it every second
 * until killed. Returns its pid. */
static pid_t start_holder(const char *sid) {
  char script[1200], log[300];
  snprintf(script, sizeof script,
           "D=%s/dhtreg; S=%s; $D --socket $S advertise %s %s --host 10.9.9.9 --port 80 --ttl %d --lease "
           ">/dev/null || exit 1; while :; do sleep 1; $D --socket $S renew %s %s >/dev/null; done",
           DR_BIN_DIR, a.sock, rid, sid, TTL, rid, sid);
  snprintf(log, sizeof log, "%s/holder-%s.log", h_tmpdir(), sid);
  char *argv[] = {"/bin/sh", "-c", script, NULL};
  return h_spawn(argv, log);
}

typedef struct seen {
  const h_node *n;
  const char *sid;
} seen;

static bool returned(void *ctx) {
  seen *s = ctx;
  json_t *r = record_on(s->n, s->sid);
  json_decref(r);
  return r != NULL;
}

/* One reader polled until sid is gone from it. */
typedef struct poll_state {
  const h_node *n;
  uint64_t expires_at; /* the last one it returned */
  uint64_t there_ms;   /* wall time it last returned sid */
  uint64_t gone_ms;    /* wall time it first did not, 0: not yet */
} poll_state;

/* Polls every reader until sid is gone from each; checks that each
 * returned it until shortly before its expiry (not dropped early) and
 * stopped within LATE_MS of it. */
static void wait_gone(poll_state *ps, size_t k, const char *sid) {
  size_t left = k;
  for (uint64_t end = h_now_ms() + (TTL + 30) * 1000ull; left;) {
    for (size_t i = 0; i < k; i++) {
      poll_state *p = &ps[i];
      if (p->gone_ms) continue;
      uint64_t t = wall_ms();
      json_t *r = record_on(p->n, sid);
      if (r) {
        p->expires_at = (uint64_t)json_integer_value(json_object_get(r, "expires_at"));
        p->there_ms = t;
        json_decref(r);
        continue;
      }
      p->gone_ms = t;
      left--;
      long long exp_ms = (long long)p->expires_at * 1000;
      print_message("%s: %s gone %lld ms after its expires_at (last returned %lld ms before it)\n", p->n->name,
                    sid, (long long)t - exp_ms, exp_ms - (long long)p->there_ms);
      if (!p->there_ms) fail_msg("%s never returned %s after its holder died", p->n->name, sid);
      if ((long long)p->there_ms < exp_ms - 1500) fail_msg("%s dropped %s more than 1.5 s before its expiry", p->n->name, sid);
      if ((long long)t > exp_ms + LATE_MS) fail_msg("%s returned %s %lld ms after its expiry", p->n->name, sid, (long long)t - exp_ms);
    }
    if (h_now_ms() > end) fail_msg("%s still returned %d s after its holder died", sid, TTL + 30);
    usleep(20000);
  }
}

/* Reads b's watch connection until an expire event for sid; returns when
 * (wall time), or 0 when none came within timeout_ms. */
static uint64_t expire_event(int fd, const char *sid, int timeout_ms) {
  uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
  while (h_now_ms() < end) {
    json_t *ev = h_read_json(fd, (int)(end - h_now_ms()));
    if (!ev) return 0;
    json_t *p = json_object_get(ev, "params");
    const char *type = json_string_value(json_object_get(p, "type"));
    const char *s = json_string_value(json_object_get(json_object_get(p, "record"), "service_id"));
    bool hit = type && s && strcmp(type, "expire") == 0 && strcmp(s, sid) == 0;
    json_decref(ev);
    if (hit) return wall_ms();
  }
  return 0;
}

static void lease_ends(const char *sid, bool kill_node) {
  int fd = h_connect(&b);
  h_watch(fd, rid);
  pid_t holder = start_holder(sid);
  seen s = {&c, sid};
  assert_true(h_wait_for(returned, &s, 15000));
  s.n = &b;
  assert_true(h_wait_for(returned, &s, 15000));
  /* a few renewals go by, seen by both */
  usleep(2500 * 1000);
  assert_true(returned(&s));
  if (kill_node) h_node_signal(&a, SIGKILL);
  kill(holder, SIGKILL);
  poll_state ps[2] = {{.n = &c}, {.n = &b}};
  wait_gone(ps, 2, sid);
  uint64_t exp_b = ps[1].expires_at;
  /* the watcher hears it end */
  uint64_t ev = expire_event(fd, sid, 10000);
  if (!ev) fail_msg("b's watch heard no expire of %s", sid);
  print_message("b's watch: expire %lld ms after its expires_at\n", (long long)ev - (long long)exp_b * 1000);
  if (ev > exp_b * 1000 + 2 * LATE_MS) fail_msg("the expire event came %llu ms after the expiry", (unsigned long long)(ev - exp_b * 1000));
  close(fd);
}

/* Nothing forged reached n: every rejection counter is 0 (normal drops are
 * counted apart). */
static void nothing_rejected(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(info, "rejected"), k, v) {
    if (json_integer_value(v)) fail_msg("%s counts %lld %s rejections in normal operation", n->name,
                                        (long long)json_integer_value(v), k);
  }
  json_decref(info);
}

/* The client holding the lease dies; its node lives on. */
static void test_holder_killed(void **state) {
  (void)state;
  lease_ends("held-1", false);
  /* the storers' copies of the expired record are read for a while yet:
   * dropped as the normal leftovers they are, not rejected */
  long long before = h_info_int(&c, "dropped.expired");
  for (int i = 0; i < 5; i++) json_decref(h_ok(&c, "resolve", json_pack("{s:s}", "resource_id", rid)));
  assert_true(h_info_int(&c, "dropped.expired") > before);
  nothing_rejected(&c);
  nothing_rejected(&b);
}

/* An ordinary withdraw: the readers drop the record copies storers keep
 * beside its tombstone as superseded, not as replays. */
static void test_withdraw_counters(void **state) {
  (void)state;
  json_decref(h_ok(&a, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id",
                                                      "plain-1", "host", "10.9.9.8", "port", 81)));
  seen s = {&c, "plain-1"};
  assert_true(h_wait_for(returned, &s, 15000));
  long long before = h_info_int(&c, "dropped.superseded");
  json_decref(h_ok(&a, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "plain-1")));
  for (uint64_t end = h_now_ms() + 15000; returned(&s);)
    if (h_now_ms() > end) fail_msg("c still returns a withdrawn record");
  for (int i = 0; i < 5; i++) json_decref(h_ok(&c, "resolve", json_pack("{s:s}", "resource_id", rid)));
  assert_true(h_info_int(&c, "dropped.superseded") > before);
  assert_int_equal(h_info_int(&c, "rejected.replayed"), 0);
  nothing_rejected(&c);
}

/* The node holding the lease dies with it (no withdrawal: kill -9). */
static void test_node_killed(void **state) {
  (void)state;
  lease_ends("held-2", true);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_holder_killed),
      cmocka_unit_test(test_withdraw_counters),
      cmocka_unit_test(test_node_killed),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
