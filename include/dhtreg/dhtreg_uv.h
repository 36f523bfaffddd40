/* dhtreg_uv.h - libdhtreg on a libuv loop: the same calls as dhtreg.h, answered through callbacks on the loop's thread
 *
 * A dhtreg_uv is one connection to the node; calls may be made before it
 * is connected (they wait) and many may be in flight at once. Callbacks run
 * on the loop's thread, exactly once per call that returned 0: with err 0
 * and the result, or an error code as in dhtreg.h, its message and a NULL
 * result. What a callback gets (message, result, records) is valid only
 * during the callback; ud is the caller's, passed as is and never freed. A
 * call that returns an error (-EINVAL: a bad argument; -EPIPE: the
 * connection is closed or broken) calls nothing back. Arguments (ids, ad,
 * opts, params_json) are encoded before the call returns: the caller may
 * free them then. Every function here must be called on the loop's thread.
 */
#ifndef DHTREG_UV_H
#define DHTREG_UV_H

#include <uv.h>

#include "dhtreg/dhtreg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dhtreg_uv dhtreg_uv;

/* Opens a connection to the node at socket_path (NULL: the default; the
 * path is copied): 0 with *out a new connection (the caller's:
 * dhtreg_uv_close it), or a code with *out NULL and the reason in
 * dhtreg_errmsg(NULL). That no node listens there is learnt later: the
 * calls in flight then fail with -ENOENT or -ECONNREFUSED. */
int dhtreg_uv_open(dhtreg_uv **out, uv_loop_t *loop, const char *socket_path);
/* Fails what is in flight with -ECANCELED, closes, frees c, then done(ud)
 * (may be NULL) on the loop. c must not be used once this is called. */
void dhtreg_uv_close(dhtreg_uv *c, void (*done)(void *ud), void *ud);
/* How long a call waits for its answer (default 30 000 ms). */
void dhtreg_uv_set_timeout(dhtreg_uv *c, int timeout_ms);

typedef void (*dhtreg_uv_result_cb)(void *ud, int err, const char *errmsg, const char *result_json);
/* Any method, raw (as dhtreg_call). */
int dhtreg_uv_call(dhtreg_uv *c, const char *method, const char *params_json, dhtreg_uv_result_cb cb,
                   void *ud);

typedef void (*dhtreg_uv_records_cb)(void *ud, int err, const char *errmsg, const dhtreg_records *r);
int dhtreg_uv_resolve(dhtreg_uv *c, const char *resource_id, const dhtreg_resolve_opts *opts,
                      dhtreg_uv_records_cb cb, void *ud);
int dhtreg_uv_discover(dhtreg_uv *c, const char *resource_id, const char *type, dhtreg_uv_records_cb cb,
                       void *ud);

typedef void (*dhtreg_uv_published_cb)(void *ud, int err, const char *errmsg, const dhtreg_published *p);
int dhtreg_uv_advertise(dhtreg_uv *c, const dhtreg_ad *ad, dhtreg_uv_published_cb cb, void *ud);
int dhtreg_uv_renew(dhtreg_uv *c, const char *resource_id, const char *service_id,
                    dhtreg_uv_published_cb cb, void *ud);
int dhtreg_uv_withdraw(dhtreg_uv *c, const char *resource_id, const char *service_id,
                       dhtreg_uv_published_cb cb, void *ud);

/* Subscribes c to the resource's events: cb runs for each (err 0), and
 * once more with an error when the watch ends (the node went away). The
 * records live already come first, as register events. */
typedef void (*dhtreg_uv_event_cb)(void *ud, int err, const dhtreg_event *ev);
int dhtreg_uv_watch(dhtreg_uv *c, const char *resource_id, dhtreg_uv_event_cb cb, void *ud);

/* A heartbeat on the loop (as dhtreg_heartbeat_start, without a thread:
 * cb runs on the loop). It cannot wait for its first advertisement: it
 * returns 0 with *out set (the caller's: stop it) once ad is copied (or a
 * code with *out NULL and the reason in dhtreg_errmsg(NULL): -EINVAL for a
 * NULL ad, resource_id or service_id), and cb hears how the first
 * advertisement went. When it fails (a bad ad, a policy that refuses it,
 * no node), cb hears that error once and the heartbeat does nothing more:
 * stop it. After a first success it keeps the lease alive as the blocking
 * one does. */
typedef struct dhtreg_uv_heartbeat dhtreg_uv_heartbeat;
int dhtreg_uv_heartbeat_start(dhtreg_uv_heartbeat **out, uv_loop_t *loop, const char *socket_path,
                              const dhtreg_ad *ad, dhtreg_heartbeat_cb cb, void *ud);
/* Stops it (withdrawing the record when asked, within the timeout), frees
 * hb, then done(ud) (may be NULL) on the loop. */
void dhtreg_uv_heartbeat_stop(dhtreg_uv_heartbeat *hb, bool withdraw, void (*done)(void *ud), void *ud);

#ifdef __cplusplus
}
#endif
#endif
