/* test_seal.c - private networks: the network key from a passphrase, sealed entries, and the vectors of docs/PROTOCOL.md */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/unit/vectors.h"

static dr_netkey net, other;
static const char pass[] = "correct horse battery staple";

static int setup(void **state) {
  assert_int_equal(dr_crypto_init(), 0);
  assert_int_equal(dr_netkey_derive(&net, pass, strlen(pass)), 0);
  assert_int_equal(dr_netkey_derive(&other, "correct horse battery stapler", 29), 0);
  return 0;
}

static void hex(char *out, const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

/* The vectors printed in docs/PROTOCOL.md, "Private networks". */
static void test_vectors(void **state) {
  char h[2 * 64 + 1];
  hex(h, net.dht, 32);
  assert_string_equal(h, "46b04f98b7ea48ec702acb5a2fa987a90294da75e431c43f4afa9b23b6b16a89");
  hex(h, net.seal, 32);
  assert_string_equal(h, "6d3aa9870896980bda0d79852ce8200fac4387326cd91a2cd928bec311d33df6");
  hex(h, net.nonce, 32);
  assert_string_equal(h, "3261aae45d93e75889d044a79a85f0c8cfa0dd5c77d8a41b75a9ba50ccafe63a");
  uint8_t rid[DR_ID_LEN], key[DR_DHT_KEY_LEN], out[64];
  memset(rid, 0x11, sizeof rid);
  dr_dht_key(key, rid, net.dht);
  hex(h, key, sizeof key);
  assert_string_equal(h, "0f7309b10fc6a7e7a2b94be0f1d1c141fd071b31");
  int n = dr_seal(&net, (const uint8_t *)"dhtreg", 6, out, sizeof out);
  assert_int_equal(n, 6 + DR_SEAL_OVERHEAD);
  hex(h, out, (size_t)n);
  assert_string_equal(h, "015f3fa4964b6870b35082b849a586645b4d21a751c83fd264c3a0b4eebe003da2e0ebfa6ad6edf9d946fa0f502357");
}

/* The record vector of docs/PROTOCOL.md ("Test vectors") sealed, and the
 * head and shard 1 keys of resource web under the passphrase. */
static const char record_hex[] = DR_VECTOR_RECORD_HEX;
static const char sealed_record_hex[] =
    "013054e9089406df5824c52fe8042b5eda62b9000782b70fdb01654443806fdc"
    "056fdaedb5f34e85300cd712f6b8a1d17978b39f3492f6157ba1fabfab4ac0ea"
    "fe111d1a7dce64619c3738bf824ed3c842f04f4dca26d479cda21fe9a9135c82"
    "e06ea1203befdabbba32337af136d2c639b4407d704aefdec1078769f368dca5"
    "f449ba19d5dd5bf8eeb17363142a6383dd8e904f0b030c194fe05d9cfae2283b"
    "3c89e839c317c2aa62954635fb8964ccfe360ad907432e58ba39c8ea8625d3af"
    "c46189ccf116a5763fbcf87fdac50d5e754efb59e03df4dda91349593fe29c66"
    "fc493584046b7577c34c21d7091d97af98f3bad768577e40b811554c29753a57"
    "f54d19db7c04604977184806399af3f77c70ed38";

static void test_sealed_record_vector(void **state) {
  uint8_t raw[1024], sealed[1024 + DR_SEAL_OVERHEAD], opened[1024], seed[DR_SEED_LEN], rid[DR_ID_LEN],
      key[DR_DHT_KEY_LEN];
  char h[2 * sizeof sealed + 1];
  size_t n = strlen(record_hex) / 2, olen;
  for (size_t i = 0; i < n; i++) sscanf(record_hex + 2 * i, "%2hhx", &raw[i]);
  int s = dr_seal(&net, raw, n, sealed, sizeof sealed);
  assert_int_equal(s, (int)(n + DR_SEAL_OVERHEAD));
  hex(h, sealed, (size_t)s);
  assert_string_equal(h, sealed_record_hex);
  assert_int_equal(dr_open(&net, sealed, (size_t)s, opened, &olen), DR_REJ_NONE);
  assert_int_equal(olen, n);
  assert_memory_equal(opened, raw, n);
  dr_identity id;
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i;
  dr_identity_from_seed(&id, seed);
  dr_resource_id(rid, id.pk, "web", 3);
  dr_dht_key(key, rid, net.dht);
  hex(h, key, sizeof key);
  assert_string_equal(h, "03ea0632d3bbc83c4120715e53b8f523c46114cb");
  dr_shard_key(key, rid, 1, net.dht);
  hex(h, key, sizeof key);
  assert_string_equal(h, "f8ef91c27ee2762cd094d792fc74dba8b47fa16c");
}

static void test_round_trip_and_determinism(void **state) {
  uint8_t in[DR_ENTRY_MAX], a[DR_ENTRY_MAX + DR_SEAL_OVERHEAD], b[sizeof a], plain[DR_ENTRY_MAX];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7);
  size_t lens[] = {0, 1, 100, DR_ENTRY_MAX};
  for (size_t k = 0; k < 4; k++) {
    int na = dr_seal(&net, in, lens[k], a, sizeof a);
    int nb = dr_seal(&net, in, lens[k], b, sizeof b);
    assert_int_equal(na, (int)(lens[k] + DR_SEAL_OVERHEAD));
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na); /* same entry, same bytes */
    assert_true(dr_is_sealed(a, (size_t)na));
    size_t plen = 12345;
    assert_int_equal(dr_open(&net, a, (size_t)na, plain, &plen), DR_REJ_NONE);
    assert_int_equal(plen, lens[k]);
    if (plen) assert_memory_equal(plain, in, plen);
  }
  /* different entries, different nonces */
  dr_seal(&net, in, 100, a, sizeof a);
  in[50] ^= 1;
  dr_seal(&net, in, 100, b, sizeof b);
  assert_memory_not_equal(a + 1, b + 1, 24);
}

