/* socket.c - a runner's UDP sockets where opendht_c.h does not reach: their receive buffer, and why one cannot be bound */
#include "dht/opendht_shim.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* OpenDHT 2.4.12 answers a get with one UDP datagram per value from each of
 * up to eight nodes, all at once: a resource of 150 records is ~1 200
 * datagrams arriving together, and the kernel's default receive buffer
 * (212 KB, ~200 of them) drops the rest, which OpenDHT asks for again only
 * after its one-second timeout. opendht_c.h does not reach the socket, so
 * find it among the process's descriptors by its bound port and enlarge
 * its buffer (the kernel caps it at net.core.rmem_max). */
int dr__raise_rcvbuf(uint16_t port4, uint16_t port6, int want) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  struct dirent *de;
  int got = -1;
  while ((de = readdir(dir))) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || fd < 0 || fd == dirfd(dir)) continue;
    int type;
    socklen_t tl = sizeof type;
    if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM) continue;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname((int)fd, (struct sockaddr *)&ss, &sl) < 0) continue;
    uint16_t port = 0, wanted = 0;
    if (ss.ss_family == AF_INET) {
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      wanted = port4;
    } else if (ss.ss_family == AF_INET6) {
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      wanted = port6;
    }
    if (!port || port != wanted) continue;
    if (setsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) == 0) {
      int size = 0;
      tl = sizeof size;
      getsockopt((int)fd, SOL_SOCKET, SO_RCVBUF, &size, &tl);
      got = size / 2; /* the kernel doubles what it grants, for its bookkeeping */
    }
  }
  closedir(dir);
  return got;
}

/* OpenDHT reports a socket it cannot bind with an exception that names no
 * errno: bind one the same way to learn it. */
int dr_dht_probe_bind(const char *bind4, const char *bind6, uint16_t port) {
  const char *addrs[2] = {bind4, bind6};
  int families[2] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; i++) {
    if ((bind4 || bind6) && !addrs[i]) continue;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (families[i] == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      if (addrs[i] && inet_pton(AF_INET, addrs[i], &a->sin_addr) != 1) return -EADDRNOTAVAIL;
      sl = sizeof *a;
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      if (addrs[i] && inet_pton(AF_INET6, addrs[i], &a->sin6_addr) != 1) return -EADDRNOTAVAIL;
      sl = sizeof *a;
    }
    int fd = socket(families[i], SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (errno == EAFNOSUPPORT && !addrs[i]) continue; /* no IPv6 here: OpenDHT skips it too */
      return -errno;
    }
    int one = 1;
    if (families[i] == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int r = bind(fd, (struct sockaddr *)&ss, sl) < 0 ? -errno : 0;
    close(fd);
    if (r < 0 && !(r == -EADDRNOTAVAIL && families[i] == AF_INET6 && !addrs[i])) return r;
  }
  return 0;
}
