/* test_stress.c - a seeded random driver of the JSON-RPC socket: connections pipelining every method into known and unknown resources while they close, the peer stops and the node is told to stop; no crash, no sanitizer report, nothing acknowledged lost
 *
 * Node b is driven; node a is its only peer and owns two of the resources
 * (one open, one owner-only that b may not advertise into). Every round,
 * each of CONNS connections keeps up to WINDOW calls in flight, drawn at
 * random: advertise (plain, lease, with a health check), renew, withdraw,
 * resolve (with the cursor of an earlier answer), discover, watch, unwatch,
 * pin, unpin, create, get, list, node.info, batches, malformed requests.
 * Connections are closed with calls pending, or half-closed, and reopened.
 * Mid-run the peer is stopped (SIGSTOP): calls then wait for the DHT until
 * their deadline. Then b receives SIGTERM with calls in flight, must exit 0
 * within the stop's bound, and after a restart must hold every
 * advertisement whose last call was acknowledged, and none whose last
 * acknowledged call withdrew it. A second round does the same with the
 * peer alive. The harness fails the test on any sanitizer or valgrind
 * report in a node's log.
 *
 * The seed is printed; DR_STRESS_SEED=N replays a run, DR_STRESS_MS=N makes
 * each phase last N ms (default 2500).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
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
#include <sodium.h>

#include "crypto/crypto.h"
#include "tests/support/harness.h"

#define CONNS 6
#define WINDOW 32
#define SIDS 48          /* service ids per connection slot */
#define RIDS 6           /* b's own, a's open, a's owner-only, three nobody created */
#define MAX_PENDING (WINDOW + 8)
#define STOP_BOUND_MS 6000 /* the node's own bound is 2 s; the sanitizers slow it */

typedef enum { ABSENT, PLAIN, LEASE, UNKNOWN } key_state;

/* One (resource, service id) b may advertise: at most one call of it in
 * flight, so its answers say its state. */
typedef struct key {
  key_state state;
  bool busy;
} key;

typedef enum { OP_OTHER, OP_ADVERTISE, OP_WITHDRAW, OP_RENEW } op_kind;

typedef struct pend {
  long id;
  op_kind op;
  key *k;
  bool lease;
  char method[20];
} pend;

typedef struct conn {
  int fd;
  bool half_closed; /* shut for writing: read to EOF, then reopened */
  char *out;
  size_t out_len, out_off, out_cap;
  char *in; /* what was read and not taken yet */
  size_t in_len, in_cap;
  pend pending[MAX_PENDING];
  int n_pending;
  long subs[8];
  int n_subs;
  uint64_t close_at; /* h_now_ms() when it is closed or half-closed next */
} conn;

static h_node a, b;
static char rids[RIDS][64];
static key keys[RIDS][CONNS][SIDS];
static conn conns[CONNS];
static char cursor[256];
static long next_id = 1;
static uint64_t rng;
static struct {
  long sent, answered, ok, errors, closes, half_closes;
} tally;

static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static bool chance(unsigned percent) {
  return rnd(100) < percent;
}

/* ---- connections -------------------------------------------------------------- */

static void conn_open(conn *c) {
  c->fd = h_connect(&b);
  if (c->fd < 0) fail_msg("cannot connect to b");
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->half_closed = false;
  c->out_len = c->out_off = c->in_len = 0;
  c->n_pending = 0;
  c->n_subs = 0;
  c->close_at = h_now_ms() + 800 + rnd(3000);
}

/* Calls still pending when their connection goes: whether they took
 * effect is unknown (the node may still run them). */
static void conn_forget(conn *c) {
  for (int i = 0; i < c->n_pending; i++)
    if (c->pending[i].k) {
      c->pending[i].k->busy = false;
      c->pending[i].k->state = UNKNOWN;
    }
  c->n_pending = 0;
}

