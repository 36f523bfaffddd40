/* dns.c - the node's DNS interface (--dns-listen): the dhtreg. zone over UDP and TCP, answered from resolves on the node's loop
 *
 * Messages are parsed and written by ldns; the names and the records of an
 * answer are dns_zone.c's. One message is one `query` from the moment it is
 * read until it is answered or dropped, on every path: a query that needs a
 * resolve is on the server's list (with the resolve's handle) until its
 * callback, which answers and frees it; one answered from the node's cache
 * (a watched or pinned resource) is answered and freed inside
 * dr_node_resolve. When a TCP connection closes, its queries' resolves are
 * cancelled and the queries freed unanswered; when the server stops, every
 * query still waiting is cancelled and answered SERVFAIL (over UDP) before
 * the sockets close, so the node can stop right after.
 *
 * UDP answers fit the client's EDNS size (at most 1232 bytes) or 512 bytes:
 * beyond, the additional records go first, then answers, with TC set, and
 * the client asks again over TCP (RFC 7766: length-prefixed messages,
 * several per connection, answered in any order).
 */
#include "api/dns_zone.h"
#include "api/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNS_RESOLVE_LIMIT 64     /* records a resolve reads for an answer */
#define DNS_MAX_QUERIES 4096     /* waiting for resolves; beyond, SERVFAIL at once */
#define DNS_UDP_MAX 1232         /* the largest UDP answer (EDNS; DNS flag day 2020) */
#define DNS_UDP_PLAIN 512        /* without EDNS (RFC 1035) */
#define DNS_HEADER 12
#define DNS_TCP_MAX_CONNS 64
#define DNS_TCP_IDLE_MS 10000    /* a connection with nothing going on is closed */
#define DNS_TCP_MAX_PENDING 64   /* queries in progress on one connection; reading pauses beyond */
#define DNS_TCP_BUF_MAX (2 + 65535)
#define WARN_EVERY_MS 60000

typedef struct tconn tconn;

typedef struct query {
  dr_dns_server *s;
  struct query *prev, *next; /* the server's list: waiting for a resolve */
  bool linked;
  dr_resolve *op;            /* the resolve, while it is pending */
  tconn *conn;               /* TCP, or NULL: UDP, answered to peer */
  struct sockaddr_storage peer;
  ldns_pkt *req;
  dr_dns_name name;
} query;

struct tconn {
  uv_tcp_t tcp;
  uv_timer_t timer;          /* the idle timeout, or (at 0) reading resumed */
  dr_dns_server *s;
  tconn *prev, *next;        /* the server's open connections */
  uint8_t *buf;              /* what was read and not yet handled */
  size_t len, cap;
  unsigned pending, writes, handles;
  bool eof, closing, paused;
};

struct dr_dns_server {
  uv_loop_t *loop;
  dr_node *node;
  uv_udp_t udp;
  uv_tcp_t tcp;
  bool have_udp, have_tcp, stopping;
  unsigned handles;          /* open: the sockets, and each connection */
  query *queries;
  size_t n_queries;
  tconn *conns;
  unsigned n_conns;
  char paths[DR_NAMES_FILES_MAX][DR_NAMES_PATH_MAX];
  const char *files[DR_NAMES_FILES_MAX];
  size_t n_files;
  dr_dns_stats stats;
  uint64_t warned_ms;
  void (*done)(void *);
  void *done_ctx;
  uint8_t rbuf[65536];       /* one datagram, handled before the next is read */
};

static void conn_close(tconn *c);
static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void conn_wake(tconn *c);

/* ---- queries ------------------------------------------------------------------- */

static void query_link(query *q) {
  dr_dns_server *s = q->s;
  q->next = s->queries;
  if (s->queries) s->queries->prev = q;
  s->queries = q;
  q->linked = true;
  s->n_queries++;
}

