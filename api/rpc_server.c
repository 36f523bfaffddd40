/* rpc_server.c - the JSON-RPC 2.0 server: sockets, connections, framing, batches, replies */
#include "api/api_private.h"
#include "api/rpc_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_WRITE_QUEUE (8u * 1024 * 1024) /* a client that reads nothing is dropped */

typedef struct conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  } h;
  struct conn *prev, *next;
  dr_rpc_server *srv;
  dr_node *node;
  dr_rpc_stream in;
  unsigned refs;    /* the open handle, each unended call, each write */
  unsigned pending; /* calls not yet ended */
  unsigned writes;  /* writes under way */
  bool closed;      /* uv_close called: nothing more is read or written */
  uint64_t *subs;   /* this connection's watch subscriptions */
  size_t n_subs;
  bool eof;         /* the client will send nothing more */
} conn;

typedef struct batch {
  json_t *responses;
  size_t outstanding;
} batch;

struct dr_rpc_call {
  conn *c;
  json_t *id; /* NULL for a notification */
  batch *b;
};

struct dr_rpc_server {
  uv_loop_t *loop;
  dr_node *node;
  uv_pipe_t pipe;
  uv_tcp_t tcp;
  bool have_tcp;
  char *unix_path;
  unsigned max_conns, n_conns;
  conn *conns;
  unsigned handles; /* listeners and connections not yet closed */
  bool stopping;
  void (*done)(void *);
  void *done_ctx;
};

typedef struct write_req {
  uv_write_t req;
  conn *c;
  char data[];
} write_req;

static void conn_close(conn *c);

static void conn_unref(conn *c) {
  if (--c->refs) return;
  dr_rpc_stream_free(&c->in);
  free(c->subs);
  free(c);
}

static void maybe_close(conn *c) {
  if (c->eof && !c->pending && !c->writes && !c->closed) conn_close(c);
}

/* ---- writing ---------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  conn *c = w->c;
  c->writes--;
  free(w);
  if (status < 0 && !c->closed) conn_close(c);
  maybe_close(c);
  conn_unref(c);
}

static void send_json(conn *c, json_t *msg) {
  if (c->closed) return;
  char *text = json_dumps(msg, JSON_COMPACT);
  if (!text) return;
  size_t len = strlen(text);
  write_req *w = malloc(sizeof *w + len + 1);
  if (!w) {
    free(text);
    return;
  }
  memcpy(w->data, text, len);
  w->data[len] = '\n';
  free(text);
  w->c = c;
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len + 1);
  if (uv_write(&w->req, &c->h.stream, &buf, 1, on_write) < 0) {
    free(w);
    conn_close(c);
    return;
  }
  c->writes++;
  c->refs++;
  if (uv_stream_get_write_queue_size(&c->h.stream) > MAX_WRITE_QUEUE) {
    DR_WARN(dr_node_logger(c->node), "rpc: dropping a client that does not read its answers");
    conn_close(c);
  }
}

static json_t *error_object(json_t *id, int code, const char *message) {
  return json_pack("{s:s, s:o, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
                   id ? json_incref(id) : json_null(), "error", "code", code, "message",
                   message);
}

/* ---- calls ---------------------------------------------------------------- */

static dr_rpc_call *call_new(conn *c, json_t *id, batch *b) {
  dr_rpc_call *call = calloc(1, sizeof *call);
  if (!call) return NULL;
  call->c = c;
  call->id = id ? json_incref(id) : NULL;
  call->b = b;
  c->refs++;
  c->pending++;
  return call;
}

/* Ends a call with a full response object (whose reference it takes). */
static void call_end(dr_rpc_call *call, json_t *response) {
  conn *c = call->c;
  batch *b = call->b;
  if (!call->id || !response) {
    json_decref(response); /* notifications get no answer */
  } else if (b) {
    json_array_append_new(b->responses, response);
  } else {
    send_json(c, response);
    json_decref(response);
  }
  if (b && --b->outstanding == 0) {
    if (json_array_size(b->responses)) send_json(c, b->responses);
    json_decref(b->responses);
    free(b);
  }
  json_decref(call->id);
  free(call);
  c->pending--;
  maybe_close(c);
  conn_unref(c);
}

