/* client_uv.c - libdhtreg on a libuv loop: one connection, many calls in flight matched by id, watch events */
#include "api/client_private.h"
#include "dhtreg/dhtreg_uv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS 100 /* how often deadlines are looked at */

typedef enum call_kind { K_RAW, K_RECORDS, K_ONE, K_PUBLISHED, K_WATCH } call_kind;

typedef struct call {
  struct call *next;
  long long id;
  call_kind kind;
  uint64_t deadline;
  char *line; /* not yet written (before the connection is up) */
  size_t len;
  void *cb;
  void *ud;
} call;

typedef struct watch {
  struct watch *next;
  long long sub;
  dhtreg_uv_event_cb cb;
  void *ud;
} watch;

typedef struct write_req {
  uv_write_t req;
  char *data;
} write_req;

struct dhtreg_uv {
  uv_loop_t *loop;
  uv_pipe_t pipe;
  uv_connect_t connect;
  uv_timer_t sweep;
  bool up, broken, closing;
  int timeout_ms;
  long long next_id;
  call *calls;
  watch *watches;
  char *buf;
  size_t len, cap;
  int handles;
  void (*done)(void *);
  void *done_ud;
};

/* ---- ending calls ------------------------------------------------------------ */

static void finish(dhtreg_uv *c, call *k, int err, const char *msg, json_t *result) {
  dhtreg_records recs;
  dhtreg_published pub;
  switch (k->kind) {
  case K_RAW: {
    char *text = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    ((dhtreg_uv_result_cb)k->cb)(k->ud, err, msg, text);
    free(text);
    break;
  }
  case K_RECORDS:
  case K_ONE:
    if (!err && dr__records_from_json(result, k->kind == K_ONE, &recs) < 0) {
      err = -EPROTO;
      msg = dhtreg_strerror(err);
    }
    ((dhtreg_uv_records_cb)k->cb)(k->ud, err, msg, err ? NULL : &recs);
    if (!err) dhtreg_records_free(&recs);
    break;
  case K_PUBLISHED:
    if (!err) dr__published_from_json(result, &pub);
    ((dhtreg_uv_published_cb)k->cb)(k->ud, err, msg, err ? NULL : &pub);
    break;
  case K_WATCH:
    if (!err) {
      watch *w = calloc(1, sizeof *w);
      if (!w) {
        err = -ENOMEM;
      } else {
        w->sub = (long long)json_integer_value(json_object_get(result, "subscription"));
        w->cb = (dhtreg_uv_event_cb)k->cb;
        w->ud = k->ud;
        w->next = c->watches;
        c->watches = w;
      }
    }
    if (err) ((dhtreg_uv_event_cb)k->cb)(k->ud, err, NULL);
    break;
  }
  free(k->line);
  free(k);
}

static call *take(dhtreg_uv *c, long long id) {
  for (call **p = &c->calls; *p; p = &(*p)->next)
    if ((*p)->id == id) {
      call *k = *p;
      *p = k->next;
      return k;
    }
  return NULL;
}

/* The connection is gone: every call fails with err, every watch ends. */
static void fail_all(dhtreg_uv *c, int err) {
  c->broken = true;
  c->up = false;
  while (c->calls) {
    call *k = c->calls;
    c->calls = k->next;
    finish(c, k, err, dhtreg_strerror(err), NULL);
  }
  while (c->watches) {
    watch *w = c->watches;
    c->watches = w->next;
    w->cb(w->ud, err, NULL);
    free(w);
  }
}

/* The calls past their deadline are unlinked first, then told: a callback
 * may close the client, which ends (and frees) every call still linked. */
static void on_sweep(uv_timer_t *t) {
  dhtreg_uv *c = t->data;
  uint64_t now = uv_now(c->loop);
  call *late = NULL, **tail = &late;
  for (call **p = &c->calls; *p;) {
    call *k = *p;
    if (k->deadline && now >= k->deadline) {
      *p = k->next;
      k->next = NULL;
      *tail = k;
      tail = &k->next;
    } else {
      p = &k->next;
    }
  }
  while (late) {
    call *k = late;
    late = k->next;
    finish(c, k, -ETIMEDOUT, "no answer from the node in time", NULL);
  }
}

/* ---- reading ------------------------------------------------------------------- */