/* Frees a query, answered or not. */
static void query_end(query *q) {
  dr_dns_server *s = q->s;
  if (q->linked) {
    if (q->prev) q->prev->next = q->next;
    else s->queries = q->next;
    if (q->next) q->next->prev = q->prev;
    s->n_queries--;
  }
  if (q->req) ldns_pkt_free(q->req);
  tconn *c = q->conn;
  free(q);
  if (c) {
    c->pending--;
    conn_wake(c);
  }
}

static void warn_limited(dr_dns_server *s, const char *fmt, const char *arg) {
  uint64_t now = uv_now(s->loop);
  if (s->warned_ms && now - s->warned_ms < WARN_EVERY_MS) return;
  s->warned_ms = now;
  DR_WARN(dr_node_logger(s->node), fmt, arg);
}

/* ---- sending ------------------------------------------------------------------- */

typedef struct udp_send {
  uv_udp_send_t req;
  uint8_t *wire;
} udp_send;

typedef struct tcp_write {
  uv_write_t req;
  uint8_t len[2];
  uint8_t *wire;
  tconn *c;
} tcp_write;

static void on_udp_sent(uv_udp_send_t *req, int status) {
  udp_send *u = (udp_send *)req;
  free(u->wire);
  free(u);
}

static void on_tcp_written(uv_write_t *req, int status) {
  tcp_write *w = (tcp_write *)req;
  tconn *c = w->c;
  free(w->wire);
  free(w);
  c->writes--;
  if (status < 0) conn_close(c);
  else conn_wake(c);
}

/* Sends wire (taking it) to the query's client. */
static void send_wire(query *q, uint8_t *wire, size_t len) {
  dr_dns_server *s = q->s;
  tconn *c = q->conn;
  if (c) {
    tcp_write *w = c->closing ? NULL : malloc(sizeof *w);
    if (!w) goto drop;
    w->len[0] = (uint8_t)(len >> 8);
    w->len[1] = (uint8_t)len;
    w->wire = wire;
    w->c = c;
    uv_buf_t bufs[2] = {uv_buf_init((char *)w->len, 2), uv_buf_init((char *)wire, (unsigned)len)};
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, 2, on_tcp_written) < 0) {
      free(w);
      goto drop;
    }
    c->writes++;
    return;
  }
  uv_buf_t buf = uv_buf_init((char *)wire, (unsigned)len);
  int r = uv_udp_try_send(&s->udp, &buf, 1, (const struct sockaddr *)&q->peer);
  if (r == (int)len) goto drop; /* sent: only the buffer to free */
  if (r == UV_EAGAIN || r == UV_ENOSYS) {
    udp_send *u = malloc(sizeof *u);
    if (u) {
      u->wire = wire;
      if (uv_udp_send(&u->req, &s->udp, &buf, 1, (const struct sockaddr *)&q->peer, on_udp_sent) == 0) return;
      free(u);
    }
  }
drop:
  free(wire);
}

/* The wire form of resp in at most max bytes: the additional records go
 * first (no TC: RFC 2181 9), then answers from the end, with TC. */
static int to_wire(dr_dns_server *s, ldns_pkt *resp, size_t max, uint8_t **wire, size_t *len) {
  for (;;) {
    if (ldns_pkt2wire(wire, resp, len) != LDNS_STATUS_OK) return -ENOMEM;
    if (*len <= max) return 0;
    free(*wire);
    *wire = NULL;
    size_t an = ldns_pkt_ancount(resp), ar = ldns_pkt_arcount(resp), ns = ldns_pkt_nscount(resp);
    if (ar) {
      for (size_t i = 0; i < ar; i++) ldns_rr_free(ldns_rr_list_pop_rr(ldns_pkt_additional(resp)));
      ldns_pkt_set_arcount(resp, 0);
    } else if (an) {
      /* about as many as the excess holds (an answer is at most len/an bytes), at least one */
      size_t drop = (*len - max) * an / *len + 1;
      if (drop > an) drop = an;
      for (size_t i = 0; i < drop; i++) ldns_rr_free(ldns_rr_list_pop_rr(ldns_pkt_answer(resp)));
      ldns_pkt_set_ancount(resp, (uint16_t)(an - drop));
      if (!ldns_pkt_tc(resp)) s->stats.truncated++;
      ldns_pkt_set_tc(resp, true);
    } else if (ns) {
      for (size_t i = 0; i < ns; i++) ldns_rr_free(ldns_rr_list_pop_rr(ldns_pkt_authority(resp)));
      ldns_pkt_set_nscount(resp, 0);
    } else {
      return -EMSGSIZE;
    }
  }
}

