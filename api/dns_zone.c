/* dns_zone.c - the dhtreg. zone: what a query name names, and the SRV, A, AAAA and TXT records of a resource's records */
#include "api/dns_zone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "node/node.h"

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

void dr__dns_b32_encode(const uint8_t id[DR_ID_LEN], char out[DR_DNS_B32_LEN + 1]) {
  unsigned acc = 0, bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < DR_ID_LEN; i++) {
    acc = (acc << 8) | id[i];
    bits += 8;
    while (bits >= 5) {
      out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits) out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
  out[o] = '\0';
}

int dr__dns_b32_decode(const char *s, size_t len, uint8_t id[DR_ID_LEN]) {
  uint8_t tmp[DR_ID_LEN];
  unsigned acc = 0, bits = 0;
  size_t o = 0;
  if (len != DR_DNS_B32_LEN) return -EINVAL;
  for (size_t i = 0; i < len; i++) {
    const char *p = s[i] ? strchr(b32_alphabet, s[i]) : NULL;
    if (!p) return -EINVAL;
    acc = (acc << 5) | (unsigned)(p - b32_alphabet);
    bits += 5;
    if (bits >= 8) {
      tmp[o++] = (uint8_t)(acc >> (bits - 8));
      bits -= 8;
    }
    acc &= (1u << bits) - 1; /* only the bits not yet written */
  }
  if (o != DR_ID_LEN || acc != 0) return -EINVAL; /* 4 bits left over, all zero: canonical */
  memcpy(id, tmp, DR_ID_LEN);
  return 0;
}

/* ---- names ------------------------------------------------------------------ */

typedef struct label {
  const char *p;
  size_t len;
} label;

