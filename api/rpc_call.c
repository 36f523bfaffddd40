/* rpc_call.c - a JSON-RPC call's life: the request parsed and handed to its method, batches, the reply or error, watch subscriptions of the connection */
#include "api/rpc_conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- calls ---------------------------------------------------------------- */

static dr_rpc_call *call_new(conn *c, json_t *id, batch *b) {
  dr_rpc_call *call = calloc(1, sizeof *call);
  if (!call) return NULL;
  call->c = c;
  call->method = -1;
  call->started_ns = uv_hrtime();
  call->id = id ? json_incref(id) : NULL;
  call->b = b;
  call->next = c->calls;
  if (c->calls) c->calls->prev = call;
  c->calls = call;
  c->refs++;
  c->pending++;
  return call;
}

/* Ends a call with a full response object (whose reference it takes). */
static void call_end(dr_rpc_call *call, json_t *response) {
  conn *c = call->c;
  batch *b = call->b;
  dr_rpc_stats *st = &c->srv->stats;
  if (call->method < 0) st->bad_requests++;
  else {
    dr_latency_observe(&st->latency[call->method], uv_hrtime() - call->started_ns);
    st->errors[call->method] += call->failed;
  }
  if (!call->id || !response) {
    json_decref(response); /* notifications get no answer */
  } else if (b) {
    json_array_append_new(b->responses, response);
  } else {
    dr__rpc_send_json(c, response);
    json_decref(response);
  }
  if (b && --b->outstanding == 0) {
    if (json_array_size(b->responses)) dr__rpc_send_json(c, b->responses);
    json_decref(b->responses);
    free(b);
  }
  json_decref(call->id);
  if (call->prev) call->prev->next = call->next;
  else c->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  free(call);
  c->pending--;
  if (c->paused && c->pending <= RESUME_AT) dr__rpc_queue_resume(c);
  dr__rpc_maybe_close(c);
  dr__rpc_conn_unref(c);
}

/* ---- watch subscriptions ------------------------------------------------------ */

static void on_event(void *ctx, uint64_t sub, dr_event_type type, const dr_entry *record) {
  conn *c = ctx;
  if (c->closed) return;
  json_t *msg = json_pack("{s:s, s:s, s:{s:I, s:s, s:o}}", "jsonrpc", "2.0", "method", "event",
                          "params", "subscription", (json_int_t)sub, "type", dr_event_name(type),
                          "record", dr_json_record(record));
  if (!msg) return;
  dr__rpc_send_json(c, msg);
  json_decref(msg);
}

int dr_rpc_conn_watch(dr_rpc_call *call, const uint8_t rid[DR_ID_LEN], uint64_t *sub) {
  conn *c = call->c;
  if (c->closed) return -ESHUTDOWN;
  if (c->n_subs >= DR_RPC_MAX_WATCHES_PER_CONN) return -EMLINK;
  uint64_t *grown = realloc(c->subs, (c->n_subs + 1) * sizeof *grown);
  if (!grown) return -ENOMEM;
  c->subs = grown;
  int r = dr_node_watch(c->node, rid, on_event, c, sub);
  if (r < 0) return r;
  c->subs[c->n_subs++] = *sub;
  return 0;
}

int dr_rpc_conn_unwatch(dr_rpc_call *call, uint64_t sub) {
  conn *c = call->c;
  for (size_t i = 0; i < c->n_subs; i++)
    if (c->subs[i] == sub) {
      c->subs[i] = c->subs[--c->n_subs];
      return dr_node_unwatch(c->node, sub);
    }
  return DR_ENOTFOUND; /* another connection's subscriptions are not ours to end */
}

dr_node *dr_rpc_call_node(const dr_rpc_call *call) {
  return call->c->node;
}

bool dr_rpc_call_tcp(const dr_rpc_call *call) {
  return call->c->tcp;
}

void dr_rpc_call_on_close(dr_rpc_call *call, void (*fn)(dr_rpc_call *call, void *arg), void *arg) {
  call->on_close = fn;
  call->close_arg = arg;
}

void dr_rpc_reply(dr_rpc_call *call, json_t *result) {
  json_t *resp = NULL;
  if (call->id)
    resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", call->id, "result",
                     result ? result : json_null());
  else
    json_decref(result);
  call_end(call, resp);
}

