/* bench_dhtreg.c - dhtreg's side of the benchmarks: real dhtregd and dhtreg-swarm processes on
 * loopback, driven over JSON-RPC; prints one "key value" line per figure (scripts/bench.sh sets
 * them beside bench_raw's figures for raw OpenDHT)
 *
 *   bench_dhtreg get N SAMPLES [PER]       cold resolve (of PER records, default 1) from a dhtregd
 *                                          in a network of N nodes
 *   bench_dhtreg big N RECORDS SHARDS SAMPLES  resolve limit 100 of one resource of RECORDS records
 *                                          in SHARDS shards, from a dhtregd that advertised none
 *   bench_dhtreg rate N COUNT SHARDS       advertise COUNT records into one resource from one node:
 *                                          the rate at 100, 1 000, 10 000 ... records in it
 *   bench_dhtreg put N COUNT RESOURCES W   advertise throughput through one dhtregd, W in flight
 *   bench_dhtreg local COUNT               health and cached resolve on one node, 1 and 8 connections
 *   bench_dhtreg burst N COUNT PER         COUNT advertise requests sent at once, PER per resource
 *   bench_dhtreg memory RECORDS            idle RSS, and RSS per 10 000 cached records
 *   bench_dhtreg scale PROCS PER SAMPLES   PROCS swarms of PER nodes: join time, resolve rate, p50/p99
 *
 * Every wait is bounded; every node started is killed at exit.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <arpa/inet.h>

#include "tests/support/harness.h"

static const char *const quiet[] = {"--log-level", "warn", "--peer-rate", "0", NULL};

/* ---- addresses ------------------------------------------------------------------- */

/* DR_BIND_BASE=A.B.C.D (scripts/bench.sh, in a network namespace where
 * those addresses are local): every node gets an address of its own, the
 * daemons from A.B.C.D on, swarm k from 1 000 * (k + 2) addresses further
 * (.0 and .255 skipped), so that OpenDHT's per-address limits and quotas
 * apply as between hosts; nodes keep OpenDHT's own per-address limit.
 * Unset: every node on 127.0.0.1 with that limit off (--peer-rate 0). */
static uint32_t g_base; /* host order; 0: loopback */
static int g_daemons, g_swarms;

/* The i-th address from the base (which ends in .1): 254 per /24, .0 and
 * .255 skipped. */
static void addr_at(uint32_t i, char out[16]) {
  struct in_addr in = {htonl(g_base + i / 254 * 256 + i % 254)};
  inet_ntop(AF_INET, &in, out, 16);
}

/* The next daemon's address, or "" on loopback. */
static void daemon_addr(char out[16]) {
  if (!g_base) {
    out[0] = '\0';
    return;
  }
  addr_at((uint32_t)g_daemons++, out);
}

static void swarm_base(char out[16]) {
  addr_at(1016u * (uint32_t)(1 + g_swarms++), out); /* a /24 boundary: 4 x 254 */
}

/* ---- a buffered JSON-RPC client ------------------------------------------------ */

typedef struct rpc {
  int fd;
  char *buf;
  size_t len, cap;
  size_t used; /* where the unread bytes start */
} rpc;

static void rpc_open(rpc *c, const h_node *n) {
  if ((c->fd = h_connect(n)) < 0) fail_msg("cannot connect to %s: %s", n->sock, strerror(errno));
  c->cap = 1 << 16;
  c->len = c->used = 0;
  c->buf = malloc(c->cap);
}

static void rpc_close(rpc *c) {
  close(c->fd);
  free(c->buf);
}

static void rpc_send(rpc *c, const char *data, size_t len) {
  while (len) {
    ssize_t w = send(c->fd, data, len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_msg("send: %s", strerror(errno));
    }
    data += w;
    len -= (size_t)w;
  }
}

/* The next answer line (NUL-terminated in place), valid until the next call. */
static char *line_of(rpc *l, int timeout_ms);

static char *rpc_line(rpc *c, int timeout_ms) {
  char *line = line_of(c, timeout_ms);
  if (!line) fail_msg("no answer within %d ms, or the node closed the connection", timeout_ms);
  return line;
}

