/* node_private.h - private to node/: the node's state and what its files share */
#ifndef DR_NODE_PRIVATE_H
#define DR_NODE_PRIVATE_H

#include <pthread.h>

#include "dht/dht.h"
#include "node/map.h"
#include "node/node.h"

/* An operation with a time limit. All share the node's op timeout, so the
 * list is in deadline order and one timer serves it. */
typedef struct dr_deadline {
  struct dr_deadline *prev, *next;
  uint64_t at_ms; /* uv_now() time */
  void (*fire)(struct dr_deadline *dl);
  bool armed;
} dr_deadline;

struct dr_pub;

/* Clock samples the store policy takes on OpenDHT's thread (entries put
 * to this node, as they are put) for the loop's clock estimate (clock.c):
 * the youngest age per issuer since the last tick; more issuers are
 * dropped until then. */
#define DR_CLOCK_INBOX 256
struct dr_clock_sample {
  uint8_t issuer[DR_ID_LEN];
  int64_t age; /* seconds: this node's clock minus issued_at */
};
typedef struct dr_clock_inbox {
  pthread_mutex_t lock;
  bool ready; /* lock initialised */
  size_t n;
  struct dr_clock_sample s[DR_CLOCK_INBOX];
} dr_clock_inbox;

/* What the DHT's store and edit policies read on OpenDHT's thread: set
 * before the runner starts, never changed while it runs, but for the
 * inbox (under its lock). */
typedef struct dr_policy_ctx {
  const dr_netkey *net; /* the private network's keys, or NULL */
  uint64_t skew;
  const uint8_t *self;  /* this node's peer id: its own entries say nothing of its clock */
  dr_clock_inbox inbox;
} dr_policy_ctx;

/* An entry of ours kept in the DHT: put as a plain value, and put again
 * before storers drop it (every 80% of the value lifetime, jittered), and
 * whenever it changes. */
typedef struct dr_announce {
  dr_node *n;
  dr_dht_putop *put;  /* the put in flight, or NULL */
  struct dr_pub *pub; /* the caller waiting for the first put, or NULL */
  dr_entry *entry;    /* NULL: not announced */
  uint8_t key[DR_DHT_KEY_SIZE]; /* the shard key it goes under */
  uint64_t vid;       /* OpenDHT's value id and seq: a renewal replaces in place */
  uint16_t vseq;
  uint64_t since_ms;  /* uv_now() when the announce began */
  uint64_t reput_at;  /* uv_now() of its next put */
  /* announced (then_entry, under then_shard) once this one's put is over or
   * given up: a moved record's tombstone waits for the record */
  struct dr_announce *then;
  dr_entry *then_entry;
  uint32_t then_shard;
} dr_announce;

typedef struct dr_cache dr_cache;
struct dr_repl;

typedef struct own_resource {
  dr_entry entry;
  dr_announce ann;
} own_resource;

/* A tombstone of an own record and its announce (allocated only when
 * there is one: most records never have one). */
typedef struct own_side {
  dr_entry e;
  dr_announce ann;
} own_side;

typedef struct own_ad {
  dr_entry rec;  /* the latest signed record */
  dr_announce rec_ann;
  own_side *tomb; /* the tombstone, once withdrawn (set then) */
  uint32_t shard; /* where record and tombstone go */
  /* after a move to another shard (the resource's shard count grew), the
   * tombstone that hides the record left in the old one, until it expires */
  own_side *moved;
  bool withdrawn;
  bool kept;      /* withdrawn by the node stopping: on disk it stays a live record */
  bool lease;
  uint32_t ttl;
  struct dr_check *check; /* its health check, or NULL (check.c) */
} own_ad;

/* publish.c: a new side holding *e (taken), or NULL (out of memory: e is
 * cleared); and the end of one (unannounced, cleared, freed, set NULL). */
own_side *dr__side_new(dr_entry *e);
void dr__side_free(dr_node *n, own_side **s);