/* Sends resp (taking it) as the answer of q, then frees q. */
static void finish(query *q, ldns_pkt *resp) {
  dr_dns_server *s = q->s;
  size_t max = 65535, len;
  uint8_t *wire = NULL;
  if (!q->conn) {
    max = DNS_UDP_PLAIN;
    if (ldns_pkt_edns(q->req)) {
      size_t want = ldns_pkt_edns_udp_size(q->req);
      max = want < DNS_UDP_PLAIN ? DNS_UDP_PLAIN : want > DNS_UDP_MAX ? DNS_UDP_MAX : want;
    }
  }
  unsigned rcode = ldns_pkt_get_rcode(resp);
  if (to_wire(s, resp, max, &wire, &len) == 0) {
    s->stats.rcodes[rcode < DR_DNS_RCODES ? rcode : DR_DNS_RCODES - 1]++;
    send_wire(q, wire, len);
  }
  ldns_pkt_free(resp);
  query_end(q);
}

/* A response to q's request: its id, opcode, RD, question and EDNS, as the
 * zone's authority. NULL when out of memory. */
static ldns_pkt *response_new(const query *q, ldns_pkt_rcode rcode) {
  ldns_pkt *resp = ldns_pkt_new();
  if (!resp) return NULL;
  ldns_pkt_set_id(resp, ldns_pkt_id(q->req));
  ldns_pkt_set_qr(resp, true);
  ldns_pkt_set_opcode(resp, ldns_pkt_get_opcode(q->req));
  ldns_pkt_set_rd(resp, ldns_pkt_rd(q->req));
  ldns_pkt_set_rcode(resp, rcode);
  if (rcode != LDNS_RCODE_FORMERR && ldns_pkt_qdcount(q->req) == 1) {
    ldns_rr *question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q->req), 0));
    if (!question || !ldns_pkt_push_rr(resp, LDNS_SECTION_QUESTION, question)) {
      ldns_rr_free(question);
      ldns_pkt_free(resp);
      return NULL;
    }
    ldns_pkt_set_aa(resp, rcode == LDNS_RCODE_NOERROR || rcode == LDNS_RCODE_NXDOMAIN);
  }
  if (ldns_pkt_edns(q->req)) ldns_pkt_set_edns_udp_size(resp, DNS_UDP_MAX);
  return resp;
}

/* Answers q with rcode and no answer (with the zone's SOA for a negative
 * answer in the zone: soa), then frees q. */
static void answer_rcode(query *q, ldns_pkt_rcode rcode, bool soa) {
  ldns_pkt *resp = response_new(q, rcode);
  if (resp && soa && dr__dns_add_soa(resp, LDNS_SECTION_AUTHORITY) < 0) {
    ldns_pkt_free(resp);
    resp = response_new(q, LDNS_RCODE_SERVFAIL);
  }
  if (resp) finish(q, resp);
  else query_end(q);
}

/* ---- answering ----------------------------------------------------------------- */

static const ldns_rr *question(const query *q) {
  return ldns_rr_list_rr(ldns_pkt_question(q->req), 0);
}

