/* fuzz_rpc.c - libFuzzer target: bytes written to a node's JSON-RPC socket (stream splitter, server, methods, params)
 *
 * One ephemeral node, alone in its network (its DHT gets finish at once),
 * and one dr_rpc_server on a Unix socket in a temporary directory, on a
 * loop made once. Each input is written to a new connection, which is then
 * shut down for writing; the loop runs until the server has answered and
 * closed it. Checks, besides the sanitizers:
 *   - every line the server writes is one JSON object or array;
 *   - every request that deserves an answer gets exactly one (counted from
 *     the input with the same splitter and the server's rule: a parse error,
 *     an invalid request, a request with an id, a batch with any of those).
 * A node left with state (own entries, caches, watches) is restarted, so
 * nothing grows from one input to the next. node.bootstrap is checked but
 * contacts nobody (the link wraps dr_node_bootstrap): a fuzzer must not send
 * packets to the addresses it makes up; nor may an advertisement's health
 * check run the programs it makes up or connect to its addresses (the link
 * wraps uv_spawn and uv_getaddrinfo: each fails as it can for real).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/rpc.h"
#include "api/rpc_stream.h"
#include "node/node.h"

#define MAX_OUTPUT (16u * 1024 * 1024)
#define RUN_LIMIT_MS 20000 /* one input answered by a lone node takes milliseconds */

static uv_loop_t loop;
static dr_node *node;
static dr_rpc_server *server;
static char dir[64], sock_path[128];

/* the node must not contact the addresses a fuzzer makes up */
int __wrap_dr_node_bootstrap(dr_node *n, const char *hostport, dr_node_bootstrap_cb cb, void *ctx);
int __wrap_dr_node_bootstrap(dr_node *n, const char *hostport, dr_node_bootstrap_cb cb, void *ctx) {
  char host[256], port[8];
  (void)n;
  if (dr_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) return -EINVAL;
  if (cb) cb(ctx, 0, NULL);
  return 0;
}

/* an exec check's program never runs: uv_spawn fails before it forks (a
 * descriptor of -1 to inherit), its handle initialised as a failed spawn leaves it */
int __real_uv_spawn(uv_loop_t *l, uv_process_t *h, const uv_process_options_t *o);
int __wrap_uv_spawn(uv_loop_t *l, uv_process_t *h, const uv_process_options_t *o);
int __wrap_uv_spawn(uv_loop_t *l, uv_process_t *h, const uv_process_options_t *o) {
  uv_stdio_container_t none = {.flags = UV_INHERIT_FD, .data.fd = -1};
  uv_process_options_t copy = *o;
  copy.stdio = &none;
  copy.stdio_count = 1;
  return __real_uv_spawn(l, h, &copy);
}

/* a tcp or http check finds no address: it connects nowhere */
int __wrap_uv_getaddrinfo(uv_loop_t *l, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb, const char *node_name,
                          const char *service, const struct addrinfo *hints);
int __wrap_uv_getaddrinfo(uv_loop_t *l, uv_getaddrinfo_t *req, uv_getaddrinfo_cb cb, const char *node_name,
                          const char *service, const struct addrinfo *hints) {
  (void)l, (void)req, (void)cb, (void)node_name, (void)service, (void)hints;
  return UV_EAI_NONAME;
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_rpc: %s\n", what);
  abort();
}

static void set_flag(void *ctx) {
  *(bool *)ctx = true;
}

static void run_until(bool *flag) {
  uint64_t start = uv_hrtime();
  while (!*flag) {
    uv_run(&loop, UV_RUN_ONCE);
    if (uv_hrtime() - start > (uint64_t)RUN_LIMIT_MS * 1000000) die("an input was not answered in time");
  }
}

static void start_node(void) {
  char err[256] = "";
  dr_node_config cfg = {
      .ephemeral = true,
      .log_level = DR_LOG_ERROR,
      .log_name = "fuzz",
      .op_timeout_ms = 2000,
      .min_ttl = 1,
  };
  if (dr_node_start(&node, &loop, &cfg, err, sizeof err) < 0) die(err);
  dr_rpc_config rc = {.unix_path = sock_path, .max_conns = 4};
  if (dr_rpc_server_start(&server, &loop, node, &rc, err, sizeof err) < 0) die(err);
}

static void stop_node(void) {
  bool s_done = false, n_done = false;
  dr_rpc_server_stop(server, set_flag, &s_done);
  run_until(&s_done);
  dr_node_stop(node, set_flag, &n_done);
  run_until(&n_done);
  server = NULL;
  node = NULL;
}

static void cleanup(void) {
  if (node) stop_node();
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (dr_crypto_init() < 0) die("dr_crypto_init");
  snprintf(dir, sizeof dir, "/tmp/fuzz_rpc.XXXXXX");
  if (!mkdtemp(dir)) die("mkdtemp");
  snprintf(sock_path, sizeof sock_path, "%s/rpc.sock", dir);
  if (uv_loop_init(&loop) < 0) die("uv_loop_init");
  start_node();
  atexit(cleanup);
  return 0;
}

/* ---- the client side ------------------------------------------------------- */

typedef struct client {
  uv_pipe_t pipe;
  uv_connect_t conn;
  uv_write_t write;
  uv_shutdown_t shutdown;
  const uint8_t *data;
  size_t size;
  char *out;
  size_t out_len;
  bool closed;
} client;

