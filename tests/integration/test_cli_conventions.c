/* test_cli_conventions.c - the dhtreg command line as a new user meets it: flags anywhere, help and version, typos, completion, times, exit codes, limits, offline ids, names */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/support/harness.h"
#include "tests/support/cli_run.h"

static h_node a, b;
static char rid[64]; /* a's resource "web", advertised by b as web-1 */

static void out_has_either(const char *x, const char *y) {
  if (!strstr(out, x) && !strstr(out, y)) fail_msg("expected \"%s\" or \"%s\" in:\n%s", x, y, out);
}

static bool a_resolves_web1(void *unused) {
  return h_resolve_has(&a, rid, "web-1");
}

/* a (--min-ttl 5) and b joined through it; a's "web", b's web-1 in it */
static int setup(void **state) {
  char boot[32], args[600];
  h_node_start(&a, "a", (const char *[]){"--min-ttl", "5", NULL});
  h_addr(&a, boot, sizeof boot);
  h_node_start(&b, "b", (const char *[]){"--bootstrap", boot, NULL});
  if (cli(&a, "create web") != 0 || cli(&a, "id web") != 0) return -1;
  first_line(rid, sizeof rid);
  snprintf(args, sizeof args,
           "advertise %s web-1 --host 10.0.0.5 --port 8080 --type http --tag v2 --meta zone=eu --ttl 300", rid);
  if (cli(&b, args) != 0) return -1;
  return h_wait_for(a_resolves_web1, NULL, 10000) ? 0 : -1;
}

/* Global options before the command, after it, between its arguments;
 * every way of asking for JSON prints exactly the RPC result. */
