/* socket.c - the receive buffer of a runner's UDP sockets, which opendht_c.h does not reach */
#include "dht/opendht_shim.h"

#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

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