static void conn_drop(conn *c) {
  conn_forget(c);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

static void queue_text(conn *c, const char *text, size_t len) {
  if (c->out_len + len + 1 > c->out_cap) {
    c->out_cap = (c->out_len + len + 1) * 2;
    c->out = realloc(c->out, c->out_cap);
    assert_non_null(c->out);
  }
  memcpy(c->out + c->out_len, text, len);
  c->out_len += len;
  /* sometimes back to back with no newline, as the framing allows */
  if (!chance(10)) c->out[c->out_len++] = '\n';
}

static void queue_call(conn *c, json_t *req, op_kind op, key *k, bool lease) {
  long id = next_id++;
  pend *p = &c->pending[c->n_pending++];
  *p = (pend){id, op, k, lease, ""};
  snprintf(p->method, sizeof p->method, "%s", json_string_value(json_object_get(req, "method")));
  json_object_set_new(req, "jsonrpc", json_string("2.0"));
  json_object_set_new(req, "id", json_integer(id));
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  assert_non_null(text);
  queue_text(c, text, strlen(text));
  free(text);
  if (k) k->busy = true;
  tally.sent++;
}

static json_t *call(const char *method, json_t *params) {
  return json_pack("{s:s, s:o}", "method", method, "params", params ? params : json_object());
}

/* ---- the calls ---------------------------------------------------------------- */

static key *pick_key(int slot, int *ri, int *si) {
  for (int tries = 0; tries < 8; tries++) {
    *ri = (int)rnd(RIDS);
    *si = (int)rnd(SIDS);
    if (!keys[*ri][slot][*si].busy) return &keys[*ri][slot][*si];
  }
  return NULL;
}

static void sid_of(int slot, int si, char *out, size_t len) {
  snprintf(out, len, "s%d-%d", slot, si);
}

static void next_call(conn *c, int slot) {
  char sid[32];
  int ri, si;
  key *k;
  uint32_t pick = rnd(100);
  if (pick < 36 && (k = pick_key(slot, &ri, &si))) {
    sid_of(slot, si, sid, sizeof sid);
    bool lease = chance(20);
    json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:i}", "resource_id", rids[ri], "service_id", sid,
                          "host", "127.0.0.1", "port", 1000 + (int)rnd(60000), "ttl",
                          lease ? 2 + (int)rnd(3) : 30 + (int)rnd(300));
    if (lease) json_object_set_new(p, "lease", json_true());
    if (chance(15)) json_object_set_new(p, "tags", json_pack("[s,s]", "v1", chance(50) ? "eu" : "us"));
    if (chance(5))
      json_object_set_new(p, "check", json_pack("{s:s, s:i, s:i}", "tcp", "127.0.0.1:1", "interval", 1,
                                                "timeout", 1));
    queue_call(c, call("record.advertise", p), OP_ADVERTISE, k, lease);
  } else if (pick < 48 && (k = pick_key(slot, &ri, &si))) {
    sid_of(slot, si, sid, sizeof sid);
    queue_call(c, call("record.withdraw", json_pack("{s:s, s:s}", "resource_id", rids[ri], "service_id", sid)),
               OP_WITHDRAW, k, false);
  } else if (pick < 58 && (k = pick_key(slot, &ri, &si))) {
    sid_of(slot, si, sid, sizeof sid);
    queue_call(c, call("record.renew", json_pack("{s:s, s:s}", "resource_id", rids[ri], "service_id", sid)),
               OP_RENEW, k, false);
  } else if (pick < 72) {
    json_t *p = json_pack("{s:s, s:i}", "resource_id", rids[rnd(RIDS)], "limit", 1 + (int)rnd(20));
    if (cursor[0] && chance(30)) {
      json_object_set_new(p, "cursor", json_string(cursor));
      json_object_set_new(p, "resource_id", json_string(rids[0]));
    }
    if (chance(20)) json_object_set_new(p, "include", json_string("all"));
    queue_call(c, call("resolve", p), OP_OTHER, NULL, false);
  } else if (pick < 76) {
    queue_call(c, call("discover", json_pack("{s:s}", "resource_id", rids[rnd(RIDS)])), OP_OTHER, NULL, false);
  } else if (pick < 80) {
    queue_call(c, call("watch", json_pack("{s:s}", "resource_id", rids[rnd(RIDS)])), OP_OTHER, NULL, false);
  } else if (pick < 82 && c->n_subs) {
    int i = (int)rnd((uint32_t)c->n_subs);
    queue_call(c, call("unwatch", json_pack("{s:I}", "subscription", (json_int_t)c->subs[i])), OP_OTHER, NULL, false);
    c->subs[i] = c->subs[--c->n_subs];
  } else if (pick < 85) {
    queue_call(c, call(chance(50) ? "resource.pin" : "resource.unpin",
                       json_pack("{s:s}", "resource_id", rids[rnd(RIDS)])), OP_OTHER, NULL, false);
  } else if (pick < 87) {
    json_t *p = json_pack("{s:s}", "label", chance(50) ? "own" : "other");
    if (chance(30)) json_object_set_new(p, "shards", json_integer(1 << rnd(4)));
    queue_call(c, call("resource.create", p), OP_OTHER, NULL, false);
  } else if (pick < 89) {
    queue_call(c, call("resource.get", json_pack("{s:s}", "resource_id", rids[rnd(RIDS)])), OP_OTHER, NULL, false);
  } else if (pick < 91) {
    queue_call(c, call(chance(50) ? "list" : "node.info", NULL), OP_OTHER, NULL, false);
  } else if (pick < 94) {
    /* a batch of three reads: one answer, an array */
    long id = next_id++;
    char text[600];
    int len = snprintf(text, sizeof text,
                       "[{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"health\"},"
                       "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"resolve\",\"params\":{\"resource_id\":\"%s\"}},"
                       "{\"jsonrpc\":\"2.0\",\"method\":\"node.info\"}]",
                       id, -id, rids[rnd(RIDS)]);
    queue_text(c, text, (size_t)len);
    c->pending[c->n_pending++] = (pend){id, OP_OTHER, NULL, false, "batch"};
    tally.sent++;
  } else {
    /* bad input: answered with an error, nothing else */
    static const char *const bad[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"record.advertise\",\"params\":{\"resource_id\":\"x\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"nope\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"resolve\",\"params\":{\"resource_id\":\"%s\",\"cursor\":\"AAAA\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"record.advertise\",\"params\":[1,2]}",
        "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"unwatch\",\"params\":{\"subscription\":123456789}}",
    };
    long id = next_id++;
    char text[400];
    int len = snprintf(text, sizeof text, bad[rnd(5)], id, rids[rnd(RIDS)]);
    queue_text(c, text, (size_t)len);
    c->pending[c->n_pending++] = (pend){id, OP_OTHER, NULL, false, "bad"};
    tally.sent++;
  }
}

