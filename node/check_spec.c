/* check_spec.c - what a health check is: its validation, its copies, its encoding in the data dir */
#include "node/node_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BAD(f, w)        \
  do {                   \
    pe->field = (f);     \
    pe->why = (w);       \
    return -EINVAL;      \
  } while (0)

const char *dr_check_kind_name(dr_check_kind k) {
  switch (k) {
  case DR_CHECK_TCP: return "tcp";
  case DR_CHECK_HTTP: return "http";
  case DR_CHECK_EXEC: return "exec";
  }
  return "?";
}

int dr__check_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                  const char **authority, size_t *authority_len, const char **path) {
  static const char scheme[] = "http://";
  if (strncmp(url, scheme, sizeof scheme - 1) != 0) return -EINVAL;
  const char *a = url + sizeof scheme - 1;
  size_t alen = strcspn(a, "/?#");
  char hp[300];
  if (alen == 0 || alen + 4 >= sizeof hp || memchr(a, '@', alen)) return -EINVAL;
  memcpy(hp, a, alen);
  hp[alen] = '\0';
  /* no port: 80 (a bracketed IPv6 address alone, or a name) */
  bool has_port = hp[0] == '[' ? strstr(hp, "]:") != NULL : strchr(hp, ':') != NULL;
  if (!has_port) {
    size_t hl = alen;
    const char *h = hp;
    if (hp[0] == '[') {
      if (hp[alen - 1] != ']' || alen < 3) return -EINVAL;
      h = hp + 1;
      hl = alen - 2;
    }
    if (hl >= hostlen || portlen < 3) return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, "80", 3);
  } else if (dr_split_hostport(hp, host, hostlen, port, portlen) < 0) {
    return -EINVAL;
  }
  *authority = a;
  *authority_len = alen;
  *path = a[alen] == '/' ? a + alen : "/";
  return a[alen] && a[alen] != '/' ? -EINVAL : 0; /* a query or fragment needs a path first */
}

/* Printable text that fits in an HTTP request line: no control character, no space. */
static bool url_chars_ok(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || *s == 0x7f) return false;
  return true;
}

static int check_range(uint32_t *v, uint32_t def, uint32_t max, const char *field, const char *why,
                       dr_param_error *pe) {
  if (!*v) *v = def;
  if (*v > max) BAD(field, why);
  return 0;
}

int dr_check_spec_validate(dr_check_spec *s, dr_param_error *pe) {
  char host[256], port[8];
  const char *auth, *path;
  size_t alen, total = 0;
  switch (s->kind) {
  case DR_CHECK_TCP:
    if (!s->target || !*s->target) BAD("check.tcp", "must be HOST:PORT");
    if (strlen(s->target) > DR_CHECK_TARGET_MAX || !dr_text_valid(s->target, strlen(s->target)) ||
        dr_split_hostport(s->target, host, sizeof host, port, sizeof port) < 0)
      BAD("check.tcp", "must be HOST:PORT (a port 1-65535; IPv6 as [ADDR]:PORT)");
    break;
  case DR_CHECK_HTTP:
    if (!s->target) BAD("check.http", "must be a URL http://HOST[:PORT][/PATH]");
    if (strncmp(s->target, "https:", 6) == 0)
      BAD("check.http", "https is not supported: a plain http:// URL (or an exec check running curl)");
    if (strlen(s->target) > DR_CHECK_TARGET_MAX || !dr_text_valid(s->target, strlen(s->target)) ||
        !url_chars_ok(s->target) ||
        dr__check_url(s->target, host, sizeof host, port, sizeof port, &auth, &alen, &path) < 0)
      BAD("check.http", "must be a URL http://HOST[:PORT][/PATH] (a port 1-65535, no spaces)");
    break;
  case DR_CHECK_EXEC:
    if (s->argc < 1 || s->argc > DR_CHECK_ARGS_MAX)
      BAD("check.exec", "must be an array of 1-32 strings: the program and its arguments");
    for (size_t i = 0; i < s->argc; i++) {
      size_t len = s->argv[i] ? strlen(s->argv[i]) : 0;
      if ((i == 0 && len == 0) || !dr_text_valid(s->argv[i] ? s->argv[i] : "", len))
        BAD("check.exec", "the program must be named, and no argument may hold a control character");
      total += len;
    }
    if (total > DR_CHECK_ARGV_BYTES) BAD("check.exec", "longer than 2048 bytes in all");
    break;
  default:
    BAD("check", "must be an object with one of tcp, http or exec");
  }
  if (check_range(&s->interval_s, DR_CHECK_INTERVAL_DEFAULT, 86400, "check.interval",
                  "must be between 1 and 86400 seconds", pe) < 0 ||
      check_range(&s->timeout_s, DR_CHECK_TIMEOUT_DEFAULT, 3600, "check.timeout",
                  "must be between 1 and 3600 seconds", pe) < 0 ||
      check_range(&s->failures, DR_CHECK_FAILURES_DEFAULT, 100, "check.failures",
                  "must be between 1 and 100", pe) < 0 ||
      check_range(&s->passes, DR_CHECK_PASSES_DEFAULT, 100, "check.passes", "must be between 1 and 100", pe) < 0)
    return -EINVAL;
  return 0;
}

