/* cli_run.h - for the CLI's integration tests: runs the dhtreg program and keeps what it printed
 *
 * Private to tests/integration/test_cli*.c and test_create.c (one translation unit each: the
 * buffers are per test program); include it after cmocka.h.
 */
#ifndef DR_CLI_RUN_H
#define DR_CLI_RUN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support/harness.h"

/* What the last run printed: stdout, stderr, and both (stdout first). */
static char cli_stdout[65536], cli_stderr[16384], out[65536 + 16384];

static void cli_slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  size_t len = f ? fread(buf, 1, cap - 1, f) : 0;
  buf[len] = '\0';
  if (f) fclose(f);
}

/* Runs `env dhtreg ARGS` (env: "VAR=value ..." or NULL; args: a shell
 * fragment) with no --socket of its own; returns the exit status. */
static int cli_env(const char *env, const char *args) {
  static char cmd[20000];
  char o[400], e[400];
  snprintf(o, sizeof o, "%s/cli.stdout", h_tmpdir());
  snprintf(e, sizeof e, "%s/cli.stderr", h_tmpdir());
  snprintf(cmd, sizeof cmd, "env %s %s/dhtreg %s >'%s' 2>'%s' </dev/null", env ? env : "", DR_BIN_DIR, args, o, e);
  int st = system(cmd);
  cli_slurp(o, cli_stdout, sizeof cli_stdout);
  cli_slurp(e, cli_stderr, sizeof cli_stderr);
  snprintf(out, sizeof out, "%s%s", cli_stdout, cli_stderr);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs dhtreg --socket SOCKET ARGS against node n (NULL: a socket where no
 * node is). */
static int cli(const h_node *n, const char *args) {
  static char full[16384];
  snprintf(full, sizeof full, "--socket '%s' %s", n ? n->sock : "/nonexistent/x.sock", args);
  return cli_env(NULL, full);
}

static void expect_out(const char *text) {
  if (!strstr(out, text)) fail_msg("expected \"%s\" in:\n%s", text, out);
}

static inline void expect_no(const char *text) {
  if (strstr(out, text)) fail_msg("did not expect \"%s\" in:\n%s", text, out);
}

/* The first line of stdout (an id), into buf. */
static inline void first_line(char *buf, size_t len) {
  snprintf(buf, len, "%.*s", (int)strcspn(cli_stdout, "\n"), cli_stdout);
}

#endif
