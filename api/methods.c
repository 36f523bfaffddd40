/* methods.c - the JSON-RPC methods: params in, node operations, results out */
#include "api/api_private.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/limits.h"

#define POLICY_FRESH_MS 30000 /* a resource entry read this long ago decides an advertise */

#define ONLY(...)                                                 \
  do {                                                            \
    static const char *const names_[] = {__VA_ARGS__, NULL};      \
    if (dr_param_only(call, params, names_) < 0) return;          \
  } while (0)

static json_t *warnings_json(const dr_node_health *h) {
  json_t *w = json_array();
  for (size_t i = 0; i < h->n_warnings; i++) json_array_append_new(w, json_string(h->warnings[i]));
  return w;
}

/* health: alive (it answers); ready says whether it should get traffic */
static void m_health(dr_rpc_call *call, json_t *params) {
  dr_node_health h;
  if (dr_param_only(call, params, (const char *const[]){NULL}) < 0) return;
  dr_node_get_health(dr_rpc_call_node(call), &h);
  dr_rpc_reply(call, json_pack("{s:s, s:b, s:o, s:I}", "status", "ok", "ready", h.ready, "warnings",
                               warnings_json(&h), "timestamp", (json_int_t)dr_now()));
}

static json_t *msg_counts(const uint64_t c[5]) {
  return json_pack("{s:I, s:I, s:I, s:I, s:I}", "ping", (json_int_t)c[0], "find", (json_int_t)c[1],
                   "get", (json_int_t)c[2], "listen", (json_int_t)c[3], "put", (json_int_t)c[4]);
}

/* {reason: count} of every rejection reason (counts indexed by dr_reject). */
static json_t *reason_counts(const uint64_t *counts) {
  json_t *o = json_object();
  for (int r = DR_REJ_NONE + 1; r < DR_REJ__COUNT; r++)
    json_object_set_new(o, dr_reject_name((dr_reject)r), json_integer((json_int_t)counts[r]));
  return o;
}

