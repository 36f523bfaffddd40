/* options.c - dhtregd's flags: the usage text, the command line, and an environment variable for every flag */
#include "api/daemon/options.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: dhtregd [options]\n"
    "\n"
    "Runs a dhtreg node: joins the DHT, serves JSON-RPC on a Unix socket.\n"
    "\n"
    "  --port N                UDP port of the DHT (default 4222; 0: any free port)\n"
    "  --bind ADDR             address of the DHT socket, IPv4 or IPv6 (repeatable: one\n"
    "                          of each family); default: every address of both\n"
    "  --max-store MB          what this node stores for the DHT at most (default 256)\n"
    "  --bootstrap HOST:PORT   node to join through (repeatable; in DHTREG_BOOTSTRAP\n"
    "                          space- or comma-separated); none: start a new network\n"
    "  --data-dir DIR          identity key and state (env DHTREG_HOME; default\n"
    "                          ~/.dhtreg), created when missing\n"
    "  --rpc-socket PATH       JSON-RPC Unix socket (env DHTREG_SOCKET; default\n"
    "                          DIR/rpc.sock)\n"
    "  --rpc-group GROUP       let that group use the socket (mode 0660; the\n"
    "                          socket's directory must let the group in too)\n"
    "  --rpc-listen ADDR:PORT  also serve JSON-RPC over TCP, loopback addresses only\n"
    "  --http-listen ADDR:PORT serve GET /metrics (Prometheus), /health and /ready\n"
    "                          over HTTP (default off; loopback addresses only,\n"
    "                          unless --http-any-address)\n"
    "  --http-any-address      let --http-listen take a non-loopback address\n"
    "  --dns-listen ADDR:PORT  answer DNS queries (UDP and TCP) for the zone dhtreg.:\n"
    "                          SRV, A, AAAA, TXT of LABEL.OWNER.dhtreg. (default off;\n"
    "                          loopback addresses only, unless --dns-any-address)\n"
    "  --dns-any-address       let --dns-listen take a non-loopback address\n"
    "  --network ID            OpenDHT network id (default 0)\n"
    "  --psk PASSPHRASE        private registry: only nodes with the same passphrase\n"
    "                          find, read or write its entries (env DHTREG_PSK)\n"
    "  --ephemeral             a fresh identity for this run, nothing written\n"
    "  --log-level LEVEL       error, warn, info (default) or debug\n"
    "  --log-format FORMAT     text (default) or json (one object per line)\n"
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
    "  --version               print the version\n"
    "\n"
    "Every flag may be given instead as an environment variable: DHTREG_ and the\n"
    "flag's name in capitals, '-' as '_' (--max-store 64: DHTREG_MAX_STORE=64;\n"
    "--ephemeral: DHTREG_EPHEMERAL=1), except --data-dir (DHTREG_HOME) and\n"
    "--rpc-socket (DHTREG_SOCKET). A flag on the command line wins over its variable.\n";

enum {
  OPT_PORT = 256, OPT_BOOTSTRAP, OPT_DATA_DIR, OPT_SOCKET, OPT_LISTEN, OPT_NETWORK, OPT_PSK,
  OPT_EPHEMERAL, OPT_LOG_LEVEL, OPT_SKEW, OPT_TIMEOUT, OPT_MAX_CONNS, OPT_MAX_INFLIGHT,
  OPT_VERSION, OPT_MIN_TTL, OPT_TICK, OPT_REPLICATE, OPT_MAX_WATCHES, OPT_PEER_RATE,
  OPT_VALUE_LIFETIME, OPT_MAX_QUEUE, OPT_MAX_LOOKUP_KEYS, OPT_IDLE, OPT_REQUEST, OPT_BIND,
  OPT_MAX_STORE, OPT_RPC_GROUP, OPT_HTTP_LISTEN, OPT_HTTP_ANY, OPT_LOG_FORMAT, OPT_DNS_LISTEN,
  OPT_DNS_ANY, OPT__END
};

