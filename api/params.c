/* params.c - reading JSON-RPC params by name, and writing entries as JSON */
#include "api/api_private.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *strings(char *const *v, size_t n);

static int bad(dr_rpc_call *call, const char *name, const char *why) {
  dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param %s: %s", name, why);
  return -1;
}

int dr_param_only(dr_rpc_call *call, json_t *params, const char *const *names) {
  const char *key;
  json_t *v;
  json_object_foreach(params, key, v) {
    bool known = false;
    for (const char *const *n = names; *n && !known; n++) known = strcmp(*n, key) == 0;
    if (!known) {
      dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid params: unknown param %.64s", key);
      return -1;
    }
  }
  return 0;
}

int dr_param_string(dr_rpc_call *call, json_t *params, const char *name, bool required,
                    const char **out) {
  json_t *v = json_object_get(params, name);
  if (!v || json_is_null(v)) return required ? bad(call, name, "required") : 0;
  if (!json_is_string(v)) return bad(call, name, "must be a string");
  if (strlen(json_string_value(v)) != json_string_length(v))
    return bad(call, name, "must not contain NUL characters");
  *out = json_string_value(v);
  return 0;
}

int dr_param_name(dr_rpc_call *call, json_t *params, const char *name, dr_name_rule rule, const char **out) {
  const char *s = NULL, *why;
  if (dr_param_string(call, params, name, true, &s) < 0) return -1;
  why = rule(s, strlen(s));
  if (why) return bad(call, name, why);
  *out = s;
  return 0;
}

int dr_param_id(dr_rpc_call *call, json_t *params, const char *name, bool required,
                uint8_t out[DR_ID_LEN], bool *present) {
  const char *s = NULL;
  if (present) *present = false;
  if (dr_param_string(call, params, name, required, &s) < 0) return -1;
  if (!s) return 0;
  if (dr_id_decode(s, out) < 0) return bad(call, name, "not a valid id (base58 of 32 bytes)");
  if (present) *present = true;
  return 0;
}

int dr_param_uint(dr_rpc_call *call, json_t *params, const char *name, uint64_t min,
                  uint64_t max, uint64_t *out, bool *present) {
  char why[96];
  json_t *v = json_object_get(params, name);
  if (present) *present = false;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v)) return bad(call, name, "must be an integer");
  json_int_t i = json_integer_value(v);
  if (i < 0 || (uint64_t)i < min || (uint64_t)i > max) {
    snprintf(why, sizeof why, "must be between %llu and %llu", (unsigned long long)min,
             (unsigned long long)max);
    return bad(call, name, why);
  }
  *out = (uint64_t)i;
  if (present) *present = true;
  return 0;
}

int dr_param_bool(dr_rpc_call *call, json_t *params, const char *name, bool *out) {
  json_t *v = json_object_get(params, name);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return bad(call, name, "must be true or false");
  *out = json_is_true(v);
  return 0;
}

int dr_param_strings(dr_rpc_call *call, json_t *params, const char *name, size_t max,
                     char ***out, size_t *count) {
  char why[64];
  json_t *v = json_object_get(params, name), *item;
  size_t i;
  *out = NULL;
  *count = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_array(v)) return bad(call, name, "must be an array of strings");
  if (json_array_size(v) > max) {
    snprintf(why, sizeof why, "more than %zu items", max);
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: %s %s", name, why);
    return -1;
  }
  if (json_array_size(v) == 0) return 0;
  *out = calloc(json_array_size(v), sizeof **out);
  if (!*out) {
    dr_rpc_fail(call, DR_RPC_INTERNAL, "out of memory");
    return -1;
  }
  json_array_foreach(v, i, item) {
    if (!json_is_string(item) || strlen(json_string_value(item)) != json_string_length(item)) {
      free(*out);
      *out = NULL;
      return bad(call, name, "must be an array of strings");
    }
    (*out)[i] = (char *)json_string_value(item);
  }
  *count = json_array_size(v);
  return 0;
}

/* ---- a health check, and which records a read returns --------------------------- */

