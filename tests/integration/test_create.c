/* test_create.c - creating a resource again changes only what it is given (policy, allow-list, shards), and one that changes nothing signs nothing: through JSON-RPC, the CLI and libdhtreg, and end to end an owner-only resource stays closed to a peer not on its allow-list */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dhtreg/dhtreg.h"
#undef h_addr /* <netdb.h>'s, not the harness's */
#include "tests/support/harness.h"
#include "tests/support/cli_run.h"

static h_node a, b, c; /* a: the owner; b: on the allow-list; c: not */

static int setup(void **state) {
  char boot[64];
  const char *args[] = {"--op-timeout-ms", "3000", NULL};
  h_node_start(&a, "a", args);
  h_addr(&a, boot, sizeof boot);
  const char *peer[] = {"--op-timeout-ms", "3000", "--bootstrap", boot, NULL};
  h_node_start(&b, "b", peer);
  h_node_start(&c, "c", peer);
  return 0;
}

/* resource.create on a with params (stolen): its result. */
static json_t *create(json_t *params) {
  return h_ok(&a, "resource.create", params);
}

static json_int_t seq_of(json_t *res) {
  return json_integer_value(json_object_get(res, "seq"));
}

/* res says policy, allow-list (the peer ids, NULL-terminated) and shards. */
static void expect(json_t *res, const char *policy, const char *const *allow, json_int_t shards) {
  char *text = json_dumps(res, JSON_COMPACT);
  json_t *list = json_object_get(res, "allow");
  size_t n = 0;
  while (allow[n]) n++;
  if (strcmp(json_string_value(json_object_get(res, "policy")), policy) != 0 || json_array_size(list) != n ||
      json_integer_value(json_object_get(res, "shards")) != shards)
    fail_msg("want policy %s, %zu allowed, %lld shards: %s", policy, n, (long long)shards, text);
  for (size_t i = 0; i < n; i++)
    if (strcmp(json_string_value(json_array_get(list, i)), allow[i]) != 0) fail_msg("allow-list: %s", text);
  free(text);
}

static const char *const NONE[] = {NULL};

/* Each of policy, allow and shards: set when given, kept when left out; a
 * create that changes nothing has the same seq. */
static void test_rpc_create_again(void **state) {
  const char *const B[] = {b.peer_id, NULL}, *const BC[] = {b.peer_id, c.peer_id, NULL};
  json_t *r = create(json_pack("{s:s}", "label", "kept"));
  expect(r, "open", NONE, 1);
  json_int_t s = seq_of(r), created = json_integer_value(json_object_get(r, "created_at"));
  json_decref(r);
  r = create(json_pack("{s:s}", "label", "kept"));
  assert_int_equal(seq_of(r), s);
  json_decref(r);

  r = create(json_pack("{s:s, s:s, s:[s], s:i}", "label", "kept", "policy", "owner", "allow", b.peer_id, "shards", 4));
  expect(r, "owner", B, 4);
  assert_true(seq_of(r) > s);
  s = seq_of(r);
  json_decref(r);

  /* nothing given, or only what it is already: nothing changes, nothing is signed */
  json_t *same[] = {json_pack("{s:s}", "label", "kept"), json_pack("{s:s, s:s}", "label", "kept", "policy", "owner"),
                    json_pack("{s:s, s:i}", "label", "kept", "shards", 4),
                    json_pack("{s:s, s:[s]}", "label", "kept", "allow", b.peer_id),
                    json_pack("{s:s, s:n, s:n}", "label", "kept", "allow", "policy")};
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
    r = create(same[i]);
    expect(r, "owner", B, 4);
    if (seq_of(r) != s) fail_msg("create %zu: seq %lld, want %lld (re-signed)", i, (long long)seq_of(r), (long long)s);
    assert_int_equal(json_integer_value(json_object_get(r, "created_at")), created);
    json_decref(r);
  }

  /* one at a time: the others stay */
  r = create(json_pack("{s:s, s:[s, s]}", "label", "kept", "allow", b.peer_id, c.peer_id));
  expect(r, "owner", BC, 4);
  assert_true(seq_of(r) > s);
  s = seq_of(r);
  json_decref(r);
  r = create(json_pack("{s:s, s:i}", "label", "kept", "shards", 8));
  expect(r, "owner", BC, 8);
  assert_true(seq_of(r) > s);
  s = seq_of(r);
  json_decref(r);
  r = create(json_pack("{s:s, s:[]}", "label", "kept", "allow"));
  expect(r, "owner", NONE, 8);
  assert_true(seq_of(r) > s);
  json_decref(r);
  r = create(json_pack("{s:s, s:[s]}", "label", "kept", "allow", b.peer_id));
  expect(r, "owner", B, 8);
  s = seq_of(r);
  json_decref(r);

  /* open: the allow-list goes with the policy it belongs to */
  r = create(json_pack("{s:s, s:s}", "label", "kept", "policy", "open"));
  expect(r, "open", NONE, 8);
  assert_true(seq_of(r) > s);
  s = seq_of(r);
  json_decref(r);
  /* an allow-list for an open resource: said, and nothing changed */
  json_t *resp = h_call(&a, "resource.create", json_pack("{s:s, s:[s]}", "label", "kept", "allow", b.peer_id));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "allow"));
  json_decref(resp);
  assert_int_equal(h_err(&a, "resource.create",
                         json_pack("{s:s, s:s, s:[s]}", "label", "kept", "policy", "open", "allow", b.peer_id)),
                   -32602);
  json_t *rid = json_object_get(r = create(json_pack("{s:s}", "label", "kept")), "resource_id");
  assert_int_equal(seq_of(r), s);
  json_t *got = h_ok(&a, "resource.get", json_pack("{s:O}", "resource_id", rid));
  expect(got, "open", NONE, 8);
  assert_int_equal(seq_of(got), s);
  json_decref(got);
  json_decref(r);

  /* a new resource: what is given, the defaults for the rest */
  r = create(json_pack("{s:s, s:i}", "label", "fresh", "shards", 4));
  expect(r, "open", NONE, 4);
  json_decref(r);
  r = create(json_pack("{s:s, s:s}", "label", "fresh-owner", "policy", "owner"));
  expect(r, "owner", NONE, 1);
  json_decref(r);
}