static void m_node_info(dr_rpc_call *call, json_t *params) {
  dr_node_info info;
  if (dr_param_only(call, params, (const char *const[]){NULL}) < 0) return;
  dr_node_get_info(dr_rpc_call_node(call), &info);
  json_t *rej = reason_counts(info.rejected), *dropped = json_object();
  for (int d = 0; d < DR_DROP__COUNT; d++)
    json_object_set_new(dropped, dr_drop_name((dr_drop)d), json_integer((json_int_t)info.dropped[d]));
  json_t *res = json_pack("{s:o, s:i, s:I, s:s, s:I, s:b, s:i, s:{s:I, s:I, s:I}, s:I, s:o}",
                          "peer_id", dr_json_id(info.peer_id), "port", (int)info.port,
                          "network", (json_int_t)info.network, "version", DHTREG_VERSION,
                          "uptime_s", (json_int_t)info.uptime_s, "connected", info.connected,
                          "peers", (int)info.peers, "entries", "resources",
                          (json_int_t)info.resources, "records", (json_int_t)info.records,
                          "tombstones", (json_int_t)info.tombstones, "advertised",
                          (json_int_t)info.advertised, "rejected", rej);
  json_object_set_new(res, "dropped", dropped);
  /* beyond PRODUCT.md's fields: a private registry, the cache, the replication task, DHT traffic */
  json_object_set_new(res, "private", json_boolean(info.private_network));
  json_object_set_new(res, "cache", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "resources",
                                              (json_int_t)info.cached_resources, "entries",
                                              (json_int_t)info.cached_entries, "watches",
                                              (json_int_t)info.watches, "events",
                                              (json_int_t)info.events, "hits",
                                              (json_int_t)info.cache_hits, "renewal_checks",
                                              (json_int_t)info.cache_polls));
  json_object_set_new(res, "replication", json_pack("{s:I, s:I, s:I}", "runs", (json_int_t)info.repl_runs,
                                                    "checked", (json_int_t)info.repl_checked,
                                                    "repaired", (json_int_t)info.repl_repaired));
  json_object_set_new(res, "dht_storage", json_pack("{s:I, s:I}", "values", (json_int_t)info.stored_values,
                                                    "bytes", (json_int_t)info.stored_bytes));
  json_object_set_new(res, "dht_pending", json_integer((json_int_t)info.dht_pending));
  json_object_set_new(res, "dht_listens", json_integer((json_int_t)info.dht_listens));
  json_object_set_new(res, "dht_refused", json_integer((json_int_t)info.dht_refused));
  json_object_set_new(res, "dht_searches", json_integer((json_int_t)info.dht_searches));
  json_object_set_new(res, "dht_retries", json_integer((json_int_t)info.dht_retries));
  json_object_set_new(res, "records_moved", json_integer((json_int_t)info.records_moved));
  json_t *refused = reason_counts(info.store_refused);
  json_object_set_new(refused, "full", json_integer((json_int_t)info.store_refused[DR_REJ__COUNT]));
  json_object_set_new(res, "store_refused", refused);
  json_object_set_new(res, "lookups", json_pack("{s:I, s:I}", "keys", (json_int_t)info.lookup_keys,
                                                "refused", (json_int_t)info.lookups_refused));
  json_object_set_new(res, "dht_nudges", json_integer((json_int_t)info.dht_nudges));
  json_object_set_new(res, "dht_messages", json_pack("{s:o, s:o}", "sent", msg_counts(info.msg_sent),
                                                     "received", msg_counts(info.msg_received)));
  json_t *persist = json_pack("{s:b, s:b}", "enabled", info.persist_enabled, "ok", !info.persist_error);
  if (info.persist_error) {
    json_object_set_new(persist, "error", json_string(strerror(info.persist_error)));
    json_object_set_new(persist, "failing_since", json_integer((json_int_t)info.persist_since));
  }
  json_object_set_new(res, "persistence", persist);
  json_object_set_new(res, "clock", json_pack("{s:I, s:I, s:I, s:I, s:b}", "offset_s", (json_int_t)info.clock_offset,
                                              "issuers", (json_int_t)info.clock_issuers, "correction_s",
                                              (json_int_t)info.clock_correction, "tolerance_s",
                                              (json_int_t)info.clock_skew, "ok", !info.clock_beyond));
  dr_node_health h;
  dr_node_get_health(dr_rpc_call_node(call), &h);
  json_object_set_new(res, "ready", json_boolean(h.ready));
  json_object_set_new(res, "warnings", warnings_json(&h));
  dr_rpc_reply(call, res);
}

/* node.bootstrap: answered once every name resolved (or did not) */
typedef struct boot_call {
  dr_rpc_call *call;
  size_t left;
  char why[256]; /* the first address that failed */
} boot_call;

static void on_bootstrapped(void *ctx, int err, const char *why) {
  boot_call *b = ctx;
  if (err < 0 && !b->why[0]) snprintf(b->why, sizeof b->why, "%s", why ? why : strerror(-err));
  if (--b->left) return;
  if (b->why[0]) dr_rpc_fail(b->call, DR_RPC_INVALID_PARAMS, "invalid param addresses: %s", b->why);
  else dr_rpc_reply(b->call, json_pack("{s:b}", "ok", 1));
  free(b);
}

static void m_node_bootstrap(dr_rpc_call *call, json_t *params) {
  char **addrs;
  size_t n;
  ONLY("addresses");
  if (dr_param_strings(call, params, "addresses", 64, &addrs, &n) < 0) return;
  dr_node *node = dr_rpc_call_node(call);
  char host[256], port[8];
  boot_call *b = NULL;
  if (n == 0) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param addresses: required, as [\"host:port\", ...]");
    goto out;
  }
  for (size_t i = 0; i < n; i++)
    if (dr_split_hostport(addrs[i], host, sizeof host, port, sizeof port) < 0) {
      dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param addresses: %.80s is not host:port", addrs[i]);
      goto out;
    }
  if (!(b = calloc(1, sizeof *b))) {
    dr_rpc_fail(call, DR_RPC_INTERNAL, "out of memory");
    goto out;
  }
  b->call = call;
  b->left = 1; /* held until every address is under way */
  for (size_t i = 0; i < n; i++) {
    b->left++;
    int r = dr_node_bootstrap(node, addrs[i], on_bootstrapped, b);
    if (r < 0) on_bootstrapped(b, r, r == -ESHUTDOWN ? "the node is shutting down" : NULL);
  }
  on_bootstrapped(b, 0, NULL);