void dr_check_spec_clear(dr_check_spec *s) {
  free(s->target);
  for (size_t i = 0; s->argv && i < s->argc; i++) free(s->argv[i]);
  free(s->argv);
  memset(s, 0, sizeof *s);
}

int dr_check_spec_copy(dr_check_spec *dst, const dr_check_spec *src) {
  *dst = *src;
  dst->target = NULL;
  dst->argv = NULL;
  dst->argc = 0;
  if (src->target && !(dst->target = strdup(src->target))) goto fail;
  if (src->argc) {
    /* NULL-terminated, as uv_spawn takes it */
    if (!(dst->argv = calloc(src->argc + 1, sizeof *dst->argv))) goto fail;
    for (; dst->argc < src->argc; dst->argc++)
      if (!(dst->argv[dst->argc] = strdup(src->argv[dst->argc] ? src->argv[dst->argc] : ""))) goto fail;
  }
  return 0;
fail:
  dr_check_spec_clear(dst);
  return -ENOMEM;
}

/* ---- in the data dir ---------------------------------------------------------------
 * u8 version (1), u8 kind, u32be interval, u32be timeout, u16be failures,
 * u16be passes, u8 count, then count strings (u16be length, bytes): the
 * target of tcp and http, the argv of exec. */

static void put_be(uint8_t *p, uint32_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint32_t get_be(const uint8_t *p, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | p[i];
  return v;
}

int dr__check_encode(const dr_check_spec *s, uint8_t *out, size_t cap) {
  size_t n = 15, count = s->kind == DR_CHECK_EXEC ? s->argc : 1;
  if (cap < n || count > DR_CHECK_ARGS_MAX) return -EMSGSIZE;
  out[0] = 1;
  out[1] = (uint8_t)s->kind;
  put_be(out + 2, s->interval_s, 4);
  put_be(out + 6, s->timeout_s, 4);
  put_be(out + 10, s->failures, 2);
  put_be(out + 12, s->passes, 2);
  out[14] = (uint8_t)count;
  for (size_t i = 0; i < count; i++) {
    const char *str = s->kind == DR_CHECK_EXEC ? s->argv[i] : s->target;
    size_t len = str ? strlen(str) : 0;
    if (len > DR_CHECK_ARGV_BYTES || n + 2 + len > cap) return -EMSGSIZE;
    put_be(out + n, (uint32_t)len, 2);
    memcpy(out + n + 2, str ? str : "", len);
    n += 2 + len;
  }
  return (int)n;
}

int dr__check_decode(const uint8_t *p, size_t len, dr_check_spec *out) {
  dr_param_error pe;
  memset(out, 0, sizeof *out);
  if (len < 15 || len > DR_CHECK_ENCODED_MAX || p[0] != 1 || p[1] < DR_CHECK_TCP || p[1] > DR_CHECK_EXEC)
    return -EINVAL;
  out->kind = (dr_check_kind)p[1];
  out->interval_s = get_be(p + 2, 4);
  out->timeout_s = get_be(p + 6, 4);
  out->failures = get_be(p + 10, 2);
  out->passes = get_be(p + 12, 2);
  size_t count = p[14], at = 15;
  if (count < 1 || count > DR_CHECK_ARGS_MAX || (out->kind != DR_CHECK_EXEC && count != 1)) return -EINVAL;
  if (out->kind == DR_CHECK_EXEC && !(out->argv = calloc(count + 1, sizeof *out->argv))) return -EINVAL;
  for (size_t i = 0; i < count; i++) {
    if (len - at < 2) goto fail;
    size_t sl = get_be(p + at, 2);
    at += 2;
    if (len - at < sl) goto fail;
    char *str = malloc(sl + 1);
    if (!str) goto fail;
    memcpy(str, p + at, sl);
    str[sl] = '\0';
    at += sl;
    if (strlen(str) != sl) { /* a NUL inside */
      free(str);
      goto fail;
    }
    if (out->kind == DR_CHECK_EXEC) out->argv[out->argc++] = str;
    else out->target = str;
  }
  if (at != len || out->interval_s == 0 || out->timeout_s == 0 || out->failures == 0 || out->passes == 0 ||
      dr_check_spec_validate(out, &pe) < 0)
    goto fail;
  return 0;
fail:
  dr_check_spec_clear(out);
  return -EINVAL;
}
