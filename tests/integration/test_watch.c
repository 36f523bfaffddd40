/* test_watch.c - watch events (register, deregister, expire) in order per record; resolve from the cache; pin */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/support/harness.h"

static h_node a, b, c;
static char rid[64], boot[32];

static void start(h_node *n, const char *name) {
  const char *args[] = {"--min-ttl", "1", "--clock-skew", "1", "--tick-ms", "100", "--op-timeout-ms", "3000",
                        "--bootstrap", boot, NULL};
  h_node_start(n, name, args);
}

static int setup(void **state) {
  h_node_start(&a, "a", (const char *[]){"--min-ttl", "1", "--clock-skew", "1", "--tick-ms", "100", NULL});
  h_addr(&a, boot, sizeof boot);
  start(&b, "b");
  start(&c, "c");
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "watched"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

static void advertise(const char *sid, int ttl, bool lease) {
  json_decref(h_ok(&a, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i, s:i, s:b}", "resource_id", rid, "service_id", sid,
                             "host", "10.0.0.7", "port", 7000, "ttl", ttl, "lease", lease)));
}

/* Events as "type:service_id" strings, in arrival order. */
typedef struct seen {
  char ev[64][80];
  int n;
} seen;

static bool got(const seen *s, const char *want) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->ev[i], want) == 0) return true;
  return false;
}

static int index_of(const seen *s, const char *want) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->ev[i], want) == 0) return i;
  return -1;
}

static void collect_until(int fd, json_int_t sub, seen *s, const char *const *wanted, int ms) {
  uint64_t end = h_now_ms() + (uint64_t)ms;
  for (;;) {
    bool all = true;
    for (int i = 0; wanted[i]; i++) all &= got(s, wanted[i]);
    if (all) return;
    int left = (int)(end - h_now_ms());
    if (left <= 0) break;
    json_t *m = h_read_json(fd, left);
    if (!m) break;
    json_t *p = json_object_get(m, "params");
    assert_string_equal(json_string_value(json_object_get(m, "method")), "event");
    assert_int_equal(json_integer_value(json_object_get(p, "subscription")), sub);
    json_t *rec = json_object_get(p, "record");
    if (s->n < 64)
      snprintf(s->ev[s->n++], sizeof s->ev[0], "%s:%s", json_string_value(json_object_get(p, "type")),
               json_string_value(json_object_get(rec, "service_id")));
    json_decref(m);
  }
  for (int i = 0; i < s->n; i++) fprintf(stderr, "  event %d: %s\n", i, s->ev[i]);
  fail_msg("the expected events did not all arrive within %d ms", ms);
}

static bool no_watches(void *p) {
  json_t *info = h_ok(p, "node.info", NULL);
  json_t *cache = json_object_get(info, "cache");
  bool none = json_integer_value(json_object_get(cache, "watches")) == 0 &&
              json_integer_value(json_object_get(cache, "resources")) == 0;
  json_decref(info);
  return none;
}

static void test_events_in_order(void **state) {
  int fd = h_connect(&c);
  assert_true(fd >= 0);
  json_int_t sub = h_watch(fd, rid);

  advertise("kept", 30, false);
  advertise("withdrawn", 30, false);
  advertise("leased", 2, true);
  advertise("renewed", 2, false); /* re-signed every second: no event for that */
  json_decref(h_ok(&a, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "withdrawn")));

  seen s = {0};
  const char *want[] = {"register:kept", "register:withdrawn", "deregister:withdrawn",
                        "register:leased", "expire:leased", "register:renewed", NULL};
  collect_until(fd, sub, &s, want, 15000);
  assert_true(index_of(&s, "register:withdrawn") < index_of(&s, "deregister:withdrawn"));
  assert_true(index_of(&s, "register:leased") < index_of(&s, "expire:leased"));
  /* "renewed" went through several seqs by now: still one register */
  int regs = 0;
  for (int i = 0; i < s.n; i++) regs += strcmp(s.ev[i], "register:renewed") == 0;
  assert_int_equal(regs, 1);
  assert_false(got(&s, "expire:renewed"));
  assert_false(got(&s, "expire:kept"));

  /* resolve of the watched resource comes from the cache */
  json_t *info0 = h_ok(&c, "node.info", NULL);
  json_int_t hits0 = json_integer_value(json_object_get(json_object_get(info0, "cache"), "hits"));
  json_decref(info0);
  assert_true(h_resolve_has(&c, rid, "kept"));
  assert_false(h_resolve_has(&c, rid, "withdrawn"));
  assert_false(h_resolve_has(&c, rid, "leased"));
  json_t *info = h_ok(&c, "node.info", NULL);
  json_t *cache = json_object_get(info, "cache");
  assert_true(json_integer_value(json_object_get(cache, "hits")) >= hits0 + 3);
  assert_int_equal(json_integer_value(json_object_get(cache, "watches")), 1);
  json_decref(info);

  /* a second watcher starts with what is live */
  int fd2 = h_connect(&c);
  json_int_t sub2 = h_watch(fd2, rid);
  seen s2 = {0};
  const char *want2[] = {"register:kept", "register:renewed", NULL};
  collect_until(fd2, sub2, &s2, want2, 5000);
  assert_false(got(&s2, "register:withdrawn"));

  /* unwatch: only this connection's subscriptions, once */
  char req[200];
  int len = snprintf(req, sizeof req,
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"unwatch\",\"params\":{\"subscription\":%lld}}\n",
                     (long long)sub);
  h_send(fd2, req, (size_t)len); /* not fd2's */
  json_t *r = h_read_json(fd2, 5000);
  while (r && json_object_get(r, "method")) { /* events may come first */
    json_decref(r);
    r = h_read_json(fd2, 5000);
  }
  assert_non_null(r);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32004);
  json_decref(r);
  h_send(fd, req, (size_t)len);
  r = h_read_json(fd, 5000);
  while (r && json_object_get(r, "method")) {
    json_decref(r);
    r = h_read_json(fd, 5000);
  }
  assert_non_null(r);
  assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "ok")));
  json_decref(r);

  /* subscriptions end with their connection; the cache goes with the last */
  close(fd);
  close(fd2);
  if (!h_wait_for(no_watches, &c, 5000)) fail_msg("watches outlived their connections");
}

