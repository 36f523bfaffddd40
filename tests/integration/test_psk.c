/* test_psk.c - private registries: two passphrases and a public node on one DHT each see exactly
 * their own registry, and an outsider's raw gets find nothing readable */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/support/foreign.h"
#include "tests/support/harness.h"

/* alpha: a1 a2, beta: b1 b2, the public registry: o */
static h_node a1, a2, b1, b2, o;
static h_foreign *outsider;

static void start(h_node *n, const char *name, const char *psk, const char *boot) {
  const char *args[8] = {"--op-timeout-ms", "3000", NULL};
  int k = 2;
  if (psk) {
    args[k++] = "--psk";
    args[k++] = psk;
  }
  if (boot) {
    args[k++] = "--bootstrap";
    args[k++] = boot;
  }
  h_node_start(n, name, args);
}

static int setup(void **state) {
  char boot[32];
  assert_int_equal(dr_crypto_init(), 0);
  start(&a1, "a1", "alpha passphrase", NULL);
  h_addr(&a1, boot, sizeof boot);
  start(&a2, "a2", "alpha passphrase", boot);
  start(&b1, "b1", "beta passphrase", boot);
  start(&b2, "b2", "beta passphrase", boot);
  start(&o, "o", NULL, boot);
  outsider = h_foreign_start(a1.port);
  return 0;
}

static int teardown(void **state) {
  h_foreign_stop(outsider);
  return 0;
}

/* Creates "web" on n and advertises sid there; returns the resource id. */
static char *publish(const h_node *n, const char *sid, const char *host) {
  json_t *r = h_ok(n, "resource.create", json_pack("{s:s}", "label", "web"));
  char *rid = strdup(json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  json_decref(h_ok(n, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid,
                                                    "service_id", sid, "host", host, "port", 443)));
  return rid;
}

/* What n sees of rid: the number of records, and whether a resource entry. */
static int view(const h_node *n, const char *rid, bool *has_resource) {
  json_t *r = h_ok(n, "resolve", json_pack("{s:s}", "resource_id", rid));
  int count = (int)json_array_size(json_object_get(r, "records"));
  *has_resource = !json_is_null(json_object_get(r, "resource"));
  json_decref(r);
  return count;
}

static void test_each_network_sees_its_own(void **state) {
  char *ra = publish(&a1, "alpha-web", "10.7.7.1");
  char *rb = publish(&b1, "beta-web", "10.7.7.2");
  char *ro = publish(&o, "public-web", "10.7.7.3");
  /* a member of another network writes under alpha's resource id too: it
   * lands in its own network's key space, not alpha's */
  json_decref(h_ok(&b2, "record.advertise",
                   json_pack("{s:s, s:s, s:s, s:i}", "resource_id", ra, "service_id", "beta-intruder",
                             "host", "10.7.7.9", "port", 443)));

  h_has sa = {&a2, ra, "alpha-web"}, sb = {&b2, rb, "beta-web"};
  assert_true(h_wait_for(h_resolves, &sa, 10000));
  assert_true(h_wait_for(h_resolves, &sb, 10000));

  bool res;
  /* members: exactly their own */
  assert_int_equal(view(&a2, ra, &res), 1);
  assert_true(res);
  assert_int_equal(view(&b1, rb, &res), 1);
  assert_true(res);
  /* the other network and the public node see nothing of it */
  const h_node *not_alpha[] = {&b1, &o}, *not_beta[] = {&a1, &a2, &o}, *not_public[] = {&a2, &b1, &b2};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(view(not_alpha[i], ra, &res), not_alpha[i] == &b1 ? 1 : 0); /* b1: beta-intruder only */
    assert_false(res);
    assert_false(h_resolve_has(not_alpha[i], ra, "alpha-web"));
  }
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(view(not_beta[i], rb, &res), 0);
    assert_false(res);
  }
  /* the public registry works among public nodes (o resolves its own) and
   * no private node sees it */
  h_has so = {&o, ro, "public-web"};
  assert_true(h_wait_for(h_resolves, &so, 10000));
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(view(not_public[i], ro, &res), 0);
    assert_false(res);
  }
  assert_false(h_resolve_has(&a2, ra, "beta-intruder"));
  assert_true(h_resolve_has(&b2, ra, "beta-intruder"));

  json_t *info = h_ok(&a1, "node.info", NULL);
  assert_true(json_is_true(json_object_get(info, "private")));
  json_decref(info);
  info = h_ok(&o, "node.info", NULL);
  assert_true(json_is_false(json_object_get(info, "private")));
  json_decref(info);

  /* an outsider's raw gets: nothing under the public key of alpha's
   * resource; under alpha's key (which only the passphrase gives) values
   * that are neither entries nor show the record's fields, and that beta's
   * key cannot open */
  uint8_t rid[DR_ID_LEN], key[DR_DHT_KEY_LEN];
  dr_netkey alpha, beta;
  assert_int_equal(dr_id_decode(ra, rid), 0);
  assert_int_equal(dr_netkey_derive(&alpha, "alpha passphrase", 16), 0);
  assert_int_equal(dr_netkey_derive(&beta, "beta passphrase", 15), 0);
  h_raw_value *v;
  dr_dht_key(key, rid, NULL);
  size_t nv = h_foreign_get(outsider, key, &v);
  assert_int_equal(nv, 0);
  h_raw_values_free(v, nv);
  dr_dht_key(key, rid, alpha.dht);
  nv = h_foreign_get(outsider, key, &v);
  assert_true(nv >= 2); /* the resource and the record, at least */
  size_t opened = 0;
  for (size_t i = 0; i < nv; i++) {
    dr_entry e;
    uint8_t plain[DR_ENTRY_MAX];
    size_t plen;
    assert_int_not_equal(dr_entry_decode(v[i].data, v[i].len, &e), DR_REJ_NONE);
    assert_null(memmem(v[i].data, v[i].len, "alpha-web", 9));
    assert_null(memmem(v[i].data, v[i].len, "10.7.7.1", 8));
    assert_int_equal(dr_open(&beta, v[i].data, v[i].len, plain, &plen), DR_REJ_BAD_SIGNATURE);
    if (dr_open(&alpha, v[i].data, v[i].len, plain, &plen) == DR_REJ_NONE &&
        dr_entry_decode(plain, plen, &e) == DR_REJ_NONE) {
      opened++;
      dr_entry_clear(&e);
    }
  }
  assert_int_equal(opened, nv); /* and they are alpha's genuine entries */
  h_raw_values_free(v, nv);
  free(ra);
  free(rb);
  free(ro);
}

