/* test_persist_load.c - a state file that stops the node halfway through loading leaves nothing behind */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "node/node.h"

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* node/persist.c's frame: u32be length, 8-byte BLAKE2b of the payload, the
 * payload (u8 op, u8 lease, u32be ttl, u32be entry length, the entry) */
static size_t frame(uint8_t *out, uint8_t op, const uint8_t *entry, size_t len) {
  uint8_t *pl = out + 12;
  size_t n = 10 + len;
  memset(pl, 0, 10);
  pl[0] = op;
  pl[6] = (uint8_t)(len >> 24);
  pl[7] = (uint8_t)(len >> 16);
  pl[8] = (uint8_t)(len >> 8);
  pl[9] = (uint8_t)len;
  memcpy(pl + 10, entry, len);
  out[0] = (uint8_t)(n >> 24);
  out[1] = (uint8_t)(n >> 16);
  out[2] = (uint8_t)(n >> 8);
  out[3] = (uint8_t)n;
  crypto_generichash(out + 4, 8, pl, n, NULL, 0);
  return 12 + n;
}

/* Found by fuzz_persist: the entries loaded before a bad frame of
 * state.snap were never freed when the node refused to start (the ASan
 * run's LeakSanitizer fails this test if they leak again). */
static void test_bad_frame_after_good_ones(void **state) {
  char dir[] = "/tmp/test_persist_load.XXXXXX", path[256], err[512] = "";
  uint8_t seed[DR_SEED_LEN], snap[16384];
  char hex[2 * DR_SEED_LEN + 2];
  dr_identity id;
  size_t len = 0;
  assert_int_equal(dr_crypto_init(), 0);
  assert_non_null(mkdtemp(dir));
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i;
  dr_identity_from_seed(&id, seed);
  sodium_bin2hex(hex, sizeof hex, seed, sizeof seed);
  strcat(hex, "\n");
  snprintf(path, sizeof path, "%s/identity.key", dir);
  assert_int_equal(dr_write_file_atomic(path, hex, strlen(hex), 0600), 0);

  const char *labels[] = {"web", "db", "cache"};
  for (int i = 0; i < 3; i++) {
    dr_entry e = {.kind = DR_KIND_RESOURCE, .seq = 1, .issued_at = 1700000000};
    e.name = strdup(labels[i]);
    dr_resource_id(e.rid, id.pk, e.name, strlen(e.name));
    assert_int_equal(dr_entry_sign(&e, &id, NULL, NULL), 0);
    len += frame(snap + len, 4 /* a resource */, e.raw, e.raw_len);
    dr_entry_clear(&e);
  }
  memcpy(snap + len, "not a frame at all", 18);
  snprintf(path, sizeof path, "%s/state.snap", dir);
  write_file(path, snap, len + 18);

  uv_loop_t loop;
  dr_node *n = NULL;
  assert_int_equal(uv_loop_init(&loop), 0);
  dr_node_config cfg = {.data_dir = dir, .log_level = DR_LOG_ERROR};
  assert_true(dr_node_start(&n, &loop, &cfg, err, sizeof err) < 0);
  assert_non_null(strstr(err, "state.snap"));
  assert_int_equal(uv_loop_close(&loop), 0);

  unlink(path);
  snprintf(path, sizeof path, "%s/identity.key", dir);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_frame_after_good_ones),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