static void test_pin(void **state) {
  json_decref(h_ok(&b, "resource.pin", json_pack("{s:s}", "resource_id", rid)));
  json_decref(h_ok(&b, "resource.pin", json_pack("{s:s}", "resource_id", rid))); /* idempotent */
  assert_true(h_resolve_has(&b, rid, "kept"));
  json_t *info = h_ok(&b, "node.info", NULL);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "cache"), "resources")), 1);
  json_decref(info);
  json_decref(h_ok(&b, "resource.unpin", json_pack("{s:s}", "resource_id", rid)));
  assert_int_equal(h_err(&b, "resource.unpin", json_pack("{s:s}", "resource_id", rid)), -32004);
  assert_int_equal(h_err(&b, "resource.pin", json_pack("{s:s}", "resource_id", "nope")), -32602);
  assert_int_equal(h_err(&b, "watch", json_pack("{s:s}", "resource_id", "nope")), -32602);
  assert_int_equal(h_err(&b, "unwatch", json_pack("{s:s}", "subscription", "x")), -32602);
}

typedef struct shards_on {
  const h_node *n;
  const char *rid;
  json_int_t shards;
  size_t records;
} shards_on;

/* Whether n resolves rid with that shard count and that many records. */
static bool resolves_as(void *p) {
  shards_on *w = p;
  json_t *resp = h_call(w->n, "resolve", json_pack("{s:s}", "resource_id", w->rid));
  json_t *res = json_object_get(resp, "result");
  bool ok = res && json_integer_value(json_object_get(json_object_get(res, "resource"), "shards")) == w->shards &&
            json_array_size(json_object_get(res, "records")) == w->records;
  json_decref(resp);
  return ok;
}

/* A pinned resource follows its owner's changes: new versions of the
 * resource entry reach the pin's listen (a new value id each), the cache
 * listens to the shards the resource grows to, the records its issuer
 * moves there stay resolvable, and an owner-only policy drops the others'. */
static void test_pin_follows_resource_changes(void **state) {
  char grows[64];
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "grows"));
  snprintf(grows, sizeof grows, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  for (int i = 0; i < 20; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "g-%02d", i);
    json_decref(h_ok(&c, "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i, s:i}", "resource_id", grows, "service_id", sid, "host",
                               "10.0.0.9", "port", 9000, "ttl", 4)));
  }
  json_decref(h_ok(&b, "resource.pin", json_pack("{s:s}", "resource_id", grows)));
  shards_on w = {&b, grows, 1, 20};
  assert_true(h_wait_for(resolves_as, &w, 10000));

  json_decref(h_ok(&a, "resource.create", json_pack("{s:s, s:i}", "label", "grows", "shards", 8)));
  w.shards = 8;
  if (!h_wait_for(resolves_as, &w, 15000)) fail_msg("the pin did not follow the resource to 8 shards");
  /* c reads the new count; its renewals (every 2 s) move each record
   * whose placement under 8 shards is not the head; the pin never loses
   * one (the record reaches its new shard before the tombstone its old) */
  shards_on at_c = {&c, grows, 8, 20};
  assert_true(h_wait_for(resolves_as, &at_c, 10000));
  uint8_t r_bin[DR_ID_LEN], issuer[DR_ID_LEN];
  assert_int_equal(dr_id_decode(grows, r_bin), 0);
  assert_int_equal(dr_id_decode(c.peer_id, issuer), 0);
  long to_move = 0;
  for (int i = 0; i < 20; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "g-%02d", i);
    to_move += dr_shard_hash(r_bin, issuer, sid, strlen(sid)) % 8 != 0;
  }
  assert_true(to_move > 0);
  /* c places and moves by a new count 15 s after it saw it (readers have
   * read it by then), then at its renewals */
  uint64_t until = h_now_ms() + 30000;
  long moved = 0;
  while (moved < to_move && h_now_ms() < until) {
    if (!resolves_as(&w)) fail_msg("the pin lost a record while %ld of %ld had moved", moved, to_move);
    json_t *info = h_ok(&c, "node.info", NULL);
    moved = (long)json_integer_value(json_object_get(info, "records_moved"));
    json_decref(info);
  }
  assert_int_equal(moved, to_move);
  assert_true(resolves_as(&w));

  json_decref(h_ok(&a, "resource.create",
                   json_pack("{s:s, s:i, s:s, s:[]}", "label", "grows", "shards", 8, "policy", "owner", "allow")));
  w.records = 0;
  if (!h_wait_for(resolves_as, &w, 15000)) fail_msg("the pin did not apply the owner-only policy");
  json_decref(h_ok(&b, "resource.unpin", json_pack("{s:s}", "resource_id", grows)));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_events_in_order),
      cmocka_unit_test(test_pin),
      cmocka_unit_test(test_pin_follows_resource_changes),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