static const struct option long_opts[] = {
    {"port", required_argument, NULL, OPT_PORT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"max-store", required_argument, NULL, OPT_MAX_STORE},
    {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"rpc-socket", required_argument, NULL, OPT_SOCKET},
    {"rpc-group", required_argument, NULL, OPT_RPC_GROUP},
    {"rpc-listen", required_argument, NULL, OPT_LISTEN},
    {"http-listen", required_argument, NULL, OPT_HTTP_LISTEN},
    {"http-any-address", no_argument, NULL, OPT_HTTP_ANY},
    {"dns-listen", required_argument, NULL, OPT_DNS_LISTEN},
    {"dns-any-address", no_argument, NULL, OPT_DNS_ANY},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"psk", required_argument, NULL, OPT_PSK},
    {"ephemeral", no_argument, NULL, OPT_EPHEMERAL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
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

/* An error in the flag or variable named `name` (NULL: the line as a
 * whole); returns the usage status. */
static int fail_usage(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_usage(const char *name, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "dhtregd: ");
  if (name) fprintf(stderr, "%s: ", name);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(dhtregd --help lists the flags)\n");
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

/* A number in [lo, hi], or a usage error naming the flag. */
static bool in_range(const char *val, unsigned long lo, unsigned long hi, unsigned long *v) {
  return parse_uint(val, hi, v) == 0 && *v >= lo;
}
#define UINT_IN(lo, hi, what)                                                    \
  do {                                                                           \
    if (!in_range(val, (lo), (hi), &v))                                          \
      return fail_usage(name, "'%s' is not %s", val, (what));                    \
  } while (0)

static int add_bootstrap(dr_options *o, char *addr, const char *name) {
  char host[256], port[8];
  if (o->n_bootstrap >= DR_MAX_BOOTSTRAP)
    return fail_usage(name, "more than %d addresses", DR_MAX_BOOTSTRAP);
  if (dr_split_hostport(addr, host, sizeof host, port, sizeof port) < 0)
    return fail_usage(name, "'%s' is not HOST:PORT", addr);
  o->bootstrap[o->n_bootstrap++] = addr;
  return -1;
}

static int set_bind(dr_options *o, const char *val, const char *name) {
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, val, &a4) == 1) {
    if (o->node.bind4) return fail_usage(name, "'%s': one IPv4 address at most", val);
    o->node.bind4 = val;
  } else if (inet_pton(AF_INET6, val, &a6) == 1) {
    if (o->node.bind6) return fail_usage(name, "'%s': one IPv6 address at most", val);
    o->node.bind6 = val;
  } else {
    return fail_usage(name, "'%s' is not an IPv4 or IPv6 address", val);
  }
  return -1;
}

static int set_group(dr_options *o, const char *val, const char *name) {
  unsigned long v;
  struct group *g = getgrnam(val);
  if (g) o->rpc.group = g->gr_gid;
  else if (parse_uint(val, UINT32_MAX - 1, &v) == 0) o->rpc.group = (gid_t)v;
  else return fail_usage(name, "no group '%s' on this system", val);
  o->rpc.set_group = true;
  return -1;
}

/* The ADDR:PORT of --http-listen or --dns-listen (whether it must be a
 * loopback address is known once every flag is read). */
static int set_listen(const char **dst, const char *val, const char *name, int example_port) {
  char host[64], port[8];
  if (dr_split_hostport(val, host, sizeof host, port, sizeof port) < 0)
    return fail_usage(name, "'%s' is not ADDR:PORT (127.0.0.1:%d or [::1]:%d)", val, example_port, example_port);
  *dst = val;
  return -1;
}

/* Applies one flag (or variable) of that code and value. Returns -1 to go
 * on, or an exit status. */
