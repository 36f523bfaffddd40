/* node.h - the node module's API: one registry node (identity, DHT runner, store, operations)
 *
 * A node lives on one libuv loop; every function here and every callback it
 * calls runs on that loop's thread. Several nodes may share a process and
 * even a loop: there is no global state.
 *
 * Operations that touch the DHT are asynchronous: they return 0 and later
 * call their callback exactly once (also when the node stops first), or
 * return a negative errno and call nothing.
 */
#ifndef DR_NODE_H
#define DR_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/crypto.h"
#include "dht/dht.h"
#include "node/log.h"

typedef struct dr_node dr_node;

/* DHT requests a node serves per second to one IP address, unless told
 * (OpenDHT's own default, 1 024, is an eighth of its global 8 192): a get
 * asks each storer for each value separately, so a reader's resolve of
 * limit 100 is ~1 250 requests, and a second one within the second would
 * lose some to the limit and wait out their timeouts (docs/DESIGN.md). */
#define DR_PEER_RATE_DEFAULT 4096

typedef struct dr_node_config {
  uint16_t port;           /* DHT UDP port; 0 picks one */
  const char *bind4, *bind6; /* numeric addresses of the DHT socket (--bind), or NULL: all */
  long max_store_bytes;    /* what the node stores for the DHT at most (0: 256 MiB) */
  uint32_t network;        /* OpenDHT network id */
  const char *psk;         /* private network passphrase (--psk), or NULL */
  char **bootstrap;        /* "host:port" strings */
  size_t n_bootstrap;
  const char *data_dir;    /* NULL with ephemeral */
  bool ephemeral;          /* fresh identity, nothing written */
  dr_log_level log_level;
  const char *log_name;    /* prefix of log lines, may be NULL */
  uint64_t clock_skew;     /* seconds of tolerated clock skew (default 60) */
  unsigned op_timeout_ms;  /* how long a DHT operation may take (default 10000) */
  unsigned max_inflight;   /* DHT operations in flight (default 64) */
  unsigned max_queued;     /* DHT lookups waiting at most; more are refused (default 1024) */
  size_t max_lookup_keys;  /* distinct keys looked up per hour at most (default 8192) */
  uint32_t min_ttl;        /* shortest TTL a client may ask for (default 30) */
  unsigned tick_ms;        /* period of the maintenance task (default 1000) */
  unsigned replicate_ms;   /* mean period of the replication task (default 60000) */
  size_t max_watches;      /* subscriptions per node (default 4096) */
  long peer_rate;          /* DHT requests/s served to one IP: 0 DR_PEER_RATE_DEFAULT, -1 no limit */
  unsigned value_lifetime; /* seconds DHT nodes keep a value after its last announce (default 600) */
  const uint8_t *seed;     /* tests only: a fixed identity seed, or NULL */
} dr_node_config;

/* Starts a node: loads or creates its identity, starts the DHT runner,
 * bootstraps. Returns 0 with *out set, or a negative errno with a one-line
 * reason in err. */
int dr_node_start(dr_node **out, uv_loop_t *loop, const dr_node_config *cfg, char *err,
                  size_t errlen);

/* Stops the node: withdraws nothing (graceful withdrawal is the caller's
 * choice, see dr_node_withdraw_all), shuts the runner down, fails pending
 * operations, frees the node, then calls done(ctx) on the loop. */
void dr_node_stop(dr_node *n, void (*done)(void *ctx), void *ctx);

const dr_logger *dr_node_logger(const dr_node *n);
const dr_identity *dr_node_identity(const dr_node *n);
uint64_t dr_node_op_timeout_ms(const dr_node *n);
/* The good nodes of the routing table (node.info's peers), as last sampled. */
unsigned dr_node_peers(const dr_node *n);
/* The shortest record TTL clients may ask for (--min-ttl), and the range
 * of TTLs as the text of an error ("must be between 30 and 86400 seconds"). */
uint32_t dr_node_min_ttl(const dr_node *n);
const char *dr_node_ttl_range(const dr_node *n);

/* Values read from the DHT and dropped in normal operation (node.info
 * "dropped"), apart from the rejections only forgery or a bug produces:
 * a copy a storer still holds a little past its expiry, and an older
 * version of an entry read with its newer one (a renewal's predecessor, a
 * withdrawn record beside its tombstone). */
typedef enum dr_drop { DR_DROP_EXPIRED, DR_DROP_SUPERSEDED, DR_DROP__COUNT } dr_drop;
const char *dr_drop_name(dr_drop d);