/* ---- watch subscriptions ------------------------------------------------------ */

static const char *event_name(dr_event_type t) {
  switch (t) {
  case DR_EVENT_REGISTER:
    return "register";
  case DR_EVENT_DEREGISTER:
    return "deregister";
  case DR_EVENT_EXPIRE:
    return "expire";
  }
  return "?";
}

static void on_event(void *ctx, uint64_t sub, dr_event_type type, const dr_entry *record) {
  conn *c = ctx;
  if (c->closed) return;
  json_t *msg = json_pack("{s:s, s:s, s:{s:I, s:s, s:o}}", "jsonrpc", "2.0", "method", "event",
                          "params", "subscription", (json_int_t)sub, "type", event_name(type),
                          "record", dr_json_record(record));
  if (!msg) return;
  send_json(c, msg);
  json_decref(msg);
}

int dr_rpc_conn_watch(dr_rpc_call *call, const uint8_t rid[DR_ID_LEN], uint64_t *sub) {
  conn *c = call->c;
  if (c->closed) return -ESHUTDOWN;
  if (c->n_subs >= DR_RPC_MAX_WATCHES_PER_CONN) return -EDQUOT;
  uint64_t *grown = realloc(c->subs, (c->n_subs + 1) * sizeof *grown);
  if (!grown) return -ENOMEM;
  c->subs = grown;
  int r = dr_node_watch(c->node, rid, on_event, c, sub);
  if (r < 0) return r;
  c->subs[c->n_subs++] = *sub;
  return 0;
}

int dr_rpc_conn_unwatch(dr_rpc_call *call, uint64_t sub) {
  conn *c = call->c;
  for (size_t i = 0; i < c->n_subs; i++)
    if (c->subs[i] == sub) {
      c->subs[i] = c->subs[--c->n_subs];
      return dr_node_unwatch(c->node, sub);
    }
  return DR_ENOTFOUND; /* another connection's subscriptions are not ours to end */
}

dr_node *dr_rpc_call_node(const dr_rpc_call *call) {
  return call->c->node;
}

void dr_rpc_reply(dr_rpc_call *call, json_t *result) {
  json_t *resp = NULL;
  if (call->id)
    resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", call->id, "result",
                     result ? result : json_null());
  else
    json_decref(result);
  call_end(call, resp);
}

void dr_rpc_fail(dr_rpc_call *call, int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  call_end(call, call->id ? error_object(call->id, code, msg) : NULL);
}

void dr_rpc_fail_node(dr_rpc_call *call, int err, const dr_param_error *pe) {
  const char *field = pe && pe->field ? pe->field : NULL;
  const char *why = pe && pe->why ? pe->why : "";
  switch (err) {
  case -EINVAL:
    if (field) dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param %s: %s", field, why);
    else dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid params");
    break;
  case -EMSGSIZE:
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: %s %s", field ? field : "entry", why);
    break;
  case DR_ENOTFOUND:
    dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found");
    break;
  case DR_ETIMEOUT:
    dr_rpc_fail(call, DR_RPC_TIMEOUT, "the DHT did not answer in time (is the node connected?)");
    break;
  case DR_EFORBIDDEN:
    dr_rpc_fail(call, DR_RPC_FORBIDDEN, "forbidden by the resource's policy");
    break;
  case -ESHUTDOWN:
    dr_rpc_fail(call, DR_RPC_INTERNAL, "the node is shutting down");
    break;
  default:
    dr_rpc_fail(call, DR_RPC_INTERNAL, "internal error: %s", strerror(err < 0 ? -err : err));
    break;
  }
}

/* ---- requests ----------------------------------------------------------------- */