static void on_resolved(void *ctx, int err, const dr_resolution *res) {
  query *q = ctx;
  q->op = NULL;
  if (err < 0) { /* the DHT did not answer in time (DR_ETIMEOUT), or the node stops */
    answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
    return;
  }
  if (!res->resource && !res->n_records) { /* no such resource */
    answer_rcode(q, LDNS_RCODE_NXDOMAIN, true);
    return;
  }
  ldns_pkt *resp = response_new(q, LDNS_RCODE_NOERROR);
  int r = resp ? dr__dns_add_records(resp, ldns_rr_owner(question(q)), ldns_rr_get_type(question(q)),
                                     &q->name, res->records, res->n_records, dr_node_now(q->s->node))
               : -ENOMEM;
  if (r == 0) r = dr__dns_add_soa(resp, LDNS_SECTION_AUTHORITY); /* a name with no data of that type */
  if (r < 0) {
    if (resp) ldns_pkt_free(resp);
    answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
    return;
  }
  finish(q, resp);
}

/* A resource name: the records come from a resolve (the node answers it
 * from its cache when the resource is watched or pinned). */
static void start_resolve(query *q) {
  dr_dns_server *s = q->s;
  if (s->n_queries >= DNS_MAX_QUERIES) {
    warn_limited(s, "dns: %s queries wait for the DHT already: answering SERVFAIL", "4096");
    answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
    return;
  }
  dr_resolve *op = NULL;
  query_link(q);
  int r = dr_node_resolve(s->node, q->name.rid, DNS_RESOLVE_LIMIT, NULL, on_resolved, q, &op);
  if (r < 0) { /* refused (-ENOBUFS: the DHT queue is full), or stopping */
    if (r != -ESHUTDOWN) warn_limited(s, "dns: the node refused a resolve (%s): answering SERVFAIL", strerror(-r));
    answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
  } else if (op) {
    q->op = op; /* pending: on_resolved frees q */
  }             /* else answered from the cache already, and q is gone */
}

/* The question of a parsed query: what its name names decides the rest. */
static void answer_question(query *q) {
  dr_dns_server *s = q->s;
  const ldns_rr *qr = question(q);
  ldns_rr_class cls = ldns_rr_get_class(qr);
  ldns_rr_type type = ldns_rr_get_type(qr);
  if (cls != LDNS_RR_CLASS_IN && cls != LDNS_RR_CLASS_ANY) {
    answer_rcode(q, LDNS_RCODE_REFUSED, false);
    return;
  }
  if (type == LDNS_RR_TYPE_AXFR || type == LDNS_RR_TYPE_IXFR) { /* the zone has no end */
    answer_rcode(q, LDNS_RCODE_REFUSED, false);
    return;
  }
  char why[600] = "";
  dr__dns_name_parse(ldns_rr_owner(qr), s->files, s->n_files, &q->name, why, sizeof why);
  ldns_pkt *resp;
  int r;
  switch (q->name.kind) {
  case DR_DNS_OUTSIDE: answer_rcode(q, LDNS_RCODE_REFUSED, false); return;
  case DR_DNS_NONE: answer_rcode(q, LDNS_RCODE_NXDOMAIN, true); return;
  case DR_DNS_EMPTY: answer_rcode(q, LDNS_RCODE_NOERROR, true); return;
  case DR_DNS_BROKEN:
    warn_limited(s, "dns: %s: answering SERVFAIL", why);
    answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
    return;
  case DR_DNS_RESOURCE: start_resolve(q); return;
  case DR_DNS_APEX:
  case DR_DNS_ADDR:
    if (!(resp = response_new(q, LDNS_RCODE_NOERROR))) break;
    if (q->name.kind == DR_DNS_ADDR) r = dr__dns_add_addr(resp, ldns_rr_owner(qr), type, &q->name);
    else if (type == LDNS_RR_TYPE_SOA || type == LDNS_RR_TYPE_ANY) r = dr__dns_add_soa(resp, LDNS_SECTION_ANSWER) < 0 ? -ENOMEM : 1;
    else r = 0;
    if (r == 0) r = dr__dns_add_soa(resp, LDNS_SECTION_AUTHORITY); /* no data of that type */
    if (r >= 0) {
      finish(q, resp);
      return;
    }
    ldns_pkt_free(resp);
    break;
  }
  answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
}