struct dr_node {
  uv_loop_t *loop;
  dr_logger log;
  dr_identity id;
  uint8_t window_key[16]; /* draws this node's read windows (dr__page_seed) */
  dr_netkey *net; /* the private network's keys (--psk), or NULL */
  dr_policy_ctx policy;
  dr_dht *dht;
  uint32_t network;
  uint64_t clock_skew;
  unsigned op_timeout_ms;
  uint32_t min_ttl;
  char ttl_range[64]; /* "must be between 30 and 86400 seconds" */
  uv_timer_t tick_timer;
  unsigned handles_open; /* while stopping: timers not yet closed */
  struct dr_persist *persist; /* NULL when nothing is written (ephemeral) */
  int lock_fd;                /* the data dir's lock (datadir.c), or -1 */
  uint64_t started_at;
  uint64_t last_seq;
  dr_map resources; /* rid -> own_resource* */
  dr_map ads;       /* rid || service id -> own_ad* */
  dr_map writing;   /* change.c: rid or ad key -> the chain of its changes */
  uint64_t rejected[DR_REJ__COUNT]; /* what only forgery or a bug produces (wire.c) */
  uint64_t dropped[DR_DROP__COUNT];  /* what normal operation produces */
  /* resinfo.c: resources read lately (rid -> their entry and shard count) */
  dr_map resinfo;
  dr_map counts; /* rid -> the shard counts it saw change lately (resinfo.c) */
  uint64_t counts_changed_ms; /* uv_now() of the last change seen, 0: none */
  uint64_t resinfo_swept_ms;
  unsigned value_lifetime; /* seconds storers keep a value after its last put */
  /* lookups.c: keys looked up lately (key -> uv_now of the last lookup) */
  dr_map lookups;
  size_t max_lookup_keys;
  uint64_t lookups_refused, lookups_swept_ms, lookups_warned_ms;
  /* clock.c */
  dr_map clock_ages;   /* issuer -> the youngest entry of it read lately */
  int64_t clock_offset; /* seconds this node's clock is ahead of the network's (negative: behind) */
  int64_t clock_correction; /* what dr__net_now takes off this node's clock (|x| <= clock_skew) */
  size_t clock_issuers; /* issuers the estimate rests on */
  bool clock_beyond;    /* |offset| beyond the tolerated skew */
  uint64_t own_issued_max; /* the newest issue time of this node's own entries */
  uint64_t clock_warned;
  /* wire.c: the newest version of each entry read (key -> seen_version*) */
  dr_map seen;
  uint64_t seen_swept_ms;
  /* cache.c: watched and pinned resources */
  dr_map caches; /* rid -> dr_cache* */
  dr_map subs;   /* subscription id (u64) -> struct dr_sub* */
  uint64_t next_sub;
  size_t max_watches;
  uint64_t events, cache_hits, cache_polls;
  uint64_t trim_at_ms; /* when to give freed memory back (uv_now), 0: nothing to */
  bool burst;          /* many DHT operations were pending: trim once they are done */
  uint64_t stored_peak; /* OpenDHT's stored values since the last trim they caused */
  /* replicate.c */
  struct dr_repl *repl;
  uv_timer_t repl_timer;
  unsigned repl_ms;
  size_t repl_outstanding; /* checks of the current run still under way */
  uint64_t repl_runs, repl_checked, repl_repaired;
  uint64_t records_moved; /* own records moved to another shard */
  uv_timer_t deadline_timer;
  dr_deadline *dl_head, *dl_tail;
  /* bootstrap.c */
  bool bootstrapped;     /* a bootstrap was asked for: the node is not alone by choice */
  unsigned boot_pending; /* name resolutions under way (each holds the node) */
  struct boot_addr *boots; /* each address bootstrapped through, and whether a DHT node answered there */
  size_t n_boots;
  char boot_addrs[512];  /* the addresses bootstrapped through, for the health warning */
  bool withdrawing;      /* dr_node_withdraw_all ran: the node is on its way out */
  bool stopping;
  bool closed;           /* every handle closed: freed once nothing else holds it */
  void (*stop_done)(void *);
  void *stop_ctx;
};

/* node.c */
/* resolve.c: what a resolve and a cache's answer share. */
typedef struct dr_placed {
  const dr_entry *e;
  uint32_t pos; /* the position, in the page's order, of the shard it was read from */
  uint64_t h;   /* its placement hash (dr_shard_hash): the order within a shard */
} dr_placed;
/* Shards a page is drawn from first (a read window), and how long a node
 * keeps drawing from the same window of a resource. */
