/* test_paging.c - paging a resource while its owner raises the shard count: every cursor the node gives it takes or refuses with -32602, no record twice within a walk, no record missed by a walk that completes, before, during and after the records move
 *
 * An owner (o) creates a resource of 2 shards, two advertisers (a1, a2)
 * put RECORDS records in it with a short TTL (so they renew, and move,
 * often), and a reader (r) walks it in pages of 7 from the DHT. Once the
 * walks run, the owner raises the count to 8. The walks go on until the
 * advertisers have moved records to their new shards and a while after.
 * A walk refused with -32602 (its cursor's count is not the one the reader
 * knows now) starts again; one that completes must hold every record once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define PER_ADVERTISER 30
#define RECORDS (2 * PER_ADVERTISER)
#define TTL 20          /* a record renews every 10 s; the nodes run with --min-ttl 1 */
#define LIMIT 7
#define WALK_MS 30000   /* writers move their records 15 s after they saw the new count */

static h_node o, a1, a2, r;
static char rid[64];
static uint64_t t0; /* h_now_ms() when the walks began */

static const char *args_of(const char *boot, const char **buf) {
  buf[0] = "--min-ttl", buf[1] = "1", buf[2] = "--replicate-ms", buf[3] = "2000", buf[4] = "--tick-ms", buf[5] = "200";
  buf[6] = boot ? "--bootstrap" : NULL, buf[7] = boot, buf[8] = NULL;
  return NULL;
}

static int setup(void **state) {
  (void)state;
  const char *args[9];
  char boot[64];
  args_of(NULL, args);
  h_node_start(&o, "o", args);
  h_addr(&o, boot, sizeof boot);
  args_of(boot, args);
  h_node_start(&a1, "a1", args);
  h_node_start(&a2, "a2", args);
  h_node_start(&r, "r", args);
  json_t *res = h_ok(&o, "resource.create", json_pack("{s:s, s:i}", "label", "paged", "shards", 2));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(res, "resource_id")));
  json_decref(res);
  const h_node *ads[] = {&a1, &a2};
  for (int k = 0; k < RECORDS; k++) {
    char sid[32];
    snprintf(sid, sizeof sid, "svc-%02d", k);
    json_decref(h_ok(ads[k % 2], "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i, s:i}", "resource_id", rid, "service_id", sid, "host",
                               "10.0.0.1", "port", 1000 + k, "ttl", TTL)));
  }
  return 0;
}

typedef struct walk {
  int pages, restarts;
  bool complete;
  bool seen[RECORDS];
  int count;
} walk;

/* One walk of rid on r in pages of LIMIT: complete, or refused (-32602)
 * part way. Fails the test on anything else. */
static void walk_once(walk *w) {
  memset(w, 0, sizeof *w);
  char cursor[256] = "";
  for (;;) {
    json_t *p = json_pack("{s:s, s:i}", "resource_id", rid, "limit", LIMIT);
    if (cursor[0]) json_object_set_new(p, "cursor", json_string(cursor));
    json_t *resp = h_call(&r, "resolve", p);
    if (!resp) fail_msg("r did not answer a resolve");
    int code = h_error_code(resp);
    if (code == -32602 && cursor[0] && strstr(h_error_message(resp), "cursor")) {
      json_decref(resp);
      return; /* the count changed under the walk: start again */
    }
    if (code) fail_msg("page %d of a walk: %d %s", w->pages, code, h_error_message(resp));
    w->pages++;
    json_t *res = json_object_get(resp, "result"), *rec;
    size_t i;
    json_array_foreach(json_object_get(res, "records"), i, rec) {
      int k = atoi(json_string_value(json_object_get(rec, "service_id")) + 4);
      if (k < 0 || k >= RECORDS) fail_msg("a record nobody advertised");
      if (w->seen[k])
        fail_msg("svc-%02d twice within one walk (page %d, %lld ms after the walks began)", k, w->pages,
                 t0 ? (long long)(h_now_ms() - t0) : -1LL);
      w->seen[k] = true;
      w->count++;
    }
    const char *next = json_string_value(json_object_get(res, "next_cursor"));
    if (!next) {
      json_decref(resp);
      w->complete = true;
      return;
    }
    snprintf(cursor, sizeof cursor, "%s", next);
    json_decref(resp);
  }
}

static void missing(const walk *w, char *out, size_t len) {
  size_t at = 0;
  out[0] = '\0';
  for (int k = 0; k < RECORDS && at + 8 < len; k++)
    if (!w->seen[k]) at += (size_t)snprintf(out + at, len - at, " svc-%02d", k);
}

static bool all_there(void *ctx) {
  (void)ctx;
  walk w;
  walk_once(&w);
  return w.complete && w.count == RECORDS;
}

static void test_walks_across_growth(void **state) {
  (void)state;
  assert_true(h_wait_for(all_there, NULL, 30000));
  int complete = 0, refused = 0;
  bool raised = false;
  uint64_t start = t0 = h_now_ms();
  while (h_now_ms() - start < WALK_MS) {
    if (!raised && h_now_ms() - start > 1000) {
      json_decref(h_ok(&o, "resource.create", json_pack("{s:s, s:i}", "label", "paged", "shards", 8)));
      raised = true;
    }
    walk w;
    walk_once(&w);
    if (!w.complete) {
      refused++;
      continue;
    }
    complete++;
    if (w.count != RECORDS) {
      char miss[RECORDS * 8];
      missing(&w, miss, sizeof miss);
      fail_msg("a complete walk %llu ms after the start found %d of %d records; missing:%s",
               (unsigned long long)(h_now_ms() - start), w.count, RECORDS, miss);
    }
  }
  long long m = h_info_int(&a1, "records_moved") + h_info_int(&a2, "records_moved");
  print_message("%d complete walks, %d refused part way (-32602), %lld records moved\n", complete, refused, m);
  /* the walks ran while the records moved: else this proved nothing */
  if (m == 0) fail_msg("no record moved to the new count while the walks ran");
  /* and once it is over, a walk is whole */
  assert_true(h_wait_for(all_there, NULL, 30000));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_walks_across_growth)};
  return cmocka_run_group_tests(tests, setup, NULL);
}