/* The header alone of a message ldns cannot parse: its id, opcode and RD,
 * FORMERR (RFC 1035 4.1.1). */
static void answer_formerr(query *q, const uint8_t *data) {
  uint8_t *wire = malloc(DNS_HEADER);
  if (!wire) return;
  memset(wire, 0, DNS_HEADER);
  wire[0] = data[0];
  wire[1] = data[1];
  wire[2] = (uint8_t)(0x80 | (data[2] & 0x79)); /* QR, the opcode, RD */
  wire[3] = LDNS_RCODE_FORMERR;
  q->s->stats.rcodes[LDNS_RCODE_FORMERR]++;
  send_wire(q, wire, DNS_HEADER);
}

/* One message from a client: UDP from peer, or TCP on c. */
static void on_message(dr_dns_server *s, tconn *c, const struct sockaddr *peer, const uint8_t *data, size_t len) {
  /* not even a header, or a response (never answered: no loops between
   * servers, no reflection): dropped without a word */
  if (len < DNS_HEADER || (data[2] & 0x80)) {
    s->stats.dropped++;
    if (c) conn_close(c);
    return;
  }
  s->stats.queries++;
  query *q = calloc(1, sizeof *q);
  if (!q) return;
  q->s = s;
  q->conn = c;
  if (c) c->pending++;
  else memcpy(&q->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
  if (ldns_wire2pkt(&q->req, data, len) != LDNS_STATUS_OK) {
    q->req = NULL;
    answer_formerr(q, data);
    query_end(q);
    return;
  }
  if (ldns_pkt_get_opcode(q->req) != LDNS_PACKET_QUERY) answer_rcode(q, LDNS_RCODE_NOTIMPL, false);
  else if (ldns_pkt_qdcount(q->req) != 1) answer_rcode(q, LDNS_RCODE_FORMERR, false);
  else answer_question(q);
}

/* ---- UDP ------------------------------------------------------------------------- */

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  dr_dns_server *s = h->data;
  *buf = uv_buf_init((char *)s->rbuf, sizeof s->rbuf);
}

static void on_udp_read(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags) {
  dr_dns_server *s = h->data;
  if (nread < 0 || !addr || s->stopping) return; /* nothing (0 and no addr), or an error of the socket */
  if (flags & UV_UDP_PARTIAL) {
    s->stats.dropped++;
    return;
  }
  on_message(s, NULL, addr, (const uint8_t *)buf->base, (size_t)nread);
}

/* ---- TCP ------------------------------------------------------------------------- */

static void on_server_handle_closed(dr_dns_server *s) {
  if (--s->handles) return;
  void (*done)(void *) = s->done;
  void *ctx = s->done_ctx;
  free(s);
  if (done) done(ctx);
}

static void on_conn_closed(uv_handle_t *h) {
  tconn *c = h->data;
  if (--c->handles) return;
  dr_dns_server *s = c->s;
  free(c->buf);
  free(c);
  on_server_handle_closed(s);
}

/* Closes c: its queries are cancelled and dropped, its writes cancelled. */
static void conn_close(tconn *c) {
  if (c->closing) return;
  dr_dns_server *s = c->s;
  c->closing = true;
  for (query *q = s->queries, *next; q; q = next) {
    next = q->next;
    if (q->conn != c) continue;
    if (q->op) dr_node_resolve_cancel(s->node, q->op);
    query_end(q);
  }
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  s->stats.tcp_connections = s->n_conns;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tconn *c = h->data;
  size_t want = c->len + 4096 < DNS_TCP_BUF_MAX ? c->len + 4096 : DNS_TCP_BUF_MAX;
  if (c->cap < want) {
    uint8_t *nb = realloc(c->buf, want);
    if (nb) {
      c->buf = nb;
      c->cap = want;
    }
  }
  *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len)); /* 0 bytes: UV_ENOBUFS */
}

