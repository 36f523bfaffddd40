/* dht.c - OpenDHT runner, bounded operation queue, hand-off from OpenDHT's thread to libuv */
#include "dht/dht.h"
#include "dht/dht_stats.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <opendht/opendht_c.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MAX_INFLIGHT 64
#define DEFAULT_MAX_QUEUED 1024
#define STATS_PERIOD_MS 500
#define MSG_STATS_PERIOD 2 /* in stats periods */
/* OpenDHT can leave the announce of a put acknowledged by every node of its
 * search but unreported until the search next steps, which may be minutes
 * later (its refresh). A put in flight this long gets its search stepped,
 * and again as often while it stays in flight. */
#define NUDGE_MS 3000
#define NUDGE_MAX 16 /* searches stepped per stats period */
#define SHUTDOWN_WAIT_MS 3000
#define RCVBUF_BYTES (4 << 20)

typedef enum op_type { OP_GET, OP_PUT, OP_LISTEN } op_type;
typedef enum op_state { OP_WAITING, OP_INFLIGHT, OP_SETTLED } op_state;

/* One operation. OpenDHT holds its address as user data and only ever
 * passes it back to us through the event queue; its fields are read and
 * written on the loop thread alone. It is freed on the loop once OpenDHT
 * will not call back with it any more: after a get's or put's done, after a
 * listen's end. */
typedef struct dr_dht_op {
  struct dr_dht_op *prev_wait, *next_wait; /* FIFO of operations not started */
  struct dr_dht_op *prev_live, *next_live; /* every operation not yet freed */
  dr_dht *d;
  op_type type;
  op_state state;
  bool cancelled; /* the owner let go: no more callbacks to it */
  bool permanent;
  bool once; /* a fire-and-forget put: freed at its done */
  bool superseded; /* a newer put took over its value id: never cancel it */
  bool inherited;  /* took over the id of a put that reached OpenDHT */
  /* a put that took over the id of one still in flight, and that one: the
   * older one's done is still to come, and OpenDHT drops it if the id is
   * cancelled first, so the newer one, cancelled before its launch, hands
   * the cancellation back to it */
  struct dr_dht_op *pred, *succ;
  struct dr_dht_op *prev_fly, *next_fly; /* puts in flight, in launch order */
  uint64_t nudge_at;                     /* uv_now() when to step its search */
  uint64_t given_id; /* puts: the value id asked for, 0 for a random one */
  uint16_t vseq;     /* puts: OpenDHT's seq of the value */
  dht_infohash key;
  dht_value *value;      /* puts */
  dht_op_token *token;   /* listens */
  dr_dht_value_cb on_value;
  dr_dht_done_cb on_done;
  dr_dht_listen_cb on_listen;
  void *ctx;
} dr_dht_op;