typedef struct dr_node_info {
  uint8_t peer_id[DR_ID_LEN];
  uint16_t port;
  uint32_t network;
  bool private_network;  /* started with a passphrase (--psk) */
  uint64_t uptime_s;
  bool connected;
  unsigned peers;
  size_t resources, records, tombstones; /* entries this node holds */
  size_t advertised;                     /* its live advertisements */
  uint64_t rejected[DR_REJ__COUNT]; /* by reason: what only forgery or a bug produces */
  uint64_t dropped[DR_DROP__COUNT];  /* by reason: what normal operation produces */
  size_t cached_resources, cached_entries, watches;
  uint64_t events, cache_hits, cache_polls;
  uint64_t repl_runs, repl_checked, repl_repaired;
  uint64_t msg_sent[5], msg_received[5]; /* DHT requests: ping, find, get, listen, put */
  uint64_t stored_values, stored_bytes;  /* OpenDHT's storage on this node */
  size_t dht_pending;                    /* DHT operations queued or in flight */
  size_t dht_listens;                    /* listens OpenDHT holds (ended a moment after their cache) */
  uint64_t dht_refused;                  /* lookups refused: the queue was full */
  unsigned dht_searches;                 /* OpenDHT's searches (kept an hour after use) */
  uint64_t dht_retries;                  /* lookups asked again after an empty answer from too few nodes */
  uint64_t records_moved;                /* own records moved to another shard (the resource's count changed) */
  uint64_t store_refused[DR_REJ__COUNT + 1]; /* values refused to other nodes, by reason; [DR_REJ__COUNT]: no room */
  size_t lookup_keys;                    /* distinct keys resolved in the last hour */
  uint64_t lookups_refused;              /* resolves refused: --max-lookup-keys */
  uint64_t dht_nudges;                   /* searches stepped for a put in flight too long */
  dr_latency dht_get, dht_put;           /* how long DHT gets and puts took */
  bool persist_enabled;                  /* the node writes a data dir */
  int persist_error;                     /* errno of the failing write, 0: writes work */
  uint64_t persist_since;                /* Unix seconds: writes failing since */
  int64_t clock_offset;                  /* s this node's clock seems ahead of the network's (<0: behind) */
  size_t clock_issuers;                  /* issuers that estimate rests on (0: no estimate) */
  int64_t clock_correction;              /* s the node takes off its clock for the network's time (dr_node_now) */
  bool clock_beyond;                     /* beyond the tolerated skew */
  uint64_t clock_skew;                   /* the tolerated skew */
} dr_node_info;

/* Readiness: a node is ready when it has peers or was started alone (no
 * bootstrap address), can write its state, and its clock is within the
 * tolerance of the network's; each reason it is not is a warning. */
#define DR_WARNINGS_MAX 4
typedef struct dr_node_health {
  bool ready;
  size_t n_warnings;
  char warnings[DR_WARNINGS_MAX][240];
} dr_node_health;

void dr_node_get_health(const dr_node *n, dr_node_health *out);

void dr_node_get_info(const dr_node *n, dr_node_info *out);

/* Joins through "host:port" (IPv6 as "[addr]:port"): the name is resolved
 * off the loop, then its addresses are handed to OpenDHT. cb (may be NULL)
 * runs once: err 0, or -EHOSTUNREACH with why naming the address and the
 * reason when the name does not resolve (also logged). Returns 0, or
 * -EINVAL (not host:port) / -ESHUTDOWN / -ENOMEM, and then cb never runs. */
typedef void (*dr_node_bootstrap_cb)(void *ctx, int err, const char *why);
int dr_node_bootstrap(dr_node *n, const char *hostport, dr_node_bootstrap_cb cb, void *ctx);

/* Creates a data dir and its missing parents (as mkdir -p; the last one
 * 0700, the parents 0755). Returns 0 (also when it exists) or a negative
 * errno with the reason in err. */
int dr_make_data_dir(const char *dir, char *err, size_t errlen);

/* Splits "host:port" / "[v6]:port" into host and port buffers. */
int dr_split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen);

/* Seconds since the epoch. */
uint64_t dr_now(void);
/* The same clock in milliseconds. */
uint64_t dr_now_ms(void);
/* The network's time as node n reckons it (Unix seconds): its clock,
 * corrected by at most the tolerated skew when the entries it reads and
 * stores say that clock is off. Expiries are measured against it. */
uint64_t dr_node_now(const dr_node *n);

/* ---- operations ---------------------------------------------------------- */

