/* persist.c - the node's own entries on disk: a checksummed journal, group-committed off the loop, compacted into a snapshot
 *
 * Files in the data dir:
 *   state.snap  the state at the last compaction (written atomically)
 *   state.log   changes since, appended
 * Both are sequences of frames: u32be length, 8-byte BLAKE2b of the payload,
 * the payload. A payload is one op: u8 op, u8 lease, u32be ttl, [u16be
 * shard, for ops 5, 6 and 7,] u32be entry length, the signed entry (resource,
 * record or tombstone), [for op 7, the advertisement's health check, to the
 * end (check_spec.c)]; ops 1 and 2, a record or tombstone without its
 * shard (as an older node wrote them), load into shard 0; op 5 is a record
 * without a check (as every record was before checks). Loading replays
 * the snapshot, then the journal; the newest seq of each entry wins, as in
 * the DHT. A torn frame at the end of the journal (a crash mid-write) is cut
 * off; anything else unreadable is an error that names the file.
 *
 * Writes never block the loop: ops are appended to a buffer; dr_node_sync
 * queues a job on libuv's threadpool that writes the buffer and fsyncs, and
 * every sync requested meanwhile rides on the next job (group commit).
 *
 * A change a client asked for is written before it takes effect (change.c):
 * when the write fails (a full disk, a read-only remount), the client is
 * answered with the error and nothing of it happens anywhere. A failed
 * append is cut off the journal again, so no frame of a refused change is
 * ever replayed. The node's own changes of the same time (renewals,
 * collections) already took effect in memory, so after a failure the next
 * write is a compaction: a snapshot of the state in memory plus whatever
 * was logged since. The node retries it every second by itself, and says in
 * the log, node.info and its readiness that it cannot write until it can.
 */
#include "node/node_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRAME_MAX 8192
#define SUM_LEN 8
#define COMPACT_MIN (1u << 20)

enum { OP_AD = 1, OP_TOMB = 2, OP_DROP = 3, OP_RES = 4, OP_AD_AT = 5, OP_TOMB_AT = 6, OP_AD_CHECK = 7 };

typedef struct waiter {
  struct waiter *next;
  void (*cb)(void *ctx, int err);
  void *ctx;
} waiter;

#define BUF_KEEP (64 * 1024) /* a write buffer larger than this is freed once written */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

struct dr_persist {
  dr_node *n;
  char *log_path, *snap_path;
  int fd;               /* state.log, O_APPEND */
  buf pending;          /* ops not yet handed to a job */
  waiter *waiting;      /* syncs asked for since the last job started */
  waiter **waiting_tail;
  bool busy;            /* a job is on the threadpool */
  size_t log_size;
  int error;            /* the last write failed with this (0: writes work) */
  uint64_t failing_since; /* Unix seconds, while error */
  uint64_t warned_ms, retry_ms; /* uv_now() of the last warning and retry */
  bool must_compact;    /* a write failed: the next job writes a whole snapshot */
  uv_work_t work;
  /* the job under way */
  buf job_data;
  bool job_compact;
  waiter *job_waiters;
  int job_err;
  void (*closed)(dr_node *n); /* set by close while a job is under way */
};

static int buf_add(buf *b, const void *p, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) return -ENOMEM;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, len);
  b->len += len;
  return 0;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The payload's header: 12 bytes for the ops that carry a shard, else 10. */
static size_t head_len(uint8_t op) {
  return op == OP_AD_AT || op == OP_TOMB_AT || op == OP_AD_CHECK ? 12 : 10;
}

