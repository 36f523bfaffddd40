/* test_watch.c - watch events in order per record, resolve from the cache, pin; on --bind nodes, from other storers
 *
 * The three main nodes run as a deployment's would, each on its own address
 * (--bind), in a network namespace of their own where every address of
 * 10.77.0.0/16 is local (h_netns: root; unbound on 127.0.0.1 otherwise).
 * The pair of the report runs anywhere: two nodes on 127.0.0.51 and
 * 127.0.0.52 (two nodes only: OpenDHT takes a loopback address a peer
 * reports for the reporter's own, so a third would be told wrong
 * addresses); so does a pair on ::1 alone. Eight plain OpenDHT nodes with
 * ids next to a key make a watcher that stores none of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/support/foreign.h"
#include "tests/support/harness.h"

static h_node a, b, c;
static char rid[64], boot[32];
static bool bound; /* a, b and c each on an address of the namespace */

/* Starts a node that joins through join (NULL: the first of its network),
 * bound to bind (NULL: every address). */
static void start(h_node *n, const char *name, const char *join, const char *bind) {
  const char *args[16] = {"--min-ttl", "1", "--clock-skew", "1", "--tick-ms", "100", "--op-timeout-ms", "3000"};
  int k = 8;
  if (join) {
    args[k++] = "--bootstrap";
    args[k++] = join;
  }
  if (bind) {
    args[k++] = "--bind";
    args[k++] = bind;
  }
  args[k] = NULL;
  h_node_start(n, name, args);
}

/* The address of a, b or c (i 0 to 2): one of the namespace, or none. */
static const char *addr_of(int i, char *buf, size_t len) {
  if (!bound) return NULL;
  h_netns_addr(i, buf, len);
  return buf;
}

static int setup(void **state) {
  char addr[32];
  bound = h_netns();
  if (!bound) fprintf(stderr, "no network namespace (it needs root): a, b and c run on 127.0.0.1\n");
  start(&a, "a", NULL, addr_of(0, addr, sizeof addr));
  h_addr(&a, boot, sizeof boot);
  start(&b, "b", boot, addr_of(1, addr, sizeof addr));
  start(&c, "c", boot, addr_of(2, addr, sizeof addr));
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "watched"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

static void advertise_on(const h_node *n, const char *r, const char *sid, int ttl, bool lease) {
  json_decref(h_ok(n, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i, s:i, s:b}", "resource_id", r, "service_id", sid,
                             "host", "10.0.0.7", "port", 7000, "ttl", ttl, "lease", lease)));
}

static void advertise(const char *sid, int ttl, bool lease) {
  advertise_on(&a, rid, sid, ttl, lease);
}

