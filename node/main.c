/* main.c - dhtregd: flags and environment, start a node and its JSON-RPC server, stop on signals */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/rpc.h"
#include "crypto/crypto.h"
#include "node/node.h"

#define MAX_BOOTSTRAP 64
#define STR_(x) #x
#define STR(x) STR_(x)

static const char usage_text[] =
    "usage: dhtregd [options]\n"
    "\n"
    "Runs a dhtreg node: joins the DHT, serves JSON-RPC on a Unix socket.\n"
    "\n"
    "  --port N                UDP port of the DHT (default 4222; 0: any free port)\n"
    "  --bind ADDR             address of the DHT socket, IPv4 or IPv6 (repeatable: one\n"
    "                          of each family); default: every address of both\n"
    "  --max-store MB          what this node stores for the DHT at most (default 256)\n"
    "  --bootstrap HOST:PORT   node to join through (repeatable; env DHTREG_BOOTSTRAP,\n"
    "                          space- or comma-separated); none: start a new network\n"
    "  --data-dir DIR          identity key and state (env DHTREG_HOME; default ~/.dhtreg)\n"
    "  --rpc-socket PATH       JSON-RPC Unix socket (env DHTREG_SOCKET; default DIR/rpc.sock)\n"
    "  --rpc-listen ADDR:PORT  also serve JSON-RPC over TCP, loopback addresses only\n"
    "  --network ID            OpenDHT network id (default 0)\n"
    "  --psk PASSPHRASE        private registry: only nodes with the same passphrase\n"
    "                          find, read or write its entries (env DHTREG_PSK)\n"
    "  --ephemeral             a fresh identity for this run, nothing written\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "  --clock-skew S          tolerated clock skew in seconds (default 60)\n"
    "  --op-timeout-ms MS      time limit of one DHT operation (default 10000)\n"
    "  --max-connections N     JSON-RPC connections at once, for the Unix socket and\n"
    "                          for TCP each (default 256)\n"
    "  --rpc-idle-timeout S    close a connection with nothing going on, or one that\n"
    "                          takes none of its answers, after S s (default 300)\n"
    "  --rpc-request-timeout S a request begun must arrive whole within S s (default 30)\n"
    "  --max-inflight N        DHT operations in flight (default 64)\n"
    "  --max-queue N           DHT lookups waiting for a slot (default 1024); more\n"
    "                          are refused at once with -32012\n"
    "  --max-lookup-keys N     distinct keys resolved per hour (default 8192): OpenDHT\n"
    "                          keeps ~5 KB for an hour for each; more are refused\n"
    "  --min-ttl S             shortest record TTL clients may ask for (default 30;\n"
    "                          lower only in tests)\n"
    "  --tick-ms MS            period of the maintenance task (default 1000)\n"
    "  --replicate-ms MS       mean period of the replication task, +-20% jitter\n"
    "                          (default 60000)\n"
    "  --max-watches N         watch subscriptions on this node (default 4096)\n"
    "  --value-lifetime S      how long DHT nodes keep an entry after its last\n"
    "                          announce (default 600, OpenDHT's; 30-3600): stale\n"
    "                          copies go this long after their issuer stopped\n"
    "  --peer-rate N           DHT requests served per second to one IP address\n"
    "                          (default 4096; 0: no limit); raise it when many nodes\n"
    "                          share an address (NAT, tests on loopback)\n"
    "  -h, --help              this help\n"
    "  --version               print the version\n";

typedef struct options {
  dr_node_config node;
  dr_rpc_config rpc;
  char *bootstrap[MAX_BOOTSTRAP];
  size_t n_bootstrap;
  char data_dir[PATH_MAX];
  char socket_path[PATH_MAX + 16];
  char *env_bootstrap; /* owned copy the bootstrap entries point into */
  char *psk;           /* owned copy of the passphrase, wiped from argv */
} options;

typedef struct daemon_state {
  uv_loop_t *loop;
  dr_node *node;
  dr_rpc_server *rpc;
  uv_signal_t sigint, sigterm;
  uv_timer_t stop_timer; /* bounds the withdrawal at shutdown */
  bool node_stopping;
  int stops; /* signals received */
} daemon_state;

