/* test_shards.c - a resource of 20 000 records from 10 advertisers, each node on an address of its own: limited resolves, every record in pages, discover across shards, withdrawals that stick, storers that refuse forged values
 *
 * Runs in a network namespace of its own (h_netns: root), so that every
 * node has a distinct address and OpenDHT's per-address rate limits and
 * quotas behave as between hosts; skips otherwise. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/support/foreign.h"
#include "tests/support/harness.h"
#include "dht/dht.h" /* after harness.h: netdb.h, through uv.h, makes h_addr a macro */
#undef h_addr

/* The sanitizer build runs the same steps on a tenth of the data (the
 * full size is minutes of CPU there); the plain build, the full size. */
#ifdef DR_TEST_SMALL
#define ADVERTISERS 4
#define PER_ADVERTISER 250
#define SHARDS 16
#define WITHDRAWN_EACH 25
#define PAGE 100
#define DISCOVERS 30
#define DISCOVER_SHARDS_MIN 10 /* of 16: ~13.7 expected from a uniform pick */
#else
#define ADVERTISERS 10
#define PER_ADVERTISER 2000
#define SHARDS 256
#define WITHDRAWN_EACH 100
#define PAGE 1000
#define DISCOVERS 60
#define DISCOVER_SHARDS_MIN 40 /* of 256: ~53 expected from a uniform pick */
#endif
#define RECORDS (ADVERTISERS * PER_ADVERTISER)
#define NODES (ADVERTISERS + 3) /* the owner, the advertisers, a reader, a bystander */
#define WINDOW 256

static h_node nodes[NODES];
static h_node *owner = &nodes[0], *reader = &nodes[ADVERTISERS + 1];
static char rid[64];
static uint8_t rid_bin[DR_ID_LEN];

static bool skipped;

static int setup(void **state) {
  if (!h_netns()) {
    skipped = true;
    return 0;
  }
  char addr[32], boot[64];
  for (int i = 0; i < NODES; i++) {
    char name[16];
    snprintf(name, sizeof name, "n%d", i);
    h_netns_addr(i, addr, sizeof addr);
    const char *args[] = {"--bind", addr, "--op-timeout-ms", "20000", "--peer-rate", "0", i ? "--bootstrap" : NULL, boot, NULL};
    h_node_start(&nodes[i], name, args);
    if (i == 0) h_addr(&nodes[0], boot, sizeof boot);
  }
  return 0;
}

/* ---- advertising from many nodes at once ------------------------------------------------ */

typedef struct stream {
  const h_node *n;
  int first, count;
  const char *method; /* record.advertise or record.withdraw */
  int failed;
  char error[256];
} stream;

/* Pipelines count requests on one connection, WINDOW at a time; counts
 * failures (no asserts: this runs on a thread of its own). */
static void *run_stream(void *p) {
  stream *s = p;
  int fd = h_connect(s->n), sent = 0, answered = 0;
  if (fd < 0) {
    s->failed = s->count;
    return NULL;
  }
  char *buf = malloc(1 << 16);
  size_t have = 0;
  while (answered < s->count) {
    while (sent < s->count && sent - answered < WINDOW) {
      char req[512];
      int k = s->first + sent;
      int len = strcmp(s->method, "record.advertise") == 0
                    ? snprintf(req, sizeof req,
                               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.advertise\",\"params\":"
                               "{\"resource_id\":\"%s\",\"service_id\":\"svc-%05d\",\"host\":\"10.%d.%d.%d\","
                               "\"port\":8080,\"type\":\"%s\"}}\n",
                               k, rid, k, k >> 16 & 255, k >> 8 & 255, k & 255, k % 2 ? "grpc" : "http")
                    : snprintf(req, sizeof req,
                               "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.withdraw\",\"params\":"
                               "{\"resource_id\":\"%s\",\"service_id\":\"svc-%05d\"}}\n",
                               k, rid, k);
      h_send(fd, req, (size_t)len);
      sent++;
    }
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 60000) <= 0) break;
    ssize_t got = recv(fd, buf + have, (1 << 16) - 1 - have, 0);
    if (got <= 0) break;
    have += (size_t)got;
    buf[have] = '\0';
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = '\0';
      if (!strstr(line, "\"result\"")) {
        if (!s->failed++) snprintf(s->error, sizeof s->error, "%.250s", line);
      }
      answered++;
      line = nl + 1;
    }
    have = strlen(line);
    memmove(buf, line, have);
  }
  s->failed += s->count - answered;
  free(buf);
  close(fd);
  return NULL;
}

