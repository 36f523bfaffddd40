/* client_json.c - libdhtreg: its types to and from the node's JSON, and the codes of its errors */
#include "api/client_private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dhtreg_strerror(int err) {
  switch (err) {
  case 0: return "ok";
  case DHTREG_EINVALID: return "invalid params";
  case DHTREG_EINTERNAL: return "the node could not do it";
  case DHTREG_ENOTFOUND: return "not found";
  case DHTREG_ETIMEOUT: return "the DHT did not answer in time";
  case DHTREG_EFORBIDDEN: return "forbidden by the resource's policy";
  case DHTREG_ELIMIT: return "limit exceeded";
  case -32700: return "parse error";
  case -32600: return "invalid request";
  case -32601: return "method not found";
  case -ENOENT:
  case -ECONNREFUSED: return "no node at the socket: is dhtregd running?";
  case -ETIMEDOUT: return "no answer from the node in time";
  case -EPROTO: return "not an answer of a dhtreg node";
  case -EPIPE: return "the node closed the connection";
  }
  return err < 0 && err > -4096 ? strerror(-err) : "error";
}

/* one per thread: a failed dhtreg_connect has no connection to hold its message */
static _Thread_local char last_error[512];

int dr__last_error_set(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return err;
}

int dr__socket_or_default(const char **path, char *def, size_t cap) {
  if (*path) return 0;
  if (dhtreg_default_socket(def, cap) < 0)
    return dr__last_error_set(-ENAMETOOLONG, "socket path too long ($DHTREG_SOCKET, $DHTREG_HOME or $HOME)");
  *path = def;
  return 0;
}

void dr__last_error_clear(void) {
  last_error[0] = '\0';
}

const char *dr__last_error(void) {
  return last_error;
}