static int fail_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "dhtregd: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", usage_text);
  return 2;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  if (!s || !*s || *s == '-' || *s == '+') return -EINVAL;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v > max) return -EINVAL;
  *out = v;
  return 0;
}

static int add_bootstrap(options *o, char *addr) {
  char host[256], port[8];
  if (o->n_bootstrap >= MAX_BOOTSTRAP) return -E2BIG;
  if (dr_split_hostport(addr, host, sizeof host, port, sizeof port) < 0) return -EINVAL;
  o->bootstrap[o->n_bootstrap++] = addr;
  return 0;
}

enum {
  OPT_PORT = 256, OPT_BOOTSTRAP, OPT_DATA_DIR, OPT_SOCKET, OPT_LISTEN, OPT_NETWORK, OPT_PSK,
  OPT_EPHEMERAL, OPT_LOG_LEVEL, OPT_SKEW, OPT_TIMEOUT, OPT_MAX_CONNS, OPT_MAX_INFLIGHT,
  OPT_VERSION, OPT_MIN_TTL, OPT_TICK, OPT_REPLICATE, OPT_MAX_WATCHES,
  OPT_PEER_RATE,
  OPT_VALUE_LIFETIME, OPT_MAX_QUEUE, OPT_MAX_LOOKUP_KEYS, OPT_IDLE, OPT_REQUEST, OPT_BIND,
  OPT_MAX_STORE,
};

