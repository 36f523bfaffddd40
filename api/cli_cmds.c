/* cli_cmds.c - the dhtreg subcommands: one function each, dispatched from the table at the end */
#include "api/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POS 64
#define MAX_VALUES 64

/* An option of a subcommand: a flag, or one taking a value (repeatable). */
typedef struct opt {
  const char *name;
  bool has_value;
  bool repeat;
  const char *values[MAX_VALUES];
  int n;
} opt;

typedef struct args {
  const char *pos[MAX_POS];
  int n_pos;
} args;

/* Parses argv (argv[0] is the subcommand) against opts. Returns -1 to go on,
 * or an exit status (0 after --help, 2 after a usage error). */
static int parse(const cli_cmd *cmd, int argc, char **argv, opt *opts, args *a, int min_pos,
                 int max_pos) {
  a->n_pos = 0;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
      printf("usage: dhtreg %s\n", cmd->usage);
      return 0;
    }
    if (strncmp(s, "--", 2) == 0 && s[2]) {
      const char *eq = strchr(s, '=');
      size_t nlen = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
      opt *o = opts;
      while (o && o->name && !(strlen(o->name) == nlen && strncmp(o->name, s + 2, nlen) == 0)) o++;
      if (!o || !o->name) return cli_usage_error(cmd, "unknown option '%s'", s);
      if (!o->has_value) {
        if (eq) return cli_usage_error(cmd, "--%s takes no value", o->name);
        o->n = 1;
        continue;
      }
      const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) return cli_usage_error(cmd, "--%s needs a value", o->name);
      if (o->n && !o->repeat) return cli_usage_error(cmd, "--%s given twice", o->name);
      if (o->n >= MAX_VALUES) return cli_usage_error(cmd, "--%s given too often", o->name);
      o->values[o->n++] = v;
      continue;
    }
    if (a->n_pos >= max_pos) return cli_usage_error(cmd, "unexpected argument '%s'", s);
    a->pos[a->n_pos++] = s;
  }
  if (a->n_pos < min_pos) return cli_usage_error(cmd, "missing argument");
  return -1;
}

static int parse_int(const cli_cmd *cmd, const char *name, const char *s, long long min,
                     long long max, json_int_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < min || v > max)
    return cli_usage_error(cmd, "--%s: '%s' is not a whole number from %lld to %lld", name, s, min, max);
  *out = v;
  return -1;
}

/* Runs a call and prints its result with print (or as JSON). */
static int run(cli *c, const char *method, json_t *params, void (*print)(json_t *)) {
  json_t *res = cli_call(c, method, params);
  if (!res) return 1;
  if (c->json) cli_print_json(res);
  else print(res);
  json_decref(res);
  return 0;
}

static void print_ok(json_t *res) {
  (void)res;
  printf("ok\n");
}

/* ---- commands ------------------------------------------------------------------------ */

static int cmd_status(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("status"), argc, argv, NULL, &a, 0, 0);
  return r >= 0 ? r : run(c, "node.info", NULL, cli_print_status);
}

/* "ok" (alive), then whether it is ready and, if not, why */
static void print_health(json_t *res) {
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

static int cmd_health(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("health"), argc, argv, NULL, &a, 0, 0);
  return r >= 0 ? r : run(c, "health", NULL, print_health);
}

/* readiness as an exit status, for scripts and ExecStartPost: 0 ready, 1 not */
static int cmd_ready(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("ready"), argc, argv, NULL, &a, 0, 0);
  if (r >= 0) return r;
  json_t *res = cli_call(c, "health", NULL);
  if (!res) return 1;
  bool ready = json_is_true(json_object_get(res, "ready"));
  if (c->json) cli_print_json(res);
  else print_health(res);
  json_decref(res);
  return ready ? 0 : 1;
}

static void print_id(json_t *res) {
  char s[128];
  cli_escape(json_string_value(json_object_get(res, "resource_id")), s, sizeof s);
  printf("%s\n", *s ? s : "?");
}

static int cmd_id(cli *c, int argc, char **argv) {
  opt o[] = {{.name = "owner", .has_value = true}, {0}};
  args a;
  int r = parse(cli_find("id"), argc, argv, o, &a, 1, 1);
  if (r >= 0) return r;
  json_t *p = json_pack("{s:s}", "label", a.pos[0]);
  if (o[0].n) json_object_set_new(p, "owner", json_string(o[0].values[0]));
  return run(c, "resource.id", p, print_id);
}

