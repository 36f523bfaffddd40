/* test_client_errors.c - libdhtreg's failure contract: a failed call leaves its result empty and safe to free, a failed connect leaves no connection and says why, a heartbeat that cannot start says so at once */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dhtreg/dhtreg.h"
#include "dhtreg/dhtreg_uv.h"
#undef h_addr /* <netdb.h>'s (through uv.h), not the harness's */
#include "tests/support/harness.h"

static h_node a, b; /* a: where the library connects (TTLs of 30 s and more); b: another owner */
static char nowhere[300], fake[300];

static int setup(void **state) {
  char boot[64];
  h_node_start(&a, "a", NULL);
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--bootstrap", boot, NULL});
  snprintf(nowhere, sizeof nowhere, "%s/nowhere.sock", h_tmpdir());
  /* a node that answers every first request with an error */
  snprintf(fake, sizeof fake, "%s/failing.sock", h_tmpdir());
  h_fake_node(fake, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,\"message\":\"the node could not\"}}\n");
  return 0;
}

/* Whether n bytes at p are all zero. */
static bool zeroed(const void *p, size_t n) {
  const unsigned char *bytes = p;
  for (size_t i = 0; i < n; i++)
    if (bytes[i]) return false;
  return true;
}

#define GARBAGE(x) memset(&(x), 0xa5, sizeof(x))

/* A failed connect leaves *out NULL and says why in dhtreg_errmsg(NULL);
 * calls on that NULL connection are -EINVAL with their results empty. */
static void test_connect_failure(void **state) {
  dhtreg *c = (dhtreg *)&c; /* not NULL, whatever was there before */
  assert_int_equal(dhtreg_connect(&c, nowhere), -ENOENT);
  assert_null(c);
  assert_non_null(strstr(dhtreg_errmsg(NULL), "no node at"));
  assert_non_null(strstr(dhtreg_errmsg(NULL), nowhere));
  dhtreg_close(c);

  char longer[400];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  c = (dhtreg *)&c;
  assert_int_equal(dhtreg_connect(&c, longer), -ENAMETOOLONG);
  assert_null(c);
  assert_non_null(strstr(dhtreg_errmsg(NULL), "too long"));

  /* a call on the connection that is not there: an error, an empty result,
   * and the connect's reason still readable */
  dhtreg_records rs;
  GARBAGE(rs);
  assert_int_equal(dhtreg_resolve(c, "whatever", NULL, &rs), -EINVAL);
  assert_true(zeroed(&rs, sizeof rs));
  dhtreg_records_free(&rs);
  assert_non_null(strstr(dhtreg_errmsg(NULL), "too long"));

  /* a watch: the same */
  dhtreg_watch *w = (dhtreg_watch *)&w;
  assert_int_equal(dhtreg_watch_open(&w, nowhere, "whatever"), -ENOENT);
  assert_null(w);
  assert_non_null(strstr(dhtreg_errmsg(NULL), "no node at"));
  dhtreg_watch_close(w);
  w = (dhtreg_watch *)&w;
  assert_int_equal(dhtreg_watch_open(&w, a.sock, "not an id"), DHTREG_EINVALID);
  assert_null(w);
  assert_non_null(strstr(dhtreg_errmsg(NULL), "resource_id"));

  /* a success clears it */
  assert_int_equal(dhtreg_connect(&c, a.sock), 0);
  assert_non_null(c);
  assert_string_equal(dhtreg_errmsg(NULL), "");
  assert_string_equal(dhtreg_errmsg(c), "");
  dhtreg_close(c);
}

static dhtreg *connect_fake(void) {
  dhtreg *c;
  if (dhtreg_connect(&c, fake) < 0) fail_msg("connect: %s", dhtreg_errmsg(NULL));
  return c;
}

/* Each call that fills a result, answered with an error: its result is
 * emptied, whatever it held, and freeing it is safe. */
