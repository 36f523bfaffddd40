/* identity.c - the node's Ed25519 identity and its key file */
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_HEADER "# dhtreg node identity: Ed25519 seed (hex). Keep it secret.\n"
#define KEYFILE_MAX 512

void dr_identity_from_seed(dr_identity *id, const uint8_t seed[DR_SEED_LEN]) {
  crypto_sign_seed_keypair(id->pk, id->sk, seed);
}

void dr_identity_generate(dr_identity *id) {
  uint8_t seed[DR_SEED_LEN];
  randombytes_buf(seed, sizeof seed);
  dr_identity_from_seed(id, seed);
  sodium_memzero(seed, sizeof seed);
}

static int write_all(int fd, const uint8_t *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int dr_write_file_atomic(const char *path, const void *data, size_t len,
                         unsigned mode) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  char *dircopy = strdup(path);
  int err = -ENOMEM, fd = -1;
  if (!tmp || !dircopy) goto out;
  snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) {
    err = -errno;
    goto out;
  }
  if ((err = write_all(fd, data, len)) < 0) goto out_unlink;
  if (fchmod(fd, (mode_t)mode) < 0 || fsync(fd) < 0) {
    err = -errno;
    goto out_unlink;
  }
  if (close(fd) < 0) {
    fd = -1;
    err = -errno;
    goto out_unlink;
  }
  fd = -1;
  if (rename(tmp, path) < 0) {
    err = -errno;
    goto out_unlink;
  }
  int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  err = 0;
  goto out;
out_unlink:
  if (fd >= 0) close(fd);
  unlink(tmp);
out:
  free(tmp);
  free(dircopy);
  return err;
}

static int parse_keyfile(const char *text, uint8_t seed[DR_SEED_LEN]) {
  const char *line = text;
  while (*line == '#') { /* skip comment lines */
    const char *nl = strchr(line, '\n');
    if (!nl) return -EINVAL;
    line = nl + 1;
  }
  size_t hexlen = strcspn(line, "\n");
  if (hexlen != 2 * DR_SEED_LEN) return -EINVAL;
  const char *rest = line + hexlen;
  if (*rest == '\n') rest++;
  if (*rest != '\0') return -EINVAL;
  size_t got = 0;
  if (sodium_hex2bin(seed, DR_SEED_LEN, line, hexlen, NULL, &got, NULL) != 0 ||
      got != DR_SEED_LEN)
    return -EINVAL;
  return 0;
}

static int load_keyfile(dr_identity *id, const char *path, char *err, size_t errlen) {
  char buf[KEYFILE_MAX + 1];
  uint8_t seed[DR_SEED_LEN];
  struct stat st;
  int ret = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    ret = -errno;
    snprintf(err, errlen, "cannot open identity key %s: %s", path, strerror(errno));
    return ret;
  }
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "identity key %s is not a regular file", path);
    ret = -EINVAL;
    goto out;
  }
  if (st.st_uid != geteuid()) {
    snprintf(err, errlen, "identity key %s belongs to uid %u, not to this user (uid %u); run: chown %u %s",
             path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
    ret = -EPERM;
    goto out;
  }
  if (st.st_mode & 077) {
    snprintf(err, errlen,
             "identity key %s is accessible by others (mode %04o); "
             "run: chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    ret = -EPERM;
    goto out;
  }
  ssize_t n = read(fd, buf, KEYFILE_MAX + 1);
  if (n < 0 || n > KEYFILE_MAX) {
    snprintf(err, errlen, "identity key %s: %s", path,
             n < 0 ? strerror(errno) : "file too large");
    ret = -EINVAL;
    goto out;
  }
  buf[n] = '\0';
  if (memchr(buf, '\0', (size_t)n) || parse_keyfile(buf, seed) < 0) {
    snprintf(err, errlen,
             "identity key %s is corrupt (expected 64 hex digits); "
             "move it away to start with a new identity",
             path);
    ret = -EINVAL;
    goto out;
  }
  dr_identity_from_seed(id, seed);
  sodium_memzero(seed, sizeof seed);
out:
  close(fd);
  return ret;
}

int dr_identity_load_or_create(dr_identity *id, const char *path, char *err,
                               size_t errlen) {
  struct stat st;
  if (lstat(path, &st) == 0 || errno != ENOENT)
    return load_keyfile(id, path, err, errlen);

  uint8_t seed[DR_SEED_LEN];
  char text[sizeof KEYFILE_HEADER + 2 * DR_SEED_LEN + 2];
  randombytes_buf(seed, sizeof seed);
  strcpy(text, KEYFILE_HEADER);
  sodium_bin2hex(text + strlen(text), 2 * DR_SEED_LEN + 1, seed, sizeof seed);
  strcat(text, "\n");
  int ret = dr_write_file_atomic(path, text, strlen(text), 0600);
  sodium_memzero(text, sizeof text);
  if (ret < 0) {
    snprintf(err, errlen, "cannot write identity key %s: %s", path, strerror(-ret));
    sodium_memzero(seed, sizeof seed);
    return ret;
  }
  dr_identity_from_seed(id, seed);
  sodium_memzero(seed, sizeof seed);
  return 0;
}
