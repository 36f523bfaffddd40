/* dht.c - OpenDHT runner, bounded operation queue, hand-off from OpenDHT's thread to libuv */
#include "dht/dht.h"
#include "dht/opendht_shim.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <opendht/opendht_c.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MAX_INFLIGHT 64
#define DEFAULT_MAX_QUEUED 1024
#define DEFAULT_MAX_STORE (256L << 20)
_Static_assert(DR__NODE_ID_LEN == DR_DHT_KEY_SIZE && DR__DONE_NODES_MAX == DR_DHT_NODES_MAX,
               "the shim reports node ids as dht.h describes them");
#define STORE_HEADROOM 10 /* percent of the storage limit new values may not take */
#define TARGET_NODES 8    /* the nodes an OpenDHT search settles on */
#define STATS_PERIOD_MS 500
#define MSG_STATS_PERIOD 2 /* in stats periods */
/* OpenDHT can leave a put acknowledged by every node of its search but
 * unreported until the search next steps, which may be minutes later. A
 * put in flight this long gets its search stepped, and again as often
 * while it stays in flight. */
#define NUDGE_MS 3000
#define NUDGE_MAX 16 /* searches stepped per stats period */
/* OpenDHT's shutdown hands the values this node stores to the nodes next
 * to it and says it is done once they confirm; a node stops within the 2 s
 * dhtregd promises, so that hand-off gets this long (storers keep what
 * they have, and every issuer puts its entries again anyway). */
#define SHUTDOWN_WAIT_MS 600
#define RCVBUF_BYTES (4 << 20)
#define PROBE_ID 1 /* a value id nobody uses: a get of it only finds nodes */

typedef enum op_type { OP_GET, OP_PUT, OP_LISTEN, OP_PING } op_type;
typedef enum op_state { OP_WAITING, OP_INFLIGHT, OP_SETTLED } op_state;

/* One operation. OpenDHT holds its address as user data and only ever
 * passes it back to us through the event queue; its fields are read and
 * written on the loop thread alone. It is freed on the loop once OpenDHT
 * will not call back with it any more: after a get's or put's done, after a
 * listen's end. */
typedef struct dr_dht_op {
  struct dr_dht_op *prev_wait, *next_wait; /* FIFO of operations not started */
  struct dr_dht_op *prev_live, *next_live; /* every operation not yet freed */
  struct dr_dht_op *prev_fly, *next_fly;   /* puts in flight, in launch order */
  dr_dht *d;
  op_type type;
  op_state state;
  bool cancelled; /* the owner let go: no more callbacks to it */
  bool probe;     /* a get that only asks for the key's nodes: never refused, never retried */
  bool retried;   /* a get asked again after an empty answer from too few nodes */
  bool resource;  /* puts: a resource entry; gets and listens: only those */
  size_t got;     /* values a get received */
  uint64_t nudge_at; /* puts: uv_now() when to step its search */
  uint64_t started_ns; /* uv_hrtime() at its first launch */
  uint64_t id;       /* puts: the value id; gets: the id asked for, 0: any */
  uint16_t seq;      /* puts: OpenDHT's seq of the value */
  unsigned age_s;    /* puts: how far in the past storers take it to be created */
  dht_infohash key;
  uint8_t *data; /* puts: the value */
  size_t len;
  dht_op_token *token; /* listens */
  dr_dht_value_cb on_value;
  dr_dht_done_cb on_done;
  dr_dht_listen_cb on_listen;
  dr_dht_ping_cb on_ping; /* pings (of a bootstrap address) */
  void *ctx;
} dr_dht_op;

struct dr_dht_putop {
  dr_dht_op op;
};
struct dr_dht_lookup {
  dr_dht_op op;
};
struct dr_dht_listen {
  dr_dht_op op;
};

typedef enum ev_kind { EV_VALUE, EV_DONE, EV_LISTEN_VALUE, EV_LISTEN_END, EV_STATS, EV_SHUTDOWN } ev_kind;

typedef struct event {
  struct event *next;
  ev_kind kind;
  dr_dht_op *op;
  bool flag; /* ok for EV_DONE, expired for EV_LISTEN_VALUE */
  unsigned good, dubious, searches;
  size_t len; /* of data: a value, or EV_DONE's node ids */
  uint8_t data[];
} event;