static json_t *strings(const char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    if (json_array_append_new(a, json_string(v[i] ? v[i] : "")) < 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

json_t *dr__ad_json(const dhtreg_ad *ad) {
  if (!ad || !ad->resource_id || !ad->service_id) return NULL;
  json_t *p = json_pack("{s:s, s:s, s:b}", "resource_id", ad->resource_id, "service_id", ad->service_id,
                        "lease", ad->lease);
  if (!p) return NULL;
  if (ad->host) json_object_set_new(p, "host", json_string(ad->host));
  if (ad->port) json_object_set_new(p, "port", json_integer(ad->port));
  if (ad->n_addresses) json_object_set_new(p, "addresses", strings(ad->addresses, ad->n_addresses));
  if (ad->type) json_object_set_new(p, "type", json_string(ad->type));
  if (ad->n_tags) json_object_set_new(p, "tags", strings(ad->tags, ad->n_tags));
  if (ad->n_metadata) {
    json_t *m = json_object();
    for (size_t i = 0; i < ad->n_metadata; i++)
      if (ad->metadata[i].key) json_object_set_new(m, ad->metadata[i].key, json_string(ad->metadata[i].value ? ad->metadata[i].value : ""));
    json_object_set_new(p, "metadata", m);
  }
  if (ad->ttl) json_object_set_new(p, "ttl", json_integer(ad->ttl));
  if (ad->check) {
    const dhtreg_check *k = ad->check;
    json_t *c = json_object();
    if (k->tcp) json_object_set_new(c, "tcp", json_string(k->tcp));
    if (k->http) json_object_set_new(c, "http", json_string(k->http));
    if (k->exec) {
      size_t n = 0;
      while (k->exec[n]) n++;
      json_object_set_new(c, "exec", strings(k->exec, n));
    }
    const char *names[] = {"interval", "timeout", "failures", "passes"};
    const uint32_t vals[] = {k->interval, k->timeout, k->failures, k->passes};
    for (int i = 0; i < 4; i++)
      if (vals[i]) json_object_set_new(c, names[i], json_integer(vals[i]));
    json_object_set_new(p, "check", c);
  }
  return p;
}

json_t *dr__create_params(const char *label, const dhtreg_resource_opts *o) {
  json_t *p = json_pack("{s:s}", "label", label ? label : "");
  if (!p || !o) return p;
  /* each member only when given: the node keeps what is left out */
  if ((o->policy && json_object_set_new(p, "policy", json_string(o->policy)) < 0) ||
      (o->allow && json_object_set_new(p, "allow", strings(o->allow, o->n_allow)) < 0) ||
      (o->shards && json_object_set_new(p, "shards", json_integer(o->shards)) < 0)) {
    json_decref(p);
    return NULL;
  }
  return p;
}

static const char *str(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static uint64_t num(json_t *o, const char *key) {
  json_int_t v = json_integer_value(json_object_get(o, key));
  return v > 0 ? (uint64_t)v : 0;
}

/* The string members of a JSON array, in an array the record owns. */
static const char *const *str_array(json_t *a, size_t *n) {
  *n = 0;
  size_t size = json_array_size(a);
  if (!size) return NULL;
  const char **v = calloc(size, sizeof *v);
  if (!v) return NULL;
  for (size_t i = 0; i < size; i++) {
    const char *s = json_string_value(json_array_get(a, i));
    if (s) v[(*n)++] = s;
  }
  return v;
}

static void record_clear(dhtreg_record *r) {
  free((void *)r->addresses);
  free((void *)r->tags);
  free((void *)r->metadata);
}

/* r's strings point into rec, which the caller keeps alive. */
static int record_from_json(json_t *rec, dhtreg_record *r) {
  memset(r, 0, sizeof *r);
  if (!json_is_object(rec)) return -EPROTO;
  r->resource_id = str(rec, "resource_id");
  r->service_id = str(rec, "service_id");
  r->peer_id = str(rec, "peer_id");
  r->host = str(rec, "host");
  r->port = (uint16_t)num(rec, "port");
  r->type = str(rec, "type");
  r->health = str(rec, "health");
  r->seq = num(rec, "seq");
  r->issued_at = num(rec, "issued_at");
  r->expires_at = num(rec, "expires_at");
  r->addresses = str_array(json_object_get(rec, "addresses"), &r->n_addresses);
  r->tags = str_array(json_object_get(rec, "tags"), &r->n_tags);
  json_t *meta = json_object_get(rec, "metadata");
  size_t nm = json_object_size(meta);
  if (nm) {
    dhtreg_meta *m = calloc(nm, sizeof *m);
    const char *k;
    json_t *v;
    if (m) {
      json_object_foreach(meta, k, v) {
        if (!json_is_string(v)) continue;
        m[r->n_metadata].key = k;
        m[r->n_metadata++].value = json_string_value(v);
      }
    }
    r->metadata = m;
  }
  return 0;
}

int dr__records_from_json(json_t *result, bool one, dhtreg_records *out) {
  memset(out, 0, sizeof *out);
  json_t *recs = one ? NULL : json_object_get(result, "records");
  if (!json_is_object(result) || (!one && !json_is_array(recs))) return -EPROTO;
  size_t n = one ? 1 : json_array_size(recs);
  out->records = n ? calloc(n, sizeof *out->records) : NULL;
  if (n && !out->records) return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (record_from_json(one ? result : json_array_get(recs, i), &out->records[out->n++]) < 0) {
      out->priv_ = json_incref(result);
      dhtreg_records_free(out);
      return -EPROTO;
    }
  out->has_resource = one || json_is_object(json_object_get(result, "resource"));
  out->next_cursor = json_string_value(json_object_get(result, "next_cursor"));
  out->priv_ = json_incref(result);
  return 0;
}

void dhtreg_records_free(dhtreg_records *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) record_clear(&r->records[i]);
  free(r->records);
  json_decref(r->priv_);
  memset(r, 0, sizeof *r);
}

int dr__event_from_json(json_t *params, dhtreg_event *ev) {
  memset(ev, 0, sizeof *ev);
  const char *type = json_string_value(json_object_get(params, "type"));
  if (!type) return -EPROTO;
  if (strcmp(type, "register") == 0) ev->type = DHTREG_EVENT_REGISTER;
  else if (strcmp(type, "deregister") == 0) ev->type = DHTREG_EVENT_DEREGISTER;
  else if (strcmp(type, "expire") == 0) ev->type = DHTREG_EVENT_EXPIRE;
  else if (strcmp(type, "critical") == 0) ev->type = DHTREG_EVENT_CRITICAL;
  else if (strcmp(type, "passing") == 0) ev->type = DHTREG_EVENT_PASSING;
  else return -EPROTO;
  if (record_from_json(json_object_get(params, "record"), &ev->record) < 0) return -EPROTO;
  ev->priv_ = json_incref(params);
  return 0;
}

void dhtreg_event_free(dhtreg_event *ev) {
  if (!ev || !ev->priv_) return;
  record_clear(&ev->record);
  json_decref(ev->priv_);
  memset(ev, 0, sizeof *ev);
}

void dr__published_from_json(json_t *result, dhtreg_published *out) {
  memset(out, 0, sizeof *out);
  out->seq = num(result, "seq");
  out->expires_at = num(result, "expires_at");
  out->published = json_is_true(json_object_get(result, "published"));
}

int dr__response_error(json_t *resp, char *msg, size_t msglen) {
  json_t *err = json_object_get(resp, "error");
  if (msg && msglen) msg[0] = '\0';
  if (err) {
    json_int_t code = json_integer_value(json_object_get(err, "code"));
    const char *m = json_string_value(json_object_get(err, "message"));
    if (msg && msglen) snprintf(msg, msglen, "%s", m ? m : dhtreg_strerror((int)code));
    return code < 0 && code > -100000 ? (int)code : -EPROTO;
  }
  if (!json_object_get(resp, "result")) {
    if (msg && msglen) snprintf(msg, msglen, "%s", dhtreg_strerror(-EPROTO));
    return -EPROTO;
  }
  return 0;
}

char *dr__request_line(long long id, const char *method, json_t *params, size_t *len) {
  json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method,
                          "params", params ? params : json_object());
  char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  if (!text) return NULL;
  size_t n = strlen(text);
  char *line = realloc(text, n + 2);
  if (!line) {
    free(text);
    return NULL;
  }
  line[n] = '\n';
  line[n + 1] = '\0';
  *len = n + 1;
  return line;
}

json_t *dr__params(const char *params_json) {
  if (!params_json) return json_object();
  json_t *p = json_loads(params_json, 0, NULL);
  if (p && !json_is_object(p)) {
    json_decref(p);
    return NULL;
  }
  return p;
}
