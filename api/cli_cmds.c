/* cli_cmds.c - the dhtreg subcommands but those of records (cli_records.c): one function each, dispatched from the table at the end; and what commands share to read their arguments and call the node */
#include "api/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/limits.h"
#include "api/names.h"
#include "crypto/crypto.h"

/* ---- arguments ----------------------------------------------------------------------- */

int cli_parse_int(const cli_cmd *cmd, const char *name, const char *s, long long min,
                     long long max, json_int_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < min || v > max)
    return cli_usage_error(cmd, "--%s: '%s' is not a whole number from %lld to %lld", name, s, min, max);
  *out = v;
  return -1;
}

/* The names files this CLI searches ($DHTREG_NAMES, ~/.dhtreg/names,
 * /etc/dhtreg/names), read from the environment once. */
static size_t names_files(const char *const **files) {
  static char paths[DR_NAMES_FILES_MAX][DR_NAMES_PATH_MAX];
  static const char *ptrs[DR_NAMES_FILES_MAX];
  static size_t n;
  if (!n) {
    n = dr_names_search_path(getenv("DHTREG_NAMES"), getenv("HOME"), paths);
    for (size_t i = 0; i < n; i++) ptrs[i] = paths[i];
  }
  *files = ptrs;
  return n;
}

/* The exit status of a names error: an unknown alias is not found, a
 * malformed reference a usage error, a broken or unreadable names file an
 * error. */
static int names_failed(const cli_cmd *cmd, int err, const char *why) {
  if (err == -EINVAL) return cli_usage_error(cmd, "%s", why);
  fprintf(stderr, "dhtreg: %s: %s\n", cmd->name, why);
  return err == -ENOENT ? CLI_NOT_FOUND : CLI_ERROR;
}

/* An argument read through the names files: a RESOURCE (dr_names_resource:
 * an id, LABEL@ALIAS or LABEL@PEER_ID) or an owner (dr_names_owner: a peer
 * id or an alias), as an id's text. Returns -1, or an exit status (the
 * error printed). */
typedef int (*names_fn)(const char *const *files, size_t n, const char *text, uint8_t id[DR_ID_LEN], char *err,
                        size_t errlen);

static int names_arg(const cli_cmd *cmd, names_fn fn, const char *text, char out[DR_ID_TEXT_MAX]) {
  const char *const *files;
  size_t n = names_files(&files);
  uint8_t id[DR_ID_LEN];
  char why[1200];
  int r = fn(files, n, text, id, why, sizeof why);
  if (r < 0) return names_failed(cmd, r, why);
  dr_id_encode(id, out);
  return -1;
}

int cli_resource_arg(const cli_cmd *cmd, const char *ref, char out[DR_ID_TEXT_MAX]) {
  return names_arg(cmd, dr_names_resource, ref, out);
}

static int peer_arg(const cli_cmd *cmd, const char *owner, char out[DR_ID_TEXT_MAX]) {
  return names_arg(cmd, dr_names_owner, owner, out);
}

static int label_arg(const cli_cmd *cmd, const char *label) {
  size_t n = strlen(label);
  if (n == 0 || n > DR_NAME_MAX) return cli_usage_error(cmd, "LABEL: '%.40s%s' is not 1-128 bytes", label, n > 40 ? "..." : "");
  if (!dr_text_valid(label, n)) return cli_usage_error(cmd, "LABEL: not UTF-8, or holds a control character");
  return -1;
}

/* A LABEL or SERVICE_ID this command has the node sign: one of the names
 * it signs (docs/API.md, "Names"), which are narrower than what it reads. */
int cli_signed_name_arg(const cli_cmd *cmd, const char *what, dr_name_rule rule, const char *s) {
  size_t n = strlen(s);
  const char *why = rule(s, n);
  if (why) return cli_usage_error(cmd, "%s: '%.40s%s' is refused: it %s", what, s, n > 40 ? "..." : "", why);
  return -1;
}

/* ---- calling and printing --------------------------------------------------------------- */