out:
  free(addrs);
}

static void m_resource_id(dr_rpc_call *call, json_t *params) {
  const char *label = NULL;
  uint8_t owner[DR_ID_LEN], rid[DR_ID_LEN];
  bool have_owner;
  ONLY("label", "owner");
  if (dr_param_string(call, params, "label", true, &label) < 0) return;
  if (dr_param_id(call, params, "owner", false, owner, &have_owner) < 0) return;
  size_t n = strlen(label);
  if (n == 0 || n > DR_NAME_MAX) {
    dr_rpc_fail(call, n ? DR_RPC_LIMIT : DR_RPC_INVALID_PARAMS, "invalid param label: must be 1-128 bytes");
    return;
  }
  if (!dr_text_valid(label, n)) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param label: holds a control character");
    return;
  }
  if (!have_owner) memcpy(owner, dr_node_identity(dr_rpc_call_node(call))->pk, DR_ID_LEN);
  dr_resource_id(rid, owner, label, n);
  dr_rpc_reply(call, json_pack("{s:o}", "resource_id", dr_json_id(rid)));
}

/* ---- publishing ------------------------------------------------------------- */

static void on_resource_published(void *ctx, int err, const dr_entry *e, bool published) {
  dr_rpc_call *call = ctx;
  if (err < 0) {
    dr_rpc_fail_node(call, err, NULL);
    return;
  }
  json_t *res = dr_json_resource(e);
  json_object_set_new(res, "published", json_boolean(published));
  dr_rpc_reply(call, res);
}

/* Sets what it is given; what is left out keeps its value (a new resource: the defaults). */
static void m_resource_create(dr_rpc_call *call, json_t *params) {
  const char *policy_s = NULL;
  char **allow_s = NULL;
  uint8_t(*allow)[DR_ID_LEN] = NULL;
  dr_resource_params p = {0};
  dr_param_error pe = {0};
  ONLY("label", "policy", "allow", "shards");
  uint64_t shards = 0;
  if (dr_param_uint(call, params, "shards", 1, DR_SHARDS_MAX, &shards, NULL) < 0) return;
  if (shards & (shards - 1)) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param shards: must be a power of two (1, 2, 4, ... 4096)");
    return;
  }
  if (dr_param_name(call, params, "label", dr_label_refusal, &p.label) < 0 ||
      dr_param_string(call, params, "policy", false, &policy_s) < 0 ||
      dr_param_strings(call, params, "allow", DR_ALLOW_MAX, &allow_s, &p.n_allow) < 0)
    return;
  json_t *allow_j = json_object_get(params, "allow");
  p.has_allow = allow_j && !json_is_null(allow_j); /* [] empties it */
  p.has_policy = policy_s != NULL;
  p.shards = (uint32_t)shards;
  if (policy_s && strcmp(policy_s, "owner") == 0) {
    p.policy = DR_POLICY_OWNER;
  } else if (policy_s && strcmp(policy_s, "open") != 0) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param policy: must be \"open\" or \"owner\"");
    goto out;
  }
  if (p.n_allow && !(allow = calloc(p.n_allow, DR_ID_LEN))) {
    dr_rpc_fail(call, DR_RPC_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < p.n_allow; i++)
    if (dr_id_decode(allow_s[i], allow[i]) < 0) {
      dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param allow: %.64s is not a peer id", allow_s[i]);
      goto out;
    }
  p.allow = (const uint8_t(*)[DR_ID_LEN])allow;
  int r = dr_node_resource_create(dr_rpc_call_node(call), &p, on_resource_published, call, &pe);
  if (r < 0) dr_rpc_fail_node(call, r, &pe);
out:
  free(allow);
  free(allow_s);
}

static void on_record_published(void *ctx, int err, const dr_entry *e, bool published) {
  dr_rpc_call *call = ctx;
  if (err < 0) {
    dr_rpc_fail_node(call, err, NULL);
    return;
  }
  dr_rpc_reply(call, json_pack("{s:o, s:s, s:o, s:I, s:I, s:b}", "resource_id", dr_json_id(e->rid),
                               "service_id", e->name, "peer_id", dr_json_id(e->issuer), "seq",
                               (json_int_t)e->seq, "expires_at", (json_int_t)e->expires_at,
                               "published", published));
}

