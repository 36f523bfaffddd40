/* test_rpc_limits.c - the JSON-RPC server's limits: request size, connections, calls pending,
 * batch size, watches, resolve limit, clients that do not read; each error and its log line */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

/* the documented limits (docs/API.md, "Limits") */
#define MAX_PENDING 1024
#define WATCHES_PER_CONN 64
#define NODE_WATCHES 100 /* --max-watches of node lim */
#define NODE_CONNS 8     /* --max-connections of node few */
#define RESOLVE_MAX 1000

/* generous: every node may run under valgrind on two busy cores */
#define READ_MS 30000

static h_node lim;  /* default limits but --max-watches */
static h_node few;  /* --max-connections 8 */
static h_node slow; /* TCP too, --max-connections 8, 2 s idle and request timeouts */
static uint16_t slow_tcp;

static int setup(void **state) {
  char listen[32];
  h_node_start(&lim, "lim", (const char *[]){"--max-watches", "100", NULL});
  h_node_start(&few, "few", (const char *[]){"--max-connections", "8", NULL});
  /* a TCP port that was free a moment ago */
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  assert_int_equal(bind(probe, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &sl), 0);
  slow_tcp = ntohs(sa.sin_port);
  close(probe);
  snprintf(listen, sizeof listen, "127.0.0.1:%u", slow_tcp);
  h_node_start(&slow, "slow", (const char *[]){"--rpc-listen", listen, "--max-connections", "8",
                                               "--rpc-idle-timeout", "2", "--rpc-request-timeout", "2", NULL});
  return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static int log_count(const h_node *n, const char *needle) {
  char line[2048];
  int count = 0;
  FILE *f = fopen(n->log, "r");
  if (!f) return 0;
  while (fgets(line, sizeof line, f)) count += strstr(line, needle) != NULL;
  fclose(f);
  return count;
}

typedef struct log_want {
  const h_node *n;
  const char *needle;
  int more_than;
} log_want;

static bool log_grew(void *p) {
  log_want *w = p;
  return log_count(w->n, w->needle) > w->more_than;
}

/* Fails unless n's log gets a line with needle beyond the before lines it had. */
static void expect_log(const h_node *n, const char *needle, int before) {
  log_want w = {n, needle, before};
  if (!h_wait_for(log_grew, &w, 10000)) fail_msg("%s: no log line \"%s\"", n->name, needle);
}

/* Whether the node closed fd within ms (what it still had in flight is read
 * and dropped); false on a timeout. */
static bool closed_by_node(int fd, int ms) {
  uint64_t end = h_now_ms() + (uint64_t)ms;
  char buf[65536];
  for (;;) {
    uint64_t now = h_now_ms();
    if (now >= end) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(end - now)) <= 0) continue;
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) return true; /* EOF, or reset */
  }
}

static bool hung_up(void *p) {
  struct pollfd pf = {.fd = *(int *)p, .events = 0};
  return poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR));
}

/* Sends all of buf within ms, whatever the node does meanwhile: 0 sent,
 * -EPIPE the node hung up, -ETIMEDOUT. */
static int send_within(int fd, const char *buf, size_t len, int ms) {
  uint64_t end = h_now_ms() + (uint64_t)ms;
  while (len) {
    uint64_t now = h_now_ms();
    if (now >= end) return -ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, (int)(end - now)) <= 0) continue;
    if (p.revents & (POLLHUP | POLLERR)) return -EPIPE;
    ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return -EPIPE;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

/* One health call on its own connection: its latency in ms, or fails. */
static int health_ms(const h_node *n) {
  uint64_t t0 = h_now_ms();
  json_t *r = h_ok(n, "health", NULL);
  json_decref(r);
  return (int)(h_now_ms() - t0);
}

static char *request(int id, const char *method, const char *params) {
  static char buf[512];
  snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"%s%s}", id, method,
           params ? ",\"params\":" : "", params ? params : "");
  return buf;
}