/* "published": false: said on stderr; what it did still stands (exit 0). */
static void warn_unpublished(json_t *res, const char *done) {
  if (json_is_false(json_object_get(res, "published")))
    fprintf(stderr, "dhtreg: warning: %s, but no DHT node confirmed it yet: the node keeps trying\n", done);
}

/* Runs a call and prints its result with print (or as JSON). done: what
 * to call it when "published" is false, or NULL. */
int cli_run(cli *c, const char *method, json_t *params, cli_print_fn print, const char *done) {
  json_t *res = cli_call(c, method, params);
  if (!res) return cli_failed(c);
  if (c->json) cli_print_json(res);
  else print(c, res);
  if (done) warn_unpublished(res, done);
  json_decref(res);
  return CLI_OK;
}

static void print_ok(const cli *c, json_t *res) {
  printf("ok\n");
}

/* ---- commands ------------------------------------------------------------------------ */

static int cmd_status(cli *c, const cli_cmd *cmd, const cli_args *a) {
  return cli_run(c, "node.info", NULL, cli_print_status, NULL);
}

/* "ok" (alive), then whether it is ready and, if not, why */
static void print_health(const cli *c, json_t *res) {
  char s[300];
  cli_escape(json_string_value(json_object_get(res, "status")), s, sizeof s);
  bool ready = json_is_true(json_object_get(res, "ready"));
  printf("%s (%s)\n", *s ? s : "?", ready ? "ready" : "not ready");
  json_t *w = json_object_get(res, "warnings");
  for (size_t i = 0; i < json_array_size(w); i++) {
    cli_escape(json_string_value(json_array_get(w, i)), s, sizeof s);
    printf("  warning: %s\n", s);
  }
}

static int cmd_health(cli *c, const cli_cmd *cmd, const cli_args *a) {
  return cli_run(c, "health", NULL, print_health, NULL);
}

/* readiness as an exit status, for scripts and ExecStartPost: 0 ready, 1 not */
static int cmd_ready(cli *c, const cli_cmd *cmd, const cli_args *a) {
  json_t *res = cli_call(c, "health", NULL);
  if (!res) return cli_failed(c);
  bool ready = json_is_true(json_object_get(res, "ready"));
  if (c->json) cli_print_json(res);
  else print_health(c, res);
  json_decref(res);
  return ready ? CLI_OK : CLI_ERROR;
}

static void print_id(const cli *c, json_t *res) {
  char s[128];
  cli_escape(json_string_value(json_object_get(res, "resource_id")), s, sizeof s);
  printf("%s\n", *s ? s : "?");
}

enum { ID_OWNER };
static const cli_opt id_opts[] = {
    [ID_OWNER] = {"owner", 0, "OWNER", "the owner: a peer id or an alias (dhtreg names); computed here,\n"
                                       "with no node and no network", false, NULL},
    {NULL, 0, NULL, NULL, false, NULL},
};

/* With --owner: computed here, no node. Without: the node's own peer id is
 * the owner, so the node is asked. */
static int cmd_id(cli *c, const cli_cmd *cmd, const cli_args *a) {
  int r = label_arg(cmd, a->pos[0]);
  if (r >= 0) return r;
  if (!a->n[ID_OWNER]) return cli_run(c, "resource.id", json_pack("{s:s}", "label", a->pos[0]), print_id, NULL);
  char owner_text[DR_ID_TEXT_MAX], rid_text[DR_ID_TEXT_MAX];
  uint8_t owner[DR_ID_LEN], rid[DR_ID_LEN];
  if ((r = peer_arg(cmd, a->val[ID_OWNER][0], owner_text)) >= 0) return r;
  dr_id_decode(owner_text, owner);
  dr_resource_id(rid, owner, a->pos[0], strlen(a->pos[0]));
  dr_id_encode(rid, rid_text);
  json_t *res = json_pack("{s:s}", "resource_id", rid_text);
  if (c->json) cli_print_json(res);
  else print_id(c, res);
  json_decref(res);
  return CLI_OK;
}

