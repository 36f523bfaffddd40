/* test_dns.c - the DNS interface through real clients (dig, libresolv's res_nquery): answers as resolve's, filters, rcodes, TTLs, garbage, withdrawals, a stop with queries in flight, latency */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "tests/support/harness.h"

#define MAX_RRS 128
#define LINE 320

static h_node owner, server;   /* owner: creates and advertises; server: answers DNS */
static uint16_t dns_port;
static char owner_b32[56], rid[64], brief_rid[64], http_base[64];
static bool under_valgrind;

/* ---- names ------------------------------------------------------------------- */

/* base32 (RFC 4648, lowercase, no padding) of a base58 peer id: written
 * here again from the RFC, not taken from the node. */
static void b32_of(const char *peer, char out[56]) {
  static const char a[] = "abcdefghijklmnopqrstuvwxyz234567";
  uint8_t id[DR_ID_LEN];
  assert_int_equal(dr_id_decode(peer, id), 0);
  unsigned acc = 0, bits = 0, o = 0;
  for (int i = 0; i < DR_ID_LEN; i++) {
    acc = (acc << 8 | id[i]) & 0xfff;
    for (bits += 8; bits >= 5; bits -= 5) out[o++] = a[(acc >> (bits - 5)) & 31];
  }
  out[o++] = a[(acc << (5 - bits)) & 31];
  out[o] = '\0';
  assert_int_equal(o, 52);
}

/* "hex.addr.dhtreg." of an IP literal, the SRV target the node gives it */
static void addr_target(const char *host, char *out, size_t len) {
  uint8_t b[16];
  size_t n = inet_pton(AF_INET, host, b) == 1 ? 4 : 16;
  if (n == 16) assert_int_equal(inet_pton(AF_INET6, host, b), 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) o += (size_t)snprintf(out + o, len - o, "%02x", b[i]);
  snprintf(out + o, len - o, ".addr.dhtreg.");
}

/* ---- clients ------------------------------------------------------------------- */

static int cmp_line(const void *a, const void *b) {
  return strcmp(a, b);
}

/* dig's lines for a query (opts: "+short", ...), sorted; how many. */
static int dig(const char *opts, const char *type, const char *name, char lines[][LINE], int max) {
  char cmd[600], line[LINE];
  snprintf(cmd, sizeof cmd, "dig @127.0.0.1 -p %u +time=5 +tries=2 %s %s '%s'", dns_port, opts, type, name);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  int n = 0;
  while (fgets(line, sizeof line, p)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] && n < max) snprintf(lines[n++], LINE, "%s", line);
  }
  pclose(p);
  qsort(lines, (size_t)n, LINE, cmp_line);
  return n;
}

/* The status dig reports (NOERROR, NXDOMAIN, ...) into out. */
static void dig_status(const char *type, const char *name, char out[32]) {
  char lines[64][LINE];
  int n = dig("+noall +comments", type, name, lines, 64);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    const char *s = strstr(lines[i], "status: ");
    if (s) sscanf(s + 8, "%31[A-Z]", out);
  }
}

typedef struct answer {
  int rcode, n; /* rcode -1: no answer */
  bool tc;
  struct {
    int type;
    uint32_t ttl;
    char text[LINE]; /* as dig +short prints it (TXT: the strings, each "quoted") */
  } rr[MAX_RRS];
} answer;

static struct __res_state rs;

/* libresolv pointed at the node's DNS port alone (tcp: over TCP). */
static void res_setup(bool tcp) {
  assert_int_equal(res_ninit(&rs), 0);
  rs.nscount = 1;
  rs.nsaddr_list[0].sin_family = AF_INET;
  rs.nsaddr_list[0].sin_port = htons(dns_port);
  rs.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  rs.retrans = 5;
  rs.retry = 2;
  rs.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
  if (tcp) rs.options |= RES_USEVC;
  else rs.options &= ~(unsigned long)RES_USEVC;
}

static void parse(const uint8_t *msg, int len, answer *out) {
  ns_msg m;
  ns_rr rr;
  assert_int_equal(ns_initparse(msg, len, &m), 0);
  out->rcode = ns_msg_getflag(m, ns_f_rcode);
  out->tc = ns_msg_getflag(m, ns_f_tc);
  out->n = 0;
  for (int i = 0; i < ns_msg_count(m, ns_s_an) && out->n < MAX_RRS; i++) {
    assert_int_equal(ns_parserr(&m, ns_s_an, i, &rr), 0);
    const uint8_t *d = ns_rr_rdata(rr);
    char *t = out->rr[out->n].text, name[NS_MAXDNAME];
    out->rr[out->n].type = ns_rr_type(rr);
    out->rr[out->n].ttl = ns_rr_ttl(rr);
    t[0] = '\0';
    if (ns_rr_type(rr) == ns_t_srv) {
      assert_true(dn_expand(ns_msg_base(m), ns_msg_end(m), d + 6, name, sizeof name) > 0);
      snprintf(t, LINE, "%u %u %u %.255s.", d[0] << 8 | d[1], d[2] << 8 | d[3], d[4] << 8 | d[5], name);
    } else if (ns_rr_type(rr) == ns_t_a || ns_rr_type(rr) == ns_t_aaaa) {
      inet_ntop(ns_rr_type(rr) == ns_t_a ? AF_INET : AF_INET6, d, t, LINE);
    } else if (ns_rr_type(rr) == ns_t_txt) {
      for (int o = 0; o < ns_rr_rdlen(rr); o += 1 + d[o])
        snprintf(t + strlen(t), LINE - strlen(t), "%s\"%.*s\"", o ? " " : "", d[o], (const char *)d + o + 1);
    }
    out->n++;
  }
}