static const struct option long_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"max-store", required_argument, NULL, OPT_MAX_STORE},
    {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"rpc-socket", required_argument, NULL, OPT_SOCKET},
    {"rpc-listen", required_argument, NULL, OPT_LISTEN},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"psk", required_argument, NULL, OPT_PSK},
    {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"clock-skew", required_argument, NULL, OPT_SKEW},
    {"op-timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
    {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
    {"max-lookup-keys", required_argument, NULL, OPT_MAX_LOOKUP_KEYS},
    {"rpc-idle-timeout", required_argument, NULL, OPT_IDLE},
    {"rpc-request-timeout", required_argument, NULL, OPT_REQUEST},
    {"min-ttl", required_argument, NULL, OPT_MIN_TTL},
    {"tick-ms", required_argument, NULL, OPT_TICK},
    {"replicate-ms", required_argument, NULL, OPT_REPLICATE},
    {"max-watches", required_argument, NULL, OPT_MAX_WATCHES},
    {"peer-rate", required_argument, NULL, OPT_PEER_RATE},
    {"value-lifetime", required_argument, NULL, OPT_VALUE_LIFETIME},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to go on, or an exit status. */
static int parse_args(options *o, int argc, char **argv) {
  unsigned long v;
  const char *data_dir = getenv("DHTREG_HOME"), *sock = getenv("DHTREG_SOCKET");
  const char *psk = getenv("DHTREG_PSK");
  bool cli_bootstrap = false;
  int c, r;
  o->node.port = 4222;
  o->node.log_level = DR_LOG_INFO;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
    switch (c) {
    case OPT_PORT:
      if (parse_uint(optarg, 65535, &v) < 0) return fail_usage("--port: '%s' is not a port (0-65535)", optarg);
      o->node.port = (uint16_t)v;
      break;
    case OPT_BIND: {
      struct in_addr a4;
      struct in6_addr a6;
      if (inet_pton(AF_INET, optarg, &a4) == 1) {
        if (o->node.bind4) return fail_usage("--bind: '%s': one IPv4 address at most", optarg);
        o->node.bind4 = optarg;
      } else if (inet_pton(AF_INET6, optarg, &a6) == 1) {
        if (o->node.bind6) return fail_usage("--bind: '%s': one IPv6 address at most", optarg);
        o->node.bind6 = optarg;
      } else {
        return fail_usage("--bind: '%s' is not an IPv4 or IPv6 address", optarg);
      }
      break;
    }
    case OPT_MAX_STORE:
      if (parse_uint(optarg, 2047, &v) < 0 || v < 1) return fail_usage("--max-store: '%s' is not 1-2047 MB", optarg);
      o->node.max_store_bytes = (long)v << 20;
      break;
    case OPT_BOOTSTRAP:
      cli_bootstrap = true;
      if ((r = add_bootstrap(o, optarg)) < 0)
        return r == -E2BIG ? fail_usage("--bootstrap: more than %s addresses", STR(MAX_BOOTSTRAP))
                           : fail_usage("--bootstrap: '%s' is not HOST:PORT", optarg);
      break;
    case OPT_DATA_DIR: data_dir = optarg; break;
    case OPT_SOCKET: sock = optarg; break;
    case OPT_LISTEN:
      if (dr_rpc_check_loopback(optarg) < 0)
        return fail_usage("--rpc-listen: '%s' is not a loopback ADDR:PORT (127.0.0.1:PORT or [::1]:PORT)", optarg);
      o->rpc.tcp_listen = optarg;
      break;
    case OPT_NETWORK:
      if (parse_uint(optarg, UINT32_MAX, &v) < 0) return fail_usage("--network: '%s' is not a number (0-4294967295)", optarg);
      o->node.network = (uint32_t)v;
      break;
    case OPT_PSK:
      if (!*optarg) return fail_usage("%s: the passphrase is empty", "--psk");
      free(o->psk);
      if (!(o->psk = strdup(optarg))) return 1;
      /* not left in argv, where ps shows it (DHTREG_PSK avoids even that moment) */
      memset(optarg, 'x', strlen(optarg));
      psk = o->psk;
      break;
    case OPT_EPHEMERAL: o->node.ephemeral = true; break;
    case OPT_LOG_LEVEL:
      if (dr_log_parse_level(optarg, &o->node.log_level) < 0)
        return fail_usage("--log-level: '%s' is not one of error, warn, info, debug", optarg);
      break;
    case OPT_SKEW:
      if (parse_uint(optarg, 86400, &v) < 0 || v == 0)
        return fail_usage("--clock-skew: '%s' is not a number of seconds (1-86400)", optarg);
      o->node.clock_skew = v;
      break;
    case OPT_TIMEOUT:
      if (parse_uint(optarg, 600000, &v) < 0 || v == 0) return fail_usage("--op-timeout-ms: '%s' is not 1-600000", optarg);
      o->node.op_timeout_ms = (unsigned)v;
      break;
    case OPT_MAX_CONNS:
      if (parse_uint(optarg, 65536, &v) < 0 || v == 0) return fail_usage("--max-connections: '%s' is not 1-65536", optarg);
      o->rpc.max_conns = (unsigned)v;
      break;
    case OPT_MAX_INFLIGHT:
      if (parse_uint(optarg, 4096, &v) < 0 || v == 0) return fail_usage("--max-inflight: '%s' is not 1-4096", optarg);
      o->node.max_inflight = (unsigned)v;
      break;
    case OPT_MAX_QUEUE:
      if (parse_uint(optarg, 1000000, &v) < 0 || v == 0) return fail_usage("--max-queue: '%s' is not 1-1000000", optarg);
      o->node.max_queued = (unsigned)v;
      break;
    case OPT_MAX_LOOKUP_KEYS:
      if (parse_uint(optarg, 10000000, &v) < 0 || v == 0) return fail_usage("--max-lookup-keys: '%s' is not 1-10000000", optarg);
      o->node.max_lookup_keys = (size_t)v;
      break;
    case OPT_IDLE:
      if (parse_uint(optarg, 86400, &v) < 0 || v == 0) return fail_usage("--rpc-idle-timeout: '%s' is not 1-86400 seconds", optarg);
      o->rpc.idle_timeout_ms = (unsigned)v * 1000;
      break;
    case OPT_REQUEST:
      if (parse_uint(optarg, 3600, &v) < 0 || v == 0) return fail_usage("--rpc-request-timeout: '%s' is not 1-3600 seconds", optarg);
      o->rpc.request_timeout_ms = (unsigned)v * 1000;
      break;
    case OPT_MIN_TTL:
      if (parse_uint(optarg, 86400, &v) < 0 || v == 0) return fail_usage("--min-ttl: '%s' is not 1-86400 seconds", optarg);
      o->node.min_ttl = (uint32_t)v;
      break;
    case OPT_TICK:
      if (parse_uint(optarg, 60000, &v) < 0 || v < 10) return fail_usage("--tick-ms: '%s' is not 10-60000", optarg);
      o->node.tick_ms = (unsigned)v;
      break;
    case OPT_REPLICATE:
      if (parse_uint(optarg, 86400000, &v) < 0 || v < 100) return fail_usage("--replicate-ms: '%s' is not 100-86400000", optarg);
      o->node.replicate_ms = (unsigned)v;
      break;
    case OPT_MAX_WATCHES:
      if (parse_uint(optarg, 1000000, &v) < 0 || v == 0) return fail_usage("--max-watches: '%s' is not 1-1000000", optarg);
      o->node.max_watches = (size_t)v;
      break;
    case OPT_PEER_RATE:
      if (parse_uint(optarg, 1000000, &v) < 0) return fail_usage("--peer-rate: '%s' is not 0-1000000", optarg);
      o->node.peer_rate = v ? (long)v : -1;
      break;
    case OPT_VALUE_LIFETIME:
      if (parse_uint(optarg, 3600, &v) < 0 || v < 30) return fail_usage("--value-lifetime: '%s' is not 30-3600 seconds", optarg);
      o->node.value_lifetime = (unsigned)v;
      break;
    case 'h': fputs(usage_text, stdout); return 0;
    case OPT_VERSION: printf("dhtregd %s\n", DHTREG_VERSION); return 0;
    case ':': return fail_usage("%s needs a value", argv[optind - 1]);
    default: return fail_usage("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc) return fail_usage("unexpected argument '%s'", argv[optind]);
  o->node.psk = psk && *psk ? psk : NULL;

  const char *env_bs = getenv("DHTREG_BOOTSTRAP");
  if (!cli_bootstrap && env_bs && *env_bs) {
    if (!(o->env_bootstrap = strdup(env_bs))) return 1;
    char *save = NULL;
    for (char *tok = strtok_r(o->env_bootstrap, " ,\t\n", &save); tok;
         tok = strtok_r(NULL, " ,\t\n", &save))
      if ((r = add_bootstrap(o, tok)) < 0)
        return r == -E2BIG ? fail_usage("DHTREG_BOOTSTRAP: more than %s addresses", STR(MAX_BOOTSTRAP))
                           : fail_usage("DHTREG_BOOTSTRAP: '%s' is not HOST:PORT", tok);
  }
  o->node.bootstrap = o->bootstrap;
  o->node.n_bootstrap = o->n_bootstrap;

  if (!data_dir || !*data_dir) {
    const char *home = getenv("HOME");
    struct passwd *pw = (!home || !*home) ? getpwuid(getuid()) : NULL;
    if (pw) home = pw->pw_dir;
    if (!home) return fail_usage("%s", "no home directory: give --data-dir");
    snprintf(o->data_dir, sizeof o->data_dir, "%s/.dhtreg", home);
  } else if (snprintf(o->data_dir, sizeof o->data_dir, "%s", data_dir) >= (int)sizeof o->data_dir) {
    return fail_usage("--data-dir: path too long%s", "");
  }
  o->node.data_dir = o->data_dir;
  if (sock && *sock) snprintf(o->socket_path, sizeof o->socket_path, "%s", sock);
  else snprintf(o->socket_path, sizeof o->socket_path, "%s/rpc.sock", o->data_dir);
  o->rpc.unix_path = o->socket_path;
  return -1;
}

/* ---- stopping ------------------------------------------------------------------- */

static void on_node_stopped(void *ctx) {
  daemon_state *d = ctx;
  d->node = NULL;
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sigterm, NULL);
}

#define STOP_WAIT_MS 2000

static void stop_node(daemon_state *d) {
  if (d->node_stopping) return;
  d->node_stopping = true;
  uv_close((uv_handle_t *)&d->stop_timer, NULL);
  if (d->node) dr_node_stop(d->node, on_node_stopped, d);
}

static void on_withdrawn_all(void *ctx) {
  stop_node(ctx);
}

/* The tombstones were not all confirmed in time (the network may be going
 * down with us): they were put, and the records expire at their TTL anyway. */
static void on_stop_timeout(uv_timer_t *t) {
  daemon_state *d = t->data;
  if (d->node) DR_WARN(dr_node_logger(d->node), "stopping before every withdrawal was confirmed");
  stop_node(d);
}

/* Graceful stop: no more clients, every advertisement withdrawn (as goto
 * workers deregister at shutdown; bounded by the op timeout), then the node. */
static void on_rpc_stopped(void *ctx) {
  daemon_state *d = ctx;
  d->rpc = NULL;
  if (!d->node) return;
  uv_timer_start(&d->stop_timer, on_stop_timeout, STOP_WAIT_MS, 0);
  dr_node_withdraw_all(d->node, on_withdrawn_all, d);
}

static void on_signal(uv_signal_t *h, int signum) {
  daemon_state *d = h->data;
  if (++d->stops > 1) {
    fprintf(stderr, "dhtregd: second signal, exiting now\n");
    _exit(1);
  }
  if (d->node) DR_INFO(dr_node_logger(d->node), "%s: stopping", strsignal(signum));
  if (d->rpc) dr_rpc_server_stop(d->rpc, on_rpc_stopped, d);
  else stop_node(d);
}

int main(int argc, char **argv) {
  options o = {0};
  daemon_state d = {0};
  char err[512];
  int status = parse_args(&o, argc, argv);
  if (status >= 0) goto out;
  status = 1;
  if (dr_crypto_init() < 0) {
    fprintf(stderr, "dhtregd: cannot initialise libsodium\n");
    goto out;
  }
  signal(SIGPIPE, SIG_IGN);
  /* before the node touches anything: another node on this socket is
   * refused without re-announcing or writing a thing */
  if (o.node.ephemeral && mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
    fprintf(stderr, "dhtregd: cannot create %s for the socket: %s\n", o.data_dir, strerror(errno));
    goto out;
  }
  if (dr_rpc_check_socket(o.socket_path, o.data_dir, err, sizeof err) < 0) {
    fprintf(stderr, "dhtregd: %s\n", err);
    goto out;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  d.loop = &loop;
  if (dr_node_start(&d.node, &loop, &o.node, err, sizeof err) < 0) {
    fprintf(stderr, "dhtregd: %s\n", err);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets what was opened close */
    goto out_loop;
  }
  if (dr_rpc_server_start(&d.rpc, &loop, d.node, &o.rpc, err, sizeof err) < 0) {
    fprintf(stderr, "dhtregd: %s\n", err);
    d.rpc = NULL;
    dr_node_stop(d.node, NULL, NULL);
    d.node = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    goto out_loop;
  }
  uv_timer_init(&loop, &d.stop_timer);
  d.stop_timer.data = &d;
  uv_signal_init(&loop, &d.sigint);
  uv_signal_init(&loop, &d.sigterm);
  d.sigint.data = d.sigterm.data = &d;
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  DR_INFO(dr_node_logger(d.node), "serving JSON-RPC on %s%s%s", o.socket_path,
          o.rpc.tcp_listen ? " and " : "", o.rpc.tcp_listen ? o.rpc.tcp_listen : "");
  uv_run(&loop, UV_RUN_DEFAULT);
  status = 0;
out_loop:
  if (uv_loop_close(&loop) != 0) fprintf(stderr, "dhtregd: handles left open at exit\n");
out:
  free(o.env_bootstrap);
  if (o.psk) {
    memset(o.psk, 0, strlen(o.psk));
    free(o.psk);
  }
  return status;
}
