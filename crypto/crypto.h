/* crypto.h - the crypto module's API: ids, node identity, signed entries
 *
 * Everything here is pure (no I/O but the identity file, no globals) and may
 * be called from any thread, provided dr_crypto_init() ran once first.
 * Errors are negative errno values; 0 (or a length) is success.
 */
#ifndef DR_CRYPTO_H
#define DR_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DR_ID_LEN 32       /* peer ids (Ed25519 public keys) and resource ids */
#define DR_SIG_LEN 64      /* Ed25519 signature */
#define DR_SEED_LEN 32     /* Ed25519 seed */
#define DR_DHT_KEY_LEN 20  /* OpenDHT InfoHash */
#define DR_ID_TEXT_MAX 48  /* base58 of 32 bytes is at most 44 chars, plus NUL */

/* Limits of PRODUCT.md section 2, enforced by encoder and decoder alike. */
#define DR_NAME_MAX 128          /* label and service id, bytes */
#define DR_HOST_MAX 253
#define DR_TYPE_MAX 64
#define DR_TAGS_MAX 16
#define DR_TAG_LEN_MAX 64
#define DR_ADDRS_MAX 16
#define DR_ADDR_LEN_MAX 128
#define DR_META_ENCODED_MAX 2048 /* metadata map as encoded */
#define DR_ALLOW_MAX 64          /* peers on a resource's allow-list */
#define DR_ENTRY_MAX 4096        /* one encoded entry */
#define DR_TTL_MIN 30
#define DR_TTL_MAX 86400
#define DR_SHARDS_MAX 4096       /* shards of one resource (a power of two) */

#define DR_ENTRY_VERSION 1

/* Must run once per process before anything else here (libsodium init). */
int dr_crypto_init(void);

/* ---- ids ---------------------------------------------------------------- */

/* Writes the base58 (Bitcoin alphabet) text of a 32-byte id into out
 * (DR_ID_TEXT_MAX bytes) and returns its length. */
int dr_id_encode(const uint8_t id[DR_ID_LEN], char out[DR_ID_TEXT_MAX]);

/* Parses a base58 id: exactly 32 bytes, canonical form only (the text must be
 * what dr_id_encode gives back). Returns 0, or -EINVAL with out unchanged. */
int dr_id_decode(const char *text, uint8_t out[DR_ID_LEN]);

/* The resource id of (owner, label): BLAKE2b-256 over a domain-separated,
 * length-prefixed encoding (docs/PROTOCOL.md). */
void dr_resource_id(uint8_t out[DR_ID_LEN], const uint8_t owner[DR_ID_LEN],
                    const char *label, size_t label_len);

/* The DHT key of a resource's head: its resource entry and the records of
 * shard 0. netkey is the 32-byte private-network key, or NULL on the
 * public registry. */
void dr_dht_key(uint8_t out[DR_DHT_KEY_LEN], const uint8_t rid[DR_ID_LEN],
                const uint8_t *netkey);

/* The DHT key of shard i of a resource (docs/PROTOCOL.md, "Shards"):
 * shard 0 is the head (dr_dht_key). i < DR_SHARDS_MAX. */
void dr_shard_key(uint8_t out[DR_DHT_KEY_LEN], const uint8_t rid[DR_ID_LEN], uint32_t i,
                  const uint8_t *netkey);

/* The placement hash of a record or tombstone: its shard in a resource of
 * n shards (a power of two) is dr_shard_hash(...) % n. */
uint64_t dr_shard_hash(const uint8_t rid[DR_ID_LEN], const uint8_t issuer[DR_ID_LEN],
                       const char *service_id, size_t len);

/* Whether an entry of that placement hash may be stored in shard i: i is
 * hash % n for some number of shards n (shard 0, the head, takes any). */
bool dr_shard_fits(uint64_t hash, uint32_t i);


/* ---- identity ----------------------------------------------------------- */

typedef struct dr_identity {
  uint8_t pk[DR_ID_LEN]; /* the peer id */
  uint8_t sk[64];        /* libsodium's seed || pk form */
} dr_identity;

void dr_identity_from_seed(dr_identity *id, const uint8_t seed[DR_SEED_LEN]);
void dr_identity_generate(dr_identity *id);

/* Loads the identity key file at path, or creates it (mode 0600, written
 * atomically) when it does not exist. Refuses a file readable or writable by
 * group or others, as ssh does. On error returns a negative errno and writes
 * a one-line reason (naming the file and the fix) into err. */
