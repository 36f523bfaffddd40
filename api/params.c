/* params.c - reading JSON-RPC params by name, and writing entries as JSON */
#include "api/api_private.h"

#include <stdlib.h>
#include <string.h>

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
                   (json_int_t)e->seq, "health", "passing");
}
