/* cli_records.c - the dhtreg commands that change a record: advertise (its options, health check and metadata), renew, withdraw */
#include "api/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/limits.h"
#include "crypto/crypto.h"

static void print_advertised(const cli *c, json_t *res) {
  static const char *const keys[] = {"resource_id", "service_id", "peer_id", "seq", "expires_at", NULL};
  cli_print_kv(c, res, keys);
}

enum { AD_HOST, AD_PORT, AD_ADDRESS, AD_TYPE, AD_TAG, AD_META, AD_TTL, AD_LEASE, AD_CHECK_TCP, AD_CHECK_HTTP,
       AD_CHECK_EXEC, AD_CHECK_INTERVAL, AD_CHECK_TIMEOUT, AD_CHECK_FAILURES, AD_CHECK_PASSES };
const cli_opt cli_advertise_opts[] = {
    [AD_HOST] = {"host", 0, "HOST", "where to reach it (at most 253 bytes)", false, "@hostname"},
    [AD_PORT] = {"port", 0, "N", "its port (0-65535)", false, NULL},
    [AD_ADDRESS] = {"address", 0, "ADDR", "another address (repeatable: at most 16, of 128 bytes)", true, NULL},
    [AD_TYPE] = {"type", 0, "TYPE", "its type, e.g. http (at most 64 bytes)", false, NULL},
    [AD_TAG] = {"tag", 0, "TAG", "a tag (repeatable: at most 16, of 64 bytes each)", true, NULL},
    [AD_META] = {"meta", 0, "KEY=VALUE", "metadata (repeatable: 2 KiB in all)", true, NULL},
    [AD_TTL] = {"ttl", 0, "SECONDS", "lifetime of each signed version (30-86400, default 300;\n"
                                     "a node run with --min-ttl takes less)", false, NULL},
    [AD_LEASE] = {"lease", 0, NULL, "live only while 'dhtreg renew' is called within the TTL", false, NULL},
    [AD_CHECK_TCP] = {"check-tcp", 0, "HOST:PORT", "a health check: the node connects there every interval", false, NULL},
    [AD_CHECK_HTTP] = {"check-http", 0, "URL", "a health check: GET http://HOST[:PORT]/PATH, 2xx passes (no https)",
                       false, NULL},
    [AD_CHECK_EXEC] = {"check-exec", 0, "'CMD ARGS'", "a health check: runs CMD (no shell; quotes group words), exit 0\n"
                                                      "passes; killed at the timeout", false, NULL},
    [AD_CHECK_INTERVAL] = {"check-interval", 0, "S", "seconds between the check's runs (1-86400, default 10)", false, NULL},
    [AD_CHECK_TIMEOUT] = {"check-timeout", 0, "S", "seconds a run may take (1-3600, default 5)", false, NULL},
    [AD_CHECK_FAILURES] = {"check-failures", 0, "N", "failures in a row that make it critical (1-100, default 3)", false,
                           NULL},
    [AD_CHECK_PASSES] = {"check-passes", 0, "N", "passes in a row that make it passing again (1-100, default 2)", false,
                         NULL},
    {NULL, 0, NULL, NULL, false, NULL},
};

/* --check-*: the advertise's "check" object into *out (NULL: none).
 * Returns -1 to go on, or an exit status (printed). The node checks the
 * address, the URL and the program as well (-32602). */