struct dr_dht_put {
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
  size_t len;
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
  /* loop-thread state */
  dr_dht_op *wait_head, *wait_tail;
  dr_dht_op *live;
  dr_dht_op *fly_head, *fly_tail;
  size_t n_waiting, n_inflight, max_inflight;
  size_t gets_waiting, max_queued; /* gets not started, and their bound */
  uint64_t refused;                /* gets refused for a full queue */
  uint64_t refused_logged_ms, refused_since_log;
  uint64_t nudges;
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

static void push(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag,
                 const uint8_t *data, size_t len) {
  event *ev = malloc(sizeof *ev + len);
  if (!ev) return; /* out of memory: a lost value, as if its packet was lost */
  ev->next = NULL;
  ev->kind = kind;
  ev->op = op;
  ev->flag = flag;
  ev->good = ev->dubious = ev->searches = 0;
  ev->len = len;
  if (len) memcpy(ev->data, data, len);
  pthread_mutex_lock(&d->lock);
  if (d->q_tail) d->q_tail->next = ev;
  else d->q_head = ev;
  d->q_tail = ev;
  pthread_mutex_unlock(&d->lock);
  uv_async_send(&d->wake);
}

/* Done and end events must arrive, or their operation would never be
 * freed: they are small, and out of memory we wait for some rather than
 * lose one. */
static void push_final(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag) {
  event *ev;
  while (!(ev = malloc(sizeof *ev))) sched_yield();
  ev->next = NULL;
  ev->kind = kind;
  ev->op = op;
  ev->flag = flag;
  ev->good = ev->dubious = ev->searches = 0;
  ev->len = 0;
  pthread_mutex_lock(&d->lock);
  if (d->q_tail) d->q_tail->next = ev;
  else d->q_head = ev;
  d->q_tail = ev;
  pthread_mutex_unlock(&d->lock);
  uv_async_send(&d->wake);
}

static bool on_get_value(const dht_value *v, void *ud) {
  dr_dht_op *op = ud;
  dht_data_view dv = dht_value_get_data(v);
  push(op->d, EV_VALUE, op, false, dv.data, dv.size);
  return true;
}

static void on_op_done(bool ok, void *ud) {
  dr_dht_op *op = ud;
  push_final(op->d, EV_DONE, op, ok);
}

static bool on_listen_value(const dht_value *v, bool expired, void *ud) {
  dr_dht_op *op = ud;
  dht_data_view dv = dht_value_get_data(v);
  push(op->d, EV_LISTEN_VALUE, op, expired, dv.data, dv.size);
  return true;
}

static void on_listen_end(void *ud) {
  dr_dht_op *op = ud;
  push_final(op->d, EV_LISTEN_END, op, false);
}

static void on_stats(void *ud, unsigned good, unsigned dubious, unsigned searches) {
  dr_dht *d = ud;
  event *ev = malloc(sizeof *ev);
  if (!ev) return;
  memset(ev, 0, sizeof *ev);
  ev->kind = EV_STATS;
  ev->good = good;
  ev->dubious = dubious;
  ev->searches = searches;
  pthread_mutex_lock(&d->lock);
  if (d->q_tail) d->q_tail->next = ev;
  else d->q_head = ev;
  d->q_tail = ev;
  pthread_mutex_unlock(&d->lock);
  uv_async_send(&d->wake);
}

static void on_shutdown(void *ud) {
  push_final(ud, EV_SHUTDOWN, NULL, true);
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
  if (op->pred) op->pred->succ = NULL;
  if (op->succ) op->succ->pred = NULL;
  if (op->prev_live) op->prev_live->next_live = op->next_live;
  else d->live = op->next_live;
  if (op->next_live) op->next_live->prev_live = op->prev_live;
  if (op->value) dht_value_unref(op->value);
  if (op->token) dht_op_token_delete(op->token);
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

static void launch(dr_dht_op *op) {
  dr_dht *d = op->d;
  op->state = OP_INFLIGHT;
  d->n_inflight++;
  switch (op->type) {
  case OP_GET:
    dht_runner_get(d->runner, &op->key, on_get_value, on_op_done, op);
    break;
  case OP_PUT:
    fly_add(d, op);
    dht_runner_put(d->runner, &op->key, op->value, on_op_done, op, op->permanent);
    break;
  case OP_LISTEN:
    /* a listen holds no slot: it is long-lived and its start is cheap */
    d->n_inflight--;
    op->state = OP_SETTLED;
    op->token = dr__dht_listen_type(d->runner, &op->key, DR_DHT_VALUE_TYPE, on_listen_value,
                                    on_listen_end, op);
    break;
  }
}

static void unqueue(dr_dht *d, dr_dht_op *op) {
  if (op->prev_wait) op->prev_wait->next_wait = op->next_wait;
  else d->wait_head = op->next_wait;
  if (op->next_wait) op->next_wait->prev_wait = op->prev_wait;
  else d->wait_tail = op->prev_wait;
  op->prev_wait = op->next_wait = NULL;
  d->n_waiting--;
  if (op->type == OP_GET) d->gets_waiting--;
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
  if (op->type == OP_GET) d->gets_waiting++;
  pump(d);
}

static void handle_done(dr_dht *d, dr_dht_op *op, bool ok) {
  if (op->state == OP_INFLIGHT) {
    d->n_inflight--;
    if (op->type == OP_PUT) fly_remove(d, op);
  }
  op->state = OP_SETTLED;
  if (op->type == OP_GET || op->once) {
    if (op->on_done) op->on_done(op->ctx, ok);
    op_free(op);
  } else if (op->cancelled) {
    /* the owner let go while the first announce was under way: its value id
     * is known only now */
    if (op->permanent && !op->superseded && !d->runner_gone)
      dht_runner_cancel_put(d->runner, &op->key, dht_value_get_id(op->value));
    op_free(op);
  } else if (op->on_done) {
    dr_dht_done_cb cb = op->on_done;
    op->on_done = NULL;
    cb(op->ctx, ok);
  }
}

static void dispatch(dr_dht *d, event *ev) {
  dr_dht_op *op = ev->op;
  switch (ev->kind) {
  case EV_VALUE:
    if (!op->cancelled && op->on_value) op->on_value(op->ctx, ev->data, ev->len);
    break;
  case EV_DONE:
    handle_done(d, op, ev->flag);
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

/* OpenDHT 2.4.12 answers a get with one UDP datagram per value from each of
 * up to eight nodes, all at once: a resource of 150 records is ~1 200
 * datagrams arriving together, and the kernel's default receive buffer
 * (212 KB, ~200 of them) drops the rest, which OpenDHT asks for again only
 * after its one-second timeout. opendht_c.h does not reach the socket, so
 * find it among the process's descriptors by its bound port and enlarge
 * its buffer (the kernel caps it at net.core.rmem_max). */
static void raise_rcvbuf(dr_dht *d, uint16_t port4, uint16_t port6) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) return;
  struct dirent *de;
  int raised = 0, want = RCVBUF_BYTES, got = 0;
  while ((de = readdir(dir))) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || fd < 0 || fd == dirfd(dir)) continue;
    int type;
    socklen_t tl = sizeof type;
    if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM) continue;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname((int)fd, (struct sockaddr *)&ss, &sl) < 0) continue;
    uint16_t port = 0, wanted = 0;
    if (ss.ss_family == AF_INET) {
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      wanted = port4;
    } else if (ss.ss_family == AF_INET6) {
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      wanted = port6;
    }
    if (!port || port != wanted) continue;
    if (setsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) == 0) {
      tl = sizeof got;
      getsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &got, &tl);
      raised++;
    }
  }
  closedir(dir);
  if (raised)
    dlog(d, DR_DHT_LOG_DEBUG, "DHT socket receive buffer: %d bytes (asked %d; the kernel caps it at net.core.rmem_max)",
         got / 2, want);
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