static json_t *rpc_call(rpc *c, const char *method, json_t *params) {
  json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                          "params", params ? params : json_object());
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  rpc_send(c, text, strlen(text));
  free(text);
  char *line;
  do line = rpc_line(c, 60000); /* watch events may come first */
  while (strstr(line, "\"method\":\"event\""));
  json_t *resp = json_loads(line, 0, NULL);
  json_t *result = json_incref(json_object_get(resp, "result"));
  if (!result) fail_msg("%s failed: %s", method, line);
  json_decref(resp);
  return result;
}


static char *line_of(rpc *l, int timeout_ms) {
  /* compacted only when it must read more, so a line costs no copy of what
   * follows it */
  for (;;) {
    char *nl = memchr(l->buf + l->used, '\n', l->len - l->used);
    if (nl) {
      char *line = l->buf + l->used;
      *nl = '\0';
      l->used = (size_t)(nl - l->buf) + 1;
      return line;
    }
    if (l->used) {
      memmove(l->buf, l->buf + l->used, l->len - l->used);
      l->len -= l->used;
      l->used = 0;
    }
    if (l->len + 65536 > l->cap) l->buf = realloc(l->buf, l->cap *= 2);
    struct pollfd p = {l->fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return NULL;
    ssize_t r = recv(l->fd, l->buf + l->len, l->cap - l->len, 0);
    if (r <= 0) return NULL;
    l->len += (size_t)r;
  }
}

/* ---- measuring ------------------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i];
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- networks --------------------------------------------------------------------- */

typedef struct swarm_proc {
  pid_t pid;
  char dir[256], log[320];
  int want_ready; /* "ready" lines to wait for: one per settling */
  uint16_t port0;  /* UDP port of its first node */
  char host0[64];  /* and its address */
  h_node rpc[8];   /* its nodes that serve JSON-RPC */
  int n_rpc;
} swarm_proc;

static bool ports_written(void *p) {
  swarm_proc *s = p;
  char path[300];
  snprintf(path, sizeof path, "%s/ports", s->dir);
  return access(path, R_OK) == 0;
}

/* The swarm printed "ready" as often as asked: its routing tables settled. */
static bool swarm_ready(void *p) {
  swarm_proc *s = p;
  char line[256];
  int ready = 0;
  FILE *f = fopen(s->log, "r");
  while (f && fgets(line, sizeof line, f)) ready += strcmp(line, "ready\n") == 0;
  if (f) fclose(f);
  return ready >= s->want_ready;
}

static void swarm_start(swarm_proc *s, const char *name, int nodes, int rpc_nodes, const char *boot) {
  snprintf(s->dir, sizeof s->dir, "%s/%s", h_tmpdir(), name);
  mkdir(s->dir, 0700);
  char n_text[16], r_text[16];
  snprintf(n_text, sizeof n_text, "%d", nodes);
  snprintf(r_text, sizeof r_text, "%d", rpc_nodes);
  snprintf(s->log, sizeof s->log, "%s.log", s->dir);
  static char bin[] = DR_BIN_DIR "/dhtreg-swarm";
  char base[16] = "";
  if (g_base) swarm_base(base);
  char *argv[12] = {bin, "--nodes", n_text, "--rpc", r_text, "--dir", s->dir};
  int k = 7;
  if (g_base) {
    argv[k++] = "--bind-base";
    argv[k++] = base;
  }
  if (boot) {
    argv[k++] = "--bootstrap";
    argv[k++] = (char *)boot;
  }
  argv[k] = NULL;
  s->want_ready = 1;
  s->pid = h_spawn(argv, s->log);
  if (!h_wait_for(ports_written, s, 300000)) fail_msg("swarm %s did not start (see %s)", name, s->log);
  if (!h_wait_for(swarm_ready, s, 300000)) fail_msg("swarm %s did not settle (see %s)", name, s->log);
  char path[300], sock[300], host[64];
  snprintf(path, sizeof path, "%s/ports", s->dir);
  FILE *f = fopen(path, "r");
  unsigned idx, port;
  s->n_rpc = 0;
  while (fscanf(f, "%u %u %299s %63s", &idx, &port, sock, host) == 4) {
    if (idx == 0) {
      s->port0 = (uint16_t)port;
      snprintf(s->host0, sizeof s->host0, "%s", host);
    }
    if (strcmp(sock, "-") != 0 && s->n_rpc < 8) {
      h_node *n = &s->rpc[s->n_rpc++];
      memset(n, 0, sizeof *n);
      snprintf(n->name, sizeof n->name, "%s-n%u", name, idx);
      snprintf(n->sock, sizeof n->sock, "%s", sock);
      snprintf(n->host, sizeof n->host, "%s", host);
      n->port = (uint16_t)port;
    }
  }
  fclose(f);
}

/* Settles every swarm again (SIGUSR1), all at once: once the whole network
 * has joined, each node's table learns of the processes started after its
 * own. */
static void swarms_resettle(swarm_proc *s, int n) {
  for (int i = 0; i < n; i++) {
    s[i].want_ready++;
    kill(s[i].pid, SIGUSR1);
  }
  for (int i = 0; i < n; i++)
    if (!h_wait_for(swarm_ready, &s[i], 300000)) fail_msg("swarm %s did not settle again", s[i].dir);
}

static void swarm_stop(swarm_proc *s) {
  kill(s->pid, SIGKILL);
}

static bool has_peers(void *p) {
  h_node *n = p;
  json_t *info = h_ok(n, "node.info", NULL);
  bool ok = json_integer_value(json_object_get(info, "peers")) >= 4;
  json_decref(info);
  return ok;
}

/* The bootstrap address of a swarm: its first node. */
static void swarm_boot(const swarm_proc *s, char out[80]) {
  snprintf(out, 80, "%s:%u", s->host0, s->port0);
}

/* Starts a dhtregd (its own address with DR_BIND_BASE) joined through
 * boot; extra: more flags (NULL-terminated, may be NULL). */
static void start_daemon_with(h_node *n, const char *name, const char *boot, const char *const *extra) {
  char addr[16];
  daemon_addr(addr);
  const char *args[24] = {"--log-level", "warn", "--bootstrap", boot};
  int k = 4;
  if (*addr) {
    args[k++] = "--bind";
    args[k++] = addr;
  } else {
    args[k++] = "--peer-rate";
    args[k++] = "0";
  }
  for (int i = 0; extra && extra[i] && k < 22; i++) args[k++] = extra[i];
  args[k] = NULL;
  h_node_start(n, name, args);
  if (!h_wait_for(has_peers, n, 30000)) fail_msg("%s found no peers", name);
  /* its routing table fills as it looks keys up: a few resolves of
   * resources nobody created, as the swarms settle */
  for (int i = 0; i < 5; i++) {
    char label[32];
    snprintf(label, sizeof label, "settle%d", i);
    json_t *id = h_ok(n, "resource.id", json_pack("{s:s}", "label", label));
    json_t *r = h_ok(n, "resolve", json_pack("{s:O}", "resource_id", json_object_get(id, "resource_id")));
    json_decref(r);
    json_decref(id);
  }
}

static void start_daemon(h_node *n, const char *name, const swarm_proc *s) {
  char boot[80];
  swarm_boot(s, boot);
  start_daemon_with(n, name, boot, NULL);
}

static char *create(rpc *c, const char *label) {
  json_t *r = rpc_call(c, "resource.create", json_pack("{s:s}", "label", label));
  char *rid = strdup(json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  return rid;
}

static int records_of(rpc *c, const char *rid) {
  json_t *r = rpc_call(c, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 1000));
  int n = (int)json_array_size(json_object_get(r, "records"));
  json_decref(r);
  return n;
}

/* Sends count advertise requests on c, at most window unanswered. */
static void advertise_many(rpc *c, char **rids, int n_rids, int count, int window, const char *prefix) {
  int sent = 0, answered = 0;
  char req[512];
  while (answered < count) {
    while (sent < count && sent - answered < window) {
      int len = snprintf(req, sizeof req,
                         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.advertise\",\"params\":"
                         "{\"resource_id\":\"%s\",\"service_id\":\"%s-%06d\",\"host\":\"10.%d.%d.%d\","
                         "\"port\":8080,\"type\":\"http\"}}",
                         sent, rids[sent % n_rids], prefix, sent, (sent >> 16) & 255,
                         (sent >> 8) & 255, sent & 255);
      rpc_send(c, req, (size_t)len);
      sent++;
    }
    char *line = rpc_line(c, 120000);
    if (!strstr(line, "\"result\"")) fail_msg("advertise failed: %s", line);
    answered++;
  }
}

/* Creates count resources labelled PREFIXi through c; returns their ids
 * (free_rids). */
static char **create_many(rpc *c, const char *prefix, int count) {
  char **rids = calloc((size_t)count, sizeof *rids);
  for (int i = 0; i < count; i++) {
    char label[32];
    snprintf(label, sizeof label, "%s%d", prefix, i);
    rids[i] = create(c, label);
  }
  return rids;
}

static void free_rids(char **rids, int count) {
  for (int i = 0; i < count; i++) free(rids[i]);
  free(rids);
}

/* Creates count resources PREFIXi through c, per records in each; returns
 * their ids (free_rids). */
static char **publish_samples(rpc *c, const char *prefix, int count, int per) {
  char **rids = create_many(c, prefix, count);
  for (int i = 0; i < count; i++) {
    char label[32];
    snprintf(label, sizeof label, "%s%d", prefix, i);
    advertise_many(c, &rids[i], 1, per, per, label);
  }
  return rids;
}

/* ---- get: cold resolve latency ----------------------------------------------------- */

static void mode_get(int n, int samples, int per) {
  swarm_proc s;
  double t0 = now_s();
  swarm_start(&s, "swarm", n - 1, 1, NULL);
  h_node resolver;
  start_daemon(&resolver, "resolver", &s);
  printf("dr_join_s %.2f\n", now_s() - t0);
  rpc adv, res;
  rpc_open(&adv, &s.rpc[0]);
  rpc_open(&res, &resolver);
  char **rids = publish_samples(&adv, "svc", samples, per);
  double *ms = calloc((size_t)samples, sizeof *ms);
  int ok = 0;
  for (int i = 0; i < samples; i++) {
    double a = now_s();
    int got = records_of(&res, rids[i]);
    ms[i] = (now_s() - a) * 1000;
    ok += got == per;
  }
  printf("dr_get_p50_ms %.3f\ndr_get_p90_ms %.3f\ndr_get_p99_ms %.3f\ndr_get_success %.3f\n",
         pct(ms, (size_t)samples, 0.5), pct(ms, (size_t)samples, 0.9), pct(ms, (size_t)samples, 0.99),
         (double)ok / samples);
  free_rids(rids, samples);
  free(ms);
  rpc_close(&adv);
  rpc_close(&res);
  swarm_stop(&s);
}

/* ---- put: advertise throughput ------------------------------------------------------ */

static void mode_put(int n, int count, int n_res, int window) {
  swarm_proc s;
  swarm_start(&s, "swarm", n - 1, 1, NULL);
  h_node adv_node;
  start_daemon(&adv_node, "advertiser", &s);
  rpc adv, res;
  rpc_open(&adv, &adv_node);
  rpc_open(&res, &s.rpc[0]);
  char **rids = create_many(&adv, "res", n_res);
  double t0 = now_s();
  advertise_many(&adv, rids, n_res, count, window, "svc");
  double t_ans = now_s() - t0;
  /* every record resolvable on another node */
  int per = count / n_res;
  for (int i = 0; i < n_res; i++) {
    double until = now_s() + 120;
    int want = per + (i < count % n_res);
    while (records_of(&res, rids[i]) < want) {
      if (now_s() > until) fail_msg("resource %d never showed its %d records", i, want);
      nap_ms(5);
    }
  }
  double t_vis = now_s() - t0;
  printf("dr_put_per_s %.0f\ndr_put_visible_per_s %.0f\n", count / t_ans, count / t_vis);
  free_rids(rids, n_res);
  rpc_close(&adv);
  rpc_close(&res);
  swarm_stop(&s);
}

/* ---- local: health and cached resolve --------------------------------------------------- */

typedef struct load {
  const h_node *node;
  const char *req; /* one request, newline-terminated */
  int count, window;
  double *lat_ms; /* per request, when window is 1 */
} load;

static void *run_load(void *p) {
  load *l = p;
  rpc cl;
  rpc_open(&cl, l->node);
  size_t rl = strlen(l->req);
  int sent = 0, answered = 0;
  double sent_at = 0;
  /* pipelined: write many requests per send */
  char *batch = malloc(rl * 64);
  while (answered < l->count) {
    int k = 0;
    while (sent < l->count && sent - answered < l->window && k < 64) {
      memcpy(batch + (size_t)k * rl, l->req, rl);
      k++;
      sent++;
    }
    if (k) {
      sent_at = now_s();
      rpc_send(&cl, batch, (size_t)k * rl);
    }
    char *line = line_of(&cl, 30000);
    if (!line || !strstr(line, "\"result\"")) {
      fprintf(stderr, "load: bad answer: %s\n", line ? line : "(none)");
      exit(1);
    }
    if (l->lat_ms) l->lat_ms[answered] = (now_s() - sent_at) * 1000;
    answered++;
  }
  free(batch);
  rpc_close(&cl);
  return NULL;
}

/* Runs count requests over conns connections (window in flight on each);
 * prints requests/s, and p50 latency when window is 1. */
static void measure(const char *what, const h_node *node, const char *req, int count, int conns,
                    int window) {
  load l[8];
  pthread_t th[8];
  int each = count / conns, done = each * conns;
  double *lat = window == 1 ? calloc((size_t)count, sizeof *lat) : NULL;
  double t0 = now_s();
  for (int i = 0; i < conns; i++) {
    l[i] = (load){node, req, each, window, lat ? lat + (size_t)i * (size_t)each : NULL};
    pthread_create(&th[i], NULL, run_load, &l[i]);
  }
  for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
  double secs = now_s() - t0;
  if (lat) {
    printf("%s_p50_us %.1f\n", what, pct(lat, (size_t)done, 0.5) * 1000);
    printf("%s_p99_us %.1f\n", what, pct(lat, (size_t)done, 0.99) * 1000);
  } else {
    printf("%s_per_s %.0f\n", what, done / secs);
  }
  free(lat);
}

static void mode_local(int count) {
  h_node n;
  h_node_start(&n, "local", quiet);
  rpc c;
  rpc_open(&c, &n);
  char *rid = create(&c, "local");
  advertise_many(&c, &rid, 1, 10, 10, "svc");
  /* watched: resolve is answered from the listen-fed cache */
  json_decref(rpc_call(&c, "watch", json_pack("{s:s}", "resource_id", rid)));
  char health[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"}\n";
  char resolve[256];
  snprintf(resolve, sizeof resolve,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resolve\",\"params\":{\"resource_id\":\"%s\"}}\n", rid);
  int lat_n = count / 10 < 20000 ? count / 10 : 20000;
  measure("dr_health_1c", &n, health, count, 1, 256);
  measure("dr_health_1c_lat", &n, health, lat_n, 1, 1);
  measure("dr_health_8c", &n, health, count, 8, 256);
  measure("dr_health_8c_lat", &n, health, lat_n, 8, 1);
  measure("dr_cached_1c", &n, resolve, count, 1, 256);
  measure("dr_cached_1c_lat", &n, resolve, lat_n, 1, 1);
  measure("dr_cached_8c", &n, resolve, count, 8, 256);
  measure("dr_cached_8c_lat", &n, resolve, lat_n, 8, 1);
  json_t *info = rpc_call(&c, "node.info", NULL);
  long hits = (long)json_integer_value(json_object_get(json_object_get(info, "cache"), "hits"));
  json_decref(info);
  if (hits < count) fail_msg("resolve was not answered from the cache (%ld hits)", hits);
  free(rid);
  rpc_close(&c);
}

/* ---- burst: COUNT advertise requests at once ------------------------------------------------ */

typedef struct burst_writer {
  rpc *c;
  char **rids;
  int n_rids, count;
} burst_writer;

static void *write_burst(void *p) {
  burst_writer *w = p;
  char *buf = malloc(1 << 20);
  size_t used = 0;
  for (int i = 0; i < w->count; i++) {
    used += (size_t)snprintf(buf + used, 512,
                             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"record.advertise\",\"params\":"
                             "{\"resource_id\":\"%s\",\"service_id\":\"b-%06d\",\"host\":\"10.%d.%d.%d\","
                             "\"port\":8080}}\n",
                             i, w->rids[i % w->n_rids], i, (i >> 16) & 255, (i >> 8) & 255, i & 255);
    if (used > (1 << 20) - 512 || i == w->count - 1) {
      rpc_send(w->c, buf, used);
      used = 0;
    }
  }
  free(buf);
  return NULL;
}

typedef struct rss_watch {
  pid_t pid;
  volatile int stop;
  long peak_kb;
} rss_watch;

static void *watch_rss(void *p) {
  rss_watch *w = p;
  while (!w->stop) {
    long v = h_proc_kb(w->pid, "VmRSS");
    if (v > w->peak_kb) w->peak_kb = v;
    nap_ms(100);
  }
  return NULL;
}

/* CPU seconds (user + system) a process has used so far, or -1. */
static double proc_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = '\0';
  const char *p = strrchr(buf, ')'); /* the name may hold spaces */
  unsigned long long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void mode_burst(int n, int count, int per) {
  swarm_proc s;
  swarm_start(&s, "swarm", n - 1, 1, NULL);
  h_node node;
  start_daemon(&node, "burst", &s);
  rpc c;
  rpc_open(&c, &node);
  int n_res = per > 0 && count / per > 0 ? count / per : 1;
  char **rids = create_many(&c, "burst", n_res);
  long rss0 = h_proc_kb(node.pid, "VmRSS");
  rss_watch rw = {node.pid, 0, rss0};
  pthread_t wt, rt;
  pthread_create(&rt, NULL, watch_rss, &rw);
  burst_writer bw = {&c, rids, n_res, count};
  double cpu_node0 = proc_cpu_s(node.pid), cpu_swarm0 = proc_cpu_s(s.pid);
  double t0 = now_s();
  pthread_create(&wt, NULL, write_burst, &bw);
  int errors = 0;
  for (int i = 0; i < count; i++) {
    char *line = rpc_line(&c, 300000);
    if (!strstr(line, "\"result\"")) errors++;
  }
  double secs = now_s() - t0;
  pthread_join(wt, NULL);
  rw.stop = 1;
  pthread_join(rt, NULL);
  printf("dr_burst_count %d\ndr_burst_errors %d\ndr_burst_s %.1f\ndr_burst_per_s %.0f\n", count, errors,
         secs, count / secs);
  printf("dr_burst_rss_before_kb %ld\ndr_burst_peak_rss_kb %ld\n", rss0, rw.peak_kb);
  /* where the two cores went: the publishing node, and the other nodes (storers, each verifying
   * every value it is given: ~8 verifications per record, all on this machine) */
  printf("dr_burst_publisher_cpu_s %.1f\ndr_burst_storers_cpu_s %.1f\n", proc_cpu_s(node.pid) - cpu_node0,
         proc_cpu_s(s.pid) - cpu_swarm0);
  /* what the publisher holds per own record once the burst is over (its
   * puts acknowledged, freed memory handed back) */
  nap_ms(5000);
  long settled = h_proc_kb(node.pid, "VmRSS");
  printf("dr_burst_settled_rss_kb %ld\ndr_burst_bytes_per_record %.0f\n", settled,
         (double)(settled - rss0) * 1024.0 / count);
  free_rids(rids, n_res);
  rpc_close(&c);
  swarm_stop(&s);
}

/* ---- memory: idle, and per 10 000 cached records --------------------------------------------- */

static bool cache_has(void *p) {
  void **a = p;
  h_node *n = a[0];
  long want = (long)(intptr_t)a[1];
  json_t *info = h_ok(n, "node.info", NULL);
  long have = (long)json_integer_value(json_object_get(json_object_get(info, "cache"), "entries"));
  json_decref(info);
  return have >= want;
}

static void mode_memory(int records) {
  h_node idle;
  h_node_start(&idle, "idle", quiet);
  nap_ms(2000); /* what an idle node settles at: its first DHT maintenance is over */
  printf("dr_idle_rss_kb %ld\n", h_proc_kb(idle.pid, "VmRSS"));

  char boot[32];
  h_addr(&idle, boot, sizeof boot);
  const char *args[] = {"--log-level", "warn", "--peer-rate", "0", "--bootstrap", boot, NULL};
  h_node adv, watcher;
  h_node_start(&adv, "adv", args);
  h_node_start(&watcher, "watcher", args);
  rpc a;
  rpc_open(&a, &adv);
  int n_res = records / 2500 > 0 ? records / 2500 : 1;
  char **rids = create_many(&a, "mem", n_res);
  advertise_many(&a, rids, n_res, records, 1000, "mem");
  nap_ms(1000);
  long before = h_proc_kb(watcher.pid, "VmRSS");
  rpc w;
  rpc_open(&w, &watcher);
  for (int i = 0; i < n_res; i++) json_decref(rpc_call(&w, "watch", json_pack("{s:s}", "resource_id", rids[i])));
  void *arg[2] = {&watcher, (void *)(intptr_t)(records + n_res)};
  if (!h_wait_for(cache_has, arg, 120000)) fail_msg("the watcher's cache never held %d records", records);
  nap_ms(1000);
  long after = h_proc_kb(watcher.pid, "VmRSS");
  printf("dr_cache_rss_per_10k_kb %.0f\n", (double)(after - before) * 10000.0 / records);
  free_rids(rids, n_res);
  rpc_close(&a);
  rpc_close(&w);
}

/* ---- scale: PROCS swarms of PER nodes ---------------------------------------------------------- */

static void mode_scale(int procs, int per, int samples) {
  swarm_proc *s = calloc((size_t)procs, sizeof *s);
  double t0 = now_s();
  char boot[80], name[16];
  swarm_start(&s[0], "swarm0", per, 2, NULL);
  swarm_boot(&s[0], boot);
  for (int i = 1; i < procs; i++) {
    snprintf(name, sizeof name, "swarm%d", i);
    swarm_start(&s[i], name, per, 2, boot);
  }
  /* joined: the last node started sees peers */
  for (int i = 0; i < procs; i++)
    for (int k = 0; k < s[i].n_rpc; k++)
      if (!h_wait_for(has_peers, &s[i].rpc[k], 60000)) fail_msg("%s found no peers", s[i].rpc[k].name);
  swarms_resettle(s, procs);
  printf("dr_scale_nodes %d\ndr_scale_join_s %.1f\n", procs * per, now_s() - t0);
  rpc adv;
  rpc_open(&adv, &s[0].rpc[0]);
  char **rids = publish_samples(&adv, "scale", samples, 1);
  /* resolved from a node of every other process, in turn */
  double *ms = calloc((size_t)samples, sizeof *ms);
  int ok = 0;
  rpc *res = calloc((size_t)procs, sizeof *res);
  for (int i = 0; i < procs; i++) rpc_open(&res[i], &s[i].rpc[s[i].n_rpc - 1]);
  for (int i = 0; i < samples; i++) {
    rpc *c = &res[procs > 1 ? 1 + i % (procs - 1) : 0];
    double a = now_s();
    int got = records_of(c, rids[i]);
    ms[i] = (now_s() - a) * 1000;
    ok += got == 1;
    if (getenv("BENCH_TRACE") && got != 1) fprintf(stderr, "sample %d on reader %d: %d records\n", i, procs > 1 ? 1 + i % (procs - 1) : 0, got);
  }
  printf("dr_scale_success %.3f\ndr_scale_p50_ms %.3f\ndr_scale_p99_ms %.3f\n", (double)ok / samples,
         pct(ms, (size_t)samples, 0.5), pct(ms, (size_t)samples, 0.99));
  for (int i = 0; i < procs; i++) rpc_close(&res[i]);
  free_rids(rids, samples);
  free(ms);
  free(res);
  rpc_close(&adv);
  for (int i = 0; i < procs; i++) swarm_stop(&s[i]);
  free(s);
}

/* ---- big: limit 100 of a resource of RECORDS records ----------------------------------------- */

typedef struct page_stats {
  int ok;       /* resolves that returned limit live records */
  double *ms;
  int n;
} page_stats;

static void mode_big(int n, int records, int shards, int samples) {
  swarm_proc s;
  swarm_start(&s, "swarm", n - 2, 1, NULL);
  h_node adv_node, reader;
  start_daemon(&adv_node, "advertiser", &s);
  start_daemon(&reader, "reader", &s);
  rpc adv, res;
  rpc_open(&adv, &adv_node);
  rpc_open(&res, &reader);
  json_t *r = rpc_call(&adv, "resource.create", json_pack("{s:s, s:i}", "label", "fleet", "shards", shards));
  char *rid = strdup(json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  double t0 = now_s();
  advertise_many(&adv, &rid, 1, records, 1000, "big");
  double adv_s = now_s() - t0;
  printf("dr_big_records %d\ndr_big_shards %d\ndr_big_advertise_s %.1f\n", records, shards, adv_s);
  /* a node that advertised nothing: limit 100, a new random order each time */
  double *ms = calloc((size_t)samples, sizeof *ms);
  int ok = 0;
  double cpu[3] = {proc_cpu_s(s.pid), proc_cpu_s(adv_node.pid), proc_cpu_s(reader.pid)}, w0 = now_s();
  for (int i = 0; i < samples; i++) {
    double a = now_s();
    json_t *p = rpc_call(&res, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 100));
    ms[i] = (now_s() - a) * 1000;
    if (getenv("BENCH_TRACE")) fprintf(stderr, "sample %d: %.1f ms\n", i, ms[i]);
    ok += json_array_size(json_object_get(p, "records")) == 100;
    json_decref(p);
  }
  /* where the two cores went while the pages were read */
  double wall = now_s() - w0;
  printf("dr_big_cpu_storers %.2f\ndr_big_cpu_advertiser %.2f\ndr_big_cpu_reader %.2f\n",
         (proc_cpu_s(s.pid) - cpu[0]) / wall, (proc_cpu_s(adv_node.pid) - cpu[1]) / wall,
         (proc_cpu_s(reader.pid) - cpu[2]) / wall);
  printf("dr_big_p50_ms %.3f\ndr_big_p90_ms %.3f\ndr_big_p99_ms %.3f\ndr_big_success %.3f\n",
         pct(ms, (size_t)samples, 0.5), pct(ms, (size_t)samples, 0.9), pct(ms, (size_t)samples, 0.99),
         (double)ok / samples);
  json_t *info = rpc_call(&adv, "node.info", NULL);
  printf("dr_big_publisher_rss_kb %ld\n", h_proc_kb(adv_node.pid, "VmRSS"));
  json_decref(info);
  free(ms);
  free(rid);
  rpc_close(&adv);
  rpc_close(&res);
  swarm_stop(&s);
}

/* ---- rate: advertise into one resource as it fills ----------------------------------------- */

static void mode_rate(int n, int count, int shards) {
  swarm_proc s;
  swarm_start(&s, "swarm", n - 1, 1, NULL);
  h_node adv_node;
  start_daemon(&adv_node, "advertiser", &s);
  rpc adv;
  rpc_open(&adv, &adv_node);
  json_t *r = rpc_call(&adv, "resource.create", json_pack("{s:s, s:i}", "label", "fills", "shards", shards));
  char *rid = strdup(json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  /* segments [0,100), [100,1000), [1000,10000), ...: each one's own rate */
  int from = 0;
  for (int upto = 100; from < count; upto *= 10) {
    if (upto > count) upto = count;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "r%d", upto);
    double t0 = now_s();
    advertise_many(&adv, &rid, 1, upto - from, 64, prefix);
    double secs = now_s() - t0;
    printf("dr_rate_%d_per_s %.0f\n", upto, (upto - from) / secs);
    from = upto;
  }
  free(rid);
  rpc_close(&adv);
  swarm_stop(&s);
}

/* ---- main -------------------------------------------------------------------------------------- */

static int g_argc;
static char **g_argv;

static int arg(int i, int def) {
  return i < g_argc ? atoi(g_argv[i]) : def;
}

static void bench(void **state) {
  const char *mode = g_argc > 1 ? g_argv[1] : "";
  if (strcmp(mode, "get") == 0) mode_get(arg(2, 20), arg(3, 200), arg(4, 1));
  else if (strcmp(mode, "big") == 0) mode_big(arg(2, 24), arg(3, 100000), arg(4, 1024), arg(5, 200));
  else if (strcmp(mode, "rate") == 0) mode_rate(arg(2, 20), arg(3, 10000), arg(4, 128));
  else if (strcmp(mode, "put") == 0) mode_put(arg(2, 20), arg(3, 2000), arg(4, 10), arg(5, 1000));
  else if (strcmp(mode, "local") == 0) mode_local(arg(2, 200000));
  else if (strcmp(mode, "burst") == 0) mode_burst(arg(2, 20), arg(3, 100000), arg(4, 1000));
  else if (strcmp(mode, "memory") == 0) mode_memory(arg(2, 10000));
  else if (strcmp(mode, "scale") == 0) mode_scale(arg(2, 5), arg(3, 200), arg(4, 200));
  else fail_msg("usage: bench_dhtreg get|put|local|burst|memory|scale [numbers] (see the file's header)");
  fflush(stdout);
}

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  const char *base = getenv("DR_BIND_BASE");
  struct in_addr in;
  if (base && *base) {
    if (inet_pton(AF_INET, base, &in) != 1) {
      fprintf(stderr, "bench_dhtreg: DR_BIND_BASE '%s' is not an IPv4 address\n", base);
      return 2;
    }
    g_base = ntohl(in.s_addr);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const struct CMUnitTest tests[] = {cmocka_unit_test(bench)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
