/* test_churn.c - 30 nodes, 3 advertisers x 50 records; kill -9 half the others: every record still
 * resolves from every survivor within one replication interval; kill -9 an advertiser: its records
 * are gone everywhere within their TTL */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define N_NODES 30
#define N_ADV 3
#define PER_ADV 50
#define TTL 6           /* seconds */
#define REPLICATE_MS 5000
#define OP_TIMEOUT_MS 5000 /* a resolve under load (30 nodes, 2 cores, ASan) is not cut short */

static h_node nodes[N_NODES]; /* 0..2 advertise, 3..29 only serve */
static bool alive[N_NODES];
static char rid[64], boot[32];

static void start(int i) {
  char name[16];
  snprintf(name, sizeof name, "n%02d", i);
  /* all nodes share 127.0.0.1: OpenDHT's per-address request limit would
   * count the whole network as one peer */
  const char *args[] = {"--min-ttl", "1", "--clock-skew", "1", "--tick-ms", "200", "--replicate-ms", "5000",
                        "--op-timeout-ms", "5000", "--peer-rate", "0", "--log-level", "info",
                        i ? "--bootstrap" : NULL, boot, NULL};
  h_node_start(&nodes[i], name, args);
  alive[i] = true;
}

static int setup(void **state) {
  start(0);
  h_addr(&nodes[0], boot, sizeof boot);
  for (int i = 1; i < N_NODES; i++) start(i);
  json_t *r = h_ok(&nodes[0], "resource.create", json_pack("{s:s}", "label", "churn"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return 0;
}

static int advertise_req(char *buf, size_t cap, int k, void *ctx) {
  int i = *(int *)ctx;
  return snprintf(buf, cap,
                  "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.advertise\",\"params\":"
                  "{\"resource_id\":\"%s\",\"service_id\":\"a%d-%02d\",\"host\":\"10.1.%d.%d\","
                  "\"port\":8080,\"ttl\":%d}}",
                  k, rid, i, k, i, k, TTL);
}

/* Advertises PER_ADV records on node i, pipelined on one connection. */
static void advertise_all(int i) {
  h_pipeline(&nodes[i], PER_ADV, PER_ADV, 20000, advertise_req, &i);
}

/* Every survivor resolves exactly count records within ms of start_ms:
 * all survivors are asked at once, again and again until each has
 * answered count once, and a resolve that begins ms after start_ms or
 * later must answer count (one that began earlier may still have seen the
 * state before). */
static void all_survivors(int count, uint64_t start_ms, int ms, const char *what) {
  bool done[N_NODES] = {0};
  int got[N_NODES], fds[N_NODES];
  for (int i = 0; i < N_NODES; i++) got[i] = -1;
  for (bool last = false; !last;) {
    last = h_now_ms() >= start_ms + (uint64_t)ms;
    int pending = 0;
    for (int i = 0; i < N_NODES; i++) {
      fds[i] = -1;
      if (!alive[i] || done[i]) continue;
      char req[200];
      int len = snprintf(req, sizeof req,
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resolve\",\"params\":"
                         "{\"resource_id\":\"%s\",\"limit\":1000}}",
                         rid);
      assert_true((fds[i] = h_connect(&nodes[i])) >= 0);
      h_send(fds[i], req, (size_t)len);
      pending++;
    }
    if (!pending) break;
    for (int i = 0; i < N_NODES; i++) {
      if (fds[i] < 0) continue;
      char *line = h_read_line(fds[i], 30000);
      json_t *r = line ? json_loads(line, 0, NULL) : NULL;
      json_t *recs = json_object_get(json_object_get(r, "result"), "records");
      got[i] = recs ? (int)json_array_size(recs) : -1;
      done[i] = got[i] == count;
      json_decref(r);
      free(line);
      close(fds[i]);
      if (last && !done[i])
        fail_msg("%s: node %d resolves %d records, not %d, in a resolve begun %d ms after or later",
                 what, i, got[i], count, ms);
    }
  }
  print_message("%s: every survivor resolved %d records after %llu ms\n", what, count,
                (unsigned long long)(h_now_ms() - start_ms));
}

static void test_churn(void **state) {
  for (int i = 0; i < N_ADV; i++) advertise_all(i);
  all_survivors(N_ADV * PER_ADV, h_now_ms(), 60000, "before the kill");

  /* kill -9 half of the other nodes at once */
  int killed = 0;
  for (int i = N_ADV; i < N_NODES && killed < (N_NODES - N_ADV) / 2; i += 2, killed++) {
    h_node_signal(&nodes[i], SIGKILL);
    alive[i] = false;
  }
  for (int i = N_ADV; i < N_NODES; i++)
    if (!alive[i]) h_node_wait(&nodes[i], 5000);
  uint64_t t0 = h_now_ms();
  /* within one replication interval (its mean plus its jitter), plus one
   * DHT op timeout for the get that notices the dead nodes */
  all_survivors(N_ADV * PER_ADV, t0, REPLICATE_MS * 6 / 5 + OP_TIMEOUT_MS, "after killing half");

  /* kill -9 an advertiser: its records expire, and nobody renews them */
  h_node_signal(&nodes[1], SIGKILL);
  alive[1] = false;
  h_node_wait(&nodes[1], 5000);
  t0 = h_now_ms();
  all_survivors((N_ADV - 1) * PER_ADV, t0, TTL * 1000 + 1500, "after killing an advertiser");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_churn)};
  return cmocka_run_group_tests(tests, setup, NULL);
}