/* A frame of op; check (op 7 only) follows the entry. */
static int add_frame_check(buf *b, uint8_t op, bool lease, uint32_t ttl, uint32_t shard,
                           const uint8_t *data, size_t len, const dr_check_spec *check) {
  uint8_t head[4 + SUM_LEN], payload[12 + DR_ENTRY_MAX + DR_CHECK_ENCODED_MAX];
  size_t hl = head_len(op);
  int clen = 0;
  if (len > DR_ENTRY_MAX + DR_ID_LEN + DR_NAME_MAX) return -EMSGSIZE;
  if (check && (clen = dr__check_encode(check, payload + hl + len, sizeof payload - hl - len)) < 0) return clen;
  payload[0] = op;
  payload[1] = lease;
  put32(payload + 2, ttl);
  if (hl == 12) {
    payload[6] = (uint8_t)(shard >> 8);
    payload[7] = (uint8_t)shard;
  }
  put32(payload + hl - 4, (uint32_t)len);
  memcpy(payload + hl, data, len);
  size_t total = hl + len + (size_t)clen;
  put32(head, (uint32_t)total);
  crypto_generichash(head + 4, SUM_LEN, payload, total, NULL, 0);
  int r = buf_add(b, head, sizeof head);
  return r < 0 ? r : buf_add(b, payload, total);
}

static int add_frame(buf *b, uint8_t op, bool lease, uint32_t ttl, uint32_t shard,
                     const uint8_t *data, size_t len) {
  return add_frame_check(b, op, lease, ttl, shard, data, len, NULL);
}

/* A record's frame: op 7 with its check, op 5 without. */
static int add_record(buf *b, bool lease, uint32_t ttl, uint32_t shard, const dr_entry *e,
                      const struct dr_check *check) {
  return add_frame_check(b, check ? OP_AD_CHECK : OP_AD_AT, lease, ttl, shard, e->raw, e->raw_len,
                         check ? dr__check_spec(check) : NULL);
}

/* ---- logging changes ------------------------------------------------------------ */

/* r: what adding a frame to the pending ops gave */
static void logged(dr_node *n, int r) {
  if (r >= 0) return;
  /* the state in memory has it: the next write is a whole snapshot */
  DR_ERROR(&n->log, "cannot record a change of state: out of memory");
  n->persist->must_compact = true;
}

static void log_op(dr_node *n, uint8_t op, bool lease, uint32_t ttl, uint32_t shard, const uint8_t *d,
                   size_t len) {
  if (n->persist) logged(n, add_frame(&n->persist->pending, op, lease, ttl, shard, d, len));
}

static void log_record(dr_node *n, bool lease, uint32_t ttl, uint32_t shard, const dr_entry *e,
                       const struct dr_check *check) {
  if (n->persist) logged(n, add_record(&n->persist->pending, lease, ttl, shard, e, check));
}

void dr__persist_ad(dr_node *n, const own_ad *ad) {
  if (ad->withdrawn && !ad->kept) log_op(n, OP_TOMB_AT, false, 0, ad->shard, ad->tomb->e.raw, ad->tomb->e.raw_len);
  else log_record(n, ad->lease, ad->ttl, ad->shard, &ad->rec, ad->check);
}

void dr__persist_drop(dr_node *n, const uint8_t *key, size_t klen) {
  log_op(n, OP_DROP, false, 0, 0, key, klen);
}

void dr__persist_change(dr_node *n, const dr_change *c) {
  switch (c->kind) {
  case DR_CH_RESOURCE: log_op(n, OP_RES, false, 0, 0, c->e.raw, c->e.raw_len); break;
  case DR_CH_ADVERTISE: log_record(n, c->lease, c->ttl, c->shard, &c->e, c->check); break;
  case DR_CH_RENEW: {
    const own_ad *ad = dr_map_get(&n->ads, c->key, c->klen); /* its check stays */
    log_record(n, c->lease, c->ttl, c->shard, &c->e, ad ? ad->check : NULL);
    break;
  }
  case DR_CH_WITHDRAW: log_op(n, OP_TOMB_AT, false, 0, c->shard, c->e.raw, c->e.raw_len); break;
  }
}

