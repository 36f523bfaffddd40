/* test_persist_checks.c - a data dir of the frames before checks still loads; a record's check (op 7) loads with it, runs, and stops with the node */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "node/node.h"

static char dir[] = "/tmp/test_persist_checks.XXXXXX";
static dr_identity id;
static uint8_t rid[DR_ID_LEN];

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* node/persist.c's frame: u32be length, 8-byte BLAKE2b of the payload, the
 * payload: u8 op, u8 lease, u32be ttl, [u16be shard: ops 5, 6, 7,] u32be
 * entry length, the entry, [op 7: the check] */
static size_t frame(uint8_t *out, uint8_t op, const dr_entry *e, const uint8_t *check, size_t check_len) {
  uint8_t *pl = out + 12;
  size_t hl = op >= 5 ? 12 : 10, n = hl + e->raw_len + check_len;
  memset(pl, 0, hl);
  pl[0] = op;
  put32(pl + 2, 300);
  if (hl == 12) pl[7] = 0; /* shard 0 */
  put32(pl + hl - 4, (uint32_t)e->raw_len);
  memcpy(pl + hl, e->raw, e->raw_len);
  if (check_len) memcpy(pl + hl + e->raw_len, check, check_len);
  put32(out, (uint32_t)n);
  crypto_generichash(out + 4, 8, pl, n, NULL, 0);
  return 12 + n;
}

static void sign(dr_entry *e) {
  memcpy(e->rid, rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(e, &id, NULL, NULL), 0);
}

static void record(dr_entry *e, const char *sid, uint64_t seq, uint8_t health) {
  uint64_t now = (uint64_t)time(NULL);
  *e = (dr_entry){.kind = DR_KIND_RECORD, .name = strdup(sid), .seq = seq, .issued_at = now,
                  .expires_at = now + 300, .health = health};
  sign(e);
}

/* A tcp check of 127.0.0.1:1 (nothing listens) every 1 s, as check_spec.c
 * encodes it: version 1, kind, interval, timeout, failures, passes, count,
 * then each string with its u16be length. */
static size_t tcp_check(uint8_t *out) {
  static const char target[] = "127.0.0.1:1";
  uint8_t head[] = {1, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 3, 0, 2, 1, 0, sizeof target - 1};
  memcpy(out, head, sizeof head);
  memcpy(out + sizeof head, target, sizeof target - 1);
  return sizeof head + sizeof target - 1;
}

static size_t exec_check(uint8_t *out) {
  uint8_t b[] = {1, 3, 0, 0, 0, 1, 0, 0, 0, 30, 0, 1, 0, 1, 2, 0, 5, 's', 'l', 'e', 'e', 'p', 0, 4, '3', '0', '.', '3'};
  memcpy(out, b, sizeof b);
  return sizeof b;
}

static void write_file(const char *name, const void *data, size_t len) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  assert_int_equal(dr_write_file_atomic(path, data, len, 0600), 0);
}

static void on_stopped(void *ctx) {
  *(bool *)ctx = true;
}

/* Starts a node on the data dir, hands it to fn, stops it: every handle
 * (the checks' timers, connections, programs) closes. */
static void with_node(void (*fn)(dr_node *n, uv_loop_t *loop)) {
  uv_loop_t loop;
  dr_node *n = NULL;
  char err[512] = "";
  bool stopped = false;
  assert_int_equal(uv_loop_init(&loop), 0);
  dr_node_config cfg = {.data_dir = dir, .log_level = DR_LOG_ERROR, .tick_ms = 100};
  if (dr_node_start(&n, &loop, &cfg, err, sizeof err) < 0) fail_msg("the node did not start: %s", err);
  fn(n, &loop);
  dr_node_stop(n, on_stopped, &stopped);
  while (!stopped) uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT); /* what closes after the node */
  assert_int_equal(uv_loop_close(&loop), 0);
}

static const dr_own_ad_view *find(dr_own_ad_view *v, size_t n, const char *sid) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].record->name, sid) == 0) return &v[i];
  fail_msg("%s was not loaded", sid);
  return NULL;
}