static long store_refused(const h_node *n, const char *reason) {
  json_t *info = h_ok(n, "node.info", NULL);
  long v = (long)json_integer_value(json_object_get(json_object_get(info, "store_refused"), reason));
  json_decref(info);
  return v;
}

/* A value an outsider puts under a private network's key is dropped: the
 * outsider cannot seal, and a plain signed entry is not accepted there. */
static void test_outsider_cannot_write(void **state) {
  json_t *r = h_ok(&a1, "resource.create", json_pack("{s:s}", "label", "db"));
  const char *ra = json_string_value(json_object_get(r, "resource_id"));
  uint8_t rid[DR_ID_LEN], key[DR_DHT_KEY_LEN], seed[DR_SEED_LEN];
  dr_netkey alpha;
  dr_identity eve;
  assert_int_equal(dr_id_decode(ra, rid), 0);
  assert_int_equal(dr_netkey_derive(&alpha, "alpha passphrase", 16), 0);
  memset(seed, 0x45, sizeof seed);
  dr_identity_from_seed(&eve, seed);
  dr_entry e = {.kind = DR_KIND_RECORD, .port = 1, .seq = 1};
  memcpy(e.rid, rid, DR_ID_LEN);
  e.name = strdup("eve");
  e.host = strdup("10.6.6.6");
  e.issued_at = (uint64_t)time(NULL);
  e.expires_at = e.issued_at + 300;
  assert_int_equal(dr_entry_sign(&e, &eve, NULL, NULL), 0);
  /* the plain entry, under the network's key (as if the key had leaked):
   * no dhtreg storer keeps it (it is not an entry of that key) */
  h_node *all[] = {&a1, &a2, &b1, &b2};
  long refused0 = 0;
  for (int i = 0; i < 4; i++) refused0 += store_refused(all[i], "wrong_key");
  dr_dht_key(key, rid, alpha.dht);
  h_foreign_put(outsider, key, e.raw, e.raw_len);
  /* the same sealed with the wrong network key */
  dr_netkey wrong;
  assert_int_equal(dr_netkey_derive(&wrong, "guess", 5), 0);
  uint8_t sealed[DR_ENTRY_MAX + DR_SEAL_OVERHEAD];
  int sl = dr_seal(&wrong, e.raw, e.raw_len, sealed, sizeof sealed);
  assert_true(sl > 0);
  h_foreign_put(outsider, key, sealed, (size_t)sl);
  dr_entry_clear(&e);

  json_t *info0 = h_ok(&a2, "node.info", NULL);
  json_t *rej0 = json_object_get(info0, "rejected");
  long mal0 = (long)json_integer_value(json_object_get(rej0, "malformed"));
  long sig0 = (long)json_integer_value(json_object_get(rej0, "bad_signature"));
  json_t *res = h_ok(&a2, "resolve", json_pack("{s:s}", "resource_id", ra));
  assert_int_equal(json_array_size(json_object_get(res, "records")), 0);
  assert_false(json_is_null(json_object_get(res, "resource")));
  json_decref(res);
  json_t *info1 = h_ok(&a2, "node.info", NULL);
  json_t *rej1 = json_object_get(info1, "rejected");
  long refused1 = 0;
  for (int i = 0; i < 4; i++) refused1 += store_refused(all[i], "wrong_key");
  assert_true(refused1 > refused0);
  /* a member cannot open the wrong seal either way: it stores it blindly
   * (it could be another network's) and drops it when it reads it; the
   * plain one reaches a reader only from the outsider itself */
  assert_true(json_integer_value(json_object_get(rej1, "bad_signature")) > sig0);
  assert_true(json_integer_value(json_object_get(rej1, "malformed")) >= mal0);
  json_decref(info0);
  json_decref(info1);
  json_decref(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_network_sees_its_own),
      cmocka_unit_test(test_outsider_cannot_write),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
