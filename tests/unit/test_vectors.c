/* test_vectors.c - the code reproduces the test vectors of docs/PROTOCOL.md, byte for byte */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/crypto.h"

#define PEER_ID "FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF"
#define RESOURCE_ID "2YKnktg3cyiRWPi6mTv2q9vA7j8LkhorEhb21T6KfniV"
#define DHT_KEY "3939c958311a722858ddabe61a187a717e34e964"
#define DHT_KEY_NETKEY42 "a839abe9779100d9536b5e758b5012502ad47a08"
static const char resource_hex[] =
    "950101c45197c42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248"
    "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8a3776562ce6553f100010090c42003a107bff3ce10be"
    "1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8c440eeea0039b9de"
    "4be1a4a0c8e55f4ad9dcead465755c78eb8740c207fbf1ae3d58626330f99fb5"
    "4bd7090e6e71dee355d883e34c8ec637428bc65ec5f5d5f83b01";
static const char record_hex[] =
    "950102c4829cc42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248"
    "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8a57765622d3102ce6553f100ce6553f22ca831302e30"
    "2e302e31cd1f9091ad31302e302e302e313a38303830a46874747091a2763181"
    "a47a6f6e65a161c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d"
    "5f1ddc8664125531b8c4403c43f8f3de400efb974cefa6f58b6f357aafd4d244"
    "1e99f35afdceda6d3448a21064f6035d9cb63c948fd89d97d81e24f42e8496ed"
    "81a9994749c5b2e26e7f09";
static const char tombstone_hex[] =
    "950103c45696c42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248"
    "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8a57765622d3103ce6553f164ce6553f22cc42003a107"
    "bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8c440c2"
    "e31ed7fb5f1aff92c6de6db86431b2381455ac2203cb7dfce50d81edea27340f"
    "1b506d743e44f4c01100dede3ad5ed1d9e25d7ebada01d2e4b34fc16043f03";
#define RESOURCE_SIG "eeea0039b9de4be1a4a0c8e55f4ad9dcead465755c78eb8740c207fbf1ae3d58626330f99fb54bd7090e6e71dee355d883e34c8ec637428bc65ec5f5d5f83b01"
#define RECORD_SIG "3c43f8f3de400efb974cefa6f58b6f357aafd4d2441e99f35afdceda6d3448a21064f6035d9cb63c948fd89d97d81e24f42e8496ed81a9994749c5b2e26e7f09"
#define TOMBSTONE_SIG "c2e31ed7fb5f1aff92c6de6db86431b2381455ac2203cb7dfce50d81edea27340f1b506d743e44f4c01100dede3ad5ed1d9e25d7ebada01d2e4b34fc16043f03"

static dr_identity id;
static uint8_t rid[DR_ID_LEN];

static int setup(void **state) {
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i;
  dr_identity_from_seed(&id, seed);
  dr_resource_id(rid, id.pk, "web", 3);
  return 0;
}

static void to_hex(const uint8_t *b, size_t n, char *out) {
  sodium_bin2hex(out, 2 * n + 1, b, n);
}

static size_t from_hex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  assert_int_equal(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL), 0);
  return n;
}

static void test_ids_and_keys(void **state) {
  char text[DR_ID_TEXT_MAX], hex[2 * DR_DHT_KEY_LEN + 1];
  uint8_t key[DR_DHT_KEY_LEN], netkey[32];
  dr_id_encode(id.pk, text);
  assert_string_equal(text, PEER_ID);
  dr_id_encode(rid, text);
  assert_string_equal(text, RESOURCE_ID);
  dr_dht_key(key, rid, NULL);
  to_hex(key, sizeof key, hex);
  assert_string_equal(hex, DHT_KEY);
  memset(netkey, 0x42, sizeof netkey);
  dr_dht_key(key, rid, netkey);
  to_hex(key, sizeof key, hex);
  assert_string_equal(hex, DHT_KEY_NETKEY42);
}

/* Signs e, compares with the vector, decodes the vector, compares back. */
static void check_vector(dr_entry *e, const char *want_hex, const char *want_sig) {
  char hex[2 * DR_ENTRY_MAX + 1], sig[2 * DR_SIG_LEN + 1];
  uint8_t raw[DR_ENTRY_MAX];
  memcpy(e->rid, rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(e, &id, NULL, NULL), 0);
  to_hex(e->raw, e->raw_len, hex);
  assert_string_equal(hex, want_hex);
  to_hex(e->sig, DR_SIG_LEN, sig);
  assert_string_equal(sig, want_sig);

  size_t n = from_hex(want_hex, raw, sizeof raw);
  dr_entry d;
  assert_int_equal(dr_entry_decode(raw, n, &d), DR_REJ_NONE);
  assert_int_equal(d.kind, e->kind);
  assert_memory_equal(d.rid, rid, DR_ID_LEN);
  assert_memory_equal(d.issuer, id.pk, DR_ID_LEN);
  assert_string_equal(d.name, e->name);
  assert_int_equal(d.seq, e->seq);
  assert_int_equal(d.issued_at, e->issued_at);
  assert_int_equal(d.expires_at, e->expires_at);
  assert_int_equal(d.port, e->port);
  assert_int_equal(d.n_addrs, e->n_addrs);
  assert_int_equal(d.n_tags, e->n_tags);
  assert_int_equal(d.n_meta, e->n_meta);
  for (size_t i = 0; i < e->n_addrs; i++) assert_string_equal(d.addrs[i], e->addrs[i]);
  for (size_t i = 0; i < e->n_tags; i++) assert_string_equal(d.tags[i], e->tags[i]);
  for (size_t i = 0; i < e->n_meta; i++) {
    assert_string_equal(d.meta[i].key, e->meta[i].key);
    assert_string_equal(d.meta[i].value, e->meta[i].value);
  }
  if (e->host) assert_string_equal(d.host, e->host);
  if (e->type) assert_string_equal(d.type, e->type);
  assert_int_equal(d.policy, e->policy);
  assert_int_equal(d.n_allow, e->n_allow);
  assert_memory_equal(d.sig, e->sig, DR_SIG_LEN);
  assert_int_equal(dr_entry_check(&d, rid, e->issued_at, 60), DR_REJ_NONE);
  dr_entry_clear(&d);
  free(e->raw);
  e->raw = NULL;
}

static void test_resource_vector(void **state) {
  dr_entry e = {.kind = DR_KIND_RESOURCE, .name = "web", .issued_at = 1700000000, .seq = 1};
  check_vector(&e, resource_hex, RESOURCE_SIG);
}

static void test_record_vector(void **state) {
  char *addrs[] = {"10.0.0.1:8080"}, *tags[] = {"v1"};
  dr_meta meta[] = {{"zone", "a"}};
  dr_entry e = {.kind = DR_KIND_RECORD, .name = "web-1", .seq = 2, .issued_at = 1700000000,
                .expires_at = 1700000300, .host = "10.0.0.1", .port = 8080, .addrs = addrs,
                .n_addrs = 1, .type = "http", .tags = tags, .n_tags = 1, .meta = meta, .n_meta = 1};
  check_vector(&e, record_hex, RECORD_SIG);
}

static void test_tombstone_vector(void **state) {
  dr_entry e = {.kind = DR_KIND_TOMBSTONE, .name = "web-1", .seq = 3, .issued_at = 1700000100,
                .expires_at = 1700000300};
  check_vector(&e, tombstone_hex, TOMBSTONE_SIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ids_and_keys),
      cmocka_unit_test(test_resource_vector),
      cmocka_unit_test(test_record_vector),
      cmocka_unit_test(test_tombstone_vector),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
