/* harness.c - integration-test support: real dhtregd processes on loopback, their sockets, waits */
#include "tests/support/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_NODES 256
#define START_TIMEOUT_MS 20000
#define CALL_TIMEOUT_MS 30000

static char tmpdir[128];
static pid_t started[MAX_NODES];
static size_t n_started;
static bool cleanup_registered;

static uint64_t h_now_ms_(void);
static void nap_ms(int ms);

/* Whether a log holds a sanitizer report (the node stopped dirty). */
static bool log_is_dirty(const char *path) {
  static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                      "runtime error:", NULL};
  char line[1024];
  bool dirty = false;
  FILE *f = fopen(path, "r");
  if (!f) return false;
  while (!dirty && fgets(line, sizeof line, f)) {
    for (const char *const *m = marks; *m; m++)
      if (strstr(line, *m)) dirty = true;
    /* valgrind (DR_NODE_WRAPPER), with definite leaks counted as errors */
    const char *vg = strstr(line, "ERROR SUMMARY: ");
    if (vg && strncmp(vg, "ERROR SUMMARY: 0 errors", 23) != 0) dirty = true;
  }
  fclose(f);
  return dirty;
}

/* At exit: every process still running is asked to stop (SIGTERM), then
 * killed if it does not within 10 s; a sanitizer or valgrind report in any
 * log in the test's directory fails the test. */
static void cleanup(void) {
  for (size_t i = 0; i < n_started; i++)
    if (started[i] > 0) kill(started[i], SIGTERM);
  uint64_t end = h_now_ms_() + 10000;
  for (size_t i = 0; i < n_started; i++) {
    while (started[i] > 0 && waitpid(started[i], NULL, WNOHANG) == 0) {
      if (h_now_ms_() >= end) {
        kill(started[i], SIGKILL);
        waitpid(started[i], NULL, 0);
        break;
      }
      nap_ms(10);
    }
    started[i] = 0;
  }
  bool dirty = false;
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "grep -l -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' "
           "-e 'runtime error:' -e 'ERROR SUMMARY: [1-9]' '%s'/*.log 2>/dev/null", tmpdir);
  FILE *p = tmpdir[0] ? popen(cmd, "r") : NULL;
  char path[512];
  while (p && fgets(path, sizeof path, p)) {
    path[strcspn(path, "\n")] = '\0';
    if (!log_is_dirty(path)) continue;
    dirty = true;
    fprintf(stderr, "harness: sanitizer report in %s:\n", path);
    /* the report, not the start of a long debug log */
    snprintf(cmd, sizeof cmd, "grep -n -m1 -A60 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' "
             "-e 'runtime error:' -e 'ERROR SUMMARY: [1-9]' -e 'Invalid \\(read\\|write\\|free\\)' "
             "-e 'uninitialised' -e 'definitely lost in' '%s' >&2", path);
    if (system(cmd) != 0) fprintf(stderr, "(cannot show it)\n");
  }
  if (p) pclose(p);
  const char *keep = getenv("DR_KEEP_TMP");
  if (tmpdir[0] && !dirty && !(keep && *keep == '1')) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "harness: could not remove %s\n", tmpdir);
  }
  if (dirty) _exit(1);
}

static uint64_t h_now_ms_(void) {
  return h_now_ms();
}

long h_proc_kb(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  size_t fl = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, fl) == 0 && line[fl] == ':') v = atol(line + fl + 1);
  if (f) fclose(f);
  return v;
}

uint64_t h_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

const char *h_tmpdir(void) {
  if (!tmpdir[0]) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dhtreg-it-XXXXXX");
    if (!mkdtemp(tmpdir)) {
      fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
      abort();
    }
  }
  if (!cleanup_registered) {
    cleanup_registered = true;
    atexit(cleanup);
  }
  return tmpdir;
}

json_t *h_read_json(int fd, int timeout_ms) {
  char *line = h_read_line(fd, timeout_ms);
  if (!line) return NULL;
  json_t *j = json_loads(line, 0, NULL);
  if (!j) fail_msg("not one line of JSON: %.200s", line);
  free(line);
  return j;
}