/* metadata: an object of string values, as Consul's service meta */
static int read_metadata(dr_rpc_call *call, json_t *params, dr_meta **out, size_t *n) {
  json_t *m = json_object_get(params, "metadata"), *v;
  const char *k;
  *out = NULL;
  *n = 0;
  if (!m || json_is_null(m)) return 0;
  if (!json_is_object(m)) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param metadata: must be an object of strings");
    return -1;
  }
  if (json_object_size(m) > DR_META_ENCODED_MAX / 2) {
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: metadata larger than 2048 bytes encoded");
    return -1;
  }
  if (!json_object_size(m)) return 0;
  *out = calloc(json_object_size(m), sizeof **out);
  if (!*out) {
    dr_rpc_fail(call, DR_RPC_INTERNAL, "out of memory");
    return -1;
  }
  json_object_foreach(m, k, v) {
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
      free(*out);
      *out = NULL;
      dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param metadata: value of %.64s is not a string", k);
      return -1;
    }
    (*out)[*n].key = (char *)k;
    (*out)[*n].value = (char *)json_string_value(v);
    (*n)++;
  }
  return 0;
}

/* ttl, with the node's range in the one message of every TTL error */
static int read_ttl(dr_rpc_call *call, json_t *params, uint64_t *ttl) {
  json_t *v = json_object_get(params, "ttl");
  dr_node *n = dr_rpc_call_node(call);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)dr_node_min_ttl(n) ||
      json_integer_value(v) > DR_TTL_MAX) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param ttl: %s", dr_node_ttl_range(n));
    return -1;
  }
  *ttl = (uint64_t)json_integer_value(v);
  return 0;
}

/* An advertise's params, parsed once. Strings are borrowed from params
 * (held until the advertise is published); the arrays are owned. */
typedef struct advertise_req {
  dr_rpc_call *call;
  json_t *params;
  dr_advertise_params p;
  dr_check_spec check; /* its strings borrowed too; argv owned */
  dr_resolve *resolve; /* the policy lookup under way */
} advertise_req;

static void advertise_req_free(advertise_req *a) {
  free(a->check.argv);
  free(a->p.addrs);
  free(a->p.tags);
  free(a->p.meta);
  json_decref(a->params);
  free(a);
}

/* Parses and checks every param; NULL (the call answered) on a bad one. */
static advertise_req *advertise_parse(dr_rpc_call *call, json_t *params) {
  uint64_t port = 0, ttl = 0;
  bool has_check = false;
  advertise_req *a = calloc(1, sizeof *a);
  if (!a) {
    dr_rpc_fail(call, DR_RPC_INTERNAL, "out of memory");
    return NULL;
  }
  a->call = call;
  a->params = json_incref(params);
  dr_advertise_params *p = &a->p;
  if (dr_param_id(call, params, "resource_id", true, p->rid, NULL) < 0 ||
      dr_param_name(call, params, "service_id", dr_service_id_refusal, &p->service_id) < 0 ||
      dr_param_string(call, params, "host", false, &p->host) < 0 ||
      dr_param_uint(call, params, "port", 0, 65535, &port, NULL) < 0 ||
      dr_param_string(call, params, "type", false, &p->type) < 0 ||
      read_ttl(call, params, &ttl) < 0 ||
      dr_param_bool(call, params, "lease", &p->lease) < 0 ||
      dr_param_strings(call, params, "addresses", DR_ADDRS_MAX, &p->addrs, &p->n_addrs) < 0 ||
      dr_param_strings(call, params, "tags", DR_TAGS_MAX, &p->tags, &p->n_tags) < 0 ||
      read_metadata(call, params, &p->meta, &p->n_meta) < 0 ||
      dr_param_check(call, params, &a->check, &has_check) < 0) {
    advertise_req_free(a);
    return NULL;
  }
  p->check = has_check ? &a->check : NULL;
  p->port = (uint16_t)port;
  p->ttl = (uint32_t)ttl;
  return a;
}