/* Every advertiser streams its share of the requests at once. */
static void all_advertisers(const char *method, int each) {
  pthread_t th[ADVERTISERS];
  stream st[ADVERTISERS];
  for (int i = 0; i < ADVERTISERS; i++) {
    st[i] = (stream){&nodes[1 + i], i * PER_ADVERTISER, each, method, 0, ""};
    assert_int_equal(pthread_create(&th[i], NULL, run_stream, &st[i]), 0);
  }
  for (int i = 0; i < ADVERTISERS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < ADVERTISERS; i++)
    if (st[i].failed) fail_msg("%s on %s: %d failed, first: %s", method, st[i].n->name, st[i].failed, st[i].error);
}

/* ---- reading it back ------------------------------------------------------------------ */

/* One node's full read of the resource, in pages of PAGE (thread-safe:
 * no asserts; the outcome is in the struct). */
typedef struct pager {
  const h_node *n;
  unsigned char *seen; /* RECORDS flags, svc-NNNNN */
  int max_pages;       /* 0: every page */
  int total, pages;
  uint64_t ms;
  char error[300];
} pager;

static void *page_all(void *p) {
  pager *pg = p;
  char cursor[64] = "";
  uint64_t t0 = h_now_ms();
  pg->total = pg->pages = 0;
  memset(pg->seen, 0, RECORDS);
  for (;;) {
    json_t *params = json_pack("{s:s, s:i}", "resource_id", rid, "limit", PAGE);
    if (cursor[0]) json_object_set_new(params, "cursor", json_string(cursor));
    json_t *resp = h_call(pg->n, "resolve", params);
    json_t *res = json_object_get(resp, "result");
    if (!res) {
      char *t = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
      snprintf(pg->error, sizeof pg->error, "page %d: %.250s", pg->pages + 1, t ? t : "no answer");
      free(t);
      json_decref(resp);
      return NULL;
    }
    pg->pages++;
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(res, "records"), i, r) {
      const char *sid = json_string_value(json_object_get(r, "service_id"));
      int k = sid && strncmp(sid, "svc-", 4) == 0 ? atoi(sid + 4) : -1;
      if (k < 0 || k >= RECORDS || pg->seen[k]) {
        snprintf(pg->error, sizeof pg->error, "%s came %s", sid ? sid : "(none)",
                 k < 0 || k >= RECORDS ? "unasked" : "twice in the pages");
        json_decref(resp);
        return NULL;
      }
      pg->seen[k] = 1;
      pg->total++;
    }
    json_t *next = json_object_get(res, "next_cursor");
    bool more = json_is_string(next);
    if (more) snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
    json_decref(resp);
    if (!more || pg->pages == pg->max_pages) break;
    if (pg->pages > 200) {
      snprintf(pg->error, sizeof pg->error, "more than 200 pages");
      return NULL;
    }
  }
  pg->ms = h_now_ms() - t0;
  return NULL;
}

/* Every node in list reads the whole resource at once. */
static void page_on(pager *pg, int count) {
  pthread_t th[NODES];
  for (int i = 0; i < count; i++) assert_int_equal(pthread_create(&th[i], NULL, page_all, &pg[i]), 0);
  for (int i = 0; i < count; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < count; i++)
    if (pg[i].error[0]) fail_msg("%s: %s", pg[i].n->name, pg[i].error);
}

static uint32_t shard_of(const char *peer_id, const char *sid) {
  uint8_t issuer[DR_ID_LEN];
  assert_int_equal(dr_id_decode(peer_id, issuer), 0);
  return (uint32_t)(dr_shard_hash(rid_bin, issuer, sid, strlen(sid)) % SHARDS);
}

