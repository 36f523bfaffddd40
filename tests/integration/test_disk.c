/* test_disk.c - a full data dir: refused changes have no effect anywhere, the node says so, and recovers by itself when the disk does
 *
 * Needs root (it mounts a small tmpfs as the data dir); skips cleanly
 * otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

static h_node a, b;
static char mnt[300], rid[64], boot[32];
static bool mounted;

static int teardown(void **state) {
  (void)state;
  h_node_signal(&a, SIGKILL);
  h_node_wait(&a, 10000);
  if (mounted) umount2(mnt, MNT_DETACH);
  mounted = false;
  return 0;
}

static json_t *advertise(const char *sid) {
  return h_call(&a, "record.advertise",
                json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", sid, "host",
                          "10.9.0.1", "port", 443));
}

static bool persist_ok(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  bool ok = json_is_true(json_object_get(json_object_get(info, "persistence"), "ok"));
  json_decref(info);
  return ok;
}

static bool a_writes(void *unused) {
  (void)unused;
  return persist_ok(&a);
}

static int listed(void) {
  json_t *l = h_ok(&a, "list", NULL);
  int k = (int)json_array_size(json_object_get(l, "records"));
  json_decref(l);
  return k;
}

static bool ready(const h_node *n) {
  json_t *h = h_ok(n, "health", NULL);
  bool r = json_is_true(json_object_get(h, "ready"));
  json_decref(h);
  return r;
}

/* Fills the file system of the data dir to the last byte. */
static void fill(void) {
  char path[400];
  snprintf(path, sizeof path, "%s/filler", mnt);
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  assert_true(fd >= 0);
  static char block[4096];
  while (write(fd, block, sizeof block) > 0) {}
  while (write(fd, block, 1) > 0) {}
  close(fd);
}

/* Advertises until the first refusal (the journal's last page may have
 * room for a few more), and returns how many were acknowledged. */
static int until_refused(int round) {
  for (int i = 0; i < 64; i++) {
    char sid[32];
    snprintf(sid, sizeof sid, "edge-%d-%d", round, i);
    json_t *r = advertise(sid);
    assert_non_null(r);
    int code = h_error_code(r);
    json_decref(r);
    if (code == -32603) return i;
    if (code) fail_msg("advertise %s: error %d", sid, code);
  }
  fail_msg("64 advertisements written on a full disk");
  return -1;
}

/* Every refused change is answered with the error and has no effect: not
 * in the node's list, not in the DHT, not after a restart. */
static void expect_refused(int round, int count) {
  for (int i = 0; i < count; i++) {
    char sid[32];
    snprintf(sid, sizeof sid, "full-%d-%d", round, i);
    json_t *r = advertise(sid);
    assert_non_null(r);
    if (h_error_code(r) != -32603) fail_msg("advertise %s on a full disk: %s", sid, json_dumps(r, 0));
    json_decref(r);
  }
  /* a withdraw and a renew of what exists are refused too, and change nothing */
  json_t *r = h_call(&a, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "ok-0"));
  assert_int_equal(h_error_code(r), -32603);
  json_decref(r);
  r = h_call(&a, "record.renew", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "ok-1"));
  assert_int_equal(h_error_code(r), -32603);
  json_decref(r);
}

static void test_full_then_grown(void **state) {
  if (geteuid() != 0) skip();
  snprintf(mnt, sizeof mnt, "%s/small", h_tmpdir());
  assert_int_equal(mkdir(mnt, 0700), 0);
  if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k,mode=0700") < 0) {
    print_message("cannot mount a tmpfs (%s): skipped\n", strerror(errno));
    skip();
  }
  mounted = true;
  h_node_start(&b, "b", NULL);
  h_addr(&b, boot, sizeof boot);
  /* a's data dir is the tmpfs */
  char dd[400];
  snprintf(dd, sizeof dd, "%s/node", mnt);
  h_node_start(&a, "a", (const char *[]){"--bootstrap", boot, "--data-dir", dd, NULL});
  json_t *res = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "disk"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(res, "resource_id")));
  json_decref(res);
  for (int i = 0; i < 5; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "ok-%d", i);
    json_decref(h_ok(&a, "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", sid, "host",
                               "10.9.0.1", "port", 443)));
  }
  h_has has = {&b, rid, "ok-4"};
  assert_true(h_wait_for(h_resolves, &has, 10000));
  assert_true(ready(&a));

  fill();
  int acked = 5 + until_refused(0);
  expect_refused(0, 26);
  assert_int_equal(listed(), acked);
  /* nothing of the refused ones reached the DHT */
  h_has last = {&b, rid, "ok-4"};
  if (acked > 5) {
    static char sid[32];
    snprintf(sid, sizeof sid, "edge-0-%d", acked - 6);
    last.sid = sid;
  }
  assert_true(h_wait_for(h_resolves, &last, 10000));
  assert_int_equal(h_resolve_count(&b, rid), acked);
  assert_true(h_resolve_has(&b, rid, "ok-0"));   /* the refused withdraw did nothing */
  assert_false(persist_ok(&a));
  assert_false(ready(&a));
  json_t *h = h_ok(&a, "health", NULL);
  assert_non_null(strstr(json_string_value(json_array_get(json_object_get(h, "warnings"), 0)),
                         "No space left on device"));
  json_decref(h);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "grep -q \"cannot write the node's state\" '%s'", a.log);
  assert_int_equal(system(cmd), 0);

  /* the disk grows: the node writes again by itself */
  assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT, "size=4m,mode=0700"), 0);
  assert_true(h_wait_for(a_writes, NULL, 10000));
  assert_true(ready(&a));
  json_decref(h_ok(&a, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", "after", "host",
                             "10.9.0.1", "port", 443)));
  assert_int_equal(listed(), ++acked);

  /* after kill -9, exactly the acknowledged ones come back */
  h_node_signal(&a, SIGKILL);
  h_node_wait(&a, 10000);
  h_node_start(&a, "a", (const char *[]){"--bootstrap", boot, "--data-dir", dd, NULL});
  json_t *l = h_ok(&a, "list", NULL);
  json_t *recs = json_object_get(l, "records"), *rec;
  size_t i;
  assert_int_equal(json_array_size(recs), acked);
  json_array_foreach(recs, i, rec)
    assert_null(strstr(json_string_value(json_object_get(rec, "service_id")), "full-"));
  json_decref(l);
  has.sid = "after";
  assert_true(h_wait_for(h_resolves, &has, 10000));
  assert_int_equal(h_resolve_count(&b, rid), acked);
  print_message("%d acknowledged, 26 advertisements, a withdraw and a renew refused\n", acked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_full_then_grown, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
