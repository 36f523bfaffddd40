/* cli_print.c - how dhtreg shows results: key/value lines and aligned tables */
#include "api/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_COLS 16
#define PATH_CELL 4200
#define ADDRESS_CELL 300 /* a host (253 bytes) and a port, or an address (128) */

/* Escapes what a terminal could take for a command: C0 and C1 control
 * characters and DEL as \xNN (\u{NN} for C1), bytes that are not UTF-8
 * as \xNN. Readers refuse entries holding such characters; this keeps a
 * node of another kind, or a fake one, from moving the cursor anyway. */
static size_t escape(const char *in, char *out, size_t cap, bool quoting) {
  const unsigned char *s = (const unsigned char *)(in ? in : "");
  size_t o = 0;
  if (!cap) return 0;
  while (*s) {
    char esc[12] = "";
    size_t take = 1;
    unsigned char c = *s;
    size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    size_t k = 1;
    while (n > 1 && k < n && (s[k] & 0xc0) == 0x80) k++;
    if (quoting && (c == '"' || c == '\\')) snprintf(esc, sizeof esc, "\\%c", c);
    else if (c < 0x20 || c == 0x7f) snprintf(esc, sizeof esc, "\\x%02x", c);
    else if (n == 0 || k != n) snprintf(esc, sizeof esc, "\\x%02x", c); /* not UTF-8 */
    else if (n == 2 && c == 0xc2 && s[1] < 0xa0) {
      snprintf(esc, sizeof esc, "\\u{%02x}", s[1]);
      take = 2;
    } else {
      take = n;
    }
    size_t len = esc[0] ? strlen(esc) : take;
    if (o + len >= cap) break;
    memcpy(out + o, esc[0] ? esc : (const char *)s, len);
    o += len;
    s += take;
  }
  out[o] = '\0';
  return o;
}

size_t cli_escape(const char *in, char *out, size_t cap) {
  return escape(in, out, cap, false);
}

/* Whether s shows as itself: a word of printable ASCII without the
 * characters that quote, escape or separate list items and key=value
 * pairs, and not "-" (what an empty value shows as). */
static bool plain_word(const char *s) {
  if (!*s || strcmp(s, "-") == 0) return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p <= ' ' || *p >= 0x7f || strchr("\"'\\,=", *p)) return false;
  return true;
}

size_t cli_quote(const char *in, char *out, size_t cap) {
  in = in ? in : "";
  if (cap < 3) return cli_escape("", out, cap);
  if (plain_word(in)) return escape(in, out, cap, false);
  out[0] = '"';
  size_t n = escape(in, out + 1, cap - 2, true);
  out[n + 1] = '"';
  out[n + 2] = '\0';
  return n + 2;
}

void cli_print_json(json_t *v) {
  char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
  if (!s) return;
  /* jansson escapes C0 controls; DEL and C1 ones (only ever inside
   * strings) get \u escapes too, which keeps the JSON the same value */
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == 0x7f) printf("\\u007f");
    else if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0) printf("\\u00%02x", *++p);
    else putchar(*p);
  }
  putchar('\n');
  free(s);
}