static int cmd_create(cli *c, int argc, char **argv) {
  opt o[] = {{.name = "policy", .has_value = true},
             {.name = "allow", .has_value = true, .repeat = true},
             {.name = "shards", .has_value = true},
             {0}};
  args a;
  const cli_cmd *cmd = cli_find("create");
  int r = parse(cmd, argc, argv, o, &a, 1, 1);
  if (r >= 0) return r;
  json_int_t shards = 1;
  if (o[2].n && (r = parse_int(cmd, "shards", o[2].values[0], 1, 4096, &shards)) >= 0) return r;
  if (shards & (shards - 1)) return cli_usage_error(cmd, "--shards: '%s' is not a power of two", o[2].values[0]);
  json_t *p = json_pack("{s:s}", "label", a.pos[0]);
  if (o[2].n) json_object_set_new(p, "shards", json_integer(shards));
  if (o[0].n) {
    if (strcmp(o[0].values[0], "open") && strcmp(o[0].values[0], "owner")) {
      json_decref(p);
      return cli_usage_error(cmd, "--policy: '%s' is not open or owner", o[0].values[0]);
    }
    json_object_set_new(p, "policy", json_string(o[0].values[0]));
  }
  if (o[1].n) {
    json_t *allow = json_array();
    for (int i = 0; i < o[1].n; i++) json_array_append_new(allow, json_string(o[1].values[i]));
    json_object_set_new(p, "allow", allow);
  }
  return run(c, "resource.create", p, cli_print_resource);
}

static int cmd_get(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("get"), argc, argv, NULL, &a, 1, 1);
  return r >= 0 ? r : run(c, "resource.get", json_pack("{s:s}", "resource_id", a.pos[0]), cli_print_resource);
}

static void print_advertised(json_t *res) {
  static const char *const keys[] = {"resource_id", "service_id", "peer_id", "seq", "expires_at", NULL};
  cli_print_kv(res, keys);
}

static int cmd_advertise(cli *c, int argc, char **argv) {
  enum { HOST, PORT, ADDRESS, TYPE, TAG, META, TTL, LEASE };
  opt o[] = {{.name = "host", .has_value = true},
             {.name = "port", .has_value = true},
             {.name = "address", .has_value = true, .repeat = true},
             {.name = "type", .has_value = true},
             {.name = "tag", .has_value = true, .repeat = true},
             {.name = "meta", .has_value = true, .repeat = true},
             {.name = "ttl", .has_value = true},
             {.name = "lease"},
             {0}};
  args a;
  const cli_cmd *cmd = cli_find("advertise");
  int r = parse(cmd, argc, argv, o, &a, 2, 2);
  if (r >= 0) return r;
  json_int_t port = 0, ttl = 0;
  if (o[PORT].n && (r = parse_int(cmd, "port", o[PORT].values[0], 0, 65535, &port)) >= 0) return r;
  if (o[TTL].n && (r = parse_int(cmd, "ttl", o[TTL].values[0], 1, 1000000, &ttl)) >= 0) return r;
  for (int i = 0; i < o[META].n; i++)
    if (!strchr(o[META].values[i], '=') || o[META].values[i][0] == '=')
      return cli_usage_error(cmd, "--meta: '%s' is not KEY=VALUE", o[META].values[i]);
  json_t *p = json_pack("{s:s, s:s}", "resource_id", a.pos[0], "service_id", a.pos[1]);
  if (o[HOST].n) json_object_set_new(p, "host", json_string(o[HOST].values[0]));
  if (o[PORT].n) json_object_set_new(p, "port", json_integer(port));
  if (o[TYPE].n) json_object_set_new(p, "type", json_string(o[TYPE].values[0]));
  if (o[TTL].n) json_object_set_new(p, "ttl", json_integer(ttl));
  if (o[LEASE].n) json_object_set_new(p, "lease", json_true());
  if (o[ADDRESS].n || o[TAG].n) {
    json_t *addrs = json_array(), *tags = json_array();
    for (int i = 0; i < o[ADDRESS].n; i++) json_array_append_new(addrs, json_string(o[ADDRESS].values[i]));
    for (int i = 0; i < o[TAG].n; i++) json_array_append_new(tags, json_string(o[TAG].values[i]));
    json_object_set_new(p, "addresses", addrs);
    json_object_set_new(p, "tags", tags);
  }
  if (o[META].n) {
    json_t *meta = json_object();
    for (int i = 0; i < o[META].n; i++) {
      const char *kv = o[META].values[i], *eq = strchr(kv, '=');
      char key[256];
      snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
      json_object_set_new(meta, key, json_string(eq + 1));
    }
    json_object_set_new(p, "metadata", meta);
  }
  return run(c, "record.advertise", p, print_advertised);
}