/* Errors beyond errno, for the API to map onto its codes. */
#define DR_ENOTFOUND (-10004)  /* no such resource / record */
#define DR_ETIMEOUT (-10010)   /* the DHT did not answer in time */
#define DR_EFORBIDDEN (-10011) /* forbidden by the resource's policy */
#define DR_EWRITE (-10013)     /* the node's state could not be written: nothing changed */
#define DR_ECLOCK (-10014)     /* the clock is so far behind that a record would arrive expired */
#define DR_ECURSOR (-10015)    /* a page of a resource whose shard count changed since */

/* Where a parameter error lies, for -32602 / -32012 messages. */
typedef struct dr_param_error {
  const char *field;
  const char *why;
} dr_param_error;

typedef void (*dr_node_publish_cb)(void *ctx, int err, const dr_entry *entry, bool published);

/* ---- health checks (node/check.c) --------------------------------------------
 * An advertisement may carry a check that its node runs on its loop every
 * interval: a TCP connect, an HTTP GET (2xx passes; plain http only), or a
 * program (exit 0 passes; killed at the timeout, which fails). `failures`
 * consecutive failures turn the record critical and `passes` consecutive
 * passes turn it back; each change re-signs the record with its new health
 * (dr_entry.health). A check that has not run yet leaves the record as it
 * is: passing for a new advertisement, as last signed after a restart. */
typedef enum dr_check_kind { DR_CHECK_TCP = 1, DR_CHECK_HTTP = 2, DR_CHECK_EXEC = 3 } dr_check_kind;

#define DR_CHECK_TARGET_MAX 1024 /* a tcp "HOST:PORT" or an http URL, bytes */
#define DR_CHECK_ARGS_MAX 32     /* an exec check's program and arguments */
#define DR_CHECK_ARGV_BYTES 2048 /* all of them together */
#define DR_CHECK_OUTPUT_MAX 512  /* what is kept of a run's output */
#define DR_CHECK_INTERVAL_DEFAULT 10
#define DR_CHECK_TIMEOUT_DEFAULT 5
#define DR_CHECK_FAILURES_DEFAULT 3
#define DR_CHECK_PASSES_DEFAULT 2

typedef struct dr_check_spec {
  dr_check_kind kind;
  char *target;           /* tcp: "HOST:PORT" ("[v6]:PORT"); http: "http://HOST[:PORT][/PATH]" */
  char **argv;            /* exec: the program (found in PATH) and its arguments; no shell */
  size_t argc;
  uint32_t interval_s;    /* 1-86400 (0: DR_CHECK_INTERVAL_DEFAULT) */
  uint32_t timeout_s;     /* 1-3600 (0: DR_CHECK_TIMEOUT_DEFAULT) */
  uint32_t failures;      /* 1-100 (0: DR_CHECK_FAILURES_DEFAULT) */
  uint32_t passes;        /* 1-100 (0: DR_CHECK_PASSES_DEFAULT) */
} dr_check_spec;

/* Checks every field of s and fills in the defaults of those left 0.
 * Returns 0, or -EINVAL with pe naming the param ("check.interval", ...). */
int dr_check_spec_validate(dr_check_spec *s, dr_param_error *pe);
/* Deep copy (0 or -ENOMEM, dst cleared), and the freeing of a copy. */
int dr_check_spec_copy(dr_check_spec *dst, const dr_check_spec *src);
void dr_check_spec_clear(dr_check_spec *s);
const char *dr_check_kind_name(dr_check_kind k); /* "tcp", "http", "exec" */

/* What a check says now, for `list`. */
typedef struct dr_check_status {
  uint8_t health;         /* its state: DR_HEALTH_PASSING or DR_HEALTH_CRITICAL */
  bool ran;               /* it ran since the node started */
  bool last_ok;           /* its last run passed */
  uint32_t failures, passes; /* consecutive, up to its last run */
  uint64_t last_at;       /* Unix seconds of its last run's end */
  const char *output;     /* its last run's output or error, at most DR_CHECK_OUTPUT_MAX bytes */
} dr_check_status;

/* What a create gives of a resource. Each of policy, allow-list and shard
 * count is set when given; one not given keeps its current value (a new
 * resource: open, no allow-list, 1 shard), except that an allow-list exists
 * only under DR_POLICY_OWNER: a policy set to open drops it. The pointers
 * are read during dr_node_resource_create only. */
typedef struct dr_resource_params {
  const char *label;
  bool has_policy;
  dr_policy policy;
  bool has_allow;                   /* allow given: n_allow peers (0: none) */
  const uint8_t (*allow)[DR_ID_LEN];
  size_t n_allow;
  uint32_t shards;                  /* a power of two up to DR_SHARDS_MAX; 0: not given */
} dr_resource_params;