/* The shard of record svc-k (advertised by nodes[1 + k / PER_ADVERTISER]). */
static uint32_t shard_of_k(int k) {
  char sid[16];
  snprintf(sid, sizeof sid, "svc-%05d", k);
  return shard_of(nodes[1 + k / PER_ADVERTISER].peer_id, sid);
}

static void test_twenty_thousand_records(void **state) {
  if (skipped) skip();
  json_t *res = h_ok(owner, "resource.create", json_pack("{s:s, s:i}", "label", "fleet", "shards", SHARDS));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(res, "resource_id")));
  assert_int_equal(json_integer_value(json_object_get(res, "shards")), SHARDS);
  json_decref(res);
  assert_int_equal(dr_id_decode(rid, rid_bin), 0);

  uint64_t t0 = h_now_ms();
  all_advertisers("record.advertise", PER_ADVERTISER);
  print_message("%d records advertised by %d nodes in %llu ms\n", RECORDS, ADVERTISERS,
                (unsigned long long)(h_now_ms() - t0));

  /* a node that advertised nothing: 100 live records for limit 100 */
  t0 = h_now_ms();
  res = h_ok(reader, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 100));
  json_t *recs = json_object_get(res, "records"), *r;
  size_t i;
  assert_int_equal(json_array_size(recs), 100);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "resource"), "shards")), SHARDS);
  assert_true(json_is_string(json_object_get(res, "next_cursor")));
  json_array_foreach(recs, i, r) assert_true(json_integer_value(json_object_get(r, "expires_at")) > (json_int_t)time(NULL));
  json_decref(res);
  print_message("limit 100: %llu ms\n", (unsigned long long)(h_now_ms() - t0));

  /* every one of the 20 000, in pages */
  pager pg[NODES];
  static unsigned char seen[NODES][RECORDS];
  for (int j = 0; j < NODES; j++) pg[j] = (pager){.n = &nodes[j], .seen = seen[j]};
  page_on(&pg[ADVERTISERS + 1], 1);
  print_message("paged %d records in %d pages, %llu ms\n", pg[ADVERTISERS + 1].total, pg[ADVERTISERS + 1].pages,
                (unsigned long long)pg[ADVERTISERS + 1].ms);
  assert_int_equal(pg[ADVERTISERS + 1].total, RECORDS);

  /* discover: records of many shards, uniformly */
  unsigned char shard_hit[SHARDS] = {0};
  int distinct_shards = 0, grpc = 0, grpc_asked = 0;
  t0 = h_now_ms();
  for (int k = 0; k < DISCOVERS; k++) {
    json_t *d = h_ok(reader, "discover", json_pack("{s:s}", "resource_id", rid));
    uint32_t s = shard_of(json_string_value(json_object_get(d, "peer_id")),
                          json_string_value(json_object_get(d, "service_id")));
    if (!shard_hit[s]++) distinct_shards++;
    json_decref(d);
    if (k % 4) continue;
    d = h_ok(reader, "discover", json_pack("{s:s, s:s}", "resource_id", rid, "type", "grpc"));
    grpc += strcmp(json_string_value(json_object_get(d, "type")), "grpc") == 0;
    grpc_asked++;
    json_decref(d);
  }
  print_message("%d discovers hit %d of %d shards, %llu ms\n", DISCOVERS, distinct_shards, SHARDS,
                (unsigned long long)(h_now_ms() - t0));
  /* a pick confined to the shards a resolve reads first would hit far fewer */
  assert_true(distinct_shards >= DISCOVER_SHARDS_MIN);
  assert_int_equal(grpc, grpc_asked);

  /* 1 000 withdrawn (100 of each advertiser): never returned afterwards,
   * by any node. Each kind of node reads the whole resource: the reader
   * and the bystander (what the DHT holds, nothing of their own), the
   * owner (its resource entry), an advertiser (its own withdrawals and
   * others'); every other node reads two pages from a shard order of its
   * own (~10% of the shards, ~100 of the withdrawn records). Thirteen
   * complete reads at once are minutes of CPU on a small machine: OpenDHT
   * asks each storer for each value separately. */
  t0 = h_now_ms();
  all_advertisers("record.withdraw", WITHDRAWN_EACH);
  print_message("%d withdrawn in %llu ms\n", ADVERTISERS * WITHDRAWN_EACH, (unsigned long long)(h_now_ms() - t0));
  for (int n = 0; n < NODES; n++) {
    bool whole = n == 0 || n == 1 || n >= ADVERTISERS + 1;
    pg[n].max_pages = whole ? 0 : 2;
  }
  t0 = h_now_ms();
  page_on(pg, NODES);
  print_message("%d nodes read the resource at once in %llu ms\n", NODES, (unsigned long long)(h_now_ms() - t0));
  int withdrawn_seen = 0;
  for (int n = 0; n < NODES; n++) {
    for (int a = 0; a < ADVERTISERS; a++)
      for (int k = 0; k < WITHDRAWN_EACH; k++)
        if (pg[n].seen[a * PER_ADVERTISER + k])
          fail_msg("%s returned svc-%05d after its withdrawal", nodes[n].name, a * PER_ADVERTISER + k);
    if (pg[n].max_pages == 0 && pg[n].total != RECORDS - ADVERTISERS * WITHDRAWN_EACH)
      fail_msg("%s: %d records after the withdrawals, not %d", nodes[n].name, pg[n].total,
               RECORDS - ADVERTISERS * WITHDRAWN_EACH);
    if (pg[n].max_pages) {
      /* the shards it read held withdrawn records (they were hidden, not
       * missed): the check is not vacuous */
      assert_int_equal(pg[n].total, 2 * PAGE);
      unsigned char read[SHARDS] = {0};
      int covered = 0;
      for (int k = 0; k < RECORDS; k++)
        if (pg[n].seen[k]) read[shard_of_k(k)] = 1;
      for (int a = 0; a < ADVERTISERS; a++)
        for (int k = 0; k < WITHDRAWN_EACH; k++) covered += read[shard_of_k(a * PER_ADVERTISER + k)];
      if (covered == 0) fail_msg("%s read no shard holding a withdrawn record", nodes[n].name);
      withdrawn_seen += covered;
    }
  }
  print_message("the partial reads covered %d withdrawn records\n", withdrawn_seen);
}

