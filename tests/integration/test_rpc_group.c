/* test_rpc_group.c - --rpc-group: a member of the group uses the node's socket, another user cannot (as root: the clients are forked children that drop to other uids) */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/harness.h"

#define GROUP 4242
#define MEMBER_UID 4243
#define OTHER_GID 4244
#define OTHER_UID 4245

/* In a child running as uid with only group gid: asks the node at path
 * for its health. Exit 0: answered; 13: connect refused with EACCES; 1:
 * anything else. */
static int as_user(uid_t uid, gid_t gid, const char *path) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    gid_t groups[1] = {gid};
    if (setgroups(1, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0) _exit(1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) _exit(errno == EACCES ? 13 : 1);
    static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"}\n";
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) _exit(1);
    char buf[1024];
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < sizeof buf - 1 && poll(&p, 1, 10000) > 0) {
      ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
      if (n <= 0) break;
      got += (size_t)n;
      buf[got] = '\0';
      if (strchr(buf, '\n')) break;
    }
    buf[got] = '\0';
    _exit(strstr(buf, "\"result\"") && strstr(buf, "\"ok\"") ? 0 : 1);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void test_group_member_only(void **state) {
  if (geteuid() != 0) skip(); /* needs root to play other users */
  /* the socket's directory lets the group in (as systemd's RuntimeDirectory
   * with RuntimeDirectoryMode=0750 and Group=) */
  const char *dir = h_tmpdir();
  assert_int_equal(chown(dir, 0, GROUP), 0);
  assert_int_equal(chmod(dir, 0750), 0);
  h_node n;
  char gid[16];
  snprintf(gid, sizeof gid, "%d", GROUP);
  h_node_start(&n, "grouped", (const char *[]){"--rpc-group", gid, NULL});
  struct stat st;
  assert_int_equal(stat(n.sock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0660);
  assert_int_equal(st.st_gid, GROUP);
  assert_int_equal(as_user(MEMBER_UID, GROUP, n.sock), 0);
  /* another user of another group cannot even reach it */
  assert_int_equal(as_user(OTHER_UID, OTHER_GID, n.sock), 13);
  /* without --rpc-group the socket is the owner's alone, members or not */
  h_node p;
  h_node_start(&p, "private", NULL);
  assert_int_equal(stat(p.sock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(as_user(MEMBER_UID, GROUP, p.sock), 13);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_group_member_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
