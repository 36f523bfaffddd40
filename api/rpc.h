/* rpc.h - the api module's API: the JSON-RPC 2.0 server of a node
 *
 * Serves the node's Unix socket (mode 0600, or 0660 for --rpc-group) and,
 * when asked, a loopback TCP address; the HTTP endpoint of metrics and
 * readiness; and the DNS interface. Runs on the node's loop thread.
 */
#ifndef DR_RPC_H
#define DR_RPC_H

#include <stddef.h>
#include <uv.h>

#include "node/node.h"

#define DR_RPC_MAX_REQUEST (1024 * 1024)
#define DR_RPC_DEFAULT_MAX_CONNS 256       /* per listener */
#define DR_RPC_DEFAULT_IDLE_MS 300000      /* a connection with nothing going on is closed */
#define DR_RPC_DEFAULT_REQUEST_MS 30000    /* a request begun must arrive whole within this */
/* Calls in progress on one connection. At the cap the server stops reading
 * the connection (the client's writes then block, nothing fails) and reads
 * again once half of them are answered; a batch of more members than this is
 * refused with -32012. */
#define DR_RPC_MAX_PENDING 1024

typedef struct dr_rpc_server dr_rpc_server;

typedef struct dr_rpc_config {
  const char *unix_path;  /* the socket to create */
  const char *tcp_listen; /* "127.0.0.1:PORT" / "[::1]:PORT", or NULL */
  unsigned max_conns;     /* per listener; 0: DR_RPC_DEFAULT_MAX_CONNS */
  unsigned idle_timeout_ms;    /* 0: DR_RPC_DEFAULT_IDLE_MS */
  unsigned request_timeout_ms; /* 0: DR_RPC_DEFAULT_REQUEST_MS */
  bool set_group;         /* the socket is 0660 and belongs to group (--rpc-group); else 0600 */
  gid_t group;
} dr_rpc_config;

/* Starts serving node. A stale socket file (nobody listening) is replaced;
 * a live one is an error. Returns 0 or a negative errno with a reason in err. */
int dr_rpc_server_start(dr_rpc_server **out, uv_loop_t *loop, dr_node *node,
                        const dr_rpc_config *cfg, char *err, size_t errlen);

/* Stops listening, closes every connection (answers still pending are
 * dropped), removes the socket file, frees the server, then done(ctx). */
void dr_rpc_server_stop(dr_rpc_server *s, void (*done)(void *ctx), void *ctx);

#define DR_RPC_N_METHODS 16 /* the JSON-RPC methods */

/* What a server has done, for /metrics: per listener ([0] the Unix socket,
 * [1] TCP), and per method (in dr_rpc_method_name's order) how long its
 * calls took to answer and how many were answered with an error. */
typedef struct dr_rpc_stats {
  unsigned open[2];
  uint64_t accepted[2], refused[2];
  uint64_t bad_requests; /* not JSON, not a request, or no such method */
  dr_latency latency[DR_RPC_N_METHODS];
  uint64_t errors[DR_RPC_N_METHODS];
} dr_rpc_stats;

void dr_rpc_server_stats(const dr_rpc_server *s, dr_rpc_stats *out);
/* The name of method i (0 to DR_RPC_N_METHODS - 1), or NULL. */
const char *dr_rpc_method_name(int i);

/* ---- http.c: the HTTP endpoint (--http-listen) ---------------------------- */

typedef struct dr_http_config {
  const char *listen; /* "ADDR:PORT", numeric */
  bool any_address;   /* a non-loopback address was allowed (--http-any-address) */
} dr_http_config;

/* Serves GET /metrics (the Prometheus text format), /health (200 while the
 * node answers) and /ready (200 when dr_node_get_health says ready, else
 * 503), each on the loop thread. rpc (may be NULL) gives the JSON-RPC
 * server's metrics. Returns 0 or a negative errno with the reason in err. */
typedef struct dr_http_server dr_http_server;
int dr_http_start(dr_http_server **out, uv_loop_t *loop, dr_node *node, const dr_rpc_server *rpc,
                  const dr_http_config *cfg, char *err, size_t errlen);
/* A new (or no) JSON-RPC server to take metrics from. */
void dr_http_set_rpc(dr_http_server *s, const dr_rpc_server *rpc);
/* The DNS interface (or none) to take metrics from (dns.c, below). */
typedef struct dr_dns_server dr_dns_server;
void dr_http_set_dns(dr_http_server *s, const dr_dns_server *dns);
/* Closes every connection and the listener, frees s, then done(ctx). */
void dr_http_stop(dr_http_server *s, void (*done)(void *ctx), void *ctx);

/* ---- dns.c: the DNS interface (--dns-listen) -------------------------------- */

typedef struct dr_dns_config {
  const char *listen;   /* "ADDR:PORT", numeric: UDP and TCP */
  bool any_address;     /* a non-loopback address was allowed (--dns-any-address) */
  const char *names_env; /* $DHTREG_NAMES, or NULL: the names files of aliases (api/names.h) */
  const char *home;     /* $HOME, or NULL */
} dr_dns_config;

/* What the DNS interface has done, for /metrics. */
#define DR_DNS_RCODES 6 /* NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED */
typedef struct dr_dns_stats {
  uint64_t queries;   /* messages with a DNS header that were not responses */
  uint64_t rcodes[DR_DNS_RCODES]; /* answers sent, by rcode */
  uint64_t dropped;   /* datagrams not answered: shorter than a header, or responses */
  uint64_t truncated; /* answers cut to fit a UDP datagram (TC) */
  uint64_t tcp_accepted;
  unsigned tcp_connections; /* open now */
} dr_dns_stats;

/* Answers DNS queries for the zone dhtreg. (README, "DNS interface") over
 * UDP and TCP on the node's loop: resource names from resolves (or the
 * node's cache), names outside the zone REFUSED. Returns 0, or a negative
 * errno with the reason in err (nothing left open). dr_dns_server is
 * declared with the HTTP endpoint's calls above. */
int dr_dns_start(dr_dns_server **out, uv_loop_t *loop, dr_node *node, const dr_dns_config *cfg,
                 char *err, size_t errlen);
/* Answers SERVFAIL to every query still waiting for a resolve (whose
 * resolve is cancelled: the node may stop right after), closes the sockets
 * and connections, frees s, then done(ctx) (may be NULL). */
void dr_dns_stop(dr_dns_server *s, void (*done)(void *ctx), void *ctx);
void dr_dns_stats_get(const dr_dns_server *s, dr_dns_stats *out);

/* The node's metrics in the Prometheus text format, in a buffer *text of
 * *len bytes that the caller frees; http_requests: the HTTP endpoint's
 * request counts (/metrics, /health, /ready, other), or NULL; dns: the DNS
 * interface, or NULL. Returns 0 or -ENOMEM. */
int dr_metrics_text(dr_node *node, const dr_rpc_server *rpc, const uint64_t http_requests[4],
                    const dr_dns_server *dns, char **text, size_t *len);

/* Checks, before the node starts, that path can be its socket: the
 * directory exists (or is data_dir, which the node creates), no other user
 * can replace the socket there, and no node serves it yet. Returns 0 or a
 * negative errno with the reason in err. */
int dr_rpc_check_socket(const char *path, const char *data_dir, char *err, size_t errlen);

/* Checks that "host:port" is a loopback address. Returns 0 or -EINVAL. */
int dr_rpc_check_loopback(const char *hostport);

#endif
