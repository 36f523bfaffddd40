/* test_map.c - dr_map_remove_if: removes exactly what the predicate drops, in one walk, and the map stays usable */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "node/map.h"

#define N 1000

static bool drop_odd(void *value, void *ctx) {
  int *v = value;
  if (*v % 2 == 0) return false;
  (*(int *)ctx)++;
  free(v);
  return true;
}

static bool drop_all(void *value, void *ctx) {
  (void)ctx;
  free(value);
  return true;
}

static void test_remove_if(void **state) {
  (void)state;
  dr_map m;
  dr_map_init(&m);
  for (int i = 0; i < N; i++) {
    int *v = malloc(sizeof *v);
    *v = i;
    assert_int_equal(dr_map_put(&m, &i, sizeof i, v, NULL), 0);
  }
  int freed = 0;
  assert_int_equal(dr_map_remove_if(&m, drop_odd, &freed), N / 2);
  assert_int_equal(freed, N / 2);
  assert_int_equal(m.count, N / 2);
  size_t b, walked = 0;
  for (dr_map_item *it = dr_map_next(&m, NULL, &b); it; it = dr_map_next(&m, it, &b)) walked++;
  assert_int_equal(walked, N / 2);
  for (int i = 0; i < N; i++) {
    int *v = dr_map_get(&m, &i, sizeof i);
    if (i % 2) assert_null(v);
    else assert_int_equal(*v, i);
  }
  /* still usable: a removed key goes back in */
  int one = 1, *v = malloc(sizeof *v);
  *v = 1;
  assert_int_equal(dr_map_put(&m, &one, sizeof one, v, NULL), 0);
  assert_int_equal(*(int *)dr_map_get(&m, &one, sizeof one), 1);
  assert_int_equal(dr_map_remove_if(&m, drop_all, NULL), N / 2 + 1);
  assert_int_equal(m.count, 0);
  dr_map_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_remove_if)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
