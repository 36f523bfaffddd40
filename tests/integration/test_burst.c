/* test_burst.c - bursts of resolves of ids nobody stores: every caller answered in time, nothing left queued behind them, a live resolve right or an error (never an empty success), memory back after
 *
 * Each burst pipelines resolves of random ids over many connections to one
 * node, far more than its DHT can answer within the op timeout. What the
 * node must not do is what it once did: keep the lookups of callers it had
 * answered queued for minutes, answer a live resource's resolve with an
 * empty success meanwhile, and keep the memory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/crypto.h"
#include "tests/support/harness.h"

#define BURSTS 4
#define CONNS 50
#define PER_CONN 1000 /* 50 000 resolves per burst */
/* under ASan or valgrind a process's RSS says nothing of its own memory
 * (quarantines, shadow memory): the memory bound is checked in the plain
 * build only */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#define RECORDS 20
#define OP_TIMEOUT_MS 2000
#define MAX_KEYS 4096 /* c's --max-lookup-keys */

static h_node a, b, c;
static char rid[64];


static long long info_int(const h_node *n, const char *key) {
  json_t *info = h_ok(n, "node.info", NULL);
  long long v = json_integer_value(json_object_get(info, key));
  json_decref(info);
  return v;
}

typedef struct conn {
  int fd;
  int sent, answered;
  char out[512];
  size_t out_len, out_off;
  char in[1 << 16];
  size_t in_len;
} conn;

typedef struct tally {
  long ok, limit, timeout, other;
} tally;

static void next_request(conn *k, int id) {
  uint8_t raw[DR_ID_LEN];
  char text[DR_ID_TEXT_MAX];
  randombytes_buf(raw, sizeof raw);
  dr_id_encode(raw, text);
  k->out_len = (size_t)snprintf(k->out, sizeof k->out,
                                "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"resolve\",\"params\":"
                                "{\"resource_id\":\"%s\"}}\n", id, text);
  k->out_off = 0;
}

static void count_line(tally *t, const char *line) {
  if (strstr(line, "\"result\"")) t->ok++;
  else if (strstr(line, "-32012")) t->limit++;
  else if (strstr(line, "-32010")) t->timeout++;
  else {
    t->other++;
    print_message("unexpected answer: %.200s\n", line);
  }
}

/* A resolve of the live resource: all its records, or an error; never an
 * empty success. */
static void live_resolve_is_right(const char *when) {
  json_t *r = h_call(&c, "resolve", json_pack("{s:s}", "resource_id", rid));
  assert_non_null(r);
  json_t *res = json_object_get(r, "result");
  if (res) {
    size_t n = json_array_size(json_object_get(res, "records"));
    if (n != RECORDS || json_is_null(json_object_get(res, "resource")))
      fail_msg("%s: a live resolve answered a success with %zu of %d records", when, n, RECORDS);
  } else {
    int code = h_error_code(r);
    if (code != -32012 && code != -32010) fail_msg("%s: a live resolve failed with %d", when, code);
    print_message("%s: live resolve answered %d\n", when, code);
  }
  json_decref(r);
}

/* CONNS connections, PER_CONN resolves each, pipelined without a window:
 * returns once every request has its answer (bounded: op timeout + 30 s). */
