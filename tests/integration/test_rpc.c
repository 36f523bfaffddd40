/* test_rpc.c - JSON-RPC over the real socket: framing, batches, notifications, every error code */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

static h_node node;
static h_node lost; /* bootstrapped to nobody: its DHT never answers */

static int setup(void **state) {
  h_node_start(&node, "rpc", NULL);
  char boot[32];
  snprintf(boot, sizeof boot, "127.0.0.1:%u", h_free_udp_port());
  const char *args[] = {"--bootstrap", boot, "--op-timeout-ms", "500", NULL};
  h_node_start(&lost, "lost", args);
  return 0;
}

/* Reads one response line and parses it. */
static json_t *read_json(int fd) {
  json_t *j = h_read_json(fd, 10000);
  if (!j) fail_msg("no response line");
  return j;
}

static void send_str(int fd, const char *s) {
  h_send(fd, s, strlen(s));
}

static void test_back_to_back_without_newline(void **state) {
  int fd = h_connect(&node);
  send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"}"
               "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"health\"}\n"
               "  {\"jsonrpc\":\"2.0\",\"id\":\"three\",\"method\":\"health\"}");
  int seen = 0;
  for (int i = 0; i < 3; i++) {
    json_t *r = read_json(fd);
    json_t *id = json_object_get(r, "id");
    if (json_is_integer(id)) seen |= 1 << json_integer_value(id);
    else if (json_is_string(id) && strcmp(json_string_value(id), "three") == 0) seen |= 8;
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"), "status")), "ok");
    json_decref(r);
  }
  assert_int_equal(seen, 2 | 4 | 8);
  close(fd);
}

static void test_split_writes_and_half_close(void **state) {
  const char *req = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resource.id\",\"params\":{\"label\":\"a{b}\\\"c\"}}";
  int fd = h_connect(&node);
  for (size_t i = 0; req[i]; i++) h_send(fd, &req[i], 1);
  shutdown(fd, SHUT_WR);
  json_t *r = read_json(fd);
  assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
  assert_non_null(json_object_get(json_object_get(r, "result"), "resource_id"));
  json_decref(r);
  /* after the last answer the node closes its side */
  assert_null(h_read_line(fd, 5000));
  close(fd);
}

static void test_batch_and_notifications(void **state) {
  int fd = h_connect(&node);
  send_str(fd, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"},"
               "{\"jsonrpc\":\"2.0\",\"method\":\"health\"},"
               "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},"
               "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"node.info\"}, 42]\n");
  json_t *r = read_json(fd);
  assert_true(json_is_array(r));
  assert_int_equal(json_array_size(r), 4); /* the notification gets no answer */
  int have = 0;
  for (size_t i = 0; i < 4; i++) {
    json_t *m = json_array_get(r, i);
    json_t *id = json_object_get(m, "id");
    if (json_is_null(id)) {
      assert_int_equal(h_error_code(m), -32600);
      have |= 1;
    } else if (json_integer_value(id) == 2) {
      assert_int_equal(h_error_code(m), -32601);
      have |= 2;
    } else {
      assert_non_null(json_object_get(m, "result"));
      have |= json_integer_value(id) == 1 ? 4 : 8;
    }
  }
  assert_int_equal(have, 15);
  json_decref(r);

  /* a batch of notifications only: no answer at all; the next request is answered */
  send_str(fd, "[{\"jsonrpc\":\"2.0\",\"method\":\"health\"}]{\"jsonrpc\":\"2.0\",\"method\":\"health\"}"
               "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"health\"}");
  r = read_json(fd);
  assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
  json_decref(r);

  send_str(fd, "[]");
  r = read_json(fd);
  assert_int_equal(h_error_code(r), -32600);
  json_decref(r);
  close(fd);
}

static void test_parse_errors_recover(void **state) {
  int fd = h_connect(&node);
  send_str(fd, "hello there\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"}");
  json_t *r = read_json(fd);
  assert_int_equal(h_error_code(r), -32700);
  assert_true(json_is_null(json_object_get(r, "id")));
  json_decref(r);
  r = read_json(fd);
  assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
  json_decref(r);
  send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"health\"}");
  r = read_json(fd);
  assert_int_equal(h_error_code(r), -32700);
  json_decref(r);
  r = read_json(fd);
  assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
  json_decref(r);
  /* an unfinished request at end of input is a parse error too */
  send_str(fd, "{\"jsonrpc\":\"2.0\",\"id\":4,");
  shutdown(fd, SHUT_WR);
  r = read_json(fd);
  assert_int_equal(h_error_code(r), -32700);
  json_decref(r);
  close(fd);
}

static void test_invalid_requests(void **state) {
  int fd = h_connect(&node);
  const char *bad[] = {
      "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"health\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":1}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
      "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"health\"}",
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\",\"params\":\"x\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    send_str(fd, bad[i]);
    json_t *r = read_json(fd);
    assert_int_equal(h_error_code(r), -32600);
    json_decref(r);
  }
  close(fd);
}

