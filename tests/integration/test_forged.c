/* test_forged.c - a foreign OpenDHT node puts forged entries under a resource's key: none is returned,
 * each reason is counted, and an owner-policy resource drops injected records it does not allow */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sodium.h>

#include "crypto/crypto.h"
#include "crypto/entry_private.h"
#include "tests/support/foreign.h"
#include "tests/support/harness.h"

#define N 3

static h_node nodes[N];
static h_foreign *foreign;
static dr_identity mallory;
static char rid_text[64];
static uint8_t rid[DR_ID_LEN];

/* Puts raw bytes under a resource's DHT key from the foreign node. */
static void foreign_put_to(const uint8_t r[DR_ID_LEN], const uint8_t *data, size_t len) {
  uint8_t key[DR_DHT_KEY_LEN];
  dr_dht_key(key, r, NULL);
  h_foreign_put(foreign, key, data, len);
}

static void foreign_put(const uint8_t *data, size_t len) {
  foreign_put_to(rid, data, len);
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

/* Encodes e with its body's issuer set to issuer but signed by mallory, as
 * a signer claiming to be someone else would. */
static void signed_as(const dr_entry *e, const uint8_t issuer[DR_ID_LEN], uint8_t **raw, size_t *raw_len) {
  dr_entry c;
  uint8_t *body, msg[DR_ENTRY_MAX + 64], sig[DR_SIG_LEN];
  size_t body_len;
  assert_int_equal(dr_entry_copy(&c, e), 0);
  memcpy(c.issuer, issuer, DR_ID_LEN);
  assert_int_equal(dr__entry_pack_body(&c, &body, &body_len), 0);
  int mlen = dr_entry_signed_message(c.kind, body, body_len, msg, sizeof msg);
  assert_true(mlen > 0);
  crypto_sign_detached(sig, NULL, msg, (unsigned long long)mlen, mallory.sk);
  assert_int_equal(dr__entry_pack_envelope(c.kind, body, body_len, mallory.pk, sig, raw, raw_len), 0);
  free(body);
  dr_entry_clear(&c);
}

/* The seq of the record sid that n resolves under r (0: none). */
static uint64_t resolved_seq(const h_node *n, const char *r, const char *sid) {
  json_t *res = h_ok(n, "resolve", json_pack("{s:s}", "resource_id", r));
  json_t *recs = json_object_get(res, "records"), *rec;
  size_t k;
  uint64_t seq = 0;
  json_array_foreach(recs, k, rec) if (strcmp(json_string_value(json_object_get(rec, "service_id")), sid) == 0)
    seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
  json_decref(res);
  return seq;
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
  foreign = h_foreign_start(nodes[0].port);
  return 0;
}

static int teardown(void **state) {
  h_foreign_stop(foreign);
  return 0;
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

  /* 4. a record that expired ten minutes ago (no storer keeps one that
   * long: a copy that just expired is a normal drop, not a rejection) */
  record_of(&e, rid, "evil-expired", now - 900, now - 600);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* 5. a record issued an hour ahead */
  record_of(&e, rid, "evil-future", now + 3600, now + 3900);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* 6. a record whose body names the owner as its issuer, signed by mallory */
  uint8_t owner[DR_ID_LEN], *raw;
  size_t raw_len;
  assert_int_equal(dr_id_decode(nodes[0].peer_id, owner), 0);
  record_of(&e, rid, "evil-signer", now, now + 300);
  signed_as(&e, owner, &raw, &raw_len);
  foreign_put(raw, raw_len);
  free(raw);
  dr_entry_clear(&e);

  /* 7. a valid record in an envelope of an unknown version */
  record_of(&e, rid, "evil-version", now, now + 300);
  assert_int_equal(e.raw[0], 0x95); /* the envelope: an array of five, the version first */
  assert_int_equal(e.raw[1], DR_ENTRY_VERSION);
  e.raw[1] = DR_ENTRY_VERSION + 1;
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);

  /* 8. a value over the 4 KiB an entry may have */
  static uint8_t big[DR_ENTRY_MAX + 512];
  memset(big, 0x95, sizeof big);
  foreign_put(big, sizeof big);

  /* 9. a validly signed record whose host holds a newline and terminal
   * escapes, to forge a line of `dhtreg resolve` (readers refuse control
   * characters in every text field: malformed) */
  long malformed0[N];
  for (int i = 0; i < N; i++) malformed0[i] = h_info_int(&nodes[i], "rejected.malformed");
  dr_entry ctl = {.kind = DR_KIND_RECORD, .name = "evil-ctl", .host = "10.0.0.7\n\x1b[1A\x1b[2Kpay-1",
                  .port = 443, .seq = now * 1000000, .issued_at = now, .expires_at = now + 300};
  memcpy(ctl.rid, rid, DR_ID_LEN);
  signed_as(&ctl, mallory.pk, &raw, &raw_len);
  foreign_put(raw, raw_len);
  free(raw);

  /* and a genuine record from the same foreign node: the path works */
  record_of(&e, rid, "honest-foreigner", now, now + 300);
  uint64_t honest_seq = e.seq;
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
    assert_true(h_info_int(&nodes[i], "rejected.malformed") >= 2); /* garbage, unknown version */
    assert_true(h_info_int(&nodes[i], "rejected.bad_signature") >= 1);
    assert_true(h_info_int(&nodes[i], "rejected.wrong_key") >= 1);
    assert_true(h_info_int(&nodes[i], "rejected.expired") >= 1);
    assert_true(h_info_int(&nodes[i], "rejected.future") >= 1);
    assert_true(h_info_int(&nodes[i], "rejected.wrong_signer") >= 1);
    assert_true(h_info_int(&nodes[i], "rejected.too_large") >= 1);
    assert_true(h_info_int(&nodes[i], "rejected.malformed") > malformed0[i]); /* the control characters */
    /* one peer signing from an hour ahead does not make a node doubt its clock */
    json_t *info = h_ok(&nodes[i], "node.info", NULL);
    assert_true(json_is_true(json_object_get(json_object_get(info, "clock"), "ok")));
    assert_true(json_is_true(json_object_get(info, "ready")));
    json_decref(info);
    assert_int_equal(resolved_seq(&nodes[i], rid_text, "honest-foreigner"), honest_seq);
  }

  /* a client cannot advertise control characters either: -32602 naming the field */
  json_t *bad = h_call(&nodes[1], "record.advertise",
                       json_pack("{s:s, s:s, s:s}", "resource_id", rid_text, "service_id", "ok\r\x1b[2K", "host", "h"));
  assert_int_equal(h_error_code(bad), -32602);
  assert_non_null(strstr(h_error_message(bad), "service_id"));
  json_decref(bad);
  bad = h_call(&nodes[1], "record.advertise",
               json_pack("{s:s, s:s, s:{s:s}}", "resource_id", rid_text, "service_id", "ok", "metadata", "k", "a\x7f"));
  assert_int_equal(h_error_code(bad), -32602);
  assert_non_null(strstr(h_error_message(bad), "metadata"));
  json_decref(bad);

  /* 10. an older version of the honest record, put after every node read the
   * newer one: each drops it and keeps the newer (a renewal's predecessor:
   * not counted) */
  record_of(&e, rid, "honest-foreigner", now - 1, now + 290);
  assert_true(e.seq < honest_seq);
  uint8_t *older = malloc(e.raw_len);
  size_t older_len = e.raw_len;
  memcpy(older, e.raw, e.raw_len);
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);
  for (int i = 0; i < N; i++) assert_int_equal(resolved_seq(&nodes[i], rid_text, "honest-foreigner"), honest_seq);

  /* 11. its issuer withdraws it; then the older version is put again
   * beside the tombstone: every node drops it, as the ordinary leftover of
   * a withdrawal it is (superseded: read with its tombstone), not a replay */
  dr_entry t = {.kind = DR_KIND_TOMBSTONE, .name = "honest-foreigner", .seq = honest_seq + 1,
                .issued_at = now, .expires_at = now + 300};
  memcpy(t.rid, rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&t, &mallory, NULL, NULL), 0);
  foreign_put(t.raw, t.raw_len);
  free(t.raw);
  for (int i = 0; i < N; i++) assert_int_equal(resolved_seq(&nodes[i], rid_text, "honest-foreigner"), 0);
  long before[N], superseded[N];
  for (int i = 0; i < N; i++) {
    before[i] = h_info_int(&nodes[i], "rejected.replayed");
    superseded[i] = h_info_int(&nodes[i], "dropped.superseded");
  }
  foreign_put(older, older_len);
  free(older);
  for (int i = 0; i < N; i++) {
    assert_int_equal(resolved_seq(&nodes[i], rid_text, "honest-foreigner"), 0);
    assert_int_equal(h_info_int(&nodes[i], "rejected.replayed"), before[i]);
    assert_true(h_info_int(&nodes[i], "dropped.superseded") > superseded[i]);
  }

  /* 12. a withdrawal no storer serves any more, while the record it hid
   * still is (what a storer hiding the tombstone looks like): every node
   * that saw the withdrawal keeps it in force, and counts the record
   * read without it as a replay */
  record_of(&e, rid, "hidden-withdrawal", now, now + 300);
  uint64_t hidden_seq = e.seq;
  foreign_put(e.raw, e.raw_len);
  dr_entry_clear(&e);
  for (int i = 0; i < N; i++) assert_int_equal(resolved_seq(&nodes[i], rid_text, "hidden-withdrawal"), hidden_seq);
  uint64_t gone_at = (uint64_t)time(NULL) + 3;
  dr_entry t2 = {.kind = DR_KIND_TOMBSTONE, .name = "hidden-withdrawal", .seq = hidden_seq + 1,
                 .issued_at = gone_at - 3, .expires_at = gone_at};
  memcpy(t2.rid, rid, DR_ID_LEN);
  assert_int_equal(dr_entry_sign(&t2, &mallory, NULL, NULL), 0);
  foreign_put(t2.raw, t2.raw_len);
  free(t2.raw);
  for (int i = 0; i < N; i++) assert_int_equal(resolved_seq(&nodes[i], rid_text, "hidden-withdrawal"), 0);
  while ((uint64_t)time(NULL) <= gone_at) usleep(100000); /* the tombstone is over: readers drop what storers serve of it */
  for (int i = 0; i < N; i++) {
    before[i] = h_info_int(&nodes[i], "rejected.replayed");
    assert_int_equal(resolved_seq(&nodes[i], rid_text, "hidden-withdrawal"), 0);
    assert_true(h_info_int(&nodes[i], "rejected.replayed") > before[i]);
  }
}

