/* json_cache.c - the JSON text of entries, rendered once per version and kept while clients ask for it
 *
 * A cached resolve is mostly rendering: ids to base58, fields to JSON, JSON
 * to text. An entry's text depends on nothing but the entry, and a signed
 * entry's signature names its content, so the text is kept under (kind,
 * signature) and reused by every resolve until nobody has asked for it for
 * a minute. The cache is bounded in bytes; past that, texts are rendered
 * and not kept.
 */
#include "api/api_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_MS 60000               /* a text nobody asked for this long is dropped */
#define SWEEP_MS 10000              /* how often to look for such texts */
#define MAX_BYTES (32u << 20)       /* texts kept at most */

typedef struct cached {
  uint64_t used_ms;
  size_t len;
  char text[];
} cached;

struct dr_json_cache {
  dr_map map; /* kind || signature -> cached* */
  size_t bytes;
  uint64_t swept_ms;
};

int dr_text_add(dr_text *t, const char *s, size_t len) {
  if (t->len + len + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (t->len + len + 1 > cap) cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) return -ENOMEM;
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, len);
  t->len += len;
  t->p[t->len] = '\0';
  return 0;
}

dr_json_cache *dr_json_cache_new(void) {
  dr_json_cache *c = calloc(1, sizeof *c);
  if (c) dr_map_init(&c->map);
  return c;
}

typedef struct sweep_ctx {
  dr_json_cache *c;
  uint64_t older_than_ms;
} sweep_ctx;

static bool unused(void *value, void *ctx) {
  sweep_ctx *s = ctx;
  cached *v = value;
  if (v->used_ms >= s->older_than_ms) return false;
  s->c->bytes -= v->len;
  free(v);
  return true;
}

void dr_json_cache_free(dr_json_cache *c) {
  if (!c) return;
  size_t b;
  for (dr_map_item *it = dr_map_next(&c->map, NULL, &b); it; it = dr_map_next(&c->map, it, &b))
    free(it->value);
  dr_map_free(&c->map);
  free(c);
}

int dr_json_cache_append(dr_json_cache *c, const dr_entry *e, uint64_t now_ms, dr_text *out) {
  uint8_t key[1 + DR_SIG_LEN];
  key[0] = (uint8_t)e->kind;
  memcpy(key + 1, e->sig, DR_SIG_LEN);
  cached *v = dr_map_get(&c->map, key, sizeof key);
  if (v) {
    v->used_ms = now_ms;
    return dr_text_add(out, v->text, v->len);
  }
  if (now_ms >= c->swept_ms + SWEEP_MS) {
    c->swept_ms = now_ms;
    if (now_ms > KEEP_MS) dr_map_remove_if(&c->map, unused, &(sweep_ctx){c, now_ms - KEEP_MS});
  }
  json_t *j = e->kind == DR_KIND_RESOURCE ? dr_json_resource(e) : dr_json_record(e);
  char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!text) return -ENOMEM;
  size_t len = strlen(text);
  int r = dr_text_add(out, text, len);
  if (r == 0 && c->bytes + len <= MAX_BYTES && (v = malloc(sizeof *v + len + 1))) {
    v->used_ms = now_ms;
    v->len = len;
    memcpy(v->text, text, len + 1);
    if (dr_map_put(&c->map, key, sizeof key, v, NULL) < 0) free(v);
    else c->bytes += len;
  }
  free(text);
  return r;
}