static bool label_is(const label *l, const char *s) {
  return l->len == strlen(s) && memcmp(l->p, s, l->len) == 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* HEX of HEX.addr.dhtreg.: 8 hex digits an IPv4 address, 32 an IPv6 one. */
static bool parse_addr(const label *l, dr_dns_name *out) {
  if (l->len != 8 && l->len != 32) return false;
  for (size_t i = 0; i < l->len; i += 2) {
    int hi = hex_digit(l->p[i]), lo = hex_digit(l->p[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->addr[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  out->addr_len = l->len / 2;
  return true;
}

/* The peer id an owner label names: base32, or an alias (lowercase, as
 * the query's labels were made). */
static dr_dns_kind owner_peer(const label *l, const char *const *files, size_t n_files,
                              uint8_t peer[DR_ID_LEN], char *err, size_t errlen) {
  char alias[DR_NAMES_ALIAS_MAX + 1], why[512];
  if (dr__dns_b32_decode(l->p, l->len, peer) == 0) return DR_DNS_RESOURCE;
  if (l->len > DR_NAMES_ALIAS_MAX || memchr(l->p, '\0', l->len)) return DR_DNS_NONE;
  memcpy(alias, l->p, l->len);
  alias[l->len] = '\0';
  if (!dr_names_alias_valid(alias)) return DR_DNS_NONE;
  dr_names_entry e;
  int r = dr_names_lookup(files, n_files, alias, &e, why, sizeof why);
  if (r == -ENOENT || r == -EINVAL) return DR_DNS_NONE;
  if (r < 0) {
    if (err) snprintf(err, errlen, "%s", why);
    return DR_DNS_BROKEN;
  }
  memcpy(peer, e.peer, DR_ID_LEN);
  return DR_DNS_RESOURCE;
}

void dr__dns_name_parse(const ldns_rdf *qname, const char *const *files, size_t n_files,
                        dr_dns_name *out, char *err, size_t errlen) {
  char buf[LDNS_MAX_DOMAINLEN + 1];
  label labels[LDNS_MAX_DOMAINLEN / 2 + 1];
  size_t n = 0, size = ldns_rdf_size(qname);
  const uint8_t *w = ldns_rdf_data(qname);
  memset(out, 0, sizeof *out);
  out->kind = DR_DNS_OUTSIDE;
  if (size > sizeof buf) return;
  /* DNS compares names without case: the labels in lowercase */
  for (size_t i = 0; i < size; i++) buf[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
  for (size_t i = 0; i < size && w[i];) {
    size_t l = w[i];
    if (l > LDNS_MAX_LABELLEN || i + 1 + l > size) return;
    labels[n++] = (label){buf + i + 1, l};
    i += 1 + l;
  }
  if (n == 0 || !label_is(&labels[n - 1], "dhtreg")) return;
  if (n == 1) {
    out->kind = DR_DNS_APEX;
    return;
  }
  out->kind = DR_DNS_NONE;
  const label *owner = &labels[n - 2];
  size_t before = n - 2; /* the labels before the owner */
  if (label_is(owner, "addr")) {
    if (before == 1 && parse_addr(&labels[0], out)) out->kind = DR_DNS_ADDR;
    return;
  }
  uint8_t peer[DR_ID_LEN];
  if ((out->kind = owner_peer(owner, files, n_files, peer, err, errlen)) != DR_DNS_RESOURCE) return;
  if (before == 0) { /* OWNER.dhtreg. has names below it (RFC 8020): not NXDOMAIN */
    out->kind = DR_DNS_EMPTY;
    return;
  }
  out->kind = DR_DNS_NONE;
  size_t first = 0;
  if (before >= 2 && labels[0].len >= 2 && labels[0].p[0] == '_' &&
      (label_is(&labels[1], "_tcp") || label_is(&labels[1], "_udp"))) {
    if (before == 2 || labels[0].len - 1 >= sizeof out->type) return; /* no label, or no such type */
    memcpy(out->type, labels[0].p + 1, labels[0].len - 1);
    out->type[labels[0].len - 1] = '\0';
    first = 2;
  }
  /* the resource's label: the DNS labels left, joined with '.' (a '.'
   * inside one would give a second spelling of the same label) */
  char text[LDNS_MAX_DOMAINLEN + 1];
  size_t len = 0;
  for (size_t i = first; i < before; i++) {
    if (memchr(labels[i].p, '.', labels[i].len)) return;
    if (i > first) text[len++] = '.';
    memcpy(text + len, labels[i].p, labels[i].len);
    len += labels[i].len;
  }
  if (len > DR_NAME_MAX || !dr_text_valid(text, len)) return;
  dr_resource_id(out->rid, peer, text, len);
  out->kind = DR_DNS_RESOURCE;
}

/* ---- records -------------------------------------------------------------------- */

/* Health checks sign a state into records (passing or critical); DNS
 * serves the passing ones alone, as Consul does, so that a resolver never
 * hands out a backend its checks failed (the node's resolve gives only
 * those already: this keeps a cached or future path honest too). */
bool dr__dns_record_served(const dr_entry *e) {
  return dr_entry_passing(e);
}

typedef struct ip {
  uint8_t b[16];
  size_t len; /* 4 or 16 */
} ip;

/* A host that is an IP literal ("10.0.0.5", "::1", "[::1]"). */
static bool host_ip(const char *host, ip *out) {
  char tmp[INET6_ADDRSTRLEN + 2];
  size_t len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof tmp) {
    memcpy(tmp, host + 1, len - 2);
    tmp[len - 2] = '\0';
    host = tmp;
  }
  if (inet_pton(AF_INET, host, out->b) == 1) out->len = 4;
  else if (inet_pton(AF_INET6, host, out->b) == 1) out->len = 16;
  else return false;
  return true;
}

/* An address entry's IP: "HOST:PORT" or a bare IP literal. */
static bool addr_ip(const char *a, ip *out) {
  char host[DR_ADDR_LEN_MAX + 1], port[8];
  if (dr_split_hostport(a, host, sizeof host, port, sizeof port) == 0 && host_ip(host, out)) return true;
  return host_ip(a, out);
}

/* A host name an SRV target may be: labels of 1-63 letters, digits, '-'
 * and '_', 253 bytes at most, a final '.' allowed. */
static bool host_name_ok(const char *h) {
  size_t len = strlen(h), run = 0;
  if (len && h[len - 1] == '.') len--;
  if (len == 0 || len > 253) return false;
  for (size_t i = 0; i < len; i++) {
    char c = h[i];
    if (c == '.') {
      if (run == 0) return false;
      run = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_') {
      if (++run > 63) return false;
    } else {
      return false;
    }
  }
  return run > 0;
}

/* HEX.addr.dhtreg. of an address. */
static ldns_rdf *addr_name(const ip *a) {
  char text[2 * 16 + sizeof ".addr.dhtreg."];
  for (size_t i = 0; i < a->len; i++) snprintf(text + 2 * i, 3, "%02x", a->b[i]);
  strcpy(text + 2 * a->len, ".addr.dhtreg.");
  return ldns_dname_new_frm_str(text);
}

/* Makes an RR of owner, type and ttl with the rdfs given (taking them),
 * and pushes it into a section of p. Returns 0, or -ENOMEM with everything
 * freed (an rdf may be NULL: a failed allocation). */
static int add_rr(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner, ldns_rr_type type,
                  uint32_t ttl, ldns_rdf **rdfs, size_t n) {
  ldns_rr *rr = ldns_rr_new();
  ldns_rdf *o = rr ? ldns_rdf_clone(owner) : NULL;
  bool ok = o != NULL;
  for (size_t i = 0; i < n; i++) ok = ok && rdfs[i];
  if (!ok) {
    for (size_t i = 0; i < n; i++) ldns_rdf_deep_free(rdfs[i]);
    ldns_rdf_deep_free(o);
    ldns_rr_free(rr);
    return -ENOMEM;
  }
  ldns_rr_set_owner(rr, o);
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, ttl);
  for (size_t i = 0; i < n; i++) {
    if (!ldns_rr_push_rdf(rr, rdfs[i])) {
      for (size_t j = i; j < n; j++) ldns_rdf_deep_free(rdfs[j]);
      ldns_rr_free(rr);
      return -ENOMEM;
    }
  }
  if (!ldns_pkt_push_rr(p, sec, rr)) {
    ldns_rr_free(rr);
    return -ENOMEM;
  }
  return 0;
}

static int add_ip(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner, const ip *a, uint32_t ttl) {
  ldns_rdf *rd = ldns_rdf_new_frm_data(a->len == 4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, a->len, a->b);
  return add_rr(p, sec, owner, a->len == 4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, ttl, &rd, 1);
}

/* Whether a was seen already (among seen[0..*n]); if not, it is now. */
static bool seen_before(ip *seen, size_t *n, size_t cap, const ip *a) {
  for (size_t i = 0; i < *n; i++)
    if (seen[i].len == a->len && memcmp(seen[i].b, a->b, a->len) == 0) return true;
  if (*n < cap) seen[(*n)++] = *a;
  return false;
}

#define MAX_IPS (64 * (1 + DR_ADDRS_MAX))

/* A and AAAA (want: 4, 16, or 0 for both) of the records' IPs, each once. */
static int add_ips(ldns_pkt *p, const ldns_rdf *qname, const dr_entry *const *recs, const size_t *order,
                   size_t n, size_t want, uint32_t ttl) {
  ip seen[MAX_IPS], a;
  size_t n_seen = 0;
  int added = 0, r;
  for (size_t k = 0; k < n; k++) {
    const dr_entry *e = recs[order[k]];
    for (size_t j = 0; j <= e->n_addrs; j++) {
      bool is = j == 0 ? (e->host && host_ip(e->host, &a)) : addr_ip(e->addrs[j - 1], &a);
      if (!is || (want && a.len != want) || seen_before(seen, &n_seen, MAX_IPS, &a)) continue;
      if ((r = add_ip(p, LDNS_SECTION_ANSWER, qname, &a, ttl)) < 0) return r;
      added++;
    }
  }
  return added;
}

/* One SRV per record with a host and a port; an IP host's target is its
 * HEX.addr name, whose address goes into the additional section. */
static int add_srvs(ldns_pkt *p, const ldns_rdf *qname, const dr_entry *const *recs, const size_t *order,
                    size_t n, uint32_t ttl) {
  ip seen[64];
  size_t n_seen = 0;
  int added = 0, r;
  for (size_t k = 0; k < n; k++) {
    const dr_entry *e = recs[order[k]];
    ip a;
    ldns_rdf *target = NULL;
    bool is_ip = false;
    char name[DR_HOST_MAX + 2];
    if (!e->host || !e->port) continue;
    if ((is_ip = host_ip(e->host, &a))) {
      target = addr_name(&a);
    } else if (host_name_ok(e->host)) {
      snprintf(name, sizeof name, "%s%s", e->host, e->host[strlen(e->host) - 1] == '.' ? "" : ".");
      target = ldns_dname_new_frm_str(name);
    } else {
      continue; /* not a name DNS can carry */
    }
    ldns_rdf *rd[4] = {ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0), ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1),
                       ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, e->port), target};
    ldns_rdf *owner = is_ip && target ? ldns_rdf_clone(target) : NULL;
    if ((r = add_rr(p, LDNS_SECTION_ANSWER, qname, LDNS_RR_TYPE_SRV, ttl, rd, 4)) < 0) {
      ldns_rdf_deep_free(owner);
      return r;
    }
    added++;
    if (is_ip && !seen_before(seen, &n_seen, 64, &a)) {
      r = owner ? add_ip(p, LDNS_SECTION_ADDITIONAL, owner, &a, ttl) : -ENOMEM;
      ldns_rdf_deep_free(owner);
      if (r < 0) return r;
    } else {
      ldns_rdf_deep_free(owner);
    }
  }
  return added;
}

/* One TXT character-string "key=value" into rdfs[*n], if it fits (255
 * bytes); a longer one is left out rather than cut. */
static void txt_string(ldns_rdf **rdfs, size_t *n, size_t cap, bool *oom, const char *key, const char *value) {
  uint8_t s[256];
  size_t kl = strlen(key), vl = strlen(value);
  if (*n >= cap || kl + 1 + vl > 255) return;
  s[0] = (uint8_t)(kl + 1 + vl);
  memcpy(s + 1, key, kl);
  s[1 + kl] = '=';
  memcpy(s + 2 + kl, value, vl);
  if (!(rdfs[(*n)++] = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, 2 + kl + vl, s))) *oom = true;
}