struct dr_dht {
  uv_loop_t *loop;
  dht_runner *runner;
  uv_async_t wake;
  uv_timer_t stats_timer;
  uv_timer_t shutdown_timer;
  unsigned handles_open;
  /* the hand-off queue: the only state both threads touch */
  pthread_mutex_t lock;
  event *q_head, *q_tail;
  /* what the policies on OpenDHT's thread read and count */
  int (*store_ok)(void *, const uint8_t *, int, const uint8_t *, size_t);
  bool (*edit_ok)(void *, uint64_t, const uint8_t *, size_t, const uint8_t *, size_t);
  void *policy_ctx;
  uint64_t store_full; /* stored bytes past which new values are refused */
  unsigned lifetime_s; /* of dhtreg's values on storers */
  _Atomic uint64_t stored_bytes; /* sampled with the message counts */
  _Atomic uint64_t refused_store[DR_DHT_STORE_REASONS];
  /* loop-thread state */
  dr_dht_op *wait_head, *wait_tail;
  dr_dht_op *live;
  dr_dht_op *fly_head, *fly_tail;
  size_t n_waiting, n_inflight, max_inflight;
  size_t n_listens; /* listens OpenDHT holds */
  size_t gets_waiting, max_queued; /* gets not started, and their bound */
  uint64_t refused;                /* gets refused for a full queue */
  uint64_t refused_logged_ms, refused_since_log;
  uint64_t nudges, retries;
  dr_latency lat_get, lat_put;
  unsigned good, dubious, searches;
  /* message counts, read off the loop (OpenDHT's lock) by a work request */
  uv_work_t msg_work;
  bool msg_work_busy, finish_after_work;
  unsigned stats_ticks;
  uint64_t sent[DR_DHT_MSG__COUNT], received[DR_DHT_MSG__COUNT];
  uint64_t w_sent[DR_DHT_MSG__COUNT], w_received[DR_DHT_MSG__COUNT];
  uint64_t store[2], w_store[2]; /* OpenDHT's storage: values, bytes */
  uint16_t port;
  bool closing, runner_gone;
  void (*close_done)(void *);
  void *close_ctx;
  void (*log)(void *, int, const char *);
  void *log_ctx;
};

static void dlog(dr_dht *d, int level, const char *fmt, ...) {
  if (!d->log) return;
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  d->log(d->log_ctx, level, buf);
}

/* ---- OpenDHT's thread: copy, enqueue, wake ------------------------------ */

static void enqueue_event(dr_dht *d, event *ev) {
  pthread_mutex_lock(&d->lock);
  if (d->q_tail) d->q_tail->next = ev;
  else d->q_head = ev;
  d->q_tail = ev;
  pthread_mutex_unlock(&d->lock);
  uv_async_send(&d->wake);
}

static event *event_new(ev_kind kind, dr_dht_op *op, bool flag, const void *data, size_t len) {
  event *ev = malloc(sizeof *ev + len);
  if (!ev) return NULL;
  memset(ev, 0, sizeof *ev);
  ev->kind = kind;
  ev->op = op;
  ev->flag = flag;
  ev->len = len;
  if (len) memcpy(ev->data, data, len);
  return ev;
}

static void push(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag, const uint8_t *data, size_t len) {
  event *ev = event_new(kind, op, flag, data, len);
  if (ev) enqueue_event(d, ev); /* out of memory: a lost value, as if its packet was lost */
}

/* Done and end events must arrive, or their operation would never be
 * freed: out of memory we wait for some rather than lose one (the node
 * list is small, and dropped before the event). */
static void push_final(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag, const void *nodes,
                       size_t len) {
  event *ev = event_new(kind, op, flag, nodes, len);
  while (!ev) {
    sched_yield();
    ev = event_new(kind, op, flag, NULL, 0);
  }
  enqueue_event(d, ev);
}

static void pass_value(void *ud, const uint8_t *data, size_t len) {
  dr_dht_op *op = ud;
  push(op->d, EV_VALUE, op, false, data, len);
}

static void on_op_done(void *ud, bool ok, const uint8_t (*nodes)[DR__NODE_ID_LEN], size_t n) {
  dr_dht_op *op = ud;
  push_final(op->d, EV_DONE, op, ok, nodes, n * DR__NODE_ID_LEN);
}

