/* cli.c - dhtreg: the command-line client of a node's JSON-RPC socket (options, dispatch, transport) */
#include "api/cli.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out) {
  fprintf(out,
          "usage: dhtreg [--socket PATH] [--json] [--timeout S] COMMAND [ARGS...]\n"
          "\n"
          "The command line of a dhtreg node (dhtregd), over its JSON-RPC socket.\n"
          "\n"
          "Commands:\n");
  for (const cli_cmd *c = cli_cmds; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out,
          "\n"
          "Options:\n"
          "  --socket PATH  the node's socket (env DHTREG_SOCKET; else $DHTREG_HOME/rpc.sock;\n"
          "                 else ~/.dhtreg/rpc.sock)\n"
          "  --socket-owner USER  trust a socket of that user (env DHTREG_SOCKET_OWNER);\n"
          "                 by default only a socket of yours or root's is used\n"
          "  --json         print the raw JSON result\n"
          "  --timeout S    seconds to wait for the node's answer (default 30)\n"
          "  -h, --help     this help; 'dhtreg COMMAND --help' for a command's\n"
          "  --version      print the version\n");
}

const cli_cmd *cli_find(const char *name) {
  for (const cli_cmd *c = cli_cmds; c->name; c++)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "dhtreg: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n\n");
  if (cmd) fprintf(stderr, "usage: dhtreg %s\n", cmd->usage);
  else usage(stderr);
  return 2;
}

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

json_t *cli_call(cli *c, const char *method, json_t *params) {
  int fd = cli_send(c, method, params);
  if (fd < 0) return NULL;
  bool eof;
  json_t *resp = cli_read(c, fd, &eof);
  close(fd);
  if (!resp) {
    if (eof) fprintf(stderr, "dhtreg: the node closed the connection without answering\n");
    return NULL;
  }
  json_t *err = json_object_get(resp, "error");
  if (err) {
    char msg[1024];
    cli_escape(json_string_value(json_object_get(err, "message")), msg, sizeof msg);
    fprintf(stderr, "dhtreg: error %lld: %s\n", (long long)json_integer_value(json_object_get(err, "code")),
            *msg ? msg : "(no message)");
    json_decref(resp);
    return NULL;
  }
  json_t *res = json_object_get(resp, "result");
  if (!res) {
    fprintf(stderr, "dhtreg: the node's answer has no result\n");
    json_decref(resp);
    return NULL;
  }
  json_incref(res);
  json_decref(resp);
  return res;
}

int main(int argc, char **argv) {
  static char default_socket[4096];
  cli c = {.timeout_s = 30, .socket_owner = getenv("DHTREG_SOCKET_OWNER")};
  const char *env = getenv("DHTREG_SOCKET");
  int i = 1;
  signal(SIGPIPE, SIG_IGN);
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--socket") == 0) {
      if (++i >= argc) return cli_usage_error(NULL, "--socket needs a path");
      c.socket = argv[i];
    } else if (strncmp(a, "--socket=", 9) == 0) {
      c.socket = a + 9;
    } else if (strcmp(a, "--socket-owner") == 0) {
      if (++i >= argc) return cli_usage_error(NULL, "--socket-owner needs a user name or uid");
      c.socket_owner = argv[i];
    } else if (strcmp(a, "--json") == 0) {
      c.json = true;
    } else if (strcmp(a, "--timeout") == 0) {
      char *end;
      if (++i >= argc) return cli_usage_error(NULL, "--timeout needs a number of seconds");
      long t = strtol(argv[i], &end, 10);
      if (*end || end == argv[i] || t < 1 || t > 86400)
        return cli_usage_error(NULL, "--timeout: '%s' is not 1-86400 seconds", argv[i]);
      c.timeout_s = (int)t;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      printf("dhtreg %s\n", DHTREG_VERSION);
      return 0;
    } else {
      return cli_usage_error(NULL, "unknown option '%s'", a);
    }
  }
  if (i >= argc) return cli_usage_error(NULL, "no command given");
  const cli_cmd *cmd = cli_find(argv[i]);
  if (!cmd) return cli_usage_error(NULL, "unknown command '%s'", argv[i]);
  if (!c.socket) {
    if (env && *env) {
      c.socket = env;
    } else {
      const char *home = getenv("DHTREG_HOME");
      if (home && *home) snprintf(default_socket, sizeof default_socket, "%s/rpc.sock", home);
      else snprintf(default_socket, sizeof default_socket, "%s/.dhtreg/rpc.sock",
                    getenv("HOME") ? getenv("HOME") : ".");
      c.socket = default_socket;
    }
  }
  return cmd->fn(&c, argc - i, argv + i);
}