/* Publishes the advertisement and lets go of the request. */
static void advertise_now(advertise_req *a) {
  dr_param_error pe = {0};
  int r = dr_node_advertise(dr_rpc_call_node(a->call), &a->p, on_record_published, a->call, &pe);
  if (r < 0) dr_rpc_fail_node(a->call, r, &pe);
  advertise_req_free(a);
}

static bool forbidden(dr_rpc_call *call, const dr_entry *resource) {
  dr_node *n = dr_rpc_call_node(call);
  if (dr_node_may_advertise(resource, dr_node_peer_id(n))) return false;
  char me[DR_ID_TEXT_MAX] = "";
  dr_id_encode(dr_node_peer_id(n), me);
  DR_INFO(dr_node_logger(n), "rpc: an advertise refused by the resource's policy");
  dr_rpc_fail(call, DR_RPC_FORBIDDEN, "forbidden: the resource accepts records only from its owner "
              "and the peers on its allow-list; this node, %s, is not on it", me);
  return true;
}

/* The policy of a resource this node does not know: the resolve's
 * resource entry decides. No answer from the DHT, or no resource entry yet:
 * the policy cannot forbid it (readers still drop records their resource
 * forbids). */
static void on_policy_known(void *ctx, int err, const dr_resolution *res) {
  advertise_req *a = ctx;
  dr_rpc_call_on_close(a->call, NULL, NULL);
  if (err == 0 && forbidden(a->call, res->resource)) advertise_req_free(a);
  else advertise_now(a);
}

/* The client went away while the policy was being looked up. */
static void policy_abandoned(dr_rpc_call *call, void *arg) {
  advertise_req *a = arg;
  dr_node_resolve_cancel(dr_rpc_call_node(call), a->resolve);
  advertise_req_free(a);
  dr_rpc_fail(call, DR_RPC_INTERNAL, "the client went away");
}

static void m_record_advertise(dr_rpc_call *call, json_t *params) {
  ONLY("resource_id", "service_id", "host", "port", "addresses", "type", "tags", "metadata",
       "ttl", "lease", "check");
  /* every param is checked before the policy is looked up */
  advertise_req *a = advertise_parse(call, params);
  if (!a) return;
  dr_node *n = dr_rpc_call_node(call);
  bool known;
  const dr_entry *res = dr_node_resource_known(n, a->p.rid, POLICY_FRESH_MS, &known);
  if (known && dr_node_may_advertise(res, dr_node_peer_id(n))) {
    advertise_now(a);
    return;
  }
  /* not known lately, or a read that forbids it: the resource as it is now
   * decides (its own and a watched one's are current; others are read) */
  dr_resolve *op; /* NULL when on_policy_known ran already (and freed a) */
  int r = dr_node_resource_get(n, a->p.rid, on_policy_known, a, &op);
  if (r == -ENOBUFS || r == -EDQUOT) advertise_now(a); /* readers enforce the policy anyway */
  else if (r < 0) {
    advertise_req_free(a);
    dr_rpc_fail_node(call, r, NULL);
  } else if (op) {
    a->resolve = op;
    dr_rpc_call_on_close(call, policy_abandoned, a);
  }
}

static void on_renewed(void *ctx, int err, const dr_entry *e, bool published) {
  dr_rpc_call *call = ctx;
  if (err == DR_ENOTFOUND) dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: this node has no live record of that service id in that resource");
  else if (err < 0) dr_rpc_fail_node(call, err, NULL);
  else
    dr_rpc_reply(call, json_pack("{s:I, s:I, s:b}", "seq", (json_int_t)e->seq, "expires_at",
                                 (json_int_t)e->expires_at, "published", published));
}

static void m_record_renew(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  const char *sid = NULL;
  ONLY("resource_id", "service_id");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0 ||
      dr_param_string(call, params, "service_id", true, &sid) < 0)
    return;
  int r = dr_node_renew(dr_rpc_call_node(call), rid, sid, on_renewed, call);
  if (r == DR_ENOTFOUND)
    dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: this node has no live %.128s in that resource", sid);
  else if (r < 0)
    dr_rpc_fail_node(call, r, NULL);
}

