/* test_network.c - five real nodes on loopback: advertise on one, resolve and see withdrawals on all */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define N 5

static h_node nodes[N];
static char rid[64];

static int start_network(void **state) {
  char boot[64];
  h_node_start(&nodes[0], "n0", NULL);
  h_addr(&nodes[0], boot, sizeof boot);
  for (int i = 1; i < N; i++) {
    char name[8];
    snprintf(name, sizeof name, "n%d", i);
    const char *args[] = {"--bootstrap", boot, NULL};
    h_node_start(&nodes[i], name, args);
  }
  return 0;
}

typedef struct seen_ctx {
  const h_node *node;
  const char *service;
  bool want;
} seen_ctx;

static bool seen(void *p) {
  seen_ctx *c = p;
  return h_resolve_has(c->node, rid, c->service) == c->want;
}

static void test_advertise_resolve_everywhere(void **state) {
  json_t *res = h_ok(&nodes[0], "resource.create", json_pack("{s:s}", "label", "web"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(res, "resource_id")));
  assert_string_equal(json_string_value(json_object_get(res, "owner")), nodes[0].peer_id);
  json_decref(res);

  /* idempotent: the same label gives the same resource */
  res = h_ok(&nodes[0], "resource.create", json_pack("{s:s}", "label", "web"));
  assert_string_equal(json_string_value(json_object_get(res, "resource_id")), rid);
  json_decref(res);

  res = h_ok(&nodes[0], "record.advertise",
             json_pack("{s:s, s:s, s:s, s:i, s:[s], s:{s:s}, s:s}", "resource_id", rid,
                       "service_id", "web-1", "host", "10.1.2.3", "port", 8080, "tags", "v1",
                       "metadata", "zone", "eu", "type", "http"));
  assert_string_equal(json_string_value(json_object_get(res, "peer_id")), nodes[0].peer_id);
  assert_true(json_integer_value(json_object_get(res, "seq")) > 0);
  json_decref(res);

  for (int i = 1; i < N; i++) {
    seen_ctx c = {&nodes[i], "web-1", true};
    assert_true(h_wait_for(seen, &c, 10000));
    json_t *r = h_ok(&nodes[i], "resolve", json_pack("{s:s}", "resource_id", rid));
    json_t *resource = json_object_get(r, "resource");
    assert_string_equal(json_string_value(json_object_get(resource, "label")), "web");
    assert_string_equal(json_string_value(json_object_get(resource, "owner")), nodes[0].peer_id);
    json_t *rec = json_array_get(json_object_get(r, "records"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "host")), "10.1.2.3");
    assert_int_equal(json_integer_value(json_object_get(rec, "port")), 8080);
    assert_string_equal(json_string_value(json_object_get(rec, "type")), "http");
    assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "tags"), 0)), "v1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "metadata"), "zone")), "eu");
    assert_string_equal(json_string_value(json_object_get(rec, "peer_id")), nodes[0].peer_id);
    assert_string_equal(json_string_value(json_object_get(rec, "health")), "passing");
    json_decref(r);

    r = h_ok(&nodes[i], "resource.get", json_pack("{s:s}", "resource_id", rid));
    assert_string_equal(json_string_value(json_object_get(r, "label")), "web");
    json_decref(r);
  }
}

static void test_second_provider_and_readvertise(void **state) {
  /* another node provides the same resource: both show up everywhere */
  json_t *res = h_ok(&nodes[2], "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", "web-2",
                               "host", "10.1.2.4", "port", 8081));
  json_decref(res);
  seen_ctx c = {&nodes[4], "web-2", true};
  assert_true(h_wait_for(seen, &c, 10000));
  assert_int_equal(h_resolve_count(&nodes[4], rid), 2);
  /* advertising again replaces: a higher seq, still one record */
  res = h_ok(&nodes[2], "record.advertise",
             json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", "web-2",
                       "host", "10.1.2.5", "port", 8081));
  json_decref(res);
  assert_int_equal(h_resolve_count(&nodes[3], rid), 2);
}

static void test_withdraw_seen_everywhere(void **state) {
  json_t *res = h_ok(&nodes[0], "record.withdraw",
                     json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "web-1"));
  assert_true(json_is_true(json_object_get(res, "ok")));
  json_decref(res);
  for (int i = 0; i < N; i++) {
    seen_ctx c = {&nodes[i], "web-1", false};
    assert_true(h_wait_for(seen, &c, 10000));
    assert_true(h_resolve_has(&nodes[i], rid, "web-2"));
  }
  /* withdrawing again: nothing to withdraw */
  assert_int_equal(h_err(&nodes[0], "record.withdraw",
                         json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "web-1")),
                   -32004);
}

static void test_list_and_info(void **state) {
  json_t *l = h_ok(&nodes[2], "list", NULL);
  json_t *recs = json_object_get(l, "records");
  assert_int_equal(json_array_size(recs), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "service_id")), "web-2");
  json_decref(l);
  l = h_ok(&nodes[0], "list", NULL);
  assert_int_equal(json_array_size(json_object_get(l, "resources")), 1);
  assert_int_equal(json_array_size(json_object_get(l, "records")), 0);
  json_decref(l);
  json_t *info = h_ok(&nodes[0], "node.info", NULL);
  assert_true(json_is_true(json_object_get(info, "connected")));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(info, "entries"), "tombstones")), 1);
  assert_int_equal(json_integer_value(json_object_get(info, "advertised")), 0);
  json_decref(info);
}

static void test_unknown_resource_is_empty(void **state) {
  json_t *r = h_ok(&nodes[1], "resource.id", json_pack("{s:s}", "label", "nothing-here"));
  const char *other = json_string_value(json_object_get(r, "resource_id"));
  json_t *res = h_ok(&nodes[3], "resolve", json_pack("{s:s}", "resource_id", other));
  assert_true(json_is_null(json_object_get(res, "resource")));
  assert_int_equal(json_array_size(json_object_get(res, "records")), 0);
  json_decref(res);
  assert_int_equal(h_err(&nodes[3], "resource.get", json_pack("{s:s}", "resource_id", other)), -32004);
  json_decref(r);
}

static void test_graceful_stop(void **state) {
  for (int i = 0; i < N; i++) h_node_signal(&nodes[i], SIGTERM);
  for (int i = 0; i < N; i++) {
    int st = h_node_wait(&nodes[i], 10000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(access(nodes[i].sock, F_OK), -1); /* the socket is removed */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_advertise_resolve_everywhere),
      cmocka_unit_test(test_second_provider_and_readvertise),
      cmocka_unit_test(test_withdraw_seen_everywhere),
      cmocka_unit_test(test_list_and_info),
      cmocka_unit_test(test_unknown_resource_is_empty),
      cmocka_unit_test(test_graceful_stop),
  };
  return cmocka_run_group_tests(tests, start_network, NULL);
}