static void print_renewed(json_t *res) {
  static const char *const keys[] = {"seq", "expires_at", NULL};
  cli_print_kv(res, keys);
}

static int cmd_renew(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("renew"), argc, argv, NULL, &a, 2, 2);
  return r >= 0 ? r
                : run(c, "record.renew", json_pack("{s:s, s:s}", "resource_id", a.pos[0], "service_id", a.pos[1]),
                      print_renewed);
}

static void print_withdrawn(json_t *res) {
  (void)res;
  printf("withdrawn\n");
}

static int cmd_withdraw(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("withdraw"), argc, argv, NULL, &a, 2, 2);
  return r >= 0 ? r
                : run(c, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", a.pos[0], "service_id", a.pos[1]),
                      print_withdrawn);
}

static void print_resolved(json_t *res) {
  json_t *resource = json_object_get(res, "resource");
  if (json_is_object(resource)) {
    char label[600], owner[128];
    cli_escape(json_string_value(json_object_get(resource, "label")), label, sizeof label);
    cli_escape(json_string_value(json_object_get(resource, "owner")), owner, sizeof owner);
    json_int_t shards = json_integer_value(json_object_get(resource, "shards"));
    printf("resource %s owned by %s", *label ? label : "?", *owner ? owner : "?");
    if (shards > 1) printf(", %lld shards", (long long)shards);
    printf("\n");
  } else {
    printf("resource: unknown (no resource entry found)\n");
  }
  cli_print_records_table(json_object_get(res, "records"), false);
  char next[64];
  cli_escape(json_string_value(json_object_get(res, "next_cursor")), next, sizeof next);
  if (*next) printf("more records: --cursor %s (or --all)\n", next);
}

#define ALL_PAGE 1000 /* records a page of --all asks for, unless --limit says */

/* resolve --all: every page, one after the other, printed as one answer
 * (next_cursor dropped). */
static int resolve_all(cli *c, const cli_cmd *cmd, const char *rid, json_int_t page, const char *from) {
  json_t *all = NULL, *records = json_array();
  char cursor[64] = "";
  if (from) snprintf(cursor, sizeof cursor, "%s", from);
  for (;;) {
    json_t *p = json_pack("{s:s, s:I}", "resource_id", rid, "limit", page);
    if (*cursor) json_object_set_new(p, "cursor", json_string(cursor));
    json_t *res = cli_call(c, "resolve", p);
    if (!res) {
      if (all) fprintf(stderr, "dhtreg: resolve --all stopped after %zu records\n", json_array_size(records));
      json_decref(all);
      json_decref(records);
      return 1;
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
      return 1;
    }
    snprintf(cursor, sizeof cursor, "%s", next);
    json_decref(res);
  }
  json_object_set_new(all, "records", records);
  if (c->json) cli_print_json(all);
  else print_resolved(all);
  json_decref(all);
  return 0;
}

static int cmd_resolve(cli *c, int argc, char **argv) {
  opt o[] = {{.name = "limit", .has_value = true}, {.name = "cursor", .has_value = true}, {.name = "all"}, {0}};
  args a;
  const cli_cmd *cmd = cli_find("resolve");
  int r = parse(cmd, argc, argv, o, &a, 1, 1);
  if (r >= 0) return r;
  json_int_t limit = 0;
  if (o[0].n && (r = parse_int(cmd, "limit", o[0].values[0], 1, 1000000, &limit)) >= 0) return r;
  if (o[2].n) return resolve_all(c, cmd, a.pos[0], o[0].n ? limit : ALL_PAGE, o[1].n ? o[1].values[0] : NULL);
  json_t *p = json_pack("{s:s}", "resource_id", a.pos[0]);
  if (o[0].n) json_object_set_new(p, "limit", json_integer(limit));
  if (o[1].n) json_object_set_new(p, "cursor", json_string(o[1].values[0]));
  return run(c, "resolve", p, print_resolved);
}

