/* cli_print.c - how dhtreg shows results: key/value lines and aligned tables */
#include "api/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_COLS 8

/* Escapes what a terminal could take for a command: C0 and C1 control
 * characters and DEL as \xNN (\u{NN} for C1), bytes that are not UTF-8
 * as \xNN. Readers refuse entries holding such characters; this keeps a
 * node of another kind, or a fake one, from moving the cursor anyway. */
size_t cli_escape(const char *in, char *out, size_t cap) {
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
    if (c < 0x20 || c == 0x7f) snprintf(esc, sizeof esc, "\\x%02x", c);
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
  if (s <= 0) snprintf(out, len, "expired");
  else if (s < 60) snprintf(out, len, "%llds", s);
  else if (s < 3600) snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
  else snprintf(out, len, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
}

/* A value as text: strings bare, arrays comma-joined, objects k=v. */
static void fmt_value(json_t *v, char *out, size_t len) {
  out[0] = '\0';
  if (!v || json_is_null(v)) {
    snprintf(out, len, "-");
  } else if (json_is_string(v)) {
    if (json_string_length(v)) cli_escape(json_string_value(v), out, len);
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
      cli_escape(k, key, sizeof key);
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

void cli_print_kv(json_t *obj, const char *const *keys) {
  size_t w = 0;
  for (const char *const *k = keys; *k; k++)
    if (strlen(*k) > w) w = strlen(*k);
  for (const char *const *k = keys; *k; k++) {
    json_t *v = json_object_get(obj, *k);
    if (!v) continue;
    char text[4096];
    fmt_value(v, text, sizeof text);
    printf("%-*s  %s\n", (int)w + 1, *k, text);
  }
}

void cli_print_resource(json_t *res) {
  static const char *const keys[] = {"resource_id", "label", "owner", "created_at", "policy", "allow", "shards", "seq", NULL};
  cli_print_kv(res, keys);
}

static void address_of(json_t *rec, char *out, size_t len) {
  char host[1024] = "", first[600] = "";
  cli_escape(json_string_value(json_object_get(rec, "host")), host, sizeof host);
  json_int_t port = json_integer_value(json_object_get(rec, "port"));
  cli_escape(json_string_value(json_array_get(json_object_get(rec, "addresses"), 0)), first, sizeof first);
  if (*host && port) snprintf(out, len, "%s:%lld", host, (long long)port);
  else if (*host) snprintf(out, len, "%s", host);
  else if (*first) snprintf(out, len, "%s", first);
  else if (port) snprintf(out, len, ":%lld", (long long)port);
  else snprintf(out, len, "-");
}

void cli_print_record(json_t *rec) {
  static const char *const keys[] = {"resource_id", "service_id", "peer_id", "host", "port",
                                     "addresses", "type", "tags", "metadata", "issued_at",
                                     "expires_at", "seq", "health", NULL};
  cli_print_kv(rec, keys);
}

/* ---- tables ---------------------------------------------------------------------------- */

typedef struct table {
  int cols;
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

void cli_print_records_table(json_t *records, bool with_lease) {
  size_t i, n = json_array_size(records);
  json_t *rec;
  if (!n) {
    printf("no records\n");
    return;
  }
  table t = {.cols = 7};
  if (with_lease) {
    const char *h[] = {"RESOURCE_ID", "SERVICE_ID", "ADDRESS", "TYPE", "TTL", "LEASE", "EXPIRES_IN"};
    table_add(&t, h);
  } else {
    const char *h[] = {"SERVICE_ID", "PEER", "ADDRESS", "TYPE", "TAGS", "EXPIRES_IN", "HEALTH"};
    table_add(&t, h);
  }
  long long now = (long long)time(NULL);
  json_array_foreach(records, i, rec) {
    char addr[300], type[128], tags[1200], exp[32], peer[16], ttl[24], rid[64];
    address_of(rec, addr, sizeof addr);
    fmt_value(json_object_get(rec, "type"), type, sizeof type);
    fmt_value(json_object_get(rec, "tags"), tags, sizeof tags);
    cli_fmt_duration((long long)json_integer_value(json_object_get(rec, "expires_at")) - now, exp, sizeof exp);
    const char *sid = json_string_value(json_object_get(rec, "service_id"));
    const char *pid = json_string_value(json_object_get(rec, "peer_id"));
    snprintf(peer, sizeof peer, "%.12s", pid ? pid : "-");
    if (with_lease) {
      fmt_value(json_object_get(rec, "ttl"), ttl, sizeof ttl);
      fmt_value(json_object_get(rec, "resource_id"), rid, sizeof rid);
      const char *row[] = {rid, sid, addr, type, ttl,
                           json_is_true(json_object_get(rec, "lease")) ? "yes" : "no", exp};
      table_add(&t, row);
    } else {
      const char *health = json_string_value(json_object_get(rec, "health"));
      const char *row[] = {sid, peer, addr, type, tags, exp, health ? health : "-"};
      table_add(&t, row);
    }
  }
  table_print(&t);
  printf("%zu record%s\n", n, n == 1 ? "" : "s");
}

void cli_print_resources_table(json_t *resources) {
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
    const char *row[] = {json_string_value(json_object_get(r, "resource_id")),
                         json_string_value(json_object_get(r, "label")),
                         json_string_value(json_object_get(r, "policy"))};
    table_add(&t, row);
  }
  table_print(&t);
}

void cli_print_status(json_t *info) {
  static const char *const keys[] = {"peer_id", "version", "port", "network", "private", "uptime_s", "connected",
                                     "peers", "advertised", NULL};
  cli_print_kv(info, keys);
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

void cli_print_event(json_t *params) {
  json_t *rec = json_object_get(params, "record");
  char addr[300], ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  address_of(rec, addr, sizeof addr);
  char type[64], sid[600], pid[64];
  cli_escape(json_string_value(json_object_get(params, "type")), type, sizeof type);
  cli_escape(json_string_value(json_object_get(rec, "service_id")), sid, sizeof sid);
  cli_escape(json_string_value(json_object_get(rec, "peer_id")), pid, sizeof pid);
  printf("%s %-10s %s %.12s %s\n", ts, *type ? type : "?", *sid ? sid : "-", *pid ? pid : "-", addr);
}