/* One query through res_nsend (any rcode comes back). */
static void ask(const char *name, int type, bool tcp, answer *out) {
  uint8_t q[NS_PACKETSZ], a[65536];
  res_setup(tcp);
  int ql = res_nmkquery(&rs, ns_o_query, name, ns_c_in, type, NULL, 0, NULL, q, sizeof q);
  assert_true(ql > 0);
  int len = res_nsend(&rs, q, ql, a, sizeof a);
  res_nclose(&rs);
  out->rcode = -1;
  out->n = 0;
  if (len > 0) parse(a, len, out);
}

/* The answers of a type, as sorted lines; how many. */
static int lines_of(const answer *a, int type, char lines[][LINE], int max) {
  int n = 0;
  for (int i = 0; i < a->n; i++)
    if (a->rr[i].type == type && n < max) snprintf(lines[n++], LINE, "%s", a->rr[i].text);
  qsort(lines, (size_t)n, LINE, cmp_line);
  return n;
}

/* ---- what resolve says ------------------------------------------------------------ */

static json_t *resolve_records(const char *id) {
  json_t *r = h_ok(&server, "resolve", json_pack("{s:s, s:i}", "resource_id", id, "limit", 100));
  json_t *recs = json_incref(json_object_get(r, "records"));
  json_decref(r);
  return recs;
}

/* The SRV lines (of that type; NULL: any) and the A (family 4) or AAAA (6)
 * lines resolve implies, sorted; how many. */
static int expected(const char *id, const char *type, int kind, char lines[][LINE], int max) {
  json_t *recs = resolve_records(id), *r, *a;
  size_t i, j;
  int n = 0;
  json_array_foreach(recs, i, r) {
    const char *host = json_string_value(json_object_get(r, "host"));
    const char *t = json_string_value(json_object_get(r, "type"));
    int port = (int)json_integer_value(json_object_get(r, "port"));
    uint8_t b[16];
    char target[256];
    if (type && (!t || strcmp(t, type) != 0)) continue;
    if (kind == ns_t_srv && host && port) {
      if (inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1) addr_target(host, target, sizeof target);
      else snprintf(target, sizeof target, "%s.", host);
      snprintf(lines[n++], LINE, "0 1 %d %s", port, target);
      continue;
    }
    int fam = kind == ns_t_a ? AF_INET : AF_INET6;
    if (kind != ns_t_srv && host && inet_pton(fam, host, b) == 1) snprintf(lines[n++], LINE, "%s", host);
    json_array_foreach(json_object_get(r, "addresses"), j, a) {
      char h[130], p[8], *s = strdup(json_string_value(a));
      if (s[0] == '[') sscanf(s, "[%129[^]]]:%7s", h, p);
      else sscanf(s, "%129[^:]:%7s", h, p);
      free(s);
      if (kind != ns_t_srv && inet_pton(fam, h, b) == 1) snprintf(lines[n++], LINE, "%s", h);
    }
  }
  json_decref(recs);
  /* each address once */
  qsort(lines, (size_t)n, LINE, cmp_line);
  int u = 0;
  for (int k = 0; k < n && u < max; k++)
    if (u == 0 || strcmp(lines[u - 1], lines[k]) != 0) memmove(lines[u++], lines[k], LINE);
  return u;
}

static void same_lines(char a[][LINE], int na, char b[][LINE], int nb, const char *what) {
  if (na != nb) fail_msg("%s: %d lines, expected %d (first: '%s')", what, na, nb, na ? a[0] : "");
  for (int i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) fail_msg("%s: '%s', expected '%s'", what, a[i], b[i]);
}

static void advertise(const char *id, const char *sid, const char *host, int port, const char *type,
                      json_t *addrs, int ttl) {
  json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:i}", "resource_id", id, "service_id", sid, "host", host, "port",
                        port, "ttl", ttl);
  if (type) json_object_set_new(p, "type", json_string(type));
  if (addrs) json_object_set_new(p, "addresses", addrs);
  if (!strcmp(sid, "web-1")) {
    json_object_set_new(p, "tags", json_pack("[s]", "v2"));
    json_object_set_new(p, "metadata", json_pack("{s:s}", "zone", "eu"));
  }
  json_decref(h_ok(&owner, "record.advertise", p));
}

typedef struct srv_wait {
  const char *name;
  int want; /* SRV answers */
} srv_wait;