static int cmd_discover(cli *c, int argc, char **argv) {
  opt o[] = {{.name = "type", .has_value = true}, {0}};
  args a;
  int r = parse(cli_find("discover"), argc, argv, o, &a, 1, 1);
  if (r >= 0) return r;
  json_t *p = json_pack("{s:s}", "resource_id", a.pos[0]);
  if (o[0].n) json_object_set_new(p, "type", json_string(o[0].values[0]));
  return run(c, "discover", p, cli_print_record);
}

static void print_list(json_t *res) {
  printf("RESOURCES\n");
  cli_print_resources_table(json_object_get(res, "resources"));
  printf("\nADVERTISED\n");
  cli_print_records_table(json_object_get(res, "records"), true);
}

static int cmd_list(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("list"), argc, argv, NULL, &a, 0, 0);
  return r >= 0 ? r : run(c, "list", NULL, print_list);
}

static int cmd_pin(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("pin"), argc, argv, NULL, &a, 1, 1);
  return r >= 0 ? r : run(c, "resource.pin", json_pack("{s:s}", "resource_id", a.pos[0]), print_ok);
}

static int cmd_unpin(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("unpin"), argc, argv, NULL, &a, 1, 1);
  return r >= 0 ? r : run(c, "resource.unpin", json_pack("{s:s}", "resource_id", a.pos[0]), print_ok);
}

static int cmd_bootstrap(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("bootstrap"), argc, argv, NULL, &a, 1, MAX_POS);
  if (r >= 0) return r;
  json_t *addrs = json_array();
  for (int i = 0; i < a.n_pos; i++) json_array_append_new(addrs, json_string(a.pos[i]));
  return run(c, "node.bootstrap", json_pack("{s:o}", "addresses", addrs), print_ok);
}

static volatile sig_atomic_t watch_stop;

static void on_watch_signal(int sig) {
  (void)sig;
  watch_stop = 1;
}

