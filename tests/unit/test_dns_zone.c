/* test_dns_zone.c - the dhtreg. zone's names: base32 owners, aliases, labels, type filters, addr names, what is outside; the TTL and filter of answers */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/dns_zone.h"

static uint8_t peer[DR_ID_LEN];
static char b32[DR_DNS_B32_LEN + 1], names_path[64];

static int setup(void **state) {
  assert_int_equal(dr_crypto_init(), 0);
  for (int i = 0; i < DR_ID_LEN; i++) peer[i] = (uint8_t)(i * 37 + 5);
  dr__dns_b32_encode(peer, b32);
  char text[DR_ID_TEXT_MAX];
  dr_id_encode(peer, text);
  snprintf(names_path, sizeof names_path, "/tmp/test_dns_zone.XXXXXX");
  int fd = mkstemp(names_path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "prod = %s\nProd2 = %s\nbroken = nope\n", text, text);
  fclose(f);
  return 0;
}

static int teardown(void **state) {
  return unlink(names_path);
}

static void test_base32(void **state) {
  uint8_t zero[DR_ID_LEN] = {0}, out[DR_ID_LEN];
  char s[DR_DNS_B32_LEN + 1];
  dr__dns_b32_encode(zero, s);
  assert_string_equal(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  memset(zero, 0xff, sizeof zero);
  dr__dns_b32_encode(zero, s);
  assert_string_equal(s, "777777777777777777777777777777777777777777777777777q"); /* 4 zero bits last */
  for (int k = 0; k < 200; k++) {
    uint8_t id[DR_ID_LEN];
    for (int i = 0; i < DR_ID_LEN; i++) id[i] = (uint8_t)rand();
    dr__dns_b32_encode(id, s);
    assert_int_equal(strlen(s), DR_DNS_B32_LEN);
    assert_int_equal(dr__dns_b32_decode(s, strlen(s), out), 0);
    assert_memory_equal(id, out, DR_ID_LEN);
  }
  assert_int_equal(dr__dns_b32_decode("777777777777777777777777777777777777777777777777777r", 52, out), -EINVAL);
  assert_int_equal(dr__dns_b32_decode(b32, 51, out), -EINVAL);
  s[3] = 'A'; /* the alphabet is lowercase (queries are made so) */
  assert_int_equal(dr__dns_b32_decode(s, 52, out), -EINVAL);
  s[3] = '1';
  assert_int_equal(dr__dns_b32_decode(s, 52, out), -EINVAL);
}

static dr_dns_kind parse(const char *name, dr_dns_name *out) {
  const char *files[1] = {names_path};
  char err[600];
  ldns_rdf *q = ldns_dname_new_frm_str(name);
  assert_non_null(q);
  dr__dns_name_parse(q, files, 1, out, err, sizeof err);
  ldns_rdf_deep_free(q);
  return out->kind;
}

static void test_names(void **state) {
  dr_dns_name n;
  uint8_t rid[DR_ID_LEN];
  char name[300];
  dr_resource_id(rid, peer, "web", 3);
  snprintf(name, sizeof name, "web.%s.dhtreg.", b32);
  assert_int_equal(parse(name, &n), DR_DNS_RESOURCE);
  assert_memory_equal(n.rid, rid, DR_ID_LEN);
  assert_string_equal(n.type, "");
  for (char *p = name; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p); /* without case */
  assert_int_equal(parse(name, &n), DR_DNS_RESOURCE);
  assert_memory_equal(n.rid, rid, DR_ID_LEN);
  assert_int_equal(parse("web.prod.dhtreg.", &n), DR_DNS_RESOURCE);
  assert_memory_equal(n.rid, rid, DR_ID_LEN);
  assert_int_equal(parse("_HTTP._tcp.web.prod.dhtreg.", &n), DR_DNS_RESOURCE);
  assert_string_equal(n.type, "http");
  assert_memory_equal(n.rid, rid, DR_ID_LEN);
  assert_int_equal(parse("_sip._udp.web.prod.dhtreg.", &n), DR_DNS_RESOURCE);
  assert_string_equal(n.type, "sip");
  dr_resource_id(rid, peer, "api.v2", 6); /* several DNS labels make one label */
  assert_int_equal(parse("api.v2.prod.dhtreg.", &n), DR_DNS_RESOURCE);
  assert_memory_equal(n.rid, rid, DR_ID_LEN);
  assert_int_equal(parse("dhtreg.", &n), DR_DNS_APEX);
  assert_int_equal(parse("DHTREG.", &n), DR_DNS_APEX);
  assert_int_equal(parse("prod.dhtreg.", &n), DR_DNS_EMPTY);
  assert_int_equal(parse("example.com.", &n), DR_DNS_OUTSIDE);
  assert_int_equal(parse("web.prod.dhtreg.com.", &n), DR_DNS_OUTSIDE);
  assert_int_equal(parse(".", &n), DR_DNS_OUTSIDE);
  assert_int_equal(parse("web.nobody.dhtreg.", &n), DR_DNS_NONE);
  assert_int_equal(parse("web.prod2.dhtreg.", &n), DR_DNS_NONE); /* aliases compare lowercased: Prod2 is not */
  assert_int_equal(parse("web.broken.dhtreg.", &n), DR_DNS_BROKEN);
  assert_int_equal(parse("_http._tcp.prod.dhtreg.", &n), DR_DNS_NONE);
  assert_int_equal(parse("a\\.b.prod.dhtreg.", &n), DR_DNS_NONE); /* a '.' inside a label */
  assert_int_equal(parse("a\\000b.prod.dhtreg.", &n), DR_DNS_NONE);
  assert_int_equal(parse("0a000005.addr.dhtreg.", &n), DR_DNS_ADDR);
  assert_int_equal(n.addr_len, 4);
  assert_memory_equal(n.addr, "\x0a\x00\x00\x05", 4);
  assert_int_equal(parse("20010DB8000000000000000000000001.addr.dhtreg.", &n), DR_DNS_ADDR);
  assert_int_equal(n.addr_len, 16);
  assert_int_equal(parse("0a00005.addr.dhtreg.", &n), DR_DNS_NONE);
  assert_int_equal(parse("x.0a000005.addr.dhtreg.", &n), DR_DNS_NONE);
  assert_int_equal(parse("addr.dhtreg.", &n), DR_DNS_NONE);
}

/* Every label this node signs (dr_label_refusal) names its resource in
 * DNS, with a type filter or not; a label it refuses may not. */
static void test_signed_labels_reachable(void **state) {
  char p63[64], two63[130];
  memset(p63, 'z', 63);
  p63[63] = '\0';
  snprintf(two63, sizeof two63, "%s.%s", p63, p63);
  const char *labels[] = {"web", "0", "api.v2", "a-b_c", "xn--bcher-kva", "a.b.c.d", p63, two63};
  for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
    assert_null(dr_label_refusal(labels[i], strlen(labels[i])));
    dr_dns_name n;
    uint8_t rid[DR_ID_LEN];
    char name[400];
    dr_resource_id(rid, peer, labels[i], strlen(labels[i]));
    for (int typed = 0; typed < 2; typed++) {
      snprintf(name, sizeof name, "%s%s.%s.dhtreg.", typed ? "_http._tcp." : "", labels[i], b32);
      if (parse(name, &n) != DR_DNS_RESOURCE) fail_msg("%s: not a resource name", name);
      assert_memory_equal(n.rid, rid, DR_ID_LEN);
      assert_string_equal(n.type, typed ? "http" : "");
    }
  }
  /* refused ones: Web reaches web's id instead, not its own */
  dr_dns_name n;
  uint8_t rid[DR_ID_LEN];
  assert_non_null(dr_label_refusal("Web", 3));
  dr_resource_id(rid, peer, "Web", 3);
  char name[200];
  snprintf(name, sizeof name, "Web.%s.dhtreg.", b32);
  assert_int_equal(parse(name, &n), DR_DNS_RESOURCE);
  assert_memory_not_equal(n.rid, rid, DR_ID_LEN);
}

