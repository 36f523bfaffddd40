/* bootstrap.c - joining through bootstrap addresses: names resolved off the loop, a warning for an address that does not resolve or never answers
 *
 * OpenDHT resolves a bootstrap host on its own thread and says nothing when
 * the name does not resolve or nobody answers there. The node resolves the
 * name itself first (uv_getaddrinfo, on libuv's threadpool), hands OpenDHT
 * the numeric addresses, and tells the operator (the log, and node.bootstrap
 * its caller) when a name does not resolve; if no DHT node has answered
 * BOOT_WARN_MS after a bootstrap, the log says so, naming the addresses.
 */
#include "node/node_private.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BOOT_WARN_MS 5000
#define ADDRS_MAX 4 /* addresses of one name handed to OpenDHT */

typedef struct boot_req {
  uv_getaddrinfo_t req;
  dr_node *n;
  char hostport[300];
  char port[8];
  dr_node_bootstrap_cb cb;
  void *ctx;
} boot_req;

static void remember(dr_node *n, const char *hostport) {
  size_t used = strlen(n->boot_addrs);
  if (!strstr(n->boot_addrs, hostport) && used + strlen(hostport) + 3 < sizeof n->boot_addrs)
    snprintf(n->boot_addrs + used, sizeof n->boot_addrs - used, "%s%s", used ? ", " : "", hostport);
  n->boot_at_ms = uv_now(n->loop);
  n->boot_warned = false;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  boot_req *b = req->data;
  dr_node *n = b->n;
  n->boot_pending--;
  if (n->stopping) {
    uv_freeaddrinfo(res);
    if (b->cb) b->cb(b->ctx, -ESHUTDOWN, "the node is shutting down");
    free(b);
    dr__node_release(n);
    return;
  }
  if (status < 0) {
    char why[200];
    snprintf(why, sizeof why, "cannot resolve %s: %s", b->hostport, uv_strerror(status));
    DR_WARN(&n->log, "bootstrap address %s", why);
    if (b->cb) b->cb(b->ctx, -EHOSTUNREACH, why);
    free(b);
    return;
  }
  int handed = 0;
  for (struct addrinfo *ai = res; ai && handed < ADDRS_MAX; ai = ai->ai_next) {
    char host[64];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
      continue;
    dr_dht_bootstrap(n->dht, host, b->port);
    handed++;
  }
  uv_freeaddrinfo(res);
  remember(n, b->hostport);
  if (b->cb) b->cb(b->ctx, 0, NULL);
  free(b);
}

int dr_node_bootstrap(dr_node *n, const char *hostport, dr_node_bootstrap_cb cb, void *ctx) {
  char host[256];
  boot_req *b = calloc(1, sizeof *b);
  if (!b) return -ENOMEM;
  if (strlen(hostport) >= sizeof b->hostport ||
      dr_split_hostport(hostport, host, sizeof host, b->port, sizeof b->port) < 0) {
    free(b);
    return -EINVAL;
  }
  if (n->stopping) {
    free(b);
    return -ESHUTDOWN;
  }
  snprintf(b->hostport, sizeof b->hostport, "%s", hostport);
  b->n = n;
  b->cb = cb;
  b->ctx = ctx;
  b->req.data = b;
  n->bootstrapped = true;
  DR_INFO(&n->log, "bootstrapping through %s", hostport);
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
  int r = uv_getaddrinfo(n->loop, &b->req, on_resolved, host, b->port, &hints);
  if (r < 0) {
    free(b);
    return r;
  }
  n->boot_pending++;
  return 0;
}

void dr__bootstrap_tick(dr_node *n) {
  if (!n->boot_at_ms || n->boot_warned || !n->dht) return;
  unsigned good, dubious;
  dr_dht_node_counts(n->dht, &good, &dubious);
  if (good) {
    n->boot_at_ms = 0; /* joined */
    return;
  }
  if (uv_now(n->loop) < n->boot_at_ms + BOOT_WARN_MS) return;
  n->boot_warned = true;
  DR_WARN(&n->log, "no DHT node has answered in %d s of bootstrapping through %s: is a node "
          "running there, and is its UDP port reachable? (still trying)", BOOT_WARN_MS / 1000,
          n->boot_addrs);
}