#define DR_READ_WINDOW 64
#define DR_READ_WINDOW_S 600
/* The order of a resource's shards drawn from seed: order[pos] = shard,
 * pos_of[shard] = pos. windowed, and more shards than DR_READ_WINDOW: the
 * window the seed's top 12 bits name (DR_READ_WINDOW consecutive shard
 * numbers) comes first, in a random order, then the other shards; else all
 * of them in a random order. */
void dr__shard_order(uint32_t seed, uint32_t shards, bool windowed, uint32_t *order, uint32_t *pos_of);
/* A seed for a resolve's first page of resource rid: random, but for its
 * top 12 bits, which name this node's read window for the resource for the
 * current DR_READ_WINDOW_S (OpenDHT keeps a search per key a node read for
 * an hour, and every message the node receives is offered to each: a node
 * that drew every page from all of a big resource's shards would hold
 * thousands). */
uint32_t dr__page_seed(const dr_node *n, const uint8_t rid[DR_ID_LEN]);
/* A page of the k live records p (sorted here): those at positions from
 * from's (of its own shard, only those after from's hash when from->mid) to
 * before unread (the first position not read), at most limit, and where the
 * next page starts (carrying low: the walk's migration, dr_resolve_page).
 * res->records is malloc'd (the caller frees it after the callback). 0 or
 * -ENOMEM. */
int dr__page(dr_placed *p, size_t k, uint32_t seed, uint32_t shards, uint32_t low, const dr_resolve_page *from,
             size_t limit, uint32_t unread, dr_resolution *res);
/* Whether a record at position pos with hash h comes before from's page
 * (was given by an earlier one). */
bool dr__page_before(const dr_resolve_page *from, uint32_t pos, uint64_t h);

/* resinfo.c: what the node knows of rid's resource entry and shard count:
 * its own, a watched or pinned one's (current), or one read in the last
 * max_age_ms. Returns whether it knows; *res (may be NULL) is the entry or
 * NULL (none), *shards its shard count (1 when unknown). */
bool dr__resinfo(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms,
                 const dr_entry **res, uint32_t *shards);
uint32_t dr__shards_of(dr_node *n, const uint8_t rid[DR_ID_LEN]);
/* The shard count a resource entry gives (1 for none, or no entry). */
uint32_t dr__res_shards(const dr_entry *res);
/* Live records per shard the last resolve of rid saw (0: unknown). */
uint32_t dr__resinfo_per_shard(dr_node *n, const uint8_t rid[DR_ID_LEN]);
/* What a read found: the resource entry (NULL: none), per shard (0: unknown).
 * head_read: the read took the head (shard 0) from the DHT, so res is
 * current and the count known afresh; else only per_shard is kept (a page
 * of other shards says nothing of the count). */
void dr__resinfo_note(dr_node *n, const uint8_t rid[DR_ID_LEN], const dr_entry *res,
                      uint32_t per_shard, bool head_read);
/* How stale a shard count may be, and how long a writer waits before it
 * places records by a new one (docs/PROTOCOL.md, "How stale a count may
 * be"): a resolve uses a count read at most DR_COUNT_FRESH_MS ago, else it
 * reads the head first; a node places and moves records by a count it has
 * known for DR_COUNT_SETTLE_MS (before that, by the smaller of it and the
 * one before), so no reader that reads by a count it holds misses a record. */
#define DR_COUNT_FRESH_MS 10000
#define DR_COUNT_SETTLE_MS 15000
/* How long after a node saw a new count its readers take records may still
 * be placed under the ones before: writers learn it within their
 * replication period (60 s +-20%), wait DR_COUNT_SETTLE_MS, and move every
 * record at their next maintenance tick. */
#define DR_COUNT_MIGRATE_MS 120000
#define DR_MOVE_KNOWN_MS (10 * 60 * 1000) /* a shard count read this long ago decides a move */
/* The smallest count records of rid may still be placed under, when the
 * node saw rid's count change to shards lately (else shards). */
uint32_t dr__migrating_low(dr_node *n, const uint8_t rid[DR_ID_LEN], uint32_t shards);
/* Whether ad's record is under another shard than the count it is placed
 * by now (known from a read at most DR_MOVE_KNOWN_MS old, and long enough
 * for readers) says: *want is that shard. */
