/* http.c - the node's HTTP endpoint (--http-listen): GET /metrics, /health and /ready, served by libmicrohttpd on the node's loop
 *
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL): its epoll
 * descriptor is polled by the libuv loop, and MHD_run is called there, so
 * every request is answered on the loop thread, where node state may be
 * read. The listening socket is made here, so that a busy port is reported
 * with its errno.
 */
#include "api/api_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_MAX_CONNS 64
#define HTTP_CONN_TIMEOUT_S 10

struct dr_http_server {
  uv_loop_t *loop;
  dr_node *node;
  const dr_rpc_server *rpc;
  const dr_dns_server *dns;
  struct MHD_Daemon *mhd;
  uv_poll_t poll;
  uv_timer_t timer;
  int handles;
  uint64_t requests[4]; /* /metrics, /health, /ready, anything else */
  void (*done)(void *);
  void *done_ctx;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              char *body, size_t len) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result answer_json(struct MHD_Connection *conn, unsigned status, json_t *body) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) return MHD_NO;
  size_t len = strlen(text);
  char *line = realloc(text, len + 2);
  if (!line) {
    free(text);
    return MHD_NO;
  }
  line[len] = '\n';
  line[len + 1] = '\0';
  return answer(conn, status, "application/json", line, len + 1);
}

static json_t *health_json(const dr_node_health *h, const char *status) {
  json_t *w = json_array();
  for (size_t i = 0; i < h->n_warnings; i++) json_array_append_new(w, json_string(h->warnings[i]));
  return json_pack("{s:s, s:b, s:o}", "status", status, "ready", h->ready, "warnings", w);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  dr_http_server *s = cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
    s->requests[3]++;
    char *body = strdup("only GET and HEAD\n");
    return body ? answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", body,
                         strlen(body))
                : MHD_NO;
  }
  dr_node_health h;
  if (strcmp(url, "/metrics") == 0) {
    s->requests[0]++;
    char *text;
    size_t len;
    if (dr_metrics_text(s->node, s->rpc, s->requests, s->dns, &text, &len) < 0) return MHD_NO;
    return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
  }
  if (strcmp(url, "/health") == 0) { /* alive: it answers */
    s->requests[1]++;
    dr_node_get_health(s->node, &h);
    return answer_json(conn, MHD_HTTP_OK, health_json(&h, "ok"));
  }
  if (strcmp(url, "/ready") == 0) {
    s->requests[2]++;
    dr_node_get_health(s->node, &h);
    return answer_json(conn, h.ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                       health_json(&h, h.ready ? "ready" : "not ready"));
  }
  s->requests[3]++;
  char *body = strdup("not found: dhtregd serves /metrics, /health and /ready\n");
  return body ? answer(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", body, strlen(body))
              : MHD_NO;
}

static void on_timer(uv_timer_t *t);

/* Runs what is due, then waits for the next timeout libmicrohttpd asks for. */
static void run(dr_http_server *s) {
  MHD_UNSIGNED_LONG_LONG ms;
  MHD_run(s->mhd);
  if (MHD_get_timeout(s->mhd, &ms) == MHD_YES) uv_timer_start(&s->timer, on_timer, ms, 0);
  else uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t) {
  run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  run(p->data);
}

/* The listening socket, bound here so that its errno tells what failed. */
static int listen_socket(const char *hostport, char *err, size_t errlen) {
  char host[64], port[8];
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  if (dr_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) goto bad;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)atoi(port));
    sl = sizeof *a4;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)atoi(port));
    sl = sizeof *a6;
  } else {
    goto bad;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot listen on %s (--http-listen): %s", hostport, strerror(e));
    return -e;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
    int e = errno;
    close(fd);
    snprintf(err, errlen, "cannot listen on %s (--http-listen): %s", hostport, strerror(e));
    return -e;
  }
  return fd;
bad:
  snprintf(err, errlen, "--http-listen: '%s' is not a numeric ADDR:PORT", hostport);
  return -EINVAL;
}

int dr_http_start(dr_http_server **out, uv_loop_t *loop, dr_node *node, const dr_rpc_server *rpc,
                  const dr_http_config *cfg, char *err, size_t errlen) {
  int fd = listen_socket(cfg->listen, err, errlen);
  if (fd < 0) return fd;
  dr_http_server *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->loop = loop;
  s->node = node;
  s->rpc = rpc;
  /* no thread of its own: the loop polls its epoll descriptor */
  s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
                            MHD_OPTION_END);
  const union MHD_DaemonInfo *info = s->mhd ? MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
  int r;
  if (!info || (r = uv_poll_init(loop, &s->poll, info->epoll_fd)) < 0) {
    snprintf(err, errlen, "cannot serve HTTP on %s: libmicrohttpd did not start", cfg->listen);
    if (s->mhd) MHD_stop_daemon(s->mhd); /* closes fd */
    else close(fd);
    free(s);
    return -EIO;
  }
  uv_timer_init(loop, &s->timer);
  s->poll.data = s->timer.data = s;
  s->handles = 2;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  run(s);
  *out = s;
  return 0;
}

void dr_http_set_rpc(dr_http_server *s, const dr_rpc_server *rpc) {
  s->rpc = rpc;
}

void dr_http_set_dns(dr_http_server *s, const dr_dns_server *dns) {
  s->dns = dns;
}

static void on_closed(uv_handle_t *h) {
  dr_http_server *s = h->data;
  if (--s->handles) return;
  void (*done)(void *) = s->done;
  void *ctx = s->done_ctx;
  free(s);
  if (done) done(ctx);
}

void dr_http_stop(dr_http_server *s, void (*done)(void *ctx), void *ctx) {
  s->done = done;
  s->done_ctx = ctx;
  uv_poll_stop(&s->poll); /* before its descriptor is closed */
  MHD_stop_daemon(s->mhd);
  s->mhd = NULL;
  uv_close((uv_handle_t *)&s->poll, on_closed);
  uv_close((uv_handle_t *)&s->timer, on_closed);
}