static void on_client_closed(uv_handle_t *h) {
  ((client *)h->data)->closed = true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  client *c = st->data;
  if (nread > 0) {
    if (c->out_len + (size_t)nread > MAX_OUTPUT) die("the server wrote more than 16 MB for one input");
    char *grown = realloc(c->out, c->out_len + (size_t)nread + 1);
    if (!grown) die("out of memory");
    c->out = grown;
    memcpy(c->out + c->out_len, buf->base, (size_t)nread);
    c->out_len += (size_t)nread;
    c->out[c->out_len] = '\0';
  } else if (nread < 0) {
    uv_close((uv_handle_t *)st, on_client_closed); /* EOF: the server closed it */
  }
  free(buf->base);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status;
}

static void on_written(uv_write_t *req, int status) {
  client *c = req->data;
  /* the server may close first (a request too large); then nothing more */
  if (status == 0) uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, on_shutdown);
}

static void on_connect(uv_connect_t *req, int status) {
  client *c = req->data;
  if (status < 0) die("cannot connect to the server");
  uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
  uv_buf_t b = uv_buf_init((char *)c->data, (unsigned)c->size);
  c->write.data = c;
  if (uv_write(&c->write, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) die("uv_write");
}

/* ---- the oracle ------------------------------------------------------------ */

/* Whether one member (or a lone request) gets an answer: rpc_server.c's rule. */
static bool answered(json_t *req) {
  if (!json_is_object(req)) return true; /* invalid request */
  json_t *id = json_object_get(req, "id");
  bool id_ok = !id || json_is_string(id) || json_is_integer(id) || json_is_real(id) ||
               json_is_null(id);
  json_t *ver = json_object_get(req, "jsonrpc");
  json_t *method = json_object_get(req, "method");
  json_t *params = json_object_get(req, "params");
  bool valid = id_ok && json_is_string(ver) && strcmp(json_string_value(ver), "2.0") == 0 &&
               json_is_string(method) && (!params || json_is_object(params) || json_is_array(params));
  return !valid || id != NULL;
}

/* How many answer lines the input deserves. */
static size_t expected_answers(const uint8_t *data, size_t size) {
  dr_rpc_stream s;
  const char *text;
  size_t len, n = 0;
  dr_stream_status st;
  dr_rpc_stream_init(&s, DR_RPC_MAX_REQUEST);
  if (dr_rpc_stream_feed(&s, (const char *)data, size) < 0) die("out of memory");
  while ((st = dr_rpc_stream_next(&s, &text, &len)) != DR_STREAM_NEED_MORE) {
    if (st == DR_STREAM_TOO_LARGE) {
      n++;
      break;
    }
    if (st == DR_STREAM_GARBAGE) {
      n++;
      continue;
    }
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!msg || (json_is_array(msg) && json_array_size(msg) == 0)) {
      n++;
    } else if (json_is_array(msg) && json_array_size(msg) > DR_RPC_MAX_PENDING) {
      n++; /* refused whole: one -32012 line */
    } else if (json_is_array(msg)) {
      bool any = false;
      for (size_t i = 0; i < json_array_size(msg); i++) any |= answered(json_array_get(msg, i));
      n += any;
    } else {
      n += answered(msg);
    }
    json_decref(msg);
  }
  if (st != DR_STREAM_TOO_LARGE && dr_rpc_stream_leftover(&s)) n++;
  dr_rpc_stream_free(&s);
  return n;
}

/* Every line is a JSON object or array; returns the answers (events aside). */
static size_t check_output(char *out, size_t len) {
  size_t answers = 0;
  char *p = out, *end = out + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) die("the server's output does not end with a newline");
    json_error_t jerr;
    json_t *msg = json_loadb(p, (size_t)(nl - p), 0, &jerr);
    if (!msg || !(json_is_object(msg) || json_is_array(msg))) {
      fprintf(stderr, "fuzz_rpc: bad output line: %.*s (%s)\n", (int)(nl - p), p, jerr.text);
      abort();
    }
    if (!(json_is_object(msg) && json_object_get(msg, "method"))) answers++;
    json_decref(msg);
    p = nl + 1;
  }
  return answers;
}

static bool node_has_state(void) {
  dr_node_info info;
  dr_node_get_info(node, &info);
  return info.resources || info.records || info.tombstones || info.cached_resources ||
         info.watches || info.dht_pending;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  client *c = calloc(1, sizeof *c);
  if (!c) return 0;
  c->data = data;
  c->size = size;
  if (uv_pipe_init(&loop, &c->pipe, 0) < 0) die("uv_pipe_init");
  c->pipe.data = c;
  c->conn.data = c;
  uv_pipe_connect(&c->conn, &c->pipe, sock_path, on_connect);
  run_until(&c->closed);

  if (getenv("FUZZ_VERBOSE")) /* for triage: the answers */
    fprintf(stderr, "%.*s", (int)c->out_len, c->out ? c->out : "");
  size_t got = check_output(c->out ? c->out : "", c->out_len);
  size_t want = expected_answers(data, size);
  if (got != want) {
    fprintf(stderr, "fuzz_rpc: %zu answers to an input that deserves %zu:\n%.*s\n", got, want,
            (int)(c->out_len > 4096 ? 4096 : c->out_len), c->out ? c->out : "");
    abort();
  }
  free(c->out);
  free(c);
  if (node_has_state()) {
    stop_node();
    start_node();
  }
  return 0;
}
