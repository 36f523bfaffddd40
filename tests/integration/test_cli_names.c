/* test_cli_names.c - labels and service ids: what a node signs (refused otherwise, at the API and the CLI), what it still reads from other signers, and tables that stay unambiguous whatever arrives */
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
#include "tests/support/cli_run.h"

static h_node a, b;
static h_foreign *foreign;
static dr_identity other; /* a signer of another implementation: any text the protocol allows */
static char other_rid[DR_ID_TEXT_MAX];

#define ODD_SID "bad id, with=odd \"chars\\\""
#define ODD_SID_SHOWN "\"bad id, with=odd \\\"chars\\\\\\\"\"" /* as a cell: quoted, " and \ escaped */

static int setup(void **state) {
  char boot[64];
  uint8_t seed[DR_SEED_LEN];
  assert_int_equal(dr_crypto_init(), 0);
  memset(seed, 0x6f, sizeof seed);
  dr_identity_from_seed(&other, seed);
  h_node_start(&a, "a", NULL);
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--bootstrap", boot, NULL});
  foreign = h_foreign_start(a.port);
  return 0;
}

static int teardown(void **state) {
  h_foreign_stop(foreign);
  return 0;
}

static const char *error_of(const h_node *n, const char *method, json_t *params, int code) {
  static char msg[600];
  json_t *resp = h_call(n, method, params);
  assert_int_equal(h_error_code(resp), code);
  snprintf(msg, sizeof msg, "%s", h_error_message(resp));
  json_decref(resp);
  return msg;
}

/* resource.create and record.advertise sign only DNS-safe labels and
 * one-word service ids, -32602 naming the param and the rule; the limits
 * stay -32012; resource.id computes any label's id (to read what others
 * signed). The CLI refuses the same, exit 2 with the reason. */
static void test_refused_at_the_api_and_the_cli(void **state) {
  static const char *const bad_labels[] = {"web prod", "Web", "web.", "-web", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad_labels / sizeof *bad_labels; i++)
    assert_string_equal(error_of(&a, "resource.create", json_pack("{s:s}", "label", bad_labels[i]), -32602),
                        "invalid param label: must be a DNS name in lowercase (LABEL.OWNER.dhtreg.): parts of "
                        "1-63 letters a-z, digits, '-' and '_', each starting and ending with a letter or "
                        "digit, joined by dots");
  char long_label[130];
  memset(long_label, 'l', 129);
  long_label[129] = '\0';
  error_of(&a, "resource.create", json_pack("{s:s}", "label", long_label), -32012);
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "api.v2_x-1"));
  char rid[DR_ID_TEXT_MAX];
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  json_decref(h_ok(&a, "resource.id", json_pack("{s:s}", "label", "Web Prod")));

  static const char *const bad_sids[] = {"bad id with spaces", "-x", "a,b", "k=v", "tab\there"};
  for (size_t i = 0; i < sizeof bad_sids / sizeof *bad_sids; i++)
    assert_string_equal(error_of(&a, "record.advertise",
                                 json_pack("{s:s, s:s, s:i}", "resource_id", rid, "service_id", bad_sids[i], "port", 1),
                                 -32602),
                        "invalid param service_id: must be one word of letters, digits, '.', '_', ':' and '-' "
                        "(no space), starting with a letter, a digit or '_'");
  static const char *const good_sids[] = {"web-1", "host.example:8080", "_nomad-task-1", "W9"};
  for (size_t i = 0; i < sizeof good_sids / sizeof *good_sids; i++)
    json_decref(h_ok(&a, "record.advertise",
                     json_pack("{s:s, s:s, s:i}", "resource_id", rid, "service_id", good_sids[i], "port", 1)));

  assert_int_equal(cli(&a, "create 'web prod'"), 2);
  expect_out("dhtreg: create: LABEL: 'web prod' is refused: it must be a DNS name in lowercase");
  expect_out("usage: dhtreg create LABEL");
  assert_int_equal(cli(&a, "create Web"), 2);
  char args[300];
  snprintf(args, sizeof args, "advertise %s 'bad id with spaces' --port 1", rid);
  assert_int_equal(cli(&a, args), 2);
  expect_out("dhtreg: advertise: SERVICE_ID: 'bad id with spaces' is refused: it must be one word of letters");
  snprintf(args, sizeof args, "id 'Web Prod' --owner %s", a.peer_id);
  assert_int_equal(cli(NULL, args), 0);
  /* withdraw and renew name records that exist: what they take is not narrowed */
  snprintf(args, sizeof args, "withdraw %s 'bad id with spaces'", rid);
  assert_int_equal(cli(&a, args), 3);
}

