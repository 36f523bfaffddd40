/* swarm.c - dhtreg-swarm: many dhtreg nodes in one process on one loop, for scale tests and benchmarks
 *
 *   dhtreg-swarm --nodes K --dir DIR [--bootstrap HOST:PORT] [--rpc N] [--bind-base ADDR]
 *                [--log-level L]
 *
 * Starts K ephemeral nodes (the same code as dhtregd, no data dir): each
 * joins through --bootstrap, as a fleet's machines join through the same
 * bootstrap addresses, and all but the first through the first too (without
 * --bootstrap the first starts a network). Joining through the first alone
 * made each process a network of its own in all but name: its nodes' tables
 * held few nodes of other processes, and lookups from them converged on
 * their own process's nodes (a value put from one process was not found
 * from another). The first N of them (default 1) also serve JSON-RPC on DIR/nI.sock.
 * With --bind-base, node i binds the i-th IPv4 address from ADDR on (.0 and
 * .255 skipped): in a network namespace where those are local, each node is
 * a host of its own to OpenDHT's per-address limits.
 * When all are up it writes DIR/ports ("index udp_port socket|- address" per
 * line),
 * lets the routing tables settle (rounds in which every node resolves a
 * random resource id, until a round where every resolve got an answer and
 * the 90th percentile of their times is at most 1.25 times the previous
 * round's; ten rounds at most), prints "ready" and runs until SIGINT or
 * SIGTERM. SIGUSR1 settles again (once other processes joined the same
 * network, say) and prints "ready" again. OpenDHT 2.4.12 waits on
 * select(), so every descriptor of a runner must stay under 1024: a node
 * takes four (two UDP sockets, two wake-ups), so keep K at 200 or less.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "api/rpc.h"
#include "node/node.h"

#define MAX_NODES 250

typedef struct swarm swarm;

/* One node's resolve of a settling round. */
typedef struct settle_ctx {
  swarm *s;
  size_t i;
} settle_ctx;

struct swarm {
  uv_loop_t loop;
  dr_node *nodes[MAX_NODES];
  dr_rpc_server *rpc[MAX_NODES];
  size_t n, n_rpc;
  size_t open; /* nodes and servers not yet stopped */
  uv_signal_t sigint, sigterm, sigusr1;
  /* settling */
  int round, answered, failed;
  bool settling;
  double prev_p90, started[MAX_NODES], took[MAX_NODES];
  settle_ctx settle[MAX_NODES];
  bool stopping;
};

#define SETTLE_ROUNDS 10

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void settle_round(swarm *s);

static void on_settle_resolved(void *ctx, int err, const dr_resolution *res) {
  settle_ctx *c = ctx;
  swarm *s = c->s;
  (void)res;
  s->took[c->i] = now_ms() - s->started[c->i];
  s->failed += err != 0;
  if (++s->answered < (int)s->n) return;
  double sorted[MAX_NODES];
  memcpy(sorted, s->took, s->n * sizeof *sorted);
  qsort(sorted, s->n, sizeof *sorted, cmp_double);
  double p90 = sorted[(s->n * 9 + 9) / 10 - 1];
  fprintf(stderr, "dhtreg-swarm: settle round %d: %zu/%zu resolves answered, p90 %.1f ms\n", s->round,
          s->n - (size_t)s->failed, s->n, p90);
  bool settled = s->failed == 0 && s->prev_p90 >= 0 && p90 <= s->prev_p90 * 1.25;
  s->prev_p90 = p90;
  if (settled || s->round >= SETTLE_ROUNDS || s->stopping) {
    s->settling = false;
    if (!s->stopping) {
      printf("ready\n");
      fflush(stdout);
    }
    return;
  }
  settle_round(s);
}

static void settle_start(swarm *s) {
  if (s->settling || s->stopping) return;
  s->settling = true;
  s->round = 0;
  s->prev_p90 = -1;
  settle_round(s);
}

static void on_sigusr1(uv_signal_t *h, int signum) {
  (void)signum;
  settle_start(h->data);
}

