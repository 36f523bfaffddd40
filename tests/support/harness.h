/* harness.h - integration-test support: real dhtregd processes on loopback, their sockets, waits
 *
 * Every wait here is a bounded poll of a condition (a socket answering, a
 * resolve showing a record), never a fixed sleep. Nodes started by a test
 * are killed at exit, and their directories removed unless the test failed
 * (DR_KEEP_TMP=1 keeps them always).
 */
#ifndef DR_HARNESS_H
#define DR_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct h_node {
  pid_t pid;
  char name[32];
  char dir[256];
  char sock[300];
  char log[300];
  uint16_t port;
  char peer_id[64];
  char host[64]; /* its --bind address, or empty (127.0.0.1) */
} h_node;

/* The directory of this test process (created on first use). */
const char *h_tmpdir(void);

/* Starts dhtregd --port 0 --data-dir DIR/name --log-level debug plus args
 * (NULL-terminated), waits until it answers health (at most 20 s) and reads
 * its port and peer id. Aborts the test on failure. */
void h_node_start(h_node *n, const char *name, const char *const *args);

/* Same, but returns -1 instead of aborting when the process exits early; its
 * exit status goes to *status and its stderr is in n->log. */
int h_node_try_start(h_node *n, const char *name, const char *const *args, int *status);

/* Starts any program (argv[0] a path) with stdout and stderr to log; it is
 * killed at exit like the nodes. Returns its pid. */
pid_t h_spawn(char *const *argv, const char *log);

/* A UDP port that was free a moment ago on 127.0.0.1, below the ephemeral
 * range (for programs that cannot take port 0 and report the one they
 * got). */
uint16_t h_free_udp_port(void);
/* The same for TCP (an HTTP listener). */
uint16_t h_free_tcp_port(void);

/* "HOST:PORT" of a node's DHT socket (HOST: its --bind address, or
 * 127.0.0.1). */
void h_addr(const h_node *n, char *out, size_t len);

/* Moves this test process, and what it starts after, into a network
 * namespace of its own in which every address of 10.77.0.0/16 is local
 * (on lo): nodes bound to distinct addresses there (--bind) behave as
 * distinct hosts, per-address rate limits and quotas included. (Distinct
 * 127/8 addresses do not: OpenDHT takes a loopback address a peer reports
 * for the reporter's own.) Needs root and iproute2; false when it cannot
 * (the test then skips). */
bool h_netns(void);
/* The i-th address of that namespace (i from 0): 10.77.X.Y. */
void h_netns_addr(int i, char *out, size_t len);

/* Sends a signal; h_node_wait waits (at most timeout_ms) for the exit and
 * returns the wait status, or -1 on timeout. */
void h_node_signal(h_node *n, int sig);
int h_node_wait(h_node *n, int timeout_ms);

/* One JSON-RPC call over a fresh connection: returns the whole response
 * object (caller decrefs), or NULL when the node did not answer within
 * timeout (30 s). params is stolen (may be NULL). */
json_t *h_call(const h_node *n, const char *method, json_t *params);

/* h_call that asserts success and returns a new reference to the result. */
json_t *h_ok(const h_node *n, const char *method, json_t *params);

/* h_call that asserts an error and returns its code. */
int h_err(const h_node *n, const char *method, json_t *params);

/* Raw socket access, for framing tests. */
int h_connect(const h_node *n);
void h_send(int fd, const char *data, size_t len);
/* Reads one line (without the newline) within timeout_ms; NULL on EOF or
 * timeout. Caller frees. */
char *h_read_line(int fd, int timeout_ms);
/* h_read_line parsed: NULL on EOF or timeout; a line that is not JSON fails
 * the test. Caller decrefs. */
json_t *h_read_json(int fd, int timeout_ms);

/* Sends a watch of resource rid on the connection fd and returns the
 * subscription of its answer (within 10 s; fails the test otherwise): its
 * events then come on fd. */
json_int_t h_watch(int fd, const char *rid);

/* A JSON-RPC response's error code (0 when it has none) and message (""). */
int h_error_code(json_t *resp);
const char *h_error_message(json_t *resp);

/* Sends count JSON-RPC requests on one connection to n, at most window of
 * them unanswered, and fails the test on a missing answer (timeout_ms each)
 * or an error. make(buf, cap, k, ctx) writes request k and returns its
 * length. */
void h_pipeline(const h_node *n, int count, int window, int timeout_ms,
                int (*make)(char *buf, size_t cap, int k, void *ctx), void *ctx);

/* A fake node at the Unix socket path: a process that, on every
 * connection, reads one request and answers with script (lines of JSON,
 * each ending in "\n"), then waits for the client to hang up. Killed at exit
 * like the nodes. Returns its pid. */
pid_t h_fake_node(const char *path, const char *script);

/* Polls pred every 20 ms until it returns true or timeout_ms passes. */
bool h_wait_for(bool (*pred)(void *ctx), void *ctx, int timeout_ms);

/* A "Vm...:" field of /proc/PID/status in kB (VmRSS, VmHWM), or -1. */
long h_proc_kb(pid_t pid, const char *field);

/* Monotonic milliseconds. */
uint64_t h_now_ms(void);

/* A number in n's node.info by its dotted path ("peers", "dropped.expired",
 * "clock.correction_s"); 0 when it has none. */
long long h_info_int(const h_node *n, const char *path);

/* Whether n's health says ready; h_ready_pred is the same as an
 * h_wait_for predicate (ctx: the h_node). */
bool h_ready(const h_node *n);
bool h_ready_pred(void *n);

/* Whether n's log has a line holding needle. */
bool h_log_has(const h_node *n, const char *needle);

/* Number of records resolve returns for rid on n (-1 on an error). */
int h_resolve_count(const h_node *n, const char *rid);

/* Whether resolve on n returns a record with that service id. */
bool h_resolve_has(const h_node *n, const char *rid, const char *service_id);

/* The same as an h_wait_for predicate: ctx is an h_has. */
typedef struct h_has {
  const h_node *n;
  const char *rid, *sid;
} h_has;
bool h_resolves(void *has);

#endif