/* The CLI sends only the options given: `create LABEL` keeps an owner-only
 * resource owner-only; --allow alone replaces the list, --no-allow empties it. */
static void test_cli_create_again(void **state) {
  char args[300];
  assert_int_equal(cli(&a, "create cli-res --policy owner --shards 2"), 0);
  assert_int_equal(cli(&a, "--json create cli-res"), 0);
  json_t *r = json_loads(cli_stdout, 0, NULL);
  assert_non_null(r);
  expect(r, "owner", NONE, 2);
  json_int_t s = seq_of(r);
  json_decref(r);
  assert_int_equal(cli(&a, "create cli-res"), 0);
  expect_out("owner");
  snprintf(args, sizeof args, "--json create cli-res --allow %s", b.peer_id);
  assert_int_equal(cli(&a, args), 0);
  r = json_loads(cli_stdout, 0, NULL);
  expect(r, "owner", (const char *const[]){b.peer_id, NULL}, 2);
  assert_true(seq_of(r) > s);
  json_decref(r);
  assert_int_equal(cli(&a, "--json create cli-res --no-allow"), 0);
  r = json_loads(cli_stdout, 0, NULL);
  expect(r, "owner", NONE, 2);
  json_decref(r);
  /* what cannot be: usage errors, or the node's error naming it */
  snprintf(args, sizeof args, "create cli-res --policy open --allow %s", b.peer_id);
  assert_int_equal(cli(&a, args), 2);
  snprintf(args, sizeof args, "create cli-res --no-allow --allow %s", b.peer_id);
  assert_int_equal(cli(&a, args), 2);
  assert_int_equal(cli(&a, "create cli-open"), 0);
  snprintf(args, sizeof args, "create cli-open --allow %s", b.peer_id);
  assert_int_equal(cli(&a, args), 2); /* the node's -32602: bad usage */
  expect_out("allow");
}

/* libdhtreg: a zeroed dhtreg_resource_opts (or none) says "keep"; a
 * non-NULL allow with n_allow 0 empties the list. */
