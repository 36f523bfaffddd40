/* test_entry_canonical.c - an entry has one encoding: readers refuse every integer or length not in its smallest msgpack form */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "crypto/entry_private.h"

static dr_identity id;
static dr_entry res; /* resource "web": envelope 95 01 01 c4 LL body c4 20 signer c4 40 sig */

static int setup(void **state) {
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i;
  dr_identity_from_seed(&id, seed);
  res = (dr_entry){.kind = DR_KIND_RESOURCE, .seq = 1, .issued_at = 1700000000};
  res.name = strdup("web");
  dr_resource_id(res.rid, id.pk, "web", 3);
  assert_int_equal(dr_entry_sign(&res, &id, NULL, NULL), 0);
  return 0;
}

static int teardown(void **state) {
  dr_entry_clear(&res);
  return 0;
}

/* The entry's bytes with the n bytes at off replaced by rep. */
static dr_reject decode_edited(size_t off, size_t n, const char *rep, size_t rep_len) {
  uint8_t buf[DR_ENTRY_MAX + 16];
  dr_entry e;
  assert_true(res.raw_len - n + rep_len <= sizeof buf);
  memcpy(buf, res.raw, off);
  memcpy(buf + off, rep, rep_len);
  memcpy(buf + off + rep_len, res.raw + off + n, res.raw_len - off - n);
  dr_reject r = dr_entry_decode(buf, res.raw_len - n + rep_len, &e);
  dr_entry_clear(&e);
  return r;
}

static void test_canonical_decodes(void **state) {
  dr_entry e;
  assert_int_equal(dr_entry_decode(res.raw, res.raw_len, &e), DR_REJ_NONE);
  dr_entry_clear(&e);
  assert_int_equal(decode_edited(0, 0, "", 0), DR_REJ_NONE);
}

/* Found by fuzz_entry: anyone could re-wrap a signed entry (its version,
 * kind, envelope or bin lengths in longer forms) into other bytes that
 * still verified, so one entry could be stored and read as thousands. */
static void test_longer_envelope_forms_refused(void **state) {
  size_t body_len = res.raw[4];
  assert_int_equal(res.raw[0], 0x95);
  assert_int_equal(res.raw[3], 0xc4);
  assert_int_equal(decode_edited(0, 1, "\xdc\x00\x05", 3), DR_REJ_MALFORMED); /* array16 of 5 */
  assert_int_equal(decode_edited(0, 1, "\xdd\x00\x00\x00\x05", 5), DR_REJ_MALFORMED);
  assert_int_equal(decode_edited(1, 1, "\xcc\x01", 2), DR_REJ_MALFORMED);     /* version as uint8 */
  assert_int_equal(decode_edited(1, 1, "\xcf\x00\x00\x00\x00\x00\x00\x00\x01", 9), DR_REJ_MALFORMED);
  assert_int_equal(decode_edited(2, 1, "\xcd\x00\x01", 3), DR_REJ_MALFORMED); /* kind as uint16 */
  {
    char rep[3] = {(char)0xc5, 0, (char)body_len};
    assert_int_equal(decode_edited(3, 2, rep, 3), DR_REJ_MALFORMED);
    char rep32[5] = {(char)0xc6, 0, 0, 0, (char)body_len};
    assert_int_equal(decode_edited(3, 2, rep32, 5), DR_REJ_MALFORMED);
  }
  size_t signer_at = 5 + body_len;
  assert_int_equal(res.raw[signer_at], 0xc4);
  assert_int_equal(decode_edited(signer_at, 2, "\xc5\x00\x20", 3), DR_REJ_MALFORMED);
  assert_int_equal(decode_edited(signer_at + 34, 2, "\xc6\x00\x00\x00\x40", 5), DR_REJ_MALFORMED);
}

