/* map.h - a hash map from byte-string keys to pointers (keyed SipHash, chained) */
#ifndef DR_MAP_H
#define DR_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dr_map_item {
  struct dr_map_item *next;
  void *value;
  uint64_t hash;
  size_t key_len;
  uint8_t key[];
} dr_map_item;

/* The hash key is random per map, so peers cannot choose colliding keys. */
typedef struct dr_map {
  dr_map_item **buckets;
  size_t n_buckets; /* a power of two, or 0 before the first insert */
  size_t count;
  uint8_t sipkey[16];
} dr_map;

void dr_map_init(dr_map *m);

/* Frees the map's own memory; values are the caller's (free them first, for
 * example with dr_map_foreach). */
void dr_map_free(dr_map *m);

void *dr_map_get(const dr_map *m, const void *key, size_t len);

/* Inserts or replaces. Returns 0, or -ENOMEM with the map unchanged. When a
 * value was replaced, *old (if not NULL) receives it; else NULL. */
int dr_map_put(dr_map *m, const void *key, size_t len, void *value, void **old);

/* Removes and returns the value, or NULL. */
void *dr_map_del(dr_map *m, const void *key, size_t len);

/* Iteration: for (it = dr_map_next(m, NULL, &b); it; it = dr_map_next(m, it, &b))
 * Do not insert while iterating; removing the current item is not allowed
 * either (collect keys first, or use dr_map_remove_if). */
dr_map_item *dr_map_next(const dr_map *m, dr_map_item *it, size_t *bucket);

/* Removes every item for which drop(value, ctx) returns true, in one walk;
 * drop disposes of the value (drop must not touch the map). Returns how many
 * were removed. */
size_t dr_map_remove_if(dr_map *m, bool (*drop)(void *value, void *ctx), void *ctx);

#endif