/* The cells of a table line: runs of two or more spaces outside double
 * quotes separate them (in quotes, a backslash escapes the next byte). */
static int cells(const char *line, char cell[][600], int max) {
  int n = 0;
  size_t k = 0;
  bool quoted = false;
  while (*line == ' ') line++;
  for (const char *p = line; *p && *p != '\n'; p++) {
    if (!quoted && p[0] == ' ' && p[1] == ' ') {
      while (p[1] == ' ') p++;
      cell[n++][k] = '\0';
      k = 0;
      if (n == max) return n;
      continue;
    }
    if (*p == '"') quoted = !quoted;
    else if (quoted && *p == '\\' && p[1]) cell[n][k++] = *p++;
    if (k < 598) cell[n][k++] = *p;
  }
  cell[n++][k] = '\0';
  return n;
}

/* The line of stdout that starts with prefix (after spaces), or fails. */
static const char *line_of(const char *prefix) {
  for (const char *l = cli_stdout; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    const char *s = l;
    while (*s == ' ') s++;
    if (strncmp(s, prefix, strlen(prefix)) == 0) return l;
  }
  fail_msg("no line starting with %s in:\n%s", prefix, cli_stdout);
  return NULL;
}

/* Every row of the table whose header starts with header has as many
 * cells as the header. */
static void expect_columns(const char *header, int rows) {
  static char head[16][600], row[16][600];
  const char *h = line_of(header), *l = strchr(h, '\n') + 1;
  int want = cells(h, head, 16);
  for (int i = 0; i < rows; i++, l = strchr(l, '\n') + 1) {
    int got = cells(l, row, 16);
    if (got != want) fail_msg("a row of %d cells under a header of %d:\n%s", got, want, cli_stdout);
  }
}

static void sign_put(dr_entry *e) {
  uint8_t key[DR_DHT_KEY_LEN];
  assert_int_equal(dr_entry_sign(e, &other, NULL, NULL), 0);
  dr_dht_key(key, e->rid, NULL);
  h_foreign_put(foreign, key, e->raw, e->raw_len); /* unmarked: a resolve reads the whole head */
  dr_entry_clear(e);
}

static bool three_records(void *n) {
  return h_resolve_count(n, other_rid) == 3;
}

/* Entries another implementation signed with names this node would not
 * sign (a space, quotes, a comma, '=', a backslash, capitals) are read,
 * returned as they are in JSON, and shown quoted in every table and line,
 * one cell each. A record with no host, port or address is said to be in
 * DNS's TXT alone. */