/* ---- answers ------------------------------------------------------------------ */

/* What an answer says of its key's state (one call of a key at a time). */
static void settle(const pend *p, json_t *resp) {
  int code = h_error_code(resp);
  key *k = p->k;
  if (!k) return;
  k->busy = false;
  if (k->state == UNKNOWN) return;
  if (code == 0) {
    if (p->op == OP_ADVERTISE) k->state = p->lease ? LEASE : PLAIN;
    else if (p->op == OP_WITHDRAW) k->state = ABSENT;
    else if (p->op == OP_RENEW && k->state == ABSENT)
      fail_msg("a renew of a record never advertised (or withdrawn) succeeded");
  } else if (code == -32004) {
    /* not found: only a lease may have ended by itself */
    if (k->state == PLAIN) fail_msg("a plain advertisement was not found: %s", h_error_message(resp));
    k->state = ABSENT;
  }
  /* any other error has no effect anywhere */
}

static void take_answer(conn *c, int slot, json_t *resp) {
  (void)slot;
  if (json_is_array(resp)) resp = json_array_get(resp, 0); /* a batch's: its first member's id */
  json_t *method = json_object_get(resp, "method");
  if (method) { /* a watch event */
    if (strcmp(json_string_value(method), "event") != 0) fail_msg("unexpected notification");
    return;
  }
  json_t *idj = json_object_get(resp, "id");
  if (!json_is_integer(idj)) return; /* a parse error's answer has id null */
  long id = (long)json_integer_value(idj);
  for (int i = 0; i < c->n_pending; i++) {
    if (c->pending[i].id != id) continue;
    pend p = c->pending[i];
    c->pending[i] = c->pending[--c->n_pending];
    tally.answered++;
    if (h_error_code(resp)) tally.errors++;
    else tally.ok++;
    if (h_error_code(resp) == -32603 && !strstr(h_error_message(resp), "shutting down"))
      fail_msg("an internal error answered %s: %s", p.method, h_error_message(resp));
    settle(&p, resp);
    json_t *res = json_object_get(resp, "result");
    json_t *sub = json_object_get(res, "subscription");
    if (json_is_integer(sub) && c->n_subs < 8) c->subs[c->n_subs++] = (long)json_integer_value(sub);
    const char *cur = json_string_value(json_object_get(res, "next_cursor"));
    if (cur && strlen(cur) < sizeof cursor && chance(50)) snprintf(cursor, sizeof cursor, "%s", cur);
    return;
  }
}

