/* test_http.c - the HTTP endpoint through real clients: curl for /health and /ready, promtool for /metrics, counters that move with traffic */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

/* The HTTP status curl gets for url (0: no answer). */
static int http_status(const char *url) {
  char cmd[512], out[16] = "";
  snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -m 5 -w '%%{http_code}' '%s'", url);
  FILE *p = popen(cmd, "r");
  if (!p) return 0;
  if (!fgets(out, sizeof out, p)) out[0] = '\0';
  pclose(p);
  return atoi(out);
}

typedef struct want_status {
  const char *url;
  int status;
} want_status;

static bool has_status(void *ctx) {
  want_status *w = ctx;
  return http_status(w->url) == w->status;
}

/* /metrics fetched into a file; returns the file's path (static). */
static const char *fetch_metrics(const char *base) {
  static char path[300];
  char cmd[700];
  snprintf(path, sizeof path, "%s/metrics.txt", h_tmpdir());
  snprintf(cmd, sizeof cmd, "curl -sf -m 5 -o '%s' '%s/metrics'", path, base);
  assert_int_equal(system(cmd), 0);
  return path;
}

/* The value of one series (the whole name with labels) in a metrics file. */
static double series(const char *file, const char *name) {
  char line[1024];
  size_t nl = strlen(name);
  FILE *f = fopen(file, "r");
  assert_non_null(f);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
      fclose(f);
      return strtod(line + nl + 1, NULL);
    }
  fclose(f);
  fail_msg("no series %s in /metrics", name);
  return -1;
}

/* A node whose bootstrap address never answers is alive (/health 200) and
 * not ready (/ready 503, saying why); once it joins, /ready is 200. */
static void test_ready_follows_joining(void **state) {
  h_node a, b;
  h_node_start(&a, "seed", NULL);
  char listen[32], base[64], url[96], quiet[32], boot[64];
  snprintf(listen, sizeof listen, "127.0.0.1:%u", h_free_tcp_port());
  snprintf(base, sizeof base, "http://%s", listen);
  snprintf(quiet, sizeof quiet, "127.0.0.1:%u", h_free_udp_port());
  h_node_start(&b, "isolated", (const char *[]){"--http-listen", listen, "--bootstrap", quiet, NULL});
  snprintf(url, sizeof url, "%s/ready", base);
  assert_int_equal(http_status(url), 503);
  char cmd[800];
  snprintf(cmd, sizeof cmd, "curl -s -m 5 '%s' | grep -q 'not joined through its bootstrap addresses'", url);
  assert_int_equal(system(cmd), 0);
  snprintf(url, sizeof url, "%s/health", base);
  assert_int_equal(http_status(url), 200);
  /* the CLI says the same: alive (exit 0), not ready (exit 1), and why */
  snprintf(cmd, sizeof cmd, "%s/dhtreg --socket '%s' health | grep -q '^ok (not ready)'", DR_BIN_DIR, b.sock);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s/dhtreg --socket '%s' ready | grep -q 'warning: no peers'", DR_BIN_DIR, b.sock);
  assert_int_equal(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "%s/dhtreg --socket '%s' ready >/dev/null", DR_BIN_DIR, b.sock);
  assert_int_equal(WEXITSTATUS(system(cmd)), 1);
  const char *m = fetch_metrics(base);
  assert_true(series(m, "dhtreg_ready") == 0);
  assert_true(series(m, "dhtreg_peers") == 0);
  h_addr(&a, boot, sizeof boot);
  json_decref(h_ok(&b, "node.bootstrap", json_pack("{s:[s]}", "addresses", boot)));
  snprintf(url, sizeof url, "%s/ready", base);
  want_status w = {url, 200};
  assert_true(h_wait_for(has_status, &w, 15000));
  snprintf(url, sizeof url, "%s/health", base);
  assert_int_equal(http_status(url), 200);
  snprintf(cmd, sizeof cmd, "%s/dhtreg --socket '%s' ready", DR_BIN_DIR, b.sock);
  assert_int_equal(system(cmd), 0);
  m = fetch_metrics(base);
  assert_true(series(m, "dhtreg_ready") == 1);
  assert_true(series(m, "dhtreg_peers") >= 1);
  /* anything else is 404, and only GET/HEAD are served */
  snprintf(url, sizeof url, "%s/nothing", base);
  assert_int_equal(http_status(url), 404);
  snprintf(cmd, sizeof cmd, "test \"$(curl -s -o /dev/null -w '%%{http_code}' -X POST '%s/metrics')\" = 405", base);
  assert_int_equal(system(cmd), 0);
}

