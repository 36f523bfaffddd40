/* names.c - names files (alias = peer id) and LABEL@OWNER references to resources (see names.h) */
#include "api/names.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int code, char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

size_t dr_names_search_path(const char *names_env, const char *home,
                            char paths[DR_NAMES_FILES_MAX][DR_NAMES_PATH_MAX]) {
  size_t n = 0;
  int len;
  if (names_env && *names_env) {
    len = snprintf(paths[n], DR_NAMES_PATH_MAX, "%s", names_env);
    if (len > 0 && len < DR_NAMES_PATH_MAX) n++;
  }
  if (home && *home) {
    len = snprintf(paths[n], DR_NAMES_PATH_MAX, "%s/.dhtreg/names", home);
    if (len > 0 && len < DR_NAMES_PATH_MAX) n++;
  }
  snprintf(paths[n++], DR_NAMES_PATH_MAX, "/etc/dhtreg/names");
  return n;
}

int dr_names_alias_valid(const char *s) {
  size_t n = 0;
  if (!s) return 0;
  for (; s[n]; n++) {
    char c = s[n];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok || n >= DR_NAMES_ALIAS_MAX) return 0;
  }
  return n > 0;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
  return s;
}

enum { LINE_EMPTY, LINE_OK, LINE_BAD };

/* Parses one line (modified in place) into e->alias and e->peer. LINE_BAD
 * sets *why, and e->alias when the alias itself is well-formed (so that a
 * lookup of it can say its line is broken). */
static int parse_line(char *line, dr_names_entry *e, const char **why) {
  char *hash = strchr(line, '#');
  if (hash) *hash = '\0';
  char *s = trim(line);
  e->alias[0] = '\0';
  if (!*s) return LINE_EMPTY;
  char *eq = strchr(s, '=');
  if (!eq) {
    *why = "not 'alias = PEER_ID'";
    return LINE_BAD;
  }
  *eq = '\0';
  char *alias = trim(s), *value = trim(eq + 1);
  if (!dr_names_alias_valid(alias)) {
    *why = "the alias is not 1-64 of A-Z a-z 0-9 . _ -";
    return LINE_BAD;
  }
  snprintf(e->alias, sizeof e->alias, "%s", alias);
  if (dr_id_decode(value, e->peer) < 0) {
    *why = "not a peer id (base58 of 32 bytes)";
    return LINE_BAD;
  }
  return LINE_OK;
}

/* Walks one file: 0 at its end, 1 when it stopped (cb returned *stop
 * non-zero, or a lookup met the broken line naming its alias: *bad_line),
 * or a negative errno when the file exists but cannot be read (bad told).
 * For a lookup, want is the alias, and only lines naming it count. */
static int walk_file(const char *path, const char *want, dr_names_cb cb, dr_names_bad_cb bad, void *ctx,
                     int *stop, const char **bad_why, unsigned *bad_line) {
  FILE *f = fopen(path, "re");
  if (!f) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return 0;
    if (bad) bad(ctx, path, 0, strerror(e));
    return -e;
  }
  char buf[DR_NAMES_LINE_MAX];
  unsigned line = 0;
  int r = 0;
  bool in_long_line = false;
  while (fgets(buf, sizeof buf, f)) {
    size_t len = strlen(buf);
    bool whole = len && buf[len - 1] == '\n';
    if (in_long_line) { /* the rest of a line too long: skipped with it */
      in_long_line = !whole;
      continue;
    }
    line++;
    dr_names_entry e = {.file = path, .line = line};
    const char *why = NULL;
    int kind;
    if (!whole && !feof(f)) {
      in_long_line = true;
      kind = LINE_BAD;
      why = "longer than 1023 bytes";
    } else {
      kind = parse_line(buf, &e, &why);
    }
    if (kind == LINE_EMPTY) continue;
    if (want && strcmp(e.alias, want) != 0) continue;
    if (kind == LINE_BAD) {
      if (bad) bad(ctx, path, line, why);
      if (!want) continue;
      *bad_why = why;
      *bad_line = line;
      r = 1;
      break;
    }
    if ((*stop = cb(ctx, &e)) != 0) {
      r = 1;
      break;
    }
  }
  if (r == 0 && ferror(f)) {
    r = -EIO;
    if (bad) bad(ctx, path, 0, strerror(EIO));
  }
  fclose(f);
  return r;
}