static bool on_listen_value(const dht_value *v, bool expired, void *ud) {
  dr_dht_op *op = ud;
  dht_data_view dv = dht_value_get_data(v);
  push(op->d, EV_LISTEN_VALUE, op, expired, dv.data, dv.size);
  return true;
}

/* dht_runner_ping's callback: on OpenDHT's thread, or on the loop's when
 * the runner is not running */
static void on_ping_done(bool ok, void *ud) {
  dr_dht_op *op = ud;
  push_final(op->d, EV_DONE, op, ok, NULL, 0);
}

static void on_listen_end(void *ud) {
  dr_dht_op *op = ud;
  push_final(op->d, EV_LISTEN_END, op, false, NULL, 0);
}

static void on_stats(void *ud, unsigned good, unsigned dubious, unsigned searches) {
  dr_dht *d = ud;
  event *ev = event_new(EV_STATS, NULL, false, NULL, 0);
  if (!ev) return;
  ev->good = good;
  ev->dubious = dubious;
  ev->searches = searches;
  enqueue_event(d, ev);
}

static void on_shutdown(void *ud) {
  push_final(ud, EV_SHUTDOWN, NULL, true, NULL, 0);
}

/* The store policy: room left (new values may not take the last part of
 * the storage limit: OpenDHT 2.4.12's eviction of values over the limit
 * can loop forever, so it must never run), then the caller's checks. */
static int store_check(void *ud, const uint8_t key[20], const char *user_type, size_t ut_len,
                       const uint8_t *data, size_t len) {
  dr_dht *d = ud;
  int r = 0;
  bool mark = ut_len == sizeof DR_DHT_RESOURCE_MARK - 1 &&
              memcmp(user_type, DR_DHT_RESOURCE_MARK, ut_len) == 0;
  if (atomic_load(&d->stored_bytes) + len > d->store_full) r = DR_DHT_STORE_FULL;
  else if (d->store_ok) r = d->store_ok(d->policy_ctx, key, mark ? 1 : ut_len ? -1 : 0, data, len);
  if (r > 0 && r < DR_DHT_STORE_REASONS) atomic_fetch_add(&d->refused_store[r], 1);
  return r;
}

static bool edit_check(void *ud, uint64_t id, const uint8_t *old, size_t old_len, const uint8_t *nw,
                       size_t new_len) {
  dr_dht *d = ud;
  return d->edit_ok && d->edit_ok(d->policy_ctx, id, old, old_len, nw, new_len);
}

/* ---- loop thread -------------------------------------------------------- */

static void live_add(dr_dht *d, dr_dht_op *op) {
  op->prev_live = NULL;
  op->next_live = d->live;
  if (d->live) d->live->prev_live = op;
  d->live = op;
}

static void op_free(dr_dht_op *op) {
  dr_dht *d = op->d;
  if (op->prev_live) op->prev_live->next_live = op->next_live;
  else d->live = op->next_live;
  if (op->next_live) op->next_live->prev_live = op->prev_live;
  if (op->token) {
    if (op->type == OP_LISTEN) d->n_listens--;
    dht_op_token_delete(op->token);
  }
  free(op->data);
  free(op);
}

static void fly_add(dr_dht *d, dr_dht_op *op) {
  op->nudge_at = uv_now(d->loop) + NUDGE_MS;
  op->next_fly = NULL;
  op->prev_fly = d->fly_tail;
  if (d->fly_tail) d->fly_tail->next_fly = op;
  else d->fly_head = op;
  d->fly_tail = op;
}

static void fly_remove(dr_dht *d, dr_dht_op *op) {
  if (op->prev_fly) op->prev_fly->next_fly = op->next_fly;
  else d->fly_head = op->next_fly;
  if (op->next_fly) op->next_fly->prev_fly = op->prev_fly;
  else d->fly_tail = op->prev_fly;
  op->prev_fly = op->next_fly = NULL;
}