void dr_rpc_reply_text(dr_rpc_call *call, const char *result, size_t len) {
  if (call->id && !call->b) {
    char *id = json_dumps(call->id, JSON_COMPACT | JSON_ENCODE_ANY);
    if (id) {
      static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":", mid[] = ",\"result\":";
      const char *parts[] = {head, id, mid, result, "}"};
      size_t lens[] = {sizeof head - 1, strlen(id), sizeof mid - 1, len, 1};
      dr__rpc_send_parts(call->c, parts, lens, 5);
      free(id);
      call_end(call, NULL);
      return;
    }
  }
  /* a batch member (its answer goes into the batch's array) or a notification */
  dr_rpc_reply(call, call->id ? json_loadb(result, len, 0, NULL) : NULL);
}

int dr_rpc_entry_json(dr_rpc_call *call, const dr_entry *e, dr_text *out) {
  dr_rpc_server *s = call->c->srv;
  return dr_json_cache_append(s->json_cache, e, uv_now(s->loop), out);
}

void dr_rpc_fail(dr_rpc_call *call, int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dr__utf8_clean(msg);
  call->failed = true;
  call_end(call, call->id ? dr__rpc_error_object(call->id, code, msg) : NULL);
}

/* ---- requests ----------------------------------------------------------------- */

static void handle_request(conn *c, json_t *req, batch *b) {
  json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
  bool id_ok = !id || json_is_string(id) || json_is_integer(id) || json_is_real(id) ||
               json_is_null(id);
  json_t *ver = json_object_get(req, "jsonrpc");
  json_t *method = json_object_get(req, "method");
  json_t *params = json_object_get(req, "params");
  bool valid = json_is_object(req) && id_ok && json_is_string(ver) &&
               strcmp(json_string_value(ver), "2.0") == 0 && json_is_string(method) &&
               (!params || json_is_object(params) || json_is_array(params));
  if (!valid) {
    /* an invalid request is answered even without an id */
    dr_rpc_call *call = call_new(c, id && id_ok ? id : json_null(), b);
    if (call) dr_rpc_fail(call, DR_RPC_INVALID_REQUEST, "invalid request");
    return;
  }
  dr_rpc_call *call = call_new(c, id, b);
  if (!call) return;
  const char *name = json_string_value(method);
  dr_rpc_method_fn fn;
  if ((call->method = dr_rpc_find_method(name, &fn)) < 0) {
    dr_rpc_fail(call, DR_RPC_METHOD_NOT_FOUND, "method not found: %.64s", name);
    return;
  }
  if (params && json_is_array(params)) {
    if (json_array_size(params) == 0) params = NULL;
    else {
      dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid params: params are by name (an object)");
      return;
    }
  }
  json_t *p = params ? json_incref(params) : json_object();
  fn(call, p);
  json_decref(p);
}

void dr__rpc_handle_text(conn *c, const char *text, size_t len) {
  json_error_t jerr;
  json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!msg) {
    json_t *e = dr__rpc_error_object(NULL, DR_RPC_PARSE_ERROR, "parse error");
    dr__rpc_send_json(c, e);
    json_decref(e);
    return;
  }
  if (json_is_array(msg)) {
    size_t n = json_array_size(msg);
    if (n > DR_RPC_MAX_PENDING) {
      DR_WARN(dr_node_logger(c->node), "rpc: refusing a batch of %zu requests (at most %d)", n,
              DR_RPC_MAX_PENDING);
      char why[96];
      snprintf(why, sizeof why, "limit exceeded: a batch of at most %d requests", DR_RPC_MAX_PENDING);
      json_t *e = dr__rpc_error_object(NULL, DR_RPC_LIMIT, why);
      dr__rpc_send_json(c, e);
      json_decref(e);
      json_decref(msg);
      return;
    }
    batch *b = n ? calloc(1, sizeof *b) : NULL;
    if (!n || !b || !(b->responses = json_array())) {
      free(b);
      json_t *e = dr__rpc_error_object(NULL, DR_RPC_INVALID_REQUEST, "invalid request: empty batch");
      dr__rpc_send_json(c, e);
      json_decref(e);
      json_decref(msg);
      return;
    }
    /* one extra count, so the batch cannot end before every member started */
    b->outstanding = n + 1;
    for (size_t i = 0; i < n; i++) handle_request(c, json_array_get(msg, i), b);
    if (--b->outstanding == 0) {
      if (json_array_size(b->responses)) dr__rpc_send_json(c, b->responses);
      json_decref(b->responses);
      free(b);
    }
  } else {
    handle_request(c, msg, NULL);
  }
  json_decref(msg);
}

