/* dht.c - the OpenDHT runner: start, statistics, the store and edit policies, shutdown, and the hand-off of its events from OpenDHT's thread to the libuv loop */
#include "dht/dht_private.h"
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
#define STATS_PERIOD_MS 500
#define MSG_STATS_PERIOD 2 /* in stats periods */
#define NUDGE_MAX 16 /* searches stepped per stats period */
/* OpenDHT's shutdown hands the values this node stores to the nodes next
 * to it and says it is done once they confirm; a node stops within the 2 s
 * dhtregd promises, so that hand-off gets this long (storers keep what
 * they have, and every issuer puts its entries again anyway). */
#define SHUTDOWN_WAIT_MS 600
#define RCVBUF_BYTES (4 << 20)

void dr__dht_log(dr_dht *d, int level, const char *fmt, ...) {
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

void dr__dht_push(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag, const uint8_t *data, size_t len) {
  event *ev = event_new(kind, op, flag, data, len);
  if (ev) enqueue_event(d, ev); /* out of memory: a lost value, as if its packet was lost */
}

/* Done and end events must arrive, or their operation would never be
 * freed: out of memory we wait for some rather than lose one (the node
 * list is small, and dropped before the event). */
void dr__dht_push_final(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag, const void *nodes,
                        size_t len) {
  event *ev = event_new(kind, op, flag, nodes, len);
  while (!ev) {
    sched_yield();
    ev = event_new(kind, op, flag, NULL, 0);
  }
  enqueue_event(d, ev);
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
  dr__dht_push_final(ud, EV_SHUTDOWN, NULL, true, NULL, 0);
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











static void finish_close(dr_dht *d);

/* A get of a big shard arrives as ~1 200 datagrams at once: the socket's
 * receive buffer is raised (dr__raise_rcvbuf, dht/socket.c). */
static void raise_rcvbuf(dr_dht *d, uint16_t port4, uint16_t port6) {
  int got = dr__raise_rcvbuf(port4, port6, RCVBUF_BYTES);
  if (got >= 0)
    dr__dht_log(d, DR_DHT_LOG_DEBUG, "DHT socket receive buffer: %d bytes (asked %d; the kernel caps it at net.core.rmem_max)",
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
    else if (!d->runner_gone) dr__dht_dispatch(d, ev);
    free(ev);
    ev = next;
  }
  dr__dht_pump(d);
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
  if (n) dr__dht_log(d, DR_DHT_LOG_DEBUG, "stepped the searches of %zu keys with a put in flight for %d ms", n, NUDGE_MS);
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
  dr__dht_log(d, DR_DHT_LOG_WARN, "OpenDHT did not confirm shutdown in %d ms; stopping it anyway",
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
    }
    /* a listen's token is a std::future of its own: it outlives the runner
     * and is freed here with the op */
    dr__dht_op_free(op);
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











