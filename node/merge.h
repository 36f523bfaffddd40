/* merge.h - private to node/: the read-side merge rule (highest seq wins, tombstones hide) */
#ifndef DR_MERGE_H
#define DR_MERGE_H

#include "crypto/crypto.h"
#include "node/map.h"

/* >0 when a beats b, <0 when b beats a, 0 only for identical entries.
 * Both must be of one (resource, issuer, service id), or both resources.
 * Higher seq wins; at equal seq a tombstone beats a record; then the
 * bytewise greater signature wins, so every node picks the same one. */
int dr_merge_cmp(const dr_entry *a, const dr_entry *b);

/* The key of e among a resource's winners: issuer || service id. Returns
 * its length. */
size_t dr_merge_key(uint8_t key[DR_ID_LEN + DR_NAME_MAX], const dr_entry *e);

/* The entries of one resource seen by one read. */
typedef struct dr_merge {
  uint8_t rid[DR_ID_LEN];
  dr_map winners;     /* issuer || service id -> dr_entry* (owned) */
  dr_entry *resource; /* the winning resource entry (owned), or NULL */
  const dr_entry **out; /* the last dr_merge_records result */
} dr_merge;

void dr_merge_init(dr_merge *m, const uint8_t rid[DR_ID_LEN]);
void dr_merge_free(dr_merge *m);

/* Offers a verified, checked entry of m's resource. Takes what *e owns
 * (leaves it zeroed) whether it wins or not. Returns 1 when it is the
 * winner now, 0 when it lost, or -ENOMEM. */
int dr_merge_offer(dr_merge *m, dr_entry *e);

/* The live records: winners that are records, not expired at now, and
 * allowed by the resource's policy, sorted by service id then issuer; at
 * most limit. *out is owned by m (valid until the next call or free).
 * *forbidden counts winners dropped by the policy. */
size_t dr_merge_records(dr_merge *m, uint64_t now, size_t limit, const dr_entry ***out,
                        size_t *forbidden);

/* Whether m holds a newer version of e's entry than e (a resource entry
 * for a resource, the winner of e's issuer and service id otherwise). */
bool dr_merge_has_newer(const dr_merge *m, const dr_entry *e);

/* Whether issuer may add records to the resource entry res (NULL: open). */
int dr_merge_allowed(const dr_entry *res, const uint8_t issuer[DR_ID_LEN]);

#endif
