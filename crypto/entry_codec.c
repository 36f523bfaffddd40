/* entry_codec.c - msgpack encoding of entries, and the bounded decoder that reads them back
 *
 * Encoding uses msgpack-c's packer. Decoding does not use msgpack-c's
 * unpacker: that one allocates whatever element count a header claims before
 * reading the elements, so five hostile bytes can ask for gigabytes. Our
 * reader walks the fixed layout of docs/PROTOCOL.md, checking every length
 * against the bytes that are really there, and allocates only what it read.
 */
#include "crypto/crypto.h"
#include "crypto/entry_private.h"

#include <errno.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding ----------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s) {
  size_t n = s ? strlen(s) : 0;
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s ? s : "", n);
}

static void pack_bin(msgpack_packer *pk, const uint8_t *b, size_t n) {
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, b, n);
}

static void pack_strs(msgpack_packer *pk, char *const *v, size_t n) {
  msgpack_pack_array(pk, n);
  for (size_t i = 0; i < n; i++) pack_str(pk, v[i]);
}

int dr__entry_pack_body(const dr_entry *e, uint8_t **out, size_t *out_len) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  switch (e->kind) {
  case DR_KIND_RESOURCE:
    /* the shard count is there only when the resource has shards */
    msgpack_pack_array(&pk, e->shards > 1 ? 8 : 7);
    pack_bin(&pk, e->rid, DR_ID_LEN);
    pack_bin(&pk, e->issuer, DR_ID_LEN);
    pack_str(&pk, e->name);
    msgpack_pack_uint64(&pk, e->issued_at);
    msgpack_pack_uint64(&pk, e->seq);
    msgpack_pack_uint8(&pk, (uint8_t)e->policy);
    msgpack_pack_array(&pk, e->n_allow);
    for (size_t i = 0; i < e->n_allow; i++) pack_bin(&pk, e->allow[i], DR_ID_LEN);
    if (e->shards > 1) msgpack_pack_uint32(&pk, e->shards);
    break;
  case DR_KIND_RECORD:
  case DR_KIND_TOMBSTONE:
    /* a record's health is there only when it is critical: a record of
     * no check, or a passing one, has exactly the 12 elements of before */
    msgpack_pack_array(&pk, e->kind == DR_KIND_TOMBSTONE ? 6 : e->health ? 13 : 12);
    pack_bin(&pk, e->rid, DR_ID_LEN);
    pack_bin(&pk, e->issuer, DR_ID_LEN);
    pack_str(&pk, e->name);
    msgpack_pack_uint64(&pk, e->seq);
    msgpack_pack_uint64(&pk, e->issued_at);
    msgpack_pack_uint64(&pk, e->expires_at);
    if (e->kind == DR_KIND_TOMBSTONE) break;
    pack_str(&pk, e->host);
    msgpack_pack_uint16(&pk, e->port);
    pack_strs(&pk, e->addrs, e->n_addrs);
    pack_str(&pk, e->type);
    pack_strs(&pk, e->tags, e->n_tags);
    msgpack_pack_map(&pk, e->n_meta);
    for (size_t i = 0; i < e->n_meta; i++) {
      pack_str(&pk, e->meta[i].key);
      pack_str(&pk, e->meta[i].value);
    }
    if (e->health) msgpack_pack_uint8(&pk, e->health);
    break;
  default:
    msgpack_sbuffer_destroy(&sb);
    return -EINVAL;
  }
  if (!sb.data) return -ENOMEM;
  *out = (uint8_t *)sb.data; /* sbuffer memory is malloc'd: caller frees */
  *out_len = sb.size;
  return 0;
}

int dr__entry_pack_envelope(dr_kind kind, const uint8_t *body, size_t body_len,
                            const uint8_t signer[DR_ID_LEN],
                            const uint8_t sig[DR_SIG_LEN], uint8_t **out,
                            size_t *out_len) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_array(&pk, 5);
  msgpack_pack_uint8(&pk, DR_ENTRY_VERSION);
  msgpack_pack_uint8(&pk, (uint8_t)kind);
  pack_bin(&pk, body, body_len);
  pack_bin(&pk, signer, DR_ID_LEN);
  pack_bin(&pk, sig, DR_SIG_LEN);
  if (!sb.data) return -ENOMEM;
  *out = (uint8_t *)sb.data;
  *out_len = sb.size;
  return 0;
}

/* ---- bounded reader ----------------------------------------------------- */

typedef struct reader {
  const uint8_t *p;
  const uint8_t *end;
} reader;

static int take(reader *r, size_t n, const uint8_t **out) {
  if ((size_t)(r->end - r->p) < n) return -1;
  *out = r->p;
  r->p += n;
  return 0;
}

