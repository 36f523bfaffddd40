/* test_cli.c - the dhtreg command line against real nodes: output, --json, exit codes, error messages (test_cli_conventions.c: its conventions) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/harness.h"
#include "tests/support/cli_run.h"

static h_node a, b;

#define ZERO_ID "11111111111111111111111111111111" /* a valid id: 32 zero bytes */

static bool b_resolves(void *rid) {
  char args[200];
  snprintf(args, sizeof args, "--json resolve %s", (char *)rid);
  return cli(&b, args) == 0 && strstr(out, "\"api-1\"");
}

static void test_cli_round_trip(void **state) {
  char boot[32], rid[64], args[400];
  h_node_start(&a, "a", NULL);
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--bootstrap", boot, NULL});

  assert_int_equal(cli(&a, "status"), 0);
  expect_out(a.peer_id);
  expect_out("rejected");
  assert_int_equal(cli(&a, "health"), 0);
  expect_out("ok");

  assert_int_equal(cli(&a, "create api"), 0);
  expect_out("label");
  assert_int_equal(cli(&a, "id api"), 0);
  first_line(rid, sizeof rid);
  assert_true(strlen(rid) > 40);
  snprintf(args, sizeof args, "id api --owner %s", a.peer_id);
  assert_int_equal(cli(&b, args), 0);
  assert_int_equal(strncmp(out, rid, strlen(rid)), 0);

  snprintf(args, sizeof args,
           "advertise %s api-1 --host 10.2.3.4 --port 9000 --type grpc --tag blue --tag v3 --meta owner=team-x --ttl 120",
           rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out("api-1");
  assert_true(h_wait_for(b_resolves, rid, 10000));

  /* the table: address, type, tags, seq, health, expiry (relative), metadata */
  snprintf(args, sizeof args, "--json resolve %s", rid);
  assert_int_equal(cli(&b, args), 0);
  json_t *res = json_loads(cli_stdout, 0, NULL);
  assert_non_null(res);
  char seq[32];
  snprintf(seq, sizeof seq, "%lld",
           (long long)json_integer_value(json_object_get(json_array_get(json_object_get(res, "records"), 0), "seq")));
  json_decref(res);
  snprintf(args, sizeof args, "resolve %s", rid);
  assert_int_equal(cli(&b, args), 0);
  expect_out("resource api owned by");
  expect_out("SERVICE_ID");
  expect_out("SEQ");
  expect_out("METADATA");
  expect_out("10.2.3.4:9000");
  expect_out("grpc");
  expect_out("blue,v3");
  expect_out(seq);
  expect_out("passing");
  expect_out("passing  in "); /* expires in 2 minutes (--ttl 120): relative */
  expect_out("owner=team-x");
  expect_out("1 record");

  assert_int_equal(cli(&a, "list"), 0);
  expect_out("RESOURCES");
  expect_out("api-1");

  snprintf(args, sizeof args, "--json get %s", rid);
  assert_int_equal(cli(&b, args), 0);
  expect_out("\"label\": \"api\"");

  snprintf(args, sizeof args, "withdraw %s api-1", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out("withdrawn");
  snprintf(args, sizeof args, "resolve %s", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out("no records");

  /* errors: the node's message; not found is 3, a node's error 1, a bad argument 2 */
  assert_int_equal(cli(&a, args), 0);
  snprintf(args, sizeof args, "withdraw %s api-1", rid);
  assert_int_equal(cli(&a, args), 3);
  expect_out("not found");
  expect_out("error -32004");
  assert_int_equal(cli(&a, "get not-an-id"), 2);
  expect_out("'not-an-id' is not a resource id");
  assert_int_equal(cli(&a, "bootstrap nowhere"), 2);
  expect_out("addresses");
  /* a node's refusal of an argument is bad usage too (2): below its TTL
   * floor, a bootstrap name it cannot resolve */
  snprintf(args, sizeof args, "advertise %s api-2 --ttl 5", rid);
  assert_int_equal(cli(&a, args), 2);
  expect_out("invalid param ttl: must be between 30 and 86400 seconds (error -32602)");
  assert_int_equal(cli(&a, "bootstrap nohost:1"), 2);
  expect_out("cannot resolve nohost");
}

static void test_cli_usage_errors(void **state) {
  assert_int_equal(cli(NULL, "status"), 1);
  expect_out("no node at /nonexistent/x.sock: is dhtregd running?");
  assert_int_equal(cli(NULL, "frobnicate"), 2);
  expect_out("unknown command 'frobnicate'");
  assert_int_equal(cli(NULL, "advertise onlyone"), 2);
  expect_out("missing SERVICE_ID");
  assert_int_equal(cli(NULL, "advertise " ZERO_ID " s --port 70000"), 2);
  expect_out("--port");
  assert_int_equal(cli(NULL, "advertise " ZERO_ID " s --meta novalue"), 2);
  expect_out("KEY=VALUE");
  assert_int_equal(cli(NULL, "resolve " ZERO_ID " --bogus"), 2);
  expect_out("unknown option '--bogus'");
  static const char *const cmds[] = {"status", "health", "ready", "id", "create", "get", "advertise", "renew",
                                     "withdraw", "resolve", "discover", "list", "watch", "pin",
                                     "unpin", "bootstrap", "names", "help", "version", "completion", NULL};
  for (const char *const *c = cmds; *c; c++) {
    char args[64];
    snprintf(args, sizeof args, "%s --help", *c);
    assert_int_equal(cli(NULL, args), 0);
    expect_out("usage: dhtreg");
    expect_out("example:");
  }
}

/* A sharded resource: create --shards, resolve's pages by --cursor and
 * --all: every record once. */
static void test_cli_shards_and_pages(void **state) {
  char rid[64], args[400];
  assert_int_equal(cli(&a, "create fleet --shards 3"), 2);
  expect_out("not a power of two");
  assert_int_equal(cli(&a, "create fleet --shards 8192"), 2);
  expect_out("--shards");
  assert_int_equal(cli(&a, "create fleet --shards 4"), 0);
  expect_out("shards        4");
  assert_int_equal(cli(&a, "id fleet"), 0);
  snprintf(rid, sizeof rid, "%.*s", (int)strcspn(out, "\n"), out);
  for (int i = 0; i < 30; i++) {
    snprintf(args, sizeof args, "advertise %s svc-%02d --host 10.0.0.%d --port 80", rid, i, i + 1);
    assert_int_equal(cli(&a, args), 0);
  }
  /* pages of 7 by hand: the cursor each page prints */
  int seen[30] = {0}, total = 0, pages = 0;
  char cursor[64] = "";
  for (;;) {
    snprintf(args, sizeof args, "resolve %s --limit 7%s%s", rid, *cursor ? " --cursor " : "", cursor);
    assert_int_equal(cli(&b, args), 0);
    expect_out("4 shards");
    for (const char *q = out; (q = strstr(q, "svc-")); q += 4) {
      int k = atoi(q + 4);
      assert_true(k >= 0 && k < 30);
      assert_int_equal(seen[k]++, 0);
      total++;
    }
    const char *more = strstr(out, "--cursor ");
    pages++;
    if (!more) break;
    snprintf(cursor, sizeof cursor, "%.*s", (int)strcspn(more + 9, " \n"), more + 9);
    assert_true(pages < 10);
  }
  assert_int_equal(total, 30);
  assert_true(pages >= 5);
  /* --all, in pages of 4, as one JSON answer without a cursor */
  snprintf(args, sizeof args, "--json resolve %s --all --limit 4", rid);
  assert_int_equal(cli(&b, args), 0);
  json_t *res = json_loads(cli_stdout, 0, NULL);
  assert_non_null(res);
  assert_int_equal(json_array_size(json_object_get(res, "records")), 30);
  assert_null(json_object_get(res, "next_cursor"));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "resource"), "shards")), 4);
  json_decref(res);
  snprintf(args, sizeof args, "resolve %s --cursor AAAA", rid);
  assert_int_equal(cli(&b, args), 2);
  expect_out("cursor");
}

