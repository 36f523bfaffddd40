/* dht_ops.c - operations of the OpenDHT runner: gets, puts, listens and pings, the FIFO that bounds those in flight, and their events on the loop */
#include "dht/dht_private.h"
#include "dht/opendht_shim.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- OpenDHT's thread: an operation's callbacks, handed to the loop ------- */

static void pass_value(void *ud, const uint8_t *data, size_t len) {
  dr_dht_op *op = ud;
  dr__dht_push(op->d, EV_VALUE, op, false, data, len);
}

static void on_op_done(void *ud, bool ok, const uint8_t (*nodes)[DR__NODE_ID_LEN], size_t n) {
  dr_dht_op *op = ud;
  dr__dht_push_final(op->d, EV_DONE, op, ok, nodes, n * DR__NODE_ID_LEN);
}

static bool on_listen_value(const dht_value *v, bool expired, void *ud) {
  dr_dht_op *op = ud;
  dht_data_view dv = dht_value_get_data(v);
  dr__dht_push(op->d, EV_LISTEN_VALUE, op, expired, dv.data, dv.size);
  return true;
}

/* dht_runner_ping's callback: on OpenDHT's thread, or on the loop's when
 * the runner is not running */
static void on_ping_done(bool ok, void *ud) {
  dr_dht_op *op = ud;
  dr__dht_push_final(op->d, EV_DONE, op, ok, NULL, 0);
}

static void on_listen_end(void *ud) {
  dr_dht_op *op = ud;
  dr__dht_push_final(op->d, EV_LISTEN_END, op, false, NULL, 0);
}

/* ---- loop thread -------------------------------------------------------- */

static void live_add(dr_dht *d, dr_dht_op *op) {
  op->prev_live = NULL;
  op->next_live = d->live;
  if (d->live) d->live->prev_live = op;
  d->live = op;
}

void dr__dht_op_free(dr_dht_op *op) {
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
  case OP_PING: /* never queued: dr_dht_bootstrap sends it, settled */
    return;
  }
  if (r < 0) dr__dht_push_final(d, EV_DONE, op, false, NULL, 0);
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

void dr__dht_pump(dr_dht *d) {
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
  dr__dht_pump(d);
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
    dr__dht_log(d, DR_DHT_LOG_DEBUG, "a get found nothing on %zu nodes: asking again", n_nodes);
    launch(op); /* in flight again, in the slot it had */
    return;
  }
  op->state = OP_SETTLED;
  if (op->started_ns && op->type != OP_LISTEN)
    dr_latency_observe(op->type == OP_PUT ? &d->lat_put : &d->lat_get, uv_hrtime() - op->started_ns);
  if (!op->cancelled && op->on_done) op->on_done(op->ctx, ok, nodes, n_nodes);
  dr__dht_op_free(op);
}

void dr__dht_dispatch(dr_dht *d, event *ev) {
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
    dr__dht_op_free(op);
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

static dr_dht_op *op_new(dr_dht *d, op_type type, const uint8_t key[DR_DHT_KEY_SIZE]) {
  dr_dht_op *op = calloc(1, sizeof *op);
  if (!op) return NULL;
  op->d = d;
  op->type = type;
  memcpy(op->key.d, key, DR_DHT_KEY_SIZE);
  live_add(d, op);
  return op;
}

int dr_dht_bootstrap(dr_dht *d, const char *host, const char *port, dr_dht_done_cb answered, void *ctx) {
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
  op->on_done = answered;
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
      dr__dht_log(d, DR_DHT_LOG_WARN, "refused %llu DHT lookups: %zu are queued already (--max-queue)",
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
    dr__dht_op_free(op);
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
    dr__dht_op_free(op);
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
    dr__dht_op_free(op);
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
    dr__dht_op_free(op);
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