static int read_be(reader *r, size_t n, uint64_t *v) {
  const uint8_t *b;
  if (take(r, n, &b) < 0) return -1;
  *v = 0;
  for (size_t i = 0; i < n; i++) *v = (*v << 8) | b[i];
  return 0;
}

/* Only the smallest form of a value is accepted (PROTOCOL.md), so an entry
 * has one encoding: nobody can re-wrap a signed entry into other bytes that
 * verify, and a decoded entry encodes back to the bytes it came from. */
static int read_uint(reader *r, uint64_t *v) {
  const uint8_t *b;
  uint64_t min;
  int rc;
  if (take(r, 1, &b) < 0) return -1;
  if (*b <= 0x7f) {
    *v = *b;
    return 0;
  }
  switch (*b) {
  case 0xcc: rc = read_be(r, 1, v), min = 0x80; break;
  case 0xcd: rc = read_be(r, 2, v), min = 0x100; break;
  case 0xce: rc = read_be(r, 4, v), min = 0x10000; break;
  case 0xcf: rc = read_be(r, 8, v), min = 0x100000000; break;
  default: return -1;
  }
  return rc < 0 || *v < min ? -1 : 0;
}

static int read_len(reader *r, uint8_t fix_lo, uint8_t fix_hi, uint8_t fix_mask,
                    uint8_t t8, uint8_t t16, uint8_t t32, uint64_t *n) {
  const uint8_t *b;
  uint64_t min8 = fix_hi ? (uint64_t)fix_mask + 1 : 0, min16 = t8 ? 0x100 : min8;
  if (take(r, 1, &b) < 0) return -1;
  if (fix_hi && *b >= fix_lo && *b <= fix_hi) {
    *n = *b & fix_mask;
    return 0;
  }
  if (t8 && *b == t8) return read_be(r, 1, n) < 0 || *n < min8 ? -1 : 0;
  if (*b == t16) return read_be(r, 2, n) < 0 || *n < min16 ? -1 : 0;
  if (*b == t32) return read_be(r, 4, n) < 0 || *n < 0x10000 ? -1 : 0;
  return -1;
}

static int read_array(reader *r, uint64_t *n) {
  if (read_len(r, 0x90, 0x9f, 0x0f, 0, 0xdc, 0xdd, n) < 0) return -1;
  /* every element takes at least one byte: a bound before anyone allocates */
  return *n <= (uint64_t)(r->end - r->p) ? 0 : -1;
}

static int read_map(reader *r, uint64_t *n) {
  if (read_len(r, 0x80, 0x8f, 0x0f, 0, 0xde, 0xdf, n) < 0) return -1;
  return *n <= (uint64_t)(r->end - r->p) / 2 ? 0 : -1;
}

static int read_bin(reader *r, const uint8_t **b, size_t *len) {
  uint64_t n;
  if (read_len(r, 0, 0, 0, 0xc4, 0xc5, 0xc6, &n) < 0) return -1;
  if (take(r, (size_t)n, b) < 0) return -1;
  *len = (size_t)n;
  return 0;
}

static int read_id(reader *r, uint8_t out[DR_ID_LEN]) {
  const uint8_t *b;
  size_t n;
  if (read_bin(r, &b, &n) < 0 || n != DR_ID_LEN) return -1;
  memcpy(out, b, DR_ID_LEN);
  return 0;
}

/* Readers return -1 for a malformed entry, TOO_BIG for one whose field
 * exceeds its limit (a size or a count: too_large, as PROTOCOL.md says). */
#define TOO_BIG (-2)

/* A string field: valid UTF-8 with no NUL, at most max bytes; copied. */
static int read_str(reader *r, size_t max, char **out) {
  uint64_t n;
  const uint8_t *b;
  if (read_len(r, 0xa0, 0xbf, 0x1f, 0xd9, 0xda, 0xdb, &n) < 0) return -1;
  if (n > max) return TOO_BIG;
  if (take(r, (size_t)n, &b) < 0) return -1;
  if (!dr__utf8_valid((const char *)b, (size_t)n)) return -1;
  char *s = malloc((size_t)n + 1);
  if (!s) return -1;
  memcpy(s, b, (size_t)n);
  s[n] = '\0';
  *out = s;
  return 0;
}

static int read_strs(reader *r, size_t max_count, size_t max_len, char ***out,
                     size_t *count) {
  uint64_t n;
  int rc;
  if (read_array(r, &n) < 0) return -1;
  if (n > max_count) return TOO_BIG;
  if (n == 0) return 0;
  *out = calloc((size_t)n, sizeof **out);
  if (!*out) return -1;
  for (size_t i = 0; i < n; i++) {
    if ((rc = read_str(r, max_len, &(*out)[i])) < 0) return rc;
    *count = i + 1;
  }
  return 0;
}

/* Evaluates x (a reader) and returns its error, if any. */
#define TRY(x)            \
  do {                    \
    int rc_ = (x);        \
    if (rc_ < 0) return rc_; \
  } while (0)