static void on_conn_timer(uv_timer_t *t);

/* Handles the whole messages read (up to DNS_TCP_MAX_PENDING in progress),
 * reads on or pauses, and closes the connection once the client is done. */
static void conn_drain(tconn *c) {
  size_t off = 0;
  while (!c->closing && c->pending < DNS_TCP_MAX_PENDING && c->len - off >= 2) {
    size_t m = (size_t)c->buf[off] << 8 | c->buf[off + 1];
    if (c->len - off - 2 < m) break;
    off += 2 + m;
    on_message(c->s, c, NULL, c->buf + off - m, m);
  }
  if (c->closing) return;
  memmove(c->buf, c->buf + off, c->len - off);
  c->len -= off;
  bool full = c->pending >= DNS_TCP_MAX_PENDING;
  if (full && !c->paused && !c->eof) uv_read_stop((uv_stream_t *)&c->tcp);
  else if (!full && c->paused && !c->eof && uv_read_start((uv_stream_t *)&c->tcp, on_tcp_alloc, on_tcp_read) < 0) {
    conn_close(c);
    return;
  }
  c->paused = full;
  if (c->eof && !c->pending && !c->writes) conn_close(c);
  else uv_timer_start(&c->timer, on_conn_timer, DNS_TCP_IDLE_MS, 0);
}

static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  tconn *c = st->data;
  if (nread == UV_EOF) {
    c->eof = true;
    uv_read_stop(st);
    conn_drain(c);
  } else if (nread < 0) {
    conn_close(c);
  } else {
    c->len += (size_t)nread;
    conn_drain(c);
  }
}

/* A query of c ended or a write completed: reading may resume (from the
 * loop, not inside the caller's callback), or the connection end. */
static void conn_wake(tconn *c) {
  if (c->closing) return;
  if (c->paused && c->pending < DNS_TCP_MAX_PENDING / 2) uv_timer_start(&c->timer, on_conn_timer, 0, 0);
  else if (c->eof && !c->pending && !c->writes) uv_timer_start(&c->timer, on_conn_timer, 0, 0);
}

static void on_conn_timer(uv_timer_t *t) {
  tconn *c = t->data;
  if (c->paused || c->eof) conn_drain(c);
  else if (!c->pending && !c->writes) conn_close(c); /* idle */
  else uv_timer_start(&c->timer, on_conn_timer, DNS_TCP_IDLE_MS, 0);
}

static void on_tcp_connection(uv_stream_t *l, int status) {
  dr_dns_server *s = l->data;
  if (status < 0 || s->stopping) return;
  tconn *c = calloc(1, sizeof *c);
  if (!c) return;
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  s->handles++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->stats.tcp_connections = ++s->n_conns;
  s->stats.tcp_accepted++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0 || s->n_conns > DNS_TCP_MAX_CONNS ||
      uv_read_start((uv_stream_t *)&c->tcp, on_tcp_alloc, on_tcp_read) < 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_conn_timer, DNS_TCP_IDLE_MS, 0);
}

/* ---- start and stop ----------------------------------------------------------------- */

static void on_socket_closed(uv_handle_t *h) {
  on_server_handle_closed(h->data);
}

static void server_close(dr_dns_server *s) {
  s->stopping = true;
  s->handles++; /* held while closing, so that done runs after this returns */
  if (s->have_udp) uv_close((uv_handle_t *)&s->udp, on_socket_closed);
  if (s->have_tcp) uv_close((uv_handle_t *)&s->tcp, on_socket_closed);
  while (s->conns) conn_close(s->conns);
  on_server_handle_closed(s);
}