static void test_others_names_read_and_shown_unambiguously(void **state) {
  uint64_t now = (uint64_t)time(NULL);
  dr_entry res = {.kind = DR_KIND_RESOURCE, .name = strdup("Web Prod"), .issued_at = now, .seq = now};
  dr_resource_id(res.rid, other.pk, "Web Prod", 8);
  dr_id_encode(res.rid, other_rid);
  uint8_t rid[DR_ID_LEN];
  memcpy(rid, res.rid, DR_ID_LEN);
  sign_put(&res);
  char *tags[] = {"a b", "c,d", "-"};
  dr_meta meta[] = {{"city", "caf\xc3\xa9"}, {"k=1", "v 1"}, {"zone", "eu"}};
  dr_entry recs[3] = {
      {.kind = DR_KIND_RECORD, .name = strdup(ODD_SID), .host = strdup("my host"), .port = 80, .tags = tags,
       .n_tags = 3, .meta = meta, .n_meta = 3},
      {.kind = DR_KIND_RECORD, .name = strdup("plain-1"), .host = strdup("10.0.0.1"), .port = 81},
      {.kind = DR_KIND_RECORD, .name = strdup("job 3")},
  };
  for (int i = 0; i < 3; i++) {
    memcpy(recs[i].rid, rid, DR_ID_LEN);
    recs[i].seq = now * 1000 + (uint64_t)i;
    recs[i].issued_at = now;
    recs[i].expires_at = now + 600;
    assert_int_equal(dr_entry_sign(&recs[i], &other, NULL, NULL), 0);
    uint8_t key[DR_DHT_KEY_LEN];
    dr_dht_key(key, rid, NULL);
    h_foreign_put(foreign, key, recs[i].raw, recs[i].raw_len);
    recs[i].tags = NULL; /* the stack's: not for dr_entry_clear to free */
    recs[i].meta = NULL;
    recs[i].n_tags = recs[i].n_meta = 0;
    dr_entry_clear(&recs[i]);
  }
  if (!h_wait_for(three_records, &b, 20000)) fail_msg("b does not resolve the three records of %s", other_rid);

  char args[300];
  snprintf(args, sizeof args, "resolve %s", other_rid);
  assert_int_equal(cli(&b, args), 0);
  expect_out("resource \"Web Prod\" owned by ");
  expect_columns("SERVICE_ID", 3);
  expect_out(ODD_SID_SHOWN "  \"my host:80\"  ");
  expect_out("  \"a b\",\"c,d\",\"-\"  "); /* "-" alone would read as no tags */
  expect_out("  city=\"caf\xc3\xa9\",\"k=1\"=\"v 1\",zone=eu\n");
  expect_out("\"job 3\"  ");
  expect_out("plain-1  ");
  expect_out("1 record has no host, port or address (ADDRESS -): DNS has only its TXT, no SRV, A or AAAA\n");
  snprintf(args, sizeof args, "--wide resolve %s", other_rid);
  assert_int_equal(cli(&b, args), 0);
  expect_columns("SERVICE_ID", 3);

  /* JSON: the values as they are */
  snprintf(args, sizeof args, "--json resolve %s", other_rid);
  assert_int_equal(cli(&b, args), 0);
  json_t *j = json_loads(cli_stdout, 0, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "resource"), "label")), "Web Prod");
  bool odd = false;
  size_t i;
  json_t *rec;
  json_array_foreach(json_object_get(j, "records"), i, rec) {
    odd |= strcmp(json_string_value(json_object_get(rec, "service_id")), ODD_SID) == 0 &&
           strcmp(json_string_value(json_object_get(rec, "host")), "my host") == 0;
  }
  assert_true(odd);
  json_decref(j);

  snprintf(args, sizeof args, "get %s", other_rid);
  assert_int_equal(cli(&b, args), 0);
  expect_out("label         \"Web Prod\"\n");

  /* watch: the first events replay the live records, one line each */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "timeout 3 %s/dhtreg --socket '%s' watch %s 2>/dev/null", DR_BIN_DIR, b.sock, other_rid);
  FILE *p = popen(cmd, "r");
  size_t len = fread(out, 1, sizeof out - 1, p);
  out[len] = '\0';
  pclose(p);
  expect_out("register   " ODD_SID_SHOWN " ");
  expect_out(" \"my host:80\"\n");
  expect_out("register   \"job 3\" ");
}

/* This node's own record with no host, port or address: advertised, with
 * a warning that DNS has only its TXT; resolve says so under its table. */
static void test_record_without_address(void **state) {
  char rid[DR_ID_TEXT_MAX], args[300];
  assert_int_equal(cli(&a, "create jobs"), 0);
  assert_int_equal(cli(&a, "id jobs"), 0);
  first_line(rid, sizeof rid);
  snprintf(args, sizeof args, "advertise %s job-1 --meta queue=high", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out("dhtreg: warning: advertised with no --host, --port or --address: resolve returns it, but DNS has "
             "only its TXT (no SRV, A or AAAA: docs/DNS.md)\n");
  snprintf(args, sizeof args, "advertise %s job-2 --port 7000", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_no("no --host, --port or --address");
  snprintf(args, sizeof args, "resolve %s", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out("job-1       -        ");
  expect_out("2 records\n1 record has no host, port or address (ADDRESS -): DNS has only its TXT, no SRV, A or AAAA\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refused_at_the_api_and_the_cli),
      cmocka_unit_test(test_others_names_read_and_shown_unambiguously),
      cmocka_unit_test(test_record_without_address),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
