/* test_stop_with_listen.c - a node stopped while it still listens (a pin, a watch) frees every listen */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "node/node.h"

static void on_event(void *ctx, uint64_t sub, dr_event_type type, const dr_entry *record) {
  (void)ctx;
  (void)sub;
  (void)type;
  (void)record;
}

static void on_stopped(void *ctx) {
  *(int *)ctx = 1;
}

/* Found by fuzz_rpc: the OpenDHT token of a listen still open when the
 * runner went away was dropped, not freed (LeakSanitizer in the ASan run). */
static void test_stop_with_listens(void **state) {
  uv_loop_t loop;
  dr_node *n;
  char err[256];
  uint8_t rid[DR_ID_LEN], rid2[DR_ID_LEN];
  uint64_t sub;
  int stopped = 0;
  assert_int_equal(dr_crypto_init(), 0);
  assert_int_equal(uv_loop_init(&loop), 0);
  dr_node_config cfg = {.ephemeral = true, .log_level = DR_LOG_ERROR};
  assert_int_equal(dr_node_start(&n, &loop, &cfg, err, sizeof err), 0);
  memset(rid, 7, sizeof rid);
  memset(rid2, 8, sizeof rid2);
  assert_int_equal(dr_node_pin(n, rid), 0);
  assert_int_equal(dr_node_watch(n, rid2, on_event, NULL, &sub), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  dr_node_stop(n, on_stopped, &stopped);
  while (!stopped) uv_run(&loop, UV_RUN_ONCE);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stop_with_listens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