static bool srv_count_is(void *ctx) {
  srv_wait *w = ctx;
  answer a;
  ask(w->name, ns_t_srv, false, &a);
  char l[MAX_RRS][LINE];
  return a.rcode == ns_r_noerror && lines_of(&a, ns_t_srv, l, MAX_RRS) == w->want;
}

/* ---- setup ------------------------------------------------------------------------- */

/* Starts a node with --dns-listen on a free port (written into *port) and
 * the other args; another port if someone took that one meanwhile. */
static void start_dns_node(h_node *n, const char *name, uint16_t *port, const char **args) {
  char listen[32], cmd[400];
  const char *argv[24] = {"--dns-listen", listen};
  size_t k = 2;
  for (size_t i = 0; args[i] && k < 23; i++) argv[k++] = args[i];
  argv[k] = NULL;
  for (int tries = 0; tries < 5; tries++) {
    int status;
    *port = h_free_tcp_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%u", *port);
    if (h_node_try_start(n, name, argv, &status) == 0) return;
    snprintf(cmd, sizeof cmd, "grep -q 'cannot serve DNS on .*: address already in use' '%s'", n->log);
    if (system(cmd) != 0) fail_msg("node %s did not start (status %d)", name, status);
  }
  fail_msg("node %s: no free port for DNS", name);
}

static bool joined(void *ctx) {
  json_t *info = h_ok(ctx, "node.info", NULL);
  bool yes = json_integer_value(json_object_get(info, "peers")) >= 1;
  json_decref(info);
  return yes;
}

/* Until n has a DHT peer (its bootstrap node answered). */
static void wait_joined(h_node *n) {
  if (!h_wait_for(joined, n, 15000)) fail_msg("%s did not join its bootstrap node", n->name);
}