/* The whole state as frames, for a compaction. */
static int snapshot(dr_node *n, buf *b) {
  size_t i;
  int r = 0;
  for (dr_map_item *it = dr_map_next(&n->resources, NULL, &i); it && !r; it = dr_map_next(&n->resources, it, &i))
    r = add_frame(b, OP_RES, false, 0, 0, ((own_resource *)it->value)->entry.raw,
                  ((own_resource *)it->value)->entry.raw_len);
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &i); it && !r; it = dr_map_next(&n->ads, it, &i)) {
    const own_ad *ad = it->value;
    /* one the stopping node withdrew is a record still: the next start
     * re-signs it (a compaction may run while the node stops) */
    r = ad->withdrawn && !ad->kept ? add_frame(b, OP_TOMB_AT, false, 0, ad->shard, ad->tomb->e.raw, ad->tomb->e.raw_len)
                      : add_record(b, ad->lease, ad->ttl, ad->shard, &ad->rec, ad->check);
  }
  return r;
}

/* ---- the job: on libuv's threadpool ----------------------------------------------- */

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static void job_run(uv_work_t *w) {
  struct dr_persist *p = w->data;
  if (p->job_compact) {
    /* a new snapshot holds everything: then the journal starts over */
    p->job_err = dr_write_file_atomic(p->snap_path, p->job_data.p, p->job_data.len, 0600);
    if (!p->job_err && ftruncate(p->fd, 0) < 0) p->job_err = -errno;
    if (!p->job_err && fsync(p->fd) < 0) p->job_err = -errno;
  } else {
    p->job_err = write_all(p->fd, p->job_data.p, p->job_data.len);
    if (!p->job_err && fdatasync(p->fd) < 0) p->job_err = -errno;
    /* what was written of a failed append must not be replayed: cut it off
     * (this works on a full disk; where it cannot, the next successful
     * write, a compaction, empties the journal) */
    if (p->job_err && ftruncate(p->fd, (off_t)p->log_size) == 0) fdatasync(p->fd);
  }
}

static void start_job(struct dr_persist *p);

static void job_done(uv_work_t *w, int status) {
  struct dr_persist *p = w->data;
  int err = status < 0 ? status : p->job_err;
  dr_node *n = p->n;
  uint64_t now_ms = uv_now(n->loop);
  if (err) {
    if (!p->error) {
      DR_ERROR(&n->log, "cannot write the node's state (%s): %s; advertise, renew, withdraw and "
               "create fail, and nothing of them takes effect, until it can (retrying every second)",
               p->job_compact ? p->snap_path : p->log_path, strerror(-err));
      p->failing_since = dr_now();
      p->warned_ms = now_ms;
    } else if (now_ms >= p->warned_ms + 60000) {
      DR_WARN(&n->log, "still cannot write the node's state: %s (for %llu s)", strerror(-err),
              (unsigned long long)(dr_now() - p->failing_since));
      p->warned_ms = now_ms;
    }
    p->error = err;
    p->must_compact = true;
  } else {
    if (p->error)
      DR_INFO(&n->log, "the node's state is written again (after %llu s of failures)",
              (unsigned long long)(dr_now() - p->failing_since));
    if (p->job_compact) p->must_compact = false;
    p->error = 0;
    p->log_size = p->job_compact ? 0 : p->log_size + p->job_data.len;
  }
  p->job_data.len = 0;
  /* a burst grew the buffers: give their memory back once it is over */
  if (p->job_data.cap > BUF_KEEP) {
    free(p->job_data.p);
    p->job_data = (buf){0};
  }
  if (p->pending.len == 0 && p->pending.cap > BUF_KEEP) {
    free(p->pending.p);
    p->pending = (buf){0};
  }
  p->busy = false;
  waiter *wt = p->job_waiters;
  p->job_waiters = NULL;
  while (wt) {
    waiter *next = wt->next;
    wt->cb(wt->ctx, err);
    free(wt);
    wt = next;
  }
  if (p->closed) {
    void (*closed)(dr_node *) = p->closed;
    p->closed = NULL;
    dr__persist_close(n, closed);
    return;
  }
  /* a waiter's callback may have asked for a sync, which started the next
   * job already: one uv_work_t is queued once at a time */
  if (p->waiting && !p->busy) start_job(p);
}