/* A resource id nobody advertises into (pure: no network). */
static void some_rid(const h_node *n, const char *label, char *out, size_t len) {
  json_t *r = h_ok(n, "resource.id", json_pack("{s:s}", "label", label));
  snprintf(out, len, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
}

/* ---- request size ----------------------------------------------------------------- */

static void test_oversized_request(void **state) {
  int before = log_count(&lim, "request over 1048576 bytes");
  int big = h_connect(&lim), other = h_connect(&lim);
  assert_true(big >= 0 && other >= 0);
  size_t n = 1100 * 1024;
  char *req = malloc(n + 128);
  assert_non_null(req);
  int len = snprintf(req, 128, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\",\"params\":{\"x\":\"");
  memset(req + len, 'a', n);
  strcpy(req + len + n, "\"}}");
  int sent = send_within(big, req, strlen(req), READ_MS); /* the node may hang up before the end */
  free(req);
  assert_true(sent == 0 || sent == -EPIPE);

  /* the other connection is served meanwhile */
  const char *h = request(2, "health", NULL);
  h_send(other, h, strlen(h));
  json_t *r = h_read_json(other, READ_MS);
  assert_non_null(r);
  assert_non_null(json_object_get(r, "result"));
  json_decref(r);

  r = h_read_json(big, READ_MS);
  assert_non_null(r);
  assert_int_equal(h_error_code(r), -32012);
  assert_non_null(strstr(h_error_message(r), "1048576"));
  json_decref(r);
  assert_true(closed_by_node(big, READ_MS));
  expect_log(&lim, "request over 1048576 bytes", before);

  /* and the other one still is */
  h_send(other, h, strlen(h));
  r = h_read_json(other, READ_MS);
  assert_non_null(json_object_get(r, "result"));
  json_decref(r);
  close(big);
  close(other);
}

/* ---- connections -------------------------------------------------------------------- */

/* Opens a connection that few serves into *(int *)p: retried while an
 * earlier connection's close is still under way on the node. */
static bool opened(void *p) {
  int fd = h_connect(&few);
  if (fd < 0) return false;
  const char *h = request(1, "health", NULL);
  h_send(fd, h, strlen(h));
  json_t *r = h_read_json(fd, READ_MS);
  bool ok = r && json_object_get(r, "result");
  json_decref(r);
  if (!ok) {
    close(fd);
    return false;
  }
  *(int *)p = fd;
  return true;
}

static void test_connection_limit(void **state) {
  int fds[NODE_CONNS];
  int before = log_count(&few, "refusing a connection on the Unix socket: 8 open already");
  for (int i = 0; i < NODE_CONNS; i++) {
    if (!h_wait_for(opened, &fds[i], 20000)) fail_msg("connection %d of %d not served", i + 1, NODE_CONNS);
  }
  /* the ninth gets one error line, then the node hangs up */
  int ninth = h_connect(&few);
  assert_true(ninth >= 0);
  json_t *r = h_read_json(ninth, READ_MS);
  assert_non_null(r);
  assert_int_equal(h_error_code(r), -32012);
  assert_non_null(strstr(h_error_message(r), "connections"));
  json_decref(r);
  assert_true(closed_by_node(ninth, READ_MS));
  close(ninth);
  expect_log(&few, "refusing a connection on the Unix socket: 8 open already", before);

  /* the eight are still served */
  for (int i = 0; i < NODE_CONNS; i++) {
    const char *h = request(100 + i, "health", NULL);
    h_send(fds[i], h, strlen(h));
    r = h_read_json(fds[i], READ_MS);
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
  }
  /* one closes: a new connection is served (once the node saw the close) */
  close(fds[0]);
  assert_true(h_wait_for(opened, &fds[0], 20000));
  for (int i = 0; i < NODE_CONNS; i++) close(fds[i]);
}

/* ---- calls pending: a pipelining client is slowed down, never failed ------------------ */

/* Counts one answer of the pipelined test: a result with an id not seen yet. */
static void count_answer(json_t *r, unsigned char *seen, int n, int *answered, int *failed) {
  json_t *id = json_object_get(r, "id");
  if (!json_object_get(r, "result") || !json_is_integer(id)) {
    char *t = json_dumps(r, JSON_COMPACT);
    if ((*failed)++ < 3) fprintf(stderr, "failed answer: %.300s\n", t ? t : "?");
    free(t);
    return;
  }
  json_int_t k = json_integer_value(id);
  if (k < 0 || k >= n || seen[k]++) fail_msg("unexpected id %lld", (long long)k);
  (*answered)++;
}

static void test_pipelined_requests_all_answered(void **state) {
  /* a batch at the cap first, so that the node surely pauses at least once
   * whatever the timing, then COUNT requests */
  enum { COUNT = 5000, TOTAL = COUNT + MAX_PENDING };
  char rid[64], one[256];
  some_rid(&lim, "pipelined", rid, sizeof rid);
  snprintf(one, sizeof one, "{\"resource_id\":\"%s\"}", rid);
  int paused0 = log_count(&lim, "reading paused");
  int resumed0 = log_count(&lim, "reading resumed");

  /* every request at once (resolves: each waits for the DHT), then a half-close */
  size_t cap = (size_t)TOTAL * 160, len = 0;
  char *all = malloc(cap);
  assert_non_null(all);
  all[len++] = '[';
  for (int k = COUNT; k < TOTAL; k++)
    len += (size_t)sprintf(all + len, "%s%s", k > COUNT ? "," : "", request(k, "resolve", one));
  all[len++] = ']';
  for (int k = 0; k < COUNT; k++) {
    const char *req = request(k, "resolve", one);
    size_t l = strlen(req);
    assert_true(len + l < cap);
    memcpy(all + len, req, l);
    len += l;
  }
  static unsigned char seen[TOTAL];
  memset(seen, 0, sizeof seen);
  int fd = h_connect(&lim);
  assert_true(fd >= 0);

  /* send and read at once: the node stops reading while it has its cap of
   * calls pending, and the client must not deadlock on its own writes */
  size_t sent = 0, in_len = 0, in_cap = 1 << 20;
  char *in = malloc(in_cap);
  assert_non_null(in);
  int answered = 0, failed = 0;
  bool eof = false, shut = false;
  uint64_t t0 = h_now_ms(), end = t0 + 180000;
  while (!eof && h_now_ms() < end) {
    struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
    if (poll(&p, 1, 1000) <= 0) continue;
    if ((p.revents & POLLOUT) && sent < len) {
      ssize_t w = send(fd, all + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) sent += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EINTR) fail_msg("send: %s", strerror(errno));
      if (sent == len && !shut) {
        shutdown(fd, SHUT_WR);
        shut = true;
      }
    }
    if (p.revents & (POLLIN | POLLHUP)) {
      if (in_len == in_cap) fail_msg("an answer longer than %zu bytes", in_cap);
      ssize_t got = recv(fd, in + in_len, in_cap - in_len, MSG_DONTWAIT);
      if (got == 0) eof = true;
      if (got <= 0) continue;
      in_len += (size_t)got;
      char *nl, *start = in;
      while ((nl = memchr(start, '\n', in_len - (size_t)(start - in)))) {
        json_t *r = json_loadb(start, (size_t)(nl - start), 0, NULL), *m;
        size_t i;
        if (json_is_array(r))
          json_array_foreach(r, i, m) count_answer(m, seen, TOTAL, &answered, &failed);
        else
          count_answer(r, seen, TOTAL, &answered, &failed);
        if (answered == TOTAL && end > h_now_ms() + READ_MS) end = h_now_ms() + READ_MS;
        json_decref(r);
        start = nl + 1;
      }
      in_len -= (size_t)(start - in);
      memmove(in, start, in_len);
    }
  }
  close(fd);
  free(in);
  free(all);
  fprintf(stderr, "%d pipelined resolves answered in %llu ms\n", answered,
          (unsigned long long)(h_now_ms() - t0));
  assert_int_equal(failed, 0);
  assert_int_equal(answered, TOTAL);
  assert_true(eof); /* the half-closed client got every answer, then the close */
  /* the cap was reached (reading paused) and reading resumed */
  expect_log(&lim, "reading paused", paused0);
  expect_log(&lim, "reading resumed", resumed0);
  json_decref(h_ok(&lim, "health", NULL));
}

