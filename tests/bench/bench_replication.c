/* bench_replication.c - what keeping 1 000 records alive costs in DHT messages: one advertiser
 * in a network of 10 nodes on loopback, measured twice over the same window, with the replication
 * task at a short period and with it off; prints messages per hour at the default period.
 *
 *   build/tests/bench_replication [window_s]      (default 150: one renewal period of a 300 s TTL)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define N_NODES 10
#define N_RECORDS 1000
#define N_RESOURCES 10
#define SHORT_MS 5000    /* the replication period measured */
#define DEFAULT_MS 60000 /* the default it is scaled to */

static int window_s = 150;

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static long long sum_sent(const h_node *n, long long *runs) {
  json_t *info = h_ok(n, "node.info", NULL);
  json_t *sent = json_object_get(json_object_get(info, "dht_messages"), "sent");
  const char *k;
  json_t *v;
  long long total = 0;
  json_object_foreach(sent, k, v) total += json_integer_value(v);
  *runs = json_integer_value(json_object_get(json_object_get(info, "replication"), "runs"));
  json_decref(info);
  return total;
}

static int advertise_req(char *buf, size_t cap, int k, void *ctx) {
  char(*rid)[64] = ctx;
  return snprintf(buf, cap,
                  "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.advertise\",\"params\":"
                  "{\"resource_id\":\"%s\",\"service_id\":\"svc-%04d\",\"host\":\"10.3.%d.%d\","
                  "\"port\":8080}}",
                  k, rid[k % N_RESOURCES], k, k / 250, k % 250);
}

/* Messages the advertiser sends per hour with the replication task every
 * period_ms; *runs_out: how many times the task ran in the window. */
static double measure(const char *period_ms, long long *runs_out) {
  h_node nodes[N_NODES];
  char boot[32];
  const char *first[] = {"--replicate-ms", period_ms, "--peer-rate", "0", "--log-level", "warn", NULL};
  h_node_start(&nodes[0], "n0", first);
  h_addr(&nodes[0], boot, sizeof boot);
  for (int i = 1; i < N_NODES; i++) {
    char name[8];
    snprintf(name, sizeof name, "n%d", i);
    const char *args[] = {"--replicate-ms", period_ms, "--peer-rate", "0", "--log-level", "warn",
                          "--bootstrap", boot, NULL};
    h_node_start(&nodes[i], name, args);
  }
  char rid[N_RESOURCES][64];
  for (int i = 0; i < N_RESOURCES; i++) {
    char label[16];
    snprintf(label, sizeof label, "bench%d", i);
    json_t *r = h_ok(&nodes[0], "resource.create", json_pack("{s:s}", "label", label));
    snprintf(rid[i], sizeof rid[i], "%s", json_string_value(json_object_get(r, "resource_id")));
    json_decref(r);
  }
  h_pipeline(&nodes[0], N_RECORDS, N_RECORDS, 60000, advertise_req, rid);
  /* the first announces are over: what follows is the steady state */
  nap_ms(10000);
  long long runs0, runs1;
  long long m0 = sum_sent(&nodes[0], &runs0);
  nap_ms(window_s * 1000);
  long long m1 = sum_sent(&nodes[0], &runs1);
  *runs_out = runs1 - runs0;
  for (int i = 0; i < N_NODES; i++) h_node_signal(&nodes[i], SIGTERM);
  for (int i = 0; i < N_NODES; i++) h_node_wait(&nodes[i], 10000);
  return (double)(m1 - m0) * 3600.0 / window_s;
}

static void bench(void **state) {
  long long runs_on, runs_off;
  char short_ms[16];
  snprintf(short_ms, sizeof short_ms, "%d", SHORT_MS);
  double on = measure(short_ms, &runs_on);
  double off = measure("86400000", &runs_off);
  double per_run = runs_on ? (on - off) * window_s / 3600.0 / (double)runs_on : 0;
  double task_per_hour = per_run * 3600000.0 / DEFAULT_MS;
  printf("advertiser of %d records in %d resources, %d nodes, TTL 300 s, window %d s\n", N_RECORDS,
         N_RESOURCES, N_NODES, window_s);
  printf("  DHT messages sent per hour, replication task off:      %10.0f\n", off);
  printf("  DHT messages sent per hour, task every %5d ms:        %10.0f (%lld runs)\n", SHORT_MS, on,
         runs_on);
  printf("  the task's messages per run:                           %10.1f\n", per_run);
  printf("  the task's messages per hour at the default %d ms:  %10.0f\n", DEFAULT_MS, task_per_hour);
  printf("  in all per hour at the defaults:                       %10.0f\n", off + task_per_hour);
}

int main(int argc, char **argv) {
  if (argc > 1) window_s = atoi(argv[1]);
  if (window_s < 10) window_s = 10;
  const struct CMUnitTest tests[] = {cmocka_unit_test(bench)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