static int read_body(reader *r, dr_entry *e) {
  uint64_t n, v, elems;
  if (read_array(r, &n) < 0) return -1;
  elems = n;
  if (e->kind == DR_KIND_RESOURCE) {
    if (n != 7 && n != 8) return -1;
    if (read_id(r, e->rid) < 0 || read_id(r, e->issuer) < 0) return -1;
    TRY(read_str(r, DR_NAME_MAX, &e->name));
    if (read_uint(r, &e->issued_at) < 0 || read_uint(r, &e->seq) < 0) return -1;
    if (read_uint(r, &v) < 0 || v > DR_POLICY_OWNER) return -1;
    e->policy = (dr_policy)v;
    if (read_array(r, &v) < 0) return -1;
    if (v > DR_ALLOW_MAX) return TOO_BIG;
    if (v) {
      e->allow = calloc((size_t)v, sizeof *e->allow);
      if (!e->allow) return -1;
      for (size_t i = 0; i < v; i++) {
        if (read_id(r, e->allow[i]) < 0) return -1;
        e->n_allow = i + 1;
      }
    }
    e->shards = 1;
    if (n == 8) { /* present only when there are shards: 2 or more */
      if (read_uint(r, &v) < 0 || v < 2) return -1;
      if (v > DR_SHARDS_MAX) return TOO_BIG;
      e->shards = (uint32_t)v;
    }
    return 0;
  }
  if (e->kind == DR_KIND_RECORD ? n != 12 && n != 13 : n != 6) return -1;
  if (read_id(r, e->rid) < 0 || read_id(r, e->issuer) < 0) return -1;
  TRY(read_str(r, DR_NAME_MAX, &e->name));
  if (read_uint(r, &e->seq) < 0 || read_uint(r, &e->issued_at) < 0 ||
      read_uint(r, &e->expires_at) < 0)
    return -1;
  if (e->kind == DR_KIND_TOMBSTONE) return 0;
  TRY(read_str(r, DR_HOST_MAX, &e->host));
  if (read_uint(r, &v) < 0 || v > 65535) return -1;
  e->port = (uint16_t)v;
  TRY(read_strs(r, DR_ADDRS_MAX, DR_ADDR_LEN_MAX, &e->addrs, &e->n_addrs));
  TRY(read_str(r, DR_TYPE_MAX, &e->type));
  TRY(read_strs(r, DR_TAGS_MAX, DR_TAG_LEN_MAX, &e->tags, &e->n_tags));
  if (read_map(r, &n) < 0) return -1;
  if (n) {
    e->meta = calloc((size_t)n, sizeof *e->meta);
    if (!e->meta) return -1;
    for (size_t i = 0; i < n; i++) {
      e->n_meta = i + 1;
      TRY(read_str(r, DR_META_ENCODED_MAX, &e->meta[i].key));
      TRY(read_str(r, DR_META_ENCODED_MAX, &e->meta[i].value));
    }
  }
  if (elems == 13) { /* present only when critical: passing is the 12 elements' */
    if (read_uint(r, &v) < 0 || v != DR_HEALTH_CRITICAL) return -1;
    e->health = (uint8_t)v;
  }
  return 0;
}

dr_reject dr__entry_unpack(const uint8_t *buf, size_t len, dr_entry *e,
                           uint8_t signer[DR_ID_LEN], const uint8_t **body,
                           size_t *body_len) {
  reader r = {buf, buf + len};
  uint64_t n, version, kind;
  const uint8_t *b;
  size_t blen;
  if (len > DR_ENTRY_MAX) return DR_REJ_TOO_LARGE;
  if (read_array(&r, &n) < 0 || n != 5) return DR_REJ_MALFORMED;
  if (read_uint(&r, &version) < 0 || version != DR_ENTRY_VERSION) return DR_REJ_MALFORMED;
  if (read_uint(&r, &kind) < 0 || kind < DR_KIND_RESOURCE || kind > DR_KIND_TOMBSTONE)
    return DR_REJ_MALFORMED;
  if (read_bin(&r, body, body_len) < 0) return DR_REJ_MALFORMED;
  if (read_id(&r, signer) < 0) return DR_REJ_MALFORMED;
  if (read_bin(&r, &b, &blen) < 0 || blen != DR_SIG_LEN) return DR_REJ_MALFORMED;
  if (r.p != r.end) return DR_REJ_MALFORMED;
  memcpy(e->sig, b, DR_SIG_LEN);
  e->kind = (dr_kind)kind;
  reader br = {*body, *body + *body_len};
  int rc = read_body(&br, e);
  if (rc == TOO_BIG) return DR_REJ_TOO_LARGE;
  if (rc < 0 || br.p != br.end) return DR_REJ_MALFORMED;
  return DR_REJ_NONE;
}