static void settle_round(swarm *s) {
  s->round++;
  s->answered = s->failed = 0;
  for (size_t i = 0; i < s->n; i++) {
    uint8_t rid[32];
    randombytes_buf(rid, sizeof rid);
    s->settle[i] = (settle_ctx){s, i};
    s->started[i] = now_ms();
    if (dr_node_resolve(s->nodes[i], rid, 1, NULL, on_settle_resolved, &s->settle[i], NULL) < 0) {
      s->took[i] = 0;
      s->failed++;
      s->answered++;
    }
  }
  if (s->answered == (int)s->n) { /* none could start: the nodes are stopping */
    s->settling = false;
    printf("ready\n");
    fflush(stdout);
  }
}

static const char usage[] =
    "usage: dhtreg-swarm --nodes K --dir DIR [--bootstrap HOST:PORT] [--rpc N] [--bind-base ADDR]\n"
    "                    [--log-level LEVEL]\n"
    "  --nodes K              nodes in this process (1-250; at most 200: OpenDHT uses select())\n"
    "  --dir DIR              where the sockets and the ports file go (must exist)\n"
    "  --bootstrap HOST:PORT  every node joins an existing network through it (default: the first node starts one)\n"
    "  --rpc N                the first N nodes serve JSON-RPC on DIR/nI.sock (default 1)\n"
    "  --bind-base ADDR       node i binds the i-th IPv4 address from ADDR (.0 and .255 skipped)\n"
    "  --log-level LEVEL      error, warn (default), info, debug\n";

static void on_closed(void *ctx) {
  swarm *s = ctx;
  if (--s->open == 0) {
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigusr1, NULL);
  }
}

static void on_rpc_stopped(void *ctx) {
  on_closed(ctx);
}

static void on_signal(uv_signal_t *h, int signum) {
  swarm *s = h->data;
  (void)signum;
  s->stopping = true;
  uv_signal_stop(&s->sigint);
  uv_signal_stop(&s->sigterm);
  uv_signal_stop(&s->sigusr1);
  for (size_t i = 0; i < s->n_rpc; i++) dr_rpc_server_stop(s->rpc[i], on_rpc_stopped, s);
  for (size_t i = 0; i < s->n; i++) dr_node_stop(s->nodes[i], on_closed, s);
}

static int fail(const char *msg, const char *arg) {
  fprintf(stderr, "dhtreg-swarm: ");
  fprintf(stderr, msg, arg);
  fprintf(stderr, "\n\n%s", usage);
  return 2;
}