/* Hands op to OpenDHT. A failure to allocate there is a failed operation. */
static void launch(dr_dht_op *op) {
  dr_dht *d = op->d;
  int r = 0;
  op->state = OP_INFLIGHT;
  d->n_inflight++;
  if (!op->started_ns) op->started_ns = uv_hrtime();
  switch (op->type) {
  case OP_GET:
    r = dr__dht_get(d->runner, &op->key, DR_DHT_VALUE_TYPE, op->id,
                    op->resource ? DR_DHT_RESOURCE_MARK : NULL, pass_value, on_op_done, op);
    break;
  case OP_PUT:
    fly_add(d, op);
    r = dr__dht_put(d->runner, &op->key, DR_DHT_VALUE_TYPE, op->id, op->seq,
                    op->resource ? DR_DHT_RESOURCE_MARK : NULL, op->data, op->len, op->age_s,
                    on_op_done, op);
    break;
  case OP_LISTEN:
    /* a listen holds no slot: it is long-lived and its start is cheap */
    d->n_inflight--;
    op->state = OP_SETTLED;
    op->token = dr__dht_listen_type(d->runner, &op->key, DR_DHT_VALUE_TYPE,
                                    op->resource ? DR_DHT_RESOURCE_MARK : NULL, on_listen_value,
                                    on_listen_end, op);
    return;
  case OP_PING: /* never queued: dr_dht_bootstrap sends it */
    d->n_inflight--;
    op->state = OP_SETTLED;
    return;
  }
  if (r < 0) push_final(d, EV_DONE, op, false, NULL, 0);
}

static void unqueue(dr_dht *d, dr_dht_op *op) {
  if (op->prev_wait) op->prev_wait->next_wait = op->next_wait;
  else d->wait_head = op->next_wait;
  if (op->next_wait) op->next_wait->prev_wait = op->prev_wait;
  else d->wait_tail = op->prev_wait;
  op->prev_wait = op->next_wait = NULL;
  d->n_waiting--;
  if (op->type == OP_GET && !op->probe) d->gets_waiting--;
}

static void pump(dr_dht *d) {
  while (!d->closing && d->wait_head && d->n_inflight < d->max_inflight) {
    dr_dht_op *op = d->wait_head;
    unqueue(d, op);
    launch(op);
  }
}

static void enqueue(dr_dht *d, dr_dht_op *op) {
  op->state = OP_WAITING;
  op->next_wait = NULL;
  op->prev_wait = d->wait_tail;
  if (d->wait_tail) d->wait_tail->next_wait = op;
  else d->wait_head = op;
  d->wait_tail = op;
  d->n_waiting++;
  if (op->type == OP_GET && !op->probe) d->gets_waiting++;
  pump(d);
}

static void handle_done(dr_dht *d, dr_dht_op *op, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE],
                        size_t n_nodes) {
  if (op->state == OP_INFLIGHT) {
    d->n_inflight--;
    if (op->type == OP_PUT) fly_remove(d, op);
  }
  /* nothing from too few nodes: the lookup may have ended on nodes that
   * do not hold the key (a young or churning routing table); once more */
  if (op->type == OP_GET && !op->probe && !op->cancelled && !op->retried && op->got == 0 &&
      n_nodes < TARGET_NODES && n_nodes < d->good && !d->closing) {
    op->retried = true;
    d->retries++;
    dlog(d, DR_DHT_LOG_DEBUG, "a get found nothing on %zu nodes: asking again", n_nodes);
    launch(op); /* in flight again, in the slot it had */
    return;
  }
  op->state = OP_SETTLED;
  if (op->type == OP_PING) {
    if (op->on_ping) op->on_ping(op->ctx, ok);
    op_free(op);
    return;
  }
  if (op->started_ns && op->type != OP_LISTEN)
    dr_latency_observe(op->type == OP_PUT ? &d->lat_put : &d->lat_get, uv_hrtime() - op->started_ns);
  if (!op->cancelled && op->on_done) op->on_done(op->ctx, ok, nodes, n_nodes);
  op_free(op);
}

static void dispatch(dr_dht *d, event *ev) {
  dr_dht_op *op = ev->op;
  switch (ev->kind) {
  case EV_VALUE:
    op->got++;
    if (!op->cancelled && op->on_value) op->on_value(op->ctx, ev->data, ev->len);
    break;
  case EV_DONE:
    handle_done(d, op, ev->flag, (const uint8_t(*)[DR_DHT_KEY_SIZE])ev->data, ev->len / DR_DHT_KEY_SIZE);
    break;
  case EV_LISTEN_VALUE:
    if (!op->cancelled && op->on_listen) op->on_listen(op->ctx, ev->data, ev->len, ev->flag);
    break;
  case EV_LISTEN_END:
    op_free(op);
    break;
  case EV_STATS:
    d->good = ev->good;
    d->dubious = ev->dubious;
    d->searches = ev->searches;
    break;
  case EV_SHUTDOWN:
    break;
  }
}

