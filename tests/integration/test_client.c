/* test_client.c - libdhtreg against real nodes: the blocking API, the libuv API, watches, and the lease heartbeat across a node restart */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "dhtreg/dhtreg.h"
#include "dhtreg/dhtreg_uv.h"
#undef h_addr /* <netdb.h>'s (through uv.h), not the harness's */
#include "tests/support/harness.h"

static h_node a, b; /* a: where the library connects; b: another node, a reader */

static int setup(void **state) {
  char boot[64];
  h_node_start(&a, "a", (const char *[]){"--min-ttl", "2", "--clock-skew", "1", NULL});
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--min-ttl", "2", "--clock-skew", "1", "--bootstrap", boot, NULL});
  return 0;
}

static dhtreg *connect_a(void) {
  dhtreg *c;
  int r = dhtreg_connect(&c, a.sock);
  if (r < 0) fail_msg("connect: %s", dhtreg_errmsg(c));
  return c;
}

/* Whether resolve on node n shows service sid of rid (through the library). */
static bool shows(const h_node *n, const char *rid, const char *sid) {
  dhtreg *c;
  bool found = false;
  if (dhtreg_connect(&c, n->sock) == 0) {
    dhtreg_records rs;
    if (dhtreg_resolve(c, rid, NULL, &rs) == 0) {
      for (size_t i = 0; i < rs.n; i++) found |= strcmp(rs.records[i].service_id, sid) == 0;
      dhtreg_records_free(&rs);
    }
  }
  dhtreg_close(c);
  return found;
}

typedef struct seen {
  const h_node *n;
  const char *rid, *sid;
  bool want;
} seen;

static bool seen_pred(void *ctx) {
  seen *s = ctx;
  return shows(s->n, s->rid, s->sid) == s->want;
}

static void create(dhtreg *c, const char *label, char rid[DHTREG_ID_MAX]) {
  bool published;
  if (dhtreg_resource_create(c, label, NULL, rid, &published) < 0) fail_msg("create: %s", dhtreg_errmsg(c));
}

