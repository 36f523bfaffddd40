/* psk.c - private networks: the network key derived from a passphrase, and sealed entries
 *
 * A private registry's entries travel sealed: XChaCha20-Poly1305 under a key
 * only the network's nodes can derive, with a synthetic nonce (a keyed hash
 * of the plaintext), so the same entry always seals to the same bytes and
 * OpenDHT's storers and our readers keep deduplicating copies. The layout and
 * every constant are in docs/PROTOCOL.md ("Private networks").
 */
#include "crypto/crypto.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

/* Argon2id, fixed so every node derives the same key from the same
 * passphrase (libsodium's "interactive" costs, written out so a change of
 * the library's defaults cannot split a network). */
#define KDF_OPSLIMIT 2ull
#define KDF_MEMLIMIT (64u * 1024 * 1024)
static const uint8_t kdf_salt[crypto_pwhash_SALTBYTES] = "dhtreg-psk-salt1";

static const char seal_ad[] = "dhtreg/v1/sealed";

static void subkey(uint8_t out[32], const uint8_t master[32], const char *name) {
  char label[64];
  size_t n = (size_t)snprintf(label, sizeof label, "dhtreg/v1/psk/%s", name);
  crypto_generichash(out, 32, (const uint8_t *)label, n, master, 32);
}

int dr_netkey_derive(dr_netkey *k, const char *passphrase, size_t len) {
  uint8_t master[32];
  if (len == 0) return -EINVAL;
  if (crypto_pwhash(master, sizeof master, passphrase, len, kdf_salt, KDF_OPSLIMIT, KDF_MEMLIMIT,
                    crypto_pwhash_ALG_ARGON2ID13) != 0)
    return -ENOMEM; /* libsodium's only failure here: it could not get the memory */
  subkey(k->dht, master, "dht-key");
  subkey(k->seal, master, "seal");
  subkey(k->nonce, master, "nonce");
  sodium_memzero(master, sizeof master);
  return 0;
}

int dr_seal(const dr_netkey *k, const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
  if (len > DR_ENTRY_MAX) return -EMSGSIZE;
  if (cap < len + DR_SEAL_OVERHEAD) return -ENOBUFS;
  uint8_t *nonce = out + 1;
  out[0] = DR_SEAL_VERSION;
  crypto_generichash(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, in, len, k->nonce,
                     sizeof k->nonce);
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                             &clen, in, len, (const uint8_t *)seal_ad,
                                             sizeof seal_ad - 1, NULL, nonce, k->seal);
  return (int)(1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + clen);
}

bool dr_is_sealed(const uint8_t *in, size_t len) {
  return len >= DR_SEAL_OVERHEAD && len <= DR_ENTRY_MAX + DR_SEAL_OVERHEAD &&
         in[0] == DR_SEAL_VERSION;
}

dr_reject dr_open(const dr_netkey *k, const uint8_t *in, size_t len, uint8_t *out,
                  size_t *out_len) {
  if (len > DR_ENTRY_MAX + DR_SEAL_OVERHEAD) return DR_REJ_TOO_LARGE;
  if (!dr_is_sealed(in, len)) return DR_REJ_MALFORMED;
  const uint8_t *nonce = in + 1;
  const uint8_t *c = nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  unsigned long long mlen;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, c, len - (size_t)(c - in),
                                                 (const uint8_t *)seal_ad, sizeof seal_ad - 1,
                                                 nonce, k->seal) != 0)
    return DR_REJ_BAD_SIGNATURE; /* not sealed with this network's key, or altered */
  *out_len = (size_t)mlen;
  return DR_REJ_NONE;
}