static void finish_close(dr_dht *d);

/* A get of a big shard arrives as ~1 200 datagrams at once: the socket's
 * receive buffer is raised (dr__raise_rcvbuf, dht/socket.c). */
static void raise_rcvbuf(dr_dht *d, uint16_t port4, uint16_t port6) {
  int got = dr__raise_rcvbuf(port4, port6, RCVBUF_BYTES);
  if (got >= 0)
    dlog(d, DR_DHT_LOG_DEBUG, "DHT socket receive buffer: %d bytes (asked %d; the kernel caps it at net.core.rmem_max)",
         got, RCVBUF_BYTES);
}

static void on_wake(uv_async_t *h) {
  dr_dht *d = h->data;
  pthread_mutex_lock(&d->lock);
  event *ev = d->q_head;
  d->q_head = d->q_tail = NULL;
  pthread_mutex_unlock(&d->lock);
  bool shutdown = false;
  while (ev) {
    event *next = ev->next;
    if (ev->kind == EV_SHUTDOWN) shutdown = true;
    else if (!d->runner_gone) dispatch(d, ev);
    free(ev);
    ev = next;
  }
  pump(d);
  if (shutdown && d->closing && !d->runner_gone) finish_close(d);
}

static void msg_work(uv_work_t *w) {
  dr_dht *d = w->data;
  dr__dht_message_stats(d->runner, d->w_sent, d->w_received, d->w_store);
  atomic_store(&d->stored_bytes, d->w_store[1]);
}

static void msg_work_done(uv_work_t *w, int status) {
  dr_dht *d = w->data;
  (void)status;
  d->msg_work_busy = false;
  for (int i = 0; i < DR_DHT_MSG__COUNT; i++) {
    d->sent[i] += d->w_sent[i];
    d->received[i] += d->w_received[i];
    d->w_sent[i] = d->w_received[i] = 0;
  }
  d->store[0] = d->w_store[0];
  d->store[1] = d->w_store[1];
  if (d->finish_after_work) finish_close(d);
}

/* Steps the searches of puts in flight for NUDGE_MS (once per key). */
static void nudge(dr_dht *d) {
  uint64_t now = uv_now(d->loop);
  const dht_infohash *keys[NUDGE_MAX];
  size_t n = 0;
  for (dr_dht_op *op = d->fly_head; op && n < NUDGE_MAX; op = op->next_fly) {
    if (op->nudge_at > now) continue;
    op->nudge_at = now + NUDGE_MS;
    size_t i = 0;
    while (i < n && memcmp(keys[i], &op->key, sizeof op->key) != 0) i++;
    if (i < n) continue;
    keys[n++] = &op->key;
    if (dr__dht_step_search(d->runner, &op->key) == 0) d->nudges++;
  }
  if (n) dlog(d, DR_DHT_LOG_DEBUG, "stepped the searches of %zu keys with a put in flight for %d ms", n, NUDGE_MS);
}

static void on_stats_timer(uv_timer_t *t) {
  dr_dht *d = t->data;
  if (d->closing) return;
  nudge(d);
  dr__dht_request_stats(d->runner, on_stats, d);
  if (++d->stats_ticks % MSG_STATS_PERIOD == 0 && !d->msg_work_busy) {
    d->msg_work.data = d;
    if (uv_queue_work(d->loop, &d->msg_work, msg_work, msg_work_done) == 0) d->msg_work_busy = true;
  }
}

void dr_dht_store_size(const dr_dht *d, uint64_t *values, uint64_t *bytes) {
  *values = d->store[0];
  *bytes = d->store[1];
}

void dr_dht_message_counts(const dr_dht *d, uint64_t sent[DR_DHT_MSG__COUNT],
                           uint64_t received[DR_DHT_MSG__COUNT]) {
  memcpy(sent, d->sent, sizeof d->sent);
  memcpy(received, d->received, sizeof d->received);
}

void dr_dht_store_refused(const dr_dht *d, uint64_t reasons[DR_DHT_STORE_REASONS]) {
  for (int i = 0; i < DR_DHT_STORE_REASONS; i++)
    reasons[i] = atomic_load(&((dr_dht *)d)->refused_store[i]);
}