/* Subscribes, then prints every event until a signal or the node hangs up. */
static int cmd_watch(cli *c, int argc, char **argv) {
  args a;
  int r = parse(cli_find("watch"), argc, argv, NULL, &a, 1, 1);
  if (r >= 0) return r;
  int fd = cli_send(c, "watch", json_pack("{s:s}", "resource_id", a.pos[0]));
  if (fd < 0) return 1;
  bool eof;
  json_t *resp = cli_read(c, fd, &eof);
  json_t *err = json_object_get(resp, "error");
  if (!resp || err) {
    if (err) {
      char msg[1024];
      cli_escape(json_string_value(json_object_get(err, "message")), msg, sizeof msg);
      fprintf(stderr, "dhtreg: error %lld: %s\n", (long long)json_integer_value(json_object_get(err, "code")), msg);
    }
    else if (eof)
      fprintf(stderr, "dhtreg: the node closed the connection without answering\n");
    json_decref(resp);
    close(fd);
    return 1;
  }
  json_decref(resp);
  struct sigaction sa = {.sa_handler = on_watch_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  c->timeout_s = 0; /* events come when they come */
  if (!c->json) fprintf(stderr, "watching %s (Ctrl-C to stop)\n", a.pos[0]);
  while (!watch_stop) {
    json_t *ev = cli_read(c, fd, &eof);
    if (!ev) {
      if (watch_stop) break;
      close(fd);
      fprintf(stderr, "dhtreg: the node closed the connection\n");
      return 1;
    }
    json_t *params = json_object_get(ev, "params");
    if (json_is_object(params)) {
      if (c->json) cli_print_json(params);
      else cli_print_event(params);
      fflush(stdout);
    }
    json_decref(ev);
  }
  close(fd);
  return 0;
}

const cli_cmd cli_cmds[] = {
    {"status", cmd_status, "Shows this node's identity and state", "status\n\nexample: dhtreg status"},
    {"health", cmd_health, "Checks that the node answers, and whether it is ready",
     "health\n\nPrints ok (the node is alive), whether it is ready for traffic and, if not,\n"
     "why. The exit status is 0 whenever the node answers.\n\nexample: dhtreg health"},
    {"ready", cmd_ready, "Exits 0 when the node is ready for traffic, 1 when not",
     "ready\n\nAs health, but the exit status says whether the node is ready (0) or not\n"
     "(1: no peers, state not written, clock skewed; the reasons are printed).\n\n"
     "example: dhtreg ready || echo not yet"},
    {"id", cmd_id, "Computes a resource id (no network)",
     "id LABEL [--owner PEER_ID]\n\n  --owner PEER_ID  the owner (default: this node)\n\nexample: dhtreg id web"},
    {"create", cmd_create, "Creates a resource owned by this node",
     "create LABEL [--policy open|owner] [--allow PEER_ID]... [--shards N]\n\n"
     "  --policy P       open: anyone may add records (default); owner: only the owner\n"
     "                   and the peers given with --allow\n"
     "  --allow PEER_ID  a peer allowed to add records (repeatable)\n"
     "  --shards N       DHT keys its records are spread over: a power of two up to\n"
     "                   4096 (default 1); 50 to 100 records a shard (docs/DESIGN.md)\n\n"
     "example: dhtreg create web --policy owner --allow 3NDP9m6Q..."},
    {"get", cmd_get, "Shows a resource", "get RESOURCE_ID\n\nexample: dhtreg get $(dhtreg id web)"},
    {"advertise", cmd_advertise, "Advertises a service of a resource",
     "advertise RESOURCE_ID SERVICE_ID [options]\n\n"
     "  --host HOST        where to reach it\n"
     "  --port N           its port (0-65535)\n"
     "  --address ADDR     another address (repeatable)\n"
     "  --type TYPE        its type (e.g. http)\n"
     "  --tag TAG          a tag (repeatable, at most 16)\n"
     "  --meta KEY=VALUE   metadata (repeatable, 2 KiB in all)\n"
     "  --ttl SECONDS      lifetime of each signed version (30-86400, default 300)\n"
     "  --lease            live only while 'dhtreg renew' is called within the TTL\n\n"
     "example: dhtreg advertise $RID web-1 --host 10.0.0.5 --port 8080 --type http"},
    {"renew", cmd_renew, "Renews a record (required in lease mode)",
     "renew RESOURCE_ID SERVICE_ID\n\nexample: dhtreg renew $RID web-1"},
    {"withdraw", cmd_withdraw, "Withdraws a record this node advertises",
     "withdraw RESOURCE_ID SERVICE_ID\n\nexample: dhtreg withdraw $RID web-1"},
    {"resolve", cmd_resolve, "Lists the live records of a resource",
     "resolve RESOURCE_ID [--limit N] [--cursor C] [--all]\n\n"
     "  --limit N   at most N records (default 100; with --all, per page: 1000)\n"
     "  --cursor C  the page after the one that printed C\n"
     "  --all       every live record (from --cursor's page on), page after page\n\n"
     "example: dhtreg --json resolve $RID --all"},
    {"discover", cmd_discover, "Picks one live record at random",
     "discover RESOURCE_ID [--type TYPE]\n\n  --type TYPE  only records of that type\n\nexample: dhtreg discover $RID --type http"},
    {"list", cmd_list, "Lists this node's resources and advertisements", "list\n\nexample: dhtreg list"},
    {"watch", cmd_watch, "Prints register/deregister/expire events until Ctrl-C",
     "watch RESOURCE_ID\n\nexample: dhtreg watch $RID"},
    {"pin", cmd_pin, "Keeps a resource's entries replicated by this node",
     "pin RESOURCE_ID\n\nexample: dhtreg pin $RID"},
    {"unpin", cmd_unpin, "Stops pinning a resource", "unpin RESOURCE_ID\n\nexample: dhtreg unpin $RID"},
    {"bootstrap", cmd_bootstrap, "Joins the network through more nodes",
     "bootstrap HOST:PORT...\n\nexample: dhtreg bootstrap 192.0.2.10:4222"},
    {NULL, NULL, NULL, NULL},
};