/* One TXT per record: service_id, peer, seq, type, tags, then its metadata. */
static int add_txts(ldns_pkt *p, const ldns_rdf *qname, const dr_entry *const *recs, const size_t *order,
                    size_t n, uint32_t ttl) {
  enum { CAP = 5 + 256 };
  ldns_rdf *rdfs[CAP];
  int added = 0, r;
  for (size_t k = 0; k < n; k++) {
    const dr_entry *e = recs[order[k]];
    char peer[DR_ID_TEXT_MAX], seq[24], tags[DR_TAGS_MAX * (DR_TAG_LEN_MAX + 1) + 1] = "";
    size_t nr = 0, tl = 0;
    bool oom = false;
    dr_id_encode(e->issuer, peer);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
    txt_string(rdfs, &nr, CAP, &oom, "service_id", e->name);
    txt_string(rdfs, &nr, CAP, &oom, "peer", peer);
    txt_string(rdfs, &nr, CAP, &oom, "seq", seq);
    if (e->type && *e->type) txt_string(rdfs, &nr, CAP, &oom, "type", e->type);
    for (size_t i = 0; i < e->n_tags; i++)
      tl += (size_t)snprintf(tags + tl, sizeof tags - tl, "%s%s", i ? "," : "", e->tags[i]);
    if (e->n_tags) txt_string(rdfs, &nr, CAP, &oom, "tags", tags);
    for (size_t i = 0; i < e->n_meta; i++) txt_string(rdfs, &nr, CAP, &oom, e->meta[i].key, e->meta[i].value);
    if ((r = add_rr(p, LDNS_SECTION_ANSWER, qname, LDNS_RR_TYPE_TXT, ttl, rdfs, nr)) < 0) return r;
    added++;
  }
  return added;
}

