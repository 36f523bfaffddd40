/* client.c - libdhtreg's blocking API: one connection to a node's socket, one call at a time, and watches */
#include "api/client_private.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct dhtreg {
  int fd;
  int timeout_ms;
  long long next_id;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  char errmsg[512];
  char *buf; /* bytes read past the last line */
  size_t len, cap;
};

struct dhtreg_watch {
  dhtreg *c;
};

int dhtreg_default_socket(char *out, size_t len) {
  const char *s = getenv("DHTREG_SOCKET"), *home = getenv("DHTREG_HOME");
  int n;
  if (!out || !len) return -EINVAL;
  if (s && *s) n = snprintf(out, len, "%s", s);
  else if (home && *home) n = snprintf(out, len, "%s/rpc.sock", home);
  else n = snprintf(out, len, "%s/.dhtreg/rpc.sock", getenv("HOME") ? getenv("HOME") : ".");
  if (n >= 0 && (size_t)n < len) return 0;
  out[0] = '\0';
  return -ENAMETOOLONG;
}

/* err with its message on c (nowhere when there is no c). */
static int fail(dhtreg *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(dhtreg *c, int err, const char *fmt, ...) {
  va_list ap;
  if (!c) return err;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
  va_end(ap);
  return err;
}

static int call(dhtreg *c, const char *method, json_t *params, json_t **result);

static int open_fd(dhtreg *c) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, c->path, sizeof sa.sun_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(c, -errno, "socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
      return fail(c, -e, "no node at %s: is dhtregd running?", c->path);
    return fail(c, -e, "cannot connect to %s: %s", c->path, strerror(e));
  }
  c->fd = fd;
  c->len = 0;
  return 0;
}

int dhtreg_connect(dhtreg **out, const char *socket_path) {
  char def[4096];
  int r;
  if (!out) return dr__last_error_set(-EINVAL, "dhtreg_connect: out is NULL");
  *out = NULL;
  if ((r = dr__socket_or_default(&socket_path, def, sizeof def)) < 0) return r;
  dhtreg *c = calloc(1, sizeof *c);
  if (!c) return dr__last_error_set(-ENOMEM, "out of memory");
  c->fd = -1;
  c->timeout_ms = DR_CLIENT_TIMEOUT_MS;
  c->next_id = 1;
  if (strlen(socket_path) >= sizeof c->path) {
    r = fail(c, -ENAMETOOLONG, "socket path too long: %.300s", socket_path);
    goto err;
  }
  snprintf(c->path, sizeof c->path, "%s", socket_path);
  if ((r = open_fd(c)) < 0) goto err;
  dr__last_error_clear();
  *out = c;
  return 0;
err:
  dr__last_error_set(r, "%s", c->errmsg);
  dhtreg_close(c);
  return r;
}

int dr__call_once(const char *socket_path, const char *method, json_t *params, json_t **result) {
  dhtreg *c;
  *result = NULL;
  int r = dhtreg_connect(&c, socket_path);
  if (r < 0) {
    json_decref(params);
    return r;
  }
  if ((r = call(c, method, params, result)) < 0) dr__last_error_set(r, "%s", c->errmsg);
  dhtreg_close(c);
  return r;
}

void dhtreg_close(dhtreg *c) {
  if (!c) return;
  if (c->fd >= 0) close(c->fd);
  free(c->buf);
  free(c);
}

void dhtreg_set_timeout(dhtreg *c, int timeout_ms) {
  if (c) c->timeout_ms = timeout_ms;
}

const char *dhtreg_errmsg(const dhtreg *c) {
  return c ? c->errmsg : dr__last_error();
}