json_int_t h_watch(int fd, const char *rid) {
  char req[256];
  int len = snprintf(req, sizeof req,
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"watch\",\"params\":{\"resource_id\":\"%s\"}}\n",
                     rid);
  h_send(fd, req, (size_t)len);
  json_t *resp = h_read_json(fd, 10000);
  if (!resp) fail_msg("no answer to a watch of %s", rid);
  json_int_t sub = json_integer_value(json_object_get(json_object_get(resp, "result"), "subscription"));
  if (sub <= 0) fail_msg("a watch of %s was refused", rid);
  json_decref(resp);
  return sub;
}

int h_error_code(json_t *resp) {
  return (int)json_integer_value(json_object_get(json_object_get(resp, "error"), "code"));
}

const char *h_error_message(json_t *resp) {
  const char *m = json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
  return m ? m : "";
}

void h_pipeline(const h_node *n, int count, int window, int timeout_ms,
                int (*make)(char *buf, size_t cap, int k, void *ctx), void *ctx) {
  int fd = h_connect(n);
  if (fd < 0) fail_msg("%s: cannot connect to its socket", n->name);
  int sent = 0, answered = 0;
  while (answered < count) {
    while (sent < count && sent - answered < window) {
      char req[1024];
      int len = make(req, sizeof req, sent, ctx);
      if (len <= 0 || (size_t)len >= sizeof req) fail_msg("request %d does not fit", sent);
      h_send(fd, req, (size_t)len);
      sent++;
    }
    char *line = h_read_line(fd, timeout_ms);
    if (!line) fail_msg("%s: no answer after %d of %d requests", n->name, answered, count);
    if (!strstr(line, "\"result\"")) fail_msg("%s: request failed: %s", n->name, line);
    free(line);
    answered++;
  }
  close(fd);
}

bool h_wait_for(bool (*pred)(void *ctx), void *ctx, int timeout_ms) {
  uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (pred(ctx)) return true;
    if (h_now_ms() >= end) return false;
    nap_ms(20);
  }
}

/* ---- raw sockets ----------------------------------------------------------- */

int h_connect(const h_node *n) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(n->sock) >= sizeof sa.sun_path) return -1;
  memcpy(sa.sun_path, n->sock, strlen(n->sock) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void h_send(int fd, const char *data, size_t len) {
  while (len) {
    ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += w;
    len -= (size_t)w;
  }
}

char *h_read_line(int fd, int timeout_ms) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
  if (!buf) return NULL;
  for (;;) {
    uint64_t now = h_now_ms();
    if (now >= end) break;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(end - now));
    if (r <= 0) break;
    if (len + 2 > cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) break;
      buf = nb;
    }
    /* look first, then take up to the newline: a line must not swallow
     * the start of the next one */
    ssize_t got = recv(fd, buf + len, cap - 1 - len, MSG_PEEK);
    if (got <= 0) break;
    char *nl = memchr(buf + len, '\n', (size_t)got);
    size_t take = nl ? (size_t)(nl - (buf + len)) + 1 : (size_t)got;
    if (recv(fd, buf + len, take, 0) != (ssize_t)take) break;
    len += take;
    if (nl) {
      buf[len - 1] = '\0';
      return buf;
    }
  }
  free(buf);
  return NULL;
}

/* ---- calls ------------------------------------------------------------------- */

json_t *h_call(const h_node *n, const char *method, json_t *params) {
  json_t *req = json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", 7, "method", method);
  if (params) json_object_set_new(req, "params", params);
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  int fd = h_connect(n);
  if (fd < 0) {
    free(text);
    return NULL;
  }
  h_send(fd, text, strlen(text));
  h_send(fd, "\n", 1);
  free(text);
  char *line = h_read_line(fd, CALL_TIMEOUT_MS);
  close(fd);
  if (!line) return NULL;
  json_t *resp = json_loads(line, 0, NULL);
  if (!resp) fprintf(stderr, "harness: unparsable response: %s\n", line);
  free(line);
  return resp;
}

json_t *h_ok(const h_node *n, const char *method, json_t *params) {
  json_t *resp = h_call(n, method, params);
  if (!resp) fail_msg("%s: no answer from node %s", method, n->name);
  json_t *res = json_object_get(resp, "result");
  if (!res) {
    char *t = json_dumps(resp, JSON_COMPACT);
    fail_msg("%s on %s failed: %s", method, n->name, t);
  }
  json_incref(res);
  json_decref(resp);
  return res;
}

