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
 * -EPIPE (the node closed the connection), -ENOMEM, -EINVAL (a bad argument,
 * or a NULL connection: one whose dhtreg_connect failed).
 *
 * A failed call leaves its result empty: every out-argument is cleared when
 * the call starts (zeroed structs and records, "" strings, NULL pointers,
 * false flags), so it is safe to read and to free whatever the call
 * returns. The message of a failure is dhtreg_errmsg(c) for a call on a
 * connection c, and dhtreg_errmsg(NULL) for the calls that have no
 * connection to keep it (dhtreg_connect, dhtreg_watch_open,
 * dhtreg_heartbeat_start and their libuv kin): as errno, one per thread.
 *
 * Memory: arguments are only read during the call (strings and structs are
 * copied where the library keeps them: a heartbeat keeps a copy of its ad),
 * so the caller may free or reuse them once it returns. Results that hold
 * strings (records, events) point into memory the result owns: free it with
 * its _free function; nothing else needs freeing.
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

/* A short text of any code these functions return (static: never freed). */
const char *dhtreg_strerror(int err);

/* ---- connections ---------------------------------------------------------- */

typedef struct dhtreg dhtreg;

/* The socket a client uses when given none: $DHTREG_SOCKET, else
 * $DHTREG_HOME/rpc.sock, else ~/.dhtreg/rpc.sock. Writes it to out (len
 * bytes); -ENAMETOOLONG (out "") when it does not fit. */
int dhtreg_default_socket(char *out, size_t len);

/* Connects to the node at socket_path (NULL: dhtreg_default_socket; the
 * path is copied). Returns 0 with *out a new connection (the caller's:
 * dhtreg_close it), or a negative code with *out NULL and the reason in
 * dhtreg_errmsg(NULL):
 *
 *     dhtreg *c;
 *     if (dhtreg_connect(&c, NULL) < 0)
 *       fprintf(stderr, "%s\n", dhtreg_errmsg(NULL));  // "no node at ...: is dhtregd running?"
 */
int dhtreg_connect(dhtreg **out, const char *socket_path);
/* Closes c and frees it (NULL: nothing). */
void dhtreg_close(dhtreg *c);
/* How long a call waits for its answer (default 30 000 ms; <= 0: forever). */
void dhtreg_set_timeout(dhtreg *c, int timeout_ms);
/* The message of the last error on c ("" after a success); valid until the
 * next call on c. With c NULL: the message of this thread's last failed
 * dhtreg_connect, dhtreg_watch_open, dhtreg_heartbeat_start, dhtreg_uv_open
 * or dhtreg_uv_heartbeat_start ("" after a success of one), valid until the
 * next of them on this thread. Never NULL; never to be freed. */
const char *dhtreg_errmsg(const dhtreg *c);
/* The socket c was opened on; valid while c is. */
const char *dhtreg_socket_path(const dhtreg *c);

/* Any method, raw: params a JSON object text (NULL: {}); *result_json the
 * result's JSON text, malloc'd: the caller frees it with free() (NULL on
 * failure). */
int dhtreg_call(dhtreg *c, const char *method, const char *params_json, char **result_json);

/* ---- the node ------------------------------------------------------------- */

#define DHTREG_WARNINGS_MAX 4
typedef struct dhtreg_health {
  bool ready; /* it should get traffic: joined, writes its state, its clock agrees */
  size_t n_warnings;
  char warnings[DHTREG_WARNINGS_MAX][256]; /* why it is not */
} dhtreg_health;

int dhtreg_get_health(dhtreg *c, dhtreg_health *out);
/* The node's peer id: the owner of the resources it creates ("" on failure). */
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
/* Joins the network through more nodes (n "host:port" strings). */
int dhtreg_bootstrap(dhtreg *c, const char *const *addresses, size_t n);

/* ---- ids and names ---------------------------------------------------------- */

/* The id of the resource `label` of that owner (a peer id), computed here
 * (docs/PROTOCOL.md): no node needed. -EINVAL (out "") for a bad owner or
 * label. */
int dhtreg_resource_id(const char *owner, const char *label, char out[DHTREG_ID_MAX]);

/* A resource id from what a person writes: a resource id as is;
 * "label@owner", the owner a peer id or an alias of a names file
 * ($DHTREG_NAMES, ~/.dhtreg/names, /etc/dhtreg/names: lines
 * "alias = <peer id>"); or "label" alone, a resource of the node c is
 * connected to (c may be NULL otherwise). -EINVAL / DHTREG_ENOTFOUND (an
 * unknown alias) with out "" and the reason in err (errlen bytes; err may
 * be NULL). */
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

/* A page of a resolve, or a discovered record (n == 1). The calls that
 * fill one clear it first: after a failure it is empty (n 0, records
 * NULL), and dhtreg_records_free may be called on it either way. */
typedef struct dhtreg_records {
  dhtreg_record *records;
  size_t n;
  bool has_resource;       /* the resource's entry was found */
  const char *next_cursor; /* where the next page starts; NULL: this is the last */
  void *priv_;
} dhtreg_records;
/* Frees what r holds (its records and their strings) and empties it; r
 * itself is the caller's. Safe on an emptied r, and twice. */
void dhtreg_records_free(dhtreg_records *r);