static bool type_matches(const dr_entry *e, const char *type) {
  return !type[0] || (e->type && strcasecmp(e->type, type) == 0);
}

int dr__dns_add_records(ldns_pkt *resp, const ldns_rdf *qname, ldns_rr_type qtype,
                        const dr_dns_name *name, const dr_entry *const *recs, size_t n,
                        uint64_t now) {
  size_t order[64], m = 0;
  uint64_t life = DR_DNS_TTL_MAX;
  for (size_t i = 0; i < n && m < 64; i++) {
    if (!dr__dns_record_served(recs[i]) || !type_matches(recs[i], name->type)) continue;
    order[m++] = i;
    uint64_t left = recs[i]->expires_at > now ? recs[i]->expires_at - now : 0;
    if (left < life) life = left;
  }
  /* a new order each time: clients taking the first spread their load */
  for (size_t i = m; i > 1; i--) {
    size_t j = randombytes_uniform((uint32_t)i), t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  uint32_t ttl = (uint32_t)life;
  bool any = qtype == LDNS_RR_TYPE_ANY;
  int total = 0, r;
  if (any || qtype == LDNS_RR_TYPE_SRV) {
    if ((r = add_srvs(resp, qname, recs, order, m, ttl)) < 0) return r;
    total += r;
  }
  if (any || qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_AAAA) {
    size_t want = any ? 0 : qtype == LDNS_RR_TYPE_A ? 4 : 16;
    if ((r = add_ips(resp, qname, recs, order, m, want, ttl)) < 0) return r;
    total += r;
  }
  if (any || qtype == LDNS_RR_TYPE_TXT) {
    if ((r = add_txts(resp, qname, recs, order, m, ttl)) < 0) return r;
    total += r;
  }
  return total;
}

int dr__dns_add_addr(ldns_pkt *resp, const ldns_rdf *qname, ldns_rr_type qtype, const dr_dns_name *name) {
  ip a = {.len = name->addr_len};
  memcpy(a.b, name->addr, a.len);
  bool want = qtype == LDNS_RR_TYPE_ANY || qtype == (a.len == 4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA);
  if (!want) return 0;
  int r = add_ip(resp, LDNS_SECTION_ANSWER, qname, &a, DR_DNS_ADDR_TTL);
  return r < 0 ? r : 1;
}

int dr__dns_add_soa(ldns_pkt *resp, ldns_pkt_section section) {
  ldns_rr *rr = NULL;
  char text[160];
  /* serial 1, refresh and retry 60 s, expire 1 h; minimum: the negative TTL */
  snprintf(text, sizeof text, "dhtreg. %d IN SOA ns.dhtreg. hostmaster.dhtreg. 1 60 60 3600 %d",
           DR_DNS_NEG_TTL, DR_DNS_NEG_TTL);
  if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK) return -ENOMEM;
  if (!ldns_pkt_push_rr(resp, section, rr)) {
    ldns_rr_free(rr);
    return -ENOMEM;
  }
  return 0;
}
