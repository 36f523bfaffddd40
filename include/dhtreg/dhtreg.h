/* dhtreg.h - libdhtreg: a C client of a dhtreg node (dhtregd) over its JSON-RPC Unix socket (blocking API)
 *
 * A program advertises what it offers and resolves what it needs through
 * the node on its machine. Every function here blocks the calling thread
 * (at most the connection's timeout); the libuv API of the same calls is in
 * dhtreg/dhtreg_uv.h. A connection may be used by one thread at a time.
 *
 * Errors: functions return 0 or a negative code: the node's JSON-RPC codes
 * (DHTREG_E* below; dhtreg_errmsg has the node's message, which names the
 * param at fault), or a negative errno for the transport: -ENOENT or
 * -ECONNREFUSED (no node at the socket), -EACCES (not allowed to use it),
 * -ETIMEDOUT (no answer within the timeout), -EPROTO (not a node's answer),
 * -EPIPE (the node closed the connection), -ENOMEM, -EINVAL (a bad argument).
 *
 * Results that hold strings (records, events) point into memory the result
 * owns: free it with its _free function; nothing else needs freeing.
 */
#ifndef DHTREG_H
#define DHTREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DHTREG_ID_MAX 48 /* a base58 id (at most 44 characters) and its NUL */

#define DHTREG_EINVALID (-32602)   /* invalid params: the message names the param */
#define DHTREG_EINTERNAL (-32603)  /* the node could not do it (its state could not be written...) */
#define DHTREG_ENOTFOUND (-32004)  /* no such resource, record, or none to discover */
#define DHTREG_ETIMEOUT (-32010)   /* the DHT did not answer in time */
#define DHTREG_EFORBIDDEN (-32011) /* the resource's policy forbids it */
#define DHTREG_ELIMIT (-32012)     /* a limit was exceeded: the message names it */

/* A short text of any code these functions return. */
const char *dhtreg_strerror(int err);

/* ---- connections ---------------------------------------------------------- */

typedef struct dhtreg dhtreg;

/* The socket a client uses when given none: $DHTREG_SOCKET, else
 * $DHTREG_HOME/rpc.sock, else ~/.dhtreg/rpc.sock. Writes it to out. */
int dhtreg_default_socket(char *out, size_t len);

/* Connects to the node at socket_path (NULL: dhtreg_default_socket).
 * Returns 0 with *out set, or a negative code (*out is still set when it
 * is not NULL: dhtreg_errmsg says why; dhtreg_close it). */
int dhtreg_connect(dhtreg **out, const char *socket_path);
void dhtreg_close(dhtreg *c);
/* How long a call waits for its answer (default 30 000 ms; <= 0: forever). */
void dhtreg_set_timeout(dhtreg *c, int timeout_ms);
/* The message of the last error on c ("" after a success). */
const char *dhtreg_errmsg(const dhtreg *c);
const char *dhtreg_socket_path(const dhtreg *c);

/* Any method, raw: params a JSON object text (NULL: {}); *result_json
 * (the caller frees it) the result's JSON text. */
int dhtreg_call(dhtreg *c, const char *method, const char *params_json, char **result_json);

/* ---- the node ------------------------------------------------------------- */

#define DHTREG_WARNINGS_MAX 4
typedef struct dhtreg_health {
  bool ready; /* it should get traffic: joined, writes its state, its clock agrees */
  size_t n_warnings;
  char warnings[DHTREG_WARNINGS_MAX][256]; /* why it is not */
} dhtreg_health;

int dhtreg_get_health(dhtreg *c, dhtreg_health *out);
/* The node's peer id: the owner of the resources it creates. */
int dhtreg_peer_id(dhtreg *c, char out[DHTREG_ID_MAX]);

/* node.info's main fields (dhtreg_call "node.info" has every counter). */
typedef struct dhtreg_node_info {
  char peer_id[DHTREG_ID_MAX];
  char version[32];
  uint16_t port;
  uint32_t network;
  uint64_t uptime_s;
  bool connected, ready, private_network;
  unsigned peers;
  size_t advertised; /* its live advertisements */
} dhtreg_node_info;
int dhtreg_node_info_get(dhtreg *c, dhtreg_node_info *out);
/* Joins the network through more nodes ("host:port"). */
int dhtreg_bootstrap(dhtreg *c, const char *const *addresses, size_t n);