/* What a create sets. A member left zero is not given: a new resource
 * takes its default, an existing one keeps its current value. */
typedef struct dhtreg_resource_opts {
  const char *policy;       /* "open" or "owner"; NULL: keep (new: "open") */
  const char *const *allow; /* the peers allowed to advertise under "owner" (peer ids): the
                             * allow-list becomes these n_allow (0: none); NULL: keep (new: none) */
  size_t n_allow;
  uint32_t shards;          /* a power of two up to 4096; 0: keep (new: 1) */
} dhtreg_resource_opts;

/* Creates the node's resource of that label, or changes what opts (may be
 * NULL: nothing) gives of it; a create that changes nothing re-signs
 * nothing. Setting the policy to "open" drops the allow-list. rid (may be
 * NULL) gets its id; *published (may be NULL): whether a DHT node
 * confirmed it. */
int dhtreg_resource_create(dhtreg *c, const char *label, const dhtreg_resource_opts *opts,
                           char rid[DHTREG_ID_MAX], bool *published);

/* A resource's signed entry (zeroed on failure). */
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

/* What to advertise: only resource_id and service_id are required. The
 * calls taking one read it (and what it points to) during the call only. */
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

/* out (may be NULL) is zeroed on failure. */
int dhtreg_advertise(dhtreg *c, const dhtreg_ad *ad, dhtreg_published *out);
int dhtreg_renew(dhtreg *c, const char *resource_id, const char *service_id, dhtreg_published *out);
/* *published (may be NULL) is false on failure. */
int dhtreg_withdraw(dhtreg *c, const char *resource_id, const char *service_id, bool *published);

typedef struct dhtreg_resolve_opts {
  unsigned limit;     /* 1-1000; 0: 100 */
  const char *cursor; /* a previous page's next_cursor, or NULL */
  bool include_all;   /* critical records too (their checks fail); else passing ones only */
} dhtreg_resolve_opts;

/* A page of the resource's live, verified records into *out (free it with
 * dhtreg_records_free, after a failure too). An unknown resource is 0 with
 * has_resource false and no records. opts (may be NULL) and its cursor are
 * read during the call only. */
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
/* Frees what ev holds and empties it (safe on an emptied ev). */
void dhtreg_event_free(dhtreg_event *ev);

/* A watch has a connection of its own. The records live already come
 * first, as register events. 0 with *out a new watch (the caller's:
 * dhtreg_watch_close it), or a code with *out NULL and the reason in
 * dhtreg_errmsg(NULL). socket_path and resource_id are read during the call
 * only. */
typedef struct dhtreg_watch dhtreg_watch;
int dhtreg_watch_open(dhtreg_watch **out, const char *socket_path, const char *resource_id);
/* The next event within timeout_ms (< 0: forever) into *ev (emptied first;
 * free it with dhtreg_event_free): 0, -ETIMEDOUT when none came, or another
 * code when the watch ended (the node stopped: open a new one). */
int dhtreg_watch_next(dhtreg_watch *w, dhtreg_event *ev, int timeout_ms);
/* Its descriptor, readable when an event may be there (for poll). The
 * watch owns it: do not close it. */
int dhtreg_watch_fd(const dhtreg_watch *w);
/* Closes w and frees it (NULL: nothing). */
void dhtreg_watch_close(dhtreg_watch *w);

/* ---- a lease kept alive ------------------------------------------------------------ */

/* A heartbeat advertises ad as a lease, then renews it every ttl/3 on a
 * thread of its own (its own connection), until stopped: when the node
 * restarted (the lease is gone) or the connection broke, it connects again
 * (every second) and advertises again. If the process dies, the record
 * expires at its TTL.
 *
 * dhtreg_heartbeat_start makes the first advertisement itself, before it
 * returns: 0 with *out the running heartbeat (the caller's: stop it), or
 * the error with *out NULL, nothing started, and the reason in
 * dhtreg_errmsg(NULL): a bad ad (DHTREG_EINVALID naming the field: a ttl
 * outside 30-86400 s, a malformed resource id...), a resource whose policy
 * refuses this node (DHTREG_EFORBIDDEN), no node at socket_path (-ENOENT,
 * -ECONNREFUSED). ad, what it points to and socket_path are copied: the
 * caller may free them once it returns.
 *
 * cb (may be NULL) runs on the heartbeat's thread and hears of each
 * change: err 0 and "advertised" (the first advertisement, then each one
 * after a restart of the node) or "renewed", or the error and its message
 * (being retried). what is valid during the call only; ud is the caller's,
 * passed as is. */
typedef struct dhtreg_heartbeat dhtreg_heartbeat;
typedef void (*dhtreg_heartbeat_cb)(void *ud, int err, const char *what);
int dhtreg_heartbeat_start(dhtreg_heartbeat **out, const char *socket_path, const dhtreg_ad *ad,
                           dhtreg_heartbeat_cb cb, void *ud);
/* Stops renewing; withdraw: withdraws the record too (else it expires at
 * its TTL). Waits for the thread (cb may run meanwhile: "withdrawn"); frees
 * hb (NULL: nothing). */
void dhtreg_heartbeat_stop(dhtreg_heartbeat *hb, bool withdraw);

#ifdef __cplusplus
}
#endif
#endif