static void start_job(struct dr_persist *p) {
  dr_node *n = p->n;
  buf tmp = p->job_data;
  p->job_compact = p->must_compact ||
                   (p->log_size + p->pending.len > COMPACT_MIN &&
                    p->log_size + p->pending.len > 2 * (n->resources.count + n->ads.count) * 700);
  if (p->job_compact) {
    /* the state in memory, then what was logged since: changes that take
     * effect once written are not in memory yet */
    tmp.len = 0;
    if (snapshot(n, &tmp) < 0 || buf_add(&tmp, p->pending.p, p->pending.len) < 0) {
      tmp.len = 0;
      p->job_compact = false;
    } else {
      p->pending.len = 0;
    }
  }
  if (!p->job_compact) {
    /* swap buffers: the job writes what is pending, new ops go to the other */
    tmp = p->pending;
    p->pending = p->job_data;
    p->pending.len = 0;
  }
  p->job_data = tmp;
  p->job_waiters = p->waiting;
  p->waiting = NULL;
  p->waiting_tail = &p->waiting;
  p->busy = true;
  p->work.data = p;
  if (uv_queue_work(n->loop, &p->work, job_run, job_done) < 0) {
    p->job_err = -EIO;
    job_done(&p->work, 0);
  }
}

void dr_node_sync(dr_node *n, void (*cb)(void *ctx, int err), void *ctx) {
  struct dr_persist *p = n->persist;
  if (!p) {
    cb(ctx, 0);
    return;
  }
  waiter *w = malloc(sizeof *w);
  if (!w) {
    cb(ctx, -ENOMEM);
    return;
  }
  w->next = NULL;
  w->cb = cb;
  w->ctx = ctx;
  *p->waiting_tail = w;
  p->waiting_tail = &w->next;
  if (!p->busy) start_job(p);
}

static void retried(void *ctx, int err) {
  (void)ctx;
  (void)err;
}

void dr__persist_tick(dr_node *n) {
  struct dr_persist *p = n->persist;
  uint64_t now_ms = uv_now(n->loop);
  if (!p || !p->error || p->busy || n->stopping || now_ms < p->retry_ms + 1000) return;
  p->retry_ms = now_ms;
  dr_node_sync(n, retried, NULL);
}

void dr__persist_status(const dr_node *n, dr_persist_status *st) {
  const struct dr_persist *p = n->persist;
  memset(st, 0, sizeof *st);
  st->enabled = p != NULL;
  if (p && p->error) {
    st->error = -p->error;
    st->since = p->failing_since;
  }
}

/* ---- loading ------------------------------------------------------------------ */

static int apply_op(dr_node *n, uint8_t op, bool lease, uint32_t ttl, uint32_t shard, const uint8_t *d,
                    size_t dlen, const dr_check_spec *check);

/* Applies one op to the node's maps. Entries are verified as if read from
 * the DHT, and must be this node's own. */
static int apply(dr_node *n, const uint8_t *pl, size_t len) {
  if (len < 10) return -EINVAL;
  uint8_t op = pl[0];
  size_t hl = head_len(op);
  /* op 7: the check follows the entry; the others end with it */
  if (len < hl || (op == OP_AD_CHECK ? get32(pl + hl - 4) >= len - hl : get32(pl + hl - 4) != len - hl))
    return -EINVAL;
  bool lease = pl[1] != 0;
  uint32_t ttl = get32(pl + 2);
  uint32_t shard = hl == 12 ? (uint32_t)pl[6] << 8 | pl[7] : 0;
  const uint8_t *d = pl + hl;
  size_t dlen = get32(pl + hl - 4);
  dr_check_spec spec = {0};
  bool has_check = op == OP_AD_CHECK;
  if (has_check && dr__check_decode(d + dlen, len - hl - dlen, &spec) < 0) return -EINVAL;
  if (op == OP_AD_CHECK) op = OP_AD_AT;
  int r = apply_op(n, op, lease, ttl, shard, d, dlen, has_check ? &spec : NULL);
  dr_check_spec_clear(&spec);
  return r;
}