static void test_tampering_and_wrong_key(void **state) {
  uint8_t in[300], s[300 + DR_SEAL_OVERHEAD], plain[DR_ENTRY_MAX];
  size_t plen;
  memset(in, 0x42, sizeof in);
  int n = dr_seal(&net, in, sizeof in, s, sizeof s);
  assert_int_equal(dr_open(&other, s, (size_t)n, plain, &plen), DR_REJ_BAD_SIGNATURE);
  for (int i = 0; i < n; i++) {
    s[i] ^= 0x20;
    dr_reject want = i == 0 ? DR_REJ_MALFORMED : DR_REJ_BAD_SIGNATURE; /* byte 0: the version */
    assert_int_equal(dr_open(&net, s, (size_t)n, plain, &plen), want);
    s[i] ^= 0x20;
  }
  assert_int_equal(dr_open(&net, s, (size_t)n - 1, plain, &plen), DR_REJ_BAD_SIGNATURE); /* cut short */
  assert_int_equal(dr_open(&net, s, DR_SEAL_OVERHEAD - 1, plain, &plen), DR_REJ_MALFORMED);
  assert_int_equal(dr_open(&net, s, 0, plain, &plen), DR_REJ_MALFORMED);
  static uint8_t huge[DR_ENTRY_MAX + DR_SEAL_OVERHEAD + 1];
  huge[0] = DR_SEAL_VERSION;
  assert_int_equal(dr_open(&net, huge, sizeof huge, plain, &plen), DR_REJ_TOO_LARGE);
  /* a plain entry is not a sealed one */
  uint8_t plain_entry[] = {0x95, 0x01, 0x02};
  assert_false(dr_is_sealed(plain_entry, sizeof plain_entry));
}

static void test_limits(void **state) {
  static uint8_t in[DR_ENTRY_MAX + 1], out[DR_ENTRY_MAX + 1 + DR_SEAL_OVERHEAD];
  dr_netkey k;
  assert_int_equal(dr_seal(&net, in, sizeof in, out, sizeof out), -EMSGSIZE);
  assert_int_equal(dr_seal(&net, in, 10, out, 10 + DR_SEAL_OVERHEAD - 1), -ENOBUFS);
  assert_int_equal(dr_netkey_derive(&k, "", 0), -EINVAL);
  /* the same passphrase, the same keys */
  assert_int_equal(dr_netkey_derive(&k, pass, strlen(pass)), 0);
  assert_memory_equal(&k, &net, sizeof k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_sealed_record_vector),
      cmocka_unit_test(test_round_trip_and_determinism),
      cmocka_unit_test(test_tampering_and_wrong_key),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
