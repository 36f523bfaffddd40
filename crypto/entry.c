/* entry.c - resources, records and tombstones: limits, signing, verification */
#include "crypto/crypto.h"
#include "crypto/entry_private.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char sig_domain[] = "dhtreg/v1/entry";

static const char *const reject_names[DR_REJ__COUNT] = {
    [DR_REJ_NONE] = "none",
    [DR_REJ_MALFORMED] = "malformed",
    [DR_REJ_TOO_LARGE] = "too_large",
    [DR_REJ_BAD_SIGNATURE] = "bad_signature",
    [DR_REJ_WRONG_SIGNER] = "wrong_signer",
    [DR_REJ_WRONG_KEY] = "wrong_key",
    [DR_REJ_EXPIRED] = "expired",
    [DR_REJ_FUTURE] = "future",
    [DR_REJ_REPLAYED] = "replayed",
    [DR_REJ_POLICY] = "policy",
};

const char *dr_reject_name(dr_reject r) {
  return (unsigned)r < DR_REJ__COUNT ? reject_names[r] : "unknown";
}

bool dr__utf8_valid(const char *str, size_t len) {
  const uint8_t *s = (const uint8_t *)str;
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp;
    if (c == 0) return false;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return false;
    if (len - i <= n) return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

static void free_strs(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void dr_entry_clear(dr_entry *e) {
  free(e->name);
  free(e->host);
  free_strs(e->addrs, e->n_addrs);
  free(e->type);
  free_strs(e->tags, e->n_tags);
  for (size_t i = 0; i < e->n_meta; i++) {
    free(e->meta[i].key);
    free(e->meta[i].value);
  }
  free(e->meta);
  free(e->allow);
  free(e->raw);
  memset(e, 0, sizeof *e);
}

static int dup_str(char **dst, const char *src) {
  *dst = NULL;
  if (!src) return 0;
  *dst = strdup(src);
  return *dst ? 0 : -1;
}

static int dup_strs(char ***dst, char *const *src, size_t n) {
  *dst = NULL;
  if (!n) return 0;
  *dst = calloc(n, sizeof **dst);
  if (!*dst) return -1;
  for (size_t i = 0; i < n; i++)
    if (dup_str(&(*dst)[i], src[i]) < 0) return -1;
  return 0;
}

int dr_entry_copy(dr_entry *dst, const dr_entry *src) {
  *dst = *src;
  dst->name = dst->host = dst->type = NULL;
  dst->addrs = dst->tags = NULL;
  dst->meta = NULL;
  dst->allow = NULL;
  dst->raw = NULL;
  size_t n_addrs = dst->n_addrs, n_tags = dst->n_tags, n_meta = dst->n_meta;
  dst->n_addrs = dst->n_tags = dst->n_meta = 0;
  if (dup_str(&dst->name, src->name) < 0 || dup_str(&dst->host, src->host) < 0 ||
      dup_str(&dst->type, src->type) < 0)
    goto fail;
  dst->n_addrs = n_addrs;
  if (dup_strs(&dst->addrs, src->addrs, n_addrs) < 0) goto fail;
  dst->n_tags = n_tags;
  if (dup_strs(&dst->tags, src->tags, n_tags) < 0) goto fail;
  if (n_meta) {
    dst->meta = calloc(n_meta, sizeof *dst->meta);
    if (!dst->meta) goto fail;
    dst->n_meta = n_meta;
    for (size_t i = 0; i < n_meta; i++)
      if (dup_str(&dst->meta[i].key, src->meta[i].key) < 0 ||
          dup_str(&dst->meta[i].value, src->meta[i].value) < 0)
        goto fail;
  }
  if (src->n_allow) {
    dst->allow = malloc(src->n_allow * sizeof *dst->allow);
    if (!dst->allow) goto fail;
    memcpy(dst->allow, src->allow, src->n_allow * sizeof *dst->allow);
  }
  if (src->raw) {
    dst->raw = malloc(src->raw_len);
    if (!dst->raw) goto fail;
    memcpy(dst->raw, src->raw, src->raw_len);
  }
  return 0;
fail:
  dr_entry_clear(dst);
  return -ENOMEM;
}

bool dr_entry_passing(const dr_entry *e) {
  return e && e->kind == DR_KIND_RECORD && e->health == DR_HEALTH_PASSING;
}

/* ---- limits ------------------------------------------------------------- */

#define FAIL(err, f, w)        \
  do {                         \
    *field = (f);              \
    *why = (w);                \
    return (err);              \
  } while (0)

bool dr__text_ok(const char *str, size_t len) {
  const uint8_t *s = (const uint8_t *)str;
  if (!dr__utf8_valid(str, len)) return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < 0x20 || s[i] == 0x7f) return false;                 /* C0, DEL */
    if (s[i] == 0xc2 && i + 1 < len && s[i + 1] < 0xa0) return false; /* C1: U+0080-U+009F */
  }
  return true;
}