const char *dhtreg_socket_path(const dhtreg *c) {
  return c ? c->path : "";
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next line (without its newline) read within timeout_ms (< 0:
 * forever) into *line (the caller frees it). */
static int read_line(dhtreg *c, int timeout_ms, char **line) {
  uint64_t end = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
  for (;;) {
    char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - c->buf);
      if (!(*line = malloc(n + 1))) return -ENOMEM;
      memcpy(*line, c->buf, n);
      (*line)[n] = '\0';
      memmove(c->buf, nl + 1, c->len - n - 1);
      c->len -= n + 1;
      return 0;
    }
    if (c->len > DR_CLIENT_LINE_MAX) return fail(c, -EPROTO, "an answer of more than %u bytes", DR_CLIENT_LINE_MAX);
    int wait = -1;
    if (timeout_ms >= 0) {
      uint64_t now = now_ms();
      if (now >= end) return fail(c, -ETIMEDOUT, "no answer from the node within %d ms", timeout_ms);
      wait = (int)(end - now);
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, wait);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail(c, -errno, "poll: %s", strerror(errno));
    if (r == 0) continue;
    if (c->cap - c->len < 65536) {
      size_t cap = c->cap ? c->cap * 2 : 65536;
      char *nb = realloc(c->buf, cap);
      if (!nb) return -ENOMEM;
      c->buf = nb;
      c->cap = cap;
    }
    ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(c, -errno, "reading from %s: %s", c->path, strerror(errno));
    if (got == 0) return fail(c, -EPIPE, "the node closed the connection");
    c->len += (size_t)got;
  }
}

static int send_all(dhtreg *c, const char *p, size_t left) {
  while (left) {
    ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    p += w;
    left -= (size_t)w;
  }
  return 0;
}

/* Calls method with params (stolen): 0 with *result (a new reference),
 * or the error with its message in c->errmsg (*result NULL). A connection
 * the node closed (it restarted) is opened again once. -EINVAL without a
 * connection (c NULL: a dhtreg_connect that failed). */
static int call(dhtreg *c, const char *method, json_t *params, json_t **result) {
  size_t len;
  *result = NULL;
  if (!c) {
    json_decref(params);
    return -EINVAL;
  }
  if (!params) return fail(c, -EINVAL, "the arguments cannot be sent: text that is not UTF-8 (or out of memory)");
  long long id = c->next_id++;
  char *line = dr__request_line(id, method, params, &len);
  if (!line) return fail(c, -ENOMEM, "out of memory");
  int r = c->fd >= 0 ? send_all(c, line, len) : -EPIPE;
  if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if ((r = open_fd(c)) == 0) r = send_all(c, line, len);
  }
  free(line);
  if (r < 0) {
    if (!c->errmsg[0] || r != -ENOENT) fail(c, r, "writing to %s: %s", c->path, strerror(-r));
    return r;
  }
  for (;;) {
    char *text;
    if ((r = read_line(c, c->timeout_ms, &text)) < 0) {
      if (r == -EPIPE || r == -ETIMEDOUT) { /* the next call starts afresh */
        close(c->fd);
        c->fd = -1;
      }
      return r;
    }
    json_t *resp = json_loads(text, 0, NULL);
    free(text);
    if (!resp) return fail(c, -EPROTO, "the node sent something that is not JSON");
    json_t *rid = json_object_get(resp, "id");
    if (!json_is_integer(rid) || json_integer_value(rid) != id) { /* a notification, or not ours */
      if (json_is_null(rid) && json_object_get(resp, "error")) { /* about the connection as a whole */
        r = dr__response_error(resp, c->errmsg, sizeof c->errmsg);
        json_decref(resp);
        return r;
      }
      json_decref(resp);
      continue;
    }
    r = dr__response_error(resp, c->errmsg, sizeof c->errmsg);
    if (r == 0) {
      *result = json_incref(json_object_get(resp, "result"));
      c->errmsg[0] = '\0';
    }
    json_decref(resp);
    return r;
  }
}

int dhtreg_call(dhtreg *c, const char *method, const char *params_json, char **result_json) {
  if (!result_json) return fail(c, -EINVAL, "result_json is NULL");
  *result_json = NULL;
  if (!method) return fail(c, -EINVAL, "no method");
  json_t *params = dr__params(params_json), *res;
  if (!params) return fail(c, -EINVAL, "params: not a JSON object");
  int r = call(c, method, params, &res);
  if (r < 0) return r;
  *result_json = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(res);
  return *result_json ? 0 : fail(c, -ENOMEM, "out of memory");
}

