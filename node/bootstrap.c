/* bootstrap.c - joining through bootstrap addresses: names resolved off the loop, a warning for an address that does not resolve or where no DHT node answers
 *
 * OpenDHT resolves a bootstrap host on its own thread and says nothing when
 * the name does not resolve or nobody answers there. The node resolves the
 * name itself first (uv_getaddrinfo, on libuv's threadpool), hands OpenDHT
 * the numeric addresses, and tells the operator (the log, and node.bootstrap
 * its caller) when a name does not resolve. Each address is pinged as it is
 * handed over (dr_dht_bootstrap): when no DHT node answered there within
 * BOOT_WARN_MS, the log says so, naming it, whether or not the node has
 * peers through other addresses.
 */
#include "node/node_private.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BOOT_WARN_MS 5000
#define ADDRS_MAX 4  /* addresses of one name handed to OpenDHT */
#define BOOTS_MAX 64 /* addresses tracked; beyond, the oldest settled one is reused */

/* One address given to bootstrap through ("host:port" as given), and
 * whether a DHT node answered a ping there. Each ping under way holds it
 * (its callback's context): it is freed only with the node's DHT gone. */
typedef struct boot_addr {
  struct boot_addr *next;
  dr_node *n;
  char hostport[300];
  uint64_t due_ms;  /* uv_now() by which an answer is due */
  unsigned pings;   /* pings under way */
  bool answered;    /* a ping since the last bootstrap through it was answered */
  bool warned;
} boot_addr;

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
}

/* The tracker of hostport, made (or an old settled one reused: no ping
 * under way, answered or warned about) if there is none; NULL when the
 * BOOTS_MAX trackers are all still waiting. */
static boot_addr *tracker(dr_node *n, const char *hostport) {
  boot_addr *t, *settled = NULL;
  for (t = n->boots; t; t = t->next) {
    if (strcmp(t->hostport, hostport) == 0) return t;
    if (!t->pings && (t->answered || t->warned)) settled = t; /* the last: the oldest (new ones go first) */
  }
  if (n->n_boots >= BOOTS_MAX) {
    if (!settled) return NULL;
    t = settled;
  } else {
    if (!(t = calloc(1, sizeof *t))) return NULL;
    t->n = n;
    t->next = n->boots;
    n->boots = t;
    n->n_boots++;
  }
  snprintf(t->hostport, sizeof t->hostport, "%s", hostport);
  return t;
}

static void on_answer(void *ctx, bool ok, const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes) {
  (void)nodes;
  (void)n_nodes;
  boot_addr *t = ctx;
  t->pings--;
  if (!ok || t->answered) return;
  t->answered = true;
  if (t->warned) DR_INFO(&t->n->log, "bootstrap address %s answered after all", t->hostport);
  else DR_DEBUG(&t->n->log, "bootstrap address %s answered", t->hostport);
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
  boot_addr *t = tracker(n, b->hostport);
  if (t) {
    t->due_ms = uv_now(n->loop) + BOOT_WARN_MS;
    t->answered = t->warned = false;
  } else {
    DR_DEBUG(&n->log, "bootstrap address %s: %d addresses wait for an answer already; not tracked", b->hostport,
             BOOTS_MAX);
  }
  int handed = 0;
  for (struct addrinfo *ai = res; ai && handed < ADDRS_MAX; ai = ai->ai_next) {
    char host[64];
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
      continue;
    if (dr_dht_bootstrap(n->dht, host, b->port, t ? on_answer : NULL, t) == 0 && t) t->pings++;
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
  if (!n->dht) return;
  uint64_t now = uv_now(n->loop);
  for (boot_addr *t = n->boots; t; t = t->next) {
    if (t->answered || t->warned || now < t->due_ms) continue;
    t->warned = true;
    DR_WARN(&n->log, "no DHT node has answered at %s in %d s of bootstrapping through it: is a node running "
            "there, on the same --network, and is its UDP port reachable?%s", t->hostport, BOOT_WARN_MS / 1000,
            dr_node_peers(n) ? " (the node has peers through other addresses)" : " (still trying)");
  }
}

void dr__bootstrap_free(dr_node *n) {
  while (n->boots) {
    boot_addr *t = n->boots;
    n->boots = t->next;
    free(t);
  }
  n->n_boots = 0;
}
