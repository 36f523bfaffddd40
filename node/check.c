/* check.c - the health checks of this node's advertisements, run on its loop: TCP connects, HTTP GETs, programs
 *
 * A started check runs every interval, the first time at once. One run (a
 * probe) either connects (tcp: connected passes), or connects, sends
 * "GET path HTTP/1.0" and reads the status line (http: 2xx passes), or
 * spawns a program (exec: exit status 0 passes). A run that takes longer
 * than the timeout fails; a program is then killed (SIGKILL to its process
 * group). A run still under way when the next one is due makes that one
 * skip. `failures` failures in a row turn the check critical, `passes`
 * passes in a row passing again; each change of state re-signs the record
 * (dr__ad_set_health).
 *
 * Nothing blocks the loop: names are resolved on libuv's threadpool
 * (uv_getaddrinfo), sockets and pipes are non-blocking, a program runs in a
 * session of its own (UV_PROCESS_DETACHED), so that one kill reaches what it
 * started too. Its stdout and stderr are read into one bounded buffer (the
 * first DR_CHECK_OUTPUT_MAX bytes are kept, the rest read and dropped).
 *
 * Lifetimes: a check belongs to its advertisement (or to the change that
 * brings it), and frees itself once its owner let go and its timer is
 * closed. A probe belongs to its check until it gives its result or is
 * abandoned (the check stopped), then to itself until every handle and
 * request of it is over. A killed program is waited for before its handle is
 * closed, so that libuv reaps it: no zombie is left behind.
 */
#include "node/node_private.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_GRACE_MS 100 /* after a program exits, how long its last output may take to arrive */

struct dr_check;

typedef struct probe {
  struct dr_check *c; /* NULL once it gave its result or was abandoned */
  uv_loop_t *loop;
  unsigned refs;      /* handles open and requests under way */
  bool done;          /* no result to give any more: closing */
  dr_check_kind kind;
  uint32_t timeout_s;
  uv_timer_t timer;   /* the timeout; after a program's exit, the grace for its output */
  uv_getaddrinfo_t gai;
  uv_tcp_t tcp;
  uv_connect_t conn;
  uv_write_t wr;
  uv_process_t proc;
  uv_pipe_t pipes[2]; /* a program's stdout and stderr */
  bool timer_open, tcp_open, proc_open, proc_running, gai_pending;
  bool pipe_open[2];
  int64_t exit_status;
  int term_signal;
  char host[256], port[8];
  char *req; /* http: the request */
  size_t len;
  char buf[DR_CHECK_OUTPUT_MAX + 1]; /* what was read */
  char scratch[256];                 /* what is read beyond buf, dropped */
} probe;

struct dr_check {
  dr_check_spec spec;
  dr_node *n;     /* set once started */
  own_ad *ad;     /* its advertisement, once started (NULL once it let go) */
  uv_timer_t timer;
  probe *probe;   /* the run under way */
  unsigned refs;  /* its owner, and the timer while open */
  bool started, stopped;
  uint8_t health;
  bool ran, last_ok;
  uint32_t fails, passes;
  uint64_t last_at;
  char output[DR_CHECK_OUTPUT_MAX + 1];
};

static void check_result(struct dr_check *c, bool ok, const char *text);
static void on_timeout(uv_timer_t *t);

/* ---- a probe's end -------------------------------------------------------------------- */

static void probe_unref(probe *p) {
  if (--p->refs || !p->done) return;
  free(p->req);
  free(p);
}

static void on_probe_closed(uv_handle_t *h) {
  probe_unref(h->data);
}

static void close_handle(probe *p, void *h, bool *open) {
  if (!*open) return;
  *open = false;
  uv_close((uv_handle_t *)h, on_probe_closed);
}

/* Kills a program still running, and its process group (its session). */
static void kill_program(probe *p) {
  if (p->proc_running && kill(-p->proc.pid, SIGKILL) < 0) uv_process_kill(&p->proc, SIGKILL);
}