int dr_dht_start(dr_dht **out, uv_loop_t *loop, const dr_dht_config *cfg) {
  dr_dht *d = calloc(1, sizeof *d);
  if (!d) return -ENOMEM;
  d->loop = loop;
  d->max_inflight = cfg->max_inflight ? cfg->max_inflight : DEFAULT_MAX_INFLIGHT;
  d->max_queued = cfg->max_queued ? cfg->max_queued : DEFAULT_MAX_QUEUED;
  long max_store = cfg->max_store_bytes > 0 ? cfg->max_store_bytes : DEFAULT_MAX_STORE;
  d->store_full = (uint64_t)max_store / 100 * (100 - STORE_HEADROOM);
  d->lifetime_s = cfg->value_lifetime_s ? cfg->value_lifetime_s : 600;
  d->store_ok = cfg->store_ok;
  d->edit_ok = cfg->edit_ok;
  d->policy_ctx = cfg->policy_ctx;
  d->log = cfg->log;
  d->log_ctx = cfg->log_ctx;
  int err = -ENOMEM;
  if (pthread_mutex_init(&d->lock, NULL) != 0) goto err_free;
  if ((err = uv_async_init(loop, &d->wake, on_wake)) < 0) goto err_mutex;
  d->wake.data = d;
  uv_timer_init(loop, &d->stats_timer);
  uv_timer_init(loop, &d->shutdown_timer);
  d->stats_timer.data = d->shutdown_timer.data = d;
  d->handles_open = 3;

  d->runner = dht_runner_new();
  if (!d->runner) {
    err = -ENOMEM;
    goto err_handles;
  }
  dr__dht_run_cfg rc = {
      .port = cfg->port,
      .node_id = cfg->node_id,
      .network = cfg->network,
      .max_req_per_sec = 0,
      .max_peer_req_per_sec = cfg->peer_rate_limit,
      .bind4 = cfg->bind4,
      .bind6 = cfg->bind6,
      .max_store_bytes = max_store,
  };
  int rerr = dr__dht_run(d->runner, &rc);
  if (rerr == 0)
    rerr = dr__dht_register_type(d->runner, DR_DHT_VALUE_TYPE,
                                 d->lifetime_s, store_check,
                                 edit_check, d);
  if (rerr != 0) {
    err = rerr;
    dht_runner_delete(d->runner);
    d->runner = NULL;
    goto err_handles;
  }
  uint16_t p4 = dht_runner_get_bound_port(d->runner, AF_INET);
  uint16_t p6 = dht_runner_get_bound_port(d->runner, AF_INET6);
  d->port = p4 ? p4 : p6;
  raise_rcvbuf(d, p4, p6);
  uv_timer_start(&d->stats_timer, on_stats_timer, 0, STATS_PERIOD_MS);
  *out = d;
  return 0;

err_handles:
  /* no callback can reference d yet: close the handles and free in their cb */
  d->closing = d->runner_gone = true;
  d->close_done = NULL;
  finish_close(d);
  return err;
err_mutex:
  pthread_mutex_destroy(&d->lock);
err_free:
  free(d);
  return err;
}

static void on_handle_closed(uv_handle_t *h) {
  dr_dht *d = h->data;
  if (--d->handles_open) return;
  void (*done)(void *) = d->close_done;
  void *ctx = d->close_ctx;
  pthread_mutex_destroy(&d->lock);
  free(d);
  if (done) done(ctx);
}

static void on_shutdown_timeout(uv_timer_t *t) {
  dr_dht *d = t->data;
  dlog(d, DR_DHT_LOG_WARN, "OpenDHT did not confirm shutdown in %d ms; stopping it anyway",
       SHUTDOWN_WAIT_MS);
  finish_close(d);
}

/* The runner has shut down (or would not say so in time): stop its threads,
 * fail what is left, free everything once the libuv handles are closed. */