int dr_dht_start(dr_dht **out, uv_loop_t *loop, const dr_dht_config *cfg) {
  dr_dht *d = calloc(1, sizeof *d);
  if (!d) return -ENOMEM;
  d->loop = loop;
  d->max_inflight = cfg->max_inflight ? cfg->max_inflight : DEFAULT_MAX_INFLIGHT;
  d->max_queued = cfg->max_queued ? cfg->max_queued : DEFAULT_MAX_QUEUED;
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
  int rerr = dr__dht_run(d->runner, cfg->port, cfg->node_id, cfg->network, 0,
                         cfg->peer_rate_limit);
  if (rerr != 0) {
    err = rerr;
    dht_runner_delete(d->runner);
    d->runner = NULL;
    goto err_handles;
  }
  if (cfg->edit_ok &&
      (err = dr__dht_register_type(d->runner, DR_DHT_VALUE_TYPE,
                                   cfg->value_lifetime_s ? cfg->value_lifetime_s : 600, cfg->edit_ok,
                                   cfg->edit_ctx)) < 0) {
    dht_runner_delete(d->runner);
    d->runner = NULL;
    goto err_handles;
  }
  d->port = dht_runner_get_bound_port(d->runner, AF_INET);
  raise_rcvbuf(d, d->port, dht_runner_get_bound_port(d->runner, AF_INET6));
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
      cb(op->ctx, false);
    }
    /* a listen's token is a std::future of its own: it outlives the runner
     * and is freed here with the op */
    op_free(op);
  }
  d->wait_head = d->wait_tail = NULL;
  d->fly_head = d->fly_tail = NULL;
  d->n_waiting = d->n_inflight = 0;
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

