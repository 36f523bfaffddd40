/* main.c - dhtregd: start a node, its JSON-RPC server, HTTP endpoint and DNS interface, tell systemd, stop within 2 s on a signal */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/rpc.h"
#include "crypto/crypto.h"
#include "node/node.h"
#include "api/daemon/options.h"
#include "api/daemon/service.h"

/* A signal to exit: what the README promises, whatever OpenDHT does. */
#define STOP_BOUND_MS 2000
/* The withdrawals' first announces get this long of it; OpenDHT's shutdown
 * then gets at most 600 ms (dht.c). */
#define WITHDRAW_WAIT_MS 1000
/* Bootstrapping this long with no answer: systemd is told the node is up */
#define READY_GIVE_UP_MS 10000

typedef struct daemon_state {
  uv_loop_t *loop;
  dr_node *node;
  dr_rpc_server *rpc;
  dr_http_server *http;
  dr_dns_server *dns;
  dr_service *service;
  uv_signal_t sigint, sigterm;
  uv_timer_t stop_timer; /* bounds the withdrawal at shutdown */
  bool node_stopping;
  int stops; /* signals received */
} daemon_state;

/* ---- stopping ------------------------------------------------------------------- */

static void on_node_stopped(void *ctx) {
  daemon_state *d = ctx;
  d->node = NULL;
  uv_close((uv_handle_t *)&d->sigint, NULL);
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  dr_service_close(d->service);
}

static void stop_node(daemon_state *d) {
  if (d->node_stopping) return;
  d->node_stopping = true;
  uv_close((uv_handle_t *)&d->stop_timer, NULL);
  if (d->http) dr_http_stop(d->http, NULL, NULL);
  d->http = NULL;
  /* before the node: its queries waiting for resolves are answered SERVFAIL */
  if (d->dns) dr_dns_stop(d->dns, NULL, NULL);
  d->dns = NULL;
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
 * workers deregister at shutdown; bounded), then the node. */
static void on_rpc_stopped(void *ctx) {
  daemon_state *d = ctx;
  d->rpc = NULL;
  if (d->http) dr_http_set_rpc(d->http, NULL);
  if (!d->node) return;
  uv_timer_start(&d->stop_timer, on_stop_timeout, WITHDRAW_WAIT_MS, 0);
  dr_node_withdraw_all(d->node, on_withdrawn_all, d);
}

/* The last resort of the bound: OpenDHT's threads are joined on the loop
 * thread, and a thread of its that does not end would hold the process.
 * Everything acknowledged is on disk already (the API answers only then). */
static void *stop_backstop(void *arg) {
  struct timespec ts = {STOP_BOUND_MS / 1000, (STOP_BOUND_MS % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
  static const char msg[] = "dhtregd: the stop took longer than 2 s: exiting now\n";
  if (write(2, msg, sizeof msg - 1) < 0) {}
  _exit(0);
  return NULL;
}

static void on_signal(uv_signal_t *h, int signum) {
  daemon_state *d = h->data;
  if (++d->stops > 1) {
    fprintf(stderr, "dhtregd: second signal, exiting now\n");
    _exit(1);
  }
  pthread_t t;
  if (pthread_create(&t, NULL, stop_backstop, NULL) == 0) pthread_detach(t);
  if (d->node) DR_INFO(dr_node_logger(d->node), "%s: stopping", strsignal(signum));
  dr_service_stopping(d->service, strsignal(signum));
  if (d->rpc) dr_rpc_server_stop(d->rpc, on_rpc_stopped, d);
  else stop_node(d);
}

/* ---- starting ------------------------------------------------------------------- */

/* Everything after the node: returns 0, or 1 with the node stopping. */
static int serve(daemon_state *d, dr_options *o) {
  char err[512];
  if (dr_rpc_server_start(&d->rpc, d->loop, d->node, &o->rpc, err, sizeof err) < 0) {
    fprintf(stderr, "dhtregd: %s\n", err);
    d->rpc = NULL;
    goto fail;
  }
  if (o->http.listen && dr_http_start(&d->http, d->loop, d->node, d->rpc, &o->http, err, sizeof err) < 0) {
    fprintf(stderr, "dhtregd: %s\n", err);
    d->http = NULL;
    dr_rpc_server_stop(d->rpc, NULL, NULL);
    d->rpc = NULL;
    goto fail;
  }
  if (o->dns.listen) {
    o->dns.names_env = getenv("DHTREG_NAMES");
    o->dns.home = getenv("HOME");
    if (dr_dns_start(&d->dns, d->loop, d->node, &o->dns, err, sizeof err) < 0) {
      fprintf(stderr, "dhtregd: %s\n", err);
      d->dns = NULL;
      if (d->http) dr_http_stop(d->http, NULL, NULL);
      dr_rpc_server_stop(d->rpc, NULL, NULL);
      d->rpc = NULL;
      goto fail;
    }
    if (d->http) dr_http_set_dns(d->http, d->dns);
  }
  if (dr_service_start(&d->service, d->loop, d->node, o->n_bootstrap == 0, READY_GIVE_UP_MS) < 0) {
    fprintf(stderr, "dhtregd: out of memory\n");
    if (d->dns) dr_dns_stop(d->dns, NULL, NULL);
    if (d->http) dr_http_stop(d->http, NULL, NULL);
    dr_rpc_server_stop(d->rpc, NULL, NULL);
    goto fail;
  }
  uv_timer_init(d->loop, &d->stop_timer);
  d->stop_timer.data = d;
  uv_signal_init(d->loop, &d->sigint);
  uv_signal_init(d->loop, &d->sigterm);
  d->sigint.data = d->sigterm.data = d;
  uv_signal_start(&d->sigint, on_signal, SIGINT);
  uv_signal_start(&d->sigterm, on_signal, SIGTERM);
  DR_INFO(dr_node_logger(d->node), "serving JSON-RPC on %s%s%s%s%s", o->socket_path,
          o->rpc.tcp_listen ? " and " : "", o->rpc.tcp_listen ? o->rpc.tcp_listen : "",
          o->http.listen ? ", HTTP on " : "", o->http.listen ? o->http.listen : "");
  return 0;
fail:
  dr_node_stop(d->node, NULL, NULL);
  d->node = NULL;
  return 1;
}

int main(int argc, char **argv) {
  dr_options o = {0};
  daemon_state d = {0};
  char err[512];
  int status = dr_options_parse(&o, argc, argv);
  if (status >= 0) goto out;
  status = 1;
  dr_log_setup(o.log_json);
  if (dr_crypto_init() < 0) {
    fprintf(stderr, "dhtregd: cannot initialise libsodium\n");
    goto out;
  }
  signal(SIGPIPE, SIG_IGN);
  /* before the node touches anything, another node on this socket is
   * refused without re-announcing or writing a thing (its data dir not even
   * made); then the data dir exists whatever the flags (an ephemeral node's
   * socket is there) */
  if (dr_rpc_check_socket(o.socket_path, o.data_dir, err, sizeof err) < 0 ||
      dr_make_data_dir(o.data_dir, err, sizeof err) < 0) {
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
  if (serve(&d, &o) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    goto out_loop;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  status = 0;
out_loop:
  if (uv_loop_close(&loop) != 0) fprintf(stderr, "dhtregd: handles left open at exit\n");
out:
  dr_options_free(&o);
  return status;
}