/* A record with no host, port or address is in TXT alone: no SRV, A or
 * AAAA has anything to say of it (docs/DNS.md). */
static void test_record_without_address(void **state) {
  dr_entry e = {.kind = DR_KIND_RECORD, .name = "job-1", .expires_at = 1000};
  const dr_entry *recs[] = {&e};
  dr_dns_name n = {.kind = DR_DNS_RESOURCE};
  ldns_rdf *q = ldns_dname_new_frm_str("jobs.prod.dhtreg.");
  const ldns_rr_type types[] = {LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_TXT};
  for (size_t i = 0; i < 4; i++) {
    ldns_pkt *p = ldns_pkt_new();
    assert_int_equal(dr__dns_add_records(p, q, types[i], &n, recs, 1, 990), types[i] == LDNS_RR_TYPE_TXT ? 1 : 0);
    ldns_pkt_free(p);
  }
  ldns_rdf_deep_free(q);
}

/* Only records of the filter's type, and a TTL no longer than the
 * shortest life left (30 s at most). */
static void test_records(void **state) {
  dr_entry a = {.kind = DR_KIND_RECORD, .name = "a", .host = "10.0.0.1", .port = 80, .type = "http", .expires_at = 1000};
  dr_entry b = {.kind = DR_KIND_RECORD, .name = "b", .host = "b.example", .port = 81, .type = "grpc", .expires_at = 1012};
  const dr_entry *recs[] = {&a, &b};
  dr_dns_name n = {.kind = DR_DNS_RESOURCE};
  ldns_rdf *q = ldns_dname_new_frm_str("web.prod.dhtreg.");
  struct {
    uint64_t now;
    const char *type;
    int answers;
    uint32_t ttl;
  } cases[] = {{990, "", 2, 10}, {900, "", 2, 30}, {1005, "", 2, 0}, {1005, "grpc", 1, 7}, {990, "ftp", 0, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ldns_pkt *p = ldns_pkt_new();
    snprintf(n.type, sizeof n.type, "%s", cases[i].type);
    assert_int_equal(dr__dns_add_records(p, q, LDNS_RR_TYPE_SRV, &n, recs, 2, cases[i].now), cases[i].answers);
    for (int k = 0; k < cases[i].answers; k++)
      assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), (size_t)k)), cases[i].ttl);
    assert_int_equal(ldns_pkt_arcount(p), cases[i].type[0] || cases[i].answers == 0 ? 0 : 1); /* 10.0.0.1's A */
    ldns_pkt_free(p);
  }
  ldns_rdf_deep_free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base32),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_records),
      cmocka_unit_test(test_signed_labels_reachable),
      cmocka_unit_test(test_record_without_address),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
