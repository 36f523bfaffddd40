/* merge.c - the read-side merge rule (highest seq wins, tombstones hide) */
#include "node/merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dr_merge_cmp(const dr_entry *a, const dr_entry *b) {
  if (a->seq != b->seq) return a->seq > b->seq ? 1 : -1;
  if (a->kind != b->kind) {
    if (a->kind == DR_KIND_TOMBSTONE) return 1;
    if (b->kind == DR_KIND_TOMBSTONE) return -1;
  }
  return memcmp(a->sig, b->sig, DR_SIG_LEN);
}

void dr_merge_init(dr_merge *m, const uint8_t rid[DR_ID_LEN]) {
  memset(m, 0, sizeof *m);
  memcpy(m->rid, rid, DR_ID_LEN);
  dr_map_init(&m->winners);
}

static void entry_free(dr_entry *e) {
  if (!e) return;
  dr_entry_clear(e);
  free(e);
}

void dr_merge_free(dr_merge *m) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&m->winners, NULL, &b); it;
       it = dr_map_next(&m->winners, it, &b))
    entry_free(it->value);
  dr_map_free(&m->winners);
  entry_free(m->resource);
  free(m->out);
  m->resource = NULL;
  m->out = NULL;
}

size_t dr_merge_key(uint8_t key[DR_ID_LEN + DR_NAME_MAX], const dr_entry *e) {
  size_t len = strlen(e->name);
  memcpy(key, e->issuer, DR_ID_LEN);
  memcpy(key + DR_ID_LEN, e->name, len);
  return DR_ID_LEN + len;
}

int dr_merge_offer(dr_merge *m, dr_entry *e) {
  dr_entry *mine = malloc(sizeof *mine);
  if (!mine) {
    dr_entry_clear(e);
    return -ENOMEM;
  }
  *mine = *e;
  memset(e, 0, sizeof *e);
  if (mine->kind == DR_KIND_RESOURCE) {
    if (m->resource && dr_merge_cmp(mine, m->resource) <= 0) {
      entry_free(mine);
      return 0;
    }
    entry_free(m->resource);
    m->resource = mine;
    return 1;
  }
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  size_t klen = dr_merge_key(key, mine);
  dr_entry *cur = dr_map_get(&m->winners, key, klen);
  if (cur && dr_merge_cmp(mine, cur) <= 0) {
    entry_free(mine);
    return 0;
  }
  if (dr_map_put(&m->winners, key, klen, mine, NULL) < 0) {
    entry_free(mine);
    return -ENOMEM;
  }
  entry_free(cur);
  return 1;
}

int dr_merge_allowed(const dr_entry *res, const uint8_t issuer[DR_ID_LEN]) {
  if (!res || res->policy == DR_POLICY_OPEN) return 1;
  if (memcmp(res->issuer, issuer, DR_ID_LEN) == 0) return 1;
  for (size_t i = 0; i < res->n_allow; i++)
    if (memcmp(res->allow[i], issuer, DR_ID_LEN) == 0) return 1;
  return 0;
}

static int by_service_then_issuer(const void *pa, const void *pb) {
  const dr_entry *a = *(const dr_entry *const *)pa, *b = *(const dr_entry *const *)pb;
  int c = strcmp(a->name, b->name);
  return c ? c : memcmp(a->issuer, b->issuer, DR_ID_LEN);
}

size_t dr_merge_records(dr_merge *m, uint64_t now, size_t limit, const dr_entry ***out,
                        size_t *forbidden) {
  size_t n = 0, b;
  *forbidden = 0;
  free(m->out);
  m->out = malloc((m->winners.count ? m->winners.count : 1) * sizeof *m->out);
  *out = m->out;
  if (!m->out) return 0;
  for (dr_map_item *it = dr_map_next(&m->winners, NULL, &b); it;
       it = dr_map_next(&m->winners, it, &b)) {
    const dr_entry *e = it->value;
    if (e->kind != DR_KIND_RECORD || e->expires_at <= now) continue;
    if (!dr_merge_allowed(m->resource, e->issuer)) {
      (*forbidden)++;
      continue;
    }
    m->out[n++] = e;
  }
  qsort(m->out, n, sizeof *m->out, by_service_then_issuer);
  return n < limit ? n : limit;
}

bool dr_merge_has_newer(const dr_merge *m, const dr_entry *e) {
  if (e->kind == DR_KIND_RESOURCE) return m->resource && m->resource->seq > e->seq;
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  const dr_entry *w = dr_map_get(&m->winners, key, dr_merge_key(key, e));
  return w && w->seq > e->seq;
}