static void test_method_and_params_errors(void **state) {
  assert_int_equal(h_err(&node, "no.such.method", NULL), -32601);

  json_t *resp = h_call(&node, "resolve", json_object());
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "resource_id"));
  json_decref(resp);

  resp = h_call(&node, "resolve", json_pack("{s:s}", "resource_id", "not-an-id!"));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "resource_id"));
  json_decref(resp);

  resp = h_call(&node, "resource.create", json_pack("{s:s, s:s}", "label", "x", "policy", "closed"));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "policy"));
  json_decref(resp);

  resp = h_call(&node, "resource.id", json_pack("{s:s, s:i}", "label", "x", "colour", 3));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "colour"));
  json_decref(resp);

  json_t *rid = h_ok(&node, "resource.id", json_pack("{s:s}", "label", "errs"));
  const char *r = json_string_value(json_object_get(rid, "resource_id"));
  resp = h_call(&node, "record.advertise", json_pack("{s:s, s:s, s:i}", "resource_id", r, "service_id", "s", "ttl", 5));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "ttl"));
  json_decref(resp);
  resp = h_call(&node, "record.advertise", json_pack("{s:s, s:s, s:i}", "resource_id", r, "service_id", "s", "port", 70000));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "port"));
  json_decref(resp);
  resp = h_call(&node, "record.advertise", json_pack("{s:s, s:s}", "resource_id", r, "service_id", ""));
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "service_id"));
  json_decref(resp);

  /* -32004: not found */
  assert_int_equal(h_err(&node, "resource.get", json_pack("{s:s}", "resource_id", r)), -32004);
  assert_int_equal(h_err(&node, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", r, "service_id", "s")), -32004);

  /* -32012: limits */
  json_t *tags = json_array();
  for (int i = 0; i < 17; i++) json_array_append_new(tags, json_string("t"));
  resp = h_call(&node, "record.advertise", json_pack("{s:s, s:s, s:o}", "resource_id", r, "service_id", "s", "tags", tags));
  assert_int_equal(h_error_code(resp), -32012);
  assert_non_null(strstr(h_error_message(resp), "tags"));
  json_decref(resp);
  char big[200];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  resp = h_call(&node, "record.advertise", json_pack("{s:s, s:s}", "resource_id", r, "service_id", big));
  assert_int_equal(h_error_code(resp), -32012);
  assert_non_null(strstr(h_error_message(resp), "service_id"));
  json_decref(resp);
  json_decref(rid);
}

static void test_oversized_request(void **state) {
  size_t n = 1100 * 1024;
  char *req = malloc(n + 64);
  int len = snprintf(req, 64, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\",\"params\":{\"x\":\"");
  memset(req + len, 'a', n);
  strcpy(req + len + n, "\"}}");
  int fd = h_connect(&node);
  h_send(fd, req, strlen(req));
  free(req);
  json_t *r = read_json(fd);
  assert_int_equal(h_error_code(r), -32012);
  json_decref(r);
  assert_null(h_read_line(fd, 5000)); /* and the node hangs up */
  close(fd);
  json_decref(h_ok(&node, "health", NULL)); /* others are still served */
}

/* -32010 says what happened: a node without peers says so; a node with
 * peers whose lookup did not complete says that, and not that it might be
 * disconnected. */
static void test_dht_timeout(void **state) {
  json_t *rid = h_ok(&lost, "resource.id", json_pack("{s:s}", "label", "far"));
  const char *r = json_string_value(json_object_get(rid, "resource_id"));
  json_t *resp = h_call(&lost, "resolve", json_pack("{s:s}", "resource_id", r));
  assert_int_equal(h_error_code(resp), -32010);
  assert_string_equal(h_error_message(resp), "the DHT did not answer in time: this node has no peers (not "
                                              "connected; its health says why)");
  json_decref(resp);
  json_decref(rid);
}

static bool has_peer(void *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  bool yes = json_integer_value(json_object_get(info, "peers")) >= 1;
  json_decref(info);
  return yes;
}

static void test_dht_timeout_with_peers(void **state) {
  h_node peer, asker;
  char boot[64];
  h_node_start(&peer, "peer", NULL);
  h_addr(&peer, boot, sizeof boot);
  h_node_start(&asker, "asker", (const char *[]){"--bootstrap", boot, "--op-timeout-ms", "1000", NULL});
  assert_true(h_wait_for(has_peer, &asker, 15000));
  h_node_signal(&peer, SIGSTOP); /* still a good node of asker's table, for minutes: answers nothing */
  json_t *rid = h_ok(&asker, "resource.id", json_pack("{s:s}", "label", "overfull"));
  json_t *resp = h_call(&asker, "resolve", json_pack("{s:O}", "resource_id", json_object_get(rid, "resource_id")));
  h_node_signal(&peer, SIGCONT);
  assert_int_equal(h_error_code(resp), -32010);
  assert_string_equal(h_error_message(resp), "the DHT did not answer in time: the lookup did not complete within "
                                             "1000 ms (--op-timeout-ms), though the node has 1 peer; try again");
  json_decref(resp);
  json_decref(rid);
}

static void test_socket_is_private(void **state) {
  struct stat st;
  assert_int_equal(stat(node.sock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(stat(node.dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_back_to_back_without_newline),
      cmocka_unit_test(test_split_writes_and_half_close),
      cmocka_unit_test(test_batch_and_notifications),
      cmocka_unit_test(test_parse_errors_recover),
      cmocka_unit_test(test_invalid_requests),
      cmocka_unit_test(test_method_and_params_errors),
      cmocka_unit_test(test_oversized_request),
      cmocka_unit_test(test_dht_timeout),
      cmocka_unit_test(test_dht_timeout_with_peers),
      cmocka_unit_test(test_socket_is_private),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