int dhtreg_get_health(dhtreg *c, dhtreg_health *out) {
  json_t *res;
  if (!out) return fail(c, -EINVAL, "out is NULL");
  memset(out, 0, sizeof *out);
  int r = call(c, "health", json_object(), &res);
  if (r < 0) return r;
  out->ready = json_is_true(json_object_get(res, "ready"));
  json_t *w = json_object_get(res, "warnings");
  for (size_t i = 0; i < json_array_size(w) && out->n_warnings < DHTREG_WARNINGS_MAX; i++) {
    const char *s = json_string_value(json_array_get(w, i));
    if (s) snprintf(out->warnings[out->n_warnings++], sizeof out->warnings[0], "%s", s);
  }
  json_decref(res);
  return 0;
}

int dhtreg_peer_id(dhtreg *c, char out[DHTREG_ID_MAX]) {
  json_t *res;
  if (!out) return fail(c, -EINVAL, "out is NULL");
  out[0] = '\0';
  int r = call(c, "node.info", json_object(), &res);
  if (r < 0) return r;
  const char *id = json_string_value(json_object_get(res, "peer_id"));
  if (id) snprintf(out, DHTREG_ID_MAX, "%s", id);
  json_decref(res);
  return id ? 0 : fail(c, -EPROTO, "node.info has no peer_id");
}

/* A string member of o into out (len bytes), or dflt when it has none. */
static void copy_str(char *out, size_t len, json_t *o, const char *key, const char *dflt) {
  const char *v = json_string_value(json_object_get(o, key));
  snprintf(out, len, "%s", v ? v : dflt);
}

int dhtreg_node_info_get(dhtreg *c, dhtreg_node_info *out) {
  json_t *res;
  if (!out) return fail(c, -EINVAL, "out is NULL");
  memset(out, 0, sizeof *out);
  int r = call(c, "node.info", json_object(), &res);
  if (r < 0) return r;
  copy_str(out->peer_id, sizeof out->peer_id, res, "peer_id", "");
  copy_str(out->version, sizeof out->version, res, "version", "");
  out->port = (uint16_t)json_integer_value(json_object_get(res, "port"));
  out->network = (uint32_t)json_integer_value(json_object_get(res, "network"));
  out->uptime_s = (uint64_t)json_integer_value(json_object_get(res, "uptime_s"));
  out->connected = json_is_true(json_object_get(res, "connected"));
  out->ready = json_is_true(json_object_get(res, "ready"));
  out->private_network = json_is_true(json_object_get(res, "private"));
  out->peers = (unsigned)json_integer_value(json_object_get(res, "peers"));
  out->advertised = (size_t)json_integer_value(json_object_get(res, "advertised"));
  json_decref(res);
  return 0;
}

int dhtreg_bootstrap(dhtreg *c, const char *const *addrs, size_t n) {
  json_t *a = json_array(), *res;
  if (n && !addrs) {
    json_decref(a);
    return fail(c, -EINVAL, "addresses is NULL");
  }
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(addrs[i] ? addrs[i] : ""));
  int r = call(c, "node.bootstrap", json_pack("{s:o}", "addresses", a), &res);
  if (r == 0) json_decref(res);
  return r;
}

