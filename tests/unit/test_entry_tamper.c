/* test_entry_tamper.c - changing any field of any entry, or its bytes, makes readers reject it */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/entry_private.h"

static dr_identity alice, bob;
static uint8_t rid[DR_ID_LEN];

static int setup(void **state) {
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  memset(seed, 0xa1, sizeof seed);
  dr_identity_from_seed(&alice, seed);
  memset(seed, 0xb0, sizeof seed);
  dr_identity_from_seed(&bob, seed);
  dr_resource_id(rid, alice.pk, "web", 3);
  return 0;
}

static char *addrs[] = {"10.0.0.1:80", "[::1]:80"};
static char *tags[] = {"blue", "v2"};
static dr_meta meta[] = {{"rack", "7"}, {"zone", "eu"}}; /* keys in ascending order */
static uint8_t allow[2][DR_ID_LEN];

static void make(dr_entry *e, dr_kind kind) {
  dr_entry t = {.kind = kind, .seq = 5, .issued_at = 1700000000, .expires_at = 1700000300};
  memcpy(t.rid, rid, DR_ID_LEN);
  t.name = kind == DR_KIND_RESOURCE ? "web" : "web-1";
  if (kind == DR_KIND_RESOURCE) {
    t.expires_at = 0;
    t.policy = DR_POLICY_OWNER;
    memset(allow[0], 0x33, DR_ID_LEN);
    memset(allow[1], 0x44, DR_ID_LEN);
    t.allow = allow;
    t.n_allow = 2;
  }
  if (kind == DR_KIND_RECORD) {
    t.host = "10.0.0.1";
    t.port = 8080;
    t.addrs = addrs;
    t.n_addrs = 2;
    t.type = "http";
    t.tags = tags;
    t.n_tags = 2;
    t.meta = meta;
    t.n_meta = 2;
  }
  assert_int_equal(dr_entry_sign(&t, &alice, NULL, NULL), 0);
  assert_int_equal(dr_entry_copy(e, &t), 0);
  free(t.raw);
}

/* Re-encodes e as changed by mod, under e's original signer and signature. */
static dr_reject tampered(const dr_entry *e, void (*mod)(dr_entry *)) {
  dr_entry c;
  uint8_t *body, *raw;
  size_t body_len, raw_len;
  assert_int_equal(dr_entry_copy(&c, e), 0);
  mod(&c);
  assert_int_equal(dr__entry_pack_body(&c, &body, &body_len), 0);
  assert_int_equal(dr__entry_pack_envelope(c.kind, body, body_len, alice.pk, e->sig, &raw, &raw_len), 0);
  dr_entry out;
  dr_reject r = dr_entry_decode(raw, raw_len, &out);
  assert_null(out.name); /* cleared on rejection */
  free(body);
  free(raw);
  dr_entry_clear(&c);
  return r;
}

static void m_rid(dr_entry *e) { e->rid[3] ^= 1; }
static void m_issuer(dr_entry *e) { memcpy(e->issuer, bob.pk, DR_ID_LEN); }
static void m_name(dr_entry *e) { e->name[0] = 'X'; }
static void m_seq(dr_entry *e) { e->seq++; }
static void m_issued(dr_entry *e) { e->issued_at--; }
static void m_expires(dr_entry *e) { e->expires_at += 3600; }
static void m_host(dr_entry *e) { e->host[1] = '1'; }
static void m_port(dr_entry *e) { e->port = 8081; }
static void m_addrs(dr_entry *e) {
  free(e->addrs[1]);
  e->n_addrs = 1;
}
static void m_type(dr_entry *e) { e->type[0] = 'H'; }
static void m_tags(dr_entry *e) { e->tags[1][1] = '3'; }
static void m_meta(dr_entry *e) { e->meta[0].value[0] = 'u'; }
static void m_policy(dr_entry *e) { /* an open resource has no allow-list */
  e->policy = DR_POLICY_OPEN;
  e->n_allow = 0;
}
static void m_shards(dr_entry *e) { e->shards = 2; }
static void m_allow(dr_entry *e) { e->allow[1][0] ^= 0x80; }
static void m_health(dr_entry *e) { e->health ^= DR_HEALTH_CRITICAL; } /* a storer hiding, or reviving, a record */

