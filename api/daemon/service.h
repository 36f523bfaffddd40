/* service.h - private to dhtregd (api/daemon/main.c, api/daemon/service.c): what it tells systemd (sd_notify) */
#ifndef DR_SERVICE_H
#define DR_SERVICE_H

#include <stdbool.h>
#include <uv.h>

#include "node/node.h"

typedef struct dr_service dr_service;

/* Starts telling systemd about node (nothing is sent when NOTIFY_SOCKET is
 * not set): READY=1 once the node has peers, at once when it has no
 * bootstrap address, or after give_up_ms of bootstrapping without an
 * answer (systemd would otherwise fail the start; /ready stays 503 until it
 * joins); a STATUS= line whenever what it says changes; WATCHDOG=1 at half
 * the interval systemd asks for (WatchdogSec=), from the loop, so a loop
 * that stops turning stops it. Returns 0 or -ENOMEM. */
int dr_service_start(dr_service **out, uv_loop_t *loop, dr_node *node, bool alone,
                     unsigned give_up_ms);
/* STOPPING=1 and a STATUS of why: the graceful stop has begun. */
void dr_service_stopping(dr_service *s, const char *why);
/* Stops the timers; s is freed once they are closed. */
void dr_service_close(dr_service *s);

#endif
