/* client_heartbeat.c - libdhtreg's lease heartbeat: advertise as a lease, renew every ttl/3, advertise again after a node restart; on a loop, or on a thread of its own */
#include "api/client_private.h"
#include "dhtreg/dhtreg_uv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 1000       /* after a failure: connect (and advertise) again */
#define DEFAULT_TTL 300

int dr__uv_advertise_json(dhtreg_uv *c, json_t *params, dhtreg_uv_published_cb cb, void *ud);

struct dhtreg_uv_heartbeat {
  uv_loop_t *loop;
  char *path;
  json_t *ad;           /* record.advertise's params, lease: true */
  const char *rid, *sid; /* in ad */
  uint64_t period_ms;   /* ttl/3 */
  dhtreg_uv *conn;
  uv_timer_t timer;
  bool advertised;      /* the lease is on the node: renew it */
  bool ever;            /* it was advertised once: from then on, failures are retried */
  bool failed;          /* its first advertisement failed: it does nothing more */
  bool busy;            /* a call is in flight */
  bool stopping;
  dhtreg_heartbeat_cb cb;
  void *ud;
  void (*done)(void *);
  void *done_ud;
};

static void step(dhtreg_uv_heartbeat *hb);

static void tell(dhtreg_uv_heartbeat *hb, int err, const char *what) {
  if (hb->cb) hb->cb(hb->ud, err, what);
}

static void on_conn_closed(void *ud) {
  (void)ud;
}

static void drop_conn(dhtreg_uv_heartbeat *hb) {
  if (hb->conn) dhtreg_uv_close(hb->conn, on_conn_closed, NULL);
  hb->conn = NULL;
  hb->advertised = false;
}

static void on_timer(uv_timer_t *t) {
  step(t->data);
}

static void later(dhtreg_uv_heartbeat *hb, uint64_t ms) {
  uv_timer_start(&hb->timer, on_timer, ms, 0);
}

static void on_published(void *ud, int err, const char *msg, const dhtreg_published *p) {
  dhtreg_uv_heartbeat *hb = ud;
  bool renewing = hb->advertised;
  hb->busy = false;
  if (err == -ECANCELED) return; /* closed by us */
  if (hb->stopping) return;
  if (err == 0) {
    hb->advertised = hb->ever = true;
    tell(hb, 0, renewing ? "renewed" : "advertised");
    later(hb, hb->period_ms);
    return;
  }
  tell(hb, err, msg ? msg : dhtreg_strerror(err));
  if (!hb->ever) { /* ad is wrong, or there is no node: retrying would not mend it */
    hb->failed = true;
    drop_conn(hb);
  } else if (err == DHTREG_ENOTFOUND) { /* the node restarted: the lease is gone */
    hb->advertised = false;
    later(hb, 0);
  } else if (err < 0 && err > -4096) { /* the connection: a new one */
    drop_conn(hb);
    later(hb, RETRY_MS);
  } else { /* the node refused: again at the next period */
    hb->advertised = false;
    later(hb, hb->period_ms < RETRY_MS ? RETRY_MS : hb->period_ms);
  }
}

static void step(dhtreg_uv_heartbeat *hb) {
  if (hb->stopping || hb->busy || hb->failed) return;
  if (!hb->conn && dhtreg_uv_open(&hb->conn, hb->loop, hb->path) < 0) {
    hb->conn = NULL;
    later(hb, RETRY_MS);
    return;
  }
  int r = hb->advertised ? dhtreg_uv_renew(hb->conn, hb->rid, hb->sid, on_published, hb)
                         : dr__uv_advertise_json(hb->conn, hb->ad, on_published, hb);
  if (r < 0) {
    drop_conn(hb);
    later(hb, RETRY_MS);
    return;
  }
  hb->busy = true;
}

/* record.advertise's params of ad as a lease (a new object), or NULL with
 * the thread's last error said. */
static json_t *lease_params(const dhtreg_ad *ad) {
  json_t *p = dr__ad_json(ad);
  if (!p) {
    dr__last_error_set(-EINVAL, "ad, its resource_id and service_id (UTF-8 text) are required");
    return NULL;
  }
  json_object_set_new(p, "lease", json_true());
  return p;
}

/* Starts a heartbeat of params (stolen, made by lease_params) on loop;
 * advertised: its first advertisement is done already (renew next). */
static int hb_start(dhtreg_uv_heartbeat **out, uv_loop_t *loop, const char *socket_path, json_t *ad,
                    bool advertised, dhtreg_heartbeat_cb cb, void *ud) {
  char def[4096];
  int r = -ENOMEM;
  if ((r = dr__socket_or_default(&socket_path, def, sizeof def)) < 0) goto err;
  r = -ENOMEM;
  dhtreg_uv_heartbeat *hb = calloc(1, sizeof *hb);
  if (!hb || !(hb->path = strdup(socket_path))) {
    free(hb);
    dr__last_error_set(r, "out of memory");
    goto err;
  }
  json_int_t ttl = json_integer_value(json_object_get(ad, "ttl"));
  hb->loop = loop;
  hb->ad = ad;
  hb->rid = json_string_value(json_object_get(ad, "resource_id"));
  hb->sid = json_string_value(json_object_get(ad, "service_id"));
  hb->period_ms = (uint64_t)(ttl > 0 ? ttl : DEFAULT_TTL) * 1000 / 3;
  hb->advertised = hb->ever = advertised;
  hb->cb = cb;
  hb->ud = ud;
  uv_timer_init(loop, &hb->timer);
  hb->timer.data = hb;
  later(hb, advertised ? hb->period_ms : 0);
  dr__last_error_clear();
  *out = hb;
  return 0;
err:
  json_decref(ad);
  return r;
}