/* Every call of the blocking API, typed results and typed errors. */
static void test_blocking(void **state) {
  dhtreg *c = connect_a();
  dhtreg_health h;
  assert_int_equal(dhtreg_get_health(c, &h), 0);
  assert_true(h.ready);
  char me[DHTREG_ID_MAX], rid[DHTREG_ID_MAX], local[DHTREG_ID_MAX];
  assert_int_equal(dhtreg_peer_id(c, me), 0);
  assert_string_equal(me, a.peer_id);
  create(c, "web", rid);
  /* the id computed here, with no node, is the node's */
  assert_int_equal(dhtreg_resource_id(me, "web", local), 0);
  assert_string_equal(local, rid);
  assert_int_equal(dhtreg_resource_id("not-a-peer-id", "web", local), -EINVAL);
  const char *tags[] = {"v2", "eu"}, *addrs[] = {"10.0.0.5:8080"};
  dhtreg_meta meta[] = {{"zone", "eu-1"}};
  dhtreg_ad ad = {.resource_id = rid, .service_id = "web-1", .host = "10.0.0.5", .port = 8080,
                  .addresses = addrs, .n_addresses = 1, .type = "http", .tags = tags, .n_tags = 2,
                  .metadata = meta, .n_metadata = 1, .ttl = 60};
  dhtreg_published p;
  assert_int_equal(dhtreg_advertise(c, &ad, &p), 0);
  assert_true(p.seq > 0 && p.expires_at > 0);
  dhtreg_records rs;
  assert_int_equal(dhtreg_resolve(c, rid, NULL, &rs), 0);
  assert_true(rs.has_resource);
  assert_int_equal(rs.n, 1);
  dhtreg_record *r = &rs.records[0];
  assert_string_equal(r->service_id, "web-1");
  assert_string_equal(r->peer_id, me);
  assert_string_equal(r->host, "10.0.0.5");
  assert_int_equal(r->port, 8080);
  assert_string_equal(r->type, "http");
  assert_int_equal(r->n_tags, 2);
  assert_string_equal(r->tags[1], "eu");
  assert_int_equal(r->n_addresses, 1);
  assert_string_equal(r->addresses[0], "10.0.0.5:8080");
  assert_int_equal(r->n_metadata, 1);
  assert_string_equal(r->metadata[0].key, "zone");
  assert_string_equal(r->metadata[0].value, "eu-1");
  assert_string_equal(r->health, "passing");
  assert_true(r->seq == p.seq);
  dhtreg_records_free(&rs);
  /* discover by type; none of another type */
  assert_int_equal(dhtreg_discover(c, rid, "http", &rs), 0);
  assert_int_equal(rs.n, 1);
  dhtreg_records_free(&rs);
  assert_int_equal(dhtreg_discover(c, rid, "grpc", &rs), DHTREG_ENOTFOUND);
  /* renew: a newer seq */
  dhtreg_published p2;
  assert_int_equal(dhtreg_renew(c, rid, "web-1", &p2), 0);
  assert_true(p2.seq > p.seq);
  /* errors are typed and say what is wrong */
  assert_int_equal(dhtreg_resolve(c, "nonsense", NULL, &rs), DHTREG_EINVALID);
  assert_non_null(strstr(dhtreg_errmsg(c), "resource_id"));
  assert_int_equal(dhtreg_withdraw(c, rid, "nobody", NULL), DHTREG_ENOTFOUND);
  dhtreg_resolve_opts big = {.limit = 5000};
  assert_int_equal(dhtreg_resolve(c, rid, &big, &rs), DHTREG_EINVALID);
  assert_non_null(strstr(dhtreg_errmsg(c), "limit"));
  /* the raw call */
  char *json;
  assert_int_equal(dhtreg_call(c, "resource.id", "{\"label\":\"web\"}", &json), 0);
  assert_non_null(strstr(json, rid));
  free(json);
  assert_int_equal(dhtreg_call(c, "no.such", NULL, &json), -32601);
  /* the rest of the methods, typed */
  dhtreg_node_info info;
  assert_int_equal(dhtreg_node_info_get(c, &info), 0);
  assert_string_equal(info.peer_id, me);
  assert_int_equal(info.port, a.port);
  assert_true(info.ready); /* started alone: ready whatever its peers */
  assert_int_equal(info.advertised, 1);
  dhtreg_resource res;
  assert_int_equal(dhtreg_resource_get(c, rid, &res), 0);
  assert_string_equal(res.label, "web");
  assert_string_equal(res.owner, me);
  assert_string_equal(res.policy, "open");
  assert_int_equal(dhtreg_list(c, &rs), 0);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.records[0].service_id, "web-1");
  dhtreg_records_free(&rs);
  assert_int_equal(dhtreg_pin(c, rid), 0);
  assert_int_equal(dhtreg_unpin(c, rid), 0);
  assert_int_equal(dhtreg_unpin(c, rid), DHTREG_ENOTFOUND);
  char boot[64];
  h_addr(&b, boot, sizeof boot);
  const char *boots[] = {boot};
  assert_int_equal(dhtreg_bootstrap(c, boots, 1), 0);
  const char *bad[] = {"nocolon"};
  assert_int_equal(dhtreg_bootstrap(c, bad, 1), DHTREG_EINVALID);
  /* withdrawn: gone */
  bool published;
  assert_int_equal(dhtreg_withdraw(c, rid, "web-1", &published), 0);
  assert_int_equal(dhtreg_resolve(c, rid, NULL, &rs), 0);
  assert_int_equal(rs.n, 0);
  dhtreg_records_free(&rs);
  /* an unknown resource: no entry, no records, no error */
  assert_int_equal(dhtreg_resource_id(me, "nothing-here", local), 0);
  assert_int_equal(dhtreg_resolve(c, local, NULL, &rs), 0);
  assert_false(rs.has_resource);
  dhtreg_records_free(&rs);
  assert_int_equal(dhtreg_resource_get(c, local, &res), DHTREG_ENOTFOUND);
  dhtreg_close(c);
  /* no node: said so */
  char nowhere[300];
  snprintf(nowhere, sizeof nowhere, "%s/nowhere.sock", h_tmpdir());
  assert_int_equal(dhtreg_connect(&c, nowhere), -ENOENT);
  assert_non_null(strstr(dhtreg_errmsg(c), "no node at"));
  dhtreg_close(c);
}