/* Creates this node's resource of that label, or changes what p gives of
 * it, signs it and keeps it announced. cb gets the resource entry (valid
 * only during the callback) once the first announce is over; published says
 * whether any DHT node confirmed it. Idempotent: a create that changes
 * nothing answers the current entry and signs nothing (no new seq).
 * Returns 0, or -EINVAL/-EMSGSIZE with *pe set (what it asks for would not
 * be a valid entry: an allow-list under "open", the owner on it...). */
int dr_node_resource_create(dr_node *n, const dr_resource_params *p, dr_node_publish_cb cb, void *ctx,
                            dr_param_error *pe);

typedef struct dr_advertise_params {
  uint8_t rid[DR_ID_LEN];
  const char *service_id;
  const char *host;
  uint16_t port;
  char **addrs;
  size_t n_addrs;
  const char *type;
  char **tags;
  size_t n_tags;
  dr_meta *meta;
  size_t n_meta;
  uint32_t ttl;
  bool lease;
  const dr_check_spec *check; /* NULL: none (validated and copied by dr_node_advertise) */
} dr_advertise_params;

/* Signs a record with a new seq and keeps it announced. cb gets the record. */
int dr_node_advertise(dr_node *n, const dr_advertise_params *p, dr_node_publish_cb cb,
                      void *ctx, dr_param_error *pe);

/* Withdraws this node's record (rid, service_id) with a tombstone. Returns
 * DR_ENOTFOUND when this node has no such live advertisement. */
int dr_node_withdraw(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *service_id,
                     dr_node_publish_cb cb, void *ctx);

/* Where a page of a resolve starts (the API's cursor): the seed of the
 * shards' order, the shard count it was drawn for, the position in that
 * order, and, when the page starts inside that position's shard (mid), the
 * placement hash of the last record given there: a shard's records go in
 * hash order, so a page resumes after that hash whatever was added or lost
 * meanwhile. */
typedef struct dr_resolve_page {
  uint32_t seed, shards, pos;
  uint64_t after;
  bool mid, set;
  /* records may still sit under a count as low as this (a migration after
   * a count change: docs/PROTOCOL.md); 0 or shards: none does */
  uint32_t low;
} dr_resolve_page;

/* The result of a resolve: valid only during the callback. */
typedef struct dr_resolution {
  const dr_entry *resource; /* NULL when no resource entry was found */
  const dr_entry **records; /* live, verified, merged; in the page's order */
  size_t n_records;
  uint32_t shards;          /* the resource's shard count */
  bool more;                /* more records follow: next is where */
  dr_resolve_page next;
} dr_resolution;

typedef void (*dr_node_resolve_cb)(void *ctx, int err, const dr_resolution *res);

/* Which live records a resolve or discover returns: those dr_entry_passing
 * accepts (the default), or critical ones too. */
typedef enum dr_include { DR_INCLUDE_PASSING = 0, DR_INCLUDE_ALL = 1 } dr_include;

/* Resolves a resource: reads its shards (docs/PROTOCOL.md) in a random
 * order until it has limit live, passing records (or read them all; see
 * dr_node_resolve_with for critical ones too), verifies every
 * value, merges them with this node's own entries, and answers a page of
 * at most limit records, shard by shard; from (NULL: a first page) is where
 * a previous answer's next said the page starts. cb runs exactly once: err
 * 0 once the DHT's answers are complete, DR_ETIMEOUT when they were not
 * within the op timeout (never a partial answer), DR_ECURSOR when the
 * resource's shard count changed since from was made -- unless the resolve
 * is cancelled first. A resolve answered from the cache calls cb before
 * this returns, and *out (may be NULL) is then NULL; otherwise it is the
 * handle for dr_node_resolve_cancel, valid until cb runs. Returns 0, or
 * -ENOBUFS when the DHT queue is full, -EDQUOT when a key would be one more
 * than --max-lookup-keys distinct keys looked up in the last hour,
 * -ESHUTDOWN, -ENOMEM (cb does not run). */
typedef struct dr_resolve dr_resolve;
int dr_node_resolve(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                    const dr_resolve_page *from, dr_node_resolve_cb cb, void *ctx,
                    dr_resolve **out);
/* dr_node_resolve returns passing records only; this one what include says. */
int dr_node_resolve_with(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                         const dr_resolve_page *from, dr_include include, dr_node_resolve_cb cb,
                         void *ctx, dr_resolve **out);
/* One live, passing record (of that type, unless NULL) chosen uniformly at
 * random: res->records[0], or none. As dr_node_resolve otherwise. */
int dr_node_discover(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *type,
                     dr_node_resolve_cb cb, void *ctx, dr_resolve **out);