static void handle_line(dhtreg_uv *c, const char *text, size_t len) {
  json_t *msg = json_loadb(text, len, 0, NULL);
  if (!msg) return;
  json_t *id = json_object_get(msg, "id");
  if (json_is_integer(id)) {
    call *k = take(c, (long long)json_integer_value(id));
    if (k) {
      char emsg[512];
      int err = dr__response_error(msg, emsg, sizeof emsg);
      finish(c, k, err, err ? emsg : NULL, err ? NULL : json_object_get(msg, "result"));
    }
  } else {
    const char *m = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    long long sub = (long long)json_integer_value(json_object_get(params, "subscription"));
    dhtreg_event ev;
    if (m && strcmp(m, "event") == 0 && dr__event_from_json(params, &ev) == 0) {
      for (watch *w = c->watches; w; w = w->next)
        if (w->sub == sub) {
          w->cb(w->ud, 0, &ev);
          break;
        }
      dhtreg_event_free(&ev);
    }
  }
  json_decref(msg);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  dhtreg_uv *c = h->data;
  if (c->cap - c->len < 65536) {
    size_t cap = c->cap ? c->cap * 2 : 65536;
    char *nb = cap <= DR_CLIENT_LINE_MAX ? realloc(c->buf, cap) : NULL;
    if (nb) {
      c->buf = nb;
      c->cap = cap;
    }
  }
  *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  dhtreg_uv *c = s->data;
  if (n < 0) {
    uv_read_stop(s);
    fail_all(c, n == UV_EOF ? -EPIPE : (int)n);
    return;
  }
  c->len += (size_t)n;
  size_t start = 0;
  for (size_t i = c->len - (size_t)n; i < c->len; i++)
    if (c->buf[i] == '\n') {
      handle_line(c, c->buf + start, i - start);
      start = i + 1;
      if (c->broken) return;
    }
  memmove(c->buf, c->buf + start, c->len - start);
  c->len -= start;
  if (c->len == c->cap) {
    uv_read_stop(s);
    fail_all(c, -EPROTO);
  }
}

/* ---- writing ---------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  free(w->data);
  free(w);
}

static int write_line(dhtreg_uv *c, char *line, size_t len) {
  write_req *w = malloc(sizeof *w);
  if (!w) return -ENOMEM;
  w->data = line;
  uv_buf_t b = uv_buf_init(line, (unsigned)len);
  int r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written);
  if (r < 0) free(w);
  return r;
}

static void on_connect(uv_connect_t *req, int status) {
  dhtreg_uv *c = req->data;
  if (c->closing) return;
  if (status < 0) {
    fail_all(c, status == UV_ENOENT || status == UV_ECONNREFUSED ? status : status);
    return;
  }
  c->up = true;
  uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
  for (call *k = c->calls; k; k = k->next)
    if (k->line) {
      if (write_line(c, k->line, k->len) == 0) k->line = NULL;
    }
}

/* Sends a call of that kind; params stolen. */
static int send_call(dhtreg_uv *c, const char *method, json_t *params, call_kind kind, void *cb, void *ud) {
  if (!params || !c || !cb) {
    json_decref(params);
    return -EINVAL;
  }
  if (c->closing || c->broken) {
    json_decref(params);
    return -EPIPE;
  }
  call *k = calloc(1, sizeof *k);
  if (!k) {
    json_decref(params);
    return -ENOMEM;
  }
  k->id = c->next_id++;
  k->kind = kind;
  k->cb = cb;
  k->ud = ud;
  k->deadline = c->timeout_ms > 0 ? uv_now(c->loop) + (uint64_t)c->timeout_ms : 0;
  char *line = dr__request_line(k->id, method, params, &k->len);
  if (!line) {
    free(k);
    return -ENOMEM;
  }
  if (c->up) {
    int r = write_line(c, line, k->len);
    if (r < 0) {
      free(line);
      free(k);
      return r;
    }
  } else {
    k->line = line;
  }
  k->next = c->calls;
  c->calls = k;
  return 0;
}

/* ---- the API ------------------------------------------------------------------------ */