/* No more result from p: everything of it is closed or cancelled. A program
 * is killed, and its handle closed once it exited (on_program_exit). */
static void probe_end(probe *p) {
  p->done = true;
  if (p->c) p->c->probe = NULL;
  p->c = NULL;
  p->refs++; /* nothing is freed before the end of this */
  close_handle(p, &p->timer, &p->timer_open);
  close_handle(p, &p->tcp, &p->tcp_open);
  close_handle(p, &p->pipes[0], &p->pipe_open[0]);
  close_handle(p, &p->pipes[1], &p->pipe_open[1]);
  kill_program(p);
  if (!p->proc_running) close_handle(p, &p->proc, &p->proc_open);
  if (p->gai_pending) uv_cancel((uv_req_t *)&p->gai); /* its callback comes anyway */
  probe_unref(p);
}

/* The run's result: given to the check (once), then the probe ends. */
static void probe_result(probe *p, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void probe_result(probe *p, bool ok, const char *fmt, ...) {
  char text[DR_CHECK_OUTPUT_MAX + 160];
  va_list ap;
  if (p->done) return;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  struct dr_check *c = p->c;
  probe_end(p);
  if (c) check_result(c, ok, text);
}

/* ---- tcp and http ------------------------------------------------------------------ */

static void on_http_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  probe *p = h->data;
  (void)hint;
  size_t room = sizeof p->buf - 1 - p->len;
  *b = room ? uv_buf_init(p->buf + p->len, (unsigned)room) : uv_buf_init(p->scratch, sizeof p->scratch);
}

/* The status line "HTTP/1.x NNN reason" decides: 2xx passes. */
static void http_answered(probe *p, ssize_t nread) {
  char *nl = memchr(p->buf, '\n', p->len);
  if (!nl && nread >= 0 && p->len < sizeof p->buf - 1) return; /* more to come */
  if (nl) *nl = '\0';
  size_t l = strlen(p->buf);
  if (l && p->buf[l - 1] == '\r') p->buf[--l] = '\0';
  const char *s = p->buf;
  if (!p->len && nread < 0)
    probe_result(p, false, "http %s:%s: %s", p->host, p->port,
                 nread == UV_EOF ? "the connection closed without an answer" : uv_strerror((int)nread));
  else if (strncmp(s, "HTTP/1.", 7) != 0 || !s[7] || s[8] != ' ' || s[9] < '1' || s[9] > '5' ||
           s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' || (s[12] && s[12] != ' '))
    probe_result(p, false, "not an HTTP status line: %.200s", s);
  else
    probe_result(p, s[9] == '2', "%s", s);
}

static void on_http_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  probe *p = st->data;
  if (p->done) return;
  if (nread > 0 && b->base != p->scratch) p->len += (size_t)nread;
  p->buf[p->len] = '\0';
  if (nread != 0) http_answered(p, nread);
}

static void on_written(uv_write_t *w, int status) {
  probe *p = w->data;
  if (status < 0) probe_result(p, false, "http %s:%s: sending the request: %s", p->host, p->port, uv_strerror(status));
  probe_unref(p);
}

static void on_connected(uv_connect_t *req, int status) {
  probe *p = req->data;
  if (p->done) { /* given up (its timeout): nothing to say */
  } else if (status < 0) {
    probe_result(p, false, "connect %s:%s: %s", p->host, p->port, uv_strerror(status));
  } else if (p->kind == DR_CHECK_TCP) {
    probe_result(p, true, "connected to %s:%s", p->host, p->port);
  } else {
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
    p->wr.data = p;
    int r = uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, on_written);
    if (r == 0) p->refs++;
    if (r == 0) r = uv_read_start((uv_stream_t *)&p->tcp, on_http_alloc, on_http_read);
    if (r < 0) probe_result(p, false, "http %s:%s: %s", p->host, p->port, uv_strerror(r));
  }
  probe_unref(p);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  probe *p = req->data;
  p->gai_pending = false;
  int r = status;
  if (!p->done && r == 0) { /* the first address the name resolves to */
    if ((r = uv_tcp_init(p->loop, &p->tcp)) == 0) {
      p->tcp.data = p;
      p->tcp_open = true;
      p->refs++;
      p->conn.data = p;
      if ((r = uv_tcp_connect(&p->conn, &p->tcp, res->ai_addr, on_connected)) == 0) p->refs++;
    }
    if (r < 0) probe_result(p, false, "connect %s:%s: %s", p->host, p->port, uv_strerror(r));
  } else if (!p->done) {
    probe_result(p, false, "cannot resolve %s: %s", p->host, uv_strerror(r));
  }
  if (res) uv_freeaddrinfo(res);
  probe_unref(p);
}