bool dr_text_valid(const char *s, size_t len) {
  return dr__text_ok(s, len);
}

/* ---- names this node signs ---------------------------------------------- */

#define LABEL_RULE                                                                                     \
  "must be a DNS name in lowercase (LABEL.OWNER.dhtreg.): parts of 1-63 letters a-z, digits, '-' " \
  "and '_', each starting and ending with a letter or digit, joined by dots"
#define SERVICE_ID_RULE                                                                        \
  "must be one word of letters, digits, '.', '_', ':' and '-' (no space), starting with a " \
  "letter, a digit or '_'"

static bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

const char *dr_label_refusal(const char *s, size_t len) {
  size_t run = 0;
  if (len == 0 || len > DR_NAME_MAX) return NULL;
  for (size_t i = 0; i <= len; i++) {
    char c = i < len ? s[i] : '.'; /* the end closes the last part */
    if (c == '.') {
      if (run == 0 || run > 63 || !lower_alnum(s[i - 1])) return LABEL_RULE;
      run = 0;
    } else if (run == 0 ? !lower_alnum(c) : !lower_alnum(c) && c != '-' && c != '_') {
      return LABEL_RULE;
    } else {
      run++;
    }
  }
  return NULL;
}

const char *dr_service_id_refusal(const char *s, size_t len) {
  if (len == 0 || len > DR_NAME_MAX) return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word && (i == 0 || (c != '.' && c != ':' && c != '-'))) return SERVICE_ID_RULE;
  }
  return NULL;
}

/* A text field: valid UTF-8 without control characters (C0, DEL, C1), so
 * that no entry can move a terminal's cursor or forge lines when shown. */
static int check_str(const char *s, size_t min, size_t max) {
  if (!s) return min ? -EINVAL : 0;
  size_t n = strlen(s);
  if (n < min) return -EINVAL;
  if (n > max) return -EMSGSIZE;
  return dr__text_ok(s, n) ? 0 : -EINVAL;
}

static size_t mp_str_size(const char *s) {
  size_t n = s ? strlen(s) : 0;
  return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
}

static int validate_record_fields(const dr_entry *e, const char **field, const char **why) {
  int r;
  if ((r = check_str(e->host, 0, DR_HOST_MAX)) < 0)
    FAIL(r, "host", r == -EMSGSIZE ? "longer than 253 bytes" : "not valid UTF-8 or holds a control character");
  if (e->n_addrs > DR_ADDRS_MAX) FAIL(-EMSGSIZE, "addresses", "more than 16 addresses");
  for (size_t i = 0; i < e->n_addrs; i++) {
    if ((r = check_str(e->addrs[i], 1, DR_ADDR_LEN_MAX)) < 0)
      FAIL(r, "addresses", r == -EMSGSIZE ? "an address is longer than 128 bytes"
                                         : "an address is empty, not valid UTF-8 or holds a control character");
    for (size_t k = 0; k < i; k++)
      if (strcmp(e->addrs[k], e->addrs[i]) == 0) FAIL(-EINVAL, "addresses", "an address is listed twice");
  }
  if ((r = check_str(e->type, 0, DR_TYPE_MAX)) < 0)
    FAIL(r, "type", r == -EMSGSIZE ? "longer than 64 bytes" : "not valid UTF-8 or holds a control character");
  if (e->n_tags > DR_TAGS_MAX) FAIL(-EMSGSIZE, "tags", "more than 16 tags");
  for (size_t i = 0; i < e->n_tags; i++) {
    if ((r = check_str(e->tags[i], 1, DR_TAG_LEN_MAX)) < 0)
      FAIL(r, "tags", r == -EMSGSIZE ? "a tag is longer than 64 bytes"
                                    : "a tag is empty, not valid UTF-8 or holds a control character");
    for (size_t k = 0; k < i; k++)
      if (strcmp(e->tags[k], e->tags[i]) == 0) FAIL(-EINVAL, "tags", "a tag is listed twice");
  }
  size_t meta_size = e->n_meta < 16 ? 1 : e->n_meta < 65536 ? 3 : 5;
  for (size_t i = 0; i < e->n_meta; i++) {
    if (check_str(e->meta[i].key, 1, DR_META_ENCODED_MAX) < 0 ||
        check_str(e->meta[i].value, 0, DR_META_ENCODED_MAX) < 0)
      FAIL(-EINVAL, "metadata", "keys must be non-empty strings, values strings, of valid UTF-8 without control characters");
    /* one encoding per entry: keys unique, in ascending byte order */
    if (i && strcmp(e->meta[i - 1].key, e->meta[i].key) >= 0)
      FAIL(-EINVAL, "metadata", "keys must be unique and in ascending byte order");
    meta_size += mp_str_size(e->meta[i].key) + mp_str_size(e->meta[i].value);
  }
  if (meta_size > DR_META_ENCODED_MAX)
    FAIL(-EMSGSIZE, "metadata", "larger than 2048 bytes encoded");
  return 0;
}