static void withdraw_on(const h_node *n, const char *r, const char *sid) {
  json_decref(h_ok(n, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", r, "service_id", sid)));
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

/* Reads the events that arrive on fd until done(s, ctx) holds or ms pass;
 * returns whether done held. */
static bool collect(int fd, json_int_t sub, seen *s, int ms, bool (*done)(const seen *, const void *),
                    const void *ctx) {
  uint64_t end = h_now_ms() + (uint64_t)ms;
  for (;;) {
    if (done && done(s, ctx)) return true;
    int left = (int)(end - h_now_ms());
    if (left <= 0) return false;
    json_t *m = h_read_json(fd, left);
    if (!m) return false;
    json_t *p = json_object_get(m, "params");
    assert_string_equal(json_string_value(json_object_get(m, "method")), "event");
    assert_int_equal(json_integer_value(json_object_get(p, "subscription")), sub);
    json_t *rec = json_object_get(p, "record");
    if (s->n < 64)
      snprintf(s->ev[s->n++], sizeof s->ev[0], "%s:%s", json_string_value(json_object_get(p, "type")),
               json_string_value(json_object_get(rec, "service_id")));
    json_decref(m);
  }
}

static bool got_all(const seen *s, const void *wanted) {
  for (const char *const *w = wanted; *w; w++)
    if (!got(s, *w)) return false;
  return true;
}

static void collect_until(int fd, json_int_t sub, seen *s, const char *const *wanted, int ms) {
  if (collect(fd, sub, s, ms, got_all, wanted)) return;
  for (int i = 0; i < s->n; i++) fprintf(stderr, "  event %d: %s\n", i, s->ev[i]);
  fail_msg("the expected events did not all arrive within %d ms", ms);
}

static json_int_t dht_listens(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  json_int_t listens = json_integer_value(json_object_get(info, "dht_listens"));
  json_decref(info);
  return listens;
}

/* No watch, no cache, and (a moment later) no OpenDHT listen left. */
static bool no_watches(void *p) {
  json_t *info = h_ok(p, "node.info", NULL);
  json_t *cache = json_object_get(info, "cache");
  bool none = json_integer_value(json_object_get(cache, "watches")) == 0 &&
              json_integer_value(json_object_get(cache, "resources")) == 0 &&
              json_integer_value(json_object_get(info, "dht_listens")) == 0;
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
  withdraw_on(&a, rid, "withdrawn");

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

/* Two nodes, each bound to one address (--bind) of one family. */
typedef struct pair {
  const char *bind_x, *bind_y, *name_x, *name_y;
  h_node x, y;
  char rid[64];
} pair;

/* As reported (two addresses of 127/8), and of IPv6 only. */
static pair v4 = {.bind_x = "127.0.0.51", .bind_y = "127.0.0.52", .name_x = "x4", .name_y = "y4"},
            v6 = {.bind_x = "::1", .bind_y = "::1", .name_x = "x6", .name_y = "y6"};

static void create_on(const h_node *n, const char *label, char *out, size_t len) {
  json_t *r = h_ok(n, "resource.create", json_pack("{s:s}", "label", label));
  snprintf(out, len, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
}

/* Whether this host can bind ::1 (a kernel without IPv6 cannot). */
static bool has_ipv6(void) {
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

static void start_pair(pair *p) {
  char join[80];
  if (p->x.pid > 0) return;
  if (strchr(p->bind_x, ':') && !has_ipv6()) skip();
  start(&p->x, p->name_x, NULL, p->bind_x);
  if (strchr(p->bind_x, ':')) snprintf(join, sizeof join, "[%s]:%u", p->bind_x, p->x.port);
  else h_addr(&p->x, join, sizeof join);
  start(&p->y, p->name_y, join, p->bind_y);
  create_on(&p->x, "pair", p->rid, sizeof p->rid);
}

static json_int_t cache_hits(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  json_int_t hits = json_integer_value(json_object_get(json_object_get(info, "cache"), "hits"));
  json_decref(info);
  return hits;
}

static bool resolves_not(void *p) {
  const h_has *has = p;
  return !h_resolve_has(has->n, has->rid, has->sid);
}

/* The report: a watch on a node started with --bind heard the records that
 * existed and nothing after its first answer (OpenDHT's listen on a
 * runner of one address family; see dht/opendht_shim.cpp). */
static void watch_pair(pair *p) {
  start_pair(p);
  advertise_on(&p->x, p->rid, "before", 30, false);
  int fd = h_connect(&p->y);
  assert_true(fd >= 0);
  json_int_t sub = h_watch(fd, p->rid);
  seen s = {0};
  collect_until(fd, sub, &s, (const char *[]){"register:before", NULL}, 5000);
  assert_int_equal(dht_listens(&p->y), 2); /* the head's records, and its resource entries */
  advertise_on(&p->x, p->rid, "after", 30, false);
  collect_until(fd, sub, &s, (const char *[]){"register:after", NULL}, 5000);
  withdraw_on(&p->x, p->rid, "after");
  collect_until(fd, sub, &s, (const char *[]){"deregister:after", NULL}, 5000);
  close(fd);
  if (!h_wait_for(no_watches, &p->y, 5000)) fail_msg("the watch or its listens outlived its connection");
}

/* The same for a pin: its resolve, answered from the cache, sees a record
 * advertised after the pin, and then its withdrawal. */
static void pin_pair(pair *p) {
  start_pair(p);
  advertise_on(&p->x, p->rid, "before", 30, false);
  json_decref(h_ok(&p->y, "resource.pin", json_pack("{s:s}", "resource_id", p->rid)));
  h_has before = {&p->y, p->rid, "before"}, late = {&p->y, p->rid, "late"};
  assert_true(h_wait_for(h_resolves, &before, 5000));
  json_int_t hits0 = cache_hits(&p->y);
  advertise_on(&p->x, p->rid, "late", 30, false);
  if (!h_wait_for(h_resolves, &late, 5000)) fail_msg("the pin's resolve did not see a record advertised after it");
  assert_true(cache_hits(&p->y) > hits0);
  withdraw_on(&p->x, p->rid, "late");
  if (!h_wait_for(resolves_not, &late, 5000)) fail_msg("the pin's resolve still shows a withdrawn record");
  json_decref(h_ok(&p->y, "resource.unpin", json_pack("{s:s}", "resource_id", p->rid)));
  if (!h_wait_for(no_watches, &p->y, 5000)) fail_msg("the pin's listens outlived it");
}

static void test_watch_bound_pair(void **state) {
  watch_pair(&v4);
}

static void test_pin_bound_pair(void **state) {
  pin_pair(&v4);
}

static void test_watch_bound_ipv6_pair(void **state) {
  watch_pair(&v6);
}

static void test_pin_bound_ipv6_pair(void **state) {
  pin_pair(&v6);
}

/* Whether every foreign node heard its bootstrap node answer (which then
 * knows it: a's lookups of the key find them). */
static bool storers_joined(void *p) {
  h_foreign **f = p;
  for (int i = 0; i < 8; i++)
    if (h_foreign_peers(f[i]) == 0) return false;
  return true;
}

static bool renewed_expired(const seen *s, const void *sid) {
  char want[80];
  snprintf(want, sizeof want, "expire:%s", (const char *)sid);
  return got(s, want);
}

/* A watcher that stores nothing of the key hears what the key's storers
 * hear (OpenDHT 2.4.12 delivered a listen filtered on dhtreg's type only
 * what the node stored itself), and learns renewals from them (its gets
 * were answered from the listen's cache, which never saw one). Eight plain
 * OpenDHT nodes whose ids are next to the key are its storers. */
static void test_watch_from_other_storers(void **state) {
  const char *label = "far";
  uint8_t owner[DR_ID_LEN], r_bin[DR_ID_LEN], key[DR_DHT_KEY_LEN];
  char far[64], addr[32];
  h_foreign *f[8];
  assert_int_equal(dr_id_decode(a.peer_id, owner), 0);
  dr_resource_id(r_bin, owner, label, strlen(label));
  dr_dht_key(key, r_bin, NULL);
  for (int i = 0; i < 8; i++) {
    uint8_t id[DR_DHT_KEY_LEN];
    memcpy(id, key, sizeof id);
    id[DR_DHT_KEY_LEN - 1] ^= (uint8_t)(i + 1);
    f[i] = h_foreign_start_storer(addr_of(3 + i, addr, sizeof addr), a.host, a.port, id);
  }
  if (!h_wait_for(storers_joined, f, 10000)) fail_msg("the storers did not join in time");
  create_on(&a, label, far, sizeof far);
  int fd = h_connect(&c);
  assert_true(fd >= 0);
  json_int_t sub = h_watch(fd, far);
  advertise_on(&a, far, "far-new", 30, false);
  advertise_on(&a, far, "far-renewed", 2, false); /* renewed in place every second */
  seen s = {0};
  collect_until(fd, sub, &s, (const char *[]){"register:far-new", "register:far-renewed", NULL}, 10000);
  withdraw_on(&a, far, "far-new");
  collect_until(fd, sub, &s, (const char *[]){"deregister:far-new", NULL}, 10000);
  /* two lifetimes more: each renewal is found by a get of the storers */
  if (collect(fd, sub, &s, 4000, renewed_expired, "far-renewed")) fail_msg("a renewed record was reported expired");
  withdraw_on(&a, far, "far-renewed");
  close(fd);
  if (!h_wait_for(no_watches, &c, 5000)) fail_msg("the watch or its listens outlived its connection");
  for (int i = 0; i < 8; i++) h_foreign_stop(f[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_events_in_order),
      cmocka_unit_test(test_pin),
      cmocka_unit_test(test_pin_follows_resource_changes),
      cmocka_unit_test(test_watch_bound_pair),
      cmocka_unit_test(test_pin_bound_pair),
      cmocka_unit_test(test_watch_bound_ipv6_pair),
      cmocka_unit_test(test_pin_bound_ipv6_pair),
      cmocka_unit_test(test_watch_from_other_storers),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