int dhtreg_resource_get(dhtreg *c, const char *rid, dhtreg_resource *out) {
  json_t *res;
  if (!out) return fail(c, -EINVAL, "out is NULL");
  memset(out, 0, sizeof *out);
  int r = call(c, "resource.get", json_pack("{s:s}", "resource_id", rid ? rid : ""), &res);
  if (r < 0) return r;
  json_t *e = json_object_get(res, "resource");
  if (!json_is_object(e)) e = res; /* the entry itself */
  const char *id = json_string_value(json_object_get(e, "resource_id"));
  if (!id) {
    json_decref(res);
    return fail(c, DHTREG_ENOTFOUND, "not found: no entry of that resource");
  }
  snprintf(out->resource_id, sizeof out->resource_id, "%s", id);
  copy_str(out->owner, sizeof out->owner, e, "owner", "");
  copy_str(out->label, sizeof out->label, e, "label", "");
  copy_str(out->policy, sizeof out->policy, e, "policy", "open");
  out->created_at = (uint64_t)json_integer_value(json_object_get(e, "created_at"));
  out->seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
  out->shards = (uint32_t)json_integer_value(json_object_get(e, "shards"));
  out->n_allow = json_array_size(json_object_get(e, "allow"));
  json_decref(res);
  return 0;
}

static int rid_call(dhtreg *c, const char *method, const char *rid) {
  json_t *res;
  int r = call(c, method, json_pack("{s:s}", "resource_id", rid ? rid : ""), &res);
  if (r == 0) json_decref(res);
  return r;
}

int dhtreg_pin(dhtreg *c, const char *rid) {
  return rid_call(c, "resource.pin", rid);
}

int dhtreg_unpin(dhtreg *c, const char *rid) {
  return rid_call(c, "resource.unpin", rid);
}

/* A call whose result is a page of records (one: a discover's record). */
static int records_call(dhtreg *c, const char *method, json_t *params, bool one, dhtreg_records *out) {
  json_t *res;
  if (!out) {
    json_decref(params);
    return fail(c, -EINVAL, "out is NULL");
  }
  memset(out, 0, sizeof *out);
  int r = call(c, method, params, &res);
  if (r < 0) return r;
  r = dr__records_from_json(res, one, out);
  json_decref(res);
  return r < 0 ? fail(c, r, "not an answer of %s", method) : 0;
}

int dhtreg_list(dhtreg *c, dhtreg_records *out) {
  return records_call(c, "list", json_object(), false, out);
}

int dhtreg_resource_id(const char *owner, const char *label, char out[DHTREG_ID_MAX]) {
  uint8_t pk[DR_ID_LEN], rid[DR_ID_LEN];
  size_t ll = label ? strlen(label) : 0;
  if (!out) return -EINVAL;
  out[0] = '\0';
  if (!owner || dr_id_decode(owner, pk) < 0 || ll == 0 || ll > DR_NAME_MAX) return -EINVAL;
  if (dr_crypto_init() < 0) return -EIO;
  dr_resource_id(rid, pk, label, ll);
  char text[DR_ID_TEXT_MAX];
  dr_id_encode(rid, text);
  snprintf(out, DHTREG_ID_MAX, "%s", text);
  return 0;
}

int dhtreg_resource_create(dhtreg *c, const char *label, const dhtreg_resource_opts *o,
                           char rid[DHTREG_ID_MAX], bool *published) {
  json_t *res;
  if (rid) rid[0] = '\0';
  if (published) *published = false;
  if (o && o->n_allow && !o->allow) return fail(c, -EINVAL, "opts: n_allow without allow");
  json_t *p = dr__create_params(label, o);
  int r = call(c, "resource.create", p, &res);
  if (r < 0) return r;
  if (rid) copy_str(rid, DHTREG_ID_MAX, res, "resource_id", "");
  if (published) *published = json_is_true(json_object_get(res, "published"));
  json_decref(res);
  return 0;
}

/* A call whose result is a published one. */
static int publish_call(dhtreg *c, const char *method, json_t *params, dhtreg_published *out) {
  json_t *res;
  if (out) memset(out, 0, sizeof *out);
  if (!params) return fail(c, -EINVAL, "resource_id and service_id are required");
  int r = call(c, method, params, &res);
  if (r < 0) return r;
  dhtreg_published p;
  dr__published_from_json(res, &p);
  if (out) *out = p;
  json_decref(res);
  return 0;
}

int dhtreg_advertise(dhtreg *c, const dhtreg_ad *ad, dhtreg_published *out) {
  return publish_call(c, "record.advertise", dr__ad_json(ad), out);
}