/* Whether the node has read everything sent on fd (nothing left in the
 * socket's queue). */
static bool all_read(void *p) {
  int queued = -1;
  return ioctl(*(int *)p, TIOCOUTQ, &queued) == 0 && queued == 0;
}

/* The texts the node read before it paused stay buffered; once it resumes it
 * answers them even though no byte follows them but the client's EOF. */
static void test_buffered_texts_answered_after_pause(void **state) {
  enum { TAIL = 50 };
  char rid[64], params[128];
  some_rid(&lim, "buffered", rid, sizeof rid);
  snprintf(params, sizeof params, "{\"resource_id\":\"%s\"}", rid);
  int paused0 = log_count(&lim, "reading paused");
  size_t cap = (size_t)(MAX_PENDING + TAIL) * 160, len = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  /* a batch at the cap, all but its last byte: the node reads it all */
  buf[len++] = '[';
  for (int k = 0; k < MAX_PENDING; k++) len += (size_t)sprintf(buf + len, "%s%s", k ? "," : "", request(k, "resolve", params));
  int fd = h_connect(&lim);
  assert_true(fd >= 0);
  assert_int_equal(send_within(fd, buf, len, READ_MS), 0);
  assert_true(h_wait_for(all_read, &fd, READ_MS));
  /* then, in one write, its end and more requests, and the half-close: the
   * batch puts the connection at the cap, the rest waits in the node */
  len = 0;
  buf[len++] = ']';
  for (int k = 0; k < TAIL; k++) len += (size_t)sprintf(buf + len, "%s", request(MAX_PENDING + k, "resolve", params));
  assert_int_equal(send_within(fd, buf, len, READ_MS), 0);
  shutdown(fd, SHUT_WR);
  free(buf);

  int batch = 0, singles = 0;
  json_t *r;
  while ((r = h_read_json(fd, READ_MS))) {
    if (json_is_array(r)) {
      batch++;
      assert_int_equal(json_array_size(r), MAX_PENDING);
      for (size_t i = 0; i < json_array_size(r); i++)
        assert_non_null(json_object_get(json_array_get(r, i), "result"));
    } else {
      assert_non_null(json_object_get(r, "result"));
      assert_true(json_integer_value(json_object_get(r, "id")) >= MAX_PENDING);
      singles++;
    }
    json_decref(r);
  }
  assert_int_equal(batch, 1);
  assert_int_equal(singles, TAIL);
  assert_true(closed_by_node(fd, READ_MS));
  close(fd);
  expect_log(&lim, "reading paused", paused0);
}