static int bad_check(dr_rpc_call *call, const char *member, const char *why) {
  dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param check%s%s: %s", member ? "." : "", member ? member : "",
              why);
  return -1;
}

/* interval, timeout, failures, passes: whole numbers in their range */
static int check_number(dr_rpc_call *call, const char *k, json_t *v, dr_check_spec *out) {
  static const struct {
    const char *name;
    size_t off;
    json_int_t max;
    const char *why;
  } nums[] = {
      {"interval", offsetof(dr_check_spec, interval_s), 86400, "must be an integer between 1 and 86400 (seconds)"},
      {"timeout", offsetof(dr_check_spec, timeout_s), 3600, "must be an integer between 1 and 3600 (seconds)"},
      {"failures", offsetof(dr_check_spec, failures), 100, "must be an integer between 1 and 100"},
      {"passes", offsetof(dr_check_spec, passes), 100, "must be an integer between 1 and 100"},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    if (strcmp(k, nums[i].name) != 0) continue;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > nums[i].max)
      return bad_check(call, nums[i].name, nums[i].why);
    *(uint32_t *)((char *)out + nums[i].off) = (uint32_t)json_integer_value(v);
    return 0;
  }
  char why[192];
  snprintf(why, sizeof why, "unknown member %.64s (tcp, http, exec, interval, timeout, failures, passes)", k);
  dr__utf8_clean(why);
  return bad_check(call, NULL, why);
}

static int check_kind(dr_rpc_call *call, dr_check_spec *out, dr_check_kind kind, const char *k, json_t *v) {
  size_t i;
  json_t *a;
  if (out->kind) return bad_check(call, NULL, "has more than one of tcp, http and exec");
  out->kind = kind;
  if (kind != DR_CHECK_EXEC) {
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
      return bad_check(call, k, kind == DR_CHECK_TCP ? "must be a string HOST:PORT" : "must be a string http://HOST[:PORT][/PATH]");
    out->target = (char *)json_string_value(v);
    return 0;
  }
  if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > DR_CHECK_ARGS_MAX)
    return bad_check(call, k, "must be an array of 1-32 strings: the program and its arguments (no shell)");
  if (dr_rpc_call_tcp(call))
    return bad_check(call, k, "not accepted over the TCP listener, which any local user can reach: use the Unix socket");
  if (!(out->argv = calloc(json_array_size(v) + 1, sizeof *out->argv))) {
    dr_rpc_fail(call, DR_RPC_INTERNAL, "out of memory");
    return -1;
  }
  json_array_foreach(v, i, a) {
    if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a))
      return bad_check(call, k, "must be an array of strings");
    out->argv[out->argc++] = (char *)json_string_value(a);
  }
  return 0;
}

int dr_param_check(dr_rpc_call *call, json_t *params, dr_check_spec *out, bool *present) {
  json_t *v = json_object_get(params, "check"), *m;
  const char *k;
  dr_param_error pe = {0};
  memset(out, 0, sizeof *out);
  *present = false;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_object(v))
    return bad_check(call, NULL, "must be an object: {\"tcp\": \"HOST:PORT\"}, {\"http\": \"URL\"} or "
                                 "{\"exec\": [PROGRAM, ARGS...]}, and interval, timeout, failures, passes");
  json_object_foreach(v, k, m) {
    int r = strcmp(k, "tcp") == 0    ? check_kind(call, out, DR_CHECK_TCP, k, m)
            : strcmp(k, "http") == 0 ? check_kind(call, out, DR_CHECK_HTTP, k, m)
            : strcmp(k, "exec") == 0 ? check_kind(call, out, DR_CHECK_EXEC, k, m)
                                     : check_number(call, k, m, out);
    if (r < 0) goto fail;
  }
  if (!out->kind) {
    bad_check(call, NULL, "needs one of tcp, http or exec");
    goto fail;
  }
  if (dr_check_spec_validate(out, &pe) < 0) { /* the node's rules: an address, a URL, the program */
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param %s: %s", pe.field, pe.why);
    goto fail;
  }
  *present = true;
  return 0;