bool dr__ad_move_to(dr_node *n, const own_ad *ad, uint32_t *want);
/* The same, for a resource whose count changed lately only (the
 * maintenance task moves such records at once, not at their renewal). */
bool dr__ad_should_move(dr_node *n, const own_ad *ad);
/* Whether some resource's count changed lately (moves may be due). */
bool dr__counts_migrating(dr_node *n);
/* A resource entry this node read or signed (its shard count). */
void dr__count_note(dr_node *n, const uint8_t rid[DR_ID_LEN], const dr_entry *res);
/* The count records of rid are placed and moved by (see above), when the
 * node knows rid's count from a read at most max_age_ms old (its own and
 * a watched one's always): *known says whether it does (else 1). */
uint32_t dr__placement_shards(dr_node *n, const uint8_t rid[DR_ID_LEN], uint64_t max_age_ms, bool *known);
void dr__resinfo_tick(dr_node *n);
void dr__resinfo_free(dr_node *n);

/* lookups.c: the distinct keys looked up in the last hour (--max-lookup-keys).
 * admit: 0, or -EDQUOT beyond the bound; *fresh says whether key is new to
 * the count. A lookup that never reached OpenDHT is unadmitted (a key it
 * made new does not count); one that did is started. */
int dr__lookup_admit(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE], bool *fresh);
void dr__lookup_unadmit(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE]);
void dr__lookup_started(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE]);
void dr__lookups_tick(dr_node *n);
void dr__lookups_free(dr_node *n);
/* clock.c: the offset of this node's clock from the network's */
void dr__clock_init(dr_node *n);
/* A verified entry read (now: this node's clock, not corrected). */
void dr__clock_sample(dr_node *n, const dr_entry *e, uint64_t now);
/* The same for an entry put to this node (OpenDHT's thread: the store policy). */
void dr__clock_inbox_put(dr_policy_ctx *pc, const dr_entry *e, uint64_t now);
/* The network's time as this node reckons it, in Unix seconds: its clock
 * less the correction (at most the tolerated skew either way). What the
 * node signs with and checks expiries against: an entry whose expires_at
 * is at or before it is over (no tolerance is added to lifetimes). */
uint64_t dr__net_now(const dr_node *n);
/* The same in milliseconds (dr_now_ms less the correction). */
uint64_t dr__net_now_ms(const dr_node *n);
void dr__clock_tick(dr_node *n, uint64_t now);
/* Whether a record expiring then is over for the network already. */
bool dr__clock_would_expire(const dr_node *n, uint64_t expires_at);
void dr__clock_free(dr_node *n);
/* Notes an entry this node signed (or loaded from its data dir). */
void dr__clock_own(dr_node *n, const dr_entry *e);
/* At start: warns when the clock is behind the node's own history. */
void dr__clock_check_own(dr_node *n, uint64_t now);
/* Frees a stopped node once its handles are closed and nothing holds it. */
void dr__node_release(dr_node *n);
/* bootstrap.c: warns once per bootstrap address where no DHT node answered
 * in time; dr__bootstrap_free frees what it tracks (once the DHT is closed:
 * no ping callback can come any more). */
void dr__bootstrap_tick(dr_node *n);
void dr__bootstrap_free(dr_node *n);
void dr__deadline_add(dr_node *n, dr_deadline *dl, void (*fire)(dr_deadline *));
void dr__deadline_remove(dr_node *n, dr_deadline *dl);
uint64_t dr__next_seq(dr_node *n);
size_t dr__ad_key(uint8_t *out, const uint8_t rid[DR_ID_LEN], const char *service_id);

/* wire.c: entries in the DHT */
#define DR_WIRE_MAX (DR_ENTRY_MAX + DR_SEAL_OVERHEAD)
/* The key of a resource's head (shard 0), and of any of its shards. */
void dr__dht_key_of(const dr_node *n, const uint8_t rid[DR_ID_LEN], uint8_t key[DR_DHT_KEY_SIZE]);
void dr__shard_key_of(const dr_node *n, const uint8_t rid[DR_ID_LEN], uint32_t shard,
                      uint8_t key[DR_DHT_KEY_SIZE]);
/* The bytes e travels as: e->raw, or e sealed into buf on a private
 * network. *len is set; NULL only if e is not a signed entry. */