/* ---- batch size ------------------------------------------------------------------- */

/* A batch of n calls of method (no params); caller frees. */
static char *batch_of(const char *method, int n) {
  char *b = malloc((size_t)n * 64 + 8), *p = b;
  assert_non_null(b);
  *p++ = '[';
  for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? "," : "", request(i, method, NULL));
  strcpy(p, "]");
  return b;
}

static void test_batch_over_cap(void **state) {
  int before = log_count(&lim, "refusing a batch of 1025 requests");
  int fd = h_connect(&lim);
  assert_true(fd >= 0);
  char *b = batch_of("health", MAX_PENDING + 1);
  assert_int_equal(send_within(fd, b, strlen(b), READ_MS), 0);
  free(b);
  json_t *r = h_read_json(fd, READ_MS);
  assert_non_null(r);
  assert_true(json_is_object(r)); /* one error, not an array of answers */
  assert_int_equal(h_error_code(r), -32012);
  assert_non_null(strstr(h_error_message(r), "batch of at most 1024"));
  json_decref(r);
  expect_log(&lim, "refusing a batch of 1025 requests", before);

  /* the connection goes on, and a batch at the cap is served */
  b = batch_of("health", MAX_PENDING);
  assert_int_equal(send_within(fd, b, strlen(b), READ_MS), 0);
  free(b);
  r = h_read_json(fd, READ_MS);
  assert_true(json_is_array(r));
  assert_int_equal(json_array_size(r), MAX_PENDING);
  for (size_t i = 0; i < json_array_size(r); i++)
    assert_non_null(json_object_get(json_array_get(r, i), "result"));
  json_decref(r);
  close(fd);
}

/* ---- watches ------------------------------------------------------------------------ */

/* Sends count watch requests on fd and reads their answers: the number that
 * succeeded; the first error's message goes to err. */