int dhtreg_uv_heartbeat_start(dhtreg_uv_heartbeat **out, uv_loop_t *loop, const char *socket_path,
                              const dhtreg_ad *ad, dhtreg_heartbeat_cb cb, void *ud) {
  if (out) *out = NULL;
  if (!out || !loop) return dr__last_error_set(-EINVAL, "dhtreg_uv_heartbeat_start: out or loop is NULL");
  json_t *params = lease_params(ad);
  return params ? hb_start(out, loop, socket_path, params, false, cb, ud) : -EINVAL;
}

static void on_timer_closed(uv_handle_t *h) {
  dhtreg_uv_heartbeat *hb = h->data;
  void (*done)(void *) = hb->done;
  void *ud = hb->done_ud;
  json_decref(hb->ad);
  free(hb->path);
  free(hb);
  if (done) done(ud);
}

static void finish_stop(dhtreg_uv_heartbeat *hb) {
  drop_conn(hb);
  uv_close((uv_handle_t *)&hb->timer, on_timer_closed);
}

static void on_withdrawn(void *ud, int err, const char *msg, const dhtreg_published *p) {
  dhtreg_uv_heartbeat *hb = ud;
  if (err == -ECANCELED) return;
  tell(hb, err, err ? (msg ? msg : dhtreg_strerror(err)) : "withdrawn");
  finish_stop(hb);
}

void dhtreg_uv_heartbeat_stop(dhtreg_uv_heartbeat *hb, bool withdraw, void (*done)(void *ud), void *ud) {
  if (!hb || hb->stopping) return;
  hb->stopping = true;
  hb->done = done;
  hb->done_ud = ud;
  uv_timer_stop(&hb->timer);
  /* a withdrawal goes on the same connection, after a call in flight (or
   * on a new one: a blocking heartbeat has none before its first renewal) */
  if (withdraw && hb->ever && !hb->failed && (hb->conn || dhtreg_uv_open(&hb->conn, hb->loop, hb->path) == 0) &&
      dhtreg_uv_withdraw(hb->conn, hb->rid, hb->sid, on_withdrawn, hb) == 0)
    return;
  finish_stop(hb);
}

/* ---- on a thread of its own (the blocking API) ------------------------------------ */

struct dhtreg_heartbeat {
  pthread_t thread;
  uv_loop_t loop;
  uv_async_t stop;
  dhtreg_uv_heartbeat *hb;
  bool withdraw;
};

static void on_hb_stopped(void *ud) {
  dhtreg_heartbeat *t = ud;
  uv_close((uv_handle_t *)&t->stop, NULL);
}

static void on_stop(uv_async_t *a) {
  dhtreg_heartbeat *t = a->data;
  dhtreg_uv_heartbeat_stop(t->hb, t->withdraw, on_hb_stopped, t);
}

static void *run(void *arg) {
  dhtreg_heartbeat *t = arg;
  tell(t->hb, 0, "advertised"); /* by dhtreg_heartbeat_start: the callback hears it here */
  uv_run(&t->loop, UV_RUN_DEFAULT);
  return NULL;
}

/* The first advertisement is made here, on the caller's thread, so that a
 * bad ad, a refusal or a missing node is the caller's error at once (as the
 * Python client's Heartbeat.start() raises it); the thread only renews. */
int dhtreg_heartbeat_start(dhtreg_heartbeat **out, const char *socket_path, const dhtreg_ad *ad,
                           dhtreg_heartbeat_cb cb, void *ud) {
  json_t *params, *res;
  if (!out) return dr__last_error_set(-EINVAL, "dhtreg_heartbeat_start: out is NULL");
  *out = NULL;
  if (!(params = lease_params(ad))) return -EINVAL;
  int r = dr__call_once(socket_path, "record.advertise", json_incref(params), &res);
  json_decref(res);
  if (r < 0) {
    json_decref(params);
    return r;
  }
  dhtreg_heartbeat *t = calloc(1, sizeof *t);
  if (!t) {
    json_decref(params);
    return dr__last_error_set(-ENOMEM, "out of memory");
  }
  if ((r = uv_loop_init(&t->loop)) < 0) {
    json_decref(params);
    free(t);
    return dr__last_error_set(r, "uv_loop_init: %s", uv_strerror(r));
  }
  uv_async_init(&t->loop, &t->stop, on_stop);
  t->stop.data = t;
  if ((r = hb_start(&t->hb, &t->loop, socket_path, params, true, cb, ud)) < 0) goto err;
  if ((r = -pthread_create(&t->thread, NULL, run, t)) < 0) {
    dr__last_error_set(r, "cannot start the heartbeat's thread: %s", strerror(-r));
    t->hb->cb = NULL; /* not on this thread */
    dhtreg_uv_heartbeat_stop(t->hb, true, NULL, NULL); /* what was advertised goes */
    goto err;
  }
  *out = t;
  return 0;
err:
  uv_close((uv_handle_t *)&t->stop, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_loop_close(&t->loop);
  free(t);
  return r;
}

void dhtreg_heartbeat_stop(dhtreg_heartbeat *t, bool withdraw) {
  if (!t) return;
  t->withdraw = withdraw;
  uv_async_send(&t->stop);
  pthread_join(t->thread, NULL);
  uv_loop_close(&t->loop);
  free(t);
}