static int check_arg(const cli_cmd *cmd, const cli_args *a, json_t **out) {
  static const struct {
    int opt;
    const char *key;
    long long max;
  } nums[] = {{AD_CHECK_INTERVAL, "interval", 86400}, {AD_CHECK_TIMEOUT, "timeout", 3600},
              {AD_CHECK_FAILURES, "failures", 100}, {AD_CHECK_PASSES, "passes", 100}};
  int kinds = !!a->n[AD_CHECK_TCP] + !!a->n[AD_CHECK_HTTP] + !!a->n[AD_CHECK_EXEC], r;
  *out = NULL;
  if (kinds > 1) return cli_usage_error(cmd, "one of --check-tcp, --check-http and --check-exec, not several");
  for (size_t i = 0; !kinds && i < sizeof nums / sizeof nums[0]; i++)
    if (a->n[nums[i].opt])
      return cli_usage_error(cmd, "--%s needs --check-tcp, --check-http or --check-exec", cli_advertise_opts[nums[i].opt].name);
  if (!kinds) return -1;
  json_t *chk = json_object();
  if (a->n[AD_CHECK_TCP]) {
    const char *t = a->val[AD_CHECK_TCP][0];
    if (!strchr(t, ':')) r = cli_usage_error(cmd, "--check-tcp: '%s' is not HOST:PORT", t);
    else r = -1, json_object_set_new(chk, "tcp", json_string(t));
  } else if (a->n[AD_CHECK_HTTP]) {
    const char *u = a->val[AD_CHECK_HTTP][0];
    if (strncmp(u, "http://", 7) != 0) r = cli_usage_error(cmd, "--check-http: '%s' is not an http:// URL (https is not supported)", u);
    else r = -1, json_object_set_new(chk, "http", json_string(u));
  } else {
    static char buf[4096];
    char *words[32]; /* an exec check's words at most (docs/API.md) */
    int n = cli_split_words(a->val[AD_CHECK_EXEC][0], words, 32, buf, sizeof buf);
    json_t *argv = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(argv, json_string(words[i]));
    json_object_set_new(chk, "exec", argv);
    r = n < 1 ? cli_usage_error(cmd, "--check-exec: not a command of 1-32 words (or a quote is not closed)") : -1;
  }
  for (size_t i = 0; r < 0 && i < sizeof nums / sizeof nums[0]; i++) {
    json_int_t v;
    if (a->n[nums[i].opt] &&
        (r = cli_parse_int(cmd, cli_advertise_opts[nums[i].opt].name, a->val[nums[i].opt][0], 1, nums[i].max, &v)) < 0)
      json_object_set_new(chk, nums[i].key, json_integer(v));
  }
  if (r >= 0) json_decref(chk);
  else *out = chk;
  return r;
}

static int by_meta_key(const void *x, const void *y) {
  return strcmp(((const dr_meta *)x)->key, ((const dr_meta *)y)->key);
}

/* The option a field of a record comes from, for dr_entry_validate's
 * messages. */