static int setup(void **state) {
  char boot[64], listen[32], names[300];
  const char *wrap = getenv("DR_NODE_WRAPPER");
  under_valgrind = wrap && strstr(wrap, "valgrind");
  h_node_start(&owner, "owner", (const char *[]){"--min-ttl", "1", NULL});
  b32_of(owner.peer_id, owner_b32);
  /* a names file: prod is the owner; broken's line is not a peer id */
  snprintf(names, sizeof names, "%s/names", h_tmpdir());
  FILE *f = fopen(names, "w");
  assert_non_null(f);
  fprintf(f, "prod = %s   # the owner\nbroken = not-a-peer-id\n", owner.peer_id);
  fclose(f);
  setenv("DHTREG_NAMES", names, 1);
  h_addr(&owner, boot, sizeof boot);
  snprintf(listen, sizeof listen, "127.0.0.1:%u", h_free_tcp_port());
  snprintf(http_base, sizeof http_base, "http://%s", listen);
  start_dns_node(&server, "server", &dns_port, (const char *[]){"--bootstrap", boot, "--http-listen", listen, NULL});
  unsetenv("DHTREG_NAMES");
  wait_joined(&server);
  /* the node names its own resources in its log with the same base32 */
  char b32[56], cmd[600];
  b32_of(server.peer_id, b32);
  snprintf(cmd, sizeof cmd, "grep -q 'resources are LABEL.%s.dhtreg.' '%s'", b32, server.log);
  assert_int_equal(system(cmd), 0);

  json_t *r = h_ok(&owner, "resource.create", json_pack("{s:s}", "label", "web"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  advertise(rid, "web-1", "10.0.0.5", 8080, "http", NULL, 300);
  advertise(rid, "web-2", "web2.example.com", 8081, "grpc", json_pack("[s,s]", "10.0.0.6:8081", "[2001:db8::1]:8081"), 300);
  advertise(rid, "web-3", "10.0.0.7", 9090, "http", NULL, 300);
  advertise(rid, "web-4", "10.0.0.5", 8443, "http", NULL, 300);
  r = h_ok(&owner, "resource.create", json_pack("{s:s}", "label", "brief"));
  snprintf(brief_rid, sizeof brief_rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  advertise(brief_rid, "b-1", "10.0.1.1", 7000, "http", NULL, 9);
  h_has has = {&server, rid, "web-4"};
  assert_true(h_wait_for(h_resolves, &has, 30000));
  return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

/* SRV, A, AAAA and TXT answer what resolve returns, by the owner's base32
 * and by its alias, from dig and from libresolv, over UDP and TCP. */
static void test_answers_match_resolve(void **state) {
  char name[200], alias[64], exp[MAX_RRS][LINE], got[MAX_RRS][LINE];
  snprintf(name, sizeof name, "web.%s.dhtreg.", owner_b32);
  snprintf(alias, sizeof alias, "web.prod.dhtreg.");
  const char *names[] = {name, alias};
  for (int k = 0; k < 2; k++) {
    int ne = expected(rid, NULL, ns_t_srv, exp, MAX_RRS);
    assert_int_equal(ne, 4);
    same_lines(got, dig("+short", "SRV", names[k], got, MAX_RRS), exp, ne, "dig SRV");
    ne = expected(rid, NULL, ns_t_a, exp, MAX_RRS);
    assert_int_equal(ne, 3); /* 10.0.0.5 (twice in the records), .6, .7 */
    same_lines(got, dig("+short", "A", names[k], got, MAX_RRS), exp, ne, "dig A");
    ne = expected(rid, NULL, ns_t_aaaa, exp, MAX_RRS);
    same_lines(got, dig("+short", "AAAA", names[k], got, MAX_RRS), exp, ne, "dig AAAA");
    for (int tcp = 0; tcp < 2; tcp++) {
      answer a;
      ask(names[k], ns_t_srv, tcp, &a);
      assert_int_equal(a.rcode, ns_r_noerror);
      ne = expected(rid, NULL, ns_t_srv, exp, MAX_RRS);
      same_lines(got, lines_of(&a, ns_t_srv, got, MAX_RRS), exp, ne, tcp ? "res SRV over TCP" : "res SRV");
    }
  }
  /* res_nquery, as a program would call it */
  uint8_t buf[4096];
  answer a;
  res_setup(false);
  int len = res_nquery(&rs, alias, ns_c_in, ns_t_a, buf, sizeof buf);
  res_nclose(&rs);
  assert_true(len > 0);
  parse(buf, len, &a);
  same_lines(got, lines_of(&a, ns_t_a, got, MAX_RRS), exp, expected(rid, NULL, ns_t_a, exp, MAX_RRS), "res_nquery A");
  /* the SRV answer carries the addresses of its hex.addr targets, and they resolve */
  dig("+noall +additional", "SRV", name, got, MAX_RRS);
  assert_non_null(strstr(got[0], "0a000005.addr.dhtreg."));
  same_lines(got, dig("+short", "A", "0a000007.addr.dhtreg.", got, MAX_RRS), (char[][LINE]){"10.0.0.7"}, 1, "addr A");
  same_lines(got, dig("+short", "AAAA", "20010db8000000000000000000000001.addr.dhtreg.", got, MAX_RRS),
             (char[][LINE]){"2001:db8::1"}, 1, "addr AAAA");
  /* TXT: one per record, with its service id, peer and seq, then its metadata */
  json_t *recs = resolve_records(rid), *r;
  size_t i;
  int n = dig("+short", "TXT", name, got, MAX_RRS);
  assert_int_equal(n, (int)json_array_size(recs));
  json_array_foreach(recs, i, r) {
    char want[300];
    snprintf(want, sizeof want, "\"service_id=%s\" \"peer=%s\" \"seq=%lld\"",
             json_string_value(json_object_get(r, "service_id")), json_string_value(json_object_get(r, "peer_id")),
             json_integer_value(json_object_get(r, "seq")));
    bool found = false;
    for (int k = 0; k < n; k++) found = found || strncmp(got[k], want, strlen(want)) == 0;
    if (!found) fail_msg("no TXT starting %s", want);
  }
  json_decref(recs);
  assert_int_equal(dig("+short", "TXT", "_http._tcp.web.prod.dhtreg.", got, MAX_RRS), 3);
  assert_int_equal(dig("+short", "TXT", "_grpc._tcp.web.prod.dhtreg.", got, MAX_RRS), 1);
  assert_non_null(strstr(got[0], "\"service_id=web-2\""));
  dig("+short", "TXT", "_http._tcp.web.prod.dhtreg.", got, MAX_RRS);
  bool meta = false;
  for (int k = 0; k < 3; k++) meta = meta || strstr(got[k], "\"type=http\" \"tags=v2\" \"zone=eu\"");
  assert_true(meta);
  /* DNS ignores case: the same answers in capitals */
  char upper[200];
  for (size_t c = 0; c <= strlen(name); c++) upper[c] = (char)(name[c] >= 'a' && name[c] <= 'z' ? name[c] - 32 : name[c]);
  same_lines(got, dig("+short", "SRV", upper, got, MAX_RRS), exp, expected(rid, NULL, ns_t_srv, exp, MAX_RRS), "upper");
}

/* _type._tcp filters; unknown names are NXDOMAIN, known ones without such
 * data NOERROR and empty, outside the zone REFUSED. */
static void test_filters_and_rcodes(void **state) {
  char name[200], exp[MAX_RRS][LINE], got[MAX_RRS][LINE], st[32];
  const char *types[] = {"http", "grpc"};
  for (int k = 0; k < 2; k++) {
    snprintf(name, sizeof name, "_%s._tcp.web.%s.dhtreg.", types[k], owner_b32);
    int ne = expected(rid, types[k], ns_t_srv, exp, MAX_RRS);
    assert_int_equal(ne, k == 0 ? 3 : 1);
    same_lines(got, dig("+short", "SRV", name, got, MAX_RRS), exp, ne, name);
  }
  struct {
    const char *name, *type, *status;
  } cases[] = {
      {"_none._tcp.web.prod.dhtreg.", "SRV", "NOERROR"}, /* a known resource, no record of the type */
      {"web.prod.dhtreg.", "MX", "NOERROR"},
      {"prod.dhtreg.", "SRV", "NOERROR"},                /* names exist below it */
      {"dhtreg.", "SOA", "NOERROR"},
      {"nothere.prod.dhtreg.", "SRV", "NXDOMAIN"},       /* no resource, no record */
      {"web.nobody.dhtreg.", "SRV", "NXDOMAIN"},         /* no such alias */
      {"_http._tcp.prod.dhtreg.", "SRV", "NXDOMAIN"},    /* no label */
      {"zzzzzzzz.addr.dhtreg.", "A", "NXDOMAIN"},
      {"web.broken.dhtreg.", "SRV", "SERVFAIL"},         /* its names file line is broken */
      {"example.com.", "A", "REFUSED"},
      {"web.prod.dhtreg.example.", "SRV", "REFUSED"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dig_status(cases[i].type, cases[i].name, st);
    if (strcmp(st, cases[i].status) != 0) fail_msg("%s %s: %s, expected %s", cases[i].type, cases[i].name, st, cases[i].status);
  }
  answer a;
  ask("_none._tcp.web.prod.dhtreg.", ns_t_srv, false, &a);
  assert_int_equal(a.rcode, ns_r_noerror);
  assert_int_equal(a.n, 0);
  ask("nothere.prod.dhtreg.", ns_t_a, true, &a);
  assert_int_equal(a.rcode, ns_r_nxdomain);
}

/* The TTL is never longer than what is left of the answered records' lives
 * (and 30 s at most). */
static void test_ttl(void **state) {
  char name[200];
  answer a;
  snprintf(name, sizeof name, "brief.%s.dhtreg.", owner_b32);
  h_has has = {&server, brief_rid, "b-1"};
  assert_true(h_wait_for(h_resolves, &has, 20000));
  json_t *recs = resolve_records(brief_rid);
  assert_int_equal(json_array_size(recs), 1);
  long long expires = json_integer_value(json_object_get(json_array_get(recs, 0), "expires_at"));
  json_decref(recs);
  long long before = (long long)time(NULL);
  ask(name, ns_t_srv, false, &a);
  assert_int_equal(a.rcode, ns_r_noerror);
  assert_int_equal(a.n, 1);
  assert_true((long long)a.rr[0].ttl <= expires - before + 1); /* +1: the node's second may be ahead of ours */
  assert_true(a.rr[0].ttl <= 9);
  ask("web.prod.dhtreg.", ns_t_srv, false, &a);
  for (int i = 0; i < a.n; i++) assert_true(a.rr[i].ttl <= 30 && a.rr[i].ttl >= 25);
}

static uint32_t rng = 2463534242u;
static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* A malformed message of kind k into p; its length. */
static size_t garbage(int k, uint8_t *p) {
  uint8_t q[NS_PACKETSZ];
  size_t len;
  switch (k) {
  case 0: /* random bytes */
    len = next_rand() % 600;
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)next_rand();
    return len;
  case 1: /* a truncated header */
    len = 1 + next_rand() % 11;
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)next_rand();
    return len;
  case 2: /* a query's header, then garbage */
    len = 12 + next_rand() % 120;
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)next_rand();
    p[2] = 0x01, p[3] = 0, p[4] = 0, p[5] = 1;
    return len;
  case 3: { /* a real query, bytes flipped or cut */
    int ql = res_nmkquery(&rs, ns_o_query, "web.prod.dhtreg.", ns_c_in, ns_t_srv, NULL, 0, NULL, q, sizeof q);
    memcpy(p, q, (size_t)ql);
    for (int f = 0; f < 1 + (int)(next_rand() % 3); f++) p[next_rand() % (unsigned)ql] ^= (uint8_t)(1 + next_rand() % 255);
    return next_rand() % 4 == 0 ? (size_t)(next_rand() % (unsigned)ql) : (size_t)ql;
  }
  default: /* compression pointers to themselves, absurd counts */
    memset(p, 0, 12);
    p[0] = (uint8_t)next_rand(), p[5] = 1, p[7] = (uint8_t)next_rand(), p[11] = (uint8_t)next_rand();
    p[12] = 0xc0, p[13] = 12, p[14] = 0, p[15] = 33, p[16] = 0, p[17] = 1;
    return 18;
  }
}

/* A probe that needs no resolve (the apex's SOA) sent after what came
 * before; its answer comes after theirs, so waiting for it is waiting for
 * the node to have handled them all. Returns how many other answers came. */
static int probe(int fd, const struct sockaddr_in *to, uint16_t id) {
  uint8_t q[NS_PACKETSZ], a[65536];
  int ql = res_nmkquery(&rs, ns_o_query, "dhtreg.", ns_c_in, ns_t_soa, NULL, 0, NULL, q, sizeof q);
  q[0] = (uint8_t)(id >> 8), q[1] = (uint8_t)id;
  assert_int_equal(sendto(fd, q, (size_t)ql, 0, (const struct sockaddr *)to, sizeof *to), ql);
  int others = 0;
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 10000) != 1) fail_msg("no answer to the probe: the DNS interface stopped answering");
    ssize_t n = recv(fd, a, sizeof a, 0);
    /* its id and its question: a garbage query may carry the same id */
    if (n >= ql && a[0] == q[0] && a[1] == q[1] && (a[3] & 15) == 0 && !memcmp(a + 12, q + 12, (size_t)ql - 12))
      return others;
    others++;
  }
}

