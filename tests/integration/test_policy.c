/* test_policy.c - an owner-policy resource: a peer on its allow-list advertises, one that is not
 * gets -32011 before anything is published, and is accepted once the owner adds it */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/harness.h"

static h_node a, b, c;
static char boot[32];

static void start(h_node *n, const char *name) {
  const char *args[] = {"--op-timeout-ms", "3000", "--bootstrap", boot, NULL};
  h_node_start(n, name, args);
}

static int setup(void **state) {
  const char *args[] = {"--op-timeout-ms", "3000", NULL};
  h_node_start(&a, "a", args);
  h_addr(&a, boot, sizeof boot);
  start(&b, "b");
  start(&c, "c");
  return 0;
}

static char *create(json_t *allow) {
  json_t *r = h_ok(&a, "resource.create",
                   json_pack("{s:s, s:s, s:o}", "label", "private", "policy", "owner", "allow", allow));
  char *rid = strdup(json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return rid;
}

static json_t *advertise(const h_node *n, const char *rid, const char *sid) {
  return h_call(n, "record.advertise",
                json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", sid, "host",
                          "10.9.0.1", "port", 443));
}

typedef struct adv {
  const h_node *n;
  const char *rid, *sid;
  long long code; /* 0: accepted */
} adv;

static bool accepted(void *p) {
  adv *x = p;
  json_t *r = advertise(x->n, x->rid, x->sid);
  json_t *err = json_object_get(r, "error");
  x->code = err ? json_integer_value(json_object_get(err, "code")) : 0;
  json_decref(r);
  return x->code == 0;
}

static void test_owner_policy(void **state) {
  char *rid = create(json_pack("[s]", b.peer_id));

  /* b is on the allow-list: accepted, and seen by the others */
  adv ab = {&b, rid, "from-b", -1};
  assert_true(h_wait_for(accepted, &ab, 5000));
  h_has hb = {&c, rid, "from-b"};
  assert_true(h_wait_for(h_resolves, &hb, 5000));

  /* c is not: -32011, and nothing of it is published */
  json_t *r = advertise(&c, rid, "from-c");
  json_t *err = json_object_get(r, "error");
  assert_non_null(err);
  assert_int_equal(json_integer_value(json_object_get(err, "code")), -32011);
  assert_non_null(strstr(json_string_value(json_object_get(err, "message")), c.peer_id));
  json_decref(r);
  json_t *list = h_ok(&c, "list", NULL);
  assert_int_equal(json_array_size(json_object_get(list, "records")), 0);
  json_decref(list);
  assert_false(h_resolve_has(&a, rid, "from-c"));

  /* the owner adds c: a newer signed resource entry, and c's advertise is
   * accepted once it sees it */
  free(create(json_pack("[s, s]", b.peer_id, c.peer_id)));
  adv ac = {&c, rid, "from-c", -1};
  if (!h_wait_for(accepted, &ac, 5000)) fail_msg("c still refused (%lld) after the owner allowed it", ac.code);
  h_has hc = {&b, rid, "from-c"};
  assert_true(h_wait_for(h_resolves, &hc, 5000));
  assert_true(h_resolve_has(&a, rid, "from-b"));
  free(rid);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_owner_policy)};
  return cmocka_run_group_tests(tests, setup, NULL);
}
