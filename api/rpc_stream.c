/* rpc_stream.c - splits a byte stream into top-level JSON texts */
#include "api/rpc_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dr_rpc_stream_init(dr_rpc_stream *s, size_t max) {
  memset(s, 0, sizeof *s);
  s->max = max;
}

void dr_rpc_stream_free(dr_rpc_stream *s) {
  free(s->buf);
  memset(s, 0, sizeof *s);
}

/* Drops the bytes already handed out. */
static void compact(dr_rpc_stream *s) {
  size_t keep_from = s->in_value ? s->start : s->pos;
  if (keep_from == 0) return;
  memmove(s->buf, s->buf + keep_from, s->len - keep_from);
  s->len -= keep_from;
  s->pos -= keep_from;
  if (s->in_value) s->start = 0;
}

int dr_rpc_stream_feed(dr_rpc_stream *s, const char *data, size_t len) {
  if (len == 0) return 0; /* nothing to add (and no buffer yet to add it to) */
  compact(s);
  if (s->len + len > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + len) cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) return -ENOMEM;
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  return 0;
}

static bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

dr_stream_status dr_rpc_stream_next(dr_rpc_stream *s, const char **text, size_t *len) {
  while (s->pos < s->len) {
    char c = s->buf[s->pos];
    if (s->discarding) {
      s->pos++;
      if (c == '\n') s->discarding = false;
      continue;
    }
    if (!s->in_value) {
      if (is_ws(c)) {
        s->pos++;
        continue;
      }
      if (c != '{' && c != '[') {
        s->discarding = true;
        return DR_STREAM_GARBAGE;
      }
      s->in_value = true;
      s->start = s->pos;
      s->depth = 0;
    }
    s->pos++;
    if (s->in_str) {
      if (s->esc) s->esc = false;
      else if (c == '\\') s->esc = true;
      else if (c == '"') s->in_str = false;
    } else if (c == '"') {
      s->in_str = true;
    } else if (c == '{' || c == '[') {
      s->depth++;
    } else if (c == '}' || c == ']') {
      if (--s->depth == 0) {
        s->in_value = false;
        *text = s->buf + s->start;
        *len = s->pos - s->start;
        return DR_STREAM_VALUE;
      }
    }
    if (s->pos - s->start > s->max) return DR_STREAM_TOO_LARGE;
  }
  return DR_STREAM_NEED_MORE;
}

bool dr_rpc_stream_leftover(const dr_rpc_stream *s) {
  return s->in_value;
}