static const char *option_of(const char *field) {
  static const char *const map[][2] = {{"service_id", "SERVICE_ID"}, {"host", "--host"}, {"addresses", "--address"},
                                       {"type", "--type"}, {"tags", "--tag"}, {"metadata", "--meta"},
                                       {"ttl", "--ttl"}, {"entry", "the record"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (field && strcmp(map[i][0], field) == 0) return map[i][1];
  return field ? field : "the record";
}

/* Checks an advertise's fields as the node does: signs the record it would
 * sign (with a key of no use after) through the same dr_entry_sign, which
 * applies every limit of docs/API.md, the 4 KiB of the whole entry too.
 * The TTL's floor is the node's own (--min-ttl): the node checks it. */
static int check_record(const cli_cmd *cmd, const char *rid_text, const char *sid, const cli_args *a, json_int_t port,
                        json_int_t ttl, dr_meta *meta) {
  uint8_t rid[DR_ID_LEN];
  dr_identity id;
  dr_id_decode(rid_text, rid);
  dr_identity_generate(&id);
  uint64_t now = (uint64_t)time(NULL);
  dr_entry e = {.kind = DR_KIND_RECORD, .name = (char *)sid, .seq = now * 1000000,
                .issued_at = now, .expires_at = now + (uint64_t)(ttl ? ttl : DR_TTL_MAX),
                .host = a->n[AD_HOST] ? (char *)a->val[AD_HOST][0] : NULL, .port = (uint16_t)port,
                .addrs = (char **)a->val[AD_ADDRESS], .n_addrs = (size_t)a->n[AD_ADDRESS],
                .type = a->n[AD_TYPE] ? (char *)a->val[AD_TYPE][0] : NULL,
                .tags = (char **)a->val[AD_TAG], .n_tags = (size_t)a->n[AD_TAG], .meta = meta,
                .n_meta = (size_t)a->n[AD_META]};
  memcpy(e.rid, rid, DR_ID_LEN);
  const char *field = NULL, *why = NULL;
  int r = dr_entry_sign(&e, &id, &field, &why);
  free(e.raw);
  if (r == -ENOMEM) {
    fprintf(stderr, "dhtreg: out of memory\n");
    return CLI_ERROR;
  }
  if (r < 0) return cli_usage_error(cmd, "%s: %s", option_of(field), why ? why : "refused");
  return -1;
}

int cli_cmd_advertise(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  if (r >= 0) return r;
  json_int_t port = 0, ttl = 0;
  if (a->n[AD_PORT] && (r = cli_parse_int(cmd, "port", a->val[AD_PORT][0], 0, 65535, &port)) >= 0) return r;
  if (a->n[AD_TTL] && (r = cli_parse_int(cmd, "ttl", a->val[AD_TTL][0], 1, DR_TTL_MAX, &ttl)) >= 0) return r;
  /* metadata, split and sorted as the entry has it: one key once */
  dr_meta meta[CLI_MAX_VALUES];
  static char keys[CLI_MAX_VALUES][DR_META_ENCODED_MAX + 1];
  for (int i = 0; i < a->n[AD_META]; i++) {
    const char *kv = a->val[AD_META][i], *eq = strchr(kv, '=');
    if (!eq || eq == kv) return cli_usage_error(cmd, "--meta: '%s' is not KEY=VALUE", kv);
    if ((size_t)(eq - kv) > DR_META_ENCODED_MAX) return cli_usage_error(cmd, "--meta: larger than 2048 bytes encoded");
    snprintf(keys[i], sizeof keys[i], "%.*s", (int)(eq - kv), kv);
    meta[i] = (dr_meta){keys[i], (char *)eq + 1};
  }
  qsort(meta, (size_t)a->n[AD_META], sizeof *meta, by_meta_key);
  for (int i = 1; i < a->n[AD_META]; i++)
    if (strcmp(meta[i - 1].key, meta[i].key) == 0) return cli_usage_error(cmd, "--meta: %s given twice", meta[i].key);
  if ((r = check_record(cmd, rid, a->pos[1], a, port, ttl, meta)) >= 0 ||
      (r = cli_signed_name_arg(cmd, "SERVICE_ID", dr_service_id_refusal, a->pos[1])) >= 0)
    return r;
  json_t *check;
  if ((r = check_arg(cmd, a, &check)) >= 0) return r;

  json_t *p = json_pack("{s:s, s:s}", "resource_id", rid, "service_id", a->pos[1]);
  if (a->n[AD_HOST]) json_object_set_new(p, "host", json_string(a->val[AD_HOST][0]));
  if (a->n[AD_PORT]) json_object_set_new(p, "port", json_integer(port));
  if (a->n[AD_TYPE]) json_object_set_new(p, "type", json_string(a->val[AD_TYPE][0]));
  if (a->n[AD_TTL]) json_object_set_new(p, "ttl", json_integer(ttl));
  if (a->n[AD_LEASE]) json_object_set_new(p, "lease", json_true());
  if (check) json_object_set_new(p, "check", check);
  if (a->n[AD_ADDRESS] || a->n[AD_TAG]) {
    json_t *addrs = json_array(), *tags = json_array();
    for (int i = 0; i < a->n[AD_ADDRESS]; i++) json_array_append_new(addrs, json_string(a->val[AD_ADDRESS][i]));
    for (int i = 0; i < a->n[AD_TAG]; i++) json_array_append_new(tags, json_string(a->val[AD_TAG][i]));
    json_object_set_new(p, "addresses", addrs);
    json_object_set_new(p, "tags", tags);
  }
  if (a->n[AD_META]) {
    json_t *m = json_object();
    for (int i = 0; i < a->n[AD_META]; i++) json_object_set_new(m, meta[i].key, json_string(meta[i].value));
    json_object_set_new(p, "metadata", m);
  }
  r = cli_run(c, "record.advertise", p, print_advertised, "advertised");
  if (r == CLI_OK && !a->n[AD_HOST] && !port && !a->n[AD_ADDRESS])
    fprintf(stderr, "dhtreg: warning: advertised with no --host, --port or --address: resolve returns it, but "
                    "DNS has only its TXT (no SRV, A or AAAA: docs/DNS.md)\n");
  return r;
}

static void print_renewed(const cli *c, json_t *res) {
  static const char *const keys[] = {"seq", "expires_at", NULL};
  cli_print_kv(c, res, keys);
}

int cli_cmd_renew(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  return r >= 0 ? r
                : cli_run(c, "record.renew", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", a->pos[1]),
                      print_renewed, "renewed");
}

static void print_withdrawn(const cli *c, json_t *res) {
  printf("withdrawn\n");
}

int cli_cmd_withdraw(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  return r >= 0 ? r
                : cli_run(c, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", a->pos[1]),
                      print_withdrawn, "withdrawn");
}

