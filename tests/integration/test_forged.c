/* test_forged.c - a foreign OpenDHT node puts forged entries under a resource's key: none is returned, each is counted */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <opendht/opendht_c.h>

#include "crypto/crypto.h"
#include "tests/support/harness.h"

#define N 3

static h_node nodes[N];
static dht_runner *foreign;
static dr_identity mallory;
static char rid_text[64];
static uint8_t rid[DR_ID_LEN];

typedef struct put_wait {
  pthread_mutex_t lock;
  bool done, ok;
} put_wait;

static void on_put(bool ok, void *ud) {
  put_wait *w = ud;
  pthread_mutex_lock(&w->lock);
  w->done = true;
  w->ok = ok;
  pthread_mutex_unlock(&w->lock);
}

static bool put_finished(void *ud) {
  put_wait *w = ud;
  pthread_mutex_lock(&w->lock);
  bool d = w->done;
  pthread_mutex_unlock(&w->lock);
  return d;
}

/* Puts raw bytes under the resource's DHT key from the foreign node and
 * waits for OpenDHT to confirm the store. */
static void foreign_put(const uint8_t *data, size_t len) {
  uint8_t key[DR_DHT_KEY_LEN];
  dht_infohash h;
  dr_dht_key(key, rid, NULL);
  memcpy(h.d, key, sizeof key);
  for (int attempt = 0; attempt < 5; attempt++) {
    put_wait w = {PTHREAD_MUTEX_INITIALIZER, false, false};
    dht_value *v = dht_value_new(data, len);
    dht_runner_put(foreign, &h, v, on_put, &w, false);
    dht_value_unref(v);
    assert_true(h_wait_for(put_finished, &w, 20000));
    if (w.ok) return;
  }
  fail_msg("the foreign node could not store a value");
}

static void record_of(dr_entry *e, const uint8_t r[DR_ID_LEN], const char *sid, uint64_t issued,
                      uint64_t expires) {
  memset(e, 0, sizeof *e);
  e->kind = DR_KIND_RECORD;
  memcpy(e->rid, r, DR_ID_LEN);
  e->name = strdup(sid);
  e->host = strdup("203.0.113.9");
  e->port = 6666;
  e->seq = issued * 1000000;
  e->issued_at = issued;
  e->expires_at = expires;
  assert_int_equal(dr_entry_sign(e, &mallory, NULL, NULL), 0);
}

static int setup(void **state) {
  char boot[64];
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  memset(seed, 0x4d, sizeof seed);
  dr_identity_from_seed(&mallory, seed);
  h_node_start(&nodes[0], "n0", NULL);
  h_addr(&nodes[0], boot, sizeof boot);
  for (int i = 1; i < N; i++) {
    char name[8];
    snprintf(name, sizeof name, "n%d", i);
    const char *args[] = {"--bootstrap", boot, NULL};
    h_node_start(&nodes[i], name, args);
  }
  foreign = dht_runner_new();
  dht_runner_config cfg;
  dht_runner_config_default(&cfg);
  dht_infohash_random(&cfg.dht_config.node_config.node_id);
  assert_int_equal(dht_runner_run_config(foreign, 0, &cfg), 0);
  char port[8];
  snprintf(port, sizeof port, "%u", nodes[0].port);
  dht_runner_bootstrap(foreign, "127.0.0.1", port);
  return 0;
}

static int teardown(void **state) {
  dht_runner_delete(foreign);
  return 0;
}

static long rejected(const h_node *n, const char *reason) {
  json_t *info = h_ok(n, "node.info", NULL);
  long v = (long)json_integer_value(json_object_get(json_object_get(info, "rejected"), reason));
  json_decref(info);
  return v;
}

static void test_forged_entries_are_dropped(void **state) {
  json_t *res = h_ok(&nodes[0], "resource.create", json_pack("{s:s}", "label", "payments"));
  snprintf(rid_text, sizeof rid_text, "%s", json_string_value(json_object_get(res, "resource_id")));
  json_decref(res);
  assert_int_equal(dr_id_decode(rid_text, rid), 0);
  json_decref(h_ok(&nodes[0], "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid_text, "service_id",
                             "pay-1", "host", "10.0.0.7", "port", 443)));

  uint64_t now = (uint64_t)time(NULL);
  dr_entry e;

  /* 1. garbage bytes */
  static const uint8_t garbage[] = "this is not a dhtreg entry \x93\x01\x02";
  foreign_put(garbage, sizeof garbage);

  /* 2. a valid record with one byte of its host flipped */
  record_of(&e, rid, "evil-flip", now, now + 300);
  uint8_t *host = memmem(e.raw, e.raw_len, "203.0.113.9", 11);
  assert_non_null(host);
  host[0] ^= 0x01;
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* 3. a valid record of another resource, re-put under this key */
  uint8_t other[DR_ID_LEN];
  dr_resource_id(other, mallory.pk, "elsewhere", 9);
  record_of(&e, other, "evil-replay", now, now + 300);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* 4. a record that expired a minute ago */
  record_of(&e, rid, "evil-expired", now - 400, now - 60);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* 5. a record issued an hour ahead */
  record_of(&e, rid, "evil-future", now + 3600, now + 3900);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* and a genuine record from the same foreign node: the path works */
  record_of(&e, rid, "honest-foreigner", now, now + 300);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  for (int i = 0; i < N; i++) {
    json_t *r = h_ok(&nodes[i], "resolve", json_pack("{s:s}", "resource_id", rid_text));
    json_t *recs = json_object_get(r, "records"), *rec;
    size_t k;
    assert_int_equal(json_array_size(recs), 2);
    json_array_foreach(recs, k, rec) {
      const char *sid = json_string_value(json_object_get(rec, "service_id"));
      assert_true(strcmp(sid, "pay-1") == 0 || strcmp(sid, "honest-foreigner") == 0);
      assert_string_not_equal(json_string_value(json_object_get(rec, "host")), "203.0.113.8");
    }
    json_decref(r);
    assert_true(rejected(&nodes[i], "malformed") >= 1);
    assert_true(rejected(&nodes[i], "bad_signature") >= 1);
    assert_true(rejected(&nodes[i], "wrong_key") >= 1);
    assert_true(rejected(&nodes[i], "expired") >= 1);
    assert_true(rejected(&nodes[i], "future") >= 1);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forged_entries_are_dropped),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