/* A body in longer forms, even signed by its issuer, is refused too. */
static void test_longer_body_forms_refused(void **state) {
  uint8_t *body, *raw, msg[DR_ENTRY_MAX + 32], sig[DR_SIG_LEN], edited[DR_ENTRY_MAX];
  size_t body_len, raw_len, n = 0;
  dr_entry e;
  assert_int_equal(dr__entry_pack_body(&res, &body, &body_len), 0);
  /* body: 97 c4 20 rid c4 20 owner a3 "web" ce <created_at> 01 (seq) 00 (policy) 90 */
  size_t seq_at = 1 + 34 + 34 + 4 + 5;
  assert_int_equal(body[seq_at], 0x01);
  memcpy(edited, body, seq_at);
  n = seq_at;
  edited[n++] = 0xcc; /* seq 1 as uint8 */
  edited[n++] = 0x01;
  memcpy(edited + n, body + seq_at + 1, body_len - seq_at - 1);
  n += body_len - seq_at - 1;
  int mlen = dr_entry_signed_message(DR_KIND_RESOURCE, edited, n, msg, sizeof msg);
  assert_true(mlen > 0);
  crypto_sign_detached(sig, NULL, msg, (unsigned long long)mlen, id.sk);
  assert_int_equal(dr__entry_pack_envelope(DR_KIND_RESOURCE, edited, n, id.pk, sig, &raw, &raw_len), 0);
  assert_int_equal(dr_entry_decode(raw, raw_len, &e), DR_REJ_MALFORMED);
  free(raw);
  free(body);
}

/* A record body re-packed with a 13th element of value v (NULL: the 12
 * elements as they are), signed by its issuer: what a reader makes of it. */
static dr_reject record_with_health(const uint8_t *tail, size_t tail_len) {
  uint8_t *body, *raw, msg[DR_ENTRY_MAX + 32], sig[DR_SIG_LEN], edited[DR_ENTRY_MAX];
  size_t body_len, raw_len;
  dr_entry r = {.kind = DR_KIND_RECORD, .seq = 2, .issued_at = 1700000000, .expires_at = 1700000300};
  dr_entry e;
  r.name = "web-1";
  memcpy(r.rid, res.rid, DR_ID_LEN);
  memcpy(r.issuer, id.pk, DR_ID_LEN);
  assert_int_equal(dr__entry_pack_body(&r, &body, &body_len), 0);
  assert_int_equal(body[0], 0x9c); /* an array of 12 */
  memcpy(edited, body, body_len);
  if (tail) {
    edited[0] = 0x9d;
    memcpy(edited + body_len, tail, tail_len);
  }
  size_t n = body_len + (tail ? tail_len : 0);
  int mlen = dr_entry_signed_message(DR_KIND_RECORD, edited, n, msg, sizeof msg);
  crypto_sign_detached(sig, NULL, msg, (unsigned long long)mlen, id.sk);
  assert_int_equal(dr__entry_pack_envelope(DR_KIND_RECORD, edited, n, id.pk, sig, &raw, &raw_len), 0);
  dr_reject rej = dr_entry_decode(raw, raw_len, &e);
  if (rej == DR_REJ_NONE) {
    assert_int_equal(e.health, tail ? DR_HEALTH_CRITICAL : DR_HEALTH_PASSING);
    dr_entry_clear(&e);
  }
  free(raw);
  free(body);
  return rej;
}

/* A record's health: absent is passing, 1 is critical; passing written
 * out (0), an unknown state, or 1 in a longer form is another encoding of
 * nothing valid: refused, signed or not. */
static void test_health_one_encoding(void **state) {
  assert_int_equal(record_with_health(NULL, 0), DR_REJ_NONE);
  assert_int_equal(record_with_health((const uint8_t *)"\x01", 1), DR_REJ_NONE);
  assert_int_equal(record_with_health((const uint8_t *)"\x00", 1), DR_REJ_MALFORMED);
  assert_int_equal(record_with_health((const uint8_t *)"\x02", 1), DR_REJ_MALFORMED);
  assert_int_equal(record_with_health((const uint8_t *)"\xcc\x01", 2), DR_REJ_MALFORMED);
  assert_int_equal(record_with_health((const uint8_t *)"\xc3", 1), DR_REJ_MALFORMED); /* true */
  /* and a signer cannot make a tombstone or a resource critical */
  dr_entry t = {.kind = DR_KIND_TOMBSTONE, .name = "web-1", .seq = 3, .issued_at = 1700000000,
                .expires_at = 1700000300, .health = DR_HEALTH_CRITICAL};
  memcpy(t.rid, res.rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&t, &id, NULL, NULL), -EINVAL);
  assert_false(dr_entry_passing(&t));
  assert_false(dr_entry_passing(&res));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_canonical_decodes),
      cmocka_unit_test(test_longer_envelope_forms_refused),
      cmocka_unit_test(test_longer_body_forms_refused),
      cmocka_unit_test(test_health_one_encoding),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