static void test_flags_anywhere(void **state) {
  char args[600];
  json_t *want = h_ok(&a, "resolve", json_pack("{s:s}", "resource_id", rid));
  const char *forms[] = {"resolve %s --json", "--json resolve %s", "-o json resolve %s", "resolve %s -o json",
                         "resolve %s --output=json", "resolve -ojson %s", "--output json resolve %s --utc",
                         "--json resolve -- %s", "--wide --json resolve %s"};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    char form[600];
    snprintf(form, sizeof form, forms[i], rid);
    assert_int_equal(cli(&a, form), 0);
    json_t *got = json_loads(cli_stdout, 0, NULL);
    if (!got || !json_equal(got, want)) fail_msg("%s printed, not the RPC result:\n%s", form, out);
    json_decref(got);
  }
  json_decref(want);
  /* --socket after the command, between it and its argument */
  snprintf(args, sizeof args, "resolve --socket '%s' %s", a.sock, rid);
  assert_int_equal(cli_env(NULL, args), 0);
  expect_out("web-1");
  snprintf(args, sizeof args, "resolve %s --socket=%s --timeout 5", rid, a.sock);
  assert_int_equal(cli_env(NULL, args), 0);
  expect_out("web-1");
  /* wide: the peer and every address; not by default */
  snprintf(args, sizeof args, "resolve %s", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_no("PEER_ID");
  snprintf(args, sizeof args, "resolve %s -o wide", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out("PEER_ID");
  expect_out(b.peer_id);
  snprintf(args, sizeof args, "--wide resolve %s", rid);
  assert_int_equal(cli(&a, args), 0);
  expect_out(b.peer_id);
  /* "--" ends the options: what follows is an argument */
  assert_int_equal(cli(&a, "resolve -- --json"), 2);
  expect_out("'--json' is not a resource id");
  assert_int_equal(cli(&a, "-o yaml status"), 2);
  expect_out("'yaml' is not text, json or wide");
}

static void test_help_and_version(void **state) {
  static char help[sizeof out];
  assert_int_equal(cli(NULL, "help"), 0);
  expect_out("usage: dhtreg [OPTIONS] COMMAND");
  expect_out("Commands:");
  expect_out("  names ");
  expect_out("  version ");
  expect_out("-o, --output FORMAT");
  expect_out("Exit status:\n  0  success\n  1  an error");
  expect_out("  2  bad usage: an unknown command or option, a bad or missing argument, one\n"
             "     over a limit (checked here first), or one the node refused as invalid\n"
             "     (-32602: a TTL below its --min-ttl, a bootstrap name it cannot resolve)\n");
  expect_out("  3  not found");
  expect_no("completion"); /* hidden */
  assert_int_equal(cli(NULL, "--help"), 0);
  snprintf(help, sizeof help, "%s", out);
  assert_int_equal(cli(NULL, "help"), 0);
  assert_string_equal(out, help);
  /* help COMMAND is COMMAND --help */
  assert_int_equal(cli(NULL, "resolve --help"), 0);
  snprintf(help, sizeof help, "%s", out);
  assert_int_equal(cli(NULL, "help resolve"), 0);
  assert_string_equal(out, help);
  expect_out("--limit N");
  assert_int_equal(cli(NULL, "help completion"), 0);
  expect_out("usage: dhtreg completion bash");
  expect_out("share/bash-completion/completions/dhtreg");

  assert_int_equal(cli(NULL, "--version"), 0);
  assert_string_equal(out, "dhtreg " DHTREG_VERSION "\n");
  /* no node: still 0, and it says so */
  assert_int_equal(cli(NULL, "version"), 0);
  expect_out("dhtreg   " DHTREG_VERSION " (commit ");
  expect_out("opendht  ");
  expect_out("node     none answered at /nonexistent/x.sock");
  assert_int_equal(cli(&a, "version"), 0);
  expect_out("node     " DHTREG_VERSION " (dhtregd at");
  assert_int_equal(cli(&a, "--json version"), 0);
  json_t *v = json_loads(cli_stdout, 0, NULL);
  assert_non_null(v);
  const char *commit = json_string_value(json_object_get(json_object_get(v, "dhtreg"), "commit"));
  const char *odht = json_string_value(json_object_get(json_object_get(v, "dhtreg"), "opendht"));
  assert_non_null(commit);
  assert_true(strcmp(commit, "unknown") == 0 || strspn(commit, "0123456789abcdef") == strlen(commit));
  assert_non_null(odht);
  assert_true(odht[0] >= '0' && odht[0] <= '9'); /* pkg-config's version, e.g. 2.4.12 */
  assert_string_equal(json_string_value(json_object_get(json_object_get(v, "node"), "version")), DHTREG_VERSION);
  json_decref(v);
}

/* A typo: one line naming the closest word, exit 2, no usage. */
static void test_did_you_mean(void **state) {
  static const char *const cases[][2] = {
      {"reslove x", "dhtreg: unknown command 'reslove'; did you mean 'resolve'?\n"},
      {"statsu", "dhtreg: unknown command 'statsu'; did you mean 'status'?\n"},
      {"adv", "dhtreg: unknown command 'adv'; did you mean 'advertise'?\n"},
      {"resolve x --limt 5", "dhtreg: resolve: unknown option '--limt'; did you mean '--limit'?\n"},
      {"advertise x y --tll 60", "dhtreg: advertise: unknown option '--tll'; did you mean '--ttl'?\n"},
      {"--jsno status", "dhtreg: unknown option '--jsno'; did you mean '--json'?\n"},
      {"status --sokcet /x", "dhtreg: status: unknown option '--sokcet'; did you mean '--socket'?\n"},
      {"help reslove", "dhtreg: help: unknown command 'reslove'; did you mean 'resolve'?\n"},
      {"frobnicate", "dhtreg: unknown command 'frobnicate'; 'dhtreg help' lists the commands\n"},
      {"resolve x --bogus", "dhtreg: resolve: unknown option '--bogus'; 'dhtreg resolve --help' lists its options\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_int_equal(cli(NULL, cases[i][0]), 2);
    assert_string_equal(cli_stderr, cases[i][1]);
    assert_string_equal(cli_stdout, "");
  }
}

/* The words bash completes for a line (the script given, and
 * bash-completion's own helpers when with_lib and it is installed). */
static void complete(const char *script, bool with_lib, const char *line, char *words, size_t len) {
  char cmd[2048], path[400];
  snprintf(path, sizeof path, "%s/complete.sh", h_tmpdir());
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "%s\nsource '%s' || exit 2\nread -ra COMP_WORDS <<<\"$1\"\n"
          "[[ $1 == *' ' ]] && COMP_WORDS+=('')\n"
          "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$1 COMP_POINT=${#1}\n"
          "_dhtreg dhtreg \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD - 1]}\"\n"
          "echo \"${COMPREPLY[*]}\"\n",
          with_lib ? "source /usr/share/bash-completion/bash_completion 2>/dev/null" : "", script);
  fclose(f);
  snprintf(cmd, sizeof cmd, "bash '%s' '%s'", path, line);
  FILE *p = popen(cmd, "r");
  size_t n = fread(words, 1, len - 1, p);
  words[n] = '\0';
  assert_int_equal(pclose(p), 0);
  words[strcspn(words, "\n")] = '\0';
}

static void test_completion(void **state) {
  char script[400], words[4096], built[65536];
  snprintf(script, sizeof script, "%s/dhtreg.bash", h_tmpdir());
  assert_int_equal(cli(NULL, "completion bash"), 0);
  FILE *f = fopen(script, "w");
  fputs(cli_stdout, f);
  fclose(f);
  /* the build's file (installed as share/bash-completion/completions/dhtreg) is this output */
  cli_slurp(DR_BIN_DIR "/../completion/dhtreg", built, sizeof built);
  assert_string_equal(built, cli_stdout);
  assert_int_equal(cli(NULL, "completion zsh"), 2);

  for (int lib = 0; lib < 2; lib++) {
    complete(script, lib, "dhtreg res", words, sizeof words);
    assert_string_equal(words, "resolve");
    complete(script, lib, "dhtreg -o ", words, sizeof words);
    assert_string_equal(words, "text json wide");
    complete(script, lib, "dhtreg --json create web --policy ", words, sizeof words);
    assert_string_equal(words, "open owner");
    complete(script, lib, "dhtreg help rea", words, sizeof words);
    assert_string_equal(words, "ready");
    complete(script, lib, "dhtreg --socket /x advertise R S --tt", words, sizeof words);
    assert_string_equal(words, "--ttl");
  }
  /* every option of every command's help, from the same table */
  assert_int_equal(cli(NULL, "help"), 0);
  char list[8192];
  snprintf(list, sizeof list, "%s", strstr(out, "Commands:\n") + 10);
  *strstr(list, "\n\n") = '\0';
  for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
    char name[32], args[64], opt[64];
    static char help[sizeof out];
    sscanf(line, "%31s", name);
    snprintf(args, sizeof args, "help %s", name);
    assert_int_equal(cli(NULL, args), 0);
    snprintf(help, sizeof help, "%s", out);
    snprintf(args, sizeof args, "dhtreg %s x --", name);
    complete(script, false, args, words, sizeof words);
    for (const char *p = help; (p = strstr(p, "\n  --")); p += 4) {
      snprintf(opt, sizeof opt, "%.*s", (int)strcspn(p + 3, " \n"), p + 3);
      char padded[4200], want[80];
      snprintf(padded, sizeof padded, " %s ", words);
      snprintf(want, sizeof want, " %s ", opt);
      if (!strstr(padded, want)) fail_msg("dhtreg %s %s: not completed (%s)", name, opt, words);
    }
  }
}