/* ---- ids and names ---------------------------------------------------------- */

/* The id of the resource `label` of that owner (a peer id), computed here
 * (docs/PROTOCOL.md): no node needed. -EINVAL for a bad owner or label. */
int dhtreg_resource_id(const char *owner, const char *label, char out[DHTREG_ID_MAX]);

/* A resource id from what a person writes: a resource id as is;
 * "label@owner", the owner a peer id or an alias of a names file
 * ($DHTREG_NAMES, ~/.dhtreg/names, /etc/dhtreg/names: lines
 * "alias = <peer id>"); or "label" alone, a resource of the node c is
 * connected to (c may be NULL otherwise). -EINVAL / DHTREG_ENOTFOUND (an
 * unknown alias) with the reason in err. */
int dhtreg_name_to_id(dhtreg *c, const char *name, char out[DHTREG_ID_MAX], char *err, size_t errlen);

/* ---- records ---------------------------------------------------------------- */

typedef struct dhtreg_meta {
  const char *key, *value;
} dhtreg_meta;

typedef struct dhtreg_record {
  const char *resource_id, *service_id, *peer_id;
  const char *host; /* "" when the record has none */
  uint16_t port;    /* 0 when none */
  const char *const *addresses;
  size_t n_addresses;
  const char *type; /* "" when none */
  const char *const *tags;
  size_t n_tags;
  const dhtreg_meta *metadata;
  size_t n_metadata;
  uint64_t seq, issued_at, expires_at; /* expires_at: Unix seconds */
  const char *health; /* "passing", or "critical" (its issuer's check fails; resolve include "all") */
} dhtreg_record;

/* A page of a resolve, or a discovered record (n == 1). */
typedef struct dhtreg_records {
  dhtreg_record *records;
  size_t n;
  bool has_resource;       /* the resource's entry was found */
  const char *next_cursor; /* where the next page starts; NULL: this is the last */
  void *priv_;
} dhtreg_records;
void dhtreg_records_free(dhtreg_records *r);

typedef struct dhtreg_resource_opts {
  const char *policy;       /* "open" (default) or "owner" */
  const char *const *allow; /* peers allowed to advertise under "owner" */
  size_t n_allow;
  uint32_t shards;          /* 0: keep / 1 */
} dhtreg_resource_opts;

/* Creates (or returns) the node's resource of that label. rid (may be NULL)
 * gets its id; *published (may be NULL): whether a DHT node confirmed it. */
int dhtreg_resource_create(dhtreg *c, const char *label, const dhtreg_resource_opts *opts,
                           char rid[DHTREG_ID_MAX], bool *published);

/* A resource's signed entry. */
typedef struct dhtreg_resource {
  char resource_id[DHTREG_ID_MAX], owner[DHTREG_ID_MAX];
  char label[129];
  char policy[8]; /* "open" or "owner" */
  uint64_t created_at, seq;
  uint32_t shards;
  size_t n_allow; /* peers on the allow-list (dhtreg_call "resource.get" lists them) */
} dhtreg_resource;
/* DHTREG_ENOTFOUND when the DHT holds no entry of that resource. */
int dhtreg_resource_get(dhtreg *c, const char *resource_id, dhtreg_resource *out);
/* The node keeps the resource's entries replicated, whoever issued them. */
int dhtreg_pin(dhtreg *c, const char *resource_id);
int dhtreg_unpin(dhtreg *c, const char *resource_id);

/* A health check the node runs while it advertises the record: exactly
 * one of tcp ("HOST:PORT": a connect), http ("http://HOST[:PORT][/PATH]":
 * a GET, 2xx passes) or exec (argv, NULL-terminated: exit 0 passes). Zero
 * numbers take the node's defaults (interval 10 s, timeout 5 s, failures
 * 3, passes 2). docs/API.md, record.advertise. */
typedef struct dhtreg_check {
  const char *tcp, *http;
  const char *const *exec;
  uint32_t interval, timeout, failures, passes;
} dhtreg_check;

