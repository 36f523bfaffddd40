/* dht_private.h - private to dht/: an operation, the events OpenDHT's thread hands to the loop, and the runner's state that dht.c (the runner, the hand-off) and dht_ops.c (operations and their queue) share */
#ifndef DR_DHT_PRIVATE_H
#define DR_DHT_PRIVATE_H

#include <opendht/opendht_c.h>
#include <pthread.h>
#include <stdatomic.h>

#include "dht/dht.h"

#define TARGET_NODES 8    /* the nodes an OpenDHT search settles on */
#define PROBE_ID 1 /* a value id nobody uses: a get of it only finds nodes */
/* OpenDHT can leave a put acknowledged by every node of its search but
 * unreported until the search next steps, which may be minutes later. A
 * put in flight this long gets its search stepped, and again as often
 * while it stays in flight. */
#define NUDGE_MS 3000

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

/* dht.c: the runner's log */
void dr__dht_log(dr_dht *d, int level, const char *fmt, ...);
/* dht.c, on OpenDHT's thread: hands an event of op to the loop. push drops
 * it when out of memory (a lost value, as if its packet was lost); a done or
 * end event goes through push_final, which waits for memory rather than
 * lose it (its operation would never be freed). */
void dr__dht_push(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag, const uint8_t *data, size_t len);
void dr__dht_push_final(dr_dht *d, ev_kind kind, dr_dht_op *op, bool flag, const void *nodes, size_t len);

/* dht_ops.c, on the loop: an event of an operation taken off the hand-off
 * queue; starting what waits while slots are free; freeing an operation
 * OpenDHT will not call back with any more (or that the runner outlived). */
void dr__dht_dispatch(dr_dht *d, event *ev);
void dr__dht_pump(dr_dht *d);
void dr__dht_op_free(dr_dht_op *op);

#endif