static void on_withdrawn(void *ctx, int err, const dr_entry *e, bool published) {
  dr_rpc_call *call = ctx;
  if (err == DR_ENOTFOUND) dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: this node advertises no record of that service id in that resource");
  else if (err < 0) dr_rpc_fail_node(call, err, NULL);
  else dr_rpc_reply(call, json_pack("{s:b, s:b}", "ok", 1, "published", published));
}

static void m_record_withdraw(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  const char *sid = NULL;
  ONLY("resource_id", "service_id");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0 ||
      dr_param_string(call, params, "service_id", true, &sid) < 0)
    return;
  int r = dr_node_withdraw(dr_rpc_call_node(call), rid, sid, on_withdrawn, call);
  if (r == DR_ENOTFOUND)
    dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: this node advertises no %.128s in that resource", sid);
  else if (r < 0)
    dr_rpc_fail_node(call, r, NULL);
}

/* ---- reading ------------------------------------------------------------------ */

/* A page's cursor as the client sees it: base64url (no padding) of
 * version 1; flags (bit 0: the page starts inside its position's shard;
 * bits 1-4: log2 of shards / low, the migration the walk takes into
 * account, 0: none); the seed (u32), the shard count (u16), the position
 * (u16) and the placement hash of the last record given at that position
 * (u64), all big-endian. Opaque to clients; the node checks it. */
#define CURSOR_BYTES 18
#define CURSOR_TEXT 25

static void put_be(uint8_t *b, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--, v >>= 8) b[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *b, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | b[i];
  return v;
}

