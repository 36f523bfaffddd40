/* test_control_chars.c - no text field of an entry holds a control character: signing refuses, readers drop a signed one as malformed (the PROTOCOL.md vector) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "crypto/entry_private.h"
#include "tests/unit/vectors.h"

/* docs/PROTOCOL.md, "Text fields": the record vector with host "10.0.0.1\x1b[2K",
 * signed by the vector key; readers drop it as malformed */
static const char control_hex[] =
    "950102c4869cc42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248"
    "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5"
    "0d5f1ddc8664125531b8a57765622d3102ce6553f100ce6553f22cac31302e30"
    "2e302e311b5b324bcd1f9091ad31302e302e302e313a38303830a46874747091"
    "a2763181a47a6f6e65a161c42003a107bff3ce10be1d70dd18e74bc09967e4d6"
    "309ba50d5f1ddc8664125531b8c440b05adc1f9a3b1bdfce79cf2933da39a0d6"
    "929f5cdc7a9bbe6299e2761b2bbfc562fad3d90855d9c2d3de87f133d16ef9a9"
    "aaa9cab3ac3414c7804ebf251fdc0d";

static dr_identity id;
static uint8_t rid[DR_ID_LEN];

static int setup(void **state) {
  assert_int_equal(dr_crypto_init(), 0);
  dr_vector_identity(&id, rid);
  return 0;
}

/* Signs e without the field checks, as a hostile issuer would. */
static void sign_anyway(dr_entry *e, uint8_t **raw, size_t *len) {
  uint8_t *body, msg[DR_ENTRY_MAX + 64], sig[DR_SIG_LEN];
  size_t body_len;
  memcpy(e->issuer, id.pk, DR_ID_LEN);
  assert_int_equal(dr__entry_pack_body(e, &body, &body_len), 0);
  int mlen = dr_entry_signed_message(e->kind, body, body_len, msg, sizeof msg);
  assert_true(mlen > 0);
  crypto_sign_detached(sig, NULL, msg, (unsigned long long)mlen, id.sk);
  assert_int_equal(dr__entry_pack_envelope(e->kind, body, body_len, id.pk, sig, raw, len), 0);
  free(body);
}

static void record(dr_entry *e, char **addrs, char **tags, dr_meta *meta) {
  *e = (dr_entry){.kind = DR_KIND_RECORD, .name = "web-1", .seq = 2, .issued_at = 1700000000,
                  .expires_at = 1700000300, .host = "10.0.0.1", .port = 8080, .addrs = addrs,
                  .n_addrs = 1, .type = "http", .tags = tags, .n_tags = 1, .meta = meta, .n_meta = 1};
  memcpy(e->rid, rid, DR_ID_LEN);
}

static void test_every_text_field(void **state) {
  static const char *const bad[] = {"a\nb", "a\rb", "a\x1b[2Kb", "a\tb", "a\x7f" "b", "a\xc2\x9b" "b",
                                    "a\xc2\x85" "b", NULL};
  for (const char *const *v = bad; *v; v++) {
    for (int field = 0; field < 8; field++) {
      char *addrs[] = {"10.0.0.1:8080"}, *tags[] = {"v1"};
      dr_meta meta[] = {{"zone", "a"}};
      dr_entry e;
      record(&e, addrs, tags, meta);
      const char *want = NULL;
      switch (field) {
      case 0: e.name = (char *)*v; want = "service_id"; break;
      case 1: e.host = (char *)*v; want = "host"; break;
      case 2: addrs[0] = (char *)*v; want = "addresses"; break;
      case 3: e.type = (char *)*v; want = "type"; break;
      case 4: tags[0] = (char *)*v; want = "tags"; break;
      case 5: meta[0].key = (char *)*v; want = "metadata"; break;
      case 6: meta[0].value = (char *)*v; want = "metadata"; break;
      case 7: e.kind = DR_KIND_RESOURCE; e.name = (char *)*v; want = "label"; break;
      }
      const char *f = NULL, *why = NULL;
      assert_int_equal(dr_entry_sign(&e, &id, &f, &why), -EINVAL);
      assert_string_equal(f, want);
      assert_non_null(strstr(why, "control"));
      /* signed anyway: the signature is good, the reader drops it */
      uint8_t *raw;
      size_t len;
      e.raw = NULL;
      sign_anyway(&e, &raw, &len);
      dr_entry d;
      assert_int_equal(dr_entry_decode(raw, len, &d), DR_REJ_MALFORMED);
      free(raw);
    }
  }
  /* printable text beyond ASCII is fine */
  char *addrs[] = {"10.0.0.1:8080"}, *tags[] = {"v1"};
  dr_meta meta[] = {{"zone", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xc2\xa0"}};
  dr_entry e;
  record(&e, addrs, tags, meta);
  assert_int_equal(dr_entry_sign(&e, &id, NULL, NULL), 0);
  free(e.raw);
}

static void test_protocol_vector(void **state) {
  char *addrs[] = {"10.0.0.1:8080"}, *tags[] = {"v1"};
  dr_meta meta[] = {{"zone", "a"}};
  dr_entry e;
  record(&e, addrs, tags, meta);
  e.host = "10.0.0.1\x1b[2K";
  uint8_t *raw;
  size_t len;
  sign_anyway(&e, &raw, &len);
  char hex[2 * DR_ENTRY_MAX + 1];
  sodium_bin2hex(hex, sizeof hex, raw, len);
  assert_string_equal(hex, control_hex);
  dr_entry d;
  assert_int_equal(dr_entry_decode(raw, len, &d), DR_REJ_MALFORMED);
  free(raw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_text_field),
      cmocka_unit_test(test_protocol_vector),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
