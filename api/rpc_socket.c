/* rpc_socket.c - where the JSON-RPC server may listen: a Unix socket path no other node serves, in a directory no other user can write, and a loopback TCP address */
#include "api/api_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int dr_rpc_check_loopback(const char *hostport) {
  char host[64], port[8];
  struct in_addr a4;
  struct in6_addr a6;
  if (dr_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) return -EINVAL;
  if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127 ? 0 : -EINVAL;
  if (inet_pton(AF_INET6, host, &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6) ? 0 : -EINVAL;
  return -EINVAL;
}

/* Whether a node serves the socket at path: 1 yes, 0 no (*stale: a socket
 * file nobody listens on, left by a node that was killed), or a negative
 * errno with the reason in err. */
static int socket_served(const char *path, bool *stale, char *err, size_t errlen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  *stale = false;
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "socket path %s is longer than %zu bytes", path, sizeof sa.sun_path - 1);
    return -ENAMETOOLONG;
  }
  strcpy(sa.sun_path, path);
  struct stat st;
  if (lstat(path, &st) < 0) return 0;
  if (!S_ISSOCK(st.st_mode)) {
    snprintf(err, errlen, "%s exists and is not a socket", path);
    return -EEXIST;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  if (r == 0) {
    snprintf(err, errlen, "another node is serving %s", path);
    return 1;
  }
  *stale = e == ECONNREFUSED;
  return 0;
}

int dr__rpc_clear_stale_socket(const char *path, char *err, size_t errlen) {
  bool stale;
  int r = socket_served(path, &stale, err, errlen);
  if (r == 1) return -EADDRINUSE;
  if (r == 0 && stale) unlink(path);
  return r;
}

int dr_rpc_check_socket(const char *path, const char *data_dir, char *err, size_t errlen) {
  char dir[PATH_MAX];
  struct stat st;
  bool stale;
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (stat(dir, &st) < 0) {
    int e = errno;
    size_t dl = data_dir ? strlen(data_dir) : 0;
    while (dl > 1 && data_dir[dl - 1] == '/') dl--;
    /* the data dir is created by the node */
    if (e == ENOENT && data_dir && strlen(dir) == dl && strncmp(dir, data_dir, dl) == 0) return 0;
    snprintf(err, errlen, "cannot create the socket %s: %s %s", path,
             e == ENOENT ? "no such directory" : strerror(e), dir);
    return -e;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "cannot create the socket %s: %s is not a directory", path, dir);
    return -ENOTDIR;
  }
  /* a directory where another user may replace the socket with their own
   * listener would let them answer for this node (a sticky one, as /tmp,
   * keeps others from removing ours) */
  uid_t me = geteuid();
  if ((st.st_uid != me && st.st_uid != 0) || ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
    snprintf(err, errlen,
             "refusing the socket %s: its directory %s %s, so another user could put a socket "
             "of their own in its place; use a directory of your own (or chmod go-w %s)",
             path, dir, st.st_uid != me && st.st_uid != 0 ? "belongs to another user" : "is writable by others",
             dir);
    return -EPERM;
  }
  int r = socket_served(path, &stale, err, errlen);
  return r == 1 ? -EADDRINUSE : r;
}