static void cursor_encode(const dr_resolve_page *pg, char out[CURSOR_TEXT]) {
  unsigned k = 0;
  while (pg->low && (pg->low << k) < pg->shards) k++;
  uint8_t b[CURSOR_BYTES] = {1, (uint8_t)((pg->mid ? 1 : 0) | k << 1)};
  put_be(b + 2, pg->seed, 4);
  put_be(b + 6, pg->shards, 2);
  put_be(b + 8, pg->pos, 2);
  put_be(b + 10, pg->mid ? pg->after : 0, 8);
  sodium_bin2base64(out, CURSOR_TEXT, b, sizeof b, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int cursor_decode(const char *text, dr_resolve_page *pg) {
  uint8_t b[CURSOR_BYTES];
  size_t n;
  if (strlen(text) >= CURSOR_TEXT ||
      sodium_base642bin(b, sizeof b, text, strlen(text), NULL, &n, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      n != sizeof b || b[0] != 1 || b[1] > 25)
    return -EINVAL;
  pg->mid = b[1] & 1;
  pg->seed = (uint32_t)get_be(b + 2, 4);
  pg->shards = (uint32_t)get_be(b + 6, 2);
  pg->pos = (uint32_t)get_be(b + 8, 2);
  pg->after = get_be(b + 10, 8);
  pg->set = true;
  if (pg->shards < 1 || pg->shards > DR_SHARDS_MAX || (pg->shards & (pg->shards - 1)) ||
      pg->pos >= pg->shards || (!pg->mid && pg->after) || (pg->shards >> (b[1] >> 1)) == 0)
    return -EINVAL;
  pg->low = pg->shards >> (b[1] >> 1);
  return 0;
}

static void on_resolved(void *ctx, int err, const dr_resolution *res) {
  dr_rpc_call *call = ctx;
  if (err < 0) {
    dr_rpc_fail_node(call, err, NULL);
    return;
  }
  /* written as text from each entry's cached rendering: a cached resolve
   * is otherwise mostly building and dumping JSON */
  dr_text t = {0};
  int r = dr_text_add(&t, "{\"resource\":", 12);
  if (r == 0) r = res->resource ? dr_rpc_entry_json(call, res->resource, &t) : dr_text_add(&t, "null", 4);
  if (r == 0) r = dr_text_add(&t, ",\"records\":[", 12);
  for (size_t i = 0; r == 0 && i < res->n_records; i++) {
    if (i) r = dr_text_add(&t, ",", 1);
    if (r == 0) r = dr_rpc_entry_json(call, res->records[i], &t);
  }
  if (r == 0) r = dr_text_add(&t, "],\"next_cursor\":", 16);
  if (r == 0 && res->more) {
    char cur[CURSOR_TEXT + 2] = "\"";
    cursor_encode(&res->next, cur + 1);
    strcat(cur, "\"");
    r = dr_text_add(&t, cur, strlen(cur));
  } else if (r == 0) {
    r = dr_text_add(&t, "null", 4);
  }
  if (r == 0) r = dr_text_add(&t, "}", 1);
  if (r < 0) dr_rpc_fail_node(call, r, NULL);
  else dr_rpc_reply_text(call, t.p, t.len);
  free(t.p);
}

/* The client of a resolve (or resource.get, discover) went away: the lookup is dropped. */
static void resolve_abandoned(dr_rpc_call *call, void *arg) {
  dr_node_resolve_cancel(dr_rpc_call_node(call), arg);
  dr_rpc_fail(call, DR_RPC_INTERNAL, "the client went away");
}

/* Ends a call whose resolve could not start, or ties the resolve to it. */
static void resolve_started(dr_rpc_call *call, int err, dr_resolve *r) {
  if (err < 0) dr_rpc_fail_node(call, err, NULL);
  else if (r) dr_rpc_call_on_close(call, resolve_abandoned, r);
}

static void m_resolve(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  uint64_t limit = DR_RESOLVE_LIMIT_DEFAULT;
  const char *cursor = NULL;
  dr_resolve_page from = {0};
  dr_resolve *r;
  dr_include include;
  ONLY("resource_id", "limit", "cursor", "include");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0 ||
      dr_param_uint(call, params, "limit", 1, DR_RESOLVE_LIMIT_MAX, &limit, NULL) < 0 ||
      dr_param_string(call, params, "cursor", false, &cursor) < 0 || dr_param_include(call, params, &include) < 0)
    return;
  if (cursor && cursor_decode(cursor, &from) < 0) {
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param cursor: not a cursor this node gave");
    return;
  }
  int err = dr_node_resolve_with(dr_rpc_call_node(call), rid, (size_t)limit, cursor ? &from : NULL, include,
                                 on_resolved, call, &r);
  resolve_started(call, err, r);
}

static void on_discovered(void *ctx, int err, const dr_resolution *res) {
  dr_rpc_call *call = ctx;
  if (err < 0) dr_rpc_fail_node(call, err, NULL);
  else if (!res->n_records) dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: no live record of that kind (critical ones: include all)");
  else dr_rpc_reply(call, dr_json_record(res->records[0]));
}

static void m_discover(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  const char *type = NULL;
  dr_resolve *r;
  dr_include include;
  ONLY("resource_id", "type", "include");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0 ||
      dr_param_string(call, params, "type", false, &type) < 0 || dr_param_include(call, params, &include) < 0)
    return;
  /* one record chosen uniformly among the live (passing) ones: load spreads over the providers */
  int err = dr_node_discover_with(dr_rpc_call_node(call), rid, type, include, on_discovered, call, &r);
  resolve_started(call, err, r);
}

static void on_resource_got(void *ctx, int err, const dr_resolution *res) {
  dr_rpc_call *call = ctx;
  if (err < 0) dr_rpc_fail_node(call, err, NULL);
  else if (!res->resource) dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: no such resource");
  else dr_rpc_reply(call, dr_json_resource(res->resource));
}

static void m_resource_get(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  dr_resolve *r;
  ONLY("resource_id");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0) return;
  int err = dr_node_resource_get(dr_rpc_call_node(call), rid, on_resource_got, call, &r);
  resolve_started(call, err, r);
}

static void m_list(dr_rpc_call *call, json_t *params) {
  const dr_entry **res;
  dr_own_ad_view *ads;
  if (dr_param_only(call, params, (const char *const[]){NULL}) < 0) return;
  dr_node *node = dr_rpc_call_node(call);
  size_t n_res = dr_node_own_resources(node, &res);
  size_t n_ads = dr_node_own_ads(node, &ads);
  json_t *jres = json_array(), *jads = json_array();
  for (size_t i = 0; i < n_res; i++) json_array_append_new(jres, dr_json_resource(res[i]));
  for (size_t i = 0; i < n_ads; i++) {
    json_t *r = dr_json_record(ads[i].record);
    json_object_set_new(r, "ttl", json_integer(ads[i].ttl));
    json_object_set_new(r, "lease", json_boolean(ads[i].lease));
    if (ads[i].check) json_object_set_new(r, "check", dr_json_check(ads[i].check, &ads[i].status));
    json_array_append_new(jads, r);
  }
  free(res);
  free(ads);
  dr_rpc_reply(call, json_pack("{s:o, s:o}", "resources", jres, "records", jads));
}

