/* entry_private.h - private to crypto/: the pieces entry.c and entry_codec.c share */
#ifndef DR_ENTRY_PRIVATE_H
#define DR_ENTRY_PRIVATE_H

#include "crypto/crypto.h"

#include <stdbool.h>

/* Encodes the signed body of e (docs/PROTOCOL.md); *out is malloc'd. */
int dr__entry_pack_body(const dr_entry *e, uint8_t **out, size_t *out_len);

/* Encodes the envelope [version, kind, body, signer, sig]; *out is malloc'd. */
int dr__entry_pack_envelope(dr_kind kind, const uint8_t *body, size_t body_len,
                            const uint8_t signer[DR_ID_LEN],
                            const uint8_t sig[DR_SIG_LEN], uint8_t **out,
                            size_t *out_len);

/* Parses an envelope and its body into e (which the caller clears on
 * failure); *body points into buf. Checks layout and per-field bounds only. */
dr_reject dr__entry_unpack(const uint8_t *buf, size_t len, dr_entry *e,
                           uint8_t signer[DR_ID_LEN], const uint8_t **body,
                           size_t *body_len);

bool dr__utf8_valid(const char *s, size_t len);
/* Valid UTF-8 without control characters (C0, DEL, C1). */
bool dr__text_ok(const char *s, size_t len);

#endif