/* A fake node answering discover with times around now: relative by
 * default, ISO 8601 UTC with --utc, and the JSON as it came. */
static void test_times(void **state) {
  char script[1024], path[300], iso[32], args[200];
  long long now = (long long)time(NULL), issued = now - 125, expires = now + 298;
  snprintf(script, sizeof script,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"resource_id\":\"%s\",\"service_id\":\"t-1\","
           "\"peer_id\":\"%s\",\"host\":\"10.1.1.1\",\"port\":80,\"addresses\":[],\"type\":\"\",\"tags\":[],"
           "\"metadata\":{},\"issued_at\":%lld,\"expires_at\":%lld,\"seq\":7,\"health\":\"passing\"}}\n",
           rid, a.peer_id, issued, expires);
  snprintf(path, sizeof path, "%s/fake-times.sock", h_tmpdir());
  h_fake_node(path, script);
  h_node fake = {0};
  snprintf(fake.sock, sizeof fake.sock, "%s", path);
  snprintf(args, sizeof args, "discover %s", rid);
  assert_int_equal(cli(&fake, args), 0);
  out_has_either(" 2m05s ago\n", " 2m06s ago\n");
  out_has_either(" in 4m58s\n", " in 4m57s\n");
  snprintf(args, sizeof args, "discover %s --utc", rid);
  assert_int_equal(cli(&fake, args), 0);
  time_t t = (time_t)issued;
  struct tm tm;
  strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  expect_out(iso);
  t = (time_t)expires;
  strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  expect_out(iso);
  snprintf(args, sizeof args, "--json discover %s --utc", rid);
  assert_int_equal(cli(&fake, args), 0);
  json_t *resp = json_loads(script, 0, NULL), *got = json_loads(cli_stdout, 0, NULL);
  assert_true(json_equal(got, json_object_get(resp, "result")));
  json_decref(got);
  json_decref(resp);
}

