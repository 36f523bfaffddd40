/* fuzz_entry.c - libFuzzer target: the entry decoder and verifiers (dr_entry_decode, dr_entry_check, the DHT edit policy, sealing) on untrusted bytes
 *
 * What is checked, besides the sanitizers:
 *   - a decoded entry passes dr_entry_validate (the limits hold);
 *   - its raw bytes are the input;
 *   - dr_entry_check agrees with the fields: an entry read under its own
 *     resource id at its issue time is accepted (a resource only when its id
 *     is derived from owner and label), under any other id it is wrong_key,
 *     past its expiry expired, before its issue time minus the skew future;
 *   - round trip: the decoded fields and signature encode back to the
 *     input, byte for byte (an entry has one encoding, PROTOCOL.md);
 *   - the DHT's edit policy (dr__edit_ok, which storers run on values from
 *     anyone): the input may replace a stored valid entry only if it is a
 *     valid newer version of it, never itself; on a private network, the
 *     input sealed opens back to itself and is judged as it is in the clear.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/entry_private.h"
#include "node/node_private.h"

static dr_netkey net;    /* a private network's keys */
static dr_policy_ctx open_pc;          /* storers' policy context: an open network */
static dr_policy_ctx sealed_pc;        /* and a private one */
static dr_entry stored;  /* a valid entry a storer holds: record web-1, seq 3 */

static void die(const char *what) {
  fprintf(stderr, "fuzz_entry: %s\n", what);
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (dr_crypto_init() < 0) die("dr_crypto_init");
  if (dr_netkey_derive(&net, "fuzz", 4) < 0) die("dr_netkey_derive");
  sealed_pc.net = &net;
  uint8_t seed[DR_SEED_LEN];
  dr_identity id;
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i; /* the seeds' signer */
  dr_identity_from_seed(&id, seed);
  stored = (dr_entry){.kind = DR_KIND_RECORD, .seq = 3, .issued_at = 1700000000, .expires_at = 1700000300};
  stored.name = strdup("web-1");
  dr_resource_id(stored.rid, id.pk, "web", 3);
  if (dr_entry_sign(&stored, &id, NULL, NULL) < 0) die("cannot sign the stored entry");
  return 0;
}

/* e: the input decoded, or NULL when it does not decode. Judging a value
 * against the stored entry verifies the stored entry's signature each time,
 * so values that do not decode are judged against it one time in eight
 * (by their last byte): they all take the same path. */
static void check_edit_policy(const dr_entry *e, const uint8_t *data, size_t size) {
  bool newer = e && (e->kind == DR_KIND_RESOURCE) == (stored.kind == DR_KIND_RESOURCE) &&
               !memcmp(e->issuer, stored.issuer, DR_ID_LEN) && !memcmp(e->rid, stored.rid, DR_ID_LEN) &&
               !strcmp(e->name, stored.name) && e->seq > stored.seq;
  bool against_stored = e || (size && (data[size - 1] & 7) == 0);
  if (against_stored && dr__edit_ok(&open_pc, 1, stored.raw, stored.raw_len, data, size) != newer)
    die("the edit policy disagrees with the entry");
  /* a valid entry never replaces itself; garbage replaces garbage only
   * when it could be another network's sealed value */
  if (dr__edit_ok(&open_pc, 1, data, size, data, size) != (!e && dr_is_sealed(data, size)))
    die("the edit policy is wrong about a value replacing itself");
  if (size > DR_ENTRY_MAX) return;
  uint8_t sealed[DR_WIRE_MAX], plain[DR_ENTRY_MAX], sealed_stored[DR_WIRE_MAX];
  size_t plen;
  int slen = dr_seal(&net, data, size, sealed, sizeof sealed);
  if (slen < 0 || !dr_is_sealed(sealed, (size_t)slen)) die("cannot seal");
  if (dr_open(&net, sealed, (size_t)slen, plain, &plen) != DR_REJ_NONE || plen != size ||
      memcmp(plain, data, size))
    die("a sealed value does not open to itself");
  if (against_stored) {
    int sslen = dr_seal(&net, stored.raw, stored.raw_len, sealed_stored, sizeof sealed_stored);
    if (sslen < 0) die("cannot seal");
    if (dr__edit_ok(&sealed_pc, 1, sealed_stored, (size_t)sslen, sealed, (size_t)slen) != newer)
      die("the edit policy judges a sealed entry otherwise");
  }
  /* the input itself as a sealed value: it opens only if it was sealed with this key */
  if (dr_open(&net, data, size, plain, &plen) == DR_REJ_NONE && plen > size) die("opened too much");
}

