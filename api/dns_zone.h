/* dns_zone.h - private to api/dns*.c: the names of the dhtreg. zone and the records that answer them
 *
 * The zone (README "DNS interface", docs/API.md):
 *
 *   [_TYPE._tcp.]LABEL.OWNER.dhtreg.   a resource: SRV, A, AAAA, TXT of its
 *                                      records (of that type, with the prefix)
 *   HEX.addr.dhtreg.                   an address: A (8 hex digits) or AAAA
 *                                      (32), the SRV target of a record whose
 *                                      host is an IP literal
 *
 * OWNER is the owner's peer id in base32 (RFC 4648, lowercase, no padding:
 * 52 characters) or an alias of the names files; LABEL is the resource's
 * label, one DNS label or several (joined with '.'). Everything here is pure
 * but the names files it reads; loop thread (or any thread) alike.
 */
#ifndef DR_DNS_ZONE_H
#define DR_DNS_ZONE_H

#include <ldns/ldns.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/names.h"
#include "crypto/crypto.h"

#define DR_DNS_B32_LEN 52       /* base32 of a 32-byte peer id */
#define DR_DNS_TTL_MAX 30       /* answers of records: at most this, or their remaining life */
#define DR_DNS_NEG_TTL 5        /* negative answers (the SOA's minimum) */
#define DR_DNS_ADDR_TTL 3600    /* HEX.addr.dhtreg.: the name is the address */

typedef enum dr_dns_kind {
  DR_DNS_OUTSIDE,  /* not under dhtreg.: REFUSED */
  DR_DNS_APEX,     /* dhtreg. itself: its SOA */
  DR_DNS_NONE,     /* in the zone, no such name: NXDOMAIN */
  DR_DNS_EMPTY,    /* a name with names below it only (OWNER.dhtreg.): NOERROR, no data */
  DR_DNS_ADDR,     /* HEX.addr.dhtreg. */
  DR_DNS_RESOURCE, /* [_TYPE._tcp.]LABEL.OWNER.dhtreg.: answered after a resolve */
  DR_DNS_BROKEN,   /* the names file naming the alias cannot be read: SERVFAIL */
} dr_dns_kind;

typedef struct dr_dns_name {
  dr_dns_kind kind;
  uint8_t rid[DR_ID_LEN];         /* DR_DNS_RESOURCE */
  char type[64];                  /* the _TYPE filter, or "" */
  uint8_t addr[16];               /* DR_DNS_ADDR: 4 or 16 bytes */
  size_t addr_len;
} dr_dns_name;

/* Base32 (RFC 4648 alphabet, lowercase, no padding) of a peer id: writes
 * DR_DNS_B32_LEN characters and a NUL into out. */
void dr__dns_b32_encode(const uint8_t id[DR_ID_LEN], char out[DR_DNS_B32_LEN + 1]);
/* The reverse, of exactly DR_DNS_B32_LEN lowercase characters in canonical
 * form (the unused low bits zero). Returns 0 or -EINVAL. */
int dr__dns_b32_decode(const char *s, size_t len, uint8_t id[DR_ID_LEN]);

/* What a query name (ldns's wire form, uncompressed) names. files are the
 * names files for aliases; err (may be NULL) gets why for DR_DNS_BROKEN. */
void dr__dns_name_parse(const ldns_rdf *qname, const char *const *files, size_t n_files,
                        dr_dns_name *out, char *err, size_t errlen);

/* Whether a record is served over DNS (only passing records will be). */
bool dr__dns_record_served(const dr_entry *e);

/* Adds to resp the answers to (qname, qtype) of a resource name: SRV, A,
 * AAAA, TXT (ANY: all four) of the served records of recs that match its
 * type filter, SRV shuffled, with A/AAAA of HEX.addr targets as additional
 * records of an SRV answer. The TTL is the shortest remaining life of the
 * records answered (now: Unix seconds), at most DR_DNS_TTL_MAX. Returns how
 * many answers, or -ENOMEM (resp then holds part of them). */
int dr__dns_add_records(ldns_pkt *resp, const ldns_rdf *qname, ldns_rr_type qtype,
                        const dr_dns_name *name, const dr_entry *const *recs, size_t n,
                        uint64_t now);

/* The answer to (qname, qtype) of a HEX.addr name: its A or AAAA. Returns
 * how many answers (0 or 1), or -ENOMEM. */
int dr__dns_add_addr(ldns_pkt *resp, const ldns_rdf *qname, ldns_rr_type qtype,
                     const dr_dns_name *name);

/* The zone's SOA into section (the answer at the apex; the authority of
 * negative answers, whose TTL it gives). Returns 0 or -ENOMEM. */
int dr__dns_add_soa(ldns_pkt *resp, ldns_pkt_section section);

#endif