/* apply()'s op, its header read; check: a record's (op 7), or NULL. */
static int apply_op(dr_node *n, uint8_t op, bool lease, uint32_t ttl, uint32_t shard, const uint8_t *d,
                    size_t dlen, const dr_check_spec *check) {
  if (op == OP_AD_AT) op = OP_AD;
  if (op == OP_TOMB_AT) op = OP_TOMB;
  if (op < OP_AD || op > OP_RES || shard >= DR_SHARDS_MAX) return -EINVAL;
  uint8_t key[DR_ID_LEN + DR_NAME_MAX];
  if (op == OP_DROP) {
    if (dlen > sizeof key) return -EINVAL;
    own_ad *ad = dr_map_del(&n->ads, d, dlen);
    if (ad) dr__ad_free(n, ad);
    return 0;
  }
  dr_entry e;
  if (dr_entry_decode(d, dlen, &e) != DR_REJ_NONE) return -EINVAL;
  if (memcmp(e.issuer, n->id.pk, DR_ID_LEN) != 0 ||
      (op == OP_RES) != (e.kind == DR_KIND_RESOURCE) || (op == OP_AD) != (e.kind == DR_KIND_RECORD) ||
      (op == OP_AD && (ttl < 1 || ttl > DR_TTL_MAX))) {
    dr_entry_clear(&e);
    return -EINVAL;
  }
  if (e.seq > n->last_seq) n->last_seq = e.seq;
  dr__clock_own(n, &e);
  if (op == OP_RES) {
    own_resource *res = dr_map_get(&n->resources, e.rid, DR_ID_LEN);
    if (!res) {
      if (!(res = calloc(1, sizeof *res)) || dr_map_put(&n->resources, e.rid, DR_ID_LEN, res, NULL) < 0) {
        free(res);
        dr_entry_clear(&e);
        return -ENOMEM;
      }
    } else if (res->entry.seq >= e.seq) {
      dr_entry_clear(&e);
      return 0;
    }
    dr_entry_clear(&res->entry);
    res->entry = e;
    return 0;
  }
  size_t klen = dr__ad_key(key, e.rid, e.name);
  own_ad *ad = dr_map_get(&n->ads, key, klen);
  if (!ad) {
    if (!(ad = calloc(1, sizeof *ad)) || dr_map_put(&n->ads, key, klen, ad, NULL) < 0) {
      free(ad);
      dr_entry_clear(&e);
      return -ENOMEM;
    }
  }
  uint64_t tomb_seq = ad->tomb ? ad->tomb->e.seq : 0;
  if (op == OP_AD) {
    if (ad->rec.seq >= e.seq || tomb_seq >= e.seq) {
      dr_entry_clear(&e);
      return 0;
    }
    struct dr_check *chk = check ? dr__check_new(check) : NULL;
    if (check && !chk) {
      dr_entry_clear(&e);
      return -ENOMEM;
    }
    dr_entry_clear(&ad->rec);
    dr__side_free(n, &ad->tomb);
    dr__check_free(ad->check);
    ad->check = chk;
    ad->rec = e;
    ad->withdrawn = false;
    ad->lease = lease;
    ad->ttl = ttl;
    ad->shard = shard;
  } else {
    if (ad->rec.seq >= e.seq || tomb_seq >= e.seq) {
      dr_entry_clear(&e);
      return 0;
    }
    dr__side_free(n, &ad->tomb);
    if (!(ad->tomb = dr__side_new(&e))) return -ENOMEM;
    ad->withdrawn = true;
    ad->shard = shard;
  }
  return 0;
}

/* Replays one file. Returns the length of its good prefix in *good, or a
 * negative errno when a frame before the end is bad. */
