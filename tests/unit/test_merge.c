/* test_merge.c - the read-side merge rule: highest seq wins, tombstones hide, ties are deterministic, policy */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/merge.h"

static dr_identity owner, alice, bob;
static uint8_t rid[DR_ID_LEN];
#define NOW 1700000000u

static int setup(void **state) {
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  memset(seed, 1, sizeof seed);
  dr_identity_from_seed(&owner, seed);
  memset(seed, 2, sizeof seed);
  dr_identity_from_seed(&alice, seed);
  memset(seed, 3, sizeof seed);
  dr_identity_from_seed(&bob, seed);
  dr_resource_id(rid, owner.pk, "svc", 3);
  return 0;
}

/* A signed entry, heap strings, ready to offer. */
static dr_entry entry(const dr_identity *who, dr_kind kind, const char *sid, uint64_t seq,
                      const char *host) {
  dr_entry t = {.kind = kind, .name = (char *)sid, .seq = seq, .issued_at = NOW - 10,
                .expires_at = NOW + 100, .host = (char *)host};
  memcpy(t.rid, rid, DR_ID_LEN);
  if (kind == DR_KIND_RESOURCE) t.expires_at = 0;
  assert_int_equal(dr_entry_sign(&t, who, NULL, NULL), 0);
  dr_entry e;
  assert_int_equal(dr_entry_copy(&e, &t), 0);
  free(t.raw);
  return e;
}

static size_t records(dr_merge *m, const dr_entry ***out, size_t *forbidden) {
  return dr_merge_records(m, NOW, 100, out, forbidden);
}

static void test_highest_seq_wins_in_any_order(void **state) {
  for (int order = 0; order < 2; order++) {
    dr_merge m;
    dr_merge_init(&m, rid);
    dr_entry a = entry(&alice, DR_KIND_RECORD, "s", 5, "old");
    dr_entry b = entry(&alice, DR_KIND_RECORD, "s", 9, "new");
    dr_merge_offer(&m, order ? &a : &b);
    dr_merge_offer(&m, order ? &b : &a);
    const dr_entry **out;
    size_t forbidden;
    assert_int_equal(records(&m, &out, &forbidden), 1);
    assert_string_equal(out[0]->host, "new");
    dr_merge_free(&m);
  }
}

static void test_tombstones(void **state) {
  const dr_entry **out;
  size_t forbidden;
  dr_merge m;
  /* a later tombstone hides; an equal-seq tombstone hides too */
  for (int equal = 0; equal < 2; equal++) {
    dr_merge_init(&m, rid);
    dr_entry r = entry(&alice, DR_KIND_RECORD, "s", 5, "h");
    dr_entry t = entry(&alice, DR_KIND_TOMBSTONE, "s", equal ? 5 : 6, NULL);
    dr_merge_offer(&m, &r);
    dr_merge_offer(&m, &t);
    assert_int_equal(records(&m, &out, &forbidden), 0);
    dr_merge_free(&m);
  }
  /* a record newer than the tombstone shows (re-advertised) */
  dr_merge_init(&m, rid);
  dr_entry t = entry(&alice, DR_KIND_TOMBSTONE, "s", 6, NULL);
  dr_entry r = entry(&alice, DR_KIND_RECORD, "s", 7, "back");
  dr_merge_offer(&m, &t);
  dr_merge_offer(&m, &r);
  assert_int_equal(records(&m, &out, &forbidden), 1);
  assert_string_equal(out[0]->host, "back");
  /* another issuer's tombstone hides nothing of alice's */
  dr_entry bt = entry(&bob, DR_KIND_TOMBSTONE, "s", 99, NULL);
  dr_merge_offer(&m, &bt);
  assert_int_equal(records(&m, &out, &forbidden), 1);
  dr_merge_free(&m);
}

static void test_ties_are_deterministic(void **state) {
  dr_entry a = entry(&alice, DR_KIND_RECORD, "s", 5, "one");
  dr_entry b = entry(&alice, DR_KIND_RECORD, "s", 5, "two");
  const char *winner = dr_merge_cmp(&a, &b) > 0 ? "one" : "two";
  assert_int_equal(dr_merge_cmp(&a, &b), -dr_merge_cmp(&b, &a));
  for (int order = 0; order < 2; order++) {
    dr_merge m;
    dr_entry x, y;
    dr_entry_copy(&x, &a);
    dr_entry_copy(&y, &b);
    dr_merge_init(&m, rid);
    dr_merge_offer(&m, order ? &x : &y);
    dr_merge_offer(&m, order ? &y : &x);
    const dr_entry **out;
    size_t forbidden;
    assert_int_equal(records(&m, &out, &forbidden), 1);
    assert_string_equal(out[0]->host, winner);
    dr_merge_free(&m);
  }
  dr_entry_clear(&a);
  dr_entry_clear(&b);
}

static void test_expiry_limit_and_order(void **state) {
  dr_merge m;
  const dr_entry **out;
  size_t forbidden;
  dr_merge_init(&m, rid);
  const char *sids[] = {"c", "a", "d", "b"};
  for (int i = 0; i < 4; i++) {
    dr_entry e = entry(&alice, DR_KIND_RECORD, sids[i], 1, "h");
    dr_merge_offer(&m, &e);
  }
  assert_int_equal(records(&m, &out, &forbidden), 4);
  assert_string_equal(out[0]->name, "a");
  assert_string_equal(out[3]->name, "d");
  assert_int_equal(dr_merge_records(&m, NOW, 2, &out, &forbidden), 2);
  assert_string_equal(out[1]->name, "b");
  assert_int_equal(dr_merge_records(&m, NOW + 100, 100, &out, &forbidden), 0); /* all expired */
  dr_merge_free(&m);
}

static void test_owner_policy(void **state) {
  dr_merge m;
  const dr_entry **out;
  size_t forbidden;
  dr_merge_init(&m, rid);
  dr_entry res = {.kind = DR_KIND_RESOURCE, .name = "svc", .seq = 1, .issued_at = NOW,
                  .policy = DR_POLICY_OWNER, .allow = (uint8_t(*)[DR_ID_LEN])alice.pk, .n_allow = 1};
  memcpy(res.rid, rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&res, &owner, NULL, NULL), 0);
  dr_entry r;
  dr_entry_copy(&r, &res);
  free(res.raw);
  dr_entry o = entry(&owner, DR_KIND_RECORD, "by-owner", 1, "h");
  dr_entry a = entry(&alice, DR_KIND_RECORD, "by-alice", 1, "h");
  dr_entry b = entry(&bob, DR_KIND_RECORD, "by-bob", 1, "h");
  dr_merge_offer(&m, &o);
  dr_merge_offer(&m, &a);
  dr_merge_offer(&m, &b);
  assert_int_equal(records(&m, &out, &forbidden), 3); /* no resource entry yet: open */
  dr_merge_offer(&m, &r);
  assert_int_equal(records(&m, &out, &forbidden), 2);
  assert_int_equal(forbidden, 1);
  assert_string_equal(out[0]->name, "by-alice");
  assert_string_equal(out[1]->name, "by-owner");
  dr_merge_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_highest_seq_wins_in_any_order),
      cmocka_unit_test(test_tombstones),
      cmocka_unit_test(test_ties_are_deterministic),
      cmocka_unit_test(test_expiry_limit_and_order),
      cmocka_unit_test(test_owner_policy),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