static json_t *ids(const char *rid, const char *sid) {
  return rid && sid ? json_pack("{s:s, s:s}", "resource_id", rid, "service_id", sid) : NULL;
}

int dhtreg_renew(dhtreg *c, const char *rid, const char *sid, dhtreg_published *out) {
  return publish_call(c, "record.renew", ids(rid, sid), out);
}

int dhtreg_withdraw(dhtreg *c, const char *rid, const char *sid, bool *published) {
  dhtreg_published p;
  if (published) *published = false;
  int r = publish_call(c, "record.withdraw", ids(rid, sid), &p);
  if (r == 0 && published) *published = p.published;
  return r;
}

json_t *dr__resolve_params(const char *rid, const dhtreg_resolve_opts *o) {
  json_t *p = json_pack("{s:s}", "resource_id", rid ? rid : "");
  if (o && o->limit) json_object_set_new(p, "limit", json_integer(o->limit));
  if (o && o->cursor) json_object_set_new(p, "cursor", json_string(o->cursor));
  if (o && o->include_all) json_object_set_new(p, "include", json_string("all"));
  return p;
}

int dhtreg_resolve(dhtreg *c, const char *rid, const dhtreg_resolve_opts *o, dhtreg_records *out) {
  return records_call(c, "resolve", dr__resolve_params(rid, o), false, out);
}

int dhtreg_discover(dhtreg *c, const char *rid, const char *type, dhtreg_records *out) {
  json_t *p = json_pack("{s:s}", "resource_id", rid ? rid : "");
  if (p && type) json_object_set_new(p, "type", json_string(type));
  return records_call(c, "discover", p, true, out);
}

/* ---- watch ------------------------------------------------------------------ */

int dhtreg_watch_open(dhtreg_watch **out, const char *socket_path, const char *rid) {
  if (!out) return dr__last_error_set(-EINVAL, "dhtreg_watch_open: out is NULL");
  *out = NULL;
  dhtreg_watch *w = calloc(1, sizeof *w);
  if (!w) return dr__last_error_set(-ENOMEM, "out of memory");
  int r = dhtreg_connect(&w->c, socket_path);
  json_t *res = NULL;
  if (r == 0 && (r = call(w->c, "watch", json_pack("{s:s}", "resource_id", rid ? rid : ""), &res)) < 0)
    dr__last_error_set(r, "%s", w->c->errmsg);
  json_decref(res);
  if (r < 0) {
    dhtreg_watch_close(w);
    return r;
  }
  *out = w;
  return 0;
}

int dhtreg_watch_next(dhtreg_watch *w, dhtreg_event *ev, int timeout_ms) {
  if (!ev) return -EINVAL;
  memset(ev, 0, sizeof *ev);
  if (!w) return -EINVAL;
  dhtreg *c = w->c;
  if (c->fd < 0) return fail(c, -EPIPE, "the watch ended");
  uint64_t end = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
  for (;;) {
    char *text;
    int left = -1;
    if (timeout_ms >= 0) {
      uint64_t now = now_ms();
      left = now >= end ? 0 : (int)(end - now);
    }
    int r = read_line(c, left, &text);
    if (r == -ETIMEDOUT) return r;
    if (r < 0) {
      close(c->fd);
      c->fd = -1;
      return r;
    }
    json_t *msg = json_loads(text, 0, NULL);
    free(text);
    const char *m = json_string_value(json_object_get(msg, "method"));
    if (m && strcmp(m, "event") == 0 && dr__event_from_json(json_object_get(msg, "params"), ev) == 0) {
      json_decref(msg);
      return 0;
    }
    json_decref(msg);
  }
}

int dhtreg_watch_fd(const dhtreg_watch *w) {
  return w ? w->c->fd : -1;
}

void dhtreg_watch_close(dhtreg_watch *w) {
  if (!w) return;
  dhtreg_close(w->c);
  free(w);
}
