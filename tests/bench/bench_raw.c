/* bench_raw.c - the project's benchmarks run on plain OpenDHT runners, for figures given as a ratio to raw OpenDHT
 *
 *   bench_raw get N SAMPLES
 *     N runners; per sample runner 1 puts a value under a random key, then a runner other than 1
 *     and not among the 8 closest to the key gets it, timed from the call to its done callback.
 *     raw_get_p50_ms raw_get_p90_ms raw_get_p99_ms raw_get_success raw_join_s
 *   bench_raw put N COUNT KEYS WINDOW
 *     runner 1 puts COUNT values (value i under key i % KEYS), at most WINDOW in flight; then
 *     runner 2 gets the keys (at most WINDOW gets at once, rounds until it saw every value).
 *     raw_put_per_s raw_put_failed raw_put_visible_per_s
 *   bench_raw burst N COUNT LIMIT_S
 *     runner 1 issues COUNT puts at once over COUNT/10 keys and waits at most LIMIT_S seconds.
 *     raw_burst_done raw_burst_s raw_burst_peak_rss_kb
 *   bench_raw idle
 *     one runner alone for 2 s.  raw_idle_rss_kb
 *   bench_raw swarm N DIR [BOOT_HOST:PORT]
 *     N runners (runner 0 through BOOT, if given); once all are connected writes DIR/raw_ports
 *     (their HOST:PORT, runner 0 first) and prints "ready"; runs until SIGTERM or SIGINT, at most 30 min.
 *   bench_raw probe BOOT_HOST:PORT SAMPLES [PER_KEY]
 *     one runner joined through BOOT puts PER_KEY values (default 1) under each of SAMPLES keys
 *     (64 in flight), then a second runner joins and gets each key, timed; raw_join_s is the second
 *     runner's join. A dhtreg resolve reads two values: the resource entry and a record.
 *     raw_get_p50_ms raw_get_p99_ms raw_get_success raw_join_s
 *
 * Exit status: 0 when the mode ran to its end; 1 when it could not (a runner that would not start
 * or connect, the mode's deadline: the figures printed then cover what was done, unfinished gets
 * counting as failures); 2 on a usage error; 3 when the hard deadline ended the process.
 *
 * Results go to stdout as "key value" lines, progress to stderr. All the runners of one invocation
 * are in this process, each on its own UDP port (port 0: any free one). With DR_BIND_BASE (what
 * scripts/bench.sh sets, in a network namespace of its own) each runner binds an address of its
 * own from there, through dhtreg's shim (dht/opendht_shim.h: opendht_c.h has no bind address),
 * serves 4096 requests/s per source address and has a 4 MiB socket receive buffer as dhtreg's
 * nodes do (with OpenDHT's 1024 and the kernel's default buffer, the raw side would lose
 * requests and answers on gets of many values); everything else is OpenDHT's default. Without it, runners listen on every address, bootstrap through 127.0.0.1, and keep
 * OpenDHT's limits: every runner then sees all the others as one address.
 *
 * OpenDHT calls its callbacks on its own threads: they only update state under g_lock and signal
 * g_cond; the main thread waits on g_cond with a deadline. Every wait is bounded by its own limit and
 * by the mode's global deadline, and an alarm() ends the process if even that is missed (a runner
 * that does not stop, for instance).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <opendht/opendht_c.h>

#include "dht/opendht_shim.h" /* bind addresses only (DR_BIND_BASE), what opendht_c.h lacks */

#define MAX_RUNNERS 200 /* a runner holds 4 descriptors and OpenDHT waits with select(): below 1024 */
#define VALUE_LEN 300         /* bytes of every value put */
#define TARGET_NODES 8        /* OpenDHT stores a value on the 8 nodes closest to its key */
#define OP_TIMEOUT_MS 30000.0 /* one put or get */
#define RETRY_MS 200.0        /* between two connectivity checks of one runner */
#define MAX_CHECKS 100        /* connectivity checks per runner */
#define SETTLE_ROUNDS 6
#define JOIN_LIMIT_MS 60000.0 /* probe: for a runner to connect through the bootstrap address */
#define PROBE_WINDOW 64
#define SWARM_LIMIT_S (30 * 60)

/* ---- time, deadline, output ---- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;
static double g_deadline; /* now_ms() past which every wait gives up */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static volatile sig_atomic_t g_alarm_code = 3; /* exit status when the alarm fires */

static void on_alarm(int sig) {
  (void)sig;
  if (g_alarm_code == 0) _exit(0);
  static const char msg[] = "bench_raw: hard deadline passed, exiting\n";
  ssize_t w = write(2, msg, sizeof msg - 1);
  (void)w;
  _exit(3);
}