/* Pages: each record once, across cursors. */
static void test_paging(void **state) {
  dhtreg *c = connect_a();
  char rid[DHTREG_ID_MAX];
  create(c, "paged", rid);
  for (int i = 0; i < 7; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "s%d", i);
    dhtreg_ad ad = {.resource_id = rid, .service_id = sid, .port = (uint16_t)(9000 + i)};
    assert_int_equal(dhtreg_advertise(c, &ad, NULL), 0);
  }
  int seen_mask = 0, pages = 0;
  char cursor[256] = "";
  do {
    dhtreg_resolve_opts o = {.limit = 3, .cursor = cursor[0] ? cursor : NULL};
    dhtreg_records rs;
    assert_int_equal(dhtreg_resolve(c, rid, &o, &rs), 0);
    for (size_t i = 0; i < rs.n; i++) {
      int k = rs.records[i].port - 9000;
      assert_false(seen_mask & (1 << k));
      seen_mask |= 1 << k;
    }
    snprintf(cursor, sizeof cursor, "%s", rs.next_cursor ? rs.next_cursor : "");
    dhtreg_records_free(&rs);
    pages++;
  } while (cursor[0] && pages < 10);
  assert_int_equal(seen_mask, 0x7f);
  assert_true(pages >= 3);
  dhtreg_close(c);
}

/* A blocking watch: the live records first, then changes made on another node. */
static void test_watch(void **state) {
  dhtreg *cb;
  assert_int_equal(dhtreg_connect(&cb, b.sock), 0);
  char rid[DHTREG_ID_MAX];
  create(cb, "watched", rid);
  dhtreg_ad ad = {.resource_id = rid, .service_id = "first", .port = 1};
  assert_int_equal(dhtreg_advertise(cb, &ad, NULL), 0);
  dhtreg_watch *w;
  assert_int_equal(dhtreg_watch_open(&w, a.sock, rid), 0);
  assert_true(dhtreg_watch_fd(w) >= 0);
  dhtreg_event ev;
  assert_int_equal(dhtreg_watch_next(w, &ev, 15000), 0);
  assert_int_equal(ev.type, DHTREG_EVENT_REGISTER);
  assert_string_equal(ev.record.service_id, "first");
  dhtreg_event_free(&ev);
  ad.service_id = "second";
  assert_int_equal(dhtreg_advertise(cb, &ad, NULL), 0);
  assert_int_equal(dhtreg_watch_next(w, &ev, 15000), 0);
  assert_int_equal(ev.type, DHTREG_EVENT_REGISTER);
  assert_string_equal(ev.record.service_id, "second");
  dhtreg_event_free(&ev);
  assert_int_equal(dhtreg_withdraw(cb, rid, "first", NULL), 0);
  assert_int_equal(dhtreg_watch_next(w, &ev, 15000), 0);
  assert_int_equal(ev.type, DHTREG_EVENT_DEREGISTER);
  assert_string_equal(ev.record.service_id, "first");
  dhtreg_event_free(&ev);
  assert_int_equal(dhtreg_watch_next(w, &ev, 200), -ETIMEDOUT);
  /* a record whose health check fails (nothing listens on port 1): critical */
  char params[300], *result = NULL;
  snprintf(params, sizeof params, "{\"resource_id\":\"%s\",\"service_id\":\"checked\",\"check\":{\"tcp\":"
           "\"127.0.0.1:1\",\"interval\":1,\"failures\":2}}", rid); /* critical after 1 s */
  assert_int_equal(dhtreg_call(cb, "record.advertise", params, &result), 0);
  free(result);
  assert_int_equal(dhtreg_watch_next(w, &ev, 15000), 0);
  assert_int_equal(ev.type, DHTREG_EVENT_REGISTER);
  assert_string_equal(ev.record.health, "passing"); /* a new check starts passing */
  dhtreg_event_free(&ev);
  assert_int_equal(dhtreg_watch_next(w, &ev, 15000), 0);
  assert_int_equal(ev.type, DHTREG_EVENT_CRITICAL);
  assert_string_equal(ev.record.service_id, "checked");
  assert_string_equal(ev.record.health, "critical");
  dhtreg_event_free(&ev);
  dhtreg_watch_close(w);
  dhtreg_close(cb);
}

