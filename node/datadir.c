/* datadir.c - the data dir: private to the running user, one node at a time (a lock taken before anything is read)
 *
 * The data dir holds the node's identity: whoever can write it can make the
 * node run as a peer id of their choosing, and whoever can read it can
 * speak as the node. So, as PostgreSQL does with its data directory and sshd
 * (StrictModes) with ~/.ssh, the node refuses a data dir, key or state file
 * that another user owns or that group or others may read or write, and
 * says which chown or chmod fixes it. A data dir it creates is 0700.
 *
 * Two nodes on one data dir would share a peer id and a journal, and one's
 * compaction would drop the other's acknowledged advertisements. The first
 * thing a node does with its data dir is to take an exclusive flock on
 * DIR/lock (which holds its pid); a second node is refused, naming that pid,
 * before it has read or written anything else there. The kernel releases
 * the lock when the process ends, however it ends.
 */
#include "node/node_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int dr_make_data_dir(const char *dir, char *err, size_t errlen) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
    snprintf(err, errlen, "data dir path too long");
    return -ENAMETOOLONG;
  }
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
      int e = errno;
      snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
      return -e;
    }
    *p = '/';
  }
  if (mkdir(path, 0700) < 0 && errno != EEXIST) {
    int e = errno;
    snprintf(err, errlen, "cannot create data dir %s: %s", path, strerror(e));
    return -e;
  }
  return 0;
}

/* Whether st (of what at path) belongs to this user alone. */
static int check_private(const struct stat *st, const char *what, const char *path, bool dir,
                         char *err, size_t errlen) {
  uid_t me = geteuid();
  if (st->st_uid != me) {
    snprintf(err, errlen,
             "%s %s belongs to uid %u, not to the user running this node (uid %u): another user "
             "could give it a key of their own; run: chown -R %u %s (or start the node as its owner)",
             what, path, (unsigned)st->st_uid, (unsigned)me, (unsigned)me, path);
    return -EPERM;
  }
  if (st->st_mode & 077) {
    snprintf(err, errlen, "%s %s is open to group or others (mode %04o); run: chmod %s %s", what,
             path, (unsigned)(st->st_mode & 07777), dir ? "700" : "600", path);
    return -EPERM;
  }
  return 0;
}

int dr__private_file_check(const char *path, const char *what, char *err, size_t errlen) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
    return -errno;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s %s is not a regular file", what, path);
    return -EINVAL;
  }
  return check_private(&st, what, path, false, err, errlen);
}

/* Takes DIR/lock, or says which process holds it. */
static int take_lock(dr_node *n, const char *dir, char *err, size_t errlen) {
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot open the data dir's lock %s: %s", path, strerror(e));
    return -e;
  }
  int r = 0;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "the data dir's lock %s is not a regular file", path);
    r = -EINVAL;
  } else {
    r = check_private(&st, "the data dir's lock", path, false, err, errlen);
  }
  if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
    r = -errno;
    if (errno == EWOULDBLOCK) {
      char pid[32] = "";
      ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
      pid[got > 0 ? got : 0] = '\0';
      pid[strcspn(pid, "\n")] = '\0';
      snprintf(err, errlen,
               "data dir %s is in use by another dhtregd (pid %s, lock %s): one node per data dir",
               dir, *pid ? pid : "unknown", path);
      r = -EBUSY;
    } else {
      snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
    }
  }
  if (r < 0) {
    close(fd);
    return r;
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
    DR_WARN(&n->log, "cannot write the pid into %s: %s", path, strerror(errno));
  n->lock_fd = fd;
  return 0;
}

/* A key that is gone while the state it signed is there would make a new
 * identity that then refuses that state: say what happened instead. */
static int check_key_present(const char *dir, char *err, size_t errlen) {
  static const char *const states[] = {"state.log", "state.snap"};
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/identity.key", dir);
  if (lstat(path, &st) == 0 || errno != ENOENT) return 0;
  for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, states[i]);
    if (stat(path, &st) == 0 && st.st_size > 0) {
      snprintf(err, errlen,
               "%s/identity.key is missing, but %s holds this node's advertisements, signed "
               "with that key: restore the key from a backup, or move %s/state.log and "
               "%s/state.snap away to start as a new node",
               dir, path, dir, dir);
      return -ENOENT;
    }
  }
  return 0;
}

int dr__datadir_open(dr_node *n, const char *dir, char *err, size_t errlen) {
  struct stat st;
  int r;
  if (stat(dir, &st) < 0) {
    if (errno != ENOENT) {
      snprintf(err, errlen, "data dir %s: %s", dir, strerror(errno));
      return -errno;
    }
    if ((r = dr_make_data_dir(dir, err, errlen)) < 0) return r;
    if (stat(dir, &st) < 0) {
      snprintf(err, errlen, "data dir %s: %s", dir, strerror(errno));
      return -errno;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "data dir %s exists and is not a directory", dir);
    return -ENOTDIR;
  }
  if ((r = check_private(&st, "data dir", dir, true, err, errlen)) < 0) return r;
  if ((r = take_lock(n, dir, err, errlen)) < 0) return r;
  static const char *const files[][2] = {{"identity.key", "identity key"},
                                         {"state.log", "state file"},
                                         {"state.snap", "state file"}};
  char path[PATH_MAX];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
    if ((r = dr__private_file_check(path, files[i][1], err, errlen)) < 0) goto fail;
  }
  if ((r = check_key_present(dir, err, errlen)) < 0) goto fail;
  return 0;
fail:
  dr__datadir_close(n);
  return r;
}

void dr__datadir_close(dr_node *n) {
  if (n->lock_fd < 0) return;
  close(n->lock_fd); /* releases the flock */
  n->lock_fd = -1;
}
