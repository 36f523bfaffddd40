/* service.c - an example service: a TCP echo server that registers itself with its node through a lease heartbeat, and withdraws on SIGTERM
 *
 *   example-service RESOURCE SERVICE_ID PORT [TYPE]
 *
 * RESOURCE is a resource id or LABEL@OWNER (see dhtreg(1) on names); the
 * node is found as the dhtreg CLI finds it ($DHTREG_SOCKET, ...). Build
 * with: cc service.c $(pkg-config --cflags --libs dhtreg) -o example-service
 */
#include <dhtreg/dhtreg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void on_beat(void *ud, int err, const char *what) {
  (void)ud;
  if (err) fprintf(stderr, "service: heartbeat: %s (retrying)\n", what);
  else if (strcmp(what, "advertised") == 0) fprintf(stderr, "service: advertised\n");
}

/* Echoes one line back on a connection, upper-cased, so the client can
 * tell the answer came from here. */
static void serve_one(int fd, const char *id) {
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n > 0) {
    char out[600];
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    int len = snprintf(out, sizeof out, "%s says: %s\n", id, buf);
    if (write(fd, out, (size_t)len) < 0) perror("service: write");
  }
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s RESOURCE SERVICE_ID PORT [TYPE]\n", argv[0]);
    return 2;
  }
  const char *service_id = argv[2], *type = argc > 4 ? argv[4] : "echo";
  int port = atoi(argv[3]);
  char rid[DHTREG_ID_MAX], err[256];
  dhtreg *c;
  /* LABEL@OWNER or an id; a bare label is a resource of this node */
  int r = dhtreg_connect(&c, NULL);
  if (r == 0) r = dhtreg_name_to_id(c, argv[1], rid, err, sizeof err);
  else snprintf(err, sizeof err, "%s", dhtreg_errmsg(c));
  dhtreg_close(c);
  if (r < 0) {
    fprintf(stderr, "service: %s\n", err);
    return 1;
  }

  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 16) < 0) {
    fprintf(stderr, "service: port %d: %s\n", port, strerror(errno));
    return 1;
  }
  struct sigaction act = {.sa_handler = on_signal};
  sigaction(SIGTERM, &act, NULL);
  sigaction(SIGINT, &act, NULL);

  /* a lease: renewed every ttl/3 while this process lives, advertised
   * again if the node restarts; if this process dies, it expires */
  dhtreg_ad ad = {.resource_id = rid, .service_id = service_id, .host = "127.0.0.1",
                  .port = (uint16_t)port, .type = type, .ttl = 30};
  dhtreg_heartbeat *hb;
  if ((r = dhtreg_heartbeat_start(&hb, NULL, &ad, on_beat, NULL)) < 0) { /* advertised, or why not */
    fprintf(stderr, "service: %s\n", dhtreg_errmsg(NULL));
    return 1;
  }
  while (!stop) {
    struct pollfd p = {.fd = ls, .events = POLLIN};
    if (poll(&p, 1, 1000) > 0) {
      int fd = accept(ls, NULL, NULL);
      if (fd >= 0) serve_one(fd, service_id);
    }
  }
  /* withdrawn: clients stop finding it at once */
  dhtreg_heartbeat_stop(hb, true);
  close(ls);
  fprintf(stderr, "service: withdrawn\n");
  return 0;
}
