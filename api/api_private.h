/* api_private.h - private to api/: what the server and the methods share */
#ifndef DR_API_PRIVATE_H
#define DR_API_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>

#include "api/rpc.h"
#include "node/map.h"

/* JSON-RPC 2.0 error codes, with ours (PRODUCT.md section 5). */
enum {
  DR_RPC_PARSE_ERROR = -32700,
  DR_RPC_INVALID_REQUEST = -32600,
  DR_RPC_METHOD_NOT_FOUND = -32601,
  DR_RPC_INVALID_PARAMS = -32602,
  DR_RPC_INTERNAL = -32603,
  DR_RPC_NOT_FOUND = -32004,
  DR_RPC_TIMEOUT = -32010,
  DR_RPC_FORBIDDEN = -32011,
  DR_RPC_LIMIT = -32012,
};

/* One request being answered. A method must end it exactly once, with
 * dr_rpc_reply or dr_rpc_fail, now or from a later callback; the call (and
 * its connection's memory) stays valid until then, even if the client has
 * gone away in the meantime (the answer is then dropped). */
typedef struct dr_rpc_call dr_rpc_call;

dr_node *dr_rpc_call_node(const dr_rpc_call *call);
/* Whether the call came through the TCP listener (any local user may reach it). */
bool dr_rpc_call_tcp(const dr_rpc_call *call);

/* When the call's client goes away before the call ends, fn(call, arg)
 * runs (once, on the loop): it must stop what the call waits for and end
 * the call (its answer is dropped). NULL clears it; ending the call does. */
void dr_rpc_call_on_close(dr_rpc_call *call, void (*fn)(dr_rpc_call *call, void *arg), void *arg);

/* Ends the call with result (whose reference it takes). */
void dr_rpc_reply(dr_rpc_call *call, json_t *result);

/* Ends the call with a result given as JSON text (len bytes, valid JSON):
 * written out as it is, without parsing it again. */
void dr_rpc_reply_text(dr_rpc_call *call, const char *result, size_t len);

/* A growing text buffer; dr_text_add returns 0 or -ENOMEM (t unchanged). */
typedef struct dr_text {
  char *p;
  size_t len, cap;
} dr_text;
int dr_text_add(dr_text *t, const char *s, size_t len);

/* Appends the JSON of a resource or record entry to out, rendered once per
 * entry version by the call's server (json_cache.c). 0 or -ENOMEM. */
int dr_rpc_entry_json(dr_rpc_call *call, const dr_entry *e, dr_text *out);

/* json_cache.c: the server's cache of entry texts, keyed by kind and
 * signature; loop thread only. */
typedef struct dr_json_cache dr_json_cache;
dr_json_cache *dr_json_cache_new(void);
void dr_json_cache_free(dr_json_cache *c);
int dr_json_cache_append(dr_json_cache *c, const dr_entry *e, uint64_t now_ms, dr_text *out);

/* Ends the call with an error object; message is printf-style. */
void dr_rpc_fail(dr_rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the call with the JSON-RPC error matching a node error (negative
 * errno or DR_E*), naming the param in pe when there is one. */
void dr_rpc_fail_node(dr_rpc_call *call, int err, const dr_param_error *pe);

/* Watch subscriptions belong to the call's connection: events go out on it,
 * and they end when it closes. Both return 0 or a negative errno / DR_E*
 * (-EMLINK: the connection has DR_RPC_MAX_WATCHES_PER_CONN already; -EDQUOT:
 * the node has its --max-watches). */
#define DR_RPC_MAX_WATCHES_PER_CONN 64
int dr_rpc_conn_watch(dr_rpc_call *call, const uint8_t rid[DR_ID_LEN], uint64_t *sub);
int dr_rpc_conn_unwatch(dr_rpc_call *call, uint64_t sub);

/* Drops the bytes of s that are not whole UTF-8 sequences (rpc_errors.c). */
void dr__utf8_clean(char *s);

typedef void (*dr_rpc_method_fn)(dr_rpc_call *call, json_t *params);

/* The index of the method of that name (0 to DR_RPC_N_METHODS - 1) with
 * *fn set, or -1. dr_rpc_method_name gives an index's name back. */
int dr_rpc_find_method(const char *name, dr_rpc_method_fn *fn);

/* ---- params.c: reading params, writing entries ----------------------------- */

/* Each returns 0, or ends the call with -32602 naming the param and
 * returns -1. Optional getters leave *out unchanged when the param is absent
 * or null. */
int dr_param_string(dr_rpc_call *call, json_t *params, const char *name, bool required,
                    const char **out);
int dr_param_id(dr_rpc_call *call, json_t *params, const char *name, bool required,
                uint8_t out[DR_ID_LEN], bool *present);
int dr_param_uint(dr_rpc_call *call, json_t *params, const char *name, uint64_t min,
                  uint64_t max, uint64_t *out, bool *present);
int dr_param_bool(dr_rpc_call *call, json_t *params, const char *name, bool *out);
/* A label or service id this node is asked to sign: required, and one of
 * the names it signs (rule: dr_label_refusal or dr_service_id_refusal);
 * *out points into params. */
int dr_param_name(dr_rpc_call *call, json_t *params, const char *name, dr_name_rule rule, const char **out);
/* An array of strings; *out is malloc'd (pointers into params). */
int dr_param_strings(dr_rpc_call *call, json_t *params, const char *name, size_t max,
                     char ***out, size_t *count);
/* Fails the call when params has a member not in the NULL-terminated list. */
int dr_param_only(dr_rpc_call *call, json_t *params, const char *const *names);

/* check: an advertise's "check" object, into *out (strings and argv
 * borrowed from params; free out->argv); *present says whether there is
 * one. include: "passing" (the default) or "all". */
int dr_param_check(dr_rpc_call *call, json_t *params, dr_check_spec *out, bool *present);
int dr_param_include(dr_rpc_call *call, json_t *params, dr_include *out);

json_t *dr_json_id(const uint8_t id[DR_ID_LEN]);
json_t *dr_json_resource(const dr_entry *e);
json_t *dr_json_record(const dr_entry *e);
/* list's "check" of an advertisement: its spec and what it says now. */
json_t *dr_json_check(const dr_check_spec *spec, const dr_check_status *st);
/* A watch event's "type": register, deregister, expire, critical, passing. */
const char *dr_event_name(dr_event_type t);

/* Removes the socket file at path when no node serves it (a node killed
 * left it). 0, or -EADDRINUSE (another node serves it) or another negative
 * errno, with the reason in err (rpc_socket.c). */
int dr__rpc_clear_stale_socket(const char *path, char *err, size_t errlen);

#endif