/* /metrics passes promtool's parser and linter, and its counters move with
 * the traffic that should move them. */
static void test_metrics_parse_and_move(void **state) {
  h_node a, b;
  char listen[32], base[64], boot[64], cmd[700];
  snprintf(listen, sizeof listen, "127.0.0.1:%u", h_free_tcp_port());
  snprintf(base, sizeof base, "http://%s", listen);
  h_node_start(&a, "m-seed", NULL);
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "metered", (const char *[]){"--http-listen", listen, "--bootstrap", boot, NULL});
  const char *m = fetch_metrics(base);
  snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", m);
  assert_int_equal(system(cmd), 0);
  double resolves = series(m, "dhtreg_rpc_request_duration_seconds_count{method=\"resolve\"}");
  double gets = series(m, "dhtreg_dht_operation_duration_seconds_count{op=\"get\"}");
  double puts = series(m, "dhtreg_dht_operation_duration_seconds_count{op=\"put\"}");
  double sent = series(m, "dhtreg_dht_messages_sent_total{type=\"get\"}");
  double errors = series(m, "dhtreg_rpc_errors_total{method=\"resolve\"}");
  double ads = series(m, "dhtreg_advertisements");
  double conns = series(m, "dhtreg_rpc_connections_accepted_total{listener=\"unix\"}");
  /* traffic: a resource, a record, resolves of another node's resource, one bad call */
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "web"));
  char rid[64];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  json_decref(h_ok(&a, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id",
                                                      "w1", "host", "127.0.0.1", "port", 8080)));
  json_t *rb = h_ok(&b, "resource.create", json_pack("{s:s}", "label", "mine"));
  char mine[64];
  snprintf(mine, sizeof mine, "%s", json_string_value(json_object_get(rb, "resource_id")));
  json_decref(rb);
  json_decref(h_ok(&b, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", mine, "service_id",
                                                      "m1", "host", "127.0.0.1", "port", 9090)));
  h_has has = {&b, rid, "w1"};
  assert_true(h_wait_for(h_resolves, &has, 15000));
  for (int i = 0; i < 4; i++) json_decref(h_ok(&b, "resolve", json_pack("{s:s}", "resource_id", rid)));
  assert_int_equal(h_err(&b, "resolve", json_pack("{s:s}", "resource_id", "not-an-id")), -32602);
  m = fetch_metrics(base);
  snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", m);
  assert_int_equal(system(cmd), 0);
  assert_true(series(m, "dhtreg_rpc_request_duration_seconds_count{method=\"resolve\"}") >= resolves + 5);
  assert_true(series(m, "dhtreg_rpc_errors_total{method=\"resolve\"}") == errors + 1);
  assert_true(series(m, "dhtreg_dht_operation_duration_seconds_count{op=\"get\"}") > gets);
  assert_true(series(m, "dhtreg_dht_operation_duration_seconds_count{op=\"put\"}") > puts);
  assert_true(series(m, "dhtreg_advertisements") == ads + 1);
  assert_true(series(m, "dhtreg_rpc_connections_accepted_total{listener=\"unix\"}") >= conns + 7);
  assert_true(series(m, "dhtreg_entries{kind=\"record\"}") >= 1);
  /* the DHT's message counts are read off OpenDHT's thread once a second */
  uint64_t end = h_now_ms() + 5000;
  while (series(fetch_metrics(base), "dhtreg_dht_messages_sent_total{type=\"get\"}") <= sent) {
    if (h_now_ms() > end) fail_msg("dhtreg_dht_messages_sent_total{type=\"get\"} did not move");
    usleep(100000);
  }
  m = fetch_metrics(base);
  /* a histogram's buckets are cumulative and end at its count */
  double inf = series(m, "dhtreg_rpc_request_duration_seconds_bucket{method=\"resolve\",le=\"+Inf\"}");
  double small = series(m, "dhtreg_rpc_request_duration_seconds_bucket{method=\"resolve\",le=\"0.0005\"}");
  assert_true(inf == series(m, "dhtreg_rpc_request_duration_seconds_count{method=\"resolve\"}"));
  assert_true(small <= inf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ready_follows_joining),
      cmocka_unit_test(test_metrics_parse_and_move),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