/* ---- watch and pin ------------------------------------------------------------ */

static void m_watch(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  uint64_t sub;
  ONLY("resource_id");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0) return;
  dr_node *node = dr_rpc_call_node(call);
  int r = dr_rpc_conn_watch(call, rid, &sub);
  if (r == -EMLINK) {
    DR_WARN(dr_node_logger(node), "rpc: a watch refused: a connection has %d watches already",
            DR_RPC_MAX_WATCHES_PER_CONN);
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: at most %d watches per connection",
                DR_RPC_MAX_WATCHES_PER_CONN);
    return;
  }
  if (r == -EDQUOT) {
    dr_node_info info;
    dr_node_get_info(node, &info);
    DR_WARN(dr_node_logger(node), "rpc: a watch refused: the node has %zu watches already "
            "(--max-watches)", info.watches);
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: this node serves at most %zu watches "
                "(--max-watches)", info.watches);
    return;
  }
  if (r < 0) {
    dr_rpc_fail_node(call, r, NULL);
    return;
  }
  dr_rpc_reply(call, json_pack("{s:I}", "subscription", (json_int_t)sub));
  /* then what is live already, as register events, once the answer is out */
  dr_node_watch_replay(node, sub);
}

static void m_unwatch(dr_rpc_call *call, json_t *params) {
  uint64_t sub;
  ONLY("subscription");
  if (dr_param_uint(call, params, "subscription", 1, UINT64_MAX >> 1, &sub, NULL) < 0) return;
  int r = dr_rpc_conn_unwatch(call, sub);
  if (r == DR_ENOTFOUND) dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: no subscription %llu on this connection",
                                     (unsigned long long)sub);
  else if (r < 0) dr_rpc_fail_node(call, r, NULL);
  else dr_rpc_reply(call, json_pack("{s:b}", "ok", 1));
}

static void m_pin(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  ONLY("resource_id");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0) return;
  int r = dr_node_pin(dr_rpc_call_node(call), rid);
  if (r < 0) dr_rpc_fail_node(call, r, NULL);
  else dr_rpc_reply(call, json_pack("{s:b}", "ok", 1));
}

static void m_unpin(dr_rpc_call *call, json_t *params) {
  uint8_t rid[DR_ID_LEN];
  ONLY("resource_id");
  if (dr_param_id(call, params, "resource_id", true, rid, NULL) < 0) return;
  int r = dr_node_unpin(dr_rpc_call_node(call), rid);
  if (r == DR_ENOTFOUND) dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found: this node does not pin that resource");
  else if (r < 0) dr_rpc_fail_node(call, r, NULL);
  else dr_rpc_reply(call, json_pack("{s:b}", "ok", 1));
}

static const struct {
  const char *name;
  dr_rpc_method_fn fn;
} methods[] = {
    {"health", m_health},
    {"node.info", m_node_info},
    {"node.bootstrap", m_node_bootstrap},
    {"resource.id", m_resource_id},
    {"resource.create", m_resource_create},
    {"resource.get", m_resource_get},
    {"record.advertise", m_record_advertise},
    {"record.withdraw", m_record_withdraw},
    {"record.renew", m_record_renew},
    {"discover", m_discover},
    {"resolve", m_resolve},
    {"list", m_list},
    {"watch", m_watch},
    {"unwatch", m_unwatch},
    {"resource.pin", m_pin},
    {"resource.unpin", m_unpin},
};

_Static_assert(sizeof methods / sizeof methods[0] == DR_RPC_N_METHODS, "DR_RPC_N_METHODS");

int dr_rpc_find_method(const char *name, dr_rpc_method_fn *fn) {
  for (int i = 0; i < DR_RPC_N_METHODS; i++)
    if (strcmp(methods[i].name, name) == 0) {
      *fn = methods[i].fn;
      return i;
    }
  return -1;
}

const char *dr_rpc_method_name(int i) {
  return i >= 0 && i < DR_RPC_N_METHODS ? methods[i].name : NULL;
}