int dr_entry_validate(const dr_entry *e, const char **field, const char **why) {
  const char *dummy_f, *dummy_w;
  if (!field) field = &dummy_f;
  if (!why) why = &dummy_w;
  int r;
  const char *name_field = e->kind == DR_KIND_RESOURCE ? "label" : "service_id";
  if (e->kind < DR_KIND_RESOURCE || e->kind > DR_KIND_TOMBSTONE)
    FAIL(-EINVAL, "kind", "unknown entry kind");
  if ((r = check_str(e->name, 1, DR_NAME_MAX)) < 0)
    FAIL(r, name_field, r == -EMSGSIZE ? "longer than 128 bytes"
                                       : "must be 1-128 bytes of valid UTF-8 without control characters");
  if (e->seq == 0) FAIL(-EINVAL, "seq", "must be at least 1");
  if (e->kind != DR_KIND_RESOURCE && e->shards) FAIL(-EINVAL, "shards", "only a resource has shards");
  if (e->kind != DR_KIND_RECORD && e->health) FAIL(-EINVAL, "health", "only a record has a health");
  if (e->health > DR_HEALTH_CRITICAL) FAIL(-EINVAL, "health", "must be passing (0) or critical (1)");
  if (e->kind == DR_KIND_RESOURCE) {
    if (e->policy != DR_POLICY_OPEN && e->policy != DR_POLICY_OWNER)
      FAIL(-EINVAL, "policy", "must be \"open\" or \"owner\"");
    if (e->n_allow > DR_ALLOW_MAX) FAIL(-EMSGSIZE, "allow", "more than 64 peers");
    if (e->n_allow && e->policy == DR_POLICY_OPEN)
      FAIL(-EINVAL, "allow", "only an owner resource has an allow-list");
    for (size_t i = 0; i < e->n_allow; i++) {
      if (memcmp(e->allow[i], e->issuer, DR_ID_LEN) == 0)
        FAIL(-EINVAL, "allow", "the owner is not listed on its own allow-list");
      for (size_t k = 0; k < i; k++)
        if (memcmp(e->allow[k], e->allow[i], DR_ID_LEN) == 0) FAIL(-EINVAL, "allow", "a peer is listed twice");
    }
    if (e->shards > DR_SHARDS_MAX) FAIL(-EMSGSIZE, "shards", "more than 4096 shards");
    if (e->shards & (e->shards - 1)) FAIL(-EINVAL, "shards", "must be a power of two");
    return 0;
  }
  if (e->expires_at <= e->issued_at) FAIL(-EINVAL, "expires_at", "not after issued_at");
  uint64_t life = e->expires_at - e->issued_at;
  if (life > DR_TTL_MAX) FAIL(-EMSGSIZE, "ttl", "longer than 86400 s");
  /* the 30 s floor is the advertiser's (dr_node_advertise): a short-lived
   * record harms nobody but its issuer, so readers accept it */
  if (e->kind == DR_KIND_RECORD) return validate_record_fields(e, field, why);
  return 0;
}

/* ---- signing and verification ------------------------------------------- */