fail:
  free(out->argv);
  memset(out, 0, sizeof *out);
  return -1;
}

int dr_param_include(dr_rpc_call *call, json_t *params, dr_include *out) {
  const char *s = NULL;
  *out = DR_INCLUDE_PASSING;
  if (dr_param_string(call, params, "include", false, &s) < 0) return -1;
  if (!s || strcmp(s, "passing") == 0) return 0;
  if (strcmp(s, "all") != 0) return bad(call, "include", "must be \"passing\" (the default) or \"all\" (critical records too)");
  *out = DR_INCLUDE_ALL;
  return 0;
}

const char *dr_event_name(dr_event_type t) {
  switch (t) {
  case DR_EVENT_REGISTER: return "register";
  case DR_EVENT_DEREGISTER: return "deregister";
  case DR_EVENT_EXPIRE: return "expire";
  case DR_EVENT_CRITICAL: return "critical";
  case DR_EVENT_PASSING: return "passing";
  }
  return "?";
}

json_t *dr_json_check(const dr_check_spec *spec, const dr_check_status *st) {
  json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:I}", "type", dr_check_kind_name(spec->kind),
                        "interval", (json_int_t)spec->interval_s, "timeout", (json_int_t)spec->timeout_s,
                        "failures", (json_int_t)spec->failures, "passes", (json_int_t)spec->passes, "status",
                        st->health == DR_HEALTH_CRITICAL ? "critical" : "passing", "consecutive_failures",
                        (json_int_t)st->failures, "consecutive_passes", (json_int_t)st->passes);
  if (!o) return NULL;
  if (spec->kind == DR_CHECK_EXEC) json_object_set_new(o, "exec", strings(spec->argv, spec->argc));
  else json_object_set_new(o, dr_check_kind_name(spec->kind), json_string(spec->target));
  if (st->ran) {
    json_object_set_new(o, "last_result", json_string(st->last_ok ? "pass" : "fail"));
    json_object_set_new(o, "last_run", json_integer((json_int_t)st->last_at));
    json_object_set_new(o, "output", json_string(st->output ? st->output : ""));
  }
  return o;
}

json_t *dr_json_id(const uint8_t id[DR_ID_LEN]) {
  char text[DR_ID_TEXT_MAX];
  dr_id_encode(id, text);
  return json_string(text);
}

static json_t *strings(char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
  return a;
}

json_t *dr_json_resource(const dr_entry *e) {
  json_t *allow = json_array();
  for (size_t i = 0; i < e->n_allow; i++) json_array_append_new(allow, dr_json_id(e->allow[i]));
  return json_pack("{s:o, s:s, s:o, s:I, s:s, s:o, s:I, s:I}", "resource_id", dr_json_id(e->rid),
                   "label", e->name, "owner", dr_json_id(e->issuer), "created_at",
                   (json_int_t)e->issued_at, "policy",
                   e->policy == DR_POLICY_OWNER ? "owner" : "open", "allow", allow, "seq",
                   (json_int_t)e->seq, "shards", (json_int_t)(e->shards > 1 ? e->shards : 1));
}

json_t *dr_json_record(const dr_entry *e) {
  json_t *meta = json_object();
  for (size_t i = 0; i < e->n_meta; i++)
    json_object_set_new(meta, e->meta[i].key, json_string(e->meta[i].value));
  return json_pack("{s:o, s:s, s:o, s:s, s:i, s:o, s:s, s:o, s:o, s:I, s:I, s:I, s:s}",
                   "resource_id", dr_json_id(e->rid), "service_id", e->name, "peer_id",
                   dr_json_id(e->issuer), "host", e->host ? e->host : "", "port", (int)e->port,
                   "addresses", strings(e->addrs, e->n_addrs), "type", e->type ? e->type : "",
                   "tags", strings(e->tags, e->n_tags), "metadata", meta, "issued_at",
                   (json_int_t)e->issued_at, "expires_at", (json_int_t)e->expires_at, "seq",
                   (json_int_t)e->seq, "health", dr_entry_passing(e) ? "passing" : "critical");
}