static int watch_many(int fd, const char *rid, int count, char *err, size_t errlen) {
  char params[128];
  snprintf(params, sizeof params, "{\"resource_id\":\"%s\"}", rid);
  for (int i = 0; i < count; i++) {
    const char *req = request(i, "watch", params);
    assert_int_equal(send_within(fd, req, strlen(req), READ_MS), 0);
  }
  int ok = 0;
  err[0] = '\0';
  for (int i = 0; i < count; i++) {
    json_t *r = h_read_json(fd, READ_MS);
    if (!r) fail_msg("answer %d of %d watches missing", i, count);
    if (!json_object_get(r, "id")) { /* an event: none expected, nothing is advertised */
      json_decref(r);
      i--;
      continue;
    }
    if (json_object_get(r, "result")) {
      ok++;
    } else {
      assert_int_equal(h_error_code(r), -32012);
      if (!err[0]) snprintf(err, errlen, "%s", h_error_message(r));
    }
    json_decref(r);
  }
  return ok;
}

typedef struct watch_try {
  int fd;
  const char *rid;
} watch_try;

static bool watch_again(void *p) {
  watch_try *w = p;
  char err[256];
  return watch_many(w->fd, w->rid, 1, err, sizeof err) == 1;
}

static void test_watch_limits(void **state) {
  char rid[64], err[256];
  some_rid(&lim, "watched", rid, sizeof rid);
  int conn0 = log_count(&lim, "a connection has 64 watches already");
  int node0 = log_count(&lim, "the node has 100 watches already");

  /* one connection: 64, then -32012 */
  int a = h_connect(&lim);
  assert_true(a >= 0);
  assert_int_equal(watch_many(a, rid, WATCHES_PER_CONN + 1, err, sizeof err), WATCHES_PER_CONN);
  assert_non_null(strstr(err, "64 watches per connection"));
  expect_log(&lim, "a connection has 64 watches already", conn0);

  /* another: the node's --max-watches 100 in all */
  int b = h_connect(&lim);
  assert_true(b >= 0);
  int left = NODE_WATCHES - WATCHES_PER_CONN;
  assert_int_equal(watch_many(b, rid, left + 4, err, sizeof err), left);
  assert_non_null(strstr(err, "--max-watches"));
  assert_non_null(strstr(err, "100"));
  expect_log(&lim, "the node has 100 watches already", node0);

  /* the first connection's watches end with it: b may watch again */
  close(a);
  watch_try w = {b, rid};
  assert_true(h_wait_for(watch_again, &w, 20000));
  close(b);
}

/* ---- resolve limit -------------------------------------------------------------- */

static void test_resolve_limit(void **state) {
  char rid[64];
  json_t *created = h_ok(&lim, "resource.create", json_pack("{s:s}", "label", "limited"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(created, "resource_id")));
  json_decref(created);
  for (int i = 0; i < 3; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "s%d", i);
    json_decref(h_ok(&lim, "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid, "service_id", sid, "host",
                               "10.0.0.1", "port", 80 + i)));
  }
  json_t *resp = h_call(&lim, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", RESOLVE_MAX + 1));
  assert_non_null(resp);
  assert_int_equal(h_error_code(resp), -32602);
  assert_non_null(strstr(h_error_message(resp), "limit"));
  assert_non_null(strstr(h_error_message(resp), "1000"));
  json_decref(resp);
  assert_int_equal(h_err(&lim, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 0)), -32602);

  /* within the bounds, limit caps the records returned */
  json_t *res = h_ok(&lim, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", RESOLVE_MAX));
  assert_int_equal(json_array_size(json_object_get(res, "records")), 3);
  json_decref(res);
  res = h_ok(&lim, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 2));
  assert_int_equal(json_array_size(json_object_get(res, "records")), 2);
  json_decref(res);
}

/* ---- a client that does not read ------------------------------------------------- */

/* A client that sends and never reads: the node stops reading it once its
 * unsent answers pile up (its writes block; others are served meanwhile),
 * and drops it when it took none of them for the idle timeout. */
static void test_client_that_never_reads(void **state) {
  enum { BATCH = 1000, MAX_BATCHES = 64 };
  int before = log_count(&slow, "took none of its answers");
  /* node.info answers at once with ~1 KB: ~1 MB per batch answer */
  char *b = batch_of("node.info", BATCH);
  int fd = h_connect(&slow);
  assert_true(fd >= 0);
  int batches = 0, worst = 0;
  uint64_t t0 = h_now_ms();
  for (; batches < MAX_BATCHES; batches++) {
    int r = send_within(fd, b, strlen(b), 500);
    if (r != 0) break; /* the node stopped reading (or hung up) */
    int ms = health_ms(&slow);
    if (ms > worst) worst = ms;
  }
  free(b);
  assert_true(batches < MAX_BATCHES);
  /* dropped after the idle timeout (2 s) of taking nothing */
  assert_true(h_wait_for(hung_up, &fd, 20000));
  assert_true(closed_by_node(fd, READ_MS));
  close(fd);
  fprintf(stderr, "reading stopped after %d batches; dropped %llu ms after the start; others "
          "answered within %d ms\n", batches, (unsigned long long)(h_now_ms() - t0), worst);
  expect_log(&slow, "took none of its answers", before);
  assert_true(worst < 15000);
}

