/* client_private.h - private to libdhtreg (api/client*.c): the JSON of its types, errors, names */
#ifndef DR_CLIENT_PRIVATE_H
#define DR_CLIENT_PRIVATE_H

#include <jansson.h>

#include "dhtreg/dhtreg.h"

#define DR_CLIENT_TIMEOUT_MS 30000
#define DR_CLIENT_LINE_MAX (64u << 20) /* an answer longer than this is not a node's */

/* record.advertise's params of ad, or NULL (-EINVAL: no resource or service id). */
json_t *dr__ad_json(const dhtreg_ad *ad);

/* Fills out from a resolve or discover result (taking a reference to it):
 * 0, or -EPROTO when it is not one. */
int dr__records_from_json(json_t *result, bool one, dhtreg_records *out);
/* Fills ev from an event notification's params (taking a reference). */
int dr__event_from_json(json_t *params, dhtreg_event *ev);
/* A published result: seq, expires_at, published. */
void dr__published_from_json(json_t *result, dhtreg_published *out);

/* The code and message of a response's error (0 when it has none); the
 * message goes to msg. -EPROTO for a response without result or error. */
int dr__response_error(json_t *resp, char *msg, size_t msglen);

/* The JSON-RPC request line of id, method and params (stolen; NULL: {}),
 * with its newline; the caller frees it. NULL: out of memory. */
char *dr__request_line(long long id, const char *method, json_t *params, size_t *len);

/* resource.create's params: only what o gives (the node keeps the rest). */
json_t *dr__create_params(const char *label, const dhtreg_resource_opts *o);

/* resolve's params. */
json_t *dr__resolve_params(const char *rid, const dhtreg_resolve_opts *o);

/* params_json parsed as an object (NULL text: {}), or NULL. */
json_t *dr__params(const char *params_json);

/* The calling thread's last error of a call that has no connection to keep
 * its message (dhtreg_connect, dhtreg_watch_open, the heartbeats' starts):
 * what dhtreg_errmsg(NULL) says. _set formats it and returns err; _clear
 * empties it (such a call succeeded). */
int dr__last_error_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dr__last_error_clear(void);
const char *dr__last_error(void);
/* *path itself, or (NULL) the default socket written into def: 0, or
 * -ENAMETOOLONG with the last error set. */
int dr__socket_or_default(const char **path, char *def, size_t cap);

/* Connects to socket_path (NULL: the default), calls method with params
 * (stolen) and closes: 0 with *result (a new reference, the caller's), or
 * the error, with its message as the thread's last error. */
int dr__call_once(const char *socket_path, const char *method, json_t *params, json_t **result);

#endif