/* Sets the mode's deadline (seconds from now) and, 30 s later, an alarm that ends the process. */
static void set_deadline(double seconds) {
  g_deadline = now_ms() + seconds * 1e3;
  signal(SIGALRM, on_alarm);
  alarm((unsigned)seconds + 30);
}

static bool past_deadline(void) { return now_ms() >= g_deadline; }

/* With g_lock held: waits on g_cond at most until `until` (and the global deadline), in steps of at
 * most 50 ms. Returns false once that time has passed. */
static bool wait_locked(double until) {
  double limit = until < g_deadline ? until : g_deadline;
  double left = limit - now_ms();
  if (left <= 0) return false;
  if (left > 50) left = 50;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long ns = (long long)ts.tv_nsec + (long long)(left * 1e6);
  ts.tv_sec += (time_t)(ns / 1000000000LL);
  ts.tv_nsec = (long)(ns % 1000000000LL);
  pthread_cond_timedwait(&g_cond, &g_lock, &ts);
  return true;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_raw: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void put_figure(const char *key, double v) {
  if (v == (double)(long long)v)
    printf("%s %lld\n", key, (long long)v);
  else
    printf("%s %.3f\n", key, v);
  fflush(stdout);
}

/* A line "<field> N kB" of /proc/self/status, in kB; -1 if absent. */
static long status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      kb = strtol(line + n + 1, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

/* Nearest-rank percentile of v[0..n) (sorted in place); 0 if n is 0. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(double *v, size_t n, double p) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  size_t rank = (size_t)(p * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return v[rank - 1];
}

/* ---- random bytes: xorshift64*, seeded from OpenDHT's random infohash ---- */

static uint64_t g_rng;

static void rng_seed(void) {
  dht_infohash h;
  dht_infohash_random(&h);
  memcpy(&g_rng, h.d, sizeof g_rng);
  if (!g_rng) g_rng = 0x9e3779b97f4a7c15ULL;
}

static uint64_t rng_next(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 0x2545f4914f6cdd1dULL;
}

static void rng_fill(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rng_next() >> 56);
}

/* A value whose first 4 bytes are `index` (little endian), the rest random. */
static void make_value(uint8_t out[VALUE_LEN], uint32_t index) {
  rng_fill(out, VALUE_LEN);
  for (int b = 0; b < 4; b++) out[b] = (uint8_t)(index >> (8 * b));
}

static uint32_t value_index(const uint8_t *d) {
  return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

/* ---- operations: one put or get and what its callbacks reported ----
 * An op lives until the end of the process (ops_free_all, after the runners are deleted): a callback
 * may still come after the main thread gave up waiting for it. */

typedef struct op {
  struct op *next;
  bool done, ok, found;    /* under g_lock */
  double t0, t1;           /* call and done callback, ms */
  uint8_t want[VALUE_LEN]; /* a get's expected value (found: it arrived) */
  bool count_put;          /* done updates the put counters below */
  long key;                /* put mode: index of the key got */
} op;

static op *g_ops;
static int g_inflight, g_put_done, g_put_failed; /* counted puts, under g_lock */
static double g_last_put_done;

static op *op_new(void) {
  op *o = calloc(1, sizeof *o);
  if (!o) {
    say("out of memory");
    _exit(1);
  }
  pthread_mutex_lock(&g_lock);
  o->next = g_ops;
  g_ops = o;
  pthread_mutex_unlock(&g_lock);
  return o;
}

static void ops_free_all(void) {
  while (g_ops) {
    op *next = g_ops->next;
    free(g_ops);
    g_ops = next;
  }
}

/* Done callback of every put and get (OpenDHT's thread). */
static void on_done(bool ok, void *ud) {
  op *o = ud;
  double t = now_ms();
  pthread_mutex_lock(&g_lock);
  if (!o->done) {
    o->done = true;
    o->ok = ok;
    o->t1 = t;
    if (o->count_put) {
      g_inflight--;
      g_put_done++;
      if (!ok) g_put_failed++;
      g_last_put_done = t;
    }
  }
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_lock);
}

/* Value callback of a get that looks for o->want (OpenDHT's thread). */
static bool on_value(const dht_value *v, void *ud) {
  op *o = ud;
  dht_data_view d = dht_value_get_data(v);
  if (d.size == VALUE_LEN && memcmp(d.data, o->want, VALUE_LEN) == 0) {
    pthread_mutex_lock(&g_lock);
    o->found = true;
    pthread_mutex_unlock(&g_lock);
  }
  return true;
}

static bool on_any_value(const dht_value *v, void *ud) {
  (void)v;
  (void)ud;
  return true;
}

/* Puts a fresh VALUE_LEN-byte value (index `index`) under key from r; counted: see g_inflight. */
static op *put_value(dht_runner *r, const dht_infohash *key, uint32_t index, bool counted, uint8_t *copy) {
  op *o = op_new();
  uint8_t data[VALUE_LEN];
  make_value(data, index);
  if (copy) memcpy(copy, data, VALUE_LEN);
  dht_value *v = dht_value_new(data, VALUE_LEN);
  if (!v) {
    say("dht_value_new failed");
    _exit(1);
  }
  o->count_put = counted;
  if (counted) {
    pthread_mutex_lock(&g_lock);
    g_inflight++;
    pthread_mutex_unlock(&g_lock);
  }
  o->t0 = now_ms();
  dht_runner_put(r, key, v, on_done, o, false);
  dht_value_unref(v);
  return o;
}

/* Starts a get of key on r; want: the value expected (NULL: none). */
static op *get_key(dht_runner *r, const dht_infohash *key, const uint8_t *want) {
  op *o = op_new();
  if (want) memcpy(o->want, want, VALUE_LEN);
  o->t0 = now_ms();
  dht_runner_get(r, key, want ? on_value : on_any_value, on_done, o);
  return o;
}

/* Waits until o is done (at most OP_TIMEOUT_MS and the deadline); returns whether it is. */
static bool op_wait(op *o) {
  double until = now_ms() + OP_TIMEOUT_MS;
  pthread_mutex_lock(&g_lock);
  while (!o->done && wait_locked(until)) {
  }
  bool done = o->done;
  pthread_mutex_unlock(&g_lock);
  return done;
}

/* ---- runners ---- */

typedef struct net {
  dht_runner *r[MAX_RUNNERS];
  dht_infohash id[MAX_RUNNERS];
  uint16_t port[MAX_RUNNERS];
  char host[MAX_RUNNERS][16]; /* the address it is bound to (127.0.0.1: every address) */
  int n;
} net;

/* DR_BIND_BASE=A.B.C.D (scripts/bench.sh, in a network namespace where those addresses are
 * local): each runner started binds the next address from there (skipping .0 and .255), so that
 * OpenDHT's per-address limits and quotas apply as between hosts. Unset: every address, and all
 * runners are 127.0.0.1 to each other. */
static uint32_t g_bind_next; /* host order; 0: not binding */

static void next_bind_addr(char out[16]) {
  while ((g_bind_next & 255) == 0 || (g_bind_next & 255) == 255) g_bind_next++;
  struct in_addr a = {htonl(g_bind_next++)};
  inet_ntop(AF_INET, &a, out, 16);
}

/* Starts one more runner on a free port, bootstrapped through host:port (host NULL: none).
 * Returns its index, or -1. */
static int net_add(net *nt, const char *host, const char *port) {
  if (nt->n >= MAX_RUNNERS) return -1;
  dht_runner *r = dht_runner_new();
  if (!r) return -1;
  char addr[16] = "127.0.0.1";
  int err;
  if (g_bind_next) {
    /* OpenDHT's defaults but the bind address and the per-address request limit, which is
     * dhtreg's (4096/s, not 1024/s: a get of 100 values from 8 storers is 800 requests, and
     * with OpenDHT's limit a reader's second get within the second loses requests to it) */
    next_bind_addr(addr);
    dr__dht_run_cfg rc = {.bind4 = addr, .max_peer_req_per_sec = 4096};
    err = dr__dht_run(r, &rc);
  } else {
    dht_runner_config cfg;
    dht_runner_config_default(&cfg);
    dht_infohash_random(&cfg.dht_config.node_config.node_id);
    err = dht_runner_run_config(r, 0, &cfg);
  }
  if (err != 0) {
    say("starting a runner on %s: error %d", addr, err);
    dht_runner_delete(r);
    return -1;
  }
  int i = nt->n++;
  snprintf(nt->host[i], sizeof nt->host[i], "%s", addr);
  nt->r[i] = r;
  nt->id[i] = dht_runner_get_node_id(r);
  nt->port[i] = dht_runner_get_bound_port(r, AF_INET);
  /* and the receive buffer dhtreg's nodes have (4 MiB): with the kernel's default, a get of 100
   * values loses most of the ~800 datagrams that arrive at once and waits out OpenDHT's 1 s
   * timeout for them, which is the socket's size, not OpenDHT's */
  if (g_bind_next) dr__raise_rcvbuf(nt->port[i], 0, 4 << 20);
  if (host) dht_runner_bootstrap(r, host, port);
  return i;
}

/* Starts runners until there are n: each through boot (host NULL: none), as a fleet's machines
 * join through the same bootstrap addresses, and all but runner 0 through runner 0 too (as
 * dhtreg-swarm's nodes do). Returns 0, or -1 (some already started are left in nt). */
static int net_start(net *nt, int n, const char *boot_host, const char *boot_port) {
  char port[8];
  for (int i = nt->n; i < n; i++) {
    if (i == 0) {
      if (net_add(nt, boot_host, boot_port) < 0) return -1;
      snprintf(port, sizeof port, "%u", nt->port[0]);
    } else if (net_add(nt, nt->host[0], port) < 0) {
      return -1;
    } else if (boot_host) {
      dht_runner_bootstrap(nt->r[i], boot_host, boot_port);
    }
  }
  /* Runner 0 without a bootstrap address only hears of the others through their requests, and
   * OpenDHT counts such nodes as "connecting" until they answer one of its own requests, which it
   * sends a second or more later: it holds its gets until then. Let it ping runner 1 now
   * (dht_runner_bootstrap would not: OpenDHT bootstraps only a runner that knows no node). */
  if (!boot_host && nt->n > 1) {
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(nt->port[1])};
    inet_pton(AF_INET, nt->host[1], &sin.sin_addr);
    dht_runner_ping(nt->r[0], (struct sockaddr *)&sin, sizeof sin, NULL, NULL);
  }
  return 0;
}

