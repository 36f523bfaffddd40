/* ids.c - the text encoding of ids (base58) and the derivation of ids and DHT keys */
#include "crypto/crypto.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

static const char b58_alphabet[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int dr_crypto_init(void) {
  return sodium_init() < 0 ? -EIO : 0;
}

/* The id as eight big-endian 32-bit limbs, divided by 58^5 (which fits 32
 * bits) until nothing is left: five digits per pass, nine passes for 32
 * bytes, instead of one byte-by-digit step per pair. */
#define B58_5 656356768u /* 58^5 */

int dr_id_encode(const uint8_t id[DR_ID_LEN], char out[DR_ID_TEXT_MAX]) {
  uint32_t limb[DR_ID_LEN / 4];
  uint8_t digits[DR_ID_TEXT_MAX + 5]; /* base-58 digits, least significant first */
  size_t n = 0, zeros = 0, first = 0;
  while (zeros < DR_ID_LEN && id[zeros] == 0) zeros++;
  for (size_t i = 0; i < DR_ID_LEN / 4; i++)
    limb[i] = (uint32_t)id[4 * i] << 24 | (uint32_t)id[4 * i + 1] << 16 | (uint32_t)id[4 * i + 2] << 8 |
              id[4 * i + 3];
  while (first < DR_ID_LEN / 4 && limb[first] == 0) first++;
  while (first < DR_ID_LEN / 4) {
    uint64_t rem = 0;
    for (size_t i = first; i < DR_ID_LEN / 4; i++) {
      uint64_t cur = rem << 32 | limb[i];
      limb[i] = (uint32_t)(cur / B58_5);
      rem = cur % B58_5;
    }
    while (first < DR_ID_LEN / 4 && limb[first] == 0) first++;
    for (int k = 0; k < 5; k++) {
      digits[n++] = (uint8_t)(rem % 58);
      rem /= 58;
    }
  }
  while (n && digits[n - 1] == 0) n--; /* the last pass's leading zeros */
  size_t len = 0;
  for (size_t i = 0; i < zeros; i++) out[len++] = '1';
  while (n) out[len++] = b58_alphabet[digits[--n]];
  out[len] = '\0';
  return (int)len;
}

int dr_id_decode(const char *text, uint8_t out[DR_ID_LEN]) {
  if (!text) return -EINVAL;
  size_t len = strnlen(text, DR_ID_TEXT_MAX);
  if (len == 0 || len >= DR_ID_TEXT_MAX) return -EINVAL;
  uint8_t bytes[DR_ID_TEXT_MAX]; /* big number, least significant first */
  size_t n = 0, zeros = 0;
  while (zeros < len && text[zeros] == '1') zeros++;
  for (size_t i = zeros; i < len; i++) {
    const char *pos = strchr(b58_alphabet, text[i]);
    if (!pos || text[i] == '\0') return -EINVAL;
    unsigned carry = (unsigned)(pos - b58_alphabet);
    for (size_t j = 0; j < n; j++) {
      carry += (unsigned)bytes[j] * 58;
      bytes[j] = (uint8_t)(carry & 0xff);
      carry >>= 8;
    }
    while (carry) {
      if (n >= sizeof bytes) return -EINVAL;
      bytes[n++] = (uint8_t)(carry & 0xff);
      carry >>= 8;
    }
  }
  if (zeros + n != DR_ID_LEN) return -EINVAL;
  uint8_t id[DR_ID_LEN];
  memset(id, 0, zeros);
  for (size_t i = 0; i < n; i++) id[DR_ID_LEN - 1 - i] = bytes[i];
  /* Canonical form only: one id, one text. */
  char back[DR_ID_TEXT_MAX];
  dr_id_encode(id, back);
  if (strcmp(back, text) != 0) return -EINVAL;
  memcpy(out, id, DR_ID_LEN);
  return 0;
}

static const char rid_domain[] = "dhtreg/v1/resource-id";
static const char key_domain[] = "dhtreg/v1/dht-key";

void dr_resource_id(uint8_t out[DR_ID_LEN], const uint8_t owner[DR_ID_LEN],
                    const char *label, size_t label_len) {
  crypto_generichash_state st;
  uint8_t zero = 0;
  uint8_t lenbe[2] = {(uint8_t)(label_len >> 8), (uint8_t)label_len};
  crypto_generichash_init(&st, NULL, 0, DR_ID_LEN);
  crypto_generichash_update(&st, (const uint8_t *)rid_domain, sizeof rid_domain - 1);
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, owner, DR_ID_LEN);
  crypto_generichash_update(&st, lenbe, 2);
  crypto_generichash_update(&st, (const uint8_t *)label, label_len);
  crypto_generichash_final(&st, out, DR_ID_LEN);
}

void dr_dht_key(uint8_t out[DR_DHT_KEY_LEN], const uint8_t rid[DR_ID_LEN],
                const uint8_t *netkey) {
  crypto_generichash_state st;
  uint8_t zero = 0;
  crypto_generichash_init(&st, netkey, netkey ? 32 : 0, DR_DHT_KEY_LEN);
  crypto_generichash_update(&st, (const uint8_t *)key_domain, sizeof key_domain - 1);
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, rid, DR_ID_LEN);
  crypto_generichash_final(&st, out, DR_DHT_KEY_LEN);
}

static const char shard_domain[] = "dhtreg/v1/shard";
static const char shard_key_domain[] = "dhtreg/v1/shard-key";

void dr_shard_key(uint8_t out[DR_DHT_KEY_LEN], const uint8_t rid[DR_ID_LEN], uint32_t i,
                  const uint8_t *netkey) {
  if (i == 0) {
    dr_dht_key(out, rid, netkey);
    return;
  }
  crypto_generichash_state st;
  uint8_t zero = 0, ibe[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
  crypto_generichash_init(&st, netkey, netkey ? 32 : 0, DR_DHT_KEY_LEN);
  crypto_generichash_update(&st, (const uint8_t *)shard_key_domain, sizeof shard_key_domain - 1);
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, rid, DR_ID_LEN);
  crypto_generichash_update(&st, ibe, 4);
  crypto_generichash_final(&st, out, DR_DHT_KEY_LEN);
}

static uint64_t be64(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | b[i];
  return v;
}

uint64_t dr_shard_hash(const uint8_t rid[DR_ID_LEN], const uint8_t issuer[DR_ID_LEN],
                       const char *service_id, size_t len) {
  crypto_generichash_state st;
  uint8_t zero = 0, h[8], lenbe[2] = {(uint8_t)(len >> 8), (uint8_t)len};
  crypto_generichash_init(&st, NULL, 0, sizeof h);
  crypto_generichash_update(&st, (const uint8_t *)shard_domain, sizeof shard_domain - 1);
  crypto_generichash_update(&st, &zero, 1);
  crypto_generichash_update(&st, rid, DR_ID_LEN);
  crypto_generichash_update(&st, issuer, DR_ID_LEN);
  crypto_generichash_update(&st, lenbe, 2);
  crypto_generichash_update(&st, (const uint8_t *)service_id, len);
  crypto_generichash_final(&st, h, sizeof h);
  return be64(h);
}

bool dr_shard_fits(uint64_t hash, uint32_t i) {
  if (i == 0) return true;
  if (i >= DR_SHARDS_MAX) return false;
  uint32_t n = 1;
  while (n <= i) n <<= 1; /* the fewest shards that have an i-th */
  return hash % n == i;
}
