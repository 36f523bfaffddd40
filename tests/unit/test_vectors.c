/* test_vectors.c - the code reproduces the test vectors of docs/PROTOCOL.md, byte for byte */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "tests/unit/vectors.h"

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
static const char record_hex[] = DR_VECTOR_RECORD_HEX;
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

#define SHARD1 "ade068f985c62f0a8dc038889828b246a12d207e"
#define SHARD255 "1a0ba9ae89fac2f80c97e8d9301468ec329c3375"
#define SHARD1_NETKEY42 "ef4754960947c762f64442a1ee01d91acfd93744"
#define PLACEMENT_WEB1 0xe4b86a7386bf88f5ULL
#define ALICE "2iXtA8oeZqUU5pofxK971TCEvFGfems2AcDRaZHKD2pQ" /* the peer of seed 2a 2a ... 2a */
static const char resource_shards_hex[] =
    "950101c47498c42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248"
    "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8a3776562ce6553f100020191c420197f6b23e16c8532"
    "c6abc838facd5ea789be0c76b2920334039bfa8b3d368d6110c42003a107bff3"
    "ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8c44044bdad"
    "c7e75e440ee0d47231e0ecb1677ee74b352232ed1c77f4109a4d1e80d8eb4691"
    "68cd8023fccaeec8b8734ee04f9457dc3ceaa5478c5c2d881bc555a102";
#define RESOURCE_SHARDS_SIG "44bdadc7e75e440ee0d47231e0ecb1677ee74b352232ed1c77f4109a4d1e80d8eb469168cd8023fccaeec8b8734ee04f9457dc3ceaa5478c5c2d881bc555a102"
static const char record_lengths_hex[] =
    "950102c5023a9cc42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc62"
    "4826fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309b"
    "a50d5f1ddc8664125531b8a57765622d3205ce6553f100ce6553f358d92a6261"
    "636b656e642d303030312e65752d776573742d312e636c75737465722e657861"
    "6d706c652e636f6dcd01bb90a46772706390de0010a36b3030a3763030a36b30"
    "31a3763031a36b3032a3763032a36b3033a3763033a36b3034a3763034a36b30"
    "35a3763035a36b3036a3763036a36b3037a3763037a36b3038a3763038a36b30"
    "39a3763039a36b3130a3763130a36b3131a3763131a36b3132a3763132a36b31"
    "33a3763133a36b3134a3763134a36b3135da012c787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878"
    "c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc86641255"
    "31b8c440a19c39b01846572a340089ffce3f032a37d0fd3f4fb54637a0578f18"
    "50958e8e4b2f276771a2316d447b3ea153f78626d5d5e881aa6a92f57f22417b"
    "036cd406";
static const char record_critical_hex[] =
    "950102c4839dc42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248"
    "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8a57765622d3104ce6553f13cce6553f268a831302e30"
    "2e302e31cd1f9091ad31302e302e302e313a38303830a46874747091a2763181"
    "a47a6f6e65a16101c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8c44038c3c568cfa541e46b822ad3234792c1660ab431"
    "591d529161a35ca23ef9669a5daee81ae9955f470322b9d32c9c21f316529e14"
    "55968bc17cefb26e9c89de02";
#define RECORD_CRITICAL_SIG "38c3c568cfa541e46b822ad3234792c1660ab431591d529161a35ca23ef9669a5daee81ae9955f470322b9d32c9c21f316529e1455968bc17cefb26e9c89de02"
#define RECORD_LENGTHS_SIG "a19c39b01846572a340089ffce3f032a37d0fd3f4fb54637a0578f1850958e8e4b2f276771a2316d447b3ea153f78626d5d5e881aa6a92f57f22417b036cd406"

static dr_identity id;
static uint8_t rid[DR_ID_LEN];