static int apply(dr_options *o, int code, char *val, const char *name) {
  unsigned long v;
  switch (code) {
  case OPT_PORT: UINT_IN(0, 65535, "a port (0-65535)"); o->node.port = (uint16_t)v; break;
  case OPT_BIND: return set_bind(o, val, name);
  case OPT_MAX_STORE: UINT_IN(1, 2047, "1-2047 MB"); o->node.max_store_bytes = (long)v << 20; break;
  case OPT_BOOTSTRAP: return add_bootstrap(o, val, name);
  case OPT_DATA_DIR: o->data_dir_arg = val; break;
  case OPT_SOCKET: o->socket_arg = val; break;
  case OPT_RPC_GROUP: return set_group(o, val, name);
  case OPT_LISTEN:
    if (dr_rpc_check_loopback(val) < 0)
      return fail_usage(name, "'%s' is not a loopback ADDR:PORT (127.0.0.1:PORT or [::1]:PORT)", val);
    o->rpc.tcp_listen = val;
    break;
  case OPT_HTTP_LISTEN: return set_listen(&o->http.listen, val, name, 9422);
  case OPT_HTTP_ANY: o->http.any_address = true; break;
  case OPT_DNS_LISTEN: return set_listen(&o->dns.listen, val, name, 8600);
  case OPT_DNS_ANY: o->dns.any_address = true; break;
  case OPT_NETWORK: UINT_IN(0, UINT32_MAX, "a number (0-4294967295)"); o->node.network = (uint32_t)v; break;
  case OPT_PSK:
    if (!*val) return fail_usage(name, "the passphrase is empty");
    free(o->psk);
    if (!(o->psk = strdup(val))) return 1;
    o->node.psk = o->psk;
    break;
  case OPT_EPHEMERAL: o->node.ephemeral = true; break;
  case OPT_LOG_LEVEL:
    if (dr_log_parse_level(val, &o->node.log_level) < 0)
      return fail_usage(name, "'%s' is not one of error, warn, info, debug", val);
    break;
  case OPT_LOG_FORMAT:
    if (strcmp(val, "text") == 0) o->log_json = false;
    else if (strcmp(val, "json") == 0) o->log_json = true;
    else return fail_usage(name, "'%s' is not text or json", val);
    break;
  case OPT_SKEW: UINT_IN(1, 86400, "a number of seconds (1-86400)"); o->node.clock_skew = v; break;
  case OPT_TIMEOUT: UINT_IN(1, 600000, "1-600000"); o->node.op_timeout_ms = (unsigned)v; break;
  case OPT_MAX_CONNS: UINT_IN(1, 65536, "1-65536"); o->rpc.max_conns = (unsigned)v; break;
  case OPT_MAX_INFLIGHT: UINT_IN(1, 4096, "1-4096"); o->node.max_inflight = (unsigned)v; break;
  case OPT_MAX_QUEUE: UINT_IN(1, 1000000, "1-1000000"); o->node.max_queued = (unsigned)v; break;
  case OPT_MAX_LOOKUP_KEYS: UINT_IN(1, 10000000, "1-10000000"); o->node.max_lookup_keys = v; break;
  case OPT_IDLE: UINT_IN(1, 86400, "1-86400 seconds"); o->rpc.idle_timeout_ms = (unsigned)v * 1000; break;
  case OPT_REQUEST: UINT_IN(1, 3600, "1-3600 seconds"); o->rpc.request_timeout_ms = (unsigned)v * 1000; break;
  case OPT_MIN_TTL: UINT_IN(1, 86400, "1-86400 seconds"); o->node.min_ttl = (uint32_t)v; break;
  case OPT_TICK: UINT_IN(10, 60000, "10-60000"); o->node.tick_ms = (unsigned)v; break;
  case OPT_REPLICATE: UINT_IN(100, 86400000, "100-86400000"); o->node.replicate_ms = (unsigned)v; break;
  case OPT_MAX_WATCHES: UINT_IN(1, 1000000, "1-1000000"); o->node.max_watches = v; break;
  case OPT_PEER_RATE: UINT_IN(0, 1000000, "0-1000000"); o->node.peer_rate = v ? (long)v : -1; break;
  case OPT_VALUE_LIFETIME: UINT_IN(30, 3600, "30-3600 seconds"); o->node.value_lifetime = (unsigned)v; break;
  }
  return -1;
}