int main(int argc, char **argv) {
  static swarm s;
  size_t want = 0, want_rpc = 1;
  const char *dir = NULL, *bootstrap = NULL;
  dr_log_level level = DR_LOG_WARN;
  uint32_t bind_next = 0; /* host order; 0: every address */
  static char addrs[MAX_NODES][16];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (!v) return fail("%s needs a value", a);
    i++;
    char *end;
    if (strcmp(a, "--nodes") == 0) {
      want = strtoul(v, &end, 10);
      if (*end || want < 1 || want > MAX_NODES) return fail("--nodes: '%s' is not 1-250", v);
    } else if (strcmp(a, "--rpc") == 0) {
      want_rpc = strtoul(v, &end, 10);
      if (*end || want_rpc > MAX_NODES) return fail("--rpc: '%s' is not 0-250", v);
    } else if (strcmp(a, "--dir") == 0) {
      dir = v;
    } else if (strcmp(a, "--bootstrap") == 0) {
      bootstrap = v;
    } else if (strcmp(a, "--bind-base") == 0) {
      struct in_addr in;
      if (inet_pton(AF_INET, v, &in) != 1) return fail("--bind-base: '%s' is not an IPv4 address", v);
      bind_next = ntohl(in.s_addr);
    } else if (strcmp(a, "--log-level") == 0) {
      if (dr_log_parse_level(v, &level) < 0) return fail("--log-level: '%s' is not a level", v);
    } else {
      return fail("unknown option '%s'", a);
    }
  }
  if (!want || !dir) return fail("%s", "--nodes and --dir are required");
  if (want_rpc > want) want_rpc = want;
  if (dr_crypto_init() < 0) return 1;
  signal(SIGPIPE, SIG_IGN);
  /* every node's runner, sockets and wake-ups: raise the soft limit */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  uv_loop_init(&s.loop);

  char first[32] = "", err[512], name[16], path[4096];
  int status = 1;
  for (size_t i = 0; i < want; i++) {
    char *boot[2];
    dr_node_config cfg = {.ephemeral = true, .log_level = level, .log_name = name, .peer_rate = -1};
    snprintf(addrs[i], sizeof addrs[i], "127.0.0.1");
    if (bind_next) {
      while ((bind_next & 255) == 0 || (bind_next & 255) == 255) bind_next++;
      struct in_addr in = {htonl(bind_next++)};
      inet_ntop(AF_INET, &in, addrs[i], sizeof addrs[i]);
      cfg.bind4 = addrs[i];
      cfg.peer_rate = 0; /* the node's default per-address limit: each node is a host of its own */
    }
    snprintf(name, sizeof name, "n%zu", i);
    /* as a fleet's machines do, every node joins through the network's
     * bootstrap address; those of this process also through its first node */
    size_t nb = 0;
    if (bootstrap) boot[nb++] = (char *)bootstrap;
    if (i > 0) boot[nb++] = first;
    if (nb) {
      cfg.bootstrap = boot;
      cfg.n_bootstrap = nb;
    }
    if (dr_node_start(&s.nodes[i], &s.loop, &cfg, err, sizeof err) < 0) {
      fprintf(stderr, "dhtreg-swarm: node %zu: %s\n", i, err);
      goto out;
    }
    s.n++;
    dr_node_info info;
    dr_node_get_info(s.nodes[i], &info);
    if (i == 0) snprintf(first, sizeof first, "%s:%u", addrs[0], info.port);
    if (i < want_rpc) {
      snprintf(path, sizeof path, "%s/n%zu.sock", dir, i);
      dr_rpc_config rc = {.unix_path = path};
      if (dr_rpc_server_start(&s.rpc[i], &s.loop, s.nodes[i], &rc, err, sizeof err) < 0) {
        fprintf(stderr, "dhtreg-swarm: node %zu: %s\n", i, err);
        goto out;
      }
      s.n_rpc++;
    }
  }
  snprintf(path, sizeof path, "%s/ports", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "dhtreg-swarm: cannot write %s: %s\n", path, strerror(errno));
    goto out;
  }
  for (size_t i = 0; i < s.n; i++) {
    dr_node_info info;
    dr_node_get_info(s.nodes[i], &info);
    if (i < s.n_rpc) fprintf(f, "%zu %u %s/n%zu.sock %s\n", i, info.port, dir, i, addrs[i]);
    else fprintf(f, "%zu %u - %s\n", i, info.port, addrs[i]);
  }
  fclose(f);
  status = 0;
out:
  s.open = s.n + s.n_rpc;
  uv_signal_init(&s.loop, &s.sigint);
  uv_signal_init(&s.loop, &s.sigterm);
  uv_signal_init(&s.loop, &s.sigusr1);
  s.sigint.data = s.sigterm.data = s.sigusr1.data = &s;
  if (status == 0) {
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_signal_start(&s.sigusr1, on_sigusr1, SIGUSR1);
    settle_start(&s);
  } else if (s.open) {
    on_signal(&s.sigint, SIGTERM);
  } else {
    uv_close((uv_handle_t *)&s.sigint, NULL);
    uv_close((uv_handle_t *)&s.sigterm, NULL);
    uv_close((uv_handle_t *)&s.sigusr1, NULL);
  }
  uv_run(&s.loop, UV_RUN_DEFAULT);
  uv_loop_close(&s.loop);
  return status;
}