static void test_results_empty_on_failure(void **state) {
  const int E = DHTREG_EINTERNAL;
  dhtreg *c;
  dhtreg_records rs;
  dhtreg_published pub;
  bool flag;
  char id[DHTREG_ID_MAX];

  c = connect_fake();
  char *json = (char *)&json;
  assert_int_equal(dhtreg_call(c, "health", NULL, &json), E);
  assert_null(json);
  assert_string_equal(dhtreg_errmsg(c), "the node could not");
  free(json);
  dhtreg_close(c);

  c = connect_fake();
  dhtreg_health h;
  GARBAGE(h);
  assert_int_equal(dhtreg_get_health(c, &h), E);
  assert_true(zeroed(&h, sizeof h));
  dhtreg_close(c);

  c = connect_fake();
  GARBAGE(id);
  assert_int_equal(dhtreg_peer_id(c, id), E);
  assert_string_equal(id, "");
  dhtreg_close(c);

  c = connect_fake();
  dhtreg_node_info info;
  GARBAGE(info);
  assert_int_equal(dhtreg_node_info_get(c, &info), E);
  assert_true(zeroed(&info, sizeof info));
  dhtreg_close(c);

  c = connect_fake();
  GARBAGE(id);
  flag = true;
  assert_int_equal(dhtreg_resource_create(c, "web", NULL, id, &flag), E);
  assert_string_equal(id, "");
  assert_false(flag);
  dhtreg_close(c);

  c = connect_fake();
  dhtreg_resource res;
  GARBAGE(res);
  assert_int_equal(dhtreg_resource_get(c, a.peer_id, &res), E);
  assert_true(zeroed(&res, sizeof res));
  dhtreg_close(c);

  c = connect_fake();
  dhtreg_ad ad = {.resource_id = a.peer_id, .service_id = "s"};
  GARBAGE(pub);
  assert_int_equal(dhtreg_advertise(c, &ad, &pub), E);
  assert_true(zeroed(&pub, sizeof pub));
  dhtreg_close(c);

  c = connect_fake();
  GARBAGE(pub);
  assert_int_equal(dhtreg_renew(c, a.peer_id, "s", &pub), E);
  assert_true(zeroed(&pub, sizeof pub));
  dhtreg_close(c);

  c = connect_fake();
  flag = true;
  assert_int_equal(dhtreg_withdraw(c, a.peer_id, "s", &flag), E);
  assert_false(flag);
  dhtreg_close(c);

  /* the three that fill records: empty, and freed without harm */
  for (int k = 0; k < 3; k++) {
    c = connect_fake();
    GARBAGE(rs);
    int r = k == 0 ? dhtreg_resolve(c, a.peer_id, NULL, &rs)
                   : k == 1 ? dhtreg_discover(c, a.peer_id, "http", &rs) : dhtreg_list(c, &rs);
    assert_int_equal(r, E);
    assert_true(zeroed(&rs, sizeof rs));
    dhtreg_records_free(&rs);
    dhtreg_records_free(&rs);
    dhtreg_close(c);
  }

  /* a label of the node's own: the node's error, with the id left empty */
  c = connect_fake();
  char err[256];
  GARBAGE(id);
  assert_int_equal(dhtreg_name_to_id(c, "web", id, err, sizeof err), E);
  assert_string_equal(id, "");
  assert_non_null(strstr(err, "the node could not"));
  dhtreg_close(c);
  GARBAGE(id);
  assert_int_equal(dhtreg_resource_id("not a peer id", "web", id), -EINVAL);
  assert_string_equal(id, "");

  /* an event: emptied even when none comes */
  char rid[DHTREG_ID_MAX];
  assert_int_equal(dhtreg_resource_id(a.peer_id, "quiet", rid), 0);
  dhtreg_watch *w;
  assert_int_equal(dhtreg_watch_open(&w, a.sock, rid), 0);
  dhtreg_event ev;
  GARBAGE(ev);
  assert_int_equal(dhtreg_watch_next(w, &ev, 100), -ETIMEDOUT);
  assert_true(zeroed(&ev, sizeof ev));
  dhtreg_event_free(&ev);
  dhtreg_watch_close(w);
}

/* ---- heartbeats that cannot start ------------------------------------------------------ */

static int beats;

static void on_beat(void *ud, int err, const char *what) {
  beats++;
}

