/* rpc_server.c - the JSON-RPC 2.0 server: listeners, connections, reading and framing, writing, idle and slow clients */
#include "api/rpc_conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536
/* Answers not yet taken by the client: above OUT_HIGH the connection's
 * requests are not read (the client's writes block; nothing fails) until
 * they are below OUT_LOW. A client that takes nothing for the idle timeout
 * while answers wait, or lets OUT_MAX pile up (watch events are not held
 * back), is dropped. */
#define OUT_HIGH (1u << 20)
#define OUT_LOW (256u << 10)
#define OUT_MAX (64u << 20)
#define SWEEP_MS 250 /* how often idle and slow connections are looked at */

typedef struct write_req {
  uv_write_t req;
  conn *c;
  char data[];
} write_req;

static void conn_close(conn *c);

/* Once the server stops and its last handle closed: tells whoever stopped
 * it (the daemon then withdraws, which answers the calls still pending),
 * and frees it once no connection is left, which may be later: a call of
 * a closed connection ends when the node answers it. */
static void server_release(dr_rpc_server *s) {
  if (!s->stopping || s->handles || s->releasing) return;
  if (s->done) {
    void (*done)(void *) = s->done;
    s->done = NULL;
    s->releasing = true; /* what done does may free connections: they call back here */
    done(s->done_ctx);
    s->releasing = false;
  }
  if (s->conns_alive) return;
  dr_json_cache_free(s->json_cache);
  free(s->unix_path);
  free(s);
}
static void on_resume(uv_idle_t *h);

void dr__rpc_conn_unref(conn *c) {
  if (--c->refs) return;
  dr_rpc_server *s = c->srv;
  dr_rpc_stream_free(&c->in);
  free(c->subs);
  free(c);
  s->conns_alive--;
  server_release(s);
}

void dr__rpc_maybe_close(conn *c) {
  if (c->eof && !c->pending && !c->writes && !c->closed) conn_close(c);
}

/* ---- writing ---------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  conn *c = w->c;
  c->writes--;
  free(w);
  if (status < 0 && !c->closed) conn_close(c);
  if (!c->closed) {
    c->active_ms = uv_now(c->srv->loop);
    if (c->out_paused && uv_stream_get_write_queue_size(&c->h.stream) < OUT_LOW) {
      c->out_paused = false;
      dr__rpc_queue_resume(c);
    }
  }
  dr__rpc_maybe_close(c);
  dr__rpc_conn_unref(c);
}

/* Writes the n pieces as one line (a newline is added). */
void dr__rpc_send_parts(conn *c, const char *const *parts, const size_t *lens, size_t n) {
  if (c->closed) return;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += lens[i];
  write_req *w = malloc(sizeof *w + len + 1);
  if (!w) return;
  len = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(w->data + len, parts[i], lens[i]);
    len += lens[i];
  }
  w->data[len] = '\n';
  w->c = c;
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len + 1);
  if (uv_write(&w->req, &c->h.stream, &buf, 1, on_write) < 0) {
    free(w);
    conn_close(c);
    return;
  }
  c->writes++;
  c->refs++;
  size_t queued = uv_stream_get_write_queue_size(&c->h.stream);
  if (queued > OUT_MAX) {
    DR_WARN(dr_node_logger(c->node),
            "rpc: dropping a client that does not read its answers (%zu bytes unsent, limit %u)",
            queued, OUT_MAX);
    conn_close(c);
  } else if (queued > OUT_HIGH && !c->out_paused) {
    /* answers come faster than the client takes them: read no more
     * requests until it caught up */
    c->out_paused = true;
    if (!c->paused) {
      c->paused = true;
      uv_read_stop(&c->h.stream);
    }
  }
}

void dr__rpc_send_json(conn *c, json_t *msg) {
  if (c->closed) return;
  char *text = json_dumps(msg, JSON_COMPACT);
  if (!text) return;
  const char *parts[] = {text};
  size_t lens[] = {strlen(text)};
  dr__rpc_send_parts(c, parts, lens, 1);
  free(text);
}