enum { CREATE_POLICY, CREATE_ALLOW, CREATE_NO_ALLOW, CREATE_SHARDS };
static const cli_opt create_opts[] = {
    [CREATE_POLICY] = {"policy", 0, "P", "open: anyone may add records (a new resource's); owner: only\n"
                                         "the owner and the peers of its allow-list", false, "open owner"},
    [CREATE_ALLOW] = {"allow", 0, "PEER", "the allow-list becomes these peers (ids or aliases) allowed to\n"
                                          "add records (repeatable, at most 64; an owner resource's)", true, NULL},
    [CREATE_NO_ALLOW] = {"no-allow", 0, NULL, "empties the allow-list: only the owner adds records", false, NULL},
    [CREATE_SHARDS] = {"shards", 0, "N", "DHT keys its records are spread over: a power of two up to\n"
                                         "4096 (a new resource: 1); 50 to 100 records a shard (docs/DESIGN.md)",
                       false, NULL},
    {NULL, 0, NULL, NULL, false, NULL},
};

static int cmd_create(cli *c, const cli_cmd *cmd, const cli_args *a) {
  int r = label_arg(cmd, a->pos[0]);
  if (r >= 0 || (r = cli_signed_name_arg(cmd, "LABEL", dr_label_refusal, a->pos[0])) >= 0) return r;
  json_int_t shards = 1;
  if (a->n[CREATE_SHARDS] && (r = cli_parse_int(cmd, "shards", a->val[CREATE_SHARDS][0], 1, DR_SHARDS_MAX, &shards)) >= 0)
    return r;
  if (shards & (shards - 1))
    return cli_usage_error(cmd, "--shards: '%s' is not a power of two", a->val[CREATE_SHARDS][0]);
  const char *policy = a->n[CREATE_POLICY] ? a->val[CREATE_POLICY][0] : NULL;
  if (policy && strcmp(policy, "open") && strcmp(policy, "owner"))
    return cli_usage_error(cmd, "--policy: '%s' is not open or owner", policy);
  if (a->n[CREATE_ALLOW] && policy && strcmp(policy, "open") == 0)
    return cli_usage_error(cmd, "--allow needs --policy owner (an open resource takes anyone's records)");
  if (a->n[CREATE_ALLOW] && a->n[CREATE_NO_ALLOW])
    return cli_usage_error(cmd, "--allow and --no-allow: give one");
  if (a->n[CREATE_ALLOW] > DR_ALLOW_MAX) return cli_usage_error(cmd, "--allow: more than %d peers", DR_ALLOW_MAX);
  json_t *allow = json_array();
  for (int i = 0; i < a->n[CREATE_ALLOW]; i++) {
    char peer[DR_ID_TEXT_MAX];
    if ((r = peer_arg(cmd, a->val[CREATE_ALLOW][i], peer)) >= 0) {
      json_decref(allow);
      return r;
    }
    json_array_append_new(allow, json_string(peer));
  }
  /* only what is given: the node keeps the rest as it is */
  json_t *p = json_pack("{s:s}", "label", a->pos[0]);
  if (a->n[CREATE_SHARDS]) json_object_set_new(p, "shards", json_integer(shards));
  if (policy) json_object_set_new(p, "policy", json_string(policy));
  if (a->n[CREATE_ALLOW] || a->n[CREATE_NO_ALLOW]) json_object_set_new(p, "allow", allow);
  else json_decref(allow);
  return cli_run(c, "resource.create", p, cli_print_resource, "created");
}

static int cmd_get(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  return r >= 0 ? r : cli_run(c, "resource.get", json_pack("{s:s}", "resource_id", rid), cli_print_resource, NULL);
}