static void finish_close(dr_dht *d) {
  if (d->msg_work_busy) { /* it holds the runner: finish after it */
    d->finish_after_work = true;
    return;
  }
  d->finish_after_work = false;
  if (d->runner) {
    dht_runner_delete(d->runner); /* joins OpenDHT's threads */
    d->runner = NULL;
  }
  d->runner_gone = true;
  /* nothing can be pushed any more: drop what is queued */
  event *ev = d->q_head;
  d->q_head = d->q_tail = NULL;
  while (ev) {
    event *next = ev->next;
    free(ev);
    ev = next;
  }
  while (d->live) {
    dr_dht_op *op = d->live;
    if (!op->cancelled && op->on_done) {
      dr_dht_done_cb cb = op->on_done;
      op->on_done = NULL;
      cb(op->ctx, false, NULL, 0);
    } else if (op->on_ping) {
      dr_dht_ping_cb cb = op->on_ping;
      op->on_ping = NULL;
      cb(op->ctx, false);
    }
    /* a listen's token is a std::future of its own: it outlives the runner
     * and is freed here with the op */
    op_free(op);
  }
  d->wait_head = d->wait_tail = NULL;
  d->fly_head = d->fly_tail = NULL;
  d->n_waiting = d->n_inflight = d->gets_waiting = 0;
  uv_close((uv_handle_t *)&d->wake, on_handle_closed);
  uv_close((uv_handle_t *)&d->stats_timer, on_handle_closed);
  uv_close((uv_handle_t *)&d->shutdown_timer, on_handle_closed);
}

void dr_dht_close(dr_dht *d, void (*done)(void *ctx), void *ctx) {
  if (d->closing) return;
  d->closing = true;
  d->close_done = done;
  d->close_ctx = ctx;
  uv_timer_stop(&d->stats_timer);
  uv_timer_start(&d->shutdown_timer, on_shutdown_timeout, SHUTDOWN_WAIT_MS, 0);
  dht_runner_shutdown(d->runner, on_shutdown, d);
}

uint16_t dr_dht_port(const dr_dht *d) {
  return d->port;
}

void dr_dht_node_counts(const dr_dht *d, unsigned *good, unsigned *dubious) {
  *good = d->good;
  *dubious = d->dubious;
}

unsigned dr_dht_searches(const dr_dht *d) {
  return d->searches;
}

size_t dr_dht_pending(const dr_dht *d) {
  return d->n_waiting + d->n_inflight;
}

size_t dr_dht_listens(const dr_dht *d) {
  return d->n_listens;
}

void dr_dht_latencies(const dr_dht *d, dr_latency *get, dr_latency *put) {
  *get = d->lat_get;
  *put = d->lat_put;
}

uint64_t dr_dht_nudges(const dr_dht *d) {
  return d->nudges;
}

uint64_t dr_dht_refused(const dr_dht *d) {
  return d->refused;
}

uint64_t dr_dht_retries(const dr_dht *d) {
  return d->retries;
}

static dr_dht_op *op_new(dr_dht *d, op_type type, const uint8_t key[DR_DHT_KEY_SIZE]) {
  dr_dht_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->d = d;
  op->type = type;
  memcpy(op->key.d, key, DR_DHT_KEY_SIZE);
  live_add(d, op);
  return op;
}

int dr_dht_bootstrap(dr_dht *d, const char *host, const char *port, dr_dht_ping_cb answered, void *ctx) {
  static const uint8_t no_key[DR_DHT_KEY_SIZE];
  if (d->closing) return -ESHUTDOWN;
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  if (getaddrinfo(host, port, &hints, &res) != 0) return -EINVAL;
  dr_dht_op *op = op_new(d, OP_PING, no_key);
  if (!op) {
    freeaddrinfo(res);
    return -ENOMEM;
  }
  op->state = OP_SETTLED; /* holds no slot: a ping is one datagram (and its retries) */
  op->on_ping = answered;
  op->ctx = ctx;
  /* kept by OpenDHT, which pings it again whenever it has no node */
  dht_runner_bootstrap(d->runner, host, port);
  /* and pinged now: OpenDHT 2.4.12 pings a new bootstrap address only
   * while its status is "disconnected", and one address that never
   * answered leaves it "connecting" for good (Dht::bootstrap). The ping's
   * callback (Dht::pingNode) says whether a node answered there: true on
   * its reply, false once the request expired (three tries, about 3 s);
   * OpenDHT drops it unheard when the runner stops, and finish_close
   * answers it then. A numeric host is one address. */
  dht_runner_ping(d->runner, res->ai_addr, res->ai_addrlen, on_ping_done, op);
  freeaddrinfo(res);
  return 0;
}