static int replay(dr_node *n, const char *path, bool tail_may_tear, off_t *good, char *err,
                  size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *good = 0;
  if (fd < 0) return errno == ENOENT ? 0 : -errno;
  uint8_t head[4 + SUM_LEN], pl[FRAME_MAX], sum[SUM_LEN];
  int r = 0;
  for (;;) {
    ssize_t got = read(fd, head, sizeof head);
    if (got == 0) break;
    uint32_t len = got == (ssize_t)sizeof head ? get32(head) : 0;
    bool torn = got != (ssize_t)sizeof head || len > FRAME_MAX || len < 10 ||
                read(fd, pl, len) != (ssize_t)len;
    if (!torn) {
      crypto_generichash(sum, SUM_LEN, pl, len, NULL, 0);
      torn = sodium_memcmp(sum, head + 4, SUM_LEN) != 0;
    }
    if (torn) {
      off_t end = lseek(fd, 0, SEEK_END);
      /* a crash can tear only the last frame of the journal */
      if (tail_may_tear && end - *good <= (off_t)(sizeof head + FRAME_MAX)) break;
      snprintf(err, errlen, "%s is corrupt at byte %lld; move it away to start without it", path,
               (long long)*good);
      r = -EINVAL;
      break;
    }
    if ((r = apply(n, pl, len)) < 0) {
      snprintf(err, errlen, "%s holds an entry that is not this node's or does not verify (byte %lld); "
               "move it away to start without it", path, (long long)*good);
      break;
    }
    *good += (off_t)(sizeof head + len);
  }
  close(fd);
  return r;
}

int dr__persist_open(dr_node *n, const char *dir, char *err, size_t errlen) {
  struct dr_persist *p = calloc(1, sizeof *p);
  char path[PATH_MAX];
  off_t good;
  int r = -ENOMEM;
  if (!p) goto fail;
  p->n = n;
  p->fd = -1;
  p->waiting_tail = &p->waiting;
  snprintf(path, sizeof path, "%s/state.log", dir);
  p->log_path = strdup(path);
  snprintf(path, sizeof path, "%s/state.snap", dir);
  p->snap_path = strdup(path);
  if (!p->log_path || !p->snap_path) goto fail;
  if ((r = replay(n, p->snap_path, false, &good, err, errlen)) < 0) goto fail;
  if ((r = replay(n, p->log_path, true, &good, err, errlen)) < 0) goto fail;
  p->fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (p->fd < 0) {
    r = -errno;
    snprintf(err, errlen, "cannot open %s: %s", p->log_path, strerror(errno));
    goto fail;
  }
  struct stat st;
  if (fstat(p->fd, &st) == 0 && st.st_size > good) {
    DR_WARN(&n->log, "%s: cut off a torn last write (%lld bytes)", p->log_path,
            (long long)(st.st_size - good));
    if (ftruncate(p->fd, good) < 0) DR_WARN(&n->log, "cannot truncate %s", p->log_path);
  }
  p->log_size = (size_t)good;
  n->persist = p;
  return 0;
fail:
  if (r == -ENOMEM && err[0] == '\0') snprintf(err, errlen, "out of memory");
  dr__own_free_all(n); /* what was loaded before the bad frame is dropped */
  if (p) {
    if (p->fd >= 0) close(p->fd);
    free(p->log_path);
    free(p->snap_path);
    free(p);
  }
  return r;
}

void dr__persist_close(dr_node *n, void (*closed)(dr_node *n)) {
  struct dr_persist *p = n->persist;
  if (!p) {
    closed(n);
    return;
  }
  if (p->busy) { /* the job on the threadpool finishes first */
    p->closed = closed;
    return;
  }
  /* what is still pending is written now: the loop is stopping anyway */
  int err = 0;
  if (p->pending.len) {
    if (p->must_compact) {
      buf all = {0};
      err = snapshot(n, &all);
      if (!err) err = buf_add(&all, p->pending.p, p->pending.len);
      if (!err) err = dr_write_file_atomic(p->snap_path, all.p, all.len, 0600);
      if (!err && ftruncate(p->fd, 0) < 0) err = -errno;
      free(all.p);
    } else {
      err = write_all(p->fd, p->pending.p, p->pending.len);
      if (!err && fdatasync(p->fd) < 0) err = -errno;
      if (err && ftruncate(p->fd, (off_t)p->log_size) == 0) fdatasync(p->fd);
    }
  }
  while (p->waiting) { /* syncs asked for at the very end */
    waiter *w = p->waiting;
    p->waiting = w->next;
    w->cb(w->ctx, err);
    free(w);
  }
  close(p->fd);
  free(p->pending.p);
  free(p->job_data.p);
  free(p->log_path);
  free(p->snap_path);
  free(p);
  n->persist = NULL;
  closed(n);
}
