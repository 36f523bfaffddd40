/* names.h - names of owners: the names files that map aliases to peer ids, and LABEL@OWNER references to resources
 *
 * A resource id is computed from its owner's peer id and its label, so the
 * same label gives another id under another owner. People share owners by
 * name: a names file holds lines
 *
 *     alias = PEER_ID      # a comment
 *
 * ('#' starts a comment, to the end of the line; blank lines are skipped).
 * An alias is 1 to 64 of A-Z a-z 0-9 '.' '_' '-', compared exactly. Files
 * are searched in order, and the first line of the first file naming an
 * alias wins. A reference to a resource is its id, LABEL@PEER_ID or
 * LABEL@ALIAS (split at the last '@', so a label may hold one; an owner that
 * is a valid peer id is taken as one, not as an alias).
 *
 * Self-contained (libc and crypto/ only, no JSON), for the CLI, the client
 * library and the node's DNS interface alike. Nothing here keeps state: any
 * thread may call it. dr_crypto_init() must have run once before anything
 * that computes a resource id. Errors are negative errno values, with a
 * one-line reason written into err (errlen bytes) where the function takes
 * one.
 */
#ifndef DR_NAMES_H
#define DR_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

#define DR_NAMES_ALIAS_MAX 64    /* bytes of an alias */
#define DR_NAMES_LINE_MAX 1024   /* bytes of a line of a names file, its newline included */
#define DR_NAMES_FILES_MAX 3     /* files dr_names_search_path gives at most */
#define DR_NAMES_PATH_MAX 4096

/* The names files to search, in order: names_env (the value of
 * $DHTREG_NAMES: a path, skipped when NULL or empty), HOME/.dhtreg/names
 * (skipped when home is NULL or empty), /etc/dhtreg/names. Writes them into
 * paths and returns how many (at most DR_NAMES_FILES_MAX); a path that does
 * not fit is left out. */
size_t dr_names_search_path(const char *names_env, const char *home,
                            char paths[DR_NAMES_FILES_MAX][DR_NAMES_PATH_MAX]);

/* Whether s is a well-formed alias. */
int dr_names_alias_valid(const char *s);

/* One line of a names file. file points at the caller's path. */
typedef struct dr_names_entry {
  char alias[DR_NAMES_ALIAS_MAX + 1];
  uint8_t peer[DR_ID_LEN];
  const char *file;
  unsigned line;
} dr_names_entry;

/* Called for each well-formed line; a non-zero return stops the walk and is
 * returned by dr_names_each. */
typedef int (*dr_names_cb)(void *ctx, const dr_names_entry *e);
/* Called for each malformed line (line 0: the file itself could not be
 * read), with the reason. */
typedef void (*dr_names_bad_cb)(void *ctx, const char *file, unsigned line, const char *why);

/* Walks the files in order, line by line. A file that does not exist is
 * skipped; one that cannot be read is reported to bad (line 0) and
 * skipped. bad may be NULL. Returns 0, or what cb returned. */
int dr_names_each(const char *const *files, size_t n_files, dr_names_cb cb,
                  dr_names_bad_cb bad, void *ctx);

/* The first line naming alias, searching the files in order. Returns 0
 * with *out filled; -ENOENT when no file names it; -EINVAL when alias is
 * not a well-formed alias; -EBADMSG when the line naming it first is
 * malformed (not a peer id); -EACCES (or another negative errno) when a
 * file before that line exists but cannot be read, so a later file does
 * not answer in its place. */
int dr_names_lookup(const char *const *files, size_t n_files, const char *alias,
                    dr_names_entry *out, char *err, size_t errlen);

/* An owner given as a peer id or an alias: its peer id. Returns 0, or
 * -EINVAL (neither a peer id nor a well-formed alias), -ENOENT (no such
 * alias), -EBADMSG (its line is malformed) or a file's error, as
 * dr_names_lookup. */
int dr_names_owner(const char *const *files, size_t n_files, const char *owner,
                   uint8_t peer[DR_ID_LEN], char *err, size_t errlen);

/* Splits ref at its last '@' into the label (copied into label, which
 * holds DR_NAME_MAX + 1 bytes) and *owner (pointing into ref). Returns 0,
 * or -EINVAL when ref has no '@', the owner is empty, or the label is not
 * 1-128 bytes of UTF-8 without control characters. */
int dr_names_split(const char *ref, char label[DR_NAME_MAX + 1], const char **owner,
                   char *err, size_t errlen);

/* The resource id a reference names: a resource id as it is, LABEL@PEER_ID
 * or LABEL@ALIAS computed here (no network). Returns 0, or -EINVAL (not a
 * resource id nor LABEL@OWNER), -ENOENT (an unknown alias), -EBADMSG (the
 * alias's line is malformed) or a file's error. */
int dr_names_resource(const char *const *files, size_t n_files, const char *ref,
                      uint8_t rid[DR_ID_LEN], char *err, size_t errlen);

#endif