/* ---- the libuv API ---------------------------------------------------------------- */

typedef struct uv_state {
  uv_loop_t *loop;
  dhtreg_uv *c;
  char rid[DHTREG_ID_MAX];
  int advertised, resolved_n, events, errors;
  bool resolved;
  uint64_t seq;
} uv_state;

static void on_uv_event(void *ud, int err, const dhtreg_event *ev) {
  uv_state *s = ud;
  if (err) {
    s->errors++;
    return;
  }
  if (ev->type == DHTREG_EVENT_REGISTER) s->events++;
}

static void on_uv_resolved(void *ud, int err, const char *msg, const dhtreg_records *r) {
  uv_state *s = ud;
  if (err) fail_msg("resolve: %s", msg);
  s->resolved = true;
  s->resolved_n = (int)r->n;
}

static void on_uv_advertised(void *ud, int err, const char *msg, const dhtreg_published *p) {
  uv_state *s = ud;
  if (err) fail_msg("advertise: %s", msg);
  s->seq = p->seq;
  if (++s->advertised == 3) /* all three in flight at once, then one resolve */
    assert_int_equal(dhtreg_uv_resolve(s->c, s->rid, NULL, on_uv_resolved, s), 0);
}

static void on_uv_bad(void *ud, int err, const char *msg, const dhtreg_records *r) {
  uv_state *s = ud;
  assert_int_equal(err, DHTREG_EINVALID);
  assert_non_null(strstr(msg, "resource_id"));
  s->errors++;
}

static void stop_loop(uv_timer_t *t) {
  uv_stop(t->loop);
}

