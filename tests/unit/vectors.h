/* vectors.h - what the unit tests share of docs/PROTOCOL.md's test vectors: the signer (the seed 00 01 ... 1f), its resource "web", and the record vector's bytes */
#ifndef DR_TEST_VECTORS_H
#define DR_TEST_VECTORS_H

#include <stdint.h>

#include "crypto/crypto.h"

/* The record vector (web-1 of "web" by the vectors' signer), as hex. */
#define DR_VECTOR_RECORD_HEX \
  "950102c4829cc42016e1efcb4117f082b0c50deef9ef6c9e8a542de581bc6248" \
  "26fc79a54bd8616ac42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba5" \
  "0d5f1ddc8664125531b8a57765622d3102ce6553f100ce6553f22ca831302e30" \
  "2e302e31cd1f9091ad31302e302e302e313a38303830a46874747091a2763181" \
  "a47a6f6e65a161c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d" \
  "5f1ddc8664125531b8c4403c43f8f3de400efb974cefa6f58b6f357aafd4d244" \
  "1e99f35afdceda6d3448a21064f6035d9cb63c948fd89d97d81e24f42e8496ed" \
  "81a9994749c5b2e26e7f09"

/* The vectors' signer and its resource "web". */
static inline void dr_vector_identity(dr_identity *id, uint8_t rid[DR_ID_LEN]) {
  uint8_t seed[DR_SEED_LEN];
  for (int i = 0; i < DR_SEED_LEN; i++) seed[i] = (uint8_t)i;
  dr_identity_from_seed(id, seed);
  dr_resource_id(rid, id->pk, "web", 3);
}

#endif
