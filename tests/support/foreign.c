/* foreign.c - integration-test support: a plain OpenDHT node in the test process */
#include "tests/support/foreign.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <opendht/opendht_c.h>
#include <sodium.h>

#include "tests/support/harness.h"
#include "dht/opendht_shim.h"
#include "dht/dht.h" /* after harness.h: netdb.h, through uv.h, makes h_addr a macro */

struct h_foreign {
  dht_runner *runner;
};

/* What OpenDHT's thread hands back: a done flag and, for gets, the values. */
typedef struct op_wait {
  pthread_mutex_t lock;
  bool done, ok;
  h_raw_value *values;
  size_t n;
} op_wait;

static void on_done(bool ok, void *ud) {
  op_wait *w = ud;
  pthread_mutex_lock(&w->lock);
  w->done = true;
  w->ok = ok;
  pthread_mutex_unlock(&w->lock);
}

static bool finished(void *ud) {
  op_wait *w = ud;
  pthread_mutex_lock(&w->lock);
  bool d = w->done;
  pthread_mutex_unlock(&w->lock);
  return d;
}

static bool on_value(const dht_value *v, void *ud) {
  op_wait *w = ud;
  dht_data_view d = dht_value_get_data(v);
  pthread_mutex_lock(&w->lock);
  bool dup = false;
  for (size_t i = 0; i < w->n && !dup; i++)
    dup = w->values[i].len == d.size && memcmp(w->values[i].data, d.data, d.size) == 0;
  h_raw_value *grown = dup ? NULL : realloc(w->values, (w->n + 1) * sizeof *grown);
  if (grown) {
    w->values = grown;
    w->values[w->n].data = malloc(d.size ? d.size : 1);
    memcpy(w->values[w->n].data, d.data, d.size);
    w->values[w->n++].len = d.size;
  }
  pthread_mutex_unlock(&w->lock);
  return true;
}

static h_foreign *start(const char *bind4, const char *host, uint16_t bootstrap_port,
                        const uint8_t *node_id) {
  h_foreign *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->runner = dht_runner_new();
  dr__dht_run_cfg cfg = {.bind4 = bind4, .node_id = node_id, .max_store_bytes = 64 << 20};
  assert_int_equal(dr__dht_run(f->runner, &cfg), 0);
  char port[8];
  snprintf(port, sizeof port, "%u", bootstrap_port);
  dht_runner_bootstrap(f->runner, host, port);
  return f;
}

h_foreign *h_foreign_start(uint16_t bootstrap_port) {
  return start(NULL, "127.0.0.1", bootstrap_port, NULL);
}

h_foreign *h_foreign_start_at(const char *bind4, const char *host, uint16_t bootstrap_port) {
  return start(bind4, host[0] ? host : "127.0.0.1", bootstrap_port, NULL);
}

static int store_any(void *ud, const uint8_t key[20], const char *user_type, size_t ut_len,
                     const uint8_t *data, size_t len) {
  (void)ud, (void)key, (void)user_type, (void)ut_len, (void)data, (void)len;
  return 0;
}

static bool edit_any(void *ud, uint64_t id, const uint8_t *old, size_t old_len, const uint8_t *nw,
                     size_t new_len) {
  (void)ud, (void)id, (void)old, (void)old_len, (void)nw, (void)new_len;
  return true;
}

h_foreign *h_foreign_start_storer(const char *bind4, const char *host, uint16_t bootstrap_port,
                                  const uint8_t node_id[DR_DHT_KEY_LEN]) {
  h_foreign *f = start(bind4, host[0] ? host : "127.0.0.1", bootstrap_port, node_id);
  assert_int_equal(dr__dht_register_type(f->runner, DR_DHT_VALUE_TYPE, 600, store_any, edit_any, NULL), 0);
  return f;
}

typedef struct stats_wait {
  op_wait w;
  unsigned good;
} stats_wait;

static void on_stats(void *ud, unsigned good, unsigned dubious, unsigned searches) {
  stats_wait *sw = ud;
  (void)dubious;
  (void)searches;
  pthread_mutex_lock(&sw->w.lock);
  sw->good = good;
  pthread_mutex_unlock(&sw->w.lock);
  on_done(true, &sw->w);
}

unsigned h_foreign_peers(h_foreign *f) {
  stats_wait sw = {.w = {.lock = PTHREAD_MUTEX_INITIALIZER}};
  assert_int_equal(dr__dht_request_stats(f->runner, on_stats, &sw), 0);
  assert_true(h_wait_for(finished, &sw.w, 20000));
  pthread_mutex_lock(&sw.w.lock); /* OpenDHT's thread is done with sw */
  unsigned good = sw.good;
  pthread_mutex_unlock(&sw.w.lock);
  return good;
}

void h_foreign_stop(h_foreign *f) {
  if (!f) return;
  dht_runner_delete(f->runner);
  free(f);
}

static void on_put_done(void *ud, bool ok, const uint8_t (*nodes)[DR__NODE_ID_LEN], size_t n) {
  (void)nodes;
  (void)n;
  on_done(ok, ud);
}

void h_foreign_put_marked(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], const uint8_t *data,
                          size_t len, uint16_t type, const char *user_type) {
  dht_infohash h;
  memcpy(h.d, key, DR_DHT_KEY_LEN);
  for (int attempt = 0; attempt < 5; attempt++) {
    op_wait w = {.lock = PTHREAD_MUTEX_INITIALIZER};
    uint64_t id;
    randombytes_buf(&id, sizeof id);
    assert_int_equal(dr__dht_put(f->runner, &h, type, id | 1, 0, user_type, data, len, 0, on_put_done, &w), 0);
    assert_true(h_wait_for(finished, &w, 20000));
    if (w.ok) return;
  }
  fail_msg("the foreign node could not store a value");
}

void h_foreign_put_type(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], const uint8_t *data,
                        size_t len, uint16_t type) {
  h_foreign_put_marked(f, key, data, len, type, NULL);
}

void h_foreign_put(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], const uint8_t *data, size_t len) {
  h_foreign_put_type(f, key, data, len, DR_DHT_VALUE_TYPE);
}

size_t h_foreign_get(h_foreign *f, const uint8_t key[DR_DHT_KEY_LEN], h_raw_value **out) {
  dht_infohash h;
  memcpy(h.d, key, DR_DHT_KEY_LEN);
  op_wait w = {.lock = PTHREAD_MUTEX_INITIALIZER};
  dht_runner_get(f->runner, &h, on_value, on_done, &w);
  assert_true(h_wait_for(finished, &w, 20000));
  pthread_mutex_lock(&w.lock); /* OpenDHT's thread is done with w */
  pthread_mutex_unlock(&w.lock);
  *out = w.values;
  return w.n;
}

void h_raw_values_free(h_raw_value *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].data);
  free(v);
}