static void test_every_field_is_signed(void **state) {
  void (*common[])(dr_entry *) = {m_rid, m_name, m_seq, m_issued};
  void (*record_only[])(dr_entry *) = {m_expires, m_host, m_port, m_addrs, m_type, m_tags, m_meta, m_health};
  void (*resource_only[])(dr_entry *) = {m_policy, m_allow, m_shards};
  dr_kind kinds[] = {DR_KIND_RESOURCE, DR_KIND_RECORD, DR_KIND_TOMBSTONE};
  for (size_t k = 0; k < 3; k++) {
    dr_entry e;
    make(&e, kinds[k]);
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
      assert_int_equal(tampered(&e, common[i]), DR_REJ_BAD_SIGNATURE);
    /* another issuer in the body than the signer in the envelope */
    assert_int_equal(tampered(&e, m_issuer), DR_REJ_WRONG_SIGNER);
    if (kinds[k] != DR_KIND_RESOURCE) assert_int_equal(tampered(&e, m_expires), DR_REJ_BAD_SIGNATURE);
    if (kinds[k] == DR_KIND_RECORD)
      for (size_t i = 0; i < sizeof record_only / sizeof *record_only; i++)
        assert_int_equal(tampered(&e, record_only[i]), DR_REJ_BAD_SIGNATURE);
    if (kinds[k] == DR_KIND_RESOURCE)
      for (size_t i = 0; i < sizeof resource_only / sizeof *resource_only; i++)
        assert_int_equal(tampered(&e, resource_only[i]), DR_REJ_BAD_SIGNATURE);
    /* and untouched, it decodes */
    dr_entry d;
    assert_int_equal(dr_entry_decode(e.raw, e.raw_len, &d), DR_REJ_NONE);
    dr_entry_clear(&d);
    dr_entry_clear(&e);
  }
  /* a critical record made passing */
  dr_entry e;
  make(&e, DR_KIND_RECORD);
  e.health = DR_HEALTH_CRITICAL;
  assert_int_equal(dr_entry_sign(&e, &alice, NULL, NULL), 0);
  assert_int_equal(tampered(&e, m_health), DR_REJ_BAD_SIGNATURE);
  dr_entry_clear(&e);
}

static void test_bytes(void **state) {
  dr_entry e, d;
  uint8_t buf[DR_ENTRY_MAX + 16];
  make(&e, DR_KIND_RECORD);
  /* any flipped byte: rejected, never accepted, never a crash */
  for (size_t i = 0; i < e.raw_len; i++) {
    memcpy(buf, e.raw, e.raw_len);
    buf[i] ^= 0x01;
    assert_int_not_equal(dr_entry_decode(buf, e.raw_len, &d), DR_REJ_NONE);
  }
  /* a flipped signature byte */
  memcpy(buf, e.raw, e.raw_len);
  buf[e.raw_len - 1] ^= 0x40;
  assert_int_equal(dr_entry_decode(buf, e.raw_len, &d), DR_REJ_BAD_SIGNATURE);
  /* every truncation */
  for (size_t n = 0; n < e.raw_len; n++) assert_int_equal(dr_entry_decode(e.raw, n, &d), DR_REJ_MALFORMED);
  /* a trailing byte */
  memcpy(buf, e.raw, e.raw_len);
  buf[e.raw_len] = 0;
  assert_int_equal(dr_entry_decode(buf, e.raw_len + 1, &d), DR_REJ_MALFORMED);
  /* version 2 */
  memcpy(buf, e.raw, e.raw_len);
  assert_int_equal(buf[1], 1);
  buf[1] = 2;
  assert_int_equal(dr_entry_decode(buf, e.raw_len, &d), DR_REJ_MALFORMED);
  /* too large */
  uint8_t big[DR_ENTRY_MAX + 1];
  memset(big, 0x90, sizeof big);
  assert_int_equal(dr_entry_decode(big, sizeof big, &d), DR_REJ_TOO_LARGE);
  /* a header claiming four billion elements */
  static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
  assert_int_equal(dr_entry_decode(huge, sizeof huge, &d), DR_REJ_MALFORMED);
  dr_entry_clear(&e);
}

static void test_context_checks(void **state) {
  dr_entry e;
  uint8_t other[DR_ID_LEN];
  make(&e, DR_KIND_RECORD);
  uint64_t t = e.issued_at;
  assert_int_equal(dr_entry_check(&e, rid, t, 60), DR_REJ_NONE);
  dr_resource_id(other, alice.pk, "other", 5);
  assert_int_equal(dr_entry_check(&e, other, t, 60), DR_REJ_WRONG_KEY);
  /* the skew is tolerated on issue times only: expired at expires_at */
  assert_int_equal(dr_entry_check(&e, rid, e.expires_at, 60), DR_REJ_EXPIRED);
  assert_int_equal(dr_entry_check(&e, rid, e.expires_at - 1, 60), DR_REJ_NONE);
  assert_int_equal(dr_entry_check(&e, rid, e.expires_at, 0), DR_REJ_EXPIRED);
  assert_int_equal(dr_entry_check(&e, rid, e.expires_at - 1, 0), DR_REJ_NONE);
  assert_int_equal(dr_entry_check(&e, rid, t - 120, 60), DR_REJ_FUTURE);
  assert_int_equal(dr_entry_check(&e, rid, t - 30, 60), DR_REJ_NONE);
  dr_entry_clear(&e);

  /* a resource whose id is not derived from its owner and label */
  dr_entry r = {.kind = DR_KIND_RESOURCE, .name = "web", .seq = 1, .issued_at = t};
  memcpy(r.rid, other, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&r, &alice, NULL, NULL), 0);
  assert_int_equal(dr_entry_check(&r, other, t, 60), DR_REJ_WRONG_KEY);
  free(r.raw);
  /* the same resource created by bob under alice's id */
  dr_entry s = {.kind = DR_KIND_RESOURCE, .name = "web", .seq = 1, .issued_at = t};
  memcpy(s.rid, rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&s, &bob, NULL, NULL), 0);
  assert_int_equal(dr_entry_check(&s, rid, t, 60), DR_REJ_WRONG_KEY);
  free(s.raw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_field_is_signed),
      cmocka_unit_test(test_bytes),
      cmocka_unit_test(test_context_checks),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