static void print_resolved(const cli *c, json_t *res) {
  json_t *resource = json_object_get(res, "resource");
  if (json_is_object(resource)) {
    char label[600], owner[128], policy[32];
    cli_quote(json_string_value(json_object_get(resource, "label")), label, sizeof label);
    cli_quote(json_string_value(json_object_get(resource, "owner")), owner, sizeof owner);
    cli_escape(json_string_value(json_object_get(resource, "policy")), policy, sizeof policy);
    json_int_t shards = json_integer_value(json_object_get(resource, "shards"));
    printf("resource %s owned by %s", *label ? label : "?", *owner ? owner : "?");
    if (strcmp(policy, "owner") == 0) printf(", policy owner");
    if (shards > 1) printf(", %lld shards", (long long)shards);
    printf("\n");
  } else {
    printf("resource: unknown (no resource entry found)\n");
  }
  cli_print_records_table(c, json_object_get(res, "records"), false);
  size_t i, nowhere = 0;
  json_t *rec;
  json_array_foreach(json_object_get(res, "records"), i, rec) {
    nowhere += !json_string_length(json_object_get(rec, "host")) && !json_integer_value(json_object_get(rec, "port")) &&
               !json_array_size(json_object_get(rec, "addresses"));
  }
  if (nowhere)
    printf("%zu record%s no host, port or address (ADDRESS -): DNS has only %s TXT, no SRV, A or AAAA\n", nowhere,
           nowhere == 1 ? " has" : "s have", nowhere == 1 ? "its" : "their");
  char next[64];
  cli_escape(json_string_value(json_object_get(res, "next_cursor")), next, sizeof next);
  if (*next) printf("more records: --cursor %s (or --all)\n", next);
}

/* Prints a resolve's answer; no resource entry and no record is "not
 * found" (3), whatever the format. */
static int resolved(cli *c, json_t *res, const char *rid) {
  bool unknown = json_is_null(json_object_get(res, "resource")) && !json_array_size(json_object_get(res, "records"));
  if (c->json) cli_print_json(res);
  else if (!unknown) print_resolved(c, res);
  if (!unknown) return CLI_OK;
  fprintf(stderr, "dhtreg: not found: no resource entry and no live record of %s\n", rid);
  return CLI_NOT_FOUND;
}

#define ALL_PAGE DR_RESOLVE_LIMIT_MAX /* records a page of --all asks for, unless --limit says */

/* resolve --all: every page, one after the other, printed as one answer
 * (next_cursor dropped). */
static int resolve_all(cli *c, const cli_cmd *cmd, const char *rid, json_int_t page, const char *from,
                       const char *include) {
  json_t *all = NULL, *records = json_array();
  char cursor[64] = "";
  if (from) snprintf(cursor, sizeof cursor, "%s", from);
  for (;;) {
    json_t *p = json_pack("{s:s, s:I}", "resource_id", rid, "limit", page);
    if (*cursor) json_object_set_new(p, "cursor", json_string(cursor));
    if (include) json_object_set_new(p, "include", json_string(include));
    json_t *res = cli_call(c, "resolve", p);
    if (!res) {
      if (all) fprintf(stderr, "dhtreg: resolve --all stopped after %zu records\n", json_array_size(records));
      json_decref(all);
      json_decref(records);
      return cli_failed(c);
    }
    json_array_extend(records, json_object_get(res, "records"));
    const char *next = json_string_value(json_object_get(res, "next_cursor"));
    if (!all) {
      all = json_copy(res);
      json_object_del(all, "next_cursor");
    }
    if (!next) {
      json_decref(res);
      break;
    }
    if (strcmp(next, cursor) == 0 || strlen(next) >= sizeof cursor) {
      fprintf(stderr, "dhtreg: %s: the node gave back the cursor it was given\n", cmd->name);
      json_decref(res);
      json_decref(all);
      json_decref(records);
      return CLI_ERROR;
    }
    snprintf(cursor, sizeof cursor, "%s", next);
    json_decref(res);
  }
  json_object_set_new(all, "records", records);
  int r = resolved(c, all, rid);
  json_decref(all);
  return r;
}

enum { RESOLVE_LIMIT, RESOLVE_CURSOR, RESOLVE_ALL, RESOLVE_INCLUDE };
#define INCLUDE_HELP "passing (the default) or all: records whose health check\nfails (critical) too"

/* --include: "passing" or "all" into *out (NULL: not given). -1, or an exit status. */
static int include_arg(const cli_cmd *cmd, const cli_args *a, int opt, const char **out) {
  *out = a->n[opt] ? a->val[opt][0] : NULL;
  if (*out && strcmp(*out, "passing") && strcmp(*out, "all"))
    return cli_usage_error(cmd, "--include: '%s' is not passing or all", *out);
  return -1;
}

