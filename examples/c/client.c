/* client.c - an example client: discovers a backend of a type through its node, connects to it over TCP and exchanges a message
 *
 *   example-client RESOURCE [TYPE] [MESSAGE]
 *
 * Prints the backend's answer; exits 3 when there is no backend of that
 * type, 1 on another error. Build with:
 *   cc client.c $(pkg-config --cflags --libs dhtreg) -o example-client
 */
#include <dhtreg/dhtreg.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s RESOURCE [TYPE] [MESSAGE]\n", argv[0]);
    return 2;
  }
  const char *type = argc > 2 ? argv[2] : "echo", *msg = argc > 3 ? argv[3] : "hello";
  char rid[DHTREG_ID_MAX], err[256];
  dhtreg *c;
  int r = dhtreg_connect(&c, NULL);
  if (r == 0) r = dhtreg_name_to_id(c, argv[1], rid, err, sizeof err);
  else snprintf(err, sizeof err, "%s", dhtreg_errmsg(c));
  if (r < 0) {
    fprintf(stderr, "client: %s\n", err);
    dhtreg_close(c);
    return 1;
  }
  /* one backend at random: clients spread their load */
  dhtreg_records found;
  r = dhtreg_discover(c, rid, type, &found);
  if (r == DHTREG_ENOTFOUND) {
    printf("no %s backend\n", type);
    dhtreg_close(c);
    return 3;
  }
  if (r < 0) {
    fprintf(stderr, "client: %s\n", dhtreg_errmsg(c));
    dhtreg_close(c);
    return 1;
  }
  const dhtreg_record *b = &found.records[0];
  char port[8];
  snprintf(port, sizeof port, "%u", b->port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  int fd = -1;
  if (getaddrinfo(b->host, port, &hints, &ai) == 0) {
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
      close(fd);
      fd = -1;
    }
    freeaddrinfo(ai);
  }
  if (fd < 0) {
    fprintf(stderr, "client: cannot reach %s at %s:%s\n", b->service_id, b->host, port);
    dhtreg_records_free(&found);
    dhtreg_close(c);
    return 1;
  }
  char line[512], answer[1024];
  int len = snprintf(line, sizeof line, "%s\n", msg);
  ssize_t n = write(fd, line, (size_t)len) == len ? read(fd, answer, sizeof answer - 1) : -1;
  close(fd);
  dhtreg_records_free(&found);
  dhtreg_close(c);
  if (n <= 0) {
    fprintf(stderr, "client: no answer from the backend\n");
    return 1;
  }
  answer[n] = '\0';
  fputs(answer, stdout);
  return 0;
}