int dr_identity_load_or_create(dr_identity *id, const char *path, char *err,
                               size_t errlen);

/* Writes data to path durably and atomically (a temporary file in the same
 * directory, fsync, rename, fsync of the directory), with the given mode:
 * a reader sees the old file or the new one, never a half-written one.
 * Returns 0 or a negative errno. Used for the key file and state files. */
int dr_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode);

/* ---- entries ------------------------------------------------------------ */

typedef enum dr_kind {
  DR_KIND_RESOURCE = 1,
  DR_KIND_RECORD = 2,
  DR_KIND_TOMBSTONE = 3,
} dr_kind;

typedef enum dr_policy { DR_POLICY_OPEN = 0, DR_POLICY_OWNER = 1 } dr_policy;

/* A record's signed health (docs/PROTOCOL.md, Record element 12): what its
 * issuer's check last said. Passing is the default and is not encoded. */
#define DR_HEALTH_PASSING 0
#define DR_HEALTH_CRITICAL 1

/* Why a reader dropped an entry; counted in node.info's "rejected". */
typedef enum dr_reject {
  DR_REJ_NONE = 0,
  DR_REJ_MALFORMED,     /* not our msgpack layout, or an unknown version */
  DR_REJ_TOO_LARGE,     /* over DR_ENTRY_MAX or a field limit */
  DR_REJ_BAD_SIGNATURE, /* signature does not verify */
  DR_REJ_WRONG_SIGNER,  /* signer is not the entry's issuer/owner */
  DR_REJ_WRONG_KEY,     /* entry of another resource (cross-key replay) */
  DR_REJ_EXPIRED,
  DR_REJ_FUTURE,        /* issued further in the future than the skew allows */
  DR_REJ_REPLAYED,      /* older than an entry already seen */
  DR_REJ_POLICY,        /* forbidden by the resource's policy */
  DR_REJ__COUNT
} dr_reject;

const char *dr_reject_name(dr_reject r);

typedef struct dr_meta {
  char *key;
  char *value;
} dr_meta;

/* One entry, decoded. Strings are NUL-terminated, heap-owned by the entry
 * and freed by dr_entry_clear(). Which fields apply depends on kind:
 *   resource:  rid, issuer (the owner), name (label), issued_at (created_at),
 *              seq, policy, allow
 *   record:    rid, issuer, name (service id), seq, issued_at, expires_at,
 *              host, port, addrs, type, tags, meta, health
 *   tombstone: rid, issuer, name (service id), seq, issued_at, expires_at */
typedef struct dr_entry {
  dr_kind kind;
  uint8_t rid[DR_ID_LEN];
  uint8_t issuer[DR_ID_LEN];
  char *name;
  uint64_t seq;
  uint64_t issued_at;
  uint64_t expires_at;
  char *host;
  uint16_t port;
  char **addrs;
  size_t n_addrs;
  char *type;
  char **tags;
  size_t n_tags;
  dr_meta *meta;
  size_t n_meta;
  dr_policy policy;
  uint8_t (*allow)[DR_ID_LEN];
  size_t n_allow;
  uint32_t shards; /* resources: its records' shards, a power of two (0 is read as 1) */
  uint8_t health;  /* records: DR_HEALTH_PASSING (0) or DR_HEALTH_CRITICAL */
  uint8_t sig[DR_SIG_LEN];
  uint8_t *raw; /* the signed, encoded entry (set by sign and decode) */
  size_t raw_len;
} dr_entry;

/* Whether s (len bytes) may be an entry's text: valid UTF-8 without
 * control characters (C0, DEL, C1). */
bool dr_text_valid(const char *s, size_t len);

/* What this node signs as a resource's label or a record's service id,
 * narrower than what readers accept (dr_text_valid: any such text of 1-128
 * bytes, as other implementations may sign). A label is a DNS name in
 * lowercase, so that LABEL.OWNER.dhtreg. names every resource: parts of
 * 1-63 bytes of a-z, 0-9, '-' and '_', each starting and ending with a
 * letter or a digit, joined by dots. A service id is one word: ASCII
 * letters, digits, '.', '_', ':' and '-', starting with a letter, a digit
 * or '_'. Each returns NULL when s (len bytes) is one, else the rule as the
 * text of an error ("must be ..."). A length outside 1-128 is not judged
 * here (NULL): the entry's limits say what is wrong with it. */