static void test_uv(void **state) {
  dhtreg *c = connect_a();
  uv_state s = {0};
  create(c, "uv", s.rid);
  dhtreg_close(c);
  uv_loop_t loop;
  uv_loop_init(&loop);
  s.loop = &loop;
  assert_int_equal(dhtreg_uv_open(&s.c, &loop, a.sock), 0);
  /* calls before the connection is up wait for it */
  assert_int_equal(dhtreg_uv_watch(s.c, s.rid, on_uv_event, &s), 0);
  for (int i = 0; i < 3; i++) {
    char sid[8];
    snprintf(sid, sizeof sid, "u%d", i);
    dhtreg_ad ad = {.resource_id = s.rid, .service_id = sid, .port = (uint16_t)(7000 + i)};
    assert_int_equal(dhtreg_uv_advertise(s.c, &ad, on_uv_advertised, &s), 0);
  }
  assert_int_equal(dhtreg_uv_resolve(s.c, "bad id", NULL, on_uv_bad, &s), 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uint64_t end = h_now_ms() + 15000;
  while ((!s.resolved || s.events < 3) && h_now_ms() < end) {
    uv_timer_start(&t, stop_loop, 100, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  assert_true(s.resolved);
  assert_int_equal(s.resolved_n, 3);
  assert_int_equal(s.events, 3);
  assert_int_equal(s.errors, 1);
  uv_close((uv_handle_t *)&t, NULL);
  dhtreg_uv_close(s.c, NULL, NULL);
  /* the watch ends with the connection: its callback hears it once */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(s.errors, 2);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- heartbeats ---------------------------------------------------------------------- */

/* A lease kept by a heartbeat thread outlives a restart of its node, and
 * ends at its TTL once the heartbeat stops without withdrawing. */
static void test_heartbeat_across_restart(void **state) {
  dhtreg *c = connect_a();
  char rid[DHTREG_ID_MAX];
  create(c, "leased", rid);
  dhtreg_close(c);
  dhtreg_ad ad = {.resource_id = rid, .service_id = "beating", .port = 4000, .ttl = 3};
  dhtreg_heartbeat *hb;
  assert_int_equal(dhtreg_heartbeat_start(&hb, a.sock, &ad, NULL, NULL), 0);
  seen on_b = {&b, rid, "beating", true};
  assert_true(h_wait_for(seen_pred, &on_b, 15000));
  /* renewed past its TTL */
  uint64_t t0 = h_now_ms();
  while (h_now_ms() < t0 + 4500) {
    assert_true(shows(&b, rid, "beating"));
    usleep(500000);
  }
  /* the node restarts: the lease went with it (a lease ends with its
   * node), and the heartbeat advertises it again */
  h_node_signal(&a, SIGTERM);
  assert_true(h_node_wait(&a, 5000) >= 0);
  h_node_start(&a, "a", (const char *[]){"--min-ttl", "2", "--clock-skew", "1", NULL});
  char boot[64];
  h_addr(&b, boot, sizeof boot);
  dhtreg *ca = connect_a();
  char *json;
  char params[128];
  snprintf(params, sizeof params, "{\"addresses\":[\"%s\"]}", boot);
  assert_int_equal(dhtreg_call(ca, "node.bootstrap", params, &json), 0);
  free(json);
  dhtreg_close(ca);
  seen on_a = {&a, rid, "beating", true};
  assert_true(h_wait_for(seen_pred, &on_a, 15000));
  /* stopped without a withdrawal: gone at its TTL (3 s, and the 1 s skew) */
  dhtreg_heartbeat_stop(hb, false);
  seen gone = {&b, rid, "beating", false};
  assert_true(h_wait_for(seen_pred, &gone, 15000));
}

typedef struct hb_state {
  int advertised;
  bool stopped;
} hb_state;

static void on_hb(void *ud, int err, const char *what) {
  hb_state *s = ud;
  if (!err && strcmp(what, "advertised") == 0) s->advertised++;
}

static void on_hb_stopped(void *ud) {
  ((hb_state *)ud)->stopped = true;
}

/* A heartbeat on a loop: stopped with a withdrawal, the record is gone at once. */
static void test_uv_heartbeat_withdraws(void **state) {
  dhtreg *c = connect_a();
  char rid[DHTREG_ID_MAX];
  create(c, "uvlease", rid);
  dhtreg_close(c);
  uv_loop_t loop;
  uv_loop_init(&loop);
  hb_state s = {0};
  dhtreg_ad ad = {.resource_id = rid, .service_id = "uvbeat", .port = 4001, .ttl = 30};
  dhtreg_uv_heartbeat *hb;
  assert_int_equal(dhtreg_uv_heartbeat_start(&hb, &loop, a.sock, &ad, on_hb, &s), 0);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uint64_t end = h_now_ms() + 10000;
  while (!s.advertised && h_now_ms() < end) {
    uv_timer_start(&t, stop_loop, 50, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  assert_int_equal(s.advertised, 1);
  assert_true(shows(&a, rid, "uvbeat"));
  dhtreg_uv_heartbeat_stop(hb, true, on_hb_stopped, &s);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(s.stopped);
  assert_false(shows(&a, rid, "uvbeat"));
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* Resource ids from names: an id as is, LABEL@ALIAS through a names file,
 * LABEL@PEER_ID, and a label of the node's own. */
static void test_names(void **state) {
  char path[300], want[DHTREG_ID_MAX], got[DHTREG_ID_MAX], err[256];
  snprintf(path, sizeof path, "%s/names", h_tmpdir());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "# the team's nodes\nprod = %s   # node a\n", a.peer_id);
  fclose(f);
  setenv("DHTREG_NAMES", path, 1);
  assert_int_equal(dhtreg_resource_id(a.peer_id, "web", want), 0);
  assert_int_equal(dhtreg_name_to_id(NULL, "web@prod", got, err, sizeof err), 0);
  assert_string_equal(got, want);
  char ref[128];
  snprintf(ref, sizeof ref, "web@%s", a.peer_id);
  assert_int_equal(dhtreg_name_to_id(NULL, ref, got, err, sizeof err), 0);
  assert_string_equal(got, want);
  assert_int_equal(dhtreg_name_to_id(NULL, want, got, err, sizeof err), 0);
  assert_string_equal(got, want);
  dhtreg *c = connect_a();
  assert_int_equal(dhtreg_name_to_id(c, "web", got, err, sizeof err), 0);
  assert_string_equal(got, want);
  dhtreg_close(c);
  assert_int_equal(dhtreg_name_to_id(NULL, "web@staging", got, err, sizeof err), DHTREG_ENOTFOUND);
  assert_non_null(strstr(err, "staging"));
  assert_int_equal(dhtreg_name_to_id(NULL, "web", got, err, sizeof err), -EINVAL);
  unsetenv("DHTREG_NAMES");
}

/* A check given through the library: a TCP listener that closes makes the
 * record critical; resolve hides it unless include_all. */
typedef struct crit {
  dhtreg *c;
  const char *rid;
} crit;

static bool critical_shown(void *ctx) {
  crit *k = ctx;
  dhtreg_resolve_opts all = {.include_all = true};
  dhtreg_records rs;
  bool yes = false;
  if (dhtreg_resolve(k->c, k->rid, &all, &rs) == 0) {
    yes = rs.n == 1 && strcmp(rs.records[0].health, "critical") == 0;
    dhtreg_records_free(&rs);
  }
  return yes;
}

static void test_check(void **state) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(ls, 8), 0);
  assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
  char target[32];
  snprintf(target, sizeof target, "127.0.0.1:%u", ntohs(sa.sin_port));
  dhtreg *c = connect_a();
  char rid[DHTREG_ID_MAX];
  create(c, "checked", rid);
  dhtreg_check check = {.tcp = target, .interval = 1, .failures = 1, .passes = 1};
  dhtreg_ad ad = {.resource_id = rid, .service_id = "db-1", .port = 5432, .check = &check};
  assert_int_equal(dhtreg_advertise(c, &ad, NULL), 0);
  dhtreg_records rs;
  assert_int_equal(dhtreg_resolve(c, rid, NULL, &rs), 0);
  assert_int_equal(rs.n, 1);
  assert_string_equal(rs.records[0].health, "passing");
  dhtreg_records_free(&rs);
  close(ls); /* the service is gone */
  crit k = {c, rid};
  assert_true(h_wait_for(critical_shown, &k, 15000));
  assert_int_equal(dhtreg_resolve(c, rid, NULL, &rs), 0);
  assert_int_equal(rs.n, 0); /* hidden by default */
  dhtreg_records_free(&rs);
  assert_int_equal(dhtreg_discover(c, rid, NULL, &rs), DHTREG_ENOTFOUND);
  /* a bad check is the node's -32602, naming the member */
  dhtreg_check bad = {.tcp = target, .http = "http://127.0.0.1/"};
  ad.check = &bad;
  assert_int_equal(dhtreg_advertise(c, &ad, NULL), DHTREG_EINVALID);
  assert_non_null(strstr(dhtreg_errmsg(c), "check"));
  dhtreg_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocking),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_paging),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_watch),
      cmocka_unit_test(test_uv),
      cmocka_unit_test(test_uv_heartbeat_withdraws),
      cmocka_unit_test(test_heartbeat_across_restart),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
