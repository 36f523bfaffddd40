/* test_rpc_stream.c - splitting a JSON-RPC byte stream into requests, however it is written */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/rpc_stream.h"

/* Feeds text in chunks of size step and collects the texts handed out,
 * separated by '|', garbage as '#'. */
static void split(const char *text, size_t step, size_t max, char *out, size_t cap) {
  dr_rpc_stream s;
  dr_rpc_stream_init(&s, max);
  out[0] = '\0';
  size_t len = strlen(text);
  for (size_t off = 0; off < len; off += step) {
    size_t n = len - off < step ? len - off : step;
    assert_int_equal(dr_rpc_stream_feed(&s, text + off, n), 0);
    const char *v;
    size_t vlen;
    dr_stream_status st;
    while ((st = dr_rpc_stream_next(&s, &v, &vlen)) != DR_STREAM_NEED_MORE) {
      if (st == DR_STREAM_VALUE) strncat(out, v, vlen);
      else if (st == DR_STREAM_GARBAGE) strcat(out, "#");
      else {
        strcat(out, "!");
        dr_rpc_stream_free(&s);
        return;
      }
      strcat(out, "|");
      assert_true(strlen(out) < cap);
    }
  }
  if (dr_rpc_stream_leftover(&s)) strcat(out, "...");
  dr_rpc_stream_free(&s);
}

static void test_back_to_back(void **state) {
  char out[512];
  for (size_t step = 1; step <= 40; step++) {
    split("{\"a\":1}{\"b\":[2,{}]}\n\n  [{\"c\":3}]\r\n", step, 1024, out, sizeof out);
    assert_string_equal(out, "{\"a\":1}|{\"b\":[2,{}]}|[{\"c\":3}]|");
  }
}

static void test_strings_with_brackets(void **state) {
  char out[512];
  const char *t = "{\"a\":\"}{][\\\"\\\\\"}{\"b\":\"\\\\\"}";
  for (size_t step = 1; step <= 8; step++) {
    split(t, step, 1024, out, sizeof out);
    assert_string_equal(out, "{\"a\":\"}{][\\\"\\\\\"}|{\"b\":\"\\\\\"}|");
  }
}

static void test_garbage_skips_a_line(void **state) {
  char out[512];
  split("hello {\"x\":1}\n{\"a\":1} 42\n{\"b\":2}", 3, 1024, out, sizeof out);
  assert_string_equal(out, "#|{\"a\":1}|#|{\"b\":2}|");
}

static void test_too_large_and_leftover(void **state) {
  char out[512];
  split("{\"a\":\"0123456789012345678901234567890123456789\"}", 5, 20, out, sizeof out);
  assert_string_equal(out, "!");
  split("{\"a\":1}{\"b\":", 4, 1024, out, sizeof out);
  assert_string_equal(out, "{\"a\":1}|...");
  split("{\"a\":1}  \n", 4, 1024, out, sizeof out);
  assert_string_equal(out, "{\"a\":1}|");
}

/* Found by fuzz_rpc: feeding nothing to a fresh stream added a zero offset
 * to its NULL buffer (undefined behaviour). */
static void test_empty_feed(void **state) {
  dr_rpc_stream s;
  const char *v;
  size_t vlen;
  dr_rpc_stream_init(&s, 1024);
  assert_int_equal(dr_rpc_stream_feed(&s, "", 0), 0);
  assert_int_equal(dr_rpc_stream_next(&s, &v, &vlen), DR_STREAM_NEED_MORE);
  assert_int_equal(dr_rpc_stream_feed(&s, "{}", 2), 0);
  assert_int_equal(dr_rpc_stream_feed(&s, NULL, 0), 0);
  assert_int_equal(dr_rpc_stream_next(&s, &v, &vlen), DR_STREAM_VALUE);
  assert_int_equal(vlen, 2);
  assert_false(dr_rpc_stream_leftover(&s));
  dr_rpc_stream_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_back_to_back),
      cmocka_unit_test(test_strings_with_brackets),
      cmocka_unit_test(test_garbage_skips_a_line),
      cmocka_unit_test(test_too_large_and_leftover),
      cmocka_unit_test(test_empty_feed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