static int bind_sockets(dr_dns_server *s, const dr_dns_config *cfg, char *err, size_t errlen) {
  char host[64], port[8];
  struct sockaddr_storage ss;
  int r, v6;
  if (dr_split_hostport(cfg->listen, host, sizeof host, port, sizeof port) < 0) {
    snprintf(err, errlen, "--dns-listen: '%s' is not a numeric ADDR:PORT", cfg->listen);
    return -EINVAL;
  }
  if (!cfg->any_address && dr_rpc_check_loopback(cfg->listen) < 0) {
    snprintf(err, errlen, "--dns-listen: '%s' is not a loopback address (--dns-any-address allows it)", cfg->listen);
    return -EINVAL;
  }
  v6 = strchr(host, ':') != NULL;
  r = v6 ? uv_ip6_addr(host, atoi(port), (struct sockaddr_in6 *)&ss) : uv_ip4_addr(host, atoi(port), (struct sockaddr_in *)&ss);
  if (r < 0) {
    snprintf(err, errlen, "--dns-listen: '%s' is not a numeric ADDR:PORT", cfg->listen);
    return -EINVAL;
  }
  const char *proto = "UDP";
  if ((r = uv_udp_init(s->loop, &s->udp)) < 0) goto fail;
  s->have_udp = true;
  s->handles++;
  if ((r = uv_udp_bind(&s->udp, (struct sockaddr *)&ss, v6 ? UV_UDP_IPV6ONLY : 0)) < 0 ||
      (r = uv_udp_recv_start(&s->udp, on_udp_alloc, on_udp_read)) < 0)
    goto fail;
  proto = "TCP";
  if ((r = uv_tcp_init(s->loop, &s->tcp)) < 0) goto fail;
  s->have_tcp = true;
  s->handles++;
  if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, v6 ? UV_TCP_IPV6ONLY : 0)) < 0 ||
      (r = uv_listen((uv_stream_t *)&s->tcp, 128, on_tcp_connection)) < 0)
    goto fail;
  return 0;
fail:
  snprintf(err, errlen, "cannot serve DNS on %s (--dns-listen, %s): %s", cfg->listen, proto, uv_strerror(r));
  return r;
}

int dr_dns_start(dr_dns_server **out, uv_loop_t *loop, dr_node *node, const dr_dns_config *cfg,
                 char *err, size_t errlen) {
  dr_dns_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  s->loop = loop;
  s->node = node;
  s->n_files = dr_names_search_path(cfg->names_env, cfg->home, s->paths);
  for (size_t i = 0; i < s->n_files; i++) s->files[i] = s->paths[i];
  s->udp.data = s->tcp.data = s;
  int r = bind_sockets(s, cfg, err, errlen);
  if (r < 0) {
    server_close(s); /* frees s once what was opened is closed */
    return r;
  }
  char b32[DR_DNS_B32_LEN + 1];
  dr__dns_b32_encode(dr_node_peer_id(node), b32);
  DR_INFO(dr_node_logger(node), "serving DNS on %s (UDP and TCP): this node's resources are LABEL.%s.dhtreg.",
          cfg->listen, b32);
  *out = s;
  return 0;
}

void dr_dns_stop(dr_dns_server *s, void (*done)(void *ctx), void *ctx) {
  s->done = done;
  s->done_ctx = ctx;
  s->stopping = true;
  /* the node stops next: every resolve still pending is cancelled now and
   * its client told SERVFAIL (a TCP client's answer goes with its connection) */
  while (s->queries) {
    query *q = s->queries;
    if (q->op) dr_node_resolve_cancel(s->node, q->op);
    q->op = NULL;
    answer_rcode(q, LDNS_RCODE_SERVFAIL, false);
  }
  server_close(s);
}

void dr_dns_stats_get(const dr_dns_server *s, dr_dns_stats *out) {
  *out = s->stats;
}