int dr_entry_signed_message(dr_kind kind, const uint8_t *body, size_t body_len,
                            uint8_t *out, size_t cap) {
  size_t n = sizeof sig_domain - 1 + 2 + body_len;
  if (n > cap) return -EMSGSIZE;
  memcpy(out, sig_domain, sizeof sig_domain - 1);
  out[sizeof sig_domain - 1] = 0;
  out[sizeof sig_domain] = (uint8_t)kind;
  memcpy(out + sizeof sig_domain + 1, body, body_len);
  return (int)n;
}

int dr_entry_sign(dr_entry *e, const dr_identity *id, const char **field,
                  const char **why) {
  const char *dummy_f, *dummy_w;
  if (!field) field = &dummy_f;
  if (!why) why = &dummy_w;
  memcpy(e->issuer, id->pk, DR_ID_LEN);
  int r = dr_entry_validate(e, field, why);
  if (r < 0) return r;
  uint8_t *body = NULL, *raw = NULL;
  size_t body_len, raw_len;
  uint8_t msg[DR_ENTRY_MAX + 32];
  if ((r = dr__entry_pack_body(e, &body, &body_len)) < 0) return r;
  int mlen = dr_entry_signed_message(e->kind, body, body_len, msg, sizeof msg);
  if (mlen < 0) {
    free(body);
    FAIL(-EMSGSIZE, "entry", "larger than 4096 bytes encoded");
  }
  crypto_sign_detached(e->sig, NULL, msg, (unsigned long long)mlen, id->sk);
  r = dr__entry_pack_envelope(e->kind, body, body_len, id->pk, e->sig, &raw, &raw_len);
  free(body);
  if (r < 0) return r;
  if (raw_len > DR_ENTRY_MAX) {
    free(raw);
    FAIL(-EMSGSIZE, "entry", "larger than 4096 bytes encoded");
  }
  free(e->raw);
  e->raw = raw;
  e->raw_len = raw_len;
  return 0;
}

dr_reject dr_entry_decode(const uint8_t *buf, size_t len, dr_entry *out) {
  uint8_t signer[DR_ID_LEN];
  const uint8_t *body;
  size_t body_len;
  uint8_t msg[DR_ENTRY_MAX + 32];
  memset(out, 0, sizeof *out);
  dr_reject rej = dr__entry_unpack(buf, len, out, signer, &body, &body_len);
  if (rej != DR_REJ_NONE) goto fail;
  int r = dr_entry_validate(out, NULL, NULL);
  if (r < 0) {
    rej = r == -EMSGSIZE ? DR_REJ_TOO_LARGE : DR_REJ_MALFORMED;
    goto fail;
  }
  if (sodium_memcmp(signer, out->issuer, DR_ID_LEN) != 0) {
    rej = DR_REJ_WRONG_SIGNER;
    goto fail;
  }
  int mlen = dr_entry_signed_message(out->kind, body, body_len, msg, sizeof msg);
  if (mlen < 0 || crypto_sign_verify_detached(out->sig, msg, (unsigned long long)mlen,
                                              out->issuer) != 0) {
    rej = DR_REJ_BAD_SIGNATURE;
    goto fail;
  }
  out->raw = malloc(len);
  if (!out->raw) {
    rej = DR_REJ_MALFORMED;
    goto fail;
  }
  memcpy(out->raw, buf, len);
  out->raw_len = len;
  return DR_REJ_NONE;
fail:
  dr_entry_clear(out);
  return rej;
}

uint64_t dr_entry_placement(const dr_entry *e) {
  return dr_shard_hash(e->rid, e->issuer, e->name, strlen(e->name));
}

dr_reject dr_entry_check(const dr_entry *e, const uint8_t rid[DR_ID_LEN],
                         uint64_t now, uint64_t skew) {
  if (memcmp(e->rid, rid, DR_ID_LEN) != 0) return DR_REJ_WRONG_KEY;
  if (e->kind == DR_KIND_RESOURCE) {
    uint8_t derived[DR_ID_LEN];
    dr_resource_id(derived, e->issuer, e->name, strlen(e->name));
    if (memcmp(derived, e->rid, DR_ID_LEN) != 0) return DR_REJ_WRONG_KEY;
  }
  if (e->issued_at > now + skew) return DR_REJ_FUTURE;
  /* no tolerance on expiry: an entry lives as long as its issuer said */
  if (e->kind != DR_KIND_RESOURCE && e->expires_at <= now) return DR_REJ_EXPIRED;
  return DR_REJ_NONE;
}