/* The variable of a flag: DHTREG_ + its name in capitals, '-' as '_'. */
static void env_name(const struct option *opt, char *out, size_t len) {
  if (opt->val == OPT_DATA_DIR) snprintf(out, len, "DHTREG_HOME");
  else if (opt->val == OPT_SOCKET) snprintf(out, len, "DHTREG_SOCKET");
  else {
    size_t i = (size_t)snprintf(out, len, "DHTREG_");
    for (const char *p = opt->name; *p && i + 1 < len; p++)
      out[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[i] = '\0';
  }
}

/* The variables of the flags the command line did not give. */
static int apply_env(dr_options *o, const bool given[OPT__END]) {
  char name[64];
  int r;
  for (const struct option *opt = long_opts; opt->name; opt++) {
    if (opt->val < OPT_PORT || opt->val == OPT_VERSION || given[opt->val]) continue;
    env_name(opt, name, sizeof name);
    const char *val = getenv(name);
    if (!val || !*val) continue;
    if (opt->has_arg == no_argument) {
      if (!strcmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no")) continue;
      if (strcmp(val, "1") && strcasecmp(val, "true") && strcasecmp(val, "yes"))
        return fail_usage(name, "'%s' is not 1/true/yes or 0/false/no", val);
      if ((r = apply(o, opt->val, NULL, name)) >= 0) return r;
      continue;
    }
    if (o->n_env_copies == sizeof o->env_copies / sizeof o->env_copies[0]) return 1;
    char *copy = strdup(val);
    if (!copy) return 1;
    o->env_copies[o->n_env_copies++] = copy;
    if (opt->val == OPT_BOOTSTRAP || opt->val == OPT_BIND) { /* lists */
      char *save = NULL;
      for (char *tok = strtok_r(copy, " ,\t\n", &save); tok; tok = strtok_r(NULL, " ,\t\n", &save))
        if ((r = apply(o, opt->val, tok, name)) >= 0) return r;
    } else if ((r = apply(o, opt->val, copy, name)) >= 0) {
      return r;
    }
  }
  return -1;
}

int dr_options_parse(dr_options *o, int argc, char **argv) {
  bool given[OPT__END] = {0};
  char flag[64];
  int c, r, idx;
  o->node.port = 4222;
  o->node.log_level = DR_LOG_INFO;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", long_opts, &idx)) != -1) {
    if (c == 'h') {
      fputs(usage_text, stdout);
      return 0;
    }
    if (c == OPT_VERSION) {
      printf("dhtregd %s\n", DHTREG_VERSION);
      return 0;
    }
    if (c == ':') return fail_usage(NULL, "%s needs a value", argv[optind - 1]);
    if (c < OPT_PORT || c >= OPT__END) return fail_usage(NULL, "unknown option '%s'", argv[optind - 1]);
    snprintf(flag, sizeof flag, "--%s", long_opts[idx].name);
    given[c] = true;
    if ((r = apply(o, c, optarg, flag)) >= 0) return r;
    /* not left in argv, where ps shows it (DHTREG_PSK avoids even that moment) */
    if (c == OPT_PSK) memset(optarg, 'x', strlen(optarg));
  }
  if (optind < argc) return fail_usage(NULL, "unexpected argument '%s'", argv[optind]);
  if ((r = apply_env(o, given)) >= 0) return r;
  if (o->http.listen && !o->http.any_address && dr_rpc_check_loopback(o->http.listen) < 0)
    return fail_usage("--http-listen", "'%s' is not a loopback address: add --http-any-address "
                      "to serve metrics to other hosts", o->http.listen);
  if (o->dns.listen && !o->dns.any_address && dr_rpc_check_loopback(o->dns.listen) < 0)
    return fail_usage("--dns-listen", "'%s' is not a loopback address: add --dns-any-address "
                      "to answer other hosts", o->dns.listen);
  o->node.bootstrap = o->bootstrap;
  o->node.n_bootstrap = o->n_bootstrap;

  if (!o->data_dir_arg || !*o->data_dir_arg) {
    const char *home = getenv("HOME");
    struct passwd *pw = (!home || !*home) ? getpwuid(getuid()) : NULL;
    if (pw) home = pw->pw_dir;
    if (!home) return fail_usage("--data-dir", "no home directory: give --data-dir");
    snprintf(o->data_dir, sizeof o->data_dir, "%s/.dhtreg", home);
  } else if (snprintf(o->data_dir, sizeof o->data_dir, "%s", o->data_dir_arg) >= (int)sizeof o->data_dir) {
    return fail_usage("--data-dir", "path too long");
  }
  o->node.data_dir = o->data_dir;
  if (o->socket_arg && *o->socket_arg) snprintf(o->socket_path, sizeof o->socket_path, "%s", o->socket_arg);
  else snprintf(o->socket_path, sizeof o->socket_path, "%s/rpc.sock", o->data_dir);
  o->rpc.unix_path = o->socket_path;
  return -1;
}

void dr_options_free(dr_options *o) {
  for (size_t i = 0; i < o->n_env_copies; i++) {
    memset(o->env_copies[i], 0, strlen(o->env_copies[i])); /* DHTREG_PSK's among them */
    free(o->env_copies[i]);
  }
  if (o->psk) {
    memset(o->psk, 0, strlen(o->psk));
    free(o->psk);
  }
}