static double metric(const char *series) {
  char cmd[400], out[64] = "";
  snprintf(cmd, sizeof cmd, "curl -sf -m 5 '%s/metrics' | awk -v s='%s' '$1 == s {print $2}'", http_base, series);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  if (!fgets(out, sizeof out, p)) out[0] = '\0';
  pclose(p);
  if (!out[0]) fail_msg("no series %s", series);
  return strtod(out, NULL);
}

/* 10 000 malformed datagrams (and garbage over TCP) leave the node serving
 * DNS and JSON-RPC; a response or a runt is never answered. */
static void test_garbage(void **state) {
  uint8_t p[700];
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(dns_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  assert_true(fd >= 0);
  res_setup(false);
  double formerr = metric("dhtreg_dns_responses_total{rcode=\"FORMERR\"}");
  double queries = metric("dhtreg_dns_queries_total"), dropped = metric("dhtreg_dns_dropped_total");
  int sent_queries = 0, sent_other = 2, probes = 2; /* a header, and not a response: a query */
  /* a runt and a response first: the probe's answer is the first to come */
  assert_int_equal(sendto(fd, "\x12\x34\x01", 3, 0, (struct sockaddr *)&to, sizeof to), 3);
  size_t gl = garbage(3, p);
  p[2] |= 0x80;
  assert_int_equal(sendto(fd, p, gl, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)gl);
  assert_int_equal(probe(fd, &to, 1), 0);
  for (int i = 0; i < 10000; i++) {
    size_t len = garbage(i % 5, p);
    assert_int_equal(sendto(fd, p, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
    if (len >= 12 && !(p[2] & 0x80)) sent_queries++;
    else sent_other++;
    if (i % 50 == 49) { /* paced: the kernel drops nothing */
      probe(fd, &to, (uint16_t)(2 + i));
      probes++;
    }
  }
  probe(fd, &to, 1);
  close(fd);
  res_nclose(&rs);
  /* every datagram was seen: the queries counted, the rest dropped unanswered */
  assert_int_equal(metric("dhtreg_dns_queries_total") - queries, sent_queries + probes);
  assert_int_equal(metric("dhtreg_dns_dropped_total") - dropped, sent_other);
  assert_true(metric("dhtreg_dns_responses_total{rcode=\"FORMERR\"}") > formerr + 1000);
  /* garbage over TCP: the connection is closed, and the next one served */
  for (int k = 0; k < 20; k++) {
    int t = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(t, (struct sockaddr *)&to, sizeof to), 0);
    size_t len = garbage(k % 5, p + 2);
    p[0] = (uint8_t)(k % 3 == 0 ? 0xff : len >> 8), p[1] = (uint8_t)len;
    send(t, p, len + 2, MSG_NOSIGNAL);
    if (k % 2) shutdown(t, SHUT_WR);
    struct pollfd pf = {.fd = t, .events = POLLIN};
    while (k % 2 && poll(&pf, 1, 15000) == 1 && recv(t, p, sizeof p, 0) > 0) {} /* until the node closes */
    close(t);
  }
  char exp[MAX_RRS][LINE], got[MAX_RRS][LINE];
  int ne = expected(rid, NULL, ns_t_srv, exp, MAX_RRS);
  same_lines(got, dig("+short", "SRV", "web.prod.dhtreg.", got, MAX_RRS), exp, ne, "SRV after garbage");
  same_lines(got, dig("+short +tcp", "SRV", "web.prod.dhtreg.", got, MAX_RRS), exp, ne, "SRV over TCP after garbage");
  json_decref(h_ok(&server, "node.info", NULL));
}

/* An answer too large for a datagram comes truncated (TC) over UDP, the
 * additional records dropped first, and whole over TCP, where dig and
 * glibc ask again by themselves. */
static void test_truncation(void **state) {
  char id[64], sid[16], got[MAX_RRS][LINE];
  json_t *r = h_ok(&owner, "resource.create", json_pack("{s:s}", "label", "many"));
  snprintf(id, sizeof id, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  for (int i = 0; i < 40; i++) {
    char host[32];
    snprintf(sid, sizeof sid, "m-%02d", i);
    snprintf(host, sizeof host, "10.0.2.%d", i + 1);
    advertise(id, sid, host, 7000 + i, "http", NULL, 300);
  }
  h_has has = {&server, id, "m-39"};
  assert_true(h_wait_for(h_resolves, &has, 20000));
  srv_wait w = {"many.prod.dhtreg.", 40};
  assert_true(h_wait_for(srv_count_is, &w, 20000)); /* res_nsend: TC, then TCP */
  double truncated = metric("dhtreg_dns_truncated_total");
  int n = dig("+noedns +ignore +noall +comments", "SRV", "many.prod.dhtreg.", got, MAX_RRS);
  bool tc = false;
  for (int i = 0; i < n; i++) tc = tc || (strstr(got[i], "flags:") && strstr(got[i], " tc"));
  assert_true(tc);
  assert_true(dig("+noedns +ignore +short", "SRV", "many.prod.dhtreg.", got, MAX_RRS) < 40);
  assert_int_equal(dig("+noedns +short", "SRV", "many.prod.dhtreg.", got, MAX_RRS), 40); /* dig retries over TCP */
  assert_int_equal(dig("+short", "A", "many.prod.dhtreg.", got, MAX_RRS), 40);
  /* with EDNS, 1232 bytes: more of them (40 bytes each) fit, the additional records gone */
  int small = dig("+noedns +ignore +short", "SRV", "many.prod.dhtreg.", got, MAX_RRS);
  int large = dig("+ignore +short", "SRV", "many.prod.dhtreg.", got, MAX_RRS);
  assert_true(small >= 10 && large > small + 10 && large < 40);
  assert_int_equal(dig("+ignore +noall +additional", "SRV", "many.prod.dhtreg.", got, MAX_RRS), 0);
  assert_true(metric("dhtreg_dns_truncated_total") >= truncated + 5);
}

/* A withdrawn record leaves the answers within its TTL: read through the
 * DHT, then from the cache of a pinned resource. */
static void test_withdraw(void **state) {
  srv_wait w = {"web.prod.dhtreg.", 3};
  json_decref(h_ok(&owner, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "web-3")));
  assert_true(h_wait_for(srv_count_is, &w, 35000));
  char got[MAX_RRS][LINE];
  int n = dig("+short", "SRV", "web.prod.dhtreg.", got, MAX_RRS);
  for (int i = 0; i < n; i++) assert_null(strstr(got[i], " 9090 "));
  json_decref(h_ok(&server, "resource.pin", json_pack("{s:s}", "resource_id", rid)));
  json_decref(h_ok(&owner, "record.withdraw", json_pack("{s:s, s:s}", "resource_id", rid, "service_id", "web-4")));
  w.want = 2;
  assert_true(h_wait_for(srv_count_is, &w, 35000));
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* count res_nquery calls of name: p50 and p99 in microseconds, printed */
static void latency(const char *what, const char *name, int count) {
  uint64_t *t = calloc((size_t)count, sizeof *t);
  uint8_t buf[4096];
  res_setup(false);
  for (int i = 0; i < count; i++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int len = res_nquery(&rs, name, ns_c_in, ns_t_srv, buf, sizeof buf);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (len <= 0) fail_msg("%s: query %d got no answer", what, i);
    t[i] = (uint64_t)(((int64_t)b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec)) / 1000u;
  }
  res_nclose(&rs);
  qsort(t, (size_t)count, sizeof *t, cmp_u64);
  fprintf(stderr, "test_dns: latency %s: %d res_nquery, p50 %llu us, p99 %llu us, max %llu us\n", what, count,
          (unsigned long long)t[count / 2], (unsigned long long)t[count * 99 / 100], (unsigned long long)t[count - 1]);
  free(t);
}

/* DNS latency, for the report: a pinned resource (answered from the
 * node's cache) and one read from the DHT on each query. */
static void test_latency(void **state) {
  int count = under_valgrind ? 100 : 1000;
  json_decref(h_ok(&server, "resource.pin", json_pack("{s:s}", "resource_id", rid)));
  latency("cached (pinned) name", "web.prod.dhtreg.", count);
  latency("name read from the DHT", "brief.prod.dhtreg.", count);
}

/* Reads one length-prefixed DNS message from a TCP connection (within 10 s);
 * returns its id, or -1. */
static int tcp_answer(int fd, uint8_t *a, size_t cap) {
  size_t got = 0, want = 2;
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  while (got < want) {
    if (poll(&pf, 1, 10000) != 1) return -1;
    ssize_t n = recv(fd, a + got, want - got, 0);
    if (n <= 0) return -1;
    got += (size_t)n;
    if (got == 2 && want == 2) {
      want = 2 + ((size_t)a[0] << 8 | a[1]);
      if (want > cap || want < 14) return -1;
    }
  }
  return a[2] << 8 | a[3];
}

/* More queries pipelined on one TCP connection than the node runs at once
 * (64): every one answered, and the connection still read afterwards. */
static void test_tcp_pipelined(void **state) {
  enum { N = 300, MORE = 5 };
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(dns_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(tcp, (struct sockaddr *)&to, sizeof to), 0);
  uint8_t q[NS_PACKETSZ + 2], a[8192];
  bool seen[N + MORE] = {0};
  res_setup(false);
  for (int round = 0; round < 2; round++) {
    int from = round ? N : 0, to_n = round ? N + MORE : N;
    for (int i = from; i < to_n; i++) {
      char name[64]; /* labels nobody created: each a lookup in the DHT */
      snprintf(name, sizeof name, "p%d.prod.dhtreg.", i);
      int ql = res_nmkquery(&rs, ns_o_query, name, ns_c_in, ns_t_srv, NULL, 0, NULL, q + 2, NS_PACKETSZ);
      q[0] = (uint8_t)(ql >> 8), q[1] = (uint8_t)ql;
      q[2] = (uint8_t)(i >> 8), q[3] = (uint8_t)i;
      assert_int_equal(send(tcp, q, (size_t)ql + 2, MSG_NOSIGNAL), ql + 2);
    }
    for (int k = from; k < to_n; k++) {
      int id = tcp_answer(tcp, a, sizeof a);
      if (id < 0) fail_msg("round %d: %d of %d queries answered over one TCP connection", round, k - from, to_n - from);
      assert_true(id >= from && id < to_n && !seen[id]);
      assert_int_equal(a[5] & 15, ns_r_nxdomain);
      seen[id] = true;
    }
  }
  res_nclose(&rs);
  close(tcp);
}

/* A node stopping with DNS queries waiting for the DHT answers them
 * SERVFAIL and exits cleanly, within its bound. */
static void test_stop_with_queries_in_flight(void **state) {
  h_node x, y;
  char boot[64], b32[56];
  h_node_start(&x, "quiet", NULL);
  h_addr(&x, boot, sizeof boot);
  uint16_t port;
  start_dns_node(&y, "stopping", &port, (const char *[]){"--bootstrap", boot, "--op-timeout-ms", "60000", NULL});
  json_t *info;
  wait_joined(&y);
  kill(x.pid, SIGSTOP); /* its DHT peer answers nothing now: lookups wait */
  b32_of(x.peer_id, b32);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_DGRAM, 0), tcp = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(connect(tcp, (struct sockaddr *)&to, sizeof to), 0);
  uint8_t q[NS_PACKETSZ + 2], a[4096];
  enum { N = 100 };
  res_setup(false);
  for (int i = 0; i < N + 5; i++) {
    char name[128];
    snprintf(name, sizeof name, "l%d.%s.dhtreg.", i, b32);
    int ql = res_nmkquery(&rs, ns_o_query, name, ns_c_in, ns_t_srv, NULL, 0, NULL, q + 2, NS_PACKETSZ);
    q[2] = (uint8_t)(i >> 8), q[3] = (uint8_t)i;
    if (i < N) {
      assert_int_equal(sendto(fd, q + 2, (size_t)ql, 0, (struct sockaddr *)&to, sizeof to), ql);
    } else { /* and a few over TCP */
      q[0] = 0, q[1] = (uint8_t)ql;
      assert_int_equal(send(tcp, q, (size_t)ql + 2, MSG_NOSIGNAL), ql + 2);
    }
  }
  res_nclose(&rs);
  for (uint64_t end = h_now_ms() + 15000;; ) { /* every lookup queued or in flight */
    info = h_ok(&y, "node.info", NULL);
    long long pending = json_integer_value(json_object_get(info, "dht_pending"));
    json_decref(info);
    if (pending >= N) break;
    if (h_now_ms() > end) fail_msg("only %lld lookups pending", pending);
    usleep(20000);
  }
  h_node_signal(&y, SIGTERM);
  int status = h_node_wait(&y, 10000);
  kill(x.pid, SIGCONT);
  assert_true(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "grep -q 'took longer than 2 s' '%s'", y.log);
  assert_int_not_equal(system(cmd), 0);
  /* every UDP query got one answer: SERVFAIL */
  bool seen[N] = {0};
  int answered = 0;
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  while (answered < N && poll(&pf, 1, 2000) == 1) {
    ssize_t n = recv(fd, a, sizeof a, 0);
    assert_true(n >= 12);
    int id = a[0] << 8 | a[1];
    assert_true(id < N && !seen[id]);
    assert_int_equal(a[3] & 15, ns_r_servfail);
    seen[id] = true;
    answered++;
  }
  assert_int_equal(answered, N);
  /* the TCP connection ends: SERVFAIL answers or none, then EOF */
  pf.fd = tcp;
  while (poll(&pf, 1, 5000) == 1 && recv(tcp, a, sizeof a, 0) > 0) {}
  close(tcp);
  close(fd);
}

/* --dns-listen takes loopback addresses alone unless --dns-any-address
 * (exit 2, naming the flag); a port in use stops the start (exit 1). */
static void test_flags(void **state) {
  h_node n;
  int status;
  char busy[32], cmd[600];
  assert_int_equal(h_node_try_start(&n, "public", (const char *[]){"--dns-listen", "10.1.2.3:8600", NULL}, &status), -1);
  assert_int_equal(WEXITSTATUS(status), 2);
  snprintf(cmd, sizeof cmd, "grep -q 'add --dns-any-address' '%s'", n.log);
  assert_int_equal(system(cmd), 0);
  snprintf(busy, sizeof busy, "127.0.0.1:%u", dns_port);
  assert_int_equal(h_node_try_start(&n, "busy", (const char *[]){"--dns-listen", busy, NULL}, &status), -1);
  assert_int_equal(WEXITSTATUS(status), 1);
  snprintf(cmd, sizeof cmd, "grep -q 'cannot serve DNS on %s (--dns-listen, UDP): address already in use' '%s'", busy, n.log);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers_match_resolve),
      cmocka_unit_test(test_filters_and_rcodes),
      cmocka_unit_test(test_ttl),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_withdraw),
      cmocka_unit_test(test_latency),
      cmocka_unit_test(test_tcp_pipelined),
      cmocka_unit_test(test_stop_with_queries_in_flight),
      cmocka_unit_test(test_flags),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