json_t *dr__rpc_error_object(json_t *id, int code, const char *message) {
  return json_pack("{s:s, s:o, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                   id ? json_incref(id) : json_null(), "error", "code", code, "message",
                   message);
}

/* ---- connections ----------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  dr_rpc_server *s = c->srv;
  /* what its calls wait for is dropped: nobody will read the answers (the
   * handlers end their calls, which unlinks them) */
  for (;;) {
    dr_rpc_call *call = c->calls;
    while (call && !call->on_close) call = call->next;
    if (!call) break;
    void (*fn)(dr_rpc_call *, void *) = call->on_close;
    call->on_close = NULL;
    fn(call, call->close_arg);
  }
  /* subscriptions end with their connection (here, not in conn_close: an
   * event being sent may close it) */
  for (size_t i = 0; i < c->n_subs; i++) dr_node_unwatch(c->node, c->subs[i]);
  c->n_subs = 0;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  dr__rpc_conn_unref(c);
  if (--s->handles == 0) server_release(s);
}

/* A closing connection gives its slot back at once: its socket is closed
 * here, while on_conn_closed runs only at the end of the loop's iteration,
 * after the same iteration may have accepted the clients that saw it go. */
static void conn_close(conn *c) {
  if (c->closed) return;
  c->closed = true;
  if (c->tcp) c->srv->n_tcp--;
  else c->srv->n_unix--;
  uv_close(&c->h.handle, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

/* Stops reading c: it has DR_RPC_MAX_PENDING calls pending. What was read
 * already stays in the splitter; call_end resumes c once half of them ended.
 * A client that pipelines faster than the node answers is slowed down by its
 * own socket filling up, never failed. */
static void pause_reading(conn *c) {
  if (c->paused) return;
  c->paused = true;
  uv_read_stop(&c->h.stream);
  DR_DEBUG(dr_node_logger(c->node), "rpc: %u calls pending on a connection; reading paused",
           c->pending);
}

/* Hands the complete texts buffered from c to the methods while c has fewer
 * than DR_RPC_MAX_PENDING calls pending, and pauses it at the cap. The caller
 * holds a reference to c (a handler may close it). */
static void take_texts(conn *c) {
  const char *text;
  size_t len;
  dr_stream_status st;
  while (!c->closed && !c->eof) {
    if (c->pending >= DR_RPC_MAX_PENDING || c->out_paused) {
      pause_reading(c);
      return;
    }
    if ((st = dr_rpc_stream_next(&c->in, &text, &len)) == DR_STREAM_NEED_MORE) return;
    if (st == DR_STREAM_VALUE) {
      dr__rpc_handle_text(c, text, len);
    } else if (st == DR_STREAM_GARBAGE) {
      json_t *e = dr__rpc_error_object(NULL, DR_RPC_PARSE_ERROR, "parse error");
      dr__rpc_send_json(c, e);
      json_decref(e);
    } else { /* too large: answer, read no more, close once written */
      DR_WARN(dr_node_logger(c->node), "rpc: request over %d bytes; closing", DR_RPC_MAX_REQUEST);
      json_t *e = dr__rpc_error_object(NULL, DR_RPC_LIMIT, "limit exceeded: request larger than 1048576 bytes");
      dr__rpc_send_json(c, e);
      json_decref(e);
      uv_read_stop(&c->h.stream);
      c->eof = true;
    }
  }
}

/* Resuming is deferred to the loop's idle phase rather than done inside
 * call_end: a call often ends from a node callback (a DHT get done, a cache
 * event) that is still walking the node's own lists, and taking new texts
 * there would start new operations in the middle of that walk. */
void dr__rpc_queue_resume(conn *c) {
  if (c->resume_queued || c->closed) return;
  c->resume_queued = true;
  c->refs++;
  c->resume_next = c->srv->resume;
  c->srv->resume = c;
  uv_idle_start(&c->srv->resume_idle, on_resume);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Resumes the queued connections: takes what they had buffered, then reads
 * again unless that brought them back to the cap. */
static void on_resume(uv_idle_t *h) {
  dr_rpc_server *s = h->data;
  conn *list = s->resume;
  s->resume = NULL;
  uv_idle_stop(h);
  while (list) {
    conn *c = list;
    list = c->resume_next;
    c->resume_next = NULL;
    c->resume_queued = false;
    if (!c->closed && c->paused && !c->out_paused && c->pending < DR_RPC_MAX_PENDING) {
      c->paused = false;
      DR_DEBUG(dr_node_logger(c->node), "rpc: %u calls pending on a connection; reading resumed",
               c->pending);
      take_texts(c);
      /* the client may have half-closed meanwhile: its EOF is read then */
      if (!c->closed && !c->paused && !c->eof &&
          uv_read_start(&c->h.stream, on_alloc, on_read) < 0)
        conn_close(c);
    }
    dr__rpc_maybe_close(c);
    dr__rpc_conn_unref(c);
  }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn *c = st->data;
  c->refs++; /* handlers below may close c */
  if (nread > 0 && !c->closed) {
    c->active_ms = uv_now(c->srv->loop);
    if (dr_rpc_stream_feed(&c->in, buf->base, (size_t)nread) < 0) conn_close(c);
    else take_texts(c);
    /* the deadline of a request runs from its first byte */
    if (!dr_rpc_stream_leftover(&c->in)) c->partial_ms = 0;
    else if (!c->partial_ms) c->partial_ms = c->active_ms;
  } else if (nread < 0 && !c->closed) {
    if (nread == UV_EOF) {
      /* reading stops at the cap, so every complete text was taken already */
      c->eof = true;
      if (dr_rpc_stream_leftover(&c->in)) {
        json_t *e = dr__rpc_error_object(NULL, DR_RPC_PARSE_ERROR, "parse error: unfinished request");
        dr__rpc_send_json(c, e);
        json_decref(e);
      }
    } else {
      conn_close(c);
    }
  }
  free(buf->base);
  dr__rpc_maybe_close(c);
  dr__rpc_conn_unref(c);
}

static void on_connection(uv_stream_t *server, int status) {
  dr_rpc_server *s = server->data;
  if (status < 0 || s->stopping) return;
  conn *c = calloc(1, sizeof *c);
  if (!c) return;
  int r = server == (uv_stream_t *)&s->tcp ? uv_tcp_init(s->loop, &c->h.tcp)
                                           : uv_pipe_init(s->loop, &c->h.pipe, 0);
  if (r < 0) {
    free(c);
    return;
  }
  c->h.handle.data = c;
  c->srv = s;
  c->node = s->node;
  c->refs = 1;
  s->conns_alive++;
  c->tcp = server == (uv_stream_t *)&s->tcp;
  c->active_ms = uv_now(s->loop);
  dr_rpc_stream_init(&c->in, DR_RPC_MAX_REQUEST);
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  if (c->tcp) s->n_tcp++;
  else s->n_unix++;
  s->handles++;
  if (uv_accept(server, &c->h.stream) < 0) {
    conn_close(c);
    return;
  }
  /* each listener has its own slots: clients of the TCP port, which any
   * local user may reach, cannot take those of the Unix socket */
  s->stats.accepted[c->tcp]++;
  if ((c->tcp ? s->n_tcp : s->n_unix) > s->max_conns) {
    s->stats.refused[c->tcp]++;
    DR_WARN(dr_node_logger(s->node), "rpc: refusing a connection on the %s: %u open already",
            c->tcp ? "TCP listener" : "Unix socket", s->max_conns);
    json_t *e = dr__rpc_error_object(NULL, DR_RPC_LIMIT, "limit exceeded: too many connections");
    dr__rpc_send_json(c, e);
    json_decref(e);
    c->eof = true;
    dr__rpc_maybe_close(c);
    return;
  }
  uv_read_start(&c->h.stream, on_alloc, on_read);
}

/* ---- idle and slow connections -------------------------------------------------- */

/* Closes what holds a slot for nothing: a connection idle for the idle
 * timeout (no call, no watch, no answer waiting), one whose request has not
 * arrived whole within the request deadline (as sshd's LoginGraceTime), and
 * one that took none of its answers for the idle timeout. */
static void on_sweep(uv_timer_t *t) {
  dr_rpc_server *s = t->data;
  uint64_t now = uv_now(s->loop);
  const dr_logger *lg = dr_node_logger(s->node);
  for (conn *c = s->conns; c; c = c->next) { /* closing unlinks later, in on_conn_closed */
    if (c->closed) continue;
    size_t queued = uv_stream_get_write_queue_size(&c->h.stream);
    if (c->partial_ms && now - c->partial_ms >= s->request_ms && !c->eof) {
      DR_WARN(lg, "rpc: closing a connection whose request did not arrive whole within %llu ms",
              (unsigned long long)s->request_ms);
      char why[128];
      snprintf(why, sizeof why, "invalid request: not complete within %llu ms; closing",
               (unsigned long long)s->request_ms);
      json_t *e = dr__rpc_error_object(NULL, DR_RPC_INVALID_REQUEST, why);
      dr__rpc_send_json(c, e);
      json_decref(e);
      uv_read_stop(&c->h.stream);
      c->eof = true;
      c->partial_ms = 0;
      dr__rpc_maybe_close(c);
    } else if (queued && now - c->active_ms >= s->idle_ms) {
      DR_WARN(lg, "rpc: dropping a client that took none of its answers for %llu ms (%zu bytes unsent)",
              (unsigned long long)s->idle_ms, queued);
      conn_close(c);
    } else if (!queued && !c->pending && !c->writes && !c->n_subs && !c->partial_ms &&
               now - c->active_ms >= s->idle_ms) {
      DR_DEBUG(lg, "rpc: closing a connection idle for %llu ms", (unsigned long long)s->idle_ms);
      conn_close(c);
    }
  }
}

/* ---- listeners ----------------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h) {
  dr_rpc_server *s = h->data;
  if (--s->handles == 0) server_release(s);
}

static int listen_tcp(dr_rpc_server *s, const char *hostport, char *err, size_t errlen) {
  char host[64], port[8];
  struct sockaddr_storage ss;
  if (dr_rpc_check_loopback(hostport) < 0 ||
      dr_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) {
    snprintf(err, errlen, "--rpc-listen %s: only loopback addresses (127.0.0.1:PORT, [::1]:PORT)", hostport);
    return -EINVAL;
  }
  int p = atoi(port), r;
  if (strchr(host, ':')) r = uv_ip6_addr(host, p, (struct sockaddr_in6 *)&ss);
  else r = uv_ip4_addr(host, p, (struct sockaddr_in *)&ss);
  if (r == 0) r = uv_tcp_init(s->loop, &s->tcp);
  if (r < 0) goto fail;
  s->tcp.data = s;
  s->handles++;
  s->have_tcp = true;
  if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
      (r = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection)) < 0)
    goto fail;
  return 0;
fail:
  snprintf(err, errlen, "cannot listen on %s: %s", hostport, uv_strerror(r));
  return r;
}

int dr_rpc_server_start(dr_rpc_server **out, uv_loop_t *loop, dr_node *node,
                        const dr_rpc_config *cfg, char *err, size_t errlen) {
  int r;
  dr_rpc_server *s = calloc(1, sizeof *s);
  if (!s || !(s->unix_path = strdup(cfg->unix_path)) || !(s->json_cache = dr_json_cache_new())) {
    if (s) free(s->unix_path);
    free(s);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->loop = loop;
  s->node = node;
  s->max_conns = cfg->max_conns ? cfg->max_conns : DR_RPC_DEFAULT_MAX_CONNS;
  s->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : DR_RPC_DEFAULT_IDLE_MS;
  s->request_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : DR_RPC_DEFAULT_REQUEST_MS;
  if ((r = dr__rpc_clear_stale_socket(cfg->unix_path, err, errlen)) < 0) goto fail_early;
  if ((r = uv_pipe_init(loop, &s->pipe, 0)) < 0) goto fail_early;
  s->pipe.data = s;
  uv_idle_init(loop, &s->resume_idle); /* cannot fail */
  s->resume_idle.data = s;
  uv_timer_init(loop, &s->sweep);
  s->sweep.data = s;
  s->handles = 3;
  mode_t old = umask(0077); /* the socket is born private */
  r = uv_pipe_bind(&s->pipe, cfg->unix_path);
  umask(old);
  if (r < 0) {
    snprintf(err, errlen, "cannot bind %s: %s", cfg->unix_path, uv_strerror(r));
    goto fail;
  }
  if (cfg->set_group && chown(cfg->unix_path, (uid_t)-1, cfg->group) < 0) {
    r = -errno;
    snprintf(err, errlen, "cannot give the socket %s to group %u (--rpc-group): %s%s", cfg->unix_path,
             (unsigned)cfg->group, strerror(-r),
             r == -EPERM ? " (the node's user must be a member of that group)" : "");
    unlink(cfg->unix_path);
    goto fail;
  }
  chmod(cfg->unix_path, cfg->set_group ? 0660 : 0600);
  if ((r = uv_listen((uv_stream_t *)&s->pipe, 128, on_connection)) < 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", cfg->unix_path, uv_strerror(r));
    unlink(cfg->unix_path);
    goto fail;
  }
  if (cfg->tcp_listen && (r = listen_tcp(s, cfg->tcp_listen, err, errlen)) < 0) {
    unlink(cfg->unix_path);
    goto fail;
  }
  uint64_t period = s->idle_ms < s->request_ms ? s->idle_ms : s->request_ms;
  period = period / 4 < SWEEP_MS ? period / 4 : SWEEP_MS;
  uv_timer_start(&s->sweep, on_sweep, period ? period : 1, period ? period : 1);
  *out = s;
  return 0;
fail:
  /* closing the handles frees s */
  s->stopping = true;
  uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
  uv_close((uv_handle_t *)&s->resume_idle, on_listener_closed);
  uv_close((uv_handle_t *)&s->sweep, on_listener_closed);
  if (s->have_tcp) uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
  return r;
fail_early:
  dr_json_cache_free(s->json_cache);
  free(s->unix_path);
  free(s);
  return r;
}

void dr_rpc_server_stats(const dr_rpc_server *s, dr_rpc_stats *out) {
  *out = s->stats;
  out->open[0] = s->n_unix;
  out->open[1] = s->n_tcp;
}

void dr_rpc_server_stop(dr_rpc_server *s, void (*done)(void *ctx), void *ctx) {
  if (s->stopping) return;
  s->stopping = true;
  s->done = done;
  s->done_ctx = ctx;
  unlink(s->unix_path);
  uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
  if (s->have_tcp) uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
  /* nothing is resumed any more: the queued connections' refs go */
  uv_close((uv_handle_t *)&s->resume_idle, on_listener_closed);
  uv_close((uv_handle_t *)&s->sweep, on_listener_closed);
  for (conn *c = s->conns; c; c = c->next) conn_close(c);
  while (s->resume) {
    conn *c = s->resume;
    s->resume = c->resume_next;
    c->resume_next = NULL;
    c->resume_queued = false;
    dr__rpc_conn_unref(c);
  }
}