/* ---- a client that reads, slowly: served to the end ---------------------------------- */

typedef struct pipe_writer {
  int fd, count;
  const char *rid;
} pipe_writer;

static void *write_all_requests(void *p) {
  pipe_writer *w = p;
  char req[256];
  for (int i = 0; i < w->count; i++) {
    int len = snprintf(req, sizeof req,
                       "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"resolve\",\"params\":"
                       "{\"resource_id\":\"%s\"}}\n", i + 1, w->rid);
    h_send(w->fd, req, (size_t)len); /* blocks while the node holds back */
  }
  return NULL;
}

/* 20 000 pipelined cached resolves of ~8 KB answers (160 MB) while another
 * thread reads them slower than the node answers: the node holds back
 * instead of dropping the client, and every answer arrives. */
static long long cache_hits(const h_node *n) {
  json_t *info = h_ok(n, "node.info", NULL);
  long long v = json_integer_value(json_object_get(json_object_get(info, "cache"), "hits"));
  json_decref(info);
  return v;
}

/* A resolve of the resource (a char *) is answered from the cache: the
 * pin's first read is over. */
static bool answered_from_cache(void *rid) {
  long long before = cache_hits(&lim);
  json_decref(h_ok(&lim, "resolve", json_pack("{s:s}", "resource_id", (const char *)rid)));
  return cache_hits(&lim) > before;
}

static void test_slow_reader_served_to_the_end(void **state) {
  enum { COUNT = 20000, RECORDS = 20 };
  char rid[64];
  json_t *created = h_ok(&lim, "resource.create", json_pack("{s:s}", "label", "slowread"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(created, "resource_id")));
  json_decref(created);
  for (int i = 0; i < RECORDS; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "s%02d", i);
    json_decref(h_ok(&lim, "record.advertise",
                     json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:s}}", "resource_id", rid, "service_id", sid,
                               "host", "10.0.0.1", "port", 80 + i, "metadata", "zone",
                               "eu-west-1-a-rather-long-zone-name-to-make-the-answer-bigger",
                               "owner", "team-with-a-long-name-and-a-long-description-too")));
  }
  json_decref(h_ok(&lim, "resource.pin", json_pack("{s:s}", "resource_id", rid)));
  /* every resolve below is answered from the cache (before the pin's first
   * read is over, resolves go to the DHT: slow under valgrind) */
  assert_true(h_wait_for(answered_from_cache, rid, 30000));
  int before = log_count(&lim, "does not read its answers");
  int fd = h_connect(&lim);
  assert_true(fd >= 0);
  pipe_writer w = {fd, COUNT, rid};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, write_all_requests, &w), 0);
  char *buf = malloc(1 << 16);
  size_t have = 0;
  int answered = 0, failed = 0;
  uint64_t t0 = h_now_ms(), last = t0;
  while (answered < COUNT) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1000) <= 0) {
      if (h_now_ms() - last > READ_MS) fail_msg("no answer for %d ms after %d", READ_MS, answered);
      continue;
    }
    ssize_t got = recv(fd, buf + have, (1 << 16) - 1 - have, 0);
    if (got <= 0) fail_msg("the node hung up after %d of %d answers", answered, COUNT);
    last = h_now_ms();
    have += (size_t)got;
    buf[have] = '\0';
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = '\0';
      if (!strstr(line, "\"result\"") && failed++ == 0) fprintf(stderr, "first failed answer: %.300s\n", line);
      answered++;
      line = nl + 1;
    }
    have = strlen(line);
    memmove(buf, line, have);
    /* a slow reader: 64 KB at a time, with a pause */
    struct timespec ts = {0, 500 * 1000};
    nanosleep(&ts, NULL);
  }
  pthread_join(th, NULL);
  free(buf);
  close(fd);
  fprintf(stderr, "%d answers read in %llu ms, %d failed\n", answered,
          (unsigned long long)(h_now_ms() - t0), failed);
  assert_int_equal(failed, 0);
  assert_int_equal(log_count(&lim, "does not read its answers"), before);
}