int h_err(const h_node *n, const char *method, json_t *params) {
  json_t *resp = h_call(n, method, params);
  if (!resp) fail_msg("%s: no answer from node %s", method, n->name);
  json_t *code = json_object_get(json_object_get(resp, "error"), "code");
  if (!json_is_integer(code)) {
    char *t = json_dumps(resp, JSON_COMPACT);
    fail_msg("%s on %s: expected an error, got %s", method, n->name, t);
  }
  int c = (int)json_integer_value(code);
  json_decref(resp);
  return c;
}

int h_resolve_count(const h_node *n, const char *rid) {
  json_t *resp = h_call(n, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 1000));
  json_t *recs = json_object_get(json_object_get(resp, "result"), "records");
  int count = json_is_array(recs) ? (int)json_array_size(recs) : -1;
  json_decref(resp);
  return count;
}

bool h_resolve_has(const h_node *n, const char *rid, const char *service_id) {
  json_t *resp = h_call(n, "resolve", json_pack("{s:s, s:i}", "resource_id", rid, "limit", 1000));
  json_t *recs = json_object_get(json_object_get(resp, "result"), "records"), *r;
  size_t i;
  bool found = false;
  json_array_foreach(recs, i, r) {
    const char *sid = json_string_value(json_object_get(r, "service_id"));
    if (sid && strcmp(sid, service_id) == 0) found = true;
  }
  json_decref(resp);
  return found;
}

/* ---- processes ------------------------------------------------------------------ */

void h_addr(const h_node *n, char *out, size_t len) {
  snprintf(out, len, "%s:%u", n->host[0] ? n->host : "127.0.0.1", n->port);
}

bool h_netns(void) {
  static int entered = -1;
  if (entered >= 0) return entered;
  entered = 0;
  if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) return false;
  if (system("ip link set lo up && ip route add local 10.77.0.0/16 dev lo") != 0) {
    fprintf(stderr, "harness: cannot set up the network namespace's addresses\n");
    return false;
  }
  entered = 1;
  return true;
}

void h_netns_addr(int i, char *out, size_t len) {
  snprintf(out, len, "10.77.%d.%d", (i + 1) / 254, (i + 1) % 254 + 1);
}

static bool node_answers(void *ctx) {
  h_node *n = ctx;
  int status;
  if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
    n->pid = -status - 1; /* exited: remember how */
    return true;
  }
  json_t *resp = h_call(n, "node.info", NULL);
  json_t *res = json_object_get(resp, "result");
  if (!res) {
    json_decref(resp);
    return false;
  }
  n->port = (uint16_t)json_integer_value(json_object_get(res, "port"));
  snprintf(n->peer_id, sizeof n->peer_id, "%s",
           json_string_value(json_object_get(res, "peer_id")));
  json_decref(resp);
  return true;
}

pid_t h_spawn(char *const *argv, const char *log) {
  h_tmpdir();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    /* killed with the test process even when it dies without running its
     * exit handlers (an abort, a sanitizer report, a signal) */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int in = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
      close(fd);
    }
    if (in >= 0) {
      dup2(in, 0);
      close(in);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  if (n_started < MAX_NODES) started[n_started++] = pid;
  return pid;
}

pid_t h_fake_node(const char *path, const char *script) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) fail_msg("socket path too long: %s", path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  unlink(path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 8) < 0)
    fail_msg("cannot listen on %s: %s", path, strerror(errno));
  h_tmpdir();
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) fail_msg("fork: %s", strerror(errno));
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent) _exit(127);
    for (;;) {
      int c = accept(fd, NULL, NULL);
      if (c < 0) _exit(0);
      char buf[4096];
      if (read(c, buf, sizeof buf) > 0 && write(c, script, strlen(script)) < 0) _exit(1);
      while (read(c, buf, sizeof buf) > 0) {}
      close(c);
    }
  }
  close(fd);
  if (n_started < MAX_NODES) started[n_started++] = pid;
  return pid;
}

/* A port free for UDP and TCP alike on 127.0.0.1, drawn below the
 * ephemeral range (32768-60999), where outgoing connections and the
 * --port 0 sockets of other nodes could take it before its user binds it. */
static uint16_t free_port(void) {
  static unsigned seed;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (!seed) seed = (unsigned)getpid() ^ (unsigned)h_now_ms();
  for (int tries = 0; tries < 1000; tries++) {
    sa.sin_port = htons((uint16_t)(20000 + (unsigned)rand_r(&seed) % 12000));
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&sa, sizeof sa) == 0 &&
              bind(t, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (u >= 0) close(u);
    if (t >= 0) close(t);
    if (ok) return ntohs(sa.sin_port);
  }
  fail_msg("no free port on 127.0.0.1");
  return 0;
}