/* An owner-policy resource: mallory's record, put straight into the DHT,
 * is dropped by every reader until the owner lists mallory. */
static void test_policy_drops_injected_records(void **state) {
  json_t *res = h_ok(&nodes[0], "resource.create",
                     json_pack("{s:s, s:s, s:[]}", "label", "vault", "policy", "owner", "allow"));
  char vault[64];
  uint8_t vrid[DR_ID_LEN];
  snprintf(vault, sizeof vault, "%s", json_string_value(json_object_get(res, "resource_id")));
  json_decref(res);
  assert_int_equal(dr_id_decode(vault, vrid), 0);
  json_decref(h_ok(&nodes[0], "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i}", "resource_id", vault, "service_id", "vault-1",
                             "host", "10.0.0.8", "port", 443)));

  uint64_t now = (uint64_t)time(NULL);
  dr_entry e;
  record_of(&e, vrid, "evil-injected", now, now + 300);
  foreign_put_to(vrid, e.raw, e.raw_len);
  dr_entry_clear(&e);
  for (int i = 0; i < N; i++) {
    long before = h_info_int(&nodes[i], "rejected.policy");
    h_has own = {&nodes[i], vault, "vault-1"};
    assert_true(h_wait_for(h_resolves, &own, 10000));
    assert_false(h_resolve_has(&nodes[i], vault, "evil-injected"));
    assert_true(h_info_int(&nodes[i], "rejected.policy") > before);
  }

  /* the owner lists mallory: a newer resource entry, and the same record is
   * accepted everywhere */
  char mallory_id[DR_ID_TEXT_MAX];
  dr_id_encode(mallory.pk, mallory_id);
  json_decref(h_ok(&nodes[0], "resource.create",
                   json_pack("{s:s, s:s, s:[s]}", "label", "vault", "policy", "owner", "allow", mallory_id)));
  for (int i = 0; i < N; i++) {
    h_has x = {&nodes[i], vault, "evil-injected"};
    if (!h_wait_for(h_resolves, &x, 10000)) fail_msg("node %d still drops the allowed record", i);
  }
}

/* A resource entry written as before the mark (no OpenDHT user type):
 * resource.get finds it all the same, by the head's whole read; a record
 * put marked as a resource entry is not stored by dhtreg nodes. */
static void test_unmarked_resource_entry_is_read(void **state) {
  dr_entry r = {.kind = DR_KIND_RESOURCE, .name = strdup("legacy"), .issued_at = (uint64_t)time(NULL), .seq = 1};
  dr_resource_id(r.rid, mallory.pk, "legacy", 6);
  assert_int_equal(dr_entry_sign(&r, &mallory, NULL, NULL), 0);
  foreign_put_to(r.rid, r.raw, r.raw_len);
  char text[DR_ID_TEXT_MAX];
  dr_id_encode(r.rid, text);
  for (int i = 0; i < N; i++) {
    json_t *res = h_ok(&nodes[i], "resource.get", json_pack("{s:s}", "resource_id", text));
    assert_string_equal(json_string_value(json_object_get(res, "label")), "legacy");
    json_decref(res);
  }
  dr_entry_clear(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forged_entries_are_dropped),
      cmocka_unit_test(test_policy_drops_injected_records),
      cmocka_unit_test(test_unmarked_resource_entry_is_read),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