static void net_stop(net *nt) {
  double t0 = now_ms();
  int n = nt->n;
  for (int i = 0; i < n; i++) dht_runner_delete(nt->r[i]);
  nt->n = 0;
  if (n) say("%d runners deleted in %.2f s", n, (now_ms() - t0) / 1e3);
}

/* Connectivity: OpenDHT holds a runner's gets while it is "connecting" (a node pinged, none answered
 * yet) and completes a get with ok once its search reached nodes that answered; a runner that knows
 * no node at all runs it at once, and it fails after about 8 s unless some node reaches the runner
 * meanwhile (as runner 0 without a bootstrap address is, by the others joining through it). So a get
 * of a random key that completes ok shows a runner with live peers.
 * Checks runners [from, to) that way, again every RETRY_MS after a failure (at most MAX_CHECKS each),
 * until all passed or until `until`. Returns how many passed. */
static int net_connect(net *nt, int from, int to, double until) {
  int n = to - from, passed = 0;
  op **cur = calloc((size_t)n, sizeof *cur);
  int *checks = calloc((size_t)n, sizeof *checks);
  bool *ok = calloc((size_t)n, sizeof *ok);
  double *retry_at = calloc((size_t)n, sizeof *retry_at);
  if (!cur || !checks || !ok || !retry_at) {
    say("out of memory");
    _exit(1);
  }
  while (passed < n && now_ms() < until && !past_deadline()) {
    for (int i = 0; i < n; i++) {
      if (ok[i] || cur[i] || checks[i] >= MAX_CHECKS || now_ms() < retry_at[i]) continue;
      dht_infohash key;
      dht_infohash_random(&key);
      checks[i]++;
      cur[i] = get_key(nt->r[from + i], &key, NULL);
    }
    pthread_mutex_lock(&g_lock);
    wait_locked(until);
    for (int i = 0; i < n; i++) {
      if (!cur[i] || !cur[i]->done) continue;
      if (cur[i]->ok) {
        ok[i] = true;
        passed++;
      } else {
        retry_at[i] = cur[i]->t1 + RETRY_MS;
      }
      cur[i] = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    bool any_left = false;
    for (int i = 0; i < n; i++) any_left |= !ok[i] && (cur[i] || checks[i] < MAX_CHECKS);
    if (!any_left) break;
  }
  free(cur);
  free(checks);
  free(ok);
  free(retry_at);
  return passed;
}

/* Settling: rounds in which every runner gets a random key at once, until a round where all gets
 * completed ok and the 90th percentile of their times is no more than 1.25 times the previous
 * round's (the routing tables stopped improving), at most SETTLE_ROUNDS rounds. */
static void net_settle(net *nt) {
  double prev = -1;
  op **o = calloc((size_t)nt->n, sizeof *o);
  double *lat = calloc((size_t)nt->n, sizeof *lat);
  if (!o || !lat) {
    say("out of memory");
    _exit(1);
  }
  for (int round = 1; round <= SETTLE_ROUNDS && !past_deadline(); round++) {
    for (int i = 0; i < nt->n; i++) {
      dht_infohash key;
      dht_infohash_random(&key);
      o[i] = get_key(nt->r[i], &key, NULL);
    }
    int good = 0;
    size_t nl = 0;
    for (int i = 0; i < nt->n; i++) {
      if (!op_wait(o[i])) continue;
      lat[nl++] = o[i]->t1 - o[i]->t0;
      good += o[i]->ok;
    }
    double p90 = percentile(lat, nl, 0.9);
    say("settle round %d: %d/%d gets ok, p90 %.1f ms", round, good, nt->n, p90);
    if (good == nt->n && prev >= 0 && p90 <= prev * 1.25) break;
    prev = p90;
  }
  free(o);
  free(lat);
}

/* Starts n runners (the first through boot, if any), waits until all are connected, then settles.
 * *join_s: seconds from the call until all were connected. Returns 0 or -1. */
static int net_up(net *nt, int n, const char *boot_host, const char *boot_port, double *join_s) {
  double t0 = now_ms();
  if (net_start(nt, n, boot_host, boot_port) < 0) {
    say("could only start %d of %d runners", nt->n, n);
    return -1;
  }
  int passed = net_connect(nt, 0, n, g_deadline);
  *join_s = (now_ms() - t0) / 1e3;
  say("%d/%d runners connected in %.2f s", passed, n, *join_s);
  if (passed < n) return -1;
  double t1 = now_ms();
  net_settle(nt);
  say("settled in %.2f s", (now_ms() - t1) / 1e3);
  return 0;
}

/* Whether runner i is among the TARGET_NODES runners whose ids are closest (XOR) to key. */
static bool stores(const net *nt, int i, const dht_infohash *key) {
  int closer = 0;
  for (int j = 0; j < nt->n && closer < TARGET_NODES; j++) {
    if (j == i) continue;
    for (size_t b = 0; b < HASH_LEN; b++) {
      uint8_t dj = nt->id[j].d[b] ^ key->d[b], di = nt->id[i].d[b] ^ key->d[b];
      if (dj != di) {
        closer += dj < di;
        break;
      }
    }
  }
  return closer < TARGET_NODES;
}

/* ---- argument parsing ---- */

static bool arg_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* Splits "HOST:PORT" into host (static buffer) and port. */
static bool arg_hostport(const char *s, const char **host, const char **port) {
  static char buf[256];
  const char *colon = strrchr(s, ':');
  long p;
  if (!colon || colon == s || (size_t)(colon - s) >= sizeof buf || !arg_int(colon + 1, 1, 65535, &p))
    return false;
  memcpy(buf, s, (size_t)(colon - s));
  buf[colon - s] = '\0';
  *host = buf;
  *port = colon + 1;
  return true;
}

/* ---- modes ---- */

/* Gets key from r, expecting value; when the done fires, appends its time to lat[*nl] and counts
 * in *found whether the value arrived (nothing, when it did not fire in time). */
static void timed_get(dht_runner *r, const dht_infohash *key, const uint8_t *value, double *lat,
                      size_t *nl, int *found) {
  op *g = get_key(r, key, value);
  if (!op_wait(g)) return;
  pthread_mutex_lock(&g_lock);
  lat[(*nl)++] = g->t1 - g->t0;
  *found += g->found;
  pthread_mutex_unlock(&g_lock);
}

static int mode_get(int argc, char **argv) {
  long n, samples;
  if (argc != 4 || !arg_int(argv[2], 2, MAX_RUNNERS, &n) || !arg_int(argv[3], 1, 100000, &samples))
    return -1;
  set_deadline(60 + (double)n * 0.5 + (double)samples * 2);
  static net nt;
  double join_s = 0;
  int rc = 1;
  double *lat = calloc((size_t)samples, sizeof *lat);
  if (!lat) return 1;
  size_t nl = 0;
  int found = 0, put_failed = 0, done = 0;
  if (net_up(&nt, (int)n, NULL, NULL, &join_s) < 0) goto out;
  int *cand = calloc((size_t)n, sizeof *cand);
  if (!cand) goto out;
  for (; done < samples && !past_deadline(); done++) {
    dht_infohash key;
    uint8_t value[VALUE_LEN];
    dht_infohash_random(&key);
    op *p = put_value(nt.r[1], &key, (uint32_t)done, false, value);
    if (!op_wait(p) || !p->ok) put_failed++;
    int nc = 0;
    for (int i = 0; i < n; i++)
      if (i != 1 && !stores(&nt, i, &key)) cand[nc++] = i;
    if (nc == 0)
      for (int i = 0; i < n; i++)
        if (i != 1) cand[nc++] = i;
    timed_get(nt.r[cand[rng_next() % (uint64_t)nc]], &key, value, lat, &nl, &found);
  }
  free(cand);
  rc = done == samples ? 0 : 1;
  if (rc) say("deadline passed after %d of %ld samples", done, samples);
  say("%d puts failed, %zu gets completed, %d found their value", put_failed, nl, found);
out:
  put_figure("raw_get_p50_ms", percentile(lat, nl, 0.50));
  put_figure("raw_get_p90_ms", percentile(lat, nl, 0.90));
  put_figure("raw_get_p99_ms", percentile(lat, nl, 0.99));
  put_figure("raw_get_success", (double)found / (double)samples);
  put_figure("raw_join_s", join_s);
  net_stop(&nt);
  ops_free_all();
  free(lat);
  return rc;
}

/* Put mode's visibility check: which values runner 2 has seen, under g_lock. */
static uint8_t *g_seen;
static long g_count, g_keys, g_seen_n;
static double g_all_seen;

static bool on_seen_value(const dht_value *v, void *ud) {
  long key = ((op *)ud)->key;
  dht_data_view d = dht_value_get_data(v);
  if (d.size != VALUE_LEN) return true;
  uint32_t idx = value_index(d.data);
  pthread_mutex_lock(&g_lock);
  if (idx < g_count && (long)idx % g_keys == key && !g_seen[idx]) {
    g_seen[idx] = 1;
    if (++g_seen_n == g_count) g_all_seen = now_ms();
  }
  pthread_mutex_unlock(&g_lock);
  return true;
}

/* Puts count values over keys from r with at most window in flight; returns the time (ms) until the
 * last done, or -1 at the deadline. Value i goes under key i % nkeys and starts with i; copies
 * (NULL: none) receives the values. */
static double windowed_puts(dht_runner *r, const dht_infohash *keys, long count, long nkeys, long window,
                            uint8_t (*copies)[VALUE_LEN]) {
  double t0 = now_ms();
  for (long i = 0; i < count; i++) {
    pthread_mutex_lock(&g_lock);
    while (g_inflight >= window && wait_locked(g_deadline)) {
    }
    bool full = g_inflight >= window;
    pthread_mutex_unlock(&g_lock);
    if (full) return -1;
    put_value(r, &keys[i % nkeys], (uint32_t)i, true, copies ? copies[i] : NULL);
  }
  pthread_mutex_lock(&g_lock);
  while (g_put_done < count && wait_locked(g_deadline)) {
  }
  bool all = g_put_done >= count;
  double last = g_last_put_done;
  pthread_mutex_unlock(&g_lock);
  return all ? last - t0 : -1;
}

static int mode_put(int argc, char **argv) {
  long n, count, nkeys, window;
  if (argc != 6 || !arg_int(argv[2], 3, MAX_RUNNERS, &n) || !arg_int(argv[3], 1, 10000000, &count) ||
      !arg_int(argv[4], 1, 1000000, &nkeys) || !arg_int(argv[5], 1, 100000, &window))
    return -1;
  if (nkeys > count) nkeys = count;
  set_deadline(60 + (double)n * 0.5 + (double)count * 0.05 + 120);
  static net nt;
  double join_s;
  int rc = 1;
  dht_infohash *keys = calloc((size_t)nkeys, sizeof *keys);
  g_seen = calloc((size_t)count, 1);
  op **gets = calloc((size_t)nkeys, sizeof *gets);
  if (!keys || !g_seen || !gets) return 1;
  g_count = count;
  g_keys = nkeys;
  for (long k = 0; k < nkeys; k++) dht_infohash_random(&keys[k]);
  double put_ms = -1, visible_ms = -1;
  if (net_up(&nt, (int)n, NULL, NULL, &join_s) < 0) goto out;

  double t0 = now_ms();
  put_ms = windowed_puts(nt.r[1], keys, count, nkeys, window, NULL);
  pthread_mutex_lock(&g_lock);
  say("%d of %ld puts done (%d failed) in %.2f s", g_put_done, count, g_put_failed,
      (now_ms() - t0) / 1e3);
  pthread_mutex_unlock(&g_lock);
  if (put_ms < 0) goto out;

  /* runner 2 gets every key not yet complete, at most window gets at once, round after round */
  long *per_key_seen = calloc((size_t)nkeys, sizeof *per_key_seen);
  if (!per_key_seen) goto out;
  int round = 0;
  for (; round < 20 && !past_deadline(); round++) {
    pthread_mutex_lock(&g_lock);
    bool complete = g_seen_n == count;
    memset(per_key_seen, 0, (size_t)nkeys * sizeof *per_key_seen);
    for (long i = 0; i < count; i++) per_key_seen[i % nkeys] += g_seen[i];
    pthread_mutex_unlock(&g_lock);
    if (complete) break;
    long issued = 0;
    for (long k = 0; k < nkeys; k++) {
      gets[k] = NULL;
      long want = count / nkeys + (k < count % nkeys);
      if (per_key_seen[k] == want) continue;
      if (issued >= window) { /* wait for one of the earlier gets of this round */
        pthread_mutex_lock(&g_lock);
        for (;;) {
          long busy = 0;
          for (long j = 0; j < k; j++) busy += gets[j] && !gets[j]->done;
          if (busy < window || !wait_locked(g_deadline)) break;
        }
        pthread_mutex_unlock(&g_lock);
      }
      gets[k] = op_new();
      gets[k]->key = k;
      gets[k]->t0 = now_ms();
      dht_runner_get(nt.r[2], &keys[k], on_seen_value, on_done, gets[k]);
      issued++;
    }
    for (long k = 0; k < nkeys; k++)
      if (gets[k]) op_wait(gets[k]);
  }
  free(per_key_seen);
  pthread_mutex_lock(&g_lock);
  say("runner 2 saw %ld of %ld values after %d rounds of gets", g_seen_n, count, round);
  if (g_seen_n == count) visible_ms = g_all_seen - t0;
  pthread_mutex_unlock(&g_lock);
  rc = visible_ms >= 0 ? 0 : 1;
out:
  put_figure("raw_put_per_s", put_ms > 0 ? (double)count / (put_ms / 1e3) : 0);
  pthread_mutex_lock(&g_lock);
  int failed = g_put_failed;
  pthread_mutex_unlock(&g_lock);
  put_figure("raw_put_failed", failed);
  put_figure("raw_put_visible_per_s", visible_ms > 0 ? (double)count / (visible_ms / 1e3) : 0);
  net_stop(&nt);
  ops_free_all();
  free(keys);
  free(gets);
  free(g_seen);
  return rc;
}

static int mode_burst(int argc, char **argv) {
  long n, count, limit_s;
  if (argc != 5 || !arg_int(argv[2], 3, MAX_RUNNERS, &n) || !arg_int(argv[3], 1, 10000000, &count) ||
      !arg_int(argv[4], 1, 3600, &limit_s))
    return -1;
  set_deadline(60 + (double)n * 0.5 + (double)limit_s);
  static net nt;
  double join_s;
  long nkeys = count / 10 > 0 ? count / 10 : 1;
  dht_infohash *keys = calloc((size_t)nkeys, sizeof *keys);
  if (!keys) return 1;
  for (long k = 0; k < nkeys; k++) dht_infohash_random(&keys[k]);
  int done = 0;
  double burst_s = (double)limit_s;
  int rc = 1;
  if (net_up(&nt, (int)n, NULL, NULL, &join_s) < 0) goto out;
  double t0 = now_ms(), until = t0 + (double)limit_s * 1e3;
  for (long i = 0; i < count; i++) put_value(nt.r[1], &keys[i % nkeys], (uint32_t)i, true, NULL);
  say("%ld puts issued in %.2f s", count, (now_ms() - t0) / 1e3);
  pthread_mutex_lock(&g_lock);
  while (g_put_done < count && wait_locked(until)) {
  }
  done = g_put_done;
  if (done == count) burst_s = (g_last_put_done - t0) / 1e3;
  say("%d of %ld puts done (%d failed) after %.2f s", done, count, g_put_failed, (now_ms() - t0) / 1e3);
  pthread_mutex_unlock(&g_lock);
  rc = 0;
out:
  put_figure("raw_burst_done", done);
  put_figure("raw_burst_s", burst_s);
  put_figure("raw_burst_peak_rss_kb", (double)status_kb("VmHWM"));
  /* runners with puts still pending may take long to stop: the figures are out, so give them 20 s */
  g_alarm_code = 0;
  alarm(20);
  net_stop(&nt);
  _exit(rc);
}

static int mode_idle(int argc, char **argv) {
  (void)argv;
  if (argc != 2) return -1;
  set_deadline(30);
  static net nt;
  if (net_add(&nt, NULL, NULL) < 0) return 1;
  struct timespec two = {2, 0};
  while (nanosleep(&two, &two) < 0 && errno == EINTR) {
  }
  put_figure("raw_idle_rss_kb", (double)status_kb("VmRSS"));
  net_stop(&nt);
  ops_free_all();
  return 0;
}

/* Writes DIR/raw_ports (through a temporary file, so readers never see half of it). */
static int write_ports(const net *nt, const char *dir) {
  char path[4096], tmp[4112];
  snprintf(path, sizeof path, "%s/raw_ports", dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  for (int i = 0; i < nt->n; i++) fprintf(f, "%s:%u\n", nt->host[i], nt->port[i]);
  if (fclose(f) != 0 || rename(tmp, path) != 0) return -1;
  return 0;
}

static int mode_swarm(int argc, char **argv) {
  long n;
  const char *host = NULL, *port = NULL;
  if ((argc != 4 && argc != 5) || !arg_int(argv[2], 1, MAX_RUNNERS, &n) ||
      (argc == 5 && !arg_hostport(argv[4], &host, &port)))
    return -1;
  /* blocked before OpenDHT starts its threads, so that they inherit the mask: only sigtimedwait
   * below takes these signals */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  set_deadline(60 + (double)n);
  static net nt;
  double t0 = now_ms();
  int rc = 1;
  if (net_start(&nt, (int)n, host, port) < 0) {
    say("could only start %d of %ld runners", nt.n, n);
    goto out;
  }
  /* a runner alone, with nobody to join, is up as soon as it runs */
  int passed = n == 1 && !host ? 1 : net_connect(&nt, 0, (int)n, g_deadline);
  say("%d/%ld runners connected in %.2f s", passed, n, (now_ms() - t0) / 1e3);
  if (passed < n) goto out;
  if (write_ports(&nt, argv[3]) < 0) {
    say("cannot write %s/raw_ports: %s", argv[3], strerror(errno));
    goto out;
  }
  printf("ready\n");
  fflush(stdout);
  set_deadline(SWARM_LIMIT_S);
  struct timespec second = {1, 0};
  int sig = -1;
  while (sig < 0 && !past_deadline()) sig = sigtimedwait(&stop, NULL, &second);
  say("%s, stopping", sig > 0 ? strsignal(sig) : "30 minutes passed");
  rc = 0;
out:
  alarm(120);
  net_stop(&nt);
  ops_free_all();
  return rc;
}

static int mode_probe(int argc, char **argv) {
  long samples, per_key = 1;
  const char *host, *port;
  if ((argc != 4 && argc != 5) || !arg_hostport(argv[2], &host, &port) ||
      !arg_int(argv[3], 1, 100000, &samples) || (argc == 5 && !arg_int(argv[4], 1, 1024, &per_key)))
    return -1;
  set_deadline(120 + (double)samples * 2);
  static net nt;
  dht_infohash *keys = calloc((size_t)samples, sizeof *keys);
  uint8_t(*values)[VALUE_LEN] = calloc((size_t)(samples * per_key), VALUE_LEN);
  double *lat = calloc((size_t)samples, sizeof *lat);
  if (!keys || !values || !lat) return 1;
  for (long k = 0; k < samples; k++) dht_infohash_random(&keys[k]);
  size_t nl = 0;
  int found = 0, rc = 1;
  double join_s = 0;
  double t0 = now_ms();
  if (net_add(&nt, host, port) < 0 || net_connect(&nt, 0, 1, now_ms() + JOIN_LIMIT_MS) < 1) {
    say("the first runner did not connect through %s", argv[2]);
    goto out;
  }
  say("first runner connected in %.2f s", (now_ms() - t0) / 1e3);
  double put_ms = windowed_puts(nt.r[0], keys, samples * per_key, samples, PROBE_WINDOW, values);
  pthread_mutex_lock(&g_lock);
  say("%d of %ld puts done (%d failed) in %.2f s", g_put_done, samples * per_key, g_put_failed,
      put_ms / 1e3);
  pthread_mutex_unlock(&g_lock);
  if (put_ms < 0) goto out;
  t0 = now_ms();
  if (net_add(&nt, host, port) < 0 || net_connect(&nt, 1, 2, now_ms() + JOIN_LIMIT_MS) < 1) {
    say("the second runner did not connect through %s", argv[2]);
    goto out;
  }
  join_s = (now_ms() - t0) / 1e3;
  long s = 0;
  for (; s < samples && !past_deadline(); s++) timed_get(nt.r[1], &keys[s], values[s], lat, &nl, &found);
  say("%zu of %ld gets completed, %d found their value", nl, samples, found);
  rc = s == samples ? 0 : 1;
out:
  put_figure("raw_get_p50_ms", percentile(lat, nl, 0.50));
  put_figure("raw_get_p99_ms", percentile(lat, nl, 0.99));
  put_figure("raw_get_success", (double)found / (double)samples);
  put_figure("raw_join_s", join_s);
  net_stop(&nt);
  ops_free_all();
  free(keys);
  free(values);
  free(lat);
  return rc;
}

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *usage;
} modes[] = {
    {"get", mode_get, "get N SAMPLES"},
    {"put", mode_put, "put N COUNT KEYS WINDOW"},
    {"burst", mode_burst, "burst N COUNT LIMIT_S"},
    {"idle", mode_idle, "idle"},
    {"swarm", mode_swarm, "swarm N DIR [BOOT_HOST:PORT]"},
    {"probe", mode_probe, "probe BOOT_HOST:PORT SAMPLES [PER_KEY]"},
};

static int usage(void) {
  fprintf(stderr, "usage:\n");
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) fprintf(stderr, "  bench_raw %s\n", modes[i].usage);
  return 2;
}

int main(int argc, char **argv) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cond, &attr);
  pthread_condattr_destroy(&attr);
  rng_seed();
  const char *base = getenv("DR_BIND_BASE");
  struct in_addr a;
  if (base && *base) {
    if (inet_pton(AF_INET, base, &a) != 1) {
      fprintf(stderr, "bench_raw: DR_BIND_BASE '%s' is not an IPv4 address\n", base);
      return 2;
    }
    g_bind_next = ntohl(a.s_addr);
  }
  if (argc < 2) return usage();
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    if (strcmp(argv[1], modes[i].name) != 0) continue;
    int rc = modes[i].run(argc, argv);
    if (rc < 0) return usage();
    return rc;
  }
  return usage();
}