static void start_connect(probe *p, const dr_check_spec *s) {
  const char *auth = NULL, *path = NULL;
  size_t alen = 0;
  int r = s->kind == DR_CHECK_TCP ? dr_split_hostport(s->target, p->host, sizeof p->host, p->port, sizeof p->port)
                                  : dr__check_url(s->target, p->host, sizeof p->host, p->port, sizeof p->port,
                                                  &auth, &alen, &path);
  if (r == 0 && s->kind == DR_CHECK_HTTP) {
    size_t cap = strlen(path) + alen + 128;
    if (!(p->req = malloc(cap))) r = -ENOMEM;
    else snprintf(p->req, cap, "GET %s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: dhtreg-check\r\nConnection: close\r\n\r\n",
                  path, (int)alen, auth);
  }
  if (r < 0) {
    probe_result(p, false, "bad target %s", s->target);
    return;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  p->gai.data = p;
  if ((r = uv_getaddrinfo(p->loop, &p->gai, on_resolved, p->host, p->port, &hints)) < 0) {
    probe_result(p, false, "cannot resolve %s: %s", p->host, uv_strerror(r));
    return;
  }
  p->gai_pending = true;
  p->refs++;
}

/* ---- exec ------------------------------------------------------------------------------ */

static void exec_finished(probe *p) {
  char head[64];
  bool ok = p->exit_status == 0 && p->term_signal == 0;
  if (p->term_signal) snprintf(head, sizeof head, "killed by signal %d", p->term_signal);
  else snprintf(head, sizeof head, "exit status %lld", (long long)p->exit_status);
  if (ok && p->len) probe_result(p, true, "%s", p->buf);
  else probe_result(p, ok, "%s%s%s", head, p->len ? ": " : "", p->buf);
}

static void on_out_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  probe *p = st->data;
  int i = st == (uv_stream_t *)&p->pipes[1];
  if (nread > 0 && b->base != p->scratch) p->len += (size_t)nread;
  p->buf[p->len] = '\0';
  if (nread >= 0) return;
  close_handle(p, st, &p->pipe_open[i]); /* its end (or an error) */
  if (!p->done && !p->proc_running && !p->pipe_open[0] && !p->pipe_open[1]) exec_finished(p);
}

static void on_program_exit(uv_process_t *h, int64_t status, int sig) {
  probe *p = h->data;
  p->proc_running = false;
  p->exit_status = status;
  p->term_signal = sig;
  close_handle(p, &p->proc, &p->proc_open); /* reaped */
  if (p->done) return;
  if (!p->pipe_open[0] && !p->pipe_open[1]) exec_finished(p);
  else uv_timer_start(&p->timer, on_timeout, EXIT_GRACE_MS, 0); /* what it wrote last may still come */
}