static void test_exit_codes(void **state) {
  char args[400], other[64];
  assert_int_equal(cli(&a, "status"), 0);
  /* 1: no node, a node's error, no answer in time */
  assert_int_equal(cli(NULL, "status"), 1);
  char path[300];
  snprintf(path, sizeof path, "%s/fake-mute.sock", h_tmpdir());
  h_fake_node(path, "");
  h_node mute = {0};
  snprintf(mute.sock, sizeof mute.sock, "%s", path);
  assert_int_equal(cli(&mute, "--timeout 1 status"), 1);
  expect_out("no answer from the node within 1 s");
  /* 2: usage; also an argument only the node can judge, which it refuses
   * as an invalid param (-32602) */
  assert_int_equal(cli(&a, "resolve"), 2);
  assert_int_equal(cli(&a, "get not-an-id"), 2);
  snprintf(args, sizeof args, "resolve %s --cursor AAAA", rid);
  assert_int_equal(cli(&a, args), 2);
  expect_out("error -32602");
  assert_int_equal(cli(&a, "bootstrap no-such-host.invalid:4222"), 2);
  expect_out("invalid param addresses: cannot resolve no-such-host.invalid");
  assert_int_equal(cli(&a, "bootstrap nowhere"), 2);
  expect_out("nowhere is not host:port");
  /* 3: not found, in text and JSON alike */
  snprintf(args, sizeof args, "id nothing-here --owner %s", b.peer_id);
  assert_int_equal(cli(NULL, args), 0);
  first_line(other, sizeof other);
  snprintf(args, sizeof args, "get %s", other);
  assert_int_equal(cli(&a, args), 3);
  expect_out("not found");
  snprintf(args, sizeof args, "resolve %s", other);
  assert_int_equal(cli(&a, args), 3);
  assert_string_equal(cli_stdout, "");
  expect_out("dhtreg: not found: no resource entry and no live record of");
  snprintf(args, sizeof args, "--json resolve %s", other);
  assert_int_equal(cli(&a, args), 3);
  json_t *res = json_loads(cli_stdout, 0, NULL);
  assert_true(json_is_null(json_object_get(res, "resource")));
  json_decref(res);
  snprintf(args, sizeof args, "discover %s --type nope", rid);
  assert_int_equal(cli(&a, args), 3);
  snprintf(args, sizeof args, "withdraw %s nope", rid);
  assert_int_equal(cli(&a, args), 3);
  snprintf(args, sizeof args, "unpin %s", rid);
  assert_int_equal(cli(&a, args), 3);
  /* a known resource without records is found */
  assert_int_equal(cli(&a, "create empty"), 0);
  assert_int_equal(cli(&a, "id empty"), 0);
  first_line(other, sizeof other);
  snprintf(args, sizeof args, "resolve %s", other);
  assert_int_equal(cli(&a, args), 0);
  expect_out("no records");
}

