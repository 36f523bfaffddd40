/* test_store_policy.c - what a storer of dhtreg's value type accepts: an entry of the key it is put under (public or sealed), live, whatever network the storer is in; not a marked record, not one of another key
 *
 * PROTOCOL.md, "What storers accept": a storer of a private network is a
 * DHT node like any other and stores the public registry's plain entries as
 * a public storer does; a storer keeps an entry up to the skew past its
 * expiry; the rule of which shards may hold a record holds for tombstones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "node/node_private.h"

static dr_identity alice;
static uint8_t rid[DR_ID_LEN];
static dr_netkey net;

static int setup(void **state) {
  (void)state;
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  memset(seed, 0xa1, sizeof seed);
  dr_identity_from_seed(&alice, seed);
  dr_resource_id(rid, alice.pk, "web", 3);
  assert_int_equal(dr_netkey_derive(&net, "correct horse battery staple", 28), 0);
  return 0;
}

/* A record (or tombstone) web-1 of alice, live now for ttl seconds. */
static void make(dr_entry *e, dr_kind kind, int64_t ttl) {
  uint64_t now = dr_now();
  uint64_t expires = (uint64_t)((int64_t)now + ttl);
  dr_entry t = {.kind = kind, .seq = 5, .issued_at = expires - 300, .expires_at = expires};
  memcpy(t.rid, rid, DR_ID_LEN);
  t.name = "web-1";
  if (kind == DR_KIND_RECORD) {
    t.host = "10.0.0.1";
    t.port = 80;
  }
  assert_int_equal(dr_entry_sign(&t, &alice, NULL, NULL), 0);
  assert_int_equal(dr_entry_copy(e, &t), 0); /* its strings owned, as dr_entry_clear expects */
  free(t.raw);
}

static int store(const dr_netkey *storer_net, const dr_netkey *sealed_with, const dr_entry *e, uint32_t shard,
                 int mark) {
  dr_policy_ctx pc = {.net = storer_net, .skew = 60, .self = NULL};
  uint8_t key[DR_DHT_KEY_SIZE], wire[DR_WIRE_MAX];
  const uint8_t *data = e->raw;
  size_t len = e->raw_len;
  dr_shard_key(key, rid, shard, sealed_with ? sealed_with->dht : NULL);
  if (sealed_with) {
    int r = dr_seal(sealed_with, e->raw, e->raw_len, wire, sizeof wire);
    assert_true(r > 0);
    data = wire;
    len = (size_t)r;
  }
  uint8_t self[DR_ID_LEN] = {0};
  pc.self = self;
  return dr__store_ok(&pc, key, mark, data, len);
}

static void test_plain_and_sealed(void **state) {
  (void)state;
  dr_entry e;
  make(&e, DR_KIND_RECORD, 300);
  uint64_t h = dr_shard_hash(rid, alice.pk, "web-1", 5);
  uint32_t shard = (uint32_t)(h % 8);
  /* a public storer, a public entry of its key */
  assert_int_equal(store(NULL, NULL, &e, shard, 0), DR_REJ_NONE);
  /* a private network's storer: the public entry too, as any storer */
  assert_int_equal(store(&net, NULL, &e, shard, 0), DR_REJ_NONE);
  /* and its own network's sealed entry */
  assert_int_equal(store(&net, &net, &e, shard, 0), DR_REJ_NONE);
  /* a sealed value it cannot open (another network's): kept as is */
  assert_int_equal(store(NULL, &net, &e, shard, 0), DR_REJ_NONE);
  /* not a shard the record may be in */
  uint32_t wrong = 1;
  while (dr_shard_fits(h, wrong)) wrong++;
  assert_int_equal(store(NULL, NULL, &e, wrong, 0), DR_REJ_WRONG_KEY);
  assert_int_equal(store(&net, &net, &e, wrong, 0), DR_REJ_WRONG_KEY);
  /* a record with the resource's mark, or another user type */
  assert_int_equal(store(NULL, NULL, &e, shard, 1), DR_REJ_MALFORMED);
  assert_int_equal(store(NULL, NULL, &e, shard, -1), DR_REJ_MALFORMED);
  dr_entry_clear(&e);
}

static void test_tombstone_shards(void **state) {
  (void)state;
  dr_entry t;
  make(&t, DR_KIND_TOMBSTONE, 300);
  uint64_t h = dr_shard_hash(rid, alice.pk, "web-1", 5);
  for (uint32_t s = 0; s < 64; s++)
    assert_int_equal(store(NULL, NULL, &t, s, 0), dr_shard_fits(h, s) ? DR_REJ_NONE : DR_REJ_WRONG_KEY);
  dr_entry_clear(&t);
}

static void test_expiry_grace(void **state) {
  (void)state;
  dr_entry e;
  make(&e, DR_KIND_RECORD, -30); /* expired 30 s ago: within the skew, a storer keeps it */
  assert_int_equal(store(NULL, NULL, &e, 0, 0), DR_REJ_NONE);
  dr_entry_clear(&e);
  make(&e, DR_KIND_RECORD, -61); /* beyond it: refused */
  assert_int_equal(store(NULL, NULL, &e, 0, 0), DR_REJ_EXPIRED);
  /* a reader takes neither: no tolerance on expiry */
  assert_int_equal(dr_entry_check(&e, rid, dr_now(), 60), DR_REJ_EXPIRED);
  dr_entry_clear(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_and_sealed),
      cmocka_unit_test(test_tombstone_shards),
      cmocka_unit_test(test_expiry_grace),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