static void handle_request(conn *c, json_t *req, batch *b) {
  json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
  bool id_ok = !id || json_is_string(id) || json_is_integer(id) || json_is_real(id) ||
               json_is_null(id);
  json_t *ver = json_object_get(req, "jsonrpc");
  json_t *method = json_object_get(req, "method");
  json_t *params = json_object_get(req, "params");
  bool valid = json_is_object(req) && id_ok && json_is_string(ver) &&
               strcmp(json_string_value(ver), "2.0") == 0 && json_is_string(method) &&
               (!params || json_is_object(params) || json_is_array(params));
  if (!valid) {
    /* an invalid request is answered even without an id */
    dr_rpc_call *call = call_new(c, id && id_ok ? id : json_null(), b);
    if (call) dr_rpc_fail(call, DR_RPC_INVALID_REQUEST, "invalid request");
    return;
  }
  dr_rpc_call *call = call_new(c, id, b);
  if (!call) return;
  const char *name = json_string_value(method);
  dr_rpc_method_fn fn = dr_rpc_find_method(name);
  if (!fn) {
    dr_rpc_fail(call, DR_RPC_METHOD_NOT_FOUND, "method not found: %.64s", name);
    return;
  }
  if (params && json_is_array(params)) {
    if (json_array_size(params) == 0) params = NULL;
    else {
      dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid params: params are by name (an object)");
      return;
    }
  }
  json_t *p = params ? json_incref(params) : json_object();
  fn(call, p);
  json_decref(p);
}

static void handle_text(conn *c, const char *text, size_t len) {
  json_error_t jerr;
  json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!msg) {
    json_t *e = error_object(NULL, DR_RPC_PARSE_ERROR, "parse error");
    send_json(c, e);
    json_decref(e);
    return;
  }
  if (json_is_array(msg)) {
    size_t n = json_array_size(msg);
    batch *b = n ? calloc(1, sizeof *b) : NULL;
    if (!n || !b || !(b->responses = json_array())) {
      free(b);
      json_t *e = error_object(NULL, DR_RPC_INVALID_REQUEST, "invalid request: empty batch");
      send_json(c, e);
      json_decref(e);
      json_decref(msg);
      return;
    }
    /* one extra count, so the batch cannot end before every member started */
    b->outstanding = n + 1;
    for (size_t i = 0; i < n; i++) handle_request(c, json_array_get(msg, i), b);
    if (--b->outstanding == 0) {
      if (json_array_size(b->responses)) send_json(c, b->responses);
      json_decref(b->responses);
      free(b);
    }
  } else {
    handle_request(c, msg, NULL);
  }
  json_decref(msg);
}

/* ---- connections ----------------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  dr_rpc_server *s = c->srv;
  /* subscriptions end with their connection (here, not in conn_close: an
   * event being sent may close it) */
  for (size_t i = 0; i < c->n_subs; i++) dr_node_unwatch(c->node, c->subs[i]);
  c->n_subs = 0;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  conn_unref(c);
  if (--s->handles == 0 && s->stopping) {
    void (*done)(void *) = s->done;
    void *ctx = s->done_ctx;
    free(s->unix_path);
    free(s);
    if (done) done(ctx);
  }
}

static void conn_close(conn *c) {
  if (c->closed) return;
  c->closed = true;
  uv_close(&c->h.handle, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn *c = st->data;
  c->refs++; /* handlers below may close c */
  if (nread > 0 && !c->closed) {
    if (dr_rpc_stream_feed(&c->in, buf->base, (size_t)nread) < 0) {
      conn_close(c);
    } else {
      const char *text;
      size_t len;
      dr_stream_status st2;
      while (!c->closed && (st2 = dr_rpc_stream_next(&c->in, &text, &len))) {
        if (st2 == DR_STREAM_VALUE) {
          handle_text(c, text, len);
        } else if (st2 == DR_STREAM_GARBAGE) {
          json_t *e = error_object(NULL, DR_RPC_PARSE_ERROR, "parse error");
          send_json(c, e);
          json_decref(e);
        } else { /* too large: answer, read no more, close once written */
          DR_WARN(dr_node_logger(c->node), "rpc: request over %d bytes; closing", DR_RPC_MAX_REQUEST);
          json_t *e = error_object(NULL, DR_RPC_LIMIT, "limit exceeded: request larger than 1048576 bytes");
          send_json(c, e);
          json_decref(e);
          uv_read_stop(st);
          c->eof = true;
          break;
        }
      }
    }
  } else if (nread < 0 && !c->closed) {
    if (nread == UV_EOF) {
      c->eof = true;
      if (dr_rpc_stream_leftover(&c->in)) {
        json_t *e = error_object(NULL, DR_RPC_PARSE_ERROR, "parse error: unfinished request");
        send_json(c, e);
        json_decref(e);
      }
    } else {
      conn_close(c);
    }
  }
  free(buf->base);
  maybe_close(c);
  conn_unref(c);
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
  dr_rpc_stream_init(&c->in, DR_RPC_MAX_REQUEST);
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  s->handles++;
  if (uv_accept(server, &c->h.stream) < 0) {
    conn_close(c);
    return;
  }
  if (s->n_conns > s->max_conns) {
    DR_WARN(dr_node_logger(s->node), "rpc: refusing a connection: %u open already", s->max_conns);
    json_t *e = error_object(NULL, DR_RPC_LIMIT, "limit exceeded: too many connections");
    send_json(c, e);
    json_decref(e);
    c->eof = true;
    maybe_close(c);
    return;
  }
  uv_read_start(&c->h.stream, on_alloc, on_read);
}

/* ---- listeners ----------------------------------------------------------------- */

int dr_rpc_check_loopback(const char *hostport) {
  char host[64], port[8];
  struct in_addr a4;
  struct in6_addr a6;
  if (dr_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) return -EINVAL;
  if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127 ? 0 : -EINVAL;
  if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6) ? 0 : -EINVAL;
  return -EINVAL;
}