/* The CLI refuses what the node refuses, in the node's ranges, and takes
 * what it takes (a's --min-ttl is 5). */
static void test_limits(void **state) {
  char args[8192];
  snprintf(args, sizeof args, "resolve %s --limit 5000", rid);
  assert_int_equal(cli(&a, args), 2);
  expect_out("--limit: '5000' is not a whole number from 1 to 1000");
  assert_int_equal(h_err(&a, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 5000)), -32602);
  snprintf(args, sizeof args, "resolve %s --limit 0", rid);
  assert_int_equal(cli(&a, args), 2);
  snprintf(args, sizeof args, "resolve %s --limit 1000", rid);
  assert_int_equal(cli(&a, args), 0);
  /* TTL: the node's floor is its own */
  snprintf(args, sizeof args, "advertise %s ttl-1 --ttl 10", rid);
  assert_int_equal(cli(&a, args), 0);
  snprintf(args, sizeof args, "advertise %s ttl-1 --ttl 3", rid);
  assert_int_equal(cli(&a, args), 2); /* a bad argument, though only the node knows its floor */
  expect_out("ttl: must be between 5 and 86400");
  snprintf(args, sizeof args, "advertise %s ttl-1 --ttl 86401", rid);
  assert_int_equal(cli(&a, args), 2);
  expect_out("from 1 to 86400");
  assert_int_equal(h_err(&a, "record.advertise", json_pack("{s:s, s:s, s:i}", "resource_id", rid, "service_id",
                                                            "ttl-1", "ttl", 86401)), -32602);
  /* fields: each refused here as there, naming the option */
  char host[300], big[2100];
  memset(host, 'h', 254);
  host[254] = '\0';
  snprintf(args, sizeof args, "advertise %s f-1 --host %s", rid, host);
  assert_int_equal(cli(&a, args), 2);
  expect_out("--host: longer than 253 bytes");
  assert_int_equal(h_err(&a, "record.advertise", json_pack("{s:s, s:s, s:s}", "resource_id", rid, "service_id",
                                                            "f-1", "host", host)), -32012);
  json_t *tags = json_array();
  size_t used = (size_t)snprintf(args, sizeof args, "advertise %s f-1", rid);
  for (int i = 0; i < 17; i++) {
    used += (size_t)snprintf(args + used, sizeof args - used, " --tag t%d", i);
    json_array_append_new(tags, json_sprintf("t%d", i));
  }
  assert_int_equal(cli(&a, args), 2);
  expect_out("--tag: more than 16 tags");
  assert_int_equal(h_err(&a, "record.advertise", json_pack("{s:s, s:s, s:o}", "resource_id", rid, "service_id",
                                                            "f-1", "tags", tags)), -32012);
  /* each field within its limit, the whole entry over 4 KiB */
  json_t *addrs = json_array();
  memset(big, 'v', 2040);
  big[2040] = '\0';
  used = (size_t)snprintf(args, sizeof args, "advertise %s f-1 --meta k=%s", rid, big);
  for (int i = 0; i < 16; i++) {
    char addr[129];
    snprintf(addr, sizeof addr, "%02d%0126d", i, 0);
    used += (size_t)snprintf(args + used, sizeof args - used, " --address %s", addr);
    json_array_append_new(addrs, json_string(addr));
  }
  assert_int_equal(cli(&a, args), 2);
  expect_out("the record: larger than 4096 bytes encoded");
  assert_int_equal(h_err(&a, "record.advertise",
                         json_pack("{s:s, s:s, s:o, s:{s:s}}", "resource_id", rid, "service_id", "f-1", "addresses",
                                   addrs, "metadata", "k", big)),
                   -32012);
  memset(host, 'l', 129);
  host[129] = '\0';
  snprintf(args, sizeof args, "id %s", host);
  assert_int_equal(cli(&a, args), 2);
  expect_out("is not 1-128 bytes");
  assert_int_equal(h_err(&a, "resource.id", json_pack("{s:s}", "label", host)), -32012);
}

