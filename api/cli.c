/* cli.c - dhtreg: the command-line client of a node's JSON-RPC socket (main, and the transport: cli_call, cli_send, cli_read) */
#include "api/cli.h"
#include "dhtreg/dhtreg.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Whether the socket's owner may answer for a node: this user, root, or
 * the --socket-owner. Anyone else could have put a listener of their own
 * at the path (as sshd's StrictModes, we trust no file another user owns). */
static bool socket_trusted(cli *c) {
  struct stat st;
  if (stat(c->socket, &st) < 0) return true; /* connect says what is wrong */
  uid_t me = getuid();
  if (st.st_uid == me || st.st_uid == 0) return true;
  if (c->socket_owner && *c->socket_owner) {
    struct passwd *pw = getpwnam(c->socket_owner);
    char *end;
    unsigned long uid = strtoul(c->socket_owner, &end, 10);
    if ((pw && pw->pw_uid == st.st_uid) || (!*end && uid == st.st_uid)) return true;
  }
  struct passwd *owner = getpwuid(st.st_uid);
  fprintf(stderr,
          "dhtreg: refusing %s: it belongs to %s (uid %u), not to you or root, so it may not be "
          "your node; if that user runs your node, pass --socket-owner %s (or set "
          "DHTREG_SOCKET_OWNER)\n",
          c->socket, owner ? owner->pw_name : "another user", (unsigned)st.st_uid,
          owner ? owner->pw_name : "UID");
  return false;
}

static int connect_socket(cli *c) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(c->socket) >= sizeof sa.sun_path) {
    fprintf(stderr, "dhtreg: socket path too long: %s\n", c->socket);
    return -1;
  }
  if (!socket_trusted(c)) return -1;
  strcpy(sa.sun_path, c->socket);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "dhtreg: socket: %s\n", strerror(errno));
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
      fprintf(stderr, "dhtreg: no node at %s: is dhtregd running?\n", c->socket);
    else
      fprintf(stderr, "dhtreg: cannot connect to %s: %s\n", c->socket, strerror(e));
    return -1;
  }
  return fd;
}

int cli_send(cli *c, const char *method, json_t *params) {
  json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                          "params", params ? params : json_object());
  char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  if (!text) {
    fprintf(stderr, "dhtreg: out of memory\n");
    return -1;
  }
  int fd = connect_socket(c);
  if (fd >= 0) {
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room for the NUL: reuse it */
    const char *p = text;
    size_t left = len + 1;
    while (left) {
      ssize_t w = send(fd, p, left, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        fprintf(stderr, "dhtreg: write to %s: %s\n", c->socket, strerror(errno));
        close(fd);
        fd = -1;
        break;
      }
      p += w;
      left -= (size_t)w;
    }
  }
  free(text);
  return fd;
}

json_t *cli_read(cli *c, int fd, bool *eof) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  json_t *v = NULL;
  *eof = false;
  if (!buf) return NULL;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, c->timeout_s > 0 ? c->timeout_s * 1000 : -1);
    if (r < 0 && errno == EINTR) goto out; /* a signal: the caller decides */
    if (r == 0) {
      fprintf(stderr, "dhtreg: no answer from the node within %d s\n", c->timeout_s);
      goto out;
    }
    char ch;
    ssize_t got = recv(fd, &ch, 1, 0);
    if (got < 0 && errno == EINTR) goto out;
    if (got <= 0) {
      *eof = true;
      goto out;
    }
    if (ch == '\n') break;
    if (len + 1 >= cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) goto out;
      buf = nb;
    }
    buf[len++] = ch;
  }
  buf[len] = '\0';
  v = json_loads(buf, 0, NULL);
  if (!v) fprintf(stderr, "dhtreg: the node sent something that is not JSON\n");
out:
  free(buf);
  return v;
}

void cli_rpc_error(cli *c, long long code, const char *message) {
  char msg[1024];
  cli_escape(message, msg, sizeof msg);
  c->rpc_error = code;
  fprintf(stderr, "dhtreg: %s (error %lld)\n", *msg ? msg : "the node gave no reason", code);
}

int cli_failed(const cli *c) {
  if (c->rpc_error == CLI_NOT_FOUND_CODE) return CLI_NOT_FOUND;
  return c->rpc_error == CLI_INVALID_PARAMS_CODE ? CLI_USAGE : CLI_ERROR;
}

/* Calls go through libdhtreg (one connection per call, as before); only
 * watch's stream of events reads the socket itself, through cli_send and
 * cli_read, to print each event's JSON as the node sent it. */
json_t *cli_call(cli *c, const char *method, json_t *params) {
  c->rpc_error = 0;
  char *text = params ? json_dumps(params, JSON_COMPACT) : NULL, *result = NULL;
  json_decref(params);
  if (!socket_trusted(c)) {
    free(text);
    return NULL;
  }
  dhtreg *d;
  int r = dhtreg_connect(&d, c->socket);
  if (r == 0) {
    dhtreg_set_timeout(d, c->timeout_s > 0 ? c->timeout_s * 1000 : -1);
    r = dhtreg_call(d, method, text, &result);
  }
  free(text);
  if (r <= -32000) { /* the node's own error */
    cli_rpc_error(c, r, dhtreg_errmsg(d));
  } else if (r < 0) {
    if (r == -ETIMEDOUT) fprintf(stderr, "dhtreg: no answer from the node within %d s\n", c->timeout_s);
    else fprintf(stderr, "dhtreg: %s\n", dhtreg_errmsg(d)); /* d NULL: the failed connect's */
  }
  dhtreg_close(d);
  if (r < 0) return NULL;
  json_t *res = json_loads(result, JSON_DECODE_ANY, NULL);
  free(result);
  if (!res) fprintf(stderr, "dhtreg: the node sent something that is not JSON\n");
  return res;
}

int main(int argc, char **argv) {
  static char default_socket[4096];
  cli c = {.timeout_s = 30, .socket_owner = getenv("DHTREG_SOCKET_OWNER")};
  const cli_cmd *cmd;
  static cli_args a; /* 6 KiB of option values: not on the stack */
  signal(SIGPIPE, SIG_IGN);
  if (dr_crypto_init() < 0) { /* resource ids are computed here too */
    fprintf(stderr, "dhtreg: cannot initialise libsodium\n");
    return CLI_ERROR;
  }
  int r = cli_parse(&c, argc, argv, &cmd, &a);
  if (r >= 0) return r;
  if (!c.socket) {
    const char *env = getenv("DHTREG_SOCKET"), *home = getenv("DHTREG_HOME");
    if (env && *env) c.socket = env;
    else if (home && *home) snprintf(default_socket, sizeof default_socket, "%s/rpc.sock", home);
    else snprintf(default_socket, sizeof default_socket, "%s/.dhtreg/rpc.sock", getenv("HOME") ? getenv("HOME") : ".");
    if (!c.socket) c.socket = default_socket;
  }
  return cmd->fn(&c, cmd, &a);
}
