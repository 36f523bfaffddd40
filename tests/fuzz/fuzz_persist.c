/* fuzz_persist.c - libFuzzer target: loading a node's state files (node/persist.c: state.snap, then state.log)
 *
 * The input becomes state.snap and/or state.log in a temporary data dir and
 * dr__persist_open loads it into a node set up as dr_node_start sets it up
 * (a fixed identity), and torn down as dr_node_start does on failure, or as
 * dr_node_stop does after a successful load. The first byte says how:
 *   0  the rest is state.log          1  the rest is state.snap
 *   2  u16be n, then n bytes of state.snap, the rest state.log
 *   3  the rest is a list of [u8 file (bit 0: snap), u16be len, payload]:
 *      each payload framed here with its length and checksum, so the
 *      fuzzer reaches the ops behind the checksums
 * Checks, besides the sanitizers: a failed load says why (err); a loaded
 * state holds only this node's entries, and loads again, the same, from
 * what the first load left on disk (a torn tail cut off).
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/node_private.h"

#define FRAME_SUM_LEN 8 /* persist.c's frame: u32be length, 8-byte BLAKE2b, payload */

static char dir[64], snap_path[128], log_path[128];
static const uint8_t seed[DR_SEED_LEN] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                          16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void die(const char *what) {
  fprintf(stderr, "fuzz_persist: %s\n", what);
  abort();
}

static void cleanup(void) {
  unlink(snap_path);
  unlink(log_path);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (dr_crypto_init() < 0) die("dr_crypto_init");
  snprintf(dir, sizeof dir, "/tmp/fuzz_persist.XXXXXX");
  if (!mkdtemp(dir)) die("mkdtemp");
  snprintf(snap_path, sizeof snap_path, "%s/state.snap", dir);
  snprintf(log_path, sizeof log_path, "%s/state.log", dir);
  atexit(cleanup);
  return 0;
}

typedef struct buf {
  uint8_t *p;
  size_t len;
} buf;

static void add(buf *b, const void *p, size_t len) {
  uint8_t *np = realloc(b->p, b->len + len + 1);
  if (!np) die("out of memory");
  b->p = np;
  if (len) memcpy(b->p + b->len, p, len);
  b->len += len;
}

static void add_frame(buf *b, const uint8_t *payload, size_t len) {
  uint8_t head[4 + FRAME_SUM_LEN];
  head[0] = (uint8_t)(len >> 24);
  head[1] = (uint8_t)(len >> 16);
  head[2] = (uint8_t)(len >> 8);
  head[3] = (uint8_t)len;
  crypto_generichash(head + 4, FRAME_SUM_LEN, payload, len, NULL, 0);
  add(b, head, sizeof head);
  add(b, payload, len);
}

static void write_file(const char *path, const buf *b, bool present) {
  unlink(path);
  if (!present) return;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create a state file");
  if (b->len && write(fd, b->p, b->len) != (ssize_t)b->len) die("cannot write a state file");
  close(fd);
}

/* As dr_node_start sets a node up before it loads its state. */
static dr_node *node_new(void) {
  dr_node *n = calloc(1, sizeof *n);
  if (!n) die("out of memory");
  n->log.level = DR_LOG_ERROR;
  snprintf(n->log.name, sizeof n->log.name, "fuzz");
  dr_map_init(&n->resources);
  dr_map_init(&n->ads);
  dr_map_init(&n->caches);
  dr_map_init(&n->subs);
  dr_identity_from_seed(&n->id, seed);
  return n;
}

/* As dr_node_start's error path frees it. */
static void node_free_failed(dr_node *n) {
  sodium_memzero(&n->id, sizeof n->id);
  dr_map_free(&n->resources);
  dr_map_free(&n->ads);
  free(n);
}

static void on_closed(dr_node *n) {
  (void)n;
}

/* As dr_node_stop frees it once the DHT is closed. */
static void node_free_loaded(dr_node *n) {
  dr__persist_close(n, on_closed);
  if (n->persist) die("persist not closed");
  dr__own_free_all(n);
  dr_map_free(&n->caches);
  dr_map_free(&n->subs);
  free(n);
}

static void check_loaded(const dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &b); it; it = dr_map_next(&n->resources, it, &b)) {
    const own_resource *r = it->value;
    if (r->entry.kind != DR_KIND_RESOURCE || memcmp(r->entry.issuer, n->id.pk, DR_ID_LEN) ||
        memcmp(r->entry.rid, it->key, DR_ID_LEN) || !r->entry.raw)
      die("a loaded resource is not this node's");
  }
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    const own_ad *ad = it->value;
    if (ad->withdrawn && !ad->tomb) die("a loaded withdrawn advertisement has no tombstone");
    const dr_entry *e = ad->withdrawn ? &ad->tomb->e : &ad->rec;
    if (e->kind != (ad->withdrawn ? DR_KIND_TOMBSTONE : DR_KIND_RECORD) || !e->raw ||
        memcmp(e->issuer, n->id.pk, DR_ID_LEN))
      die("a loaded advertisement is not this node's");
    if (!ad->withdrawn && (ad->ttl < 1 || ad->ttl > DR_TTL_MAX)) die("a loaded advertisement has a bad ttl");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  buf snap = {0}, log = {0};
  bool have_snap = false, have_log = false;
  if (size < 1) return 0;
  uint8_t mode = data[0] % 4;
  data++;
  size--;
  if (mode == 0) {
    add(&log, data, size);
    have_log = true;
  } else if (mode == 1) {
    add(&snap, data, size);
    have_snap = true;
  } else if (mode == 2) {
    size_t n = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
    data += size >= 2 ? 2 : size;
    size -= size >= 2 ? 2 : size;
    if (n > size) n = size;
    add(&snap, data, n);
    add(&log, data + n, size - n);
    have_snap = have_log = true;
  } else {
    while (size >= 3) {
      bool to_snap = data[0] & 1;
      size_t len = (size_t)data[1] << 8 | data[2];
      data += 3;
      size -= 3;
      if (len > size) len = size;
      add_frame(to_snap ? &snap : &log, data, len);
      if (to_snap) have_snap = true;
      else have_log = true;
      data += len;
      size -= len;
    }
  }
  write_file(snap_path, &snap, have_snap);
  write_file(log_path, &log, have_log);
  free(snap.p);
  free(log.p);

  char err[512] = "";
  dr_node *n = node_new();
  int r = dr__persist_open(n, dir, err, sizeof err);
  if (getenv("FUZZ_VERBOSE")) /* for triage: what became of this input */
    fprintf(stderr, "fuzz_persist: %s (%zu resources, %zu advertisements)\n", r < 0 ? err : "loaded",
            n->resources.count, n->ads.count);
  if (r < 0) {
    if (!err[0]) die("a failed load gave no reason");
    node_free_failed(n);
  } else {
    if (r != 0 || !n->persist) die("a load returned something odd");
    check_loaded(n);
    size_t resources = n->resources.count, ads = n->ads.count;
    uint64_t last_seq = n->last_seq;
    node_free_loaded(n);
    /* what the load left on disk loads again, to the same state */
    n = node_new();
    if (dr__persist_open(n, dir, err, sizeof err) < 0) {
      fprintf(stderr, "fuzz_persist: a loaded state does not load again: %s\n", err);
      abort();
    }
    if (n->resources.count != resources || n->ads.count != ads || n->last_seq != last_seq)
      die("a loaded state loads again to another state");
    node_free_loaded(n);
  }
  return 0;
}