uint16_t h_free_udp_port(void) {
  return free_port();
}

uint16_t h_free_tcp_port(void) {
  return free_port();
}

int h_node_try_start(h_node *n, const char *name, const char *const *args, int *status) {
  const char *dir = h_tmpdir();
  char *argv[64];
  size_t argc = 0;
  memset(n, 0, sizeof *n);
  snprintf(n->name, sizeof n->name, "%s", name);
  snprintf(n->dir, sizeof n->dir, "%s/%s", dir, name);
  snprintf(n->sock, sizeof n->sock, "%s/%s.sock", dir, name);
  snprintf(n->log, sizeof n->log, "%s/%s.log", dir, name);
  static char bin[] = DR_BIN_DIR "/dhtregd";
  /* DR_NODE_WRAPPER="valgrind --error-exitcode=99 ..." runs every node
   * under that command (words split at spaces) */
  static char wrap[512];
  const char *w = getenv("DR_NODE_WRAPPER");
  if (w && *w && strlen(w) < sizeof wrap) {
    strcpy(wrap, w);
    for (char *tok = strtok(wrap, " "); tok && argc < 16; tok = strtok(NULL, " ")) argv[argc++] = tok;
  }
  argv[argc++] = bin;
  argv[argc++] = "--port";
  argv[argc++] = "0";
  argv[argc++] = "--data-dir";
  argv[argc++] = n->dir;
  argv[argc++] = "--rpc-socket";
  argv[argc++] = n->sock;
  argv[argc++] = "--log-level";
  argv[argc++] = "debug";
  for (size_t i = 0; args && args[i] && argc < 63; i++) {
    argv[argc++] = (char *)args[i];
    if (strcmp(args[i], "--bind") == 0 && args[i + 1]) snprintf(n->host, sizeof n->host, "%s", args[i + 1]);
  }
  argv[argc] = NULL;
  unlink(n->sock);
  pid_t pid = h_spawn(argv, n->log);
  if (pid < 0) return -1;
  n->pid = pid;
  if (!h_wait_for(node_answers, n, START_TIMEOUT_MS)) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    n->pid = 0;
    if (status) *status = -1;
    return -1;
  }
  if (n->pid < 0) { /* it exited */
    if (status) *status = -(n->pid + 1);
    n->pid = 0;
    return -1;
  }
  return 0;
}

void h_node_start(h_node *n, const char *name, const char *const *args) {
  int status = 0;
  if (h_node_try_start(n, name, args, &status) < 0) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tail -20 '%s' >&2", n->log);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
    fail_msg("node %s did not start (status %d)", name, status);
  }
}

void h_node_signal(h_node *n, int sig) {
  if (n->pid > 0) kill(n->pid, sig);
}

int h_node_wait(h_node *n, int timeout_ms) {
  uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
  int status;
  while (n->pid > 0) {
    pid_t r = waitpid(n->pid, &status, WNOHANG);
    if (r == n->pid) {
      for (size_t i = 0; i < n_started; i++)
        if (started[i] == n->pid) started[i] = 0;
      n->pid = 0;
      return status;
    }
    if (h_now_ms() >= end) return -1;
    nap_ms(10);
  }
  return -1;
}

bool h_resolves(void *has) {
  const h_has *x = has;
  return h_resolve_has(x->n, x->rid, x->sid);
}

long long h_info_int(const h_node *n, const char *path) {
  json_t *info = h_ok(n, "node.info", NULL), *v = info;
  char part[64];
  for (const char *p = path; v && *p;) {
    size_t len = strcspn(p, ".");
    snprintf(part, sizeof part, "%.*s", (int)len, p);
    v = json_object_get(v, part);
    p += len + (p[len] == '.');
  }
  long long r = json_integer_value(v);
  json_decref(info);
  return r;
}

bool h_ready(const h_node *n) {
  json_t *h = h_ok(n, "health", NULL);
  bool yes = json_is_true(json_object_get(h, "ready"));
  json_decref(h);
  return yes;
}

bool h_ready_pred(void *n) {
  return h_ready(n);
}

bool h_log_has(const h_node *n, const char *needle) {
  FILE *f = fopen(n->log, "r");
  char line[4096];
  bool found = false;
  while (f && !found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
  if (f) fclose(f);
  return found;
}