static void start_exec(probe *p, const dr_check_spec *s) {
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  for (int i = 0; i < 2; i++) {
    uv_pipe_init(p->loop, &p->pipes[i], 0);
    p->pipes[i].data = p;
    p->pipe_open[i] = true;
    p->refs++;
    stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE; /* writable by the program */
    stdio[i + 1].data.stream = (uv_stream_t *)&p->pipes[i];
  }
  uv_process_options_t o = {
      .exit_cb = on_program_exit,
      .file = s->argv[0],
      .args = s->argv,
      .flags = UV_PROCESS_DETACHED, /* a session and process group of its own: killed whole */
      .stdio_count = 3,
      .stdio = stdio,
  };
  p->proc.data = p;
  int r = uv_spawn(p->loop, &p->proc, &o);
  p->proc_open = true; /* closed whether it started or not */
  p->refs++;
  if (r < 0) {
    probe_result(p, false, "cannot run %s: %s", s->argv[0], uv_strerror(r));
    return;
  }
  p->proc_running = true;
  for (int i = 0; i < 2; i++)
    if (uv_read_start((uv_stream_t *)&p->pipes[i], on_http_alloc, on_out_read) < 0)
      close_handle(p, &p->pipes[i], &p->pipe_open[i]);
}

/* ---- a run ---------------------------------------------------------------------------- */

/* The timeout; or, once a program exited, the end of the grace for its output. */
static void on_timeout(uv_timer_t *t) {
  probe *p = t->data;
  if (p->done) return;
  if (p->kind == DR_CHECK_EXEC && !p->proc_running) {
    exec_finished(p);
    return;
  }
  if (p->kind == DR_CHECK_EXEC)
    probe_result(p, false, "timed out after %u s (killed)%s%s", p->timeout_s, p->len ? ": " : "", p->buf);
  else
    probe_result(p, false, "%s %s:%s: timed out after %u s", dr_check_kind_name(p->kind), p->host, p->port,
                 p->timeout_s);
}

static void probe_start(struct dr_check *c) {
  probe *p = calloc(1, sizeof *p);
  if (!p) {
    check_result(c, false, "out of memory");
    return;
  }
  p->c = c;
  p->loop = c->n->loop;
  p->kind = c->spec.kind;
  p->timeout_s = c->spec.timeout_s;
  uv_timer_init(p->loop, &p->timer);
  p->timer.data = p;
  p->timer_open = true;
  p->refs = 1;
  c->probe = p;
  uv_timer_start(&p->timer, on_timeout, (uint64_t)p->timeout_s * 1000, 0);
  if (p->kind == DR_CHECK_EXEC) start_exec(p, &c->spec);
  else start_connect(p, &c->spec);
}

/* ---- the check -------------------------------------------------------------------------- */

/* Keeps what fits of text as valid UTF-8, its control characters (but
 * newlines and tabs) as '?', without trailing white space. */
static void set_output(char *dst, const char *src) {
  size_t o = 0, i = 0, n = strlen(src);
  while (i < n && o < DR_CHECK_OUTPUT_MAX) {
    unsigned char ch = (unsigned char)src[i];
    size_t k = ch < 0x80 ? 1 : (ch & 0xe0) == 0xc0 ? 2 : (ch & 0xf0) == 0xe0 ? 3 : (ch & 0xf8) == 0xf0 ? 4 : 0;
    if (k > 1 && (i + k > n || !dr_text_valid(src + i, k))) k = 0;
    if (k > 1 && o + k > DR_CHECK_OUTPUT_MAX) break;
    if (k <= 1) {
      dst[o++] = k == 1 && (ch >= 0x20 || ch == '\n' || ch == '\t') && ch != 0x7f ? (char)ch : '?';
      i++;
    } else {
      memcpy(dst + o, src + i, k);
      o += k;
      i += k;
    }
  }
  while (o && (dst[o - 1] == '\n' || dst[o - 1] == ' ' || dst[o - 1] == '\t' || dst[o - 1] == '\r')) o--;
  dst[o] = '\0';
}

void dr__check_sync(own_ad *ad) {
  struct dr_check *c = ad ? ad->check : NULL;
  if (!c || !c->started || c->stopped || c->health == ad->rec.health) return;
  int r = dr__ad_set_health(c->n, ad, c->health);
  if (r < 0 && r != -EAGAIN)
    DR_WARN(&c->n->log, "check of %s: cannot re-sign the record as %s: %s", ad->rec.name,
            c->health ? "critical" : "passing", strerror(-r));
}

