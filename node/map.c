/* map.c - a hash map from byte-string keys to pointers (keyed SipHash, chained) */
#include "node/map.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void dr_map_init(dr_map *m) {
  memset(m, 0, sizeof *m);
  randombytes_buf(m->sipkey, sizeof m->sipkey);
}

void dr_map_free(dr_map *m) {
  for (size_t i = 0; i < m->n_buckets; i++) {
    dr_map_item *it = m->buckets[i];
    while (it) {
      dr_map_item *next = it->next;
      free(it);
      it = next;
    }
  }
  free(m->buckets);
  m->buckets = NULL;
  m->n_buckets = m->count = 0;
}

static uint64_t hash_of(const dr_map *m, const void *key, size_t len) {
  uint8_t out[8];
  crypto_shorthash(out, key, len, m->sipkey);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}

static dr_map_item **find(const dr_map *m, const void *key, size_t len, uint64_t h) {
  if (!m->n_buckets) return NULL;
  dr_map_item **pp = &m->buckets[h & (m->n_buckets - 1)];
  while (*pp) {
    if ((*pp)->hash == h && (*pp)->key_len == len && memcmp((*pp)->key, key, len) == 0)
      return pp;
    pp = &(*pp)->next;
  }
  return pp;
}

void *dr_map_get(const dr_map *m, const void *key, size_t len) {
  dr_map_item **pp = find(m, key, len, hash_of(m, key, len));
  return pp && *pp ? (*pp)->value : NULL;
}

static int grow(dr_map *m) {
  size_t n = m->n_buckets ? m->n_buckets * 2 : 16;
  dr_map_item **b = calloc(n, sizeof *b);
  if (!b) return -ENOMEM;
  for (size_t i = 0; i < m->n_buckets; i++) {
    dr_map_item *it = m->buckets[i];
    while (it) {
      dr_map_item *next = it->next;
      it->next = b[it->hash & (n - 1)];
      b[it->hash & (n - 1)] = it;
      it = next;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->n_buckets = n;
  return 0;
}

int dr_map_put(dr_map *m, const void *key, size_t len, void *value, void **old) {
  uint64_t h = hash_of(m, key, len);
  if (old) *old = NULL;
  dr_map_item **pp = find(m, key, len, h);
  if (pp && *pp) {
    if (old) *old = (*pp)->value;
    (*pp)->value = value;
    return 0;
  }
  if (m->count + 1 > m->n_buckets) {
    if (grow(m) < 0) return -ENOMEM;
    pp = find(m, key, len, h);
  }
  dr_map_item *it = malloc(sizeof *it + len);
  if (!it) return -ENOMEM;
  it->next = NULL;
  it->value = value;
  it->hash = h;
  it->key_len = len;
  memcpy(it->key, key, len);
  *pp = it;
  m->count++;
  return 0;
}

void *dr_map_del(dr_map *m, const void *key, size_t len) {
  dr_map_item **pp = find(m, key, len, hash_of(m, key, len));
  if (!pp || !*pp) return NULL;
  dr_map_item *it = *pp;
  void *v = it->value;
  *pp = it->next;
  free(it);
  m->count--;
  /* shrink is left to dr_map_free: sizes follow the peak, as Redis dicts do
   * until resized */
  return v;
}

size_t dr_map_remove_if(dr_map *m, bool (*drop)(void *value, void *ctx), void *ctx) {
  size_t removed = 0;
  for (size_t b = 0; b < m->n_buckets; b++) {
    dr_map_item **pp = &m->buckets[b];
    while (*pp) {
      dr_map_item *it = *pp;
      if (!drop(it->value, ctx)) {
        pp = &it->next;
        continue;
      }
      *pp = it->next;
      free(it);
      removed++;
    }
  }
  m->count -= removed;
  return removed;
}

dr_map_item *dr_map_next(const dr_map *m, dr_map_item *it, size_t *bucket) {
  if (it && it->next) return it->next;
  size_t b = it ? *bucket + 1 : 0;
  for (; b < m->n_buckets; b++)
    if (m->buckets[b]) {
      *bucket = b;
      return m->buckets[b];
    }
  return NULL;
}