void cli_fmt_duration(long long s, char *out, size_t len) {
  if (s < 0) s = -s;
  if (s < 60) snprintf(out, len, "%llds", s);
  else if (s < 3600) snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400) snprintf(out, len, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else snprintf(out, len, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

void cli_fmt_time(const cli *c, long long t, char *out, size_t len) {
  if (c->utc) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (t < 0 || !gmtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
      snprintf(out, len, "%lld", t);
    return;
  }
  long long d = t - (long long)time(NULL);
  char dur[32];
  cli_fmt_duration(d, dur, sizeof dur);
  if (d == 0) snprintf(out, len, "now");
  else if (d > 0) snprintf(out, len, "in %s", dur);
  else snprintf(out, len, "%s ago", dur);
}

/* Keys whose values are Unix times, shown relative to now (or --utc). */
static bool is_time_key(const char *k) {
  static const char *const keys[] = {"created_at", "issued_at", "expires_at", "timestamp", "failing_since", NULL};
  for (const char *const *p = keys; *p; p++)
    if (strcmp(*p, k) == 0) return true;
  return false;
}

/* A value as text: strings bare, arrays comma-joined, objects k=v. */
static void fmt_value(json_t *v, char *out, size_t len) {
  out[0] = '\0';
  if (!v || json_is_null(v)) {
    snprintf(out, len, "-");
  } else if (json_is_string(v)) {
    if (json_string_length(v)) cli_quote(json_string_value(v), out, len);
    else snprintf(out, len, "-");
  } else if (json_is_integer(v)) {
    snprintf(out, len, "%lld", (long long)json_integer_value(v));
  } else if (json_is_boolean(v)) {
    snprintf(out, len, "%s", json_is_true(v) ? "true" : "false");
  } else if (json_is_array(v)) {
    size_t i, used = 0;
    json_t *item;
    if (!json_array_size(v)) snprintf(out, len, "-");
    json_array_foreach(v, i, item) {
      char one[512];
      fmt_value(item, one, sizeof one);
      used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s", i ? "," : "", one);
      if (used >= len) break;
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *item;
    size_t used = 0;
    bool first = true;
    if (!json_object_size(v)) snprintf(out, len, "-");
    json_object_foreach(v, k, item) {
      char one[512], key[512];
      fmt_value(item, one, sizeof one);
      cli_quote(k, key, sizeof key);
      used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s=%s", first ? "" : ",", key, one);
      first = false;
      if (used >= len) break;
    }
  } else {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(out, len, "%s", s ? s : "?");
    free(s);
  }
}

void cli_print_kv(const cli *c, json_t *obj, const char *const *keys) {
  size_t w = 0;
  for (const char *const *k = keys; *k; k++)
    if (strlen(*k) > w) w = strlen(*k);
  for (const char *const *k = keys; *k; k++) {
    json_t *v = json_object_get(obj, *k);
    if (!v) continue;
    char text[4096];
    if (json_is_integer(v) && is_time_key(*k)) cli_fmt_time(c, (long long)json_integer_value(v), text, sizeof text);
    else fmt_value(v, text, sizeof text);
    printf("%-*s  %s\n", (int)w + 1, *k, text);
  }
}

void cli_print_resource(const cli *c, json_t *res) {
  static const char *const keys[] = {"resource_id", "label", "owner", "created_at", "policy", "allow", "shards", "seq", NULL};
  cli_print_kv(c, res, keys);
}

/* HOST:PORT, HOST, the first address, :PORT or -, quoted as one word when
 * the host or address holds a space or the like (cli_quote). */
static void address_of(json_t *rec, char *out, size_t len) {
  char raw[ADDRESS_CELL];
  const char *host = json_string_value(json_object_get(rec, "host"));
  const char *first = json_string_value(json_array_get(json_object_get(rec, "addresses"), 0));
  json_int_t port = json_integer_value(json_object_get(rec, "port"));
  if (host && *host && port) snprintf(raw, sizeof raw, "%s:%lld", host, (long long)port);
  else if (host && *host) snprintf(raw, sizeof raw, "%s", host);
  else if (first && *first) snprintf(raw, sizeof raw, "%s", first);
  else if (port) snprintf(raw, sizeof raw, ":%lld", (long long)port);
  else {
    snprintf(out, len, "-");
    return;
  }
  cli_quote(raw, out, len);
}

void cli_print_record(const cli *c, json_t *rec) {
  static const char *const keys[] = {"resource_id", "service_id", "peer_id", "host", "port",
                                     "addresses", "type", "tags", "metadata", "issued_at",
                                     "expires_at", "seq", "health", NULL};
  cli_print_kv(c, rec, keys);
}

/* ---- tables ---------------------------------------------------------------------------- */

typedef struct table {
  int cols;
  int indent; /* spaces before each row */
  size_t rows, cap;
  char **cells; /* rows * cols strings, row 0 the header */
} table;

static void table_add(table *t, const char *const *row) {
  if (t->rows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    char **c = realloc(t->cells, cap * (size_t)t->cols * sizeof *c);
    if (!c) return;
    t->cells = c;
    t->cap = cap;
  }
  for (int i = 0; i < t->cols; i++) {
    char cell[2048];
    cli_escape(row[i] ? row[i] : "-", cell, sizeof cell);
    t->cells[t->rows * (size_t)t->cols + (size_t)i] = strdup(cell);
  }
  t->rows++;
}

static void table_print(table *t) {
  size_t w[MAX_COLS] = {0};
  for (size_t r = 0; r < t->rows; r++)
    for (int c = 0; c < t->cols; c++) {
      const char *s = t->cells[r * (size_t)t->cols + (size_t)c];
      if (s && strlen(s) > w[c]) w[c] = strlen(s);
    }
  for (size_t r = 0; r < t->rows; r++) {
    printf("%*s", t->indent, "");
    for (int c = 0; c < t->cols; c++) {
      const char *s = t->cells[r * (size_t)t->cols + (size_t)c];
      if (c == t->cols - 1) printf("%s", s ? s : "");
      else printf("%-*s  ", (int)w[c], s ? s : "");
      free(t->cells[r * (size_t)t->cols + (size_t)c]);
    }
    printf("\n");
  }
  free(t->cells);
}

/* The columns of a record table: resolve's (wide: every one), or list's
 * own advertisements (with_lease). */
enum { C_RID, C_SID, C_PEER, C_ADDR, C_ADDRS, C_TYPE, C_TAGS, C_SEQ, C_HEALTH, C_TTL, C_LEASE, C_ISSUED, C_EXPIRES, C_META,
       C_CHECK, C_CHECK_STATE, C_OUTPUT, C__N };

static const char *const col_names[C__N] = {"RESOURCE_ID", "SERVICE_ID", "PEER_ID", "ADDRESS", "ADDRESSES", "TYPE",
                                            "TAGS", "SEQ", "HEALTH", "TTL", "LEASE", "ISSUED", "EXPIRES", "METADATA",
                                            "CHECK", "CHECK_STATE", "LAST_OUTPUT"};

/* list's check cells: what it checks, its state and how many runs in a
 * row said so, its last output (its first line, cut unless wide). */
static void check_cells(const cli *c, json_t *chk, char *what, char *state, char *output, size_t len) {
  char target[1024];
  if (!json_is_object(chk)) {
    snprintf(what, len, "-");
    snprintf(state, len, "-");
    snprintf(output, len, "-");
    return;
  }
  const char *type = json_string_value(json_object_get(chk, "type"));
  json_t *argv = json_object_get(chk, "exec"), *w;
  size_t i, used = 0;
  if (json_is_array(argv)) { /* a command line: words with a space quoted */
    target[0] = '\0';
    json_array_foreach(argv, i, w) {
      const char *word = json_string_value(w) ? json_string_value(w) : "";
      bool q = !*word || strpbrk(word, " \t\"");
      used += (size_t)snprintf(target + used, used < sizeof target ? sizeof target - used : 0, "%s%s%s%s",
                               i ? " " : "", q ? "'" : "", word, q ? "'" : "");
      if (used >= sizeof target) break;
    }
  } else {
    fmt_value(json_object_get(chk, type ? type : "?"), target, sizeof target);
  }
  snprintf(what, len, "%.8s %s", type ? type : "?", target);
  if (!c->wide && strlen(what) > 40) snprintf(what + 37, len - 37, "...");
  const char *st = json_string_value(json_object_get(chk, "status"));
  if (!json_object_get(chk, "last_result")) {
    snprintf(state, len, "%s (not run yet)", st ? st : "?");
  } else {
    bool ok = strcmp(json_string_value(json_object_get(chk, "last_result")), "pass") == 0;
    long long k = (long long)json_integer_value(json_object_get(chk, ok ? "consecutive_passes" : "consecutive_failures"));
    snprintf(state, len, "%s (%lld %s%s)", st ? st : "?", k, ok ? "pass" : "failure", k == 1 ? "" : ok ? "es" : "s");
  }
  const char *out = json_string_value(json_object_get(chk, "output"));
  size_t n = out ? strcspn(out, "\n") : 0;
  if (!out || !*out) snprintf(output, len, "-");
  else if (c->wide) snprintf(output, len, "%s", out);
  else snprintf(output, len, "%.*s%s", (int)(n > 60 ? 57 : n), out, n > 60 || out[n] ? "..." : "");
}

void cli_print_records_table(const cli *c, json_t *records, bool with_lease) {
  static const int resolve_cols[] = {C_SID, C_ADDR, C_TYPE, C_TAGS, C_SEQ, C_HEALTH, C_EXPIRES, C_META, -1};
  static const int resolve_wide[] = {C_SID, C_PEER, C_ADDR, C_ADDRS, C_TYPE, C_TAGS, C_SEQ, C_HEALTH, C_ISSUED,
                                     C_EXPIRES, C_META, -1};
  static const int list_cols[] = {C_RID, C_SID, C_ADDR, C_TYPE, C_TTL, C_LEASE, C_EXPIRES, C_HEALTH, C_CHECK,
                                  C_CHECK_STATE, C_OUTPUT, -1};
  static const int list_wide[] = {C_RID, C_SID, C_ADDR, C_ADDRS, C_TYPE, C_TAGS, C_SEQ, C_TTL, C_LEASE,
                                  C_EXPIRES, C_META, C_HEALTH, C_CHECK, C_CHECK_STATE, C_OUTPUT, -1};
  const int *cols = with_lease ? (c->wide ? list_wide : list_cols) : (c->wide ? resolve_wide : resolve_cols);
  size_t i, n = json_array_size(records);
  json_t *rec;
  if (!n) {
    printf("no records\n");
    return;
  }
  table t = {.cols = 0};
  const char *row[MAX_COLS];
  while (cols[t.cols] >= 0) {
    row[t.cols] = col_names[cols[t.cols]];
    t.cols++;
  }
  table_add(&t, row);
  json_array_foreach(records, i, rec) {
    static char cell[C__N][2048];
    address_of(rec, cell[C_ADDR], sizeof cell[C_ADDR]);
    fmt_value(json_object_get(rec, "resource_id"), cell[C_RID], sizeof cell[C_RID]);
    fmt_value(json_object_get(rec, "service_id"), cell[C_SID], sizeof cell[C_SID]);
    fmt_value(json_object_get(rec, "peer_id"), cell[C_PEER], sizeof cell[C_PEER]);
    fmt_value(json_object_get(rec, "addresses"), cell[C_ADDRS], sizeof cell[C_ADDRS]);
    fmt_value(json_object_get(rec, "type"), cell[C_TYPE], sizeof cell[C_TYPE]);
    fmt_value(json_object_get(rec, "tags"), cell[C_TAGS], sizeof cell[C_TAGS]);
    fmt_value(json_object_get(rec, "seq"), cell[C_SEQ], sizeof cell[C_SEQ]);
    fmt_value(json_object_get(rec, "health"), cell[C_HEALTH], sizeof cell[C_HEALTH]);
    fmt_value(json_object_get(rec, "ttl"), cell[C_TTL], sizeof cell[C_TTL]);
    snprintf(cell[C_LEASE], sizeof cell[C_LEASE], "%s", json_is_true(json_object_get(rec, "lease")) ? "yes" : "no");
    cli_fmt_time(c, (long long)json_integer_value(json_object_get(rec, "issued_at")), cell[C_ISSUED],
                 sizeof cell[C_ISSUED]);
    cli_fmt_time(c, (long long)json_integer_value(json_object_get(rec, "expires_at")), cell[C_EXPIRES],
                 sizeof cell[C_EXPIRES]);
    fmt_value(json_object_get(rec, "metadata"), cell[C_META], sizeof cell[C_META]);
    check_cells(c, json_object_get(rec, "check"), cell[C_CHECK], cell[C_CHECK_STATE], cell[C_OUTPUT], sizeof cell[0]);
    for (int k = 0; k < t.cols; k++) row[k] = cell[cols[k]];
    table_add(&t, row);
  }
  table_print(&t);
  printf("%zu record%s\n", n, n == 1 ? "" : "s");
}

void cli_print_resources_table(const cli *c, json_t *resources) {
  size_t i;
  json_t *r;
  if (!json_array_size(resources)) {
    printf("no resources\n");
    return;
  }
  table t = {.cols = 3};
  const char *h[] = {"RESOURCE_ID", "LABEL", "POLICY"};
  table_add(&t, h);
  json_array_foreach(resources, i, r) {
    char cell[3][600];
    fmt_value(json_object_get(r, "resource_id"), cell[0], sizeof cell[0]);
    fmt_value(json_object_get(r, "label"), cell[1], sizeof cell[1]);
    fmt_value(json_object_get(r, "policy"), cell[2], sizeof cell[2]);
    const char *row[] = {cell[0], cell[1], cell[2]};
    table_add(&t, row);
  }
  table_print(&t);
}

void cli_print_status(const cli *c, json_t *info) {
  static const char *const keys[] = {"peer_id", "version", "port", "network", "private", "uptime_s", "connected",
                                     "peers", "advertised", NULL};
  cli_print_kv(c, info, keys);
  json_t *e = json_object_get(info, "entries");
  printf("%-11s  resources=%lld records=%lld tombstones=%lld\n", "entries",
         (long long)json_integer_value(json_object_get(e, "resources")),
         (long long)json_integer_value(json_object_get(e, "records")),
         (long long)json_integer_value(json_object_get(e, "tombstones")));
  json_t *rej = json_object_get(info, "rejected"), *v;
  const char *k;
  char line[1024] = "";
  size_t used = 0;
  json_object_foreach(rej, k, v) {
    if (json_integer_value(v) > 0 && used < sizeof line)
      used += (size_t)snprintf(line + used, sizeof line - used, "%s%s=%lld", used ? " " : "", k,
                               (long long)json_integer_value(v));
  }
  printf("%-11s  %s\n", "rejected", used ? line : "none");
}

void cli_print_event(const cli *c, json_t *params) {
  json_t *rec = json_object_get(params, "record");
  char addr[1200], ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  address_of(rec, addr, sizeof addr);
  char type[64], sid[600], pid[64];
  fmt_value(json_object_get(params, "type"), type, sizeof type);
  fmt_value(json_object_get(rec, "service_id"), sid, sizeof sid);
  fmt_value(json_object_get(rec, "peer_id"), pid, sizeof pid);
  printf("%s %-10s %s %.*s %s\n", ts, type, sid, pid[0] == '"' ? (int)sizeof pid : 12, pid, addr);
}

/* dhtreg names: every alias of the names files and where it is, then the
 * files in the order they are searched. */
void cli_print_names(const cli *c, json_t *names) {
  size_t i;
  json_t *e, *list = json_object_get(names, "names"), *files = json_object_get(names, "files");
  if (json_array_size(list)) {
    table t = {.cols = 3};
    const char *h[] = {"ALIAS", "PEER_ID", "FILE"};
    table_add(&t, h);
    json_array_foreach(list, i, e) {
      char where[PATH_CELL];
      snprintf(where, sizeof where, "%s:%lld%s", json_string_value(json_object_get(e, "file")),
               (long long)json_integer_value(json_object_get(e, "line")),
               json_is_true(json_object_get(e, "shadowed")) ? " (shadowed: an earlier line has it)" : "");
      const char *row[] = {json_string_value(json_object_get(e, "alias")),
                           json_string_value(json_object_get(e, "peer_id")), where};
      table_add(&t, row);
    }
    table_print(&t);
  } else {
    printf("no aliases\n");
  }
  printf("\nnames files, searched in this order:\n");
  table t = {.cols = 2};
  json_array_foreach(files, i, e) {
    char note[64];
    const char *from = json_string_value(json_object_get(e, "from"));
    bool exists = json_is_true(json_object_get(e, "exists"));
    snprintf(note, sizeof note, "%s%s%s", from ? from : "", from && !exists ? ": " : "", exists ? "" : "no such file");
    const char *row[] = {json_string_value(json_object_get(e, "path")), note};
    table_add(&t, row);
  }
  t.indent = 2;
  table_print(&t);
  (void)c;
}
