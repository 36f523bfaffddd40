/* rpc.h - the api module's API: the JSON-RPC 2.0 server of a node
 *
 * Serves the node's Unix socket (mode 0600) and, when asked, a loopback TCP
 * address. Runs on the node's loop thread.
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
} dr_rpc_config;

/* Starts serving node. A stale socket file (nobody listening) is replaced;
 * a live one is an error. Returns 0 or a negative errno with a reason in err. */
int dr_rpc_server_start(dr_rpc_server **out, uv_loop_t *loop, dr_node *node,
                        const dr_rpc_config *cfg, char *err, size_t errlen);

/* Stops listening, closes every connection (answers still pending are
 * dropped), removes the socket file, frees the server, then done(ctx). */
void dr_rpc_server_stop(dr_rpc_server *s, void (*done)(void *ctx), void *ctx);

/* Checks, before the node starts, that path can be its socket: the
 * directory exists (or is data_dir, which the node creates), no other user
 * can replace the socket there, and no node serves it yet. Returns 0 or a
 * negative errno with the reason in err. */
int dr_rpc_check_socket(const char *path, const char *data_dir, char *err, size_t errlen);

/* Checks that "host:port" is a loopback address. Returns 0 or -EINVAL. */
int dr_rpc_check_loopback(const char *hostport);

#endif