static long sum_refused(const char *reason) {
  long sum = 0;
  for (int i = 0; i < NODES; i++) {
    json_t *info = h_ok(&nodes[i], "node.info", NULL);
    sum += (long)json_integer_value(json_object_get(json_object_get(info, "store_refused"), reason));
    json_decref(info);
  }
  return sum;
}

/* A record of mallory's for resource r, signed (valid unless spoiled). */
static dr_entry forged(const dr_identity *mallory, const uint8_t r[DR_ID_LEN], const char *sid,
                       uint64_t issued, uint64_t expires) {
  dr_entry e = {.kind = DR_KIND_RECORD, .name = (char *)sid, .host = "203.0.113.5", .port = 1,
                .seq = issued * 1000000, .issued_at = issued, .expires_at = expires};
  memcpy(e.rid, r, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&e, mallory, NULL, NULL), 0);
  return e;
}

/* The key of the shard sid of mallory's belongs in (of 4), or (wrong) of
 * one it may never be stored in (shard 0 takes any: a single shard's). */
static void forged_key(uint8_t key[DR_DHT_KEY_LEN], const dr_identity *mallory, const uint8_t r[DR_ID_LEN],
                       const char *sid, bool wrong) {
  uint64_t h = dr_shard_hash(r, mallory->pk, sid, strlen(sid));
  uint32_t shard = (uint32_t)(h % 4);
  if (wrong)
    for (shard = 1; dr_shard_fits(h, shard); shard++) continue;
  dr_shard_key(key, r, shard, NULL);
}

/* A foreign OpenDHT node puts values into the shard keys of a resource of
 * 4 shards: dhtreg's storers refuse every one that is not a dhtreg entry
 * of that shard (or is marked a resource entry without being one), and
 * count it; no node returns any. A valid record of the foreign node's
 * issuer, in its shard, is stored and returned: the puts do reach the
 * storers. */