static void burst(tally *t) {
  conn *ks = calloc(CONNS, sizeof *ks);
  struct pollfd pfd[CONNS];
  for (int i = 0; i < CONNS; i++) {
    ks[i].fd = h_connect(&c);
    assert_true(ks[i].fd >= 0);
    fcntl(ks[i].fd, F_SETFL, O_NONBLOCK);
    next_request(&ks[i], 1);
  }
  int done = 0;
  uint64_t end = h_now_ms() + OP_TIMEOUT_MS + 30000;
  bool probed = false;
  while (done < CONNS) {
    if (h_now_ms() > end) fail_msg("the burst was not answered in time (%d of %d connections done)", done, CONNS);
    /* halfway, a live resolve from a connection of its own */
    if (!probed && t->ok + t->limit + t->timeout > (long)CONNS * PER_CONN / 2) {
      probed = true;
      live_resolve_is_right("during a burst");
    }
    for (int i = 0; i < CONNS; i++) {
      pfd[i].fd = ks[i].fd;
      pfd[i].events = ks[i].answered < PER_CONN ? POLLIN : 0;
      if (ks[i].sent < PER_CONN) pfd[i].events |= POLLOUT;
      pfd[i].revents = 0;
    }
    if (poll(pfd, CONNS, 1000) < 0 && errno != EINTR) fail_msg("poll: %s", strerror(errno));
    for (int i = 0; i < CONNS; i++) {
      conn *k = &ks[i];
      while ((pfd[i].revents & POLLOUT) && k->sent < PER_CONN) {
        ssize_t w = send(k->fd, k->out + k->out_off, k->out_len - k->out_off, MSG_NOSIGNAL);
        if (w < 0) break;
        k->out_off += (size_t)w;
        if (k->out_off < k->out_len) break;
        if (++k->sent < PER_CONN) next_request(k, k->sent + 1);
      }
      if (!(pfd[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t got = recv(k->fd, k->in + k->in_len, sizeof k->in - k->in_len - 1, 0);
      if (got == 0) fail_msg("the node closed a connection after %d answers", k->answered);
      if (got < 0) continue;
      k->in_len += (size_t)got;
      k->in[k->in_len] = '\0';
      char *line = k->in, *nl;
      while ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        count_line(t, line);
        if (++k->answered == PER_CONN) done++;
        line = nl + 1;
      }
      k->in_len = strlen(line);
      memmove(k->in, line, k->in_len);
    }
  }
  for (int i = 0; i < CONNS; i++) close(ks[i].fd);
  free(ks);
}

static bool drained(void *unused) {
  (void)unused;
  return info_int(&c, "dht_pending") <= 64; /* at most what is in flight */
}

static void test_bursts_of_unresolvable_ids(void **state) {
  char boot[32];
  const char *args[] = {"--op-timeout-ms", "2000", NULL};
  h_node_start(&a, "a", args);
  h_addr(&a, boot, sizeof boot);
  const char *joined[] = {"--bootstrap", boot, "--op-timeout-ms", "2000", NULL};
  h_node_start(&b, "b", joined);
  h_node_start(&c, "c", (const char *[]){"--bootstrap", boot, "--op-timeout-ms", "2000",
                                          "--max-lookup-keys", "4096", NULL});
  json_t *r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "live"));
  snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  for (int i = 0; i < RECORDS; i++) {
    char sid[16];
    snprintf(sid, sizeof sid, "live-%02d", i);
    json_decref(h_ok(&b, "record.advertise", json_pack("{s:s, s:s, s:s, s:i}", "resource_id", rid,
                                                       "service_id", sid, "host", "10.3.0.1", "port", 80)));
  }
  h_has has = {&c, rid, "live-19"};
  assert_true(h_wait_for(h_resolves, &has, 10000));
  live_resolve_is_right("before");
  long rss0 = h_proc_kb(c.pid, "VmRSS");

  for (int k = 0; k < BURSTS; k++) {
    tally t = {0};
    uint64_t t0 = h_now_ms();
    burst(&t);
    uint64_t took = h_now_ms() - t0;
    /* the lookups of answered callers are gone at once, not drained for minutes */
    uint64_t t1 = h_now_ms();
    if (!h_wait_for(drained, NULL, OP_TIMEOUT_MS + 2000))
      fail_msg("burst %d: %lld DHT operations still pending after every caller was answered", k,
               info_int(&c, "dht_pending"));
    print_message("burst %d: %ld answered, %ld refused (-32012), %ld timed out (-32010) in %llu ms; "
                  "pending back to <= 64 in %llu ms; rss %ld kB, %lld searches\n",
                  k, t.ok, t.limit, t.timeout, (unsigned long long)took,
                  (unsigned long long)(h_now_ms() - t1), h_proc_kb(c.pid, "VmRSS"), info_int(&c, "dht_searches"));
    assert_int_equal(t.other, 0);
    assert_true(t.limit > 0); /* far beyond what the DHT answers in time: refused at once */
    live_resolve_is_right("after a burst");
  }
  /* OpenDHT keeps a search for every key looked up for an hour: the node
   * looked up at most MAX_KEYS distinct ones, so that is all it holds (for
   * IPv4 and IPv6), and its memory stays within what they take */
  long long searches = info_int(&c, "dht_searches");
  long rss1 = h_proc_kb(c.pid, "VmRSS");
  print_message("rss before %ld kB, after %d bursts %ld kB; %lld OpenDHT searches\n", rss0, BURSTS,
                rss1, searches);
  if (searches > 2 * MAX_KEYS + 100) fail_msg("%lld searches for at most %d keys", searches, MAX_KEYS);
  const char *wrapper = getenv("DR_NODE_WRAPPER");
  if (!SANITIZED && !(wrapper && *wrapper) && rss1 > rss0 + 30 * 1024)
    fail_msg("rss grew from %ld kB to %ld kB", rss0, rss1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bursts_of_unresolvable_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