/* ---- idle connections, requests that never end, a TCP flood ---------------------------- */

static int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

/* Another local user takes every TCP slot and holds them: the Unix socket
 * keeps its own slots and serves; the TCP connections are closed once idle
 * for the idle timeout, a request left unfinished at its deadline. */
static void test_tcp_flood_and_idle_connections(void **state) {
  int tcp[NODE_CONNS];
  for (int i = 0; i < NODE_CONNS; i++) {
    tcp[i] = tcp_connect(slow_tcp);
    assert_true(tcp[i] >= 0);
  }
  /* the ninth TCP connection is refused... */
  int ninth = tcp_connect(slow_tcp);
  assert_true(ninth >= 0);
  json_t *r = h_read_json(ninth, READ_MS);
  assert_non_null(r);
  assert_int_equal(h_error_code(r), -32012);
  json_decref(r);
  close(ninth);
  /* ...while the Unix socket serves, eight times over */
  int unix_fds[NODE_CONNS];
  for (int i = 0; i < NODE_CONNS; i++) {
    unix_fds[i] = h_connect(&slow);
    assert_true(unix_fds[i] >= 0);
    const char *h = request(i + 1, "health", NULL);
    h_send(unix_fds[i], h, strlen(h));
    r = h_read_json(unix_fds[i], READ_MS);
    assert_non_null(json_object_get(r, "result"));
    json_decref(r);
  }
  /* one TCP client starts a request and never finishes it */
  const char *part = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hea";
  h_send(tcp[0], part, strlen(part));
  uint64_t t0 = h_now_ms();
  r = h_read_json(tcp[0], READ_MS);
  assert_non_null(r);
  assert_int_equal(h_error_code(r), -32600);
  assert_non_null(strstr(h_error_message(r), "not complete"));
  json_decref(r);
  assert_true(closed_by_node(tcp[0], READ_MS));
  /* the others, and the Unix connections, idle: all closed by the node */
  for (int i = 1; i < NODE_CONNS; i++) assert_true(closed_by_node(tcp[i], READ_MS));
  for (int i = 0; i < NODE_CONNS; i++) assert_true(closed_by_node(unix_fds[i], READ_MS));
  uint64_t took = h_now_ms() - t0;
  fprintf(stderr, "idle and unfinished connections closed within %llu ms\n", (unsigned long long)took);
  assert_true(took >= 1500); /* not before their time */
  for (int i = 0; i < NODE_CONNS; i++) {
    close(tcp[i]);
    close(unix_fds[i]);
  }
  /* a watching connection is not idle: it stays */
  int watcher = h_connect(&slow);
  char wreq[300], rid[64];
  some_rid(&slow, "watched", rid, sizeof rid);
  snprintf(wreq, sizeof wreq, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"watch\",\"params\":{\"resource_id\":\"%s\"}}", rid);
  h_send(watcher, wreq, strlen(wreq));
  r = h_read_json(watcher, READ_MS);
  assert_non_null(json_object_get(r, "result"));
  json_decref(r);
  assert_false(closed_by_node(watcher, 4000));
  close(watcher);
  /* and TCP serves again */
  int again = tcp_connect(slow_tcp);
  const char *h = request(9, "health", NULL);
  h_send(again, h, strlen(h));
  r = h_read_json(again, READ_MS);
  assert_non_null(json_object_get(r, "result"));
  json_decref(r);
  close(again);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_oversized_request),
      cmocka_unit_test(test_connection_limit),
      cmocka_unit_test(test_pipelined_requests_all_answered),
      cmocka_unit_test(test_buffered_texts_answered_after_pause),
      cmocka_unit_test(test_batch_over_cap),
      cmocka_unit_test(test_watch_limits),
      cmocka_unit_test(test_resolve_limit),
      cmocka_unit_test(test_client_that_never_reads),
      cmocka_unit_test(test_slow_reader_served_to_the_end),
      cmocka_unit_test(test_tcp_flood_and_idle_connections),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
