/* test_limits.c - every limit of an entry, with the field it names and the error it gives */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static dr_identity id;

static int setup(void **state) {
  uint8_t seed[DR_SEED_LEN] = {1};
  assert_int_equal(dr_crypto_init(), 0);
  dr_identity_from_seed(&id, seed);
  return 0;
}

static char *str_of(size_t n) {
  char *s = malloc(n + 1);
  memset(s, 'a', n);
  s[n] = '\0';
  return s;
}

/* Signs a record built by the caller; returns the result and the field. */
static int sign(dr_entry *e, const char **field) {
  const char *why = NULL;
  *field = NULL;
  e->kind = e->kind ? e->kind : DR_KIND_RECORD;
  e->seq = 1;
  e->issued_at = 1000;
  if (!e->expires_at && e->kind != DR_KIND_RESOURCE) e->expires_at = 1300;
  int r = dr_entry_sign(e, &id, field, &why);
  if (r < 0) assert_non_null(why);
  free(e->raw);
  e->raw = NULL;
  return r;
}

static void test_names(void **state) {
  const char *f;
  size_t lens[] = {0, 1, 128, 129};
  int want[] = {-EINVAL, 0, 0, -EMSGSIZE};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < 4; i++) {
      char *s = str_of(lens[i]);
      dr_entry e = {.kind = k ? DR_KIND_RESOURCE : DR_KIND_RECORD, .name = s};
      assert_int_equal(sign(&e, &f), want[i]);
      if (want[i]) assert_string_equal(f, k ? "label" : "service_id");
      free(s);
    }
}

/* What this node signs is narrower than what it reads: a label is a DNS
 * name in lowercase, a service id one word; each refusal says the rule.
 * Both still sign and verify as entries (other implementations may sign
 * them), and a length outside 1-128 is the limits' to judge. */
static void test_signed_names(void **state) {
  char *p63 = str_of(63), *p64 = str_of(64), *all = str_of(128), two63[130], *x129 = str_of(129);
  snprintf(two63, sizeof two63, "%s.%s", p63, p63); /* 127 bytes */
  const char *labels_ok[] = {"web", "a", "0", "api.v2", "a-b_c", "xn--bcher-kva", "9to5", p63, two63};
  const char *labels_no[] = {"web prod", "Web", "WEB", "web.", ".web", "a..b", "-web", "web-", "_web", "web_",
                             "a.-b", "we/b", "wéb", "a,b", "a=b", "\"a\"", p64, all, "web\t"};
  for (size_t i = 0; i < sizeof labels_ok / sizeof *labels_ok; i++)
    if (dr_label_refusal(labels_ok[i], strlen(labels_ok[i]))) fail_msg("label '%s' refused", labels_ok[i]);
  for (size_t i = 0; i < sizeof labels_no / sizeof *labels_no; i++) {
    const char *why = dr_label_refusal(labels_no[i], strlen(labels_no[i]));
    if (!why) fail_msg("label '%s' taken", labels_no[i]);
    assert_non_null(strstr(why, "must be a DNS name in lowercase"));
  }
  const char *sids_ok[] = {"web-1", "W", "0", "_nomad-task-1", "host.example:8080", "a_b.c-d:e", all};
  const char *sids_no[] = {"bad id with spaces", "-x", ".x", ":x", "a,b", "k=v", "a/b", "caf\xc3\xa9", "a\"b",
                           "a'b", "a\\b", "tab\there", "x@y"};
  for (size_t i = 0; i < sizeof sids_ok / sizeof *sids_ok; i++)
    if (dr_service_id_refusal(sids_ok[i], strlen(sids_ok[i]))) fail_msg("service id '%s' refused", sids_ok[i]);
  for (size_t i = 0; i < sizeof sids_no / sizeof *sids_no; i++) {
    const char *why = dr_service_id_refusal(sids_no[i], strlen(sids_no[i]));
    if (!why) fail_msg("service id '%s' taken", sids_no[i]);
    assert_non_null(strstr(why, "letters, digits"));
  }
  /* lengths are the limits': not judged here */
  assert_null(dr_label_refusal("", 0));
  assert_null(dr_service_id_refusal("", 0));
  assert_null(dr_label_refusal(x129, 129));
  assert_null(dr_service_id_refusal(x129, 129));
  /* readers take what other implementations sign: these are entries still */
  const char *f;
  dr_entry e = {.name = "bad id with spaces"};
  assert_int_equal(sign(&e, &f), 0);
  dr_entry r = {.kind = DR_KIND_RESOURCE, .name = "Web Prod"};
  assert_int_equal(sign(&r, &f), 0);
  free(p63);
  free(p64);
  free(all);
  free(x129);
}

static void test_tags_and_addresses(void **state) {
  const char *f;
  char *many[17], *t64 = str_of(64), *t65 = str_of(65), *a129 = str_of(129), names[17][8];
  for (int i = 0; i < 17; i++) {
    snprintf(names[i], sizeof names[i], "t%d", i);
    many[i] = names[i];
  }
  dr_entry e = {.name = "s", .tags = many, .n_tags = 16};
  assert_int_equal(sign(&e, &f), 0);
  e.n_tags = 17;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "tags");
  char *one[] = {t64};
  e.tags = one;
  e.n_tags = 1;
  assert_int_equal(sign(&e, &f), 0);
  one[0] = t65;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "tags");
  one[0] = "";
  assert_int_equal(sign(&e, &f), -EINVAL);
  e.n_tags = 0;
  e.addrs = many;
  e.n_addrs = 17;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "addresses");
  char *long_addr[] = {a129};
  e.addrs = long_addr;
  e.n_addrs = 1;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "addresses");
  free(t64);
  free(t65);
  free(a129);
}

static void test_metadata(void **state) {
  const char *f;
  /* one pair: fixmap(1) + key "k" (2) + value str: 2048 bytes in all fits */
  char *v_fit = str_of(2048 - 1 - 2 - 3), *v_over = str_of(2048 - 1 - 2 - 3 + 1);
  dr_meta m = {"k", v_fit};
  dr_entry e = {.name = "s", .meta = &m, .n_meta = 1};
  assert_int_equal(sign(&e, &f), 0);
  m.value = v_over;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "metadata");
  dr_meta dup[] = {{"a", "1"}, {"a", "2"}};
  e.meta = dup;
  e.n_meta = 2;
  assert_int_equal(sign(&e, &f), -EINVAL);
  assert_string_equal(f, "metadata");
  free(v_fit);
  free(v_over);
}

static void test_host_and_lifetime(void **state) {
  const char *f;
  dr_entry e = {.name = "s", .host = "bad\xff\xfe"};
  assert_int_equal(sign(&e, &f), -EINVAL);
  assert_string_equal(f, "host");
  char *h = str_of(254);
  e.host = h;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "host");
  free(h);
  e.host = "ok";
  e.expires_at = 1000 + 86400;
  assert_int_equal(sign(&e, &f), 0);
  e.expires_at = 1000 + 86401;
  assert_int_equal(sign(&e, &f), -EMSGSIZE);
  assert_string_equal(f, "ttl");
  e.expires_at = 1000;
  assert_int_equal(sign(&e, &f), -EINVAL);
  assert_string_equal(f, "expires_at");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_signed_names),
      cmocka_unit_test(test_tags_and_addresses),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_host_and_lifetime),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