int dr_names_each(const char *const *files, size_t n_files, dr_names_cb cb,
                  dr_names_bad_cb bad, void *ctx) {
  for (size_t i = 0; i < n_files; i++) {
    int stop = 0;
    if (walk_file(files[i], NULL, cb, bad, ctx, &stop, NULL, NULL) == 1) return stop;
  }
  return 0;
}

static int take_first(void *ctx, const dr_names_entry *e) {
  *(dr_names_entry *)ctx = *e;
  return 1;
}

int dr_names_lookup(const char *const *files, size_t n_files, const char *alias,
                    dr_names_entry *out, char *err, size_t errlen) {
  if (!dr_names_alias_valid(alias))
    return fail(-EINVAL, err, errlen, "'%.80s' is not an alias (1-64 of A-Z a-z 0-9 . _ -)", alias ? alias : "");
  for (size_t i = 0; i < n_files; i++) {
    int stop = 0;
    const char *why = NULL;
    unsigned line = 0;
    int r = walk_file(files[i], alias, take_first, NULL, out, &stop, &why, &line);
    if (r < 0) return fail(r, err, errlen, "cannot read %s: %s", files[i], strerror(-r));
    if (r == 1 && why) return fail(-EBADMSG, err, errlen, "%s:%u: the line of '%s' is broken: %s", files[i], line, alias, why);
    if (r == 1) return 0;
  }
  size_t used = (size_t)snprintf(err, errlen, "no alias '%s' in the names files (", alias);
  for (size_t i = 0; i < n_files && used < errlen; i++)
    used += (size_t)snprintf(err + used, errlen - used, "%s%s", i ? ", " : "", files[i]);
  if (used < errlen) snprintf(err + used, errlen - used, ")");
  return -ENOENT;
}

int dr_names_owner(const char *const *files, size_t n_files, const char *owner,
                   uint8_t peer[DR_ID_LEN], char *err, size_t errlen) {
  if (dr_id_decode(owner, peer) == 0) return 0;
  if (!dr_names_alias_valid(owner))
    return fail(-EINVAL, err, errlen, "'%.80s' is neither a peer id nor an alias", owner ? owner : "");
  dr_names_entry e;
  int r = dr_names_lookup(files, n_files, owner, &e, err, errlen);
  if (r == 0) memcpy(peer, e.peer, DR_ID_LEN);
  return r;
}

int dr_names_split(const char *ref, char label[DR_NAME_MAX + 1], const char **owner,
                   char *err, size_t errlen) {
  const char *at = ref ? strrchr(ref, '@') : NULL;
  if (!at) return fail(-EINVAL, err, errlen, "'%.80s' is not LABEL@OWNER", ref ? ref : "");
  size_t n = (size_t)(at - ref);
  if (!at[1]) return fail(-EINVAL, err, errlen, "'%.80s' names no owner after its '@'", ref);
  if (n == 0 || n > DR_NAME_MAX)
    return fail(-EINVAL, err, errlen, "the label of '%.80s' is not 1-128 bytes", ref);
  if (!dr_text_valid(ref, n))
    return fail(-EINVAL, err, errlen, "the label of '%.80s' is not UTF-8 or holds a control character", ref);
  memcpy(label, ref, n);
  label[n] = '\0';
  *owner = at + 1;
  return 0;
}

int dr_names_resource(const char *const *files, size_t n_files, const char *ref,
                      uint8_t rid[DR_ID_LEN], char *err, size_t errlen) {
  char label[DR_NAME_MAX + 1];
  const char *owner;
  uint8_t peer[DR_ID_LEN];
  if (!ref) return fail(-EINVAL, err, errlen, "no resource given");
  if (!strchr(ref, '@')) {
    if (dr_id_decode(ref, rid) == 0) return 0;
    return fail(-EINVAL, err, errlen,
                "'%.80s' is not a resource id (base58 of 32 bytes), LABEL@ALIAS nor LABEL@PEER_ID", ref);
  }
  int r = dr_names_split(ref, label, &owner, err, errlen);
  if (r == 0) r = dr_names_owner(files, n_files, owner, peer, err, errlen);
  if (r == 0) dr_resource_id(rid, peer, label, strlen(label));
  return r;
}