static const cli_opt resolve_opts[] = {
    [RESOLVE_LIMIT] = {"limit", 0, "N", "at most N records (1-1000, default 100); with --all, the\n"
                                        "records of a page (default 1000)", false, NULL},
    [RESOLVE_CURSOR] = {"cursor", 0, "C", "the page after the one that printed C", false, NULL},
    [RESOLVE_ALL] = {"all", 0, NULL, "every live record (from --cursor's page on), page after page", false, NULL},
    [RESOLVE_INCLUDE] = {"include", 0, "WHAT", INCLUDE_HELP, false, "passing all"},
    {NULL, 0, NULL, NULL, false, NULL},
};

static int cmd_resolve(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  if (r >= 0) return r;
  json_int_t limit = 0;
  if (a->n[RESOLVE_LIMIT] &&
      (r = cli_parse_int(cmd, "limit", a->val[RESOLVE_LIMIT][0], 1, DR_RESOLVE_LIMIT_MAX, &limit)) >= 0)
    return r;
  const char *cursor = a->n[RESOLVE_CURSOR] ? a->val[RESOLVE_CURSOR][0] : NULL, *include;
  if ((r = include_arg(cmd, a, RESOLVE_INCLUDE, &include)) >= 0) return r;
  if (a->n[RESOLVE_ALL]) return resolve_all(c, cmd, rid, limit ? limit : ALL_PAGE, cursor, include);
  json_t *p = json_pack("{s:s}", "resource_id", rid);
  if (include) json_object_set_new(p, "include", json_string(include));
  if (limit) json_object_set_new(p, "limit", json_integer(limit));
  if (cursor) json_object_set_new(p, "cursor", json_string(cursor));
  json_t *res = cli_call(c, "resolve", p);
  if (!res) return cli_failed(c);
  r = resolved(c, res, rid);
  json_decref(res);
  return r;
}

enum { DISCOVER_TYPE, DISCOVER_INCLUDE };
static const cli_opt discover_opts[] = {
    [DISCOVER_TYPE] = {"type", 0, "TYPE", "only records of that type", false, NULL},
    [DISCOVER_INCLUDE] = {"include", 0, "WHAT", INCLUDE_HELP, false, "passing all"},
    {NULL, 0, NULL, NULL, false, NULL},
};

static int cmd_discover(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  if (r >= 0) return r;
  const char *include;
  if ((r = include_arg(cmd, a, DISCOVER_INCLUDE, &include)) >= 0) return r;
  json_t *p = json_pack("{s:s}", "resource_id", rid);
  if (a->n[DISCOVER_TYPE]) json_object_set_new(p, "type", json_string(a->val[DISCOVER_TYPE][0]));
  if (include) json_object_set_new(p, "include", json_string(include));
  return cli_run(c, "discover", p, cli_print_record, NULL);
}

static void print_list(const cli *c, json_t *res) {
  printf("RESOURCES\n");
  cli_print_resources_table(c, json_object_get(res, "resources"));
  printf("\nADVERTISED\n");
  cli_print_records_table(c, json_object_get(res, "records"), true);
}

static int cmd_list(cli *c, const cli_cmd *cmd, const cli_args *a) {
  return cli_run(c, "list", NULL, print_list, NULL);
}

static int cmd_pin(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  return r >= 0 ? r : cli_run(c, "resource.pin", json_pack("{s:s}", "resource_id", rid), print_ok, NULL);
}

static int cmd_unpin(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  return r >= 0 ? r : cli_run(c, "resource.unpin", json_pack("{s:s}", "resource_id", rid), print_ok, NULL);
}

static int cmd_bootstrap(cli *c, const cli_cmd *cmd, const cli_args *a) {
  json_t *addrs = json_array();
  for (int i = 0; i < a->n_pos; i++) json_array_append_new(addrs, json_string(a->pos[i]));
  return cli_run(c, "node.bootstrap", json_pack("{s:o}", "addresses", addrs), print_ok, NULL);
}