static void check_result(struct dr_check *c, bool ok, const char *text) {
  uint8_t was = c->health;
  set_output(c->output, text);
  c->ran = true;
  c->last_ok = ok;
  c->last_at = dr_now();
  if (ok) {
    c->fails = 0;
    if (c->passes < UINT32_MAX) c->passes++;
    if (was == DR_HEALTH_CRITICAL && c->passes >= c->spec.passes) c->health = DR_HEALTH_PASSING;
  } else {
    c->passes = 0;
    if (c->fails < UINT32_MAX) c->fails++;
    if (was == DR_HEALTH_PASSING && c->fails >= c->spec.failures) c->health = DR_HEALTH_CRITICAL;
  }
  const char *name = c->ad ? c->ad->rec.name : "?";
  DR_DEBUG(&c->n->log, "check of %s: %s: %s", name, ok ? "pass" : "fail", c->output);
  if (c->health != was)
    DR_INFO(&c->n->log, "check of %s: now %s after %u %s in a row; last: %s", name,
            c->health ? "critical" : "passing", ok ? c->passes : c->fails, ok ? "passes" : "failures", c->output);
  if (c->ad) dr__check_sync(c->ad);
}

static void on_interval(uv_timer_t *t) {
  struct dr_check *c = t->data;
  if (c->probe) {
    DR_DEBUG(&c->n->log, "check of %s: the last run is still under way; this one skipped",
             c->ad ? c->ad->rec.name : "?");
    return;
  }
  probe_start(c);
}

static void check_unref(struct dr_check *c) {
  if (--c->refs) return;
  dr_check_spec_clear(&c->spec);
  free(c);
}

static void on_check_timer_closed(uv_handle_t *h) {
  check_unref(h->data);
}

struct dr_check *dr__check_new(const dr_check_spec *spec) {
  struct dr_check *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (dr_check_spec_copy(&c->spec, spec) < 0) {
    free(c);
    return NULL;
  }
  c->refs = 1;
  return c;
}

const dr_check_spec *dr__check_spec(const struct dr_check *c) {
  return &c->spec;
}

void dr__check_start(dr_node *n, own_ad *ad) {
  struct dr_check *c = ad->check;
  if (!c || c->started || c->stopped || n->stopping || !n->loop) return;
  c->n = n;
  c->ad = ad;
  c->health = ad->rec.health; /* until its runs say otherwise */
  c->started = true;
  uv_timer_init(n->loop, &c->timer);
  c->timer.data = c;
  c->refs++;
  uv_timer_start(&c->timer, on_interval, 0, (uint64_t)c->spec.interval_s * 1000);
  DR_DEBUG(&n->log, "check of %s: %s every %u s (timeout %u s), critical after %u failures, passing after %u passes",
           ad->rec.name, dr_check_kind_name(c->spec.kind), c->spec.interval_s, c->spec.timeout_s,
           c->spec.failures, c->spec.passes);
}

void dr__check_stop(struct dr_check *c) {
  if (!c || c->stopped) return;
  c->stopped = true;
  if (!c->started) return;
  uv_close((uv_handle_t *)&c->timer, on_check_timer_closed);
  if (c->probe) probe_end(c->probe); /* abandoned: no result */
}

void dr__check_free(struct dr_check *c) {
  if (!c) return;
  dr__check_stop(c);
  c->ad = NULL;
  check_unref(c);
}

void dr__check_status(const struct dr_check *c, dr_check_status *st) {
  memset(st, 0, sizeof *st);
  st->health = c->started ? c->health : c->ad ? c->ad->rec.health : DR_HEALTH_PASSING;
  st->ran = c->ran;
  st->last_ok = c->last_ok;
  st->failures = c->fails;
  st->passes = c->passes;
  st->last_at = c->last_at;
  st->output = c->output;
}

void dr__checks_stop(dr_node *n) {
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b))
    dr__check_stop(((own_ad *)it->value)->check);
}