/* Whether this node lists an advertisement of that service id. */
static bool lists(const char *sid) {
  dhtreg *c;
  dhtreg_records rs;
  bool found = false;
  if (dhtreg_connect(&c, a.sock) < 0) fail_msg("connect: %s", dhtreg_errmsg(NULL));
  assert_int_equal(dhtreg_list(c, &rs), 0);
  for (size_t i = 0; i < rs.n; i++) found |= strcmp(rs.records[i].service_id, sid) == 0;
  dhtreg_records_free(&rs);
  dhtreg_close(c);
  return found;
}

/* A heartbeat that cannot start returns the error at once, starts nothing
 * and leaves *out NULL, its reason in dhtreg_errmsg(NULL). */
static void expect_refused(const char *sock, const dhtreg_ad *ad, int want, const char *why) {
  dhtreg_heartbeat *hb = (dhtreg_heartbeat *)&hb;
  beats = 0;
  int r = dhtreg_heartbeat_start(&hb, sock, ad, on_beat, NULL);
  if (r != want) fail_msg("%s: %d (%s), want %d", why, r, dhtreg_errmsg(NULL), want);
  assert_null(hb);
  if (!strstr(dhtreg_errmsg(NULL), why)) fail_msg("'%s' does not say %s", dhtreg_errmsg(NULL), why);
  assert_int_equal(beats, 0);
  dhtreg_heartbeat_stop(hb, true);
  if (ad && ad->service_id) assert_false(lists(ad->service_id));
}

typedef struct theirs {
  const char *rid;
} theirs;

/* Whether a has b's owner-only resource: a's advertisement in it is
 * refused by policy then (and not for want of the resource). */
static bool a_knows(void *ctx) {
  dhtreg *c;
  dhtreg_resource res;
  bool yes = false;
  if (dhtreg_connect(&c, a.sock) == 0) {
    yes = dhtreg_resource_get(c, ((theirs *)ctx)->rid, &res) == 0 && strcmp(res.policy, "owner") == 0;
    dhtreg_close(c);
  }
  return yes;
}

static void test_heartbeat_start_refused(void **state) {
  dhtreg *c;
  char rid[DHTREG_ID_MAX], bid[DHTREG_ID_MAX];
  assert_int_equal(dhtreg_connect(&c, a.sock), 0);
  assert_int_equal(dhtreg_resource_create(c, "beats", NULL, rid, NULL), 0);
  dhtreg_close(c);

  dhtreg_ad ad = {.resource_id = rid, .service_id = "hb-1", .port = 80, .ttl = 5};
  expect_refused(a.sock, &ad, DHTREG_EINVALID, "ttl");
  ad.ttl = 100000;
  expect_refused(a.sock, &ad, DHTREG_EINVALID, "ttl");
  ad.ttl = 30;
  ad.resource_id = "not-a-resource-id";
  expect_refused(a.sock, &ad, DHTREG_EINVALID, "resource_id");
  ad.resource_id = NULL;
  expect_refused(a.sock, &ad, -EINVAL, "resource_id");
  expect_refused(a.sock, NULL, -EINVAL, "resource_id");
  ad.resource_id = rid;
  ad.service_id = "";
  expect_refused(a.sock, &ad, DHTREG_EINVALID, "service_id");
  ad.service_id = "hb-1";
  expect_refused(nowhere, &ad, -ENOENT, "no node at");

  /* a resource of b's that only b may advertise in */
  assert_int_equal(dhtreg_connect(&c, b.sock), 0);
  dhtreg_resource_opts owner = {.policy = "owner"};
  assert_int_equal(dhtreg_resource_create(c, "b-only", &owner, bid, NULL), 0);
  dhtreg_close(c);
  theirs t = {bid};
  assert_true(h_wait_for(a_knows, &t, 15000));
  ad.resource_id = bid;
  expect_refused(a.sock, &ad, DHTREG_EFORBIDDEN, a.peer_id);

  /* a good one: advertised when start returns, the callback hears it on
   * the heartbeat's thread, and a stop withdraws it at once */
  ad.resource_id = rid;
  dhtreg_heartbeat *hb;
  beats = 0;
  assert_int_equal(dhtreg_heartbeat_start(&hb, a.sock, &ad, on_beat, NULL), 0);
  assert_non_null(hb);
  assert_string_equal(dhtreg_errmsg(NULL), "");
  assert_true(lists("hb-1"));
  dhtreg_heartbeat_stop(hb, true);
  assert_true(beats >= 1);
  assert_false(lists("hb-1"));
}

