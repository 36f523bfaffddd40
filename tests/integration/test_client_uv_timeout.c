/* test_client_uv_timeout.c - libdhtreg's libuv client: a call's timeout whose callback closes the client while newer calls are in flight (each told once, nothing touched after it was freed)
 *
 * The node is a fake that never answers. Call A is made, then B and C;
 * A's deadline passes first, and its callback does what a program giving
 * up does: it closes the client, which ends B and C. Under ASan this is
 * where the client once read a call it had just freed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* before uv.h: netdb.h, which it includes, has a macro named h_addr */
#include "tests/support/harness.h"

#include <uv.h>

#include "dhtreg/dhtreg_uv.h"

static dhtreg_uv *client;
static int told[3], errs[3], closed;

static void on_closed(void *ud) {
  (void)ud;
  closed++;
}

static void on_result(void *ud, int err, const char *msg, const char *res) {
  int i = (int)(intptr_t)ud;
  (void)msg;
  (void)res;
  told[i]++;
  errs[i] = err;
  if (i == 0 && err == -ETIMEDOUT) dhtreg_uv_close(client, on_closed, NULL);
}

static void later(uv_timer_t *t) {
  dhtreg_uv_call(client, "health", NULL, on_result, (void *)(intptr_t)1);
  dhtreg_uv_call(client, "node.info", NULL, on_result, (void *)(intptr_t)2);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_timeout_closes(void **state) {
  (void)state;
  char path[300];
  snprintf(path, sizeof path, "%s/mute.sock", h_tmpdir());
  h_fake_node(path, ""); /* reads a request, answers nothing */
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_timer_t t;
  for (int tries = 0; dhtreg_uv_open(&client, &loop, path) < 0; tries++) {
    if (tries > 100) fail_msg("cannot open the fake node's socket");
    uv_sleep(20);
  }
  dhtreg_uv_set_timeout(client, 300);
  assert_int_equal(dhtreg_uv_call(client, "health", NULL, on_result, (void *)(intptr_t)0), 0);
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, later, 100, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  for (int i = 0; i < 3; i++) {
    print_message("call %d: told %d time(s), error %d\n", i, told[i], errs[i]);
    assert_int_equal(told[i], 1);
    assert_true(errs[i] < 0);
  }
  assert_int_equal(errs[0], -ETIMEDOUT);
  assert_int_equal(closed, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_timeout_closes)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
