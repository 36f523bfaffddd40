/* service.c - dhtregd under systemd: READY=1 once joined (or given up), STATUS= lines, STOPPING=1, WATCHDOG=1 from the loop */
#include "api/daemon/service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#define CHECK_MS 1000 /* how often the node's state is looked at (node.info walks its entries) */

struct dr_service {
  dr_node *node;
  uv_timer_t check, watchdog;
  uint64_t started_ms, give_up_ms;
  bool alone, ready_sent, stopping;
  int handles;
  char status[256];
};

/* Sends STATUS=text when it differs from the last one sent. */
static void status(dr_service *s, const char *text, const char *also) {
  if (strcmp(text, s->status) == 0) return;
  snprintf(s->status, sizeof s->status, "%s", text);
  sd_notifyf(0, "%sSTATUS=%s", also ? also : "", text);
}

static void on_check(uv_timer_t *t) {
  dr_service *s = t->data;
  if (s->stopping) return;
  dr_node_info in;
  dr_node_health h;
  char text[256];
  dr_node_get_info(s->node, &in);
  dr_node_get_health(s->node, &h);
  if (!in.peers && !s->alone)
    snprintf(text, sizeof text, "not joined: %s", h.n_warnings ? h.warnings[h.n_warnings - 1] : "bootstrapping");
  else if (!h.ready)
    snprintf(text, sizeof text, "not ready: %s", h.n_warnings ? h.warnings[0] : "?");
  else if (in.peers)
    snprintf(text, sizeof text, "ready: %u peer%s, %zu advertisement%s, %zu entries held", in.peers,
             in.peers == 1 ? "" : "s", in.advertised, in.advertised == 1 ? "" : "s",
             in.resources + in.records + in.tombstones);
  else
    snprintf(text, sizeof text, "ready, alone (no bootstrap address): %zu advertisement%s", in.advertised,
             in.advertised == 1 ? "" : "s");
  bool up = in.peers || s->alone || uv_now(t->loop) >= s->started_ms + s->give_up_ms;
  if (up && !s->ready_sent) {
    s->ready_sent = true;
    if (!in.peers && !s->alone)
      DR_WARN(dr_node_logger(s->node), "not joined after %llu s: telling systemd the node is up; "
              "/ready answers 503 until it joins", (unsigned long long)s->give_up_ms / 1000);
    s->status[0] = '\0';
    status(s, text, "READY=1\n");
    return;
  }
  status(s, text, NULL);
}

static void on_watchdog(uv_timer_t *t) {
  sd_notify(0, "WATCHDOG=1");
}

int dr_service_start(dr_service **out, uv_loop_t *loop, dr_node *node, bool alone,
                     unsigned give_up_ms) {
  dr_service *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->node = node;
  s->alone = alone;
  s->give_up_ms = give_up_ms;
  s->started_ms = uv_now(loop);
  uv_timer_init(loop, &s->check);
  uv_timer_init(loop, &s->watchdog);
  s->check.data = s->watchdog.data = s;
  s->handles = 2;
  /* no NOTIFY_SOCKET: not under systemd, nothing to tell */
  const char *ns = getenv("NOTIFY_SOCKET");
  if (ns && *ns) {
    uv_timer_start(&s->check, on_check, 0, CHECK_MS);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000) {
      uint64_t ms = usec / 2000;
      uv_timer_start(&s->watchdog, on_watchdog, 0, ms);
    }
  }
  *out = s;
  return 0;
}

void dr_service_stopping(dr_service *s, const char *why) {
  if (s->stopping) return;
  s->stopping = true;
  s->status[0] = '\0';
  char text[200];
  snprintf(text, sizeof text, "stopping (%s): withdrawing advertisements", why);
  status(s, text, "STOPPING=1\n");
}

static void on_closed(uv_handle_t *h) {
  dr_service *s = h->data;
  if (--s->handles == 0) free(s);
}

void dr_service_close(dr_service *s) {
  uv_close((uv_handle_t *)&s->check, on_closed);
  uv_close((uv_handle_t *)&s->watchdog, on_closed);
}