/* A node (here a fake one: real ones refuse such entries) that answers with
 * text holding control characters: the CLI prints them escaped, in tables,
 * key/value lines, watch events and JSON alike. */
static void test_cli_escapes_control_characters(void **state) {
  static const char rec[] =
      "{\"resource_id\":\"R\",\"service_id\":\"evil\\r\\u001b[2K\",\"peer_id\":\"P\\u001b]0;x\\u0007\","
      "\"host\":\"10.0.0.1\\n\\u001b[1A\\u001b[2Kgood-1  Feq  10.6.6.6:443\",\"port\":443,"
      "\"addresses\":[],\"type\":\"x\\u007f\\u009b31m\",\"tags\":[\"t\\u0085\"],"
      "\"metadata\":{\"k\\u001b\":\"v\\u001b\"},\"issued_at\":1,\"expires_at\":4102444800,"
      "\"seq\":1,\"health\":\"passing\"}";
  char script[4096], path[300];
  snprintf(script, sizeof script,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"resource\":null,\"records\":[%s]}}\n", rec);
  snprintf(path, sizeof path, "%s/fake-resolve.sock", h_tmpdir());
  h_fake_node(path, script);
  h_node fake = {0};
  snprintf(fake.sock, sizeof fake.sock, "%s", path);
  const char *forms[] = {"resolve " ZERO_ID, "--json resolve " ZERO_ID, "discover " ZERO_ID};
  for (size_t f = 0; f < 3; f++) {
    if (f == 2) { /* discover answers one record */
      snprintf(script, sizeof script, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":%s}\n", rec);
      snprintf(path, sizeof path, "%s/fake-discover.sock", h_tmpdir());
      h_fake_node(path, script);
      snprintf(fake.sock, sizeof fake.sock, "%s", path);
    }
    assert_int_equal(cli(&fake, forms[f]), 0);
    for (const char *p = out; *p; p++) {
      unsigned char ch = (unsigned char)*p;
      if ((ch < 0x20 && ch != '\n') || ch == 0x7f || (ch == 0xc2 && (unsigned char)p[1] < 0xa0))
        fail_msg("%s printed a raw control character 0x%02x:\n%s", forms[f], ch, out);
    }
    /* one line per record: the host's \n did not make a row */
    if (f == 0) {
      expect_out("\\x0a");
      expect_out("\\x1b[1A");
      assert_null(strstr(out, "\ngood-1"));
    }
  }
  /* watch: the event line is escaped too */
  snprintf(script, sizeof script,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"subscription\":1}}\n"
           "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"subscription\":1,"
           "\"type\":\"register\",\"record\":%s}}\n", rec);
  snprintf(path, sizeof path, "%s/fake-watch.sock", h_tmpdir());
  h_fake_node(path, script);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "timeout 2 %s/dhtreg --socket '%s' watch " ZERO_ID " 2>/dev/null", DR_BIN_DIR, path);
  FILE *p = popen(cmd, "r");
  size_t len = fread(out, 1, sizeof out - 1, p);
  out[len] = '\0';
  pclose(p);
  expect_out("register");
  expect_out("evil\\x0d\\x1b[2K");
  for (const char *q = out; *q; q++)
    if (((unsigned char)*q < 0x20 && *q != '\n') || (unsigned char)*q == 0x7f)
      fail_msg("watch printed a raw control character:\n%s", out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_round_trip),
      cmocka_unit_test(test_cli_usage_errors),
      cmocka_unit_test(test_cli_shards_and_pages),
      cmocka_unit_test(test_cli_escapes_control_characters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