/* ---- the same on a loop -------------------------------------------------------------- */

typedef struct uvb {
  int calls, last_err;
  char last[256];
  bool stopped;
} uvb;

static void on_uv_beat(void *ud, int err, const char *what) {
  uvb *s = ud;
  s->calls++;
  s->last_err = err;
  snprintf(s->last, sizeof s->last, "%s", what ? what : "");
}

static void on_uv_stopped(void *ud) {
  ((uvb *)ud)->stopped = true;
}

static bool guard_fired;

static void on_guard(uv_timer_t *t) {
  guard_fired = true;
  uv_stop(t->loop);
}

/* A heartbeat on a loop whose first advertisement fails: cb hears the
 * error once, then the heartbeat is idle (the loop ends by itself, well
 * before the guard), and stopping it frees it. */
static void expect_uv_refused(const char *sock, const dhtreg_ad *ad, int want1, int want2, const char *why) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvb s = {0};
  dhtreg_uv_heartbeat *hb;
  assert_int_equal(dhtreg_uv_heartbeat_start(&hb, &loop, sock, ad, on_uv_beat, &s), 0);
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  uv_timer_start(&guard, on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&guard); /* it does not keep the loop running */
  guard_fired = false;
  uv_run(&loop, UV_RUN_DEFAULT);
  if (guard_fired) fail_msg("%s: the heartbeat still runs after %d calls of cb (last: %s)", why, s.calls, s.last);
  assert_int_equal(s.calls, 1);
  if (s.last_err != want1 && s.last_err != want2) fail_msg("%s: %d (%s)", why, s.last_err, s.last);
  if (!strstr(s.last, why)) fail_msg("'%s' does not say %s", s.last, why);
  dhtreg_uv_heartbeat_stop(hb, true, on_uv_stopped, &s);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(s.stopped);
  assert_int_equal(s.calls, 1);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_uv_heartbeat_refused(void **state) {
  dhtreg *c;
  char rid[DHTREG_ID_MAX];
  assert_int_equal(dhtreg_connect(&c, a.sock), 0);
  assert_int_equal(dhtreg_resource_create(c, "uvbeats", NULL, rid, NULL), 0);
  dhtreg_close(c);
  dhtreg_ad ad = {.resource_id = rid, .service_id = "uvhb-1", .port = 80, .ttl = 5};
  expect_uv_refused(a.sock, &ad, DHTREG_EINVALID, DHTREG_EINVALID, "ttl");
  ad.ttl = 30;
  ad.resource_id = "not-a-resource-id";
  expect_uv_refused(a.sock, &ad, DHTREG_EINVALID, DHTREG_EINVALID, "resource_id");
  ad.resource_id = rid;
  expect_uv_refused(nowhere, &ad, -ENOENT, -ECONNREFUSED, "no node");
  assert_false(lists("uvhb-1"));

  /* what it cannot even try: said at once */
  uv_loop_t loop;
  uv_loop_init(&loop);
  dhtreg_uv_heartbeat *hb = (dhtreg_uv_heartbeat *)&hb;
  ad.service_id = NULL;
  assert_int_equal(dhtreg_uv_heartbeat_start(&hb, &loop, a.sock, &ad, on_uv_beat, NULL), -EINVAL);
  assert_null(hb);
  assert_non_null(strstr(dhtreg_errmsg(NULL), "service_id"));
  dhtreg_uv *u = (dhtreg_uv *)&u;
  assert_int_equal(dhtreg_uv_open(&u, NULL, a.sock), -EINVAL);
  assert_null(u);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_failure),
      cmocka_unit_test(test_results_empty_on_failure),
      cmocka_unit_test(test_heartbeat_start_refused),
      cmocka_unit_test(test_uv_heartbeat_refused),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