/* Reads what c has; false when the node closed it. */
static bool conn_read(conn *c, int slot) {
  for (;;) {
    if (c->in_cap - c->in_len < 65536) {
      c->in_cap = c->in_cap ? c->in_cap * 2 : 1 << 17;
      if (c->in_cap > (64u << 20)) fail_msg("an answer longer than 64 MiB");
      c->in = realloc(c->in, c->in_cap);
      assert_non_null(c->in);
    }
    ssize_t got = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    if (got == 0) return false;
    c->in_len += (size_t)got;
    c->in[c->in_len] = '\0';
    char *line = c->in, *nl;
    while ((nl = strchr(line, '\n'))) {
      *nl = '\0';
      json_t *resp = json_loads(line, 0, NULL);
      if (!resp) fail_msg("an answer that is not JSON: %.200s", line);
      take_answer(c, slot, resp);
      json_decref(resp);
      line = nl + 1;
    }
    c->in_len -= (size_t)(line - c->in);
    memmove(c->in, line, c->in_len);
  }
}

static void conn_write(conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return; /* the node closed it: its read says so */
    }
    c->out_off += (size_t)w;
  }
  c->out_off = c->out_len = 0;
}

/* ---- a phase ------------------------------------------------------------------ */

/* Drives every connection for ms; with node_may_go, b may exit meanwhile
 * (then every connection ends). */
static void drive(int ms, bool node_may_go) {
  uint64_t end = h_now_ms() + (uint64_t)ms;
  while (h_now_ms() < end) {
    struct pollfd pf[CONNS];
    for (int i = 0; i < CONNS; i++) {
      conn *c = &conns[i];
      if (c->fd < 0) {
        if (node_may_go) {
          pf[i] = (struct pollfd){-1, 0, 0};
          continue;
        }
        conn_open(c);
      }
      if (!c->half_closed) {
        while (c->n_pending < WINDOW) next_call(c, i);
        if (h_now_ms() < c->close_at) {
        } else if (chance(60)) { /* gone with its calls pending */
          tally.closes++;
          conn_drop(c);
          conn_open(c);
        } else { /* no more requests: the node answers what it read, then closes */
          conn_write(c);
          if (c->out_len == 0) {
            shutdown(c->fd, SHUT_WR);
            c->half_closed = true;
            tally.half_closes++;
          }
        }
      }
      pf[i] = (struct pollfd){c->fd, (short)(POLLIN | (c->out_len ? POLLOUT : 0)), 0};
    }
    if (poll(pf, CONNS, 50) < 0 && errno != EINTR) fail_msg("poll: %s", strerror(errno));
    for (int i = 0; i < CONNS; i++) {
      conn *c = &conns[i];
      if (c->fd < 0) continue;
      if (pf[i].revents & POLLOUT) conn_write(c);
      if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) && !conn_read(c, i)) {
        if (!c->half_closed && !node_may_go) fail_msg("b closed a connection it had no reason to close");
        if (c->half_closed && c->n_pending && !node_may_go)
          fail_msg("b closed a half-closed connection with %d calls unanswered", c->n_pending);
        conn_drop(c);
      }
    }
  }
}

static void drop_all(void) {
  for (int i = 0; i < CONNS; i++) conn_drop(&conns[i]);
}