static void test_lib_create_again(void **state) {
  dhtreg *d;
  char rid[DHTREG_ID_MAX];
  dhtreg_resource res;
  assert_int_equal(dhtreg_connect(&d, a.sock), 0);
  const char *peers[] = {b.peer_id};
  dhtreg_resource_opts lock = {.policy = "owner", .allow = peers, .n_allow = 1, .shards = 2};
  assert_int_equal(dhtreg_resource_create(d, "lib-res", &lock, rid, NULL), 0);
  assert_int_equal(dhtreg_resource_get(d, rid, &res), 0);
  uint64_t s = res.seq;
  dhtreg_resource_opts zero = {0};
  assert_int_equal(dhtreg_resource_create(d, "lib-res", NULL, rid, NULL), 0);
  assert_int_equal(dhtreg_resource_create(d, "lib-res", &zero, rid, NULL), 0);
  assert_int_equal(dhtreg_resource_get(d, rid, &res), 0);
  assert_string_equal(res.policy, "owner");
  assert_int_equal(res.n_allow, 1);
  assert_int_equal(res.shards, 2);
  assert_true(res.seq == s);
  dhtreg_resource_opts empty = {.allow = peers, .n_allow = 0};
  assert_int_equal(dhtreg_resource_create(d, "lib-res", &empty, rid, NULL), 0);
  assert_int_equal(dhtreg_resource_get(d, rid, &res), 0);
  assert_string_equal(res.policy, "owner");
  assert_int_equal(res.n_allow, 0);
  assert_int_equal(res.shards, 2);
  assert_true(res.seq > s);
  dhtreg_resource_opts bad = {.n_allow = 1};
  assert_int_equal(dhtreg_resource_create(d, "lib-res", &bad, rid, NULL), -EINVAL);
  assert_string_equal(rid, "");
  dhtreg_close(d);
}

/* ---- end to end ------------------------------------------------------------------------ */

typedef struct seen {
  const h_node *n;
  const char *rid;
  json_int_t seq;
} seen;

/* Whether node n reads the resource at seq (or newer). */
static bool reads(void *p) {
  seen *s = p;
  json_t *resp = h_call(s->n, "resource.get", json_pack("{s:s}", "resource_id", s->rid));
  json_t *res = json_object_get(resp, "result");
  bool yes = res && json_integer_value(json_object_get(res, "seq")) >= s->seq;
  json_decref(resp);
  return yes;
}

static json_int_t advertise(const h_node *n, const char *rid, const char *sid) {
  json_t *resp = h_call(n, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id",
                                                          sid, "host", "10.9.0.1", "port", 443));
  json_int_t code = h_error_code(resp);
  json_decref(resp);
  return code;
}

/* The owner locks a resource down, then its service creates it again at
 * every start, through each client: a peer not on the allow-list is still
 * refused, one on it still accepted. */
static void test_create_again_keeps_it_locked(void **state) {
  json_t *r = create(json_pack("{s:s, s:s, s:[s]}", "label", "locked", "policy", "owner", "allow", b.peer_id));
  char *rid = strdup(json_string_value(json_object_get(r, "resource_id")));
  json_int_t s = seq_of(r);
  json_decref(r);
  seen on_c = {&c, rid, s};
  assert_true(h_wait_for(reads, &on_c, 10000));
  assert_int_equal(advertise(&c, rid, "from-c"), -32011);

  /* created again without a policy: JSON-RPC, the CLI, libdhtreg */
  json_decref(create(json_pack("{s:s}", "label", "locked")));
  assert_int_equal(cli(&a, "create locked"), 0);
  dhtreg *d;
  assert_int_equal(dhtreg_connect(&d, a.sock), 0);
  assert_int_equal(dhtreg_resource_create(d, "locked", NULL, NULL, NULL), 0);
  dhtreg_close(d);

  /* c reads what a has now: still refused, and nothing of c's published */
  r = h_ok(&a, "resource.get", json_pack("{s:s}", "resource_id", rid));
  on_c.seq = seq_of(r);
  json_decref(r);
  assert_true(h_wait_for(reads, &on_c, 10000));
  json_int_t code = advertise(&c, rid, "from-c");
  if (code != -32011) fail_msg("c, not on the allow-list: %lld after create-again (want -32011)", (long long)code);
  json_t *list = h_ok(&c, "list", NULL);
  assert_int_equal(json_array_size(json_object_get(list, "records")), 0);
  json_decref(list);
  assert_false(h_resolve_has(&a, rid, "from-c"));
  /* b, on the list that was kept: accepted */
  seen on_b = {&b, rid, on_c.seq};
  assert_true(h_wait_for(reads, &on_b, 10000));
  assert_int_equal(advertise(&b, rid, "from-b"), 0);

  /* and a did not sign a new version */
  r = h_ok(&a, "resource.get", json_pack("{s:s}", "resource_id", rid));
  expect(r, "owner", (const char *const[]){b.peer_id, NULL}, 1);
  assert_int_equal(seq_of(r), s);
  json_decref(r);
  free(rid);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rpc_create_again),
      cmocka_unit_test(test_cli_create_again),
      cmocka_unit_test(test_lib_create_again),
      cmocka_unit_test(test_create_again_keeps_it_locked),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
