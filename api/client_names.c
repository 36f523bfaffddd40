/* client_names.c - libdhtreg: resource ids from what people write (an id, LABEL@OWNER with an owner's peer id or a names file's alias, or a label of the node's own) */
#include "api/client_private.h"
#include "api/names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dhtreg_name_to_id(dhtreg *c, const char *name, char out[DHTREG_ID_MAX], char *err, size_t errlen) {
  char paths[DR_NAMES_FILES_MAX][DR_NAMES_PATH_MAX];
  const char *files[DR_NAMES_FILES_MAX];
  uint8_t rid[DR_ID_LEN];
  char e[256] = "", ignored[1];
  if (!err) {
    err = ignored;
    errlen = sizeof ignored;
  }
  if (errlen) err[0] = '\0';
  if (!out) {
    snprintf(err, errlen, "out is NULL");
    return -EINVAL;
  }
  out[0] = '\0';
  if (!name || !*name) {
    snprintf(err, errlen, "no resource given");
    return -EINVAL;
  }
  if (dr_crypto_init() < 0) {
    snprintf(err, errlen, "cannot initialise libsodium");
    return -EIO;
  }
  if (!strchr(name, '@') && dr_id_decode(name, rid) < 0) { /* a label of the node's own */
    char me[DHTREG_ID_MAX];
    int r = c ? dhtreg_peer_id(c, me) : -EINVAL;
    if (r < 0) {
      snprintf(err, errlen, "'%s' is neither a resource id nor LABEL@OWNER%s%s", name,
               c ? "; and the node did not say its peer id: " : "", c ? dhtreg_errmsg(c) : "");
      return r;
    }
    if (dhtreg_resource_id(me, name, out) < 0) {
      snprintf(err, errlen, "'%s' is not a label (1-128 bytes, no control characters)", name);
      return -EINVAL;
    }
    return 0;
  }
  size_t n = dr_names_search_path(getenv("DHTREG_NAMES"), getenv("HOME"), paths);
  for (size_t i = 0; i < n; i++) files[i] = paths[i];
  int r = dr_names_resource(files, n, name, rid, e, sizeof e);
  if (r < 0) {
    snprintf(err, errlen, "%s", e);
    return r == -ENOENT ? DHTREG_ENOTFOUND : r;
  }
  char text[DR_ID_TEXT_MAX];
  dr_id_encode(rid, text);
  snprintf(out, DHTREG_ID_MAX, "%s", text);
  return 0;
}
