/* test_ids.c - the base58 text of ids, and the derivation of resource ids and DHT keys */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/crypto.h"

static int setup(void **state) {
  return dr_crypto_init();
}

static void test_round_trip(void **state) {
  uint8_t id[DR_ID_LEN], back[DR_ID_LEN];
  char text[DR_ID_TEXT_MAX];
  for (int i = 0; i < 500; i++) {
    randombytes_buf(id, sizeof id);
    if (i % 50 == 0) memset(id, 0, (size_t)(i / 50) + 1); /* leading zero bytes */
    int n = dr_id_encode(id, text);
    assert_int_equal((size_t)n, strlen(text));
    assert_true(n >= 32 && n <= 44);
    assert_int_equal(dr_id_decode(text, back), 0);
    assert_memory_equal(id, back, DR_ID_LEN);
  }
  memset(id, 0, sizeof id);
  dr_id_encode(id, text);
  assert_string_equal(text, "11111111111111111111111111111111");
  memset(id, 0xff, sizeof id);
  dr_id_encode(id, text);
  assert_string_equal(text, "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG");
}

static void test_rejects_bad_text(void **state) {
  uint8_t id[DR_ID_LEN], out[DR_ID_LEN];
  char good[DR_ID_TEXT_MAX], bad[DR_ID_TEXT_MAX + 8];
  memset(id, 7, sizeof id);
  dr_id_encode(id, good);
  memset(out, 0xaa, sizeof out);
  const char *cases[] = {"", "1", "abc", "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFGG",
                         "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFGJEKNVnkbo", NULL};
  for (const char **c = cases; *c; c++) assert_int_equal(dr_id_decode(*c, out), -EINVAL);
  const char outside[] = {'0', 'O', 'I', 'l', '+', '/', ' ', '\n'};
  for (size_t i = 0; i < sizeof outside; i++) {
    strcpy(bad, good);
    bad[5] = outside[i];
    assert_int_equal(dr_id_decode(bad, out), -EINVAL);
  }
  snprintf(bad, sizeof bad, "1%s", good); /* non-canonical: an extra leading zero */
  assert_int_equal(dr_id_decode(bad, out), -EINVAL);
  assert_int_equal(dr_id_decode(NULL, out), -EINVAL);
  for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0xaa); /* unchanged */
  assert_int_equal(dr_id_decode(good, out), 0);
  assert_memory_equal(out, id, DR_ID_LEN);
}

static void test_resource_id(void **state) {
  uint8_t a[DR_ID_LEN], b[DR_ID_LEN], r1[DR_ID_LEN], r2[DR_ID_LEN];
  memset(a, 1, sizeof a);
  memset(b, 2, sizeof b);
  dr_resource_id(r1, a, "web", 3);
  dr_resource_id(r2, a, "web", 3);
  assert_memory_equal(r1, r2, DR_ID_LEN);
  dr_resource_id(r2, b, "web", 3);
  assert_memory_not_equal(r1, r2, DR_ID_LEN);
  dr_resource_id(r2, a, "wed", 3);
  assert_memory_not_equal(r1, r2, DR_ID_LEN);
  dr_resource_id(r1, a, "ab", 2);
  dr_resource_id(r2, a, "a", 1);
  assert_memory_not_equal(r1, r2, DR_ID_LEN);
}

static void test_dht_key(void **state) {
  uint8_t rid[DR_ID_LEN], k1[DR_DHT_KEY_LEN], k2[DR_DHT_KEY_LEN], nk[32];
  memset(rid, 3, sizeof rid);
  memset(nk, 9, sizeof nk);
  dr_dht_key(k1, rid, NULL);
  dr_dht_key(k2, rid, NULL);
  assert_memory_equal(k1, k2, DR_DHT_KEY_LEN);
  dr_dht_key(k2, rid, nk);
  assert_memory_not_equal(k1, k2, DR_DHT_KEY_LEN);
  rid[0] ^= 1;
  dr_dht_key(k2, rid, NULL);
  assert_memory_not_equal(k1, k2, DR_DHT_KEY_LEN);
}

/* The textbook byte-at-a-time base58, to check the limb-wise encoder against. */
static void reference_b58(const uint8_t id[DR_ID_LEN], char *out) {
  static const char a[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  uint8_t digits[64];
  size_t n = 0, zeros = 0, len = 0;
  while (zeros < DR_ID_LEN && id[zeros] == 0) zeros++;
  for (size_t i = zeros; i < DR_ID_LEN; i++) {
    unsigned carry = id[i];
    for (size_t j = 0; j < n; j++) {
      carry += (unsigned)digits[j] << 8;
      digits[j] = (uint8_t)(carry % 58);
      carry /= 58;
    }
    while (carry) {
      digits[n++] = (uint8_t)(carry % 58);
      carry /= 58;
    }
  }
  for (size_t i = 0; i < zeros; i++) out[len++] = '1';
  while (n) out[len++] = a[digits[--n]];
  out[len] = '\0';
}

static void test_encoder_matches_reference(void **state) {
  uint8_t id[DR_ID_LEN], back[DR_ID_LEN];
  char fast[DR_ID_TEXT_MAX], slow[DR_ID_TEXT_MAX];
  for (int k = 0; k < 20000; k++) {
    randombytes_buf(id, sizeof id);
    /* leading zero bytes, zero limbs and all-ones, too */
    size_t z = k % 40 < 33 ? (size_t)(k % 40) : 0;
    memset(id, 0, z < DR_ID_LEN ? z : DR_ID_LEN);
    if (k % 97 == 0) memset(id, 0xff, sizeof id);
    if (k % 89 == 0) memset(id + 8, 0, 8);
    int len = dr_id_encode(id, fast);
    reference_b58(id, slow);
    assert_string_equal(fast, slow);
    assert_int_equal(len, (int)strlen(slow));
    assert_int_equal(dr_id_decode(fast, back), 0);
    assert_memory_equal(back, id, sizeof id);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_encoder_matches_reference),
      cmocka_unit_test(test_rejects_bad_text),
      cmocka_unit_test(test_resource_id),
      cmocka_unit_test(test_dht_key),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