/* id --owner needs no node; id alone asks the node for its peer id */
static void test_offline_id(void **state) {
  char args[200];
  snprintf(args, sizeof args, "id web --owner %s", a.peer_id);
  assert_int_equal(cli(NULL, args), 0);
  char here[64];
  first_line(here, sizeof here);
  assert_string_equal(here, rid);
  snprintf(args, sizeof args, "--json id web --owner %s", a.peer_id);
  assert_int_equal(cli(NULL, args), 0);
  json_t *got = json_loads(cli_stdout, 0, NULL);
  json_t *want = h_ok(&b, "resource.id", json_pack("{s:s, s:s}", "label", "web", "owner", a.peer_id));
  assert_true(json_equal(got, want));
  json_decref(got);
  json_decref(want);
  assert_int_equal(cli(NULL, "id web"), 1);
  expect_out("no node at");
  assert_int_equal(cli(NULL, "id web --owner not-a-peer!"), 2);
}

/* A node alone: an advertise it could not publish says so, and succeeds */
static void test_unpublished_warning(void **state) {
  h_node c;
  char args[300], crid[64];
  h_node_start(&c, "c", NULL);
  assert_int_equal(cli(&c, "create solo"), 0);
  expect_out("dhtreg: warning: created, but no DHT node confirmed it yet: the node keeps trying");
  assert_int_equal(cli(&c, "id solo"), 0);
  first_line(crid, sizeof crid);
  snprintf(args, sizeof args, "advertise %s s-1 --port 1", crid);
  assert_int_equal(cli(&c, args), 0);
  assert_string_equal(cli_stderr, "dhtreg: warning: advertised, but no DHT node confirmed it yet: the node keeps trying\n");
  snprintf(args, sizeof args, "--json advertise %s s-1 --port 1", crid);
  assert_int_equal(cli(&c, args), 0);
  json_t *res = json_loads(cli_stdout, 0, NULL);
  assert_true(json_is_false(json_object_get(res, "published")));
  json_decref(res);
  expect_out("advertised, but no DHT node confirmed it yet");
  /* b has a peer: no warning */
  snprintf(args, sizeof args, "advertise %s web-2 --port 2", rid);
  assert_int_equal(cli(&b, args), 0);
  assert_string_equal(cli_stderr, "");
}