int dr_node_discover_with(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *type,
                          dr_include include, dr_node_resolve_cb cb, void *ctx, dr_resolve **out);
/* The resource entry alone (res->resource, or NULL): one cheap lookup of
 * its fixed value id in the head. As dr_node_resolve otherwise. */
int dr_node_resource_get(dr_node *n, const uint8_t rid[DR_ID_LEN], dr_node_resolve_cb cb,
                         void *ctx, dr_resolve **out);
/* The caller gave up (its client went away): cb will not run, and the DHT
 * lookups are dropped if they have not started. */
void dr_node_resolve_cancel(dr_node *n, dr_resolve *r);

/* The resource entry of rid as far as this node knows it without asking
 * the DHT: its own, a watched or pinned resource's, or one read in the
 * last max_age_ms. *known says whether the node knows (then NULL means the
 * resource has no entry). */
const dr_entry *dr_node_resource_known(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms,
                                       bool *known);

/* Whether a resource entry (NULL: none) lets issuer add records. */
bool dr_node_may_advertise(const dr_entry *resource, const uint8_t issuer[DR_ID_LEN]);

/* This node's peer id. */
const uint8_t *dr_node_peer_id(const dr_node *n);

/* Re-signs this node's record with a new seq and expiry now (what a lease
 * needs before its TTL ends). cb gets the new record. DR_ENOTFOUND when
 * there is no such live advertisement. */
int dr_node_renew(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *service_id,
                  dr_node_publish_cb cb, void *ctx);

/* Calls cb(ctx, err) once every change made so far to this node's own
 * entries is on disk (at once when the node writes nothing). The API
 * answers advertise, renew, withdraw and create only then. */
void dr_node_sync(dr_node *n, void (*cb)(void *ctx, int err), void *ctx);

/* Withdraws every live advertisement of this node (graceful shutdown) and
 * calls done(ctx) once each tombstone's first announce is over or timed
 * out. Returns how many were withdrawn. */
size_t dr_node_withdraw_all(dr_node *n, void (*done)(void *ctx), void *ctx);

/* ---- watch and pin --------------------------------------------------------- */

/* register: a record appeared, or its content changed (its health is in
 * the record); critical, passing: the health of a record reported before
 * changed (after a register when its content changed too). */
typedef enum dr_event_type {
  DR_EVENT_REGISTER,
  DR_EVENT_DEREGISTER,
  DR_EVENT_EXPIRE,
  DR_EVENT_CRITICAL,
  DR_EVENT_PASSING,
} dr_event_type;

/* An event of a watched resource: record is the record concerned (for a
 * deregister, the record that was withdrawn when this node had seen it,
 * else the tombstone); valid only during the call. The callback must not
 * call dr_node_unwatch or dr_node_unpin. */
typedef void (*dr_node_event_cb)(void *ctx, uint64_t sub_id, dr_event_type type,
                                 const dr_entry *record);

/* Subscribes to a resource's events: the node listens to its key and keeps a
 * verified cache of it (resolve is answered from there) until the last
 * watcher unwatches and it is not pinned. Returns 0 with *sub_id set, or
 * -EDQUOT when the node has max_watches subscriptions, or -ENOMEM. */
int dr_node_watch(dr_node *n, const uint8_t rid[DR_ID_LEN], dr_node_event_cb cb, void *ctx,
                  uint64_t *sub_id);
/* Sends a register event to that subscription alone for each record that is
 * live in its cache now (a new watcher's starting view). */
void dr_node_watch_replay(dr_node *n, uint64_t sub_id);
/* Ends a subscription; DR_ENOTFOUND when there is none of that id. */
int dr_node_unwatch(dr_node *n, uint64_t sub_id);

/* Pins a resource: its cache stays fed, and the replication task keeps all
 * its live entries in the DHT, whoever issued them. Idempotent. */
int dr_node_pin(dr_node *n, const uint8_t rid[DR_ID_LEN]);
/* DR_ENOTFOUND when the resource is not pinned. */
int dr_node_unpin(dr_node *n, const uint8_t rid[DR_ID_LEN]);

/* This node's own resources and live advertisements, for `list`. The
 * entries are valid until the node's next operation. */
typedef struct dr_own_ad_view {
  const dr_entry *record;
  uint32_t ttl;
  bool lease;
  const dr_check_spec *check; /* NULL: none */
  dr_check_status status;     /* the check's, when there is one */
} dr_own_ad_view;

size_t dr_node_own_resources(const dr_node *n, const dr_entry ***out);
size_t dr_node_own_ads(const dr_node *n, dr_own_ad_view **out);

#endif