typedef const char *(*dr_name_rule)(const char *s, size_t len);
const char *dr_label_refusal(const char *s, size_t len);
const char *dr_service_id_refusal(const char *s, size_t len);

/* Whether readers hand out this record by default (resolve, discover,
 * and any other interface: the one place that decides): a record whose
 * signed health is passing, as every record without a check is. False for
 * a critical record and for an entry that is not a record. */
bool dr_entry_passing(const dr_entry *e);

/* Frees what the entry owns and zeroes it. Safe on a zeroed entry. */
void dr_entry_clear(dr_entry *e);

/* Deep copy. Returns 0 or -ENOMEM (dst zeroed). */
int dr_entry_copy(dr_entry *dst, const dr_entry *src);

/* Checks every field against the limits. On failure returns -EINVAL (a
 * malformed field) or -EMSGSIZE (a limit exceeded), and points *field at the
 * offending field's name and *why at a short reason. */
int dr_entry_validate(const dr_entry *e, const char **field, const char **why);

/* Validates, encodes and signs e with id, filling e->issuer, e->sig and
 * e->raw. Returns 0, or what dr_entry_validate returns (also -EMSGSIZE when
 * the whole entry exceeds DR_ENTRY_MAX), or -ENOMEM. */
int dr_entry_sign(dr_entry *e, const dr_identity *id, const char **field,
                  const char **why);

/* Decodes and verifies one entry from untrusted bytes: size, layout, version,
 * limits, signer and signature. Fills out (which the caller clears) and
 * returns DR_REJ_NONE, or the reason with out cleared. */
dr_reject dr_entry_decode(const uint8_t *buf, size_t len, dr_entry *out);

/* The placement hash of record or tombstone e (dr_shard_hash of its
 * resource, issuer and service id). */
uint64_t dr_entry_placement(const dr_entry *e);

/* The checks that depend on where and when an entry was read: it belongs to
 * rid (and a resource's rid is derived from its owner and label), it was
 * not issued more than skew seconds ahead of now, and (records and
 * tombstones) its expires_at is after now: no tolerance on lifetimes. */
dr_reject dr_entry_check(const dr_entry *e, const uint8_t rid[DR_ID_LEN],
                         uint64_t now, uint64_t skew);

/* The message an entry's signature covers, for docs and test vectors:
 * writes into out (at most cap bytes) and returns its length or -EMSGSIZE. */
int dr_entry_signed_message(dr_kind kind, const uint8_t *body, size_t body_len,
                            uint8_t *out, size_t cap);

/* ---- private networks (--psk) ------------------------------------------- */

#define DR_SEAL_VERSION 1
#define DR_SEAL_OVERHEAD (1 + 24 + 16) /* version, XChaCha20 nonce, Poly1305 tag */

/* The keys of a private network, all derived from its passphrase. */
typedef struct dr_netkey {
  uint8_t dht[32];   /* keys dr_dht_key: outsiders cannot find the entries */
  uint8_t seal[32];  /* XChaCha20-Poly1305 key of sealed entries */
  uint8_t nonce[32]; /* keys the synthetic nonce of a sealed entry */
} dr_netkey;

/* Derives a network's keys from its passphrase (Argon2id with a fixed salt
 * and costs, ~64 MiB and a fraction of a second: run it once, at start).
 * Returns 0, -EINVAL for an empty passphrase, or -ENOMEM. */
int dr_netkey_derive(dr_netkey *k, const char *passphrase, size_t len);

/* Seals an encoded entry (at most DR_ENTRY_MAX bytes) into out, which holds
 * cap bytes (len + DR_SEAL_OVERHEAD are needed). Deterministic: the same
 * entry gives the same bytes. Returns the sealed length, -EMSGSIZE or
 * -ENOBUFS. */
int dr_seal(const dr_netkey *k, const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Opens a sealed value read from the DHT into out (DR_ENTRY_MAX bytes).
 * Returns DR_REJ_NONE with *out_len set; DR_REJ_TOO_LARGE, DR_REJ_MALFORMED
 * (not a sealed value of a known version), or DR_REJ_BAD_SIGNATURE (sealed
 * with another key, or altered). */
dr_reject dr_open(const dr_netkey *k, const uint8_t *in, size_t len, uint8_t *out,
                  size_t *out_len);

/* Whether bytes have the shape of a sealed value (no key needed). */
bool dr_is_sealed(const uint8_t *in, size_t len);

#endif