void dr_dht_bootstrap(dr_dht *d, const char *host, const char *port) {
  if (d->closing) return;
  dht_runner_bootstrap(d->runner, host, port);
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

uint64_t dr_dht_nudges(const dr_dht *d) {
  return d->nudges;
}

static dr_dht_op *op_new(dr_dht *d, op_type type, const uint8_t key[DR_DHT_KEY_SIZE]) {
  dr_dht_op *op = calloc(1, sizeof(struct dr_dht_put));
  if (!op) return NULL;
  op->d = d;
  op->type = type;
  memcpy(op->key.d, key, DR_DHT_KEY_SIZE);
  live_add(d, op);
  return op;
}

int dr_dht_get(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], dr_dht_value_cb on_value,
               dr_dht_done_cb on_done, void *ctx, dr_dht_lookup **out) {
  if (d->closing) return -ESHUTDOWN;
  if (d->gets_waiting >= d->max_queued) {
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
  op->on_value = on_value;
  op->on_done = on_done;
  op->ctx = ctx;
  enqueue(d, op);
  if (out) *out = (dr_dht_lookup *)op;
  return 0;
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

uint64_t dr_dht_refused(const dr_dht *d) {
  return d->refused;
}

/* A put op ready to be queued: its value carries id, type and seq. */
static dr_dht_op *put_op(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                         uint16_t seq, const uint8_t *data, size_t len, bool permanent,
                         dr_dht_done_cb on_done, void *ctx) {
  if (d->closing) return NULL;
  dr_dht_op *op = op_new(d, OP_PUT, key);
  if (!op) return NULL;
  op->value = dht_value_new(data, len);
  if (!op->value) {
    op_free(op);
    return NULL;
  }
  dr__dht_value_set_id(op->value, value_id, DR_DHT_VALUE_TYPE, seq);
  op->given_id = value_id;
  op->vseq = seq;
  op->permanent = permanent;
  op->on_done = on_done;
  op->ctx = ctx;
  return op;
}

dr_dht_put *dr_dht_put_value(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                             const uint8_t *data, size_t len, bool permanent,
                             dr_dht_done_cb on_done, void *ctx) {
  dr_dht_op *op = put_op(d, key, value_id, 0, data, len, permanent, on_done, ctx);
  if (!op) return NULL;
  enqueue(d, op);
  return (dr_dht_put *)op;
}

int dr_dht_put_once(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE], uint64_t value_id,
                    const uint8_t *data, size_t len) {
  dr_dht_put *p = dr_dht_put_value(d, key, value_id, data, len, false, NULL, NULL);
  if (!p) return d->closing ? -ESHUTDOWN : -ENOMEM;
  p->op.once = true;
  return 0;
}

int dr_dht_reput(dr_dht *d, dr_dht_put *p) {
  dr_dht_op *op = &p->op;
  if (d->closing || op->cancelled || !op->permanent) return -EINVAL;
  if (op->state != OP_SETTLED) return -EAGAIN;
  dht_value *v = dr__dht_value_clone(op->value);
  if (!v) return -ENOMEM;
  dht_value_unref(op->value);
  op->value = v;
  dht_runner_put(d->runner, &op->key, op->value, NULL, NULL, true);
  return 0;
}

dr_dht_put *dr_dht_replace(dr_dht *d, dr_dht_put *old, uint64_t fresh_id, const uint8_t *data,
                           size_t len, dr_dht_done_cb on_done, void *ctx) {
  dr_dht_op *o = &old->op;
  if (!o->given_id || o->vseq == UINT16_MAX) {
    uint8_t key[DR_DHT_KEY_SIZE];
    memcpy(key, o->key.d, sizeof key);
    dr_dht_cancel(d, old); /* frees o */
    return dr_dht_put_value(d, key, fresh_id, data, len, true, on_done, ctx);
  }
  dr_dht_op *n = put_op(d, o->key.d, o->given_id, (uint16_t)(o->vseq + 1), data, len, true,
                        on_done, ctx);
  if (!n) {
    dr_dht_cancel(d, old);
    return NULL;
  }
  n->inherited = o->state != OP_WAITING || o->inherited;
  dr_dht_op *pred = o->state == OP_INFLIGHT ? o : o->pred;
  if (pred) {
    pred->succ = n;
    n->pred = pred;
    if (o->pred == pred) o->pred = NULL; /* o is freed below */
  }
  o->superseded = true;
  o->cancelled = true;
  o->on_done = NULL;
  switch (o->state) {
  case OP_WAITING:
    unqueue(d, o);
    op_free(o);
    break;
  case OP_INFLIGHT:
    break; /* OpenDHT fails its done when the new value takes its place */
  case OP_SETTLED:
    op_free(o);
    break;
  }
  enqueue(d, n);
  return (dr_dht_put *)n;
}

void dr_dht_cancel(dr_dht *d, dr_dht_put *p) {
  dr_dht_op *op = &p->op;
  op->cancelled = true;
  op->on_done = NULL;
  switch (op->state) {
  case OP_WAITING:
    /* never launched, but the value it was to replace is announced: cancel
     * it now, or at its done if that is still to come */
    if (op->pred) {
      op->pred->superseded = false;
      op->pred->succ = NULL;
      op->pred = NULL;
    } else if (op->inherited && op->permanent && !d->runner_gone) {
      dht_runner_cancel_put(d->runner, &op->key, op->given_id);
    }
    unqueue(d, op);
    op_free(op);
    break;
  case OP_INFLIGHT:
    break; /* handle_done cancels and frees it */
  case OP_SETTLED:
    if (op->permanent && !d->runner_gone)
      dht_runner_cancel_put(d->runner, &op->key, dht_value_get_id(op->value));
    op_free(op);
    break;
  }
}

dr_dht_listen *dr_dht_listen_start(dr_dht *d, const uint8_t key[DR_DHT_KEY_SIZE],
                                   dr_dht_listen_cb on_value, void *ctx) {
  if (d->closing) return NULL;
  dr_dht_op *op = op_new(d, OP_LISTEN, key);
  if (!op) return NULL;
  op->on_listen = on_value;
  op->ctx = ctx;
  launch(op);
  if (!op->token) {
    op_free(op);
    return NULL;
  }
  return (dr_dht_listen *)op;
}

void dr_dht_unlisten(dr_dht *d, dr_dht_listen *l) {
  dr_dht_op *op = &l->op;
  op->cancelled = true;
  op->on_listen = NULL;
  if (d->runner_gone) return;
  /* OpenDHT calls on_listen_end once the listen is gone; we free it then */
  dht_runner_cancel_listen(d->runner, &op->key, op->token);
}