static void test_storers_refuse_forged_values(void **state) {
  if (skipped) skip();
  char bind[32], r4[64];
  uint8_t r4_bin[DR_ID_LEN];
  json_t *res = h_ok(owner, "resource.create", json_pack("{s:s, s:i}", "label", "forge-target", "shards", 4));
  snprintf(r4, sizeof r4, "%s", json_string_value(json_object_get(res, "resource_id")));
  json_decref(res);
  assert_int_equal(dr_id_decode(r4, r4_bin), 0);
  h_netns_addr(NODES, bind, sizeof bind);
  h_foreign *f = h_foreign_start_at(bind, owner->host, owner->port);
  uint8_t seed[DR_SEED_LEN], key[DR_DHT_KEY_LEN];
  dr_identity mallory;
  memset(seed, 0x6d, sizeof seed);
  dr_identity_from_seed(&mallory, seed);
  uint64_t now = (uint64_t)time(NULL);
  static const uint8_t garbage[] = "not a dhtreg entry at all";
  struct {
    const char *what, *sid, *mark, *reason;
    bool wrong_shard, spoil, expired;
  } puts[] = {
      {"a valid record in a shard it does not belong in", "forged-1", NULL, "wrong_key", true, false, false},
      {"garbage", NULL, NULL, "malformed", false, false, false},
      {"a record marked a resource entry", "marked-4", DR_DHT_RESOURCE_MARK, "malformed", false, false, false},
      {"a record with another OpenDHT user type", "marked-4", "other", "malformed", false, false, false},
      {"a bad signature", "spoiled-5", NULL, "bad_signature", false, true, false},
      {"an expired record", "forged-2", NULL, "expired", false, false, true},
  };
  for (size_t i = 0; i < sizeof puts / sizeof *puts; i++) {
    long before = sum_refused(puts[i].reason);
    if (!puts[i].sid) {
      forged_key(key, &mallory, r4_bin, "forged-1", false);
      h_foreign_put(f, key, garbage, sizeof garbage);
    } else {
      dr_entry e = puts[i].expired ? forged(&mallory, r4_bin, puts[i].sid, now - 1000, now - 500)
                                   : forged(&mallory, r4_bin, puts[i].sid, now, now + 300);
      if (puts[i].spoil) e.raw[e.raw_len - 1] ^= 1;
      forged_key(key, &mallory, r4_bin, puts[i].sid, puts[i].wrong_shard);
      h_foreign_put_marked(f, key, e.raw, e.raw_len, DR_DHT_VALUE_TYPE, puts[i].mark);
      free(e.raw);
    }
    long after = sum_refused(puts[i].reason);
    print_message("%s: refused as %s by %ld storers\n", puts[i].what, puts[i].reason, after - before);
    if (after <= before) fail_msg("%s: no storer refused it as %s", puts[i].what, puts[i].reason);
  }
  dr_entry e = forged(&mallory, r4_bin, "valid-3", now, now + 300);
  forged_key(key, &mallory, r4_bin, "valid-3", false);
  h_foreign_put(f, key, e.raw, e.raw_len); /* valid: stored */
  free(e.raw);

  /* every node returns the valid record, none the spoiled or expired one
   * (the foreign node serves what it put itself: the valid records it put
   * where dhtreg's storers refused them may come back from it) */
  h_has valid = {reader, r4, "valid-3"};
  assert_true(h_wait_for(h_resolves, &valid, 20000));
  for (int i = 0; i < NODES; i++) {
    json_t *rr = h_ok(&nodes[i], "resolve", json_pack("{s:s}", "resource_id", r4)), *rec;
    size_t k;
    bool has_valid = false;
    json_array_foreach(json_object_get(rr, "records"), k, rec) {
      const char *sid = json_string_value(json_object_get(rec, "service_id"));
      has_valid |= strcmp(sid, "valid-3") == 0;
      if (strcmp(sid, "valid-3") && strcmp(sid, "forged-1") && strcmp(sid, "marked-4"))
        fail_msg("%s returned %s", nodes[i].name, sid);
    }
    if (!has_valid) fail_msg("%s did not return valid-3", nodes[i].name);
    json_decref(rr);
  }
  h_foreign_stop(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_twenty_thousand_records),
      cmocka_unit_test(test_storers_refuse_forged_values),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