static int setup(void **state) {
  assert_int_equal(dr_crypto_init(), 0);
  dr_vector_identity(&id, rid);
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
  for (size_t i = 0; i < e->n_allow; i++) assert_memory_equal(d.allow[i], e->allow[i], DR_ID_LEN);
  if (e->kind == DR_KIND_RESOURCE) assert_int_equal(d.shards, e->shards ? e->shards : 1);
  assert_int_equal(d.health, e->health);
  assert_int_equal(dr_entry_passing(&d), e->kind == DR_KIND_RECORD && !e->health);
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

/* The record above, signed again by its issuer when its health check
 * failed: critical (a 13th element), a higher seq, a later issue time. */
static void test_record_critical_vector(void **state) {
  char *addrs[] = {"10.0.0.1:8080"}, *tags[] = {"v1"};
  dr_meta meta[] = {{"zone", "a"}};
  dr_entry e = {.kind = DR_KIND_RECORD, .name = "web-1", .seq = 4, .issued_at = 1700000060,
                .expires_at = 1700000360, .host = "10.0.0.1", .port = 8080, .addrs = addrs, .n_addrs = 1,
                .type = "http", .tags = tags, .n_tags = 1, .meta = meta, .n_meta = 1, .health = DR_HEALTH_CRITICAL};
  check_vector(&e, record_critical_hex, RECORD_CRITICAL_SIG);
}

/* Shard keys, the placement hash and which shards may hold a record. */
static void test_shard_vectors(void **state) {
  char hex[2 * DR_DHT_KEY_LEN + 1];
  uint8_t key[DR_DHT_KEY_LEN], netkey[32], head[DR_DHT_KEY_LEN];
  dr_shard_key(key, rid, 0, NULL);
  dr_dht_key(head, rid, NULL);
  assert_memory_equal(key, head, DR_DHT_KEY_LEN); /* shard 0 is the head: the resource's DHT key */
  dr_shard_key(key, rid, 1, NULL);
  to_hex(key, sizeof key, hex);
  assert_string_equal(hex, SHARD1);
  dr_shard_key(key, rid, 255, NULL);
  to_hex(key, sizeof key, hex);
  assert_string_equal(hex, SHARD255);
  memset(netkey, 0x42, sizeof netkey);
  dr_shard_key(key, rid, 1, netkey);
  to_hex(key, sizeof key, hex);
  assert_string_equal(hex, SHARD1_NETKEY42);
  uint64_t h = dr_shard_hash(rid, id.pk, "web-1", 5);
  assert_true(h == PLACEMENT_WEB1);
  assert_int_equal(h % 4, 1);
  assert_int_equal(h % 256, 245);
  /* web-1 may be in shard 0 (any), 1 (h % 2, h % 4), 5 (h % 8, h % 16),
   * 21, 53, 117, 245 (h % 32 ... h % 2048), 2293 (h % 4096), and no other
   * of the 4096 a resource may have */
  static const uint32_t fits[] = {0, 1, 5, 21, 53, 117, 245, 2293};
  for (uint32_t i = 0, k = 0; i < DR_SHARDS_MAX; i++) {
    bool want = k < sizeof fits / sizeof *fits && fits[k] == i;
    assert_int_equal(dr_shard_fits(h, i), want);
    k += want;
  }
  /* and PROTOCOL.md lists exactly these */
  FILE *f = fopen(DR_SOURCE_DIR "/docs/PROTOCOL.md", "r");
  assert_non_null(f);
  char line[512];
  bool listed = false;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "| shards that may hold `web-1` |"))
      listed = strstr(line, "| 0, 1, 5, 21, 53, 117, 245, 2293 (and no other below 4096) |") != NULL;
  fclose(f);
  assert_true(listed);
}

/* A resource of 16 shards, owner policy, one allowed peer. */
static void test_resource_shards_vector(void **state) {
  uint8_t allow[1][DR_ID_LEN];
  assert_int_equal(dr_id_decode(ALICE, allow[0]), 0);
  dr_entry e = {.kind = DR_KIND_RESOURCE, .name = "web", .issued_at = 1700000000, .seq = 2,
                .policy = DR_POLICY_OWNER, .allow = allow, .n_allow = 1, .shards = 16};
  check_vector(&e, resource_shards_hex, RESOURCE_SHARDS_SIG);
}

/* A record whose lengths take the longer msgpack forms: a 42-byte host
 * (str8), 16 metadata pairs (map16), a 300-byte value (str16); keys in
 * ascending byte order. */
static void test_record_lengths_vector(void **state) {
  dr_meta meta[16];
  char keys[16][8], vals[15][8], big[301];
  memset(big, 'x', 300);
  big[300] = '\0';
  for (int i = 0; i < 16; i++) {
    snprintf(keys[i], sizeof keys[i], "k%02d", i);
    meta[i].key = keys[i];
    if (i < 15) {
      snprintf(vals[i], sizeof vals[i], "v%02d", i);
      meta[i].value = vals[i];
    } else {
      meta[i].value = big;
    }
  }
  dr_entry e = {.kind = DR_KIND_RECORD, .name = "web-2", .seq = 5, .issued_at = 1700000000,
                .expires_at = 1700000600, .host = "backend-0001.eu-west-1.cluster.example.com",
                .port = 443, .type = "grpc", .meta = meta, .n_meta = 16};
  check_vector(&e, record_lengths_hex, RECORD_LENGTHS_SIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ids_and_keys),
      cmocka_unit_test(test_resource_vector),
      cmocka_unit_test(test_record_vector),
      cmocka_unit_test(test_tombstone_vector),
      cmocka_unit_test(test_record_critical_vector),
      cmocka_unit_test(test_shard_vectors),
      cmocka_unit_test(test_resource_shards_vector),
      cmocka_unit_test(test_record_lengths_vector),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