/* b's own live advertisements must be what the acknowledged calls left. */
static void check_restored(void) {
  json_t *list = h_ok(&b, "list", NULL);
  json_t *recs = json_object_get(list, "records");
  int checked = 0, plain = 0;
  for (int ri = 0; ri < RIDS; ri++)
    for (int slot = 0; slot < CONNS; slot++)
      for (int si = 0; si < SIDS; si++) {
        key *k = &keys[ri][slot][si];
        if (k->state == UNKNOWN) continue;
        char sid[32];
        sid_of(slot, si, sid, sizeof sid);
        bool found = false, lease = false;
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r) {
          if (strcmp(json_string_value(json_object_get(r, "resource_id")), rids[ri]) == 0 &&
              strcmp(json_string_value(json_object_get(r, "service_id")), sid) == 0) {
            found = true;
            lease = json_is_true(json_object_get(r, "lease"));
          }
        }
        /* a lease ends with its node; a plain advertisement outlives a restart */
        if (k->state == PLAIN && !found)
          fail_msg("acknowledged advertisement %s of %s lost across a stop", sid, rids[ri]);
        if (k->state == PLAIN && lease) fail_msg("%s came back as a lease", sid);
        if ((k->state == ABSENT || k->state == LEASE) && found)
          fail_msg("%s of %s is back though its last acknowledged call %s", sid, rids[ri],
                   k->state == ABSENT ? "withdrew it" : "made it a lease");
        if (k->state == LEASE) k->state = ABSENT;
        plain += k->state == PLAIN;
        checked++;
      }
  json_decref(list);
  print_message("restored state checked for %d of %d keys (%d advertised)\n", checked, RIDS * CONNS * SIDS, plain);
  if (checked < RIDS * CONNS * SIDS / 4 || plain < 20) fail_msg("too few keys with a known state to check anything");
}

static void stop_b_busy(int ms) {
  /* the signal lands while calls are in flight */
  drive(ms / 4, false);
  h_node_signal(&b, SIGTERM);
  uint64_t t0 = h_now_ms();
  drive(300, true);
  int st = h_node_wait(&b, STOP_BOUND_MS);
  if (st == -1) fail_msg("b did not exit within %d ms of SIGTERM", STOP_BOUND_MS);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail_msg("b exited badly after SIGTERM (status %d, signal %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
             WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  print_message("b stopped in %llu ms\n", (unsigned long long)(h_now_ms() - t0));
  drop_all();
}

static void start_b(void) {
  char boot[80];
  h_addr(&a, boot, sizeof boot);
  const char *args[] = {"--bootstrap", boot, "--op-timeout-ms", "1500", "--min-ttl", "2", "--tick-ms", "200",
                        "--replicate-ms", "2000", "--peer-rate", "0", NULL};
  h_node_start(&b, "b", args);
}

static void test_stress(void **state) {
  (void)state;
  const char *seed_env = getenv("DR_STRESS_SEED"), *ms_env = getenv("DR_STRESS_MS");
  uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
  int ms = ms_env ? atoi(ms_env) : 2500;
  print_message("seed %" PRIu64 " (DR_STRESS_SEED=%" PRIu64 " replays it), phases of %d ms\n", seed, seed, ms);
  rng = seed ? seed : 1;
  for (int i = 0; i < CONNS; i++) conns[i].fd = -1;

  const char *aargs[] = {"--peer-rate", "0", NULL};
  h_node_start(&a, "a", aargs);
  start_b();
  json_t *r = h_ok(&b, "resource.create", json_pack("{s:s}", "label", "own"));
  snprintf(rids[0], sizeof rids[0], "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  r = h_ok(&a, "resource.create", json_pack("{s:s}", "label", "open"));
  snprintf(rids[1], sizeof rids[1], "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  r = h_ok(&a, "resource.create", json_pack("{s:s, s:s}", "label", "locked", "policy", "owner"));
  snprintf(rids[2], sizeof rids[2], "%s", json_string_value(json_object_get(r, "resource_id")));
  json_decref(r);
  for (int i = 3; i < RIDS; i++) {
    uint8_t raw[DR_ID_LEN];
    randombytes_buf(raw, sizeof raw);
    dr_id_encode(raw, rids[i]);
  }

  /* round 1: the peer answers, then stops answering; b stops meanwhile */
  drive(ms, false);
  h_node_signal(&a, SIGSTOP);
  drive(ms, false);
  stop_b_busy(ms);
  h_node_signal(&a, SIGCONT);
  start_b();
  check_restored();

  /* round 2: the peer alive throughout */
  drive(ms, false);
  stop_b_busy(ms);
  start_b();
  check_restored();
  drop_all();
  print_message("%ld calls sent, %ld answered (%ld ok, %ld errors), %ld connections dropped, %ld half-closed\n",
                tally.sent, tally.answered, tally.ok, tally.errors, tally.closes, tally.half_closes);
  if (tally.ok < 500) fail_msg("too few calls succeeded (%ld) for the run to mean anything", tally.ok);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_stress)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