/* $DHTREG_NAMES, then ~/.dhtreg/names: the first file with the alias wins */
static void test_names(void **state) {
  char dir[300], env[1200], args[600], path[400], b_web[64];
  snprintf(dir, sizeof dir, "%s/home/.dhtreg", h_tmpdir());
  snprintf(args, sizeof args, "mkdir -p '%s'", dir);
  assert_int_equal(system(args), 0);
  snprintf(path, sizeof path, "%s/names", dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "# the home file\nprod = %s\ndev=%s  # b\n", b.peer_id, b.peer_id);
  fclose(f);
  snprintf(path, sizeof path, "%s/team-names", h_tmpdir());
  f = fopen(path, "w");
  fprintf(f, "\nprod = %s   # a, first\nbroken line\n", a.peer_id);
  fclose(f);
  snprintf(env, sizeof env, "DHTREG_NAMES='%s' HOME='%s/home' DHTREG_SOCKET='%s'", path, h_tmpdir(), a.sock);
  assert_int_equal(cli_env(env, "resolve web@prod"), 0);
  expect_out("web-1");
  expect_out("10.0.0.5:8080");
  assert_int_equal(cli_env(env, "id web --owner prod"), 0);
  assert_int_equal(strncmp(cli_stdout, rid, strlen(rid)), 0);
  snprintf(args, sizeof args, "id web --owner %s", b.peer_id);
  assert_int_equal(cli(NULL, args), 0);
  first_line(b_web, sizeof b_web);
  assert_int_equal(cli_env(env, "id web --owner dev"), 0);
  assert_int_equal(strncmp(cli_stdout, b_web, strlen(b_web)), 0);
  /* without $DHTREG_NAMES, the home file's prod is b */
  snprintf(env, sizeof env, "HOME='%s/home' DHTREG_SOCKET='%s'", h_tmpdir(), a.sock);
  assert_int_equal(cli_env(env, "id web --owner prod"), 0);
  assert_int_equal(strncmp(cli_stdout, b_web, strlen(b_web)), 0);
  /* LABEL@PEER_ID; errors */
  snprintf(args, sizeof args, "resolve web@%s", a.peer_id);
  assert_int_equal(cli(&a, args), 0);
  expect_out("web-1");
  assert_int_equal(cli_env(env, "resolve web@nobody"), 3);
  expect_out("no alias 'nobody' in the names files");
  assert_int_equal(cli_env(env, "resolve web@"), 2);
  /* names: every alias, where it is, the shadowed one; one alias alone */
  snprintf(env, sizeof env, "DHTREG_NAMES='%s' HOME='%s/home'", path, h_tmpdir());
  assert_int_equal(cli_env(env, "names"), 0);
  expect_out("ALIAS");
  expect_out("team-names:2");
  expect_out("names:2 (shadowed");
  expect_out("dev");
  expect_out("$DHTREG_NAMES");
  expect_out("/etc/dhtreg/names");
  expect_out("team-names:3: not 'alias = PEER_ID' (line skipped)");
  assert_int_equal(cli_env(env, "names prod"), 0);
  assert_int_equal(strncmp(cli_stdout, a.peer_id, strlen(a.peer_id)), 0);
  assert_int_equal(cli_env(env, "names nobody"), 3);
  /* aliases where peers are taken */
  snprintf(env, sizeof env, "DHTREG_NAMES='%s' HOME='%s/home' DHTREG_SOCKET='%s'", path, h_tmpdir(), a.sock);
  assert_int_equal(cli_env(env, "--json create guarded --policy owner --allow dev"), 0);
  expect_out(b.peer_id);
}

/* resolve shows seq growing: a renewal signs a newer version */
static void test_seq_grows(void **state) {
  char args[300];
  json_t *before = h_ok(&b, "resolve", json_pack("{s:s}", "resource_id", rid));
  json_int_t seq0 = 0;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(before, "records"), i, r)
    if (strcmp(json_string_value(json_object_get(r, "service_id")), "web-1") == 0)
      seq0 = json_integer_value(json_object_get(r, "seq"));
  json_decref(before);
  snprintf(args, sizeof args, "renew %s web-1", rid);
  assert_int_equal(cli(&b, args), 0);
  expect_out("seq");
  long long seq1 = atoll(strstr(out, "seq") + 3);
  assert_true(seq1 > seq0);
  snprintf(args, sizeof args, "resolve %s", rid);
  assert_int_equal(cli(&b, args), 0);
  char text[32];
  snprintf(text, sizeof text, "%lld", seq1);
  expect_out(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags_anywhere),    cmocka_unit_test(test_help_and_version),
      cmocka_unit_test(test_did_you_mean),      cmocka_unit_test(test_completion),
      cmocka_unit_test(test_times),             cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_limits),            cmocka_unit_test(test_offline_id),
      cmocka_unit_test(test_unpublished_warning), cmocka_unit_test(test_names),
      cmocka_unit_test(test_seq_grows),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