const uint8_t *dr__wire_of(const dr_node *n, const dr_entry *e, uint8_t buf[DR_WIRE_MAX],
                           size_t *len);
/* Reads one value found under shard `shard` of rid: opens it (private
 * network), decodes, verifies and checks it (dr_entry_check, and that it
 * belongs in that shard), and sets it against the newest version of it
 * this node read before. Returns:
 * - DR_READ_OK: out is filled (the caller clears it);
 * - DR_READ_BEHIND: an older copy of an entry whose newer version (a
 *   tombstone, or a resource entry) this node read before; out is filled
 *   (the caller clears it). Whether that is the ordinary leftover a storer
 *   keeps until the copy expires, or a storer hiding the newer version,
 *   depends on what it was read with: the caller holds it until its read is
 *   over, then counts it (dr__behind_settle);
 * - DR_READ_DROPPED: counted, in n->rejected by reason, or in n->dropped
 *   when normal operation leaves such copies (one just past its expiry, an
 *   older version behind a renewal); out is cleared. */
typedef enum dr_read { DR_READ_OK, DR_READ_BEHIND, DR_READ_DROPPED } dr_read;
dr_read dr__entry_read(dr_node *n, const uint8_t rid[DR_ID_LEN], uint32_t shard,
                       const uint8_t *data, size_t len, dr_entry *out);
/* Such copies, held until their read is over (at most DR_BEHIND_MAX; more
 * are taken for leftovers at once). */
#define DR_BEHIND_MAX 256
typedef struct dr_behind {
  dr_entry *v;
  size_t n, cap;
} dr_behind;
struct dr_merge;
/* Takes *e (cleared). */
void dr__behind_add(dr_node *n, dr_behind *b, dr_entry *e);
/* The read is over and m is what it found: each copy is superseded (m has
 * its newer version: a storer's ordinary leftover) or replayed (it has not:
 * a storer hid the newer one); counted, then freed. */
void dr__behind_settle(dr_node *n, dr_behind *b, const struct dr_merge *m);
/* Frees them uncounted (a read that did not finish says nothing). */
void dr__behind_free(dr_behind *b);
/* The DHT's policies of dhtreg's value type (OpenDHT's thread; ctx: the
 * node's dr_policy_ctx). store: 0, or why not (a dr_reject); only a
 * resource entry may be marked (mark 1; -1: another user type, refused). */
int dr__store_ok(void *ctx, const uint8_t key[DR_DHT_KEY_SIZE], int mark, const uint8_t *data,
                 size_t len);
/* Forgets the versions no older copy of could still be live (every 10 s). */
void dr__wire_tick(dr_node *n, uint64_t now);
void dr__wire_free(dr_node *n);
/* edit: a stored entry may be replaced by a valid newer version of itself
 * under the same value id. */
bool dr__edit_ok(void *ctx, uint64_t vid, const uint8_t *old, size_t old_len, const uint8_t *nw,
                 size_t new_len);

/* datadir.c: creates or checks the data dir (private to this user) and
 * takes its lock; on error writes the reason and the fix into err. */
int dr__datadir_open(dr_node *n, const char *dir, char *err, size_t errlen);
/* Releases the lock (safe when none is held). */
void dr__datadir_close(dr_node *n);
/* 0 when path does not exist or is a regular file of this user's that
 * group and others cannot read or write; else the reason and the fix. */
int dr__private_file_check(const char *path, const char *what, char *err, size_t errlen);

/* change.c: a change a client asked of this node's own entries, written to
 * the journal before it takes effect; changes of one entry run one at a
 * time, in the order they came. */