static void loaded(dr_node *n, uv_loop_t *loop) {
  dr_own_ad_view *v;
  size_t k = dr_node_own_ads(n, &v);
  assert_int_equal(k, 4);
  assert_null(find(v, k, "old-1")->check); /* frames of before: no check */
  assert_null(find(v, k, "old-5")->check);
  const dr_own_ad_view *t = find(v, k, "tcp-7");
  assert_non_null(t->check);
  assert_int_equal(t->check->kind, DR_CHECK_TCP);
  assert_string_equal(t->check->target, "127.0.0.1:1");
  assert_int_equal(t->check->interval_s, 1);
  assert_int_equal(t->check->failures, 3);
  const dr_own_ad_view *x = find(v, k, "exec-7");
  assert_int_equal(x->check->kind, DR_CHECK_EXEC);
  assert_int_equal(x->check->argc, 2);
  assert_string_equal(x->check->argv[1], "30.3");
  assert_int_equal(x->record->health, DR_HEALTH_CRITICAL); /* as it was signed */
  free(v);
  /* the checks run: the tcp one fails, the program is still running when the node stops */
  uint64_t end = uv_now(loop) + 5000;
  bool ran = false;
  while (!ran && uv_now(loop) < end) {
    uv_run(loop, UV_RUN_ONCE);
    k = dr_node_own_ads(n, &v);
    ran = find(v, k, "tcp-7")->status.ran;
    if (ran) assert_false(find(v, k, "tcp-7")->status.last_ok);
    free(v);
  }
  assert_true(ran);
}

static void test_old_and_new_frames(void **state) {
  uint8_t seed[DR_SEED_LEN], *buf = malloc(65536), chk[64];
  char hex[2 * DR_SEED_LEN + 2];
  size_t len = 0;
  assert_non_null(buf);
  assert_int_equal(dr_crypto_init(), 0);
  assert_non_null(mkdtemp(dir));
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i;
  dr_identity_from_seed(&id, seed);
  sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
  strcat(hex, "\n");
  write_file("identity.key", hex, strlen(hex));
  dr_resource_id(rid, id.pk, "web", 3);

  dr_entry res = {.kind = DR_KIND_RESOURCE, .name = strdup("web"), .seq = 1, .issued_at = 1700000000}, r1, r5, r7, x7;
  sign(&res);
  record(&r1, "old-1", 2, DR_HEALTH_PASSING);
  record(&r5, "old-5", 3, DR_HEALTH_PASSING);
  record(&r7, "tcp-7", 4, DR_HEALTH_PASSING);
  record(&x7, "exec-7", 5, DR_HEALTH_CRITICAL);
  len += frame(buf + len, 4, &res, NULL, 0);
  len += frame(buf + len, 1, &r1, NULL, 0); /* a record as the first nodes wrote it (no shard) */
  len += frame(buf + len, 5, &r5, NULL, 0); /* with its shard, no check: until now */
  write_file("state.snap", buf, len);
  len = frame(buf, 7, &r7, chk, tcp_check(chk));
  len += frame(buf + len, 7, &x7, chk, exec_check(chk));
  write_file("state.log", buf, len);
  with_node(loaded);
  with_node(loaded); /* and again, from what the first run wrote */

  /* a check that does not decode is a corrupt frame: the node says which file */
  uint8_t bad[64];
  size_t bl = tcp_check(bad);
  bad[1] = 9; /* no such kind */
  len = frame(buf, 7, &r7, bad, bl);
  write_file("state.log", buf, len);
  write_file("state.snap", buf, 0);
  uv_loop_t loop;
  dr_node *n = NULL;
  char err[512] = "";
  assert_int_equal(uv_loop_init(&loop), 0);
  dr_node_config cfg = {.data_dir = dir, .log_level = DR_LOG_ERROR};
  assert_true(dr_node_start(&n, &loop, &cfg, err, sizeof err) < 0);
  assert_non_null(strstr(err, "state.log"));
  assert_int_equal(uv_loop_close(&loop), 0);

  dr_entry_clear(&res);
  dr_entry_clear(&r1);
  dr_entry_clear(&r5);
  dr_entry_clear(&r7);
  dr_entry_clear(&x7);
  free(buf);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_old_and_new_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