static volatile sig_atomic_t watch_stop;

static void on_watch_signal(int sig) {
  (void)sig;
  watch_stop = 1;
}

/* Subscribes, then prints every event until a signal or the node hangs up. */
static int cmd_watch(cli *c, const cli_cmd *cmd, const cli_args *a) {
  char rid[DR_ID_TEXT_MAX];
  int r = cli_resource_arg(cmd, a->pos[0], rid);
  if (r >= 0) return r;
  c->rpc_error = 0;
  int fd = cli_send(c, "watch", json_pack("{s:s}", "resource_id", rid));
  if (fd < 0) return CLI_ERROR;
  bool eof;
  json_t *resp = cli_read(c, fd, &eof);
  json_t *err = json_object_get(resp, "error");
  if (!resp || err) {
    if (err)
      cli_rpc_error(c, (long long)json_integer_value(json_object_get(err, "code")),
                    json_string_value(json_object_get(err, "message")));
    else if (eof)
      fprintf(stderr, "dhtreg: the node closed the connection without answering\n");
    json_decref(resp);
    close(fd);
    return cli_failed(c);
  }
  json_decref(resp);
  struct sigaction sa = {.sa_handler = on_watch_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  c->timeout_s = 0; /* events come when they come */
  if (!c->json) fprintf(stderr, "watching %s (Ctrl-C to stop)\n", rid);
  while (!watch_stop) {
    json_t *ev = cli_read(c, fd, &eof);
    if (!ev) {
      if (watch_stop) break;
      close(fd);
      fprintf(stderr, "dhtreg: the node closed the connection\n");
      return CLI_ERROR;
    }
    json_t *params = json_object_get(ev, "params");
    if (json_is_object(params)) {
      if (c->json) cli_print_json(params);
      else cli_print_event(c, params);
      fflush(stdout);
    }
    json_decref(ev);
  }
  close(fd);
  return CLI_OK;
}

/* ---- names ------------------------------------------------------------------------------ */

typedef struct names_walk {
  json_t *list;
} names_walk;

static int on_name(void *ctx, const dr_names_entry *e) {
  names_walk *w = ctx;
  char peer[DR_ID_TEXT_MAX];
  size_t i;
  json_t *prev;
  bool shadowed = false;
  json_array_foreach(w->list, i, prev) shadowed |= strcmp(json_string_value(json_object_get(prev, "alias")), e->alias) == 0;
  dr_id_encode(e->peer, peer);
  json_array_append_new(w->list, json_pack("{s:s, s:s, s:s, s:i, s:b}", "alias", e->alias, "peer_id", peer, "file",
                                           e->file, "line", (int)e->line, "shadowed", shadowed));
  return 0;
}

static void on_bad_name(void *ctx, const char *file, unsigned line, const char *why) {
  if (line) fprintf(stderr, "dhtreg: warning: %s:%u: %s (line skipped)\n", file, line, why);
  else fprintf(stderr, "dhtreg: warning: %s: %s (file skipped)\n", file, why);
}

/* Every alias the names files give, and the files; with an ALIAS, its peer
 * id alone (for scripts). */
static int cmd_names(cli *c, const cli_cmd *cmd, const cli_args *a) {
  const char *const *files;
  size_t n = names_files(&files);
  if (a->n_pos) {
    char peer[DR_ID_TEXT_MAX];
    int r = peer_arg(cmd, a->pos[0], peer);
    if (r >= 0) return r;
    printf("%s\n", peer);
    return CLI_OK;
  }
  names_walk w = {json_array()};
  dr_names_each(files, n, on_name, on_bad_name, &w);
  json_t *fl = json_array();
  const char *env = getenv("DHTREG_NAMES");
  for (size_t i = 0; i < n; i++) {
    const char *from = i == 0 && env && *env ? "$DHTREG_NAMES" : i + 1 < n ? "~/.dhtreg/names" : NULL;
    json_t *f = json_pack("{s:s, s:b}", "path", files[i], "exists", access(files[i], F_OK) == 0);
    if (from) json_object_set_new(f, "from", json_string(from));
    json_array_append_new(fl, f);
  }
  json_t *res = json_pack("{s:o, s:o}", "names", w.list, "files", fl);
  if (c->json) cli_print_json(res);
  else cli_print_names(c, res);
  json_decref(res);
  return CLI_OK;
}

/* ---- the table ------------------------------------------------------------------------ */

#define NO_OPTS NULL
#define RESOURCE_NOTE "RESOURCE: a resource id, LABEL@ALIAS or LABEL@PEER_ID (dhtreg help names).\n"

const cli_cmd cli_cmds[] = {
    {"status", cmd_status, "Shows this node's identity and state", NULL, 0, 0, NO_OPTS, NULL, "dhtreg status", NULL, false},
    {"health", cmd_health, "Checks that the node answers, and whether it is ready", NULL, 0, 0, NO_OPTS,
     "Prints ok (the node is alive), whether it is ready for traffic and, if not,\n"
     "why. The exit status is 0 whenever the node answers.\n",
     "dhtreg health", NULL, false},
    {"ready", cmd_ready, "Exits 0 when the node is ready for traffic, 1 when not", NULL, 0, 0, NO_OPTS,
     "As health, but the exit status says whether the node is ready (0) or not\n"
     "(1: no peers, state not written, clock skewed; the reasons are printed).\n",
     "dhtreg ready || echo not yet", NULL, false},
    {"id", cmd_id, "Computes a resource id (with --owner: here, no network)", "LABEL", 1, 1, id_opts,
     "A resource id is a hash of its owner's peer id and its label: the same label\n"
     "gives another id under another owner. Without --owner the owner is this\n"
     "node, whose peer id the node is asked for.\n",
     "dhtreg id web --owner prod", NULL, false},
    {"create", cmd_create, "Creates a resource owned by this node", "LABEL", 1, 1, create_opts,
     "LABEL is a DNS name in lowercase, so that LABEL.OWNER.dhtreg. names it: parts\n"
     "of 1-63 letters a-z, digits, '-' and '_', each starting and ending with a\n"
     "letter or digit, joined by dots (128 bytes in all). Creating it again is the\n"
     "same resource, and changes only what is given: a --policy, allow-list or\n"
     "--shards left out keeps its value (a new resource is open, with no allow-list\n"
     "and 1 shard); another value signs a newer version of it, the same values sign\n"
     "nothing. --policy open drops the allow-list.\n",
     "dhtreg create web --policy owner --allow 3NDP9m6Q...", NULL, false},
    {"get", cmd_get, "Shows a resource", "RESOURCE", 1, 1, NO_OPTS, RESOURCE_NOTE "Exit status 3: no such resource.\n",
     "dhtreg get web@prod", NULL, false},
    {"advertise", cli_cmd_advertise, "Advertises a service of a resource", "RESOURCE SERVICE_ID", 2, 2, cli_advertise_opts,
     RESOURCE_NOTE
     "SERVICE_ID is 1-128 bytes of letters, digits, '.', '_', ':' and '-' (no space),\n"
     "starting with a letter, a digit or '_'. The limits are the node's (docs/API.md),\n"
     "checked here first; without --host, --port or --address DNS has only its TXT.\n"
     "The node keeps the record announced, and renews it, while it runs; a warning\n"
     "says when no DHT node confirmed it yet (the exit status is still 0).\n"
     "With a --check-*, the node runs that check every interval: after --check-failures\n"
     "failures in a row the record is signed critical (resolve and discover leave it\n"
     "out), after --check-passes passes passing again; it starts passing.\n",
     "dhtreg advertise $RID web-1 --host 10.0.0.5 --port 8080 --type http", NULL, false},
    {"renew", cli_cmd_renew, "Renews a record (required in lease mode)", "RESOURCE SERVICE_ID", 2, 2, NO_OPTS,
     RESOURCE_NOTE "Exit status 3: this node has no such live record.\n", "dhtreg renew $RID web-1", NULL, false},
    {"withdraw", cli_cmd_withdraw, "Withdraws a record this node advertises", "RESOURCE SERVICE_ID", 2, 2, NO_OPTS,
     RESOURCE_NOTE "Exit status 3: this node advertises no such record.\n", "dhtreg withdraw $RID web-1", NULL,
     false},
    {"resolve", cmd_resolve, "Lists the live records of a resource", "RESOURCE", 1, 1, resolve_opts,
     RESOURCE_NOTE
     "Shows each record's address, type, tags, seq, health, expiry and metadata;\n"
     "-o wide adds its peer, every address and when it was signed. Records whose\n"
     "health check fails (critical) only with --include all. Exit status 3: no\n"
     "resource entry and no record (an unknown resource).\n",
     "dhtreg resolve web@prod --wide", NULL, false},
    {"discover", cmd_discover, "Picks one live record at random", "RESOURCE", 1, 1, discover_opts,
     RESOURCE_NOTE "Exit status 3: no live, passing record (of that type).\n", "dhtreg discover $RID --type http", NULL,
     false},
    {"list", cmd_list, "Lists this node's resources and advertisements", NULL, 0, 0, NO_OPTS,
     "Each advertisement's health, and its check's state and last output (-o wide:\n"
     "all of it; -o json: the check's every field).\n", "dhtreg list", NULL, false},
    {"watch", cmd_watch, "Prints register/deregister/expire/critical/passing events until Ctrl-C", "RESOURCE", 1, 1,
     NO_OPTS, RESOURCE_NOTE "critical and passing: a record's health check changed its state.\n", "dhtreg watch $RID",
     NULL, false},
    {"pin", cmd_pin, "Keeps a resource's entries replicated by this node", "RESOURCE", 1, 1, NO_OPTS, RESOURCE_NOTE,
     "dhtreg pin $RID", NULL, false},
    {"unpin", cmd_unpin, "Stops pinning a resource", "RESOURCE", 1, 1, NO_OPTS,
     RESOURCE_NOTE "Exit status 3: the node does not pin it.\n", "dhtreg unpin $RID", NULL, false},
    {"bootstrap", cmd_bootstrap, "Joins the network through more nodes", "HOST:PORT...", 1, CLI_MAX_POS, NO_OPTS,
     NULL, "dhtreg bootstrap 192.0.2.10:4222", NULL, false},
    {"names", cmd_names, "Lists the aliases of owners this CLI knows, and their files", "[ALIAS]", 0, 1, NO_OPTS,
     "A names file maps aliases to owners' peer ids, one per line:\n"
     "\n"
     "  prod = 5A3at6zsWfe7hj6gxKyJY8vPe2sXE4SDjTzAsrRsbS4C   # the production node\n"
     "\n"
     "'#' starts a comment. The files are searched in order - $DHTREG_NAMES (a\n"
     "path), ~/.dhtreg/names, /etc/dhtreg/names - and the first that has an alias\n"
     "wins. Wherever a command takes a RESOURCE, LABEL@ALIAS is the resource LABEL\n"
     "of that owner (LABEL@PEER_ID too), its id computed here. With an ALIAS,\n"
     "names prints its peer id alone (exit status 3 when no file has it).\n",
     "dhtreg names prod", NULL, false},
    {"help", cli_cmd_help_fn, "Shows this help, or a command's", "[COMMAND]", 0, 1, NO_OPTS, NULL,
     "dhtreg help resolve", "@command", false},
    {"version", cli_cmd_version, "Prints the versions of dhtreg, and of the node when one answers", NULL, 0, 0,
     NO_OPTS, "Exits 0 when no node answers too (the node's line says so).\n", "dhtreg version", NULL, false},
    {"completion", cli_cmd_completion, "Prints a bash completion script for dhtreg", "bash", 1, 1, NO_OPTS,
     "The script completes commands, their options and the global options, as\n"
     "this dhtreg knows them (the build installs it as\n"
     "share/bash-completion/completions/dhtreg). For your user alone:\n"
     "\n"
     "  dhtreg completion bash > ~/.local/share/bash-completion/completions/dhtreg\n",
     "source <(dhtreg completion bash)", "bash", true},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, false},
};