typedef enum dr_change_kind { DR_CH_RESOURCE, DR_CH_ADVERTISE, DR_CH_RENEW, DR_CH_WITHDRAW } dr_change_kind;
typedef struct dr_change {
  struct dr_change *next; /* the next change of the same entry */
  dr_node *n;
  dr_change_kind kind;
  uint8_t key[DR_ID_LEN + DR_NAME_MAX]; /* the resource id, or the ad key (dr__ad_key) */
  size_t klen;
  dr_entry e;    /* the signed entry to write (a resource or advertise's, from the start) */
  bool lease;    /* an advertise's, or the renewed ad's */
  uint32_t ttl;
  uint32_t shard; /* records and tombstones: where it goes */
  struct dr_check *check; /* an advertise's check (not started yet), or NULL */
  unsigned given; /* a resource's: what its create gave (DR_GIVEN_*); the rest is as it was */
  bool queued;   /* it waited behind another change of its entry */
  bool writing;  /* its frame is logged and a sync asked for */
  dr_node_publish_cb cb; /* runs exactly once */
  void *ctx;
} dr_change;
#define DR_GIVEN_POLICY 1u
#define DR_GIVEN_ALLOW 2u
#define DR_GIVEN_SHARDS 4u
/* Takes c (malloc'd; key, kind, e, lease, ttl, cb and ctx set) and runs it
 * after the other changes of its entry. */
void dr__change_submit(dr_node *n, dr_change *c);
/* Whether that entry has changes queued or being written. */
bool dr__change_pending(const dr_node *n, const uint8_t *key, size_t klen);
/* At stop, once the journal is closed: answers what is left -ESHUTDOWN. */
void dr__change_free_all(dr_node *n);
/* publish.c, for change.c: prepares c->e from the node's state now (0),
 * answers c->cb itself when there is nothing to write (1), or fails (a
 * negative error, which c->cb is then told). */
int dr__change_prepare(dr_node *n, dr_change *c);
/* Applies a written change and announces its entry; c->cb runs once the
 * first announce is over. Takes c->e. */
void dr__change_apply(dr_node *n, dr_change *c);

/* persist.c: every change of this node's own entries is logged here */
void dr__persist_change(dr_node *n, const dr_change *c);
int dr__persist_open(dr_node *n, const char *dir, char *err, size_t errlen);
void dr__persist_ad(dr_node *n, const own_ad *ad);
void dr__persist_drop(dr_node *n, const uint8_t *key, size_t klen);
/* Writes what is pending, frees, then closed(n) (at once, or after the job
 * under way). */
void dr__persist_close(dr_node *n, void (*closed)(dr_node *n));
/* After a failed write: tries again (at most once a second; from the tick). */
void dr__persist_tick(dr_node *n);
typedef struct dr_persist_status {
  bool enabled;   /* the node writes a data dir */
  int error;      /* errno of the failing write, 0 when writes work */
  uint64_t since; /* Unix seconds: when writes began to fail */
} dr_persist_status;
void dr__persist_status(const dr_node *n, dr_persist_status *st);

/* lifecycle.c */
void dr__tick_start(dr_node *n, unsigned period_ms);

/* check.c: an advertisement's health check. A check is created idle
 * (holding its spec), runs once started, and stops when told or freed; its
 * handles close on the loop after that, and it frees itself then. */
struct dr_check;
/* A new idle check of a copy of spec (validated), or NULL: out of memory. */
struct dr_check *dr__check_new(const dr_check_spec *spec);
const dr_check_spec *dr__check_spec(const struct dr_check *c);
/* Starts ad->check on the node's loop: a first run now, then one every
 * interval; its state starts as ad's record's health. A change of state
 * calls dr__ad_set_health. */
void dr__check_start(dr_node *n, own_ad *ad);
/* Stops it: a run under way is abandoned (a program killed), no more
 * runs; its spec stays (written with the advertisement). */
void dr__check_stop(struct dr_check *c);
/* Stops and frees it (once its handles are closed). NULL is fine. */
void dr__check_free(struct dr_check *c);
/* What list shows of it. */
void dr__check_status(const struct dr_check *c, dr_check_status *st);
/* When ad's running check says another health than ad's record, tries
 * dr__ad_set_health again (the maintenance task: a client's change of the
 * ad held it back). */
void dr__check_sync(own_ad *ad);
/* Stops every advertisement's check (the node stops). */
void dr__checks_stop(dr_node *n);
/* The spec in the data dir's frames (persist.c): encode returns the length
 * (at most DR_CHECK_ENCODED_MAX) or a negative errno; decode fills out (a
 * validated spec: the caller clears it) and returns 0, or -EINVAL. */
#define DR_CHECK_ENCODED_MAX (16 + 2 * DR_CHECK_ARGS_MAX + DR_CHECK_ARGV_BYTES)
/* check_spec.c: splits an http check's URL: host and port (80 when none),
 * the authority as written (for Host:), the path ("/" when none). */