/* A socket file nobody listens on is stale (a node that was killed). */
static int clear_stale_socket(const char *path, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "socket path %s is longer than %zu bytes", path, sizeof sa.sun_path - 1);
    return -ENAMETOOLONG;
  }
  strcpy(sa.sun_path, path);
  struct stat st;
  if (lstat(path, &st) < 0) return 0;
  if (!S_ISSOCK(st.st_mode)) {
    snprintf(err, errlen, "%s exists and is not a socket", path);
    return -EEXIST;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  if (r == 0) {
    snprintf(err, errlen, "another node is serving %s", path);
    return -EADDRINUSE;
  }
  if (e == ECONNREFUSED) unlink(path);
  return 0;
}

static void on_listener_closed(uv_handle_t *h) {
  dr_rpc_server *s = h->data;
  if (--s->handles == 0 && s->stopping) {
    void (*done)(void *) = s->done;
    void *ctx = s->done_ctx;
    free(s->unix_path);
    free(s);
    if (done) done(ctx);
  }
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
  if (!s || !(s->unix_path = strdup(cfg->unix_path))) {
    free(s);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->loop = loop;
  s->node = node;
  s->max_conns = cfg->max_conns ? cfg->max_conns : DR_RPC_DEFAULT_MAX_CONNS;
  if ((r = clear_stale_socket(cfg->unix_path, err, errlen)) < 0) goto fail_early;
  if ((r = uv_pipe_init(loop, &s->pipe, 0)) < 0) goto fail_early;
  s->pipe.data = s;
  s->handles = 1;
  mode_t old = umask(0077); /* the socket is born private */
  r = uv_pipe_bind(&s->pipe, cfg->unix_path);
  umask(old);
  if (r < 0) {
    snprintf(err, errlen, "cannot bind %s: %s", cfg->unix_path, uv_strerror(r));
    goto fail;
  }
  chmod(cfg->unix_path, 0600);
  if ((r = uv_listen((uv_stream_t *)&s->pipe, 128, on_connection)) < 0) {
    snprintf(err, errlen, "cannot listen on %s: %s", cfg->unix_path, uv_strerror(r));
    unlink(cfg->unix_path);
    goto fail;
  }
  if (cfg->tcp_listen && (r = listen_tcp(s, cfg->tcp_listen, err, errlen)) < 0) {
    unlink(cfg->unix_path);
    goto fail;
  }
  *out = s;
  return 0;
fail:
  /* closing the handles frees s */
  s->stopping = true;
  uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
  if (s->have_tcp) uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
  return r;
fail_early:
  free(s->unix_path);
  free(s);
  return r;
}

void dr_rpc_server_stop(dr_rpc_server *s, void (*done)(void *ctx), void *ctx) {
  if (s->stopping) return;
  s->stopping = true;
  s->done = done;
  s->done_ctx = ctx;
  unlink(s->unix_path);
  uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
  if (s->have_tcp) uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
  for (conn *c = s->conns; c; c = c->next) conn_close(c);
}