static void check_times(const dr_entry *e) {
  uint8_t other[DR_ID_LEN];
  memcpy(other, e->rid, DR_ID_LEN);
  other[0] ^= 1;
  if (dr_entry_check(e, other, e->issued_at, 60) != DR_REJ_WRONG_KEY) die("an entry of another resource passed");
  if (e->kind == DR_KIND_RESOURCE) {
    uint8_t derived[DR_ID_LEN];
    dr_resource_id(derived, e->issuer, e->name, strlen(e->name));
    dr_reject want = memcmp(derived, e->rid, DR_ID_LEN) ? DR_REJ_WRONG_KEY : DR_REJ_NONE;
    if (dr_entry_check(e, e->rid, e->issued_at, 0) != want) die("resource id check disagrees with the fields");
    if (want == DR_REJ_NONE && e->issued_at > 60 &&
        dr_entry_check(e, e->rid, e->issued_at - 61, 60) != DR_REJ_FUTURE)
      die("a resource from the future passed");
    return;
  }
  if (dr_entry_check(e, e->rid, e->issued_at, 0) != DR_REJ_NONE) die("a live entry was refused");
  if (dr_entry_check(e, e->rid, e->expires_at, 0) != DR_REJ_EXPIRED) die("an expired entry passed");
  if (e->issued_at > 60 && dr_entry_check(e, e->rid, e->issued_at - 61, 60) != DR_REJ_FUTURE)
    die("an entry from the future passed");
}

/* Re-encodes e's fields as a signer would, with e's signature. */
static int reencode(const dr_entry *e, uint8_t **raw, size_t *raw_len) {
  uint8_t *body = NULL;
  size_t body_len;
  if (dr__entry_pack_body(e, &body, &body_len) < 0) return -1;
  int r = dr__entry_pack_envelope(e->kind, body, body_len, e->issuer, e->sig, raw, raw_len);
  free(body);
  return r;
}

/* The reader accepts only the smallest forms (PROTOCOL.md), so an entry has
 * one encoding: the decoded fields, encoded again with the same signature,
 * are the input byte for byte. */
static void check_roundtrip(const dr_entry *e, const uint8_t *data, size_t size) {
  uint8_t *raw = NULL;
  size_t raw_len;
  if (reencode(e, &raw, &raw_len) < 0) die("cannot re-encode a decoded entry");
  if (raw_len != size || memcmp(raw, data, size)) die("a decoded entry does not encode back to its bytes");
  free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dr_entry e;
  const char *field, *why;
  dr_reject rej = dr_entry_decode(data, size, &e);
  if (rej == DR_REJ_NONE) {
    if (e.raw_len != size || memcmp(e.raw, data, size)) die("raw is not the input");
    if (dr_entry_validate(&e, &field, &why) < 0) die("a decoded entry breaks a limit");
    check_times(&e);
    check_roundtrip(&e, data, size);
    check_edit_policy(&e, data, size);
    dr_entry_clear(&e);
  } else {
    if (rej >= DR_REJ__COUNT || rej == DR_REJ_EXPIRED || rej == DR_REJ_FUTURE || rej == DR_REJ_WRONG_KEY ||
        rej == DR_REJ_REPLAYED || rej == DR_REJ_POLICY)
      die("decode gave a reason that is not its own");
    if (e.raw || e.name) die("a refused entry was not cleared");
    check_edit_policy(NULL, data, size);
  }
  return 0;
}