int dr__check_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                  const char **authority, size_t *authority_len, const char **path);
int dr__check_encode(const dr_check_spec *s, uint8_t *out, size_t cap);
int dr__check_decode(const uint8_t *p, size_t len, dr_check_spec *out);

/* cache.c */
void dr__cache_offer_own(dr_node *n, const dr_entry *e, uint32_t shard);
/* Answers from the cache (synchronously) when rid has a ready one. */
bool dr__cache_resolve(dr_node *n, const uint8_t rid[DR_ID_LEN], size_t limit,
                       const dr_resolve_page *from, dr_include include, dr_node_resolve_cb cb, void *ctx);
bool dr__cache_discover(dr_node *n, const uint8_t rid[DR_ID_LEN], const char *type, dr_include include,
                        dr_node_resolve_cb cb, void *ctx);
/* A ready cache's resource entry (*known false: no ready cache). */
const dr_entry *dr__cache_resource(dr_node *n, const uint8_t rid[DR_ID_LEN], bool *known);
void dr__cache_tick(dr_node *n, uint64_t now);
void dr__cache_free_all(dr_node *n);
void dr__cache_counts(const dr_node *n, size_t *caches, size_t *entries, size_t *subs);
size_t dr__cache_pinned(dr_node *n, dr_cache ***out);
const uint8_t *dr__cache_rid(const dr_cache *c);
bool dr__cache_is_pinned(const dr_cache *c);
const struct dr_merge *dr__cache_merge(const dr_cache *c);
/* The shards a cache listens to, and the shard an entry's winner came from. */
uint32_t dr__cache_shards(const dr_cache *c);
uint32_t dr__cache_shard_of(const dr_cache *c, const dr_entry *e);

/* replicate.c */
void dr__repl_start(dr_node *n, unsigned period_ms);
/* A put of an own entry reached these nodes (the key's closest). */
void dr__repl_put_done(dr_node *n, const uint8_t key[DR_DHT_KEY_SIZE],
                       const uint8_t (*nodes)[DR_DHT_KEY_SIZE], size_t n_nodes);
void dr__repl_free(dr_node *n);

/* publish.c */
/* Re-signs ad's record with a new seq, issued now, expiring after its TTL,
 * and announces it in place of the old one. */
int dr__ad_resign(dr_node *n, own_ad *ad, dr_node_publish_cb cb, void *ctx);
int dr__ad_withdraw(dr_node *n, own_ad *ad, bool keep, dr_node_publish_cb cb, void *ctx);
/* Stops announcing everything of ad and frees it (it must be removed from
 * n->ads by the caller first). */
void dr__ad_free(dr_node *n, own_ad *ad);
/* Re-signs ad's record with that health (its check changed state) and
 * announces it as a change (a new value id, so that listens report it).
 * 0 when done or nothing to do; -EAGAIN when a client's change of the ad
 * is being written (the maintenance task tries again). */
int dr__ad_set_health(dr_node *n, own_ad *ad, uint8_t health);
/* Announces e through a, under shard `shard` of its resource: puts it now
 * and again every 80% of the value lifetime until dr__unannounce. prev, when
 * not NULL, is the announce this one takes over: e replaces its value in
 * place (same value id, next OpenDHT seq) and its waiting caller is answered
 * unpublished; prev may be a. A resource entry always has its fixed value
 * id. cb, if any, runs once the first put is over or the op timeout passed.
 * Returns 0, -ESHUTDOWN or -ENOMEM. */
int dr__announce(dr_node *n, dr_announce *a, dr_announce *prev, dr_entry *e, uint32_t shard,
                 dr_node_publish_cb cb, void *ctx);
/* Puts a's entry again if its time came (the maintenance task). */
void dr__announce_due(dr_node *n, dr_announce *a, uint64_t now_ms);
/* Puts a's entry again now, unless a put of it is in flight (repair). */
void dr__reput(dr_node *n, dr_announce *a);
/* Stops announcing; a caller still waiting hears published=false. */
void dr__unannounce(dr_node *n, dr_announce *a);
void dr__own_free_all(dr_node *n);
/* After a restart: announces what persist.c loaded (re-signing records). */
void dr__announce_loaded(dr_node *n);

#endif