/* A get of key (of one value id, or any), refused when the queue is full
 * unless it is a probe. */
static int get_op(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t id, bool probe, bool resource,
                  dr_dht_value_cb on_value, dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out) {
  if (d->closing) return -ESHUTDOWN;
  if (!probe && d->gets_waiting >= d->max_queued) {
    /* a burst beyond what the DHT can answer in time: refused at once
     * rather than queued for callers that will have given up */
    d->refused++;
    d->refused_since_log++;
    uint64_t now = uv_now(d->loop);
    if (now >= d->refused_logged_ms + 1000) {
      dlog(d, DR_DHT_LOG_WARN, "refused %llu DHT lookups: %zu are queued already (--max-queue)",
           (unsigned long long)d->refused_since_log, d->gets_waiting);
      d->refused_logged_ms = now;
      d->refused_since_log = 0;
    }
    return -ENOBUFS;
  }
  dr_dht_op *op = op_new(d, OP_GET, key);
  if (!op) return -ENOMEM;
  op->id = id;
  op->probe = probe;
  op->resource = resource;
  op->on_value = on_value;
  op->on_done = on_done;
  op->ctx = ctx;
  enqueue(d, op);
  if (out) *out = (dr_dht_lookup *)op;
  return 0;
}

int dr_dht_get(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_value_cb on_value,
               dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out) {
  return get_op(d, key, 0, false, false, on_value, on_done, ctx, out);
}

int dr_dht_get_resource(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_value_cb on_value,
                        dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out) {
  return get_op(d, key, 0, false, true, on_value, on_done, ctx, out);
}

int dr_dht_probe(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_done_cb on_done, void *ctx) {
  return get_op(d, key, PROBE_ID, true, false, NULL, on_done, ctx, NULL);
}

bool dr_dht_get_cancel(dr_dht *d, dr_dht_lookup *g) {
  dr_dht_op *op = &g->op;
  op->cancelled = true;
  op->on_value = NULL;
  op->on_done = NULL;
  if (op->state == OP_WAITING) { /* never started: gone at once */
    unqueue(d, op);
    op_free(op);
    return false;
  }
  return true; /* in flight: OpenDHT cannot stop it; its done frees it, telling nobody */
}

dr_dht_putop *dr_dht_put(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                         uint16_t seq, bool resource, const uint8_t *data, size_t len,
                         unsigned keep_s, dr_dht_done_cb on_done, void *ctx) {
  if (d->closing) return NULL;
  dr_dht_op *op = op_new(d, OP_PUT, key);
  if (!op) return NULL;
  if (!(op->data = malloc(len ? len : 1))) {
    op_free(op);
    return NULL;
  }
  memcpy(op->data, data, len);
  op->len = len;
  op->id = value_id;
  op->seq = seq;
  op->resource = resource;
  op->age_s = keep_s && keep_s < d->lifetime_s ? d->lifetime_s - keep_s : 0;
  op->on_done = on_done;
  op->ctx = ctx;
  enqueue(d, op);
  return (dr_dht_putop *)op;
}

void dr_dht_put_cancel(dr_dht *d, dr_dht_putop *p) {
  dr_dht_op *op = &p->op;
  op->cancelled = true;
  op->on_done = NULL;
  if (op->state == OP_WAITING) {
    unqueue(d, op);
    op_free(op);
  } /* in flight: its done frees it */
}

dr_dht_listen *dr_dht_listen_start(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], bool resource,
                                   dr_dht_listen_cb on_value, void *ctx) {
  if (d->closing) return NULL;
  dr_dht_op *op = op_new(d, OP_LISTEN, key);
  if (!op) return NULL;
  op->resource = resource;
  op->on_listen = on_value;
  op->ctx = ctx;
  launch(op);
  if (!op->token) {
    op_free(op);
    return NULL;
  }
  d->n_listens++;
  return (dr_dht_listen *)op;
}

void dr_dht_unlisten(dr_dht *d, dr_dht_listen *l) {
  /* once the runner is gone, its listens were freed with it */
  if (d->runner_gone) return;
  dr_dht_op *op = &l->op;
  op->cancelled = true;
  op->on_listen = NULL;
  /* OpenDHT calls on_listen_end once the listen is gone; we free it then */
  dht_runner_cancel_listen(d->runner, &op->key, op->token);
}
