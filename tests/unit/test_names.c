/* test_names.c - names files (alias = peer id) and LABEL@OWNER references: parsing, search order, errors */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/names.h"
#include "crypto/crypto.h"

static char dir[64];
static uint8_t peer_a[DR_ID_LEN], peer_b[DR_ID_LEN];
static char text_a[DR_ID_TEXT_MAX], text_b[DR_ID_TEXT_MAX];

static int setup(void **state) {
  assert_int_equal(dr_crypto_init(), 0);
  snprintf(dir, sizeof dir, "/tmp/test_names.XXXXXX");
  assert_non_null(mkdtemp(dir));
  memset(peer_a, 0xa1, sizeof peer_a);
  memset(peer_b, 0xb2, sizeof peer_b);
  dr_id_encode(peer_a, text_a);
  dr_id_encode(peer_b, text_b);
  return 0;
}

static int teardown(void **state) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

/* Writes a file of the test's directory; returns its path (static). */
static const char *file(const char *name, const char *text) {
  static char paths[8][256];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 256, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static void test_search_path(void **state) {
  char paths[DR_NAMES_FILES_MAX][DR_NAMES_PATH_MAX];
  assert_int_equal(dr_names_search_path("/x/names", "/home/u", paths), 3);
  assert_string_equal(paths[0], "/x/names");
  assert_string_equal(paths[1], "/home/u/.dhtreg/names");
  assert_string_equal(paths[2], "/etc/dhtreg/names");
  assert_int_equal(dr_names_search_path("", "/home/u", paths), 2); /* an empty $DHTREG_NAMES is unset */
  assert_string_equal(paths[0], "/home/u/.dhtreg/names");
  assert_int_equal(dr_names_search_path(NULL, NULL, paths), 1);
  assert_string_equal(paths[0], "/etc/dhtreg/names");
}

static void test_alias_valid(void **state) {
  assert_true(dr_names_alias_valid("prod"));
  assert_true(dr_names_alias_valid("eu-west_1.prod"));
  char longest[DR_NAMES_ALIAS_MAX + 2];
  memset(longest, 'a', sizeof longest);
  longest[DR_NAMES_ALIAS_MAX] = '\0';
  assert_true(dr_names_alias_valid(longest));
  longest[DR_NAMES_ALIAS_MAX] = 'a';
  longest[DR_NAMES_ALIAS_MAX + 1] = '\0';
  assert_false(dr_names_alias_valid(longest));
  const char *bad[] = {"", "a b", "a@b", "a=b", "é", "a#", "a/b", NULL};
  for (const char **b = bad; *b; b++) assert_false(dr_names_alias_valid(*b));
  assert_false(dr_names_alias_valid(NULL));
}

typedef struct seen {
  char lines[16][160];
  int n;
} seen;

static int on_entry(void *ctx, const dr_names_entry *e) {
  seen *s = ctx;
  char id[DR_ID_TEXT_MAX];
  dr_id_encode(e->peer, id);
  snprintf(s->lines[s->n++ % 16], 160, "%s=%.8s@%u", e->alias, id, e->line);
  return 0;
}

static void on_bad(void *ctx, const char *path, unsigned line, const char *why) {
  seen *s = ctx;
  snprintf(s->lines[s->n++ % 16], 160, "bad@%u: %s", line, why);
}

/* Comments, blank lines, spaces; malformed lines reported and skipped */
static void test_each_parses(void **state) {
  char text[4096], longline[2000];
  memset(longline, 'x', sizeof longline - 2);
  longline[sizeof longline - 2] = '\n';
  longline[sizeof longline - 1] = '\0';
  snprintf(text, sizeof text,
           "# a comment\n\n  prod = %s   # trailing comment\n\tdev=%s\r\nno equals sign\nbad alias! = %s\n"
           "badpeer = 0OIl\n%slast = %s",
           text_a, text_b, text_a, longline, text_b); /* the last line has no newline */
  const char *files[] = {file("each", text)};
  seen s = {.n = 0};
  assert_int_equal(dr_names_each(files, 1, on_entry, on_bad, &s), 0);
  assert_int_equal(s.n, 7);
  char want[160];
  snprintf(want, sizeof want, "prod=%.8s@3", text_a);
  assert_string_equal(s.lines[0], want);
  snprintf(want, sizeof want, "dev=%.8s@4", text_b);
  assert_string_equal(s.lines[1], want);
  assert_string_equal(s.lines[2], "bad@5: not 'alias = PEER_ID'");
  assert_string_equal(s.lines[3], "bad@6: the alias is not 1-64 of A-Z a-z 0-9 . _ -");
  assert_string_equal(s.lines[4], "bad@7: not a peer id (base58 of 32 bytes)");
  assert_string_equal(s.lines[5], "bad@8: longer than 1023 bytes");
  snprintf(want, sizeof want, "last=%.8s@9", text_b);
  assert_string_equal(s.lines[6], want);
  /* a missing file is skipped, an unreadable one reported (a directory) */
  char sub[128];
  snprintf(sub, sizeof sub, "%s/adir", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  const char *two[] = {"/nonexistent/names", sub};
  s.n = 0;
  assert_int_equal(dr_names_each(two, 2, on_entry, on_bad, &s), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.lines[0], "bad@0: Input/output error");
}

static void test_lookup_order(void **state) {
  char t1[512], t2[512], err[512];
  snprintf(t1, sizeof t1, "prod = %s\nprod = %s\n", text_a, text_b); /* the first line wins */
  snprintf(t2, sizeof t2, "prod = %s\nstage = %s\nbroken = nope\n", text_b, text_b);
  const char *files[] = {"/nonexistent/names", file("first", t1), file("second", t2)};
  dr_names_entry e;
  assert_int_equal(dr_names_lookup(files, 3, "prod", &e, err, sizeof err), 0);
  assert_memory_equal(e.peer, peer_a, DR_ID_LEN);
  assert_string_equal(e.file, files[1]);
  assert_int_equal(e.line, 1);
  assert_int_equal(dr_names_lookup(files, 3, "stage", &e, err, sizeof err), 0);
  assert_memory_equal(e.peer, peer_b, DR_ID_LEN);
  assert_int_equal(e.line, 2);
  assert_int_equal(dr_names_lookup(files, 3, "nobody", &e, err, sizeof err), -ENOENT);
  assert_non_null(strstr(err, "no alias 'nobody'"));
  assert_non_null(strstr(err, files[2]));
  assert_int_equal(dr_names_lookup(files, 3, "broken", &e, err, sizeof err), -EBADMSG);
  assert_non_null(strstr(err, "second:3"));
  assert_int_equal(dr_names_lookup(files, 3, "not valid!", &e, err, sizeof err), -EINVAL);
  /* a file that exists but cannot be read stops the search: a later
   * file does not answer in its place */
  char sub[128];
  snprintf(sub, sizeof sub, "%s/unreadable", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  const char *blocked[] = {sub, files[2]};
  assert_true(dr_names_lookup(blocked, 2, "stage", &e, err, sizeof err) < 0);
  assert_non_null(strstr(err, "cannot read"));
}

static void test_split(void **state) {
  char label[DR_NAME_MAX + 1], err[256], ref[300];
  const char *owner;
  assert_int_equal(dr_names_split("web@prod", label, &owner, err, sizeof err), 0);
  assert_string_equal(label, "web");
  assert_string_equal(owner, "prod");
  assert_int_equal(dr_names_split("a@b@prod", label, &owner, err, sizeof err), 0); /* the last '@' */
  assert_string_equal(label, "a@b");
  assert_string_equal(owner, "prod");
  const char *bad[] = {"web", "@prod", "web@", "w\x01@prod", NULL};
  for (const char **b = bad; *b; b++) assert_int_equal(dr_names_split(*b, label, &owner, err, sizeof err), -EINVAL);
  memset(ref, 'l', 129);
  snprintf(ref + 129, sizeof ref - 129, "@prod");
  assert_int_equal(dr_names_split(ref, label, &owner, err, sizeof err), -EINVAL);
  assert_non_null(strstr(err, "1-128 bytes"));
  snprintf(ref + 128, sizeof ref - 128, "@prod"); /* 128 bytes: the most */
  assert_int_equal(dr_names_split(ref, label, &owner, err, sizeof err), 0);
  assert_int_equal(strlen(label), 128);
}

static void test_resource(void **state) {
  char t[256], err[512], ref[128], rid_text[DR_ID_TEXT_MAX];
  uint8_t rid[DR_ID_LEN], want[DR_ID_LEN];
  snprintf(t, sizeof t, "prod = %s\n", text_a);
  const char *files[] = {file("res", t)};
  dr_resource_id(want, peer_a, "web", 3);
  assert_int_equal(dr_names_resource(files, 1, "web@prod", rid, err, sizeof err), 0);
  assert_memory_equal(rid, want, DR_ID_LEN);
  snprintf(ref, sizeof ref, "web@%s", text_a);
  assert_int_equal(dr_names_resource(files, 1, ref, rid, err, sizeof err), 0);
  assert_memory_equal(rid, want, DR_ID_LEN);
  /* a resource id as it is */
  dr_id_encode(want, rid_text);
  memset(rid, 0, sizeof rid);
  assert_int_equal(dr_names_resource(files, 1, rid_text, rid, err, sizeof err), 0);
  assert_memory_equal(rid, want, DR_ID_LEN);
  /* the owner is another: another id */
  snprintf(ref, sizeof ref, "web@%s", text_b);
  assert_int_equal(dr_names_resource(files, 1, ref, rid, err, sizeof err), 0);
  assert_memory_not_equal(rid, want, DR_ID_LEN);
  assert_int_equal(dr_names_resource(files, 1, "web@nobody", rid, err, sizeof err), -ENOENT);
  assert_int_equal(dr_names_resource(files, 1, "not-an-id", rid, err, sizeof err), -EINVAL);
  assert_non_null(strstr(err, "is not a resource id"));
  assert_int_equal(dr_names_resource(files, 1, "web@not valid", rid, err, sizeof err), -EINVAL);
  assert_int_equal(dr_names_resource(files, 1, NULL, rid, err, sizeof err), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_search_path), cmocka_unit_test(test_alias_valid), cmocka_unit_test(test_each_parses),
      cmocka_unit_test(test_lookup_order), cmocka_unit_test(test_split), cmocka_unit_test(test_resource),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