/* What to advertise: only resource_id and service_id are required. */
typedef struct dhtreg_ad {
  const char *resource_id, *service_id;
  const char *host;
  uint16_t port;
  const char *const *addresses;
  size_t n_addresses;
  const char *type;
  const char *const *tags;
  size_t n_tags;
  const dhtreg_meta *metadata;
  size_t n_metadata;
  uint32_t ttl; /* 0: the node's default (300 s) */
  bool lease;   /* the record lives only while renewed (dhtreg_renew, or a heartbeat) */
  const struct dhtreg_check *check; /* a health check the node runs, or NULL */
} dhtreg_ad;

typedef struct dhtreg_published {
  uint64_t seq, expires_at;
  bool published; /* a DHT node confirmed it; the node keeps trying when not */
} dhtreg_published;

int dhtreg_advertise(dhtreg *c, const dhtreg_ad *ad, dhtreg_published *out);
int dhtreg_renew(dhtreg *c, const char *resource_id, const char *service_id, dhtreg_published *out);
int dhtreg_withdraw(dhtreg *c, const char *resource_id, const char *service_id, bool *published);

typedef struct dhtreg_resolve_opts {
  unsigned limit;     /* 1-1000; 0: 100 */
  const char *cursor; /* a previous page's next_cursor, or NULL */
  bool include_all;   /* critical records too (their checks fail); else passing ones only */
} dhtreg_resolve_opts;

/* A page of the resource's live, verified records. An unknown resource is
 * 0 with has_resource false and no records. */
int dhtreg_resolve(dhtreg *c, const char *resource_id, const dhtreg_resolve_opts *opts,
                   dhtreg_records *out);
/* One live record (of that type unless NULL) chosen at random, so that
 * clients spread their load; DHTREG_ENOTFOUND when there is none. */
int dhtreg_discover(dhtreg *c, const char *resource_id, const char *type, dhtreg_records *out);
/* This node's own live advertisements, as records. */
int dhtreg_list(dhtreg *c, dhtreg_records *out);

/* ---- watch ------------------------------------------------------------------- */

typedef enum dhtreg_event_type {
  DHTREG_EVENT_REGISTER,   /* a record appeared or its content changed */
  DHTREG_EVENT_DEREGISTER, /* its issuer withdrew it */
  DHTREG_EVENT_EXPIRE,     /* it expired without a renewal */
  DHTREG_EVENT_CRITICAL,   /* its issuer's health check failed: its health is now "critical" */
  DHTREG_EVENT_PASSING,    /* its health check passes again: "passing" */
} dhtreg_event_type;

typedef struct dhtreg_event {
  dhtreg_event_type type;
  dhtreg_record record;
  void *priv_;
} dhtreg_event;
void dhtreg_event_free(dhtreg_event *ev);

/* A watch has a connection of its own. The records live already come
 * first, as register events. */
typedef struct dhtreg_watch dhtreg_watch;
int dhtreg_watch_open(dhtreg_watch **out, const char *socket_path, const char *resource_id);
/* The next event within timeout_ms (< 0: forever): 0, -ETIMEDOUT when none
 * came, or another code when the watch ended (the node stopped: open a
 * new one). */
int dhtreg_watch_next(dhtreg_watch *w, dhtreg_event *ev, int timeout_ms);
/* Its descriptor, readable when an event may be there (for poll). */
int dhtreg_watch_fd(const dhtreg_watch *w);
void dhtreg_watch_close(dhtreg_watch *w);

/* ---- a lease kept alive ------------------------------------------------------------ */

/* A heartbeat advertises ad as a lease and renews it every ttl/3 on a
 * thread of its own (its own connection), until stopped: when the node
 * restarted (the lease is gone) or the connection broke, it connects again
 * (every second) and advertises again. If the process dies, the record
 * expires at its TTL. cb (may be NULL; on the heartbeat's thread) hears of
 * each change: err 0 and "advertised"/"renewed", or the error. */
typedef struct dhtreg_heartbeat dhtreg_heartbeat;
typedef void (*dhtreg_heartbeat_cb)(void *ud, int err, const char *what);
int dhtreg_heartbeat_start(dhtreg_heartbeat **out, const char *socket_path, const dhtreg_ad *ad,
                           dhtreg_heartbeat_cb cb, void *ud);
/* Stops renewing; withdraw: withdraws the record too (else it expires at
 * its TTL). Waits for the thread; frees hb. */
void dhtreg_heartbeat_stop(dhtreg_heartbeat *hb, bool withdraw);

#ifdef __cplusplus
}
#endif
#endif