int dhtreg_uv_open(dhtreg_uv **out, uv_loop_t *loop, const char *socket_path) {
  char def[4096];
  if (out) *out = NULL;
  if (!out || !loop) return dr__last_error_set(-EINVAL, "dhtreg_uv_open: out or loop is NULL");
  int r = dr__socket_or_default(&socket_path, def, sizeof def);
  if (r < 0) return r;
  dhtreg_uv *c = calloc(1, sizeof *c);
  if (!c) return dr__last_error_set(-ENOMEM, "out of memory");
  c->loop = loop;
  c->timeout_ms = DR_CLIENT_TIMEOUT_MS;
  c->next_id = 1;
  r = uv_pipe_init(loop, &c->pipe, 0);
  if (r < 0) {
    free(c);
    return dr__last_error_set(r, "uv_pipe_init: %s", uv_strerror(r));
  }
  uv_timer_init(loop, &c->sweep);
  c->pipe.data = c->sweep.data = c->connect.data = c;
  c->handles = 2;
  uv_timer_start(&c->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  uv_unref((uv_handle_t *)&c->sweep); /* the connection alone keeps the loop */
  uv_pipe_connect(&c->connect, &c->pipe, socket_path, on_connect); /* copies socket_path */
  dr__last_error_clear();
  *out = c;
  return 0;
}

void dhtreg_uv_set_timeout(dhtreg_uv *c, int timeout_ms) {
  if (c) c->timeout_ms = timeout_ms;
}

static void on_closed(uv_handle_t *h) {
  dhtreg_uv *c = h->data;
  if (--c->handles) return;
  void (*done)(void *) = c->done;
  void *ud = c->done_ud;
  free(c->buf);
  free(c);
  if (done) done(ud);
}

void dhtreg_uv_close(dhtreg_uv *c, void (*done)(void *ud), void *ud) {
  if (!c || c->closing) return;
  c->closing = true;
  c->done = done;
  c->done_ud = ud;
  fail_all(c, -ECANCELED);
  uv_close((uv_handle_t *)&c->pipe, on_closed);
  uv_close((uv_handle_t *)&c->sweep, on_closed);
}

int dhtreg_uv_call(dhtreg_uv *c, const char *method, const char *params_json, dhtreg_uv_result_cb cb, void *ud) {
  return send_call(c, method, dr__params(params_json), K_RAW, (void *)cb, ud);
}

int dhtreg_uv_resolve(dhtreg_uv *c, const char *rid, const dhtreg_resolve_opts *o, dhtreg_uv_records_cb cb, void *ud) {
  return send_call(c, "resolve", dr__resolve_params(rid, o), K_RECORDS, (void *)cb, ud);
}

int dhtreg_uv_discover(dhtreg_uv *c, const char *rid, const char *type, dhtreg_uv_records_cb cb, void *ud) {
  json_t *p = json_pack("{s:s}", "resource_id", rid ? rid : "");
  if (p && type) json_object_set_new(p, "type", json_string(type));
  return send_call(c, "discover", p, K_ONE, (void *)cb, ud);
}

int dhtreg_uv_advertise(dhtreg_uv *c, const dhtreg_ad *ad, dhtreg_uv_published_cb cb, void *ud) {
  return send_call(c, "record.advertise", dr__ad_json(ad), K_PUBLISHED, (void *)cb, ud);
}

/* record.advertise with params already made (the heartbeat's). */
int dr__uv_advertise_json(dhtreg_uv *c, json_t *params, dhtreg_uv_published_cb cb, void *ud) {
  return send_call(c, "record.advertise", json_incref(params), K_PUBLISHED, (void *)cb, ud);
}

static json_t *ids(const char *rid, const char *sid) {
  return rid && sid ? json_pack("{s:s, s:s}", "resource_id", rid, "service_id", sid) : NULL;
}

int dhtreg_uv_renew(dhtreg_uv *c, const char *rid, const char *sid, dhtreg_uv_published_cb cb, void *ud) {
  return send_call(c, "record.renew", ids(rid, sid), K_PUBLISHED, (void *)cb, ud);
}

int dhtreg_uv_withdraw(dhtreg_uv *c, const char *rid, const char *sid, dhtreg_uv_published_cb cb, void *ud) {
  return send_call(c, "record.withdraw", ids(rid, sid), K_PUBLISHED, (void *)cb, ud);
}

int dhtreg_uv_watch(dhtreg_uv *c, const char *rid, dhtreg_uv_event_cb cb, void *ud) {
  return send_call(c, "watch", json_pack("{s:s}", "resource_id", rid ? rid : ""), K_WATCH, (void *)cb, ud);
}
