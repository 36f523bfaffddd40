/* cli_args.c - dhtreg's command line: global options anywhere on it, the command, its options; usage errors with "did you mean" */
#include "api/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { G_SOCKET, G_SOCKET_OWNER, G_OUTPUT, G_JSON, G_WIDE, G_UTC, G_TIMEOUT, G_HELP, G_VERSION };

const cli_opt cli_global_opts[] = {
    [G_SOCKET] = {"socket", 0, "PATH",
                  "the node's socket (env DHTREG_SOCKET; else\n"
                  "$DHTREG_HOME/rpc.sock; else ~/.dhtreg/rpc.sock)", false, "@file"},
    [G_SOCKET_OWNER] = {"socket-owner", 0, "USER",
                        "trust a socket of that user (env DHTREG_SOCKET_OWNER);\n"
                        "by default only a socket of yours or root's is used", false, "@user"},
    [G_OUTPUT] = {"output", 'o', "FORMAT",
                  "text (the default), json (the node's JSON result as it\n"
                  "is), or wide (text with every column)", false, "text json wide"},
    [G_JSON] = {"json", 0, NULL, "as -o json", false, NULL},
    [G_WIDE] = {"wide", 0, NULL, "as -o wide", false, NULL},
    [G_UTC] = {"utc", 0, NULL, "times in ISO 8601 UTC, not relative to now", false, NULL},
    [G_TIMEOUT] = {"timeout", 0, "S", "seconds to wait for the node's answer (default 30)", false, NULL},
    [G_HELP] = {"help", 'h', NULL, "this help; dhtreg help COMMAND for a command's", false, NULL},
    [G_VERSION] = {"version", 0, NULL, "the version of dhtreg ('dhtreg version': the node's too)", false, NULL},
    {NULL, 0, NULL, NULL, false, NULL},
};

const cli_cmd *cli_find(const char *name) {
  for (const cli_cmd *c = cli_cmds; c->name; c++)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

static void vmessage(const cli_cmd *cmd, const char *fmt, va_list ap) {
  fprintf(stderr, "dhtreg: ");
  if (cmd) fprintf(stderr, "%s: ", cmd->name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(cmd, fmt, ap);
  va_end(ap);
  if (cmd) cli_synopsis(stderr, cmd);
  else fprintf(stderr, "'dhtreg help' lists the commands and options\n");
  return CLI_USAGE;
}

/* A word that is not there: the message and a suggestion, no usage. */
static int typo(const cli_cmd *cmd, const char *what, const char *typed, const char *prefix,
                const char *suggestion, const char *hint) {
  char text[1200];
  snprintf(text, sizeof text, "unknown %s '%s'", what, typed);
  fprintf(stderr, "dhtreg: %s%s%s", cmd ? cmd->name : "", cmd ? ": " : "", text);
  if (suggestion) fprintf(stderr, "; did you mean '%s%s'?\n", prefix, suggestion);
  else fprintf(stderr, "; %s\n", hint);
  return CLI_USAGE;
}

int cli_split_words(const char *s, char **words, int max, char *buf, size_t cap) {
  int n = 0;
  size_t o = 0;
  while (*s) {
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) break;
    if (n == max) return -1;
    words[n++] = buf + o;
    char quote = 0;
    for (; *s && (quote || (*s != ' ' && *s != '\t')); s++) {
      if (!quote && (*s == '\'' || *s == '"')) quote = *s;
      else if (quote && *s == quote) quote = 0;
      else if (o + 1 < cap) buf[o++] = *s;
      else return -1;
    }
    if (quote || o + 1 >= cap) return -1;
    buf[o++] = '\0';
  }
  return n;
}

/* Optimal string alignment distance (Levenshtein with transpositions: a
 * swapped pair of letters counts one), of words of up to 63 bytes. */
static size_t distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 63 || m > 63) return 64;
  size_t d[64][64];
  for (size_t i = 0; i <= n; i++) d[i][0] = i;
  for (size_t j = 0; j <= m; j++) d[0][j] = j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      size_t cost = a[i - 1] != b[j - 1], best = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

const char *cli_suggest(const char *typed, const char *const *cands, size_t n) {
  const char *best = NULL, *prefixed = NULL;
  size_t best_d = 64, len = strlen(typed), n_prefixed = 0;
  size_t max_d = len <= 2 ? 0 : len <= 4 ? 1 : 2;
  for (size_t i = 0; i < n; i++) {
    size_t d = distance(typed, cands[i]);
    if (d < best_d) {
      best_d = d;
      best = cands[i];
    }
    if (len >= 2 && strncmp(cands[i], typed, len) == 0) {
      prefixed = cands[i];
      n_prefixed++;
    }
  }
  if (best && best_d <= max_d && best_d < strlen(best)) return best;
  return n_prefixed == 1 ? prefixed : NULL;
}

/* The commands' names, or an option list's, for cli_suggest. */
static size_t command_names(const char **out, size_t cap) {
  size_t n = 0;
  for (const cli_cmd *c = cli_cmds; c->name && n < cap; c++)
    if (!c->hidden) out[n++] = c->name;
  return n;
}

static size_t option_names(const cli_opt *opts, const char **out, size_t n, size_t cap) {
  for (const cli_opt *o = opts; o && o->name && n < cap; o++) out[n++] = o->name;
  return n;
}

static const cli_opt *find_opt(const cli_opt *opts, const char *name, size_t len, char short_name) {
  for (const cli_opt *o = opts; o && o->name; o++) {
    if (short_name ? o->short_name == short_name : strlen(o->name) == len && strncmp(o->name, name, len) == 0)
      return o;
  }
  return NULL;
}

static bool any_command_has(const char *name, size_t len) {
  for (const cli_cmd *c = cli_cmds; c->name; c++)
    if (find_opt(c->opts, name, len, 0)) return true;
  return false;
}

static int unknown_option(const cli_cmd *cmd, const char *s) {
  char name[128];
  const char *cands[64];
  bool is_long = s[1] == '-';
  snprintf(name, sizeof name, "%.*s", (int)strcspn(s + (is_long ? 2 : 1), "="), s + (is_long ? 2 : 1));
  size_t n = option_names(cli_global_opts, cands, 0, 64);
  if (cmd) n = option_names(cmd->opts, cands, n, 64);
  const char *sug = is_long ? cli_suggest(name, cands, n) : NULL;
  char hint[200];
  if (cmd) snprintf(hint, sizeof hint, "'dhtreg %s --help' lists its options", cmd->name);
  else if (is_long && any_command_has(name, strlen(name)))
    snprintf(hint, sizeof hint, "it is an option of a command: put it after the command");
  else snprintf(hint, sizeof hint, "'dhtreg help' lists the options");
  char typed[160];
  snprintf(typed, sizeof typed, "%.*s", (int)strcspn(s, "="), s);
  return typo(cmd, "option", typed, "--", sug, hint);
}

/* Applies a global option. Returns -1 to go on, or an exit status. */
static int apply_global(cli *c, const cli_cmd *cmd, int which, const char *v, bool *help) {
  char *end;
  switch (which) {
  case G_SOCKET: c->socket = v; break;
  case G_SOCKET_OWNER: c->socket_owner = v; break;
  case G_OUTPUT:
    if (strcmp(v, "json") && strcmp(v, "text") && strcmp(v, "wide"))
      return cli_usage_error(cmd, "--output: '%s' is not text, json or wide", v);
    c->json = strcmp(v, "json") == 0;
    c->wide = strcmp(v, "wide") == 0;
    break;
  case G_JSON: c->json = true; c->wide = false; break;
  case G_WIDE: c->wide = true; c->json = false; break;
  case G_UTC: c->utc = true; break;
  case G_TIMEOUT: {
    errno = 0;
    long t = strtol(v, &end, 10);
    if (errno || *end || end == v || t < 1 || t > 86400)
      return cli_usage_error(cmd, "--timeout: '%s' is not 1-86400 seconds", v);
    c->timeout_s = (int)t;
    break;
  }
  case G_HELP: *help = true; break;
  case G_VERSION: return cli_version_line();
  }
  return -1;
}

/* One option word s (its value perhaps the next word). Returns -1 to go
 * on, or an exit status. */
static int option(cli *c, const cli_cmd *cmd, cli_args *a, int argc, char **argv, int *i, bool *help) {
  const char *s = argv[*i], *name, *v = NULL;
  size_t len;
  char short_name = 0;
  if (s[1] == '-') { /* --name or --name=value */
    name = s + 2;
    len = strcspn(name, "=");
    if (name[len]) v = name + len + 1;
  } else { /* -x, -xVALUE */
    short_name = s[1];
    name = s + 1;
    len = 1;
    if (s[2]) v = s + 2;
  }
  const cli_opt *o = cmd ? find_opt(cmd->opts, name, len, short_name) : NULL;
  bool global = !o;
  if (global) o = find_opt(cli_global_opts, name, len, short_name);
  if (!o) return unknown_option(cmd, s);
  if (!o->arg && v) {
    if (short_name) return unknown_option(cmd, s);
    return cli_usage_error(cmd, "--%s takes no value", o->name);
  }
  if (o->arg && !v) {
    if (*i + 1 >= argc) return cli_usage_error(cmd, "--%s needs a value (%s)", o->name, o->arg);
    v = argv[++*i];
  }
  if (global) return apply_global(c, cmd, (int)(o - cli_global_opts), v, help);
  int k = (int)(o - cmd->opts);
  if (a->n[k] && !o->repeat) return cli_usage_error(cmd, "--%s given twice", o->name);
  if (a->n[k] >= CLI_MAX_VALUES) return cli_usage_error(cmd, "--%s given too often", o->name);
  a->val[k][a->n[k]++] = v ? v : "";
  return -1;
}

/* The name of the n-th positional argument in cmd->args ("RESOURCE
 * SERVICE_ID"): its last word for the ones beyond. */
static void arg_name(const cli_cmd *cmd, int n, char *out, size_t len) {
  const char *p = cmd->args ? cmd->args : "ARGUMENT";
  for (int k = 0; k < n; k++) {
    const char *sp = strchr(p, ' ');
    if (!sp) break;
    p = sp + 1;
  }
  snprintf(out, len, "%.*s", (int)strcspn(p, " "), p);
  for (char *q = out; *q; q++)
    if (*q == '[' || *q == ']' || *q == '.') *q = '\0';
}

int cli_parse(cli *c, int argc, char **argv, const cli_cmd **cmdp, cli_args *a) {
  const cli_cmd *cmd = NULL;
  bool help = false, dashdash = false;
  memset(a, 0, sizeof *a);
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (!dashdash && strcmp(s, "--") == 0) {
      dashdash = true;
      continue;
    }
    if (!dashdash && s[0] == '-' && s[1]) {
      int r = option(c, cmd, a, argc, argv, &i, &help);
      if (r >= 0) return r;
      continue;
    }
    if (!cmd) {
      if (!(cmd = cli_find(s))) {
        const char *names[64];
        size_t n = command_names(names, 64);
        return typo(NULL, "command", s, "", cli_suggest(s, names, n), "'dhtreg help' lists the commands");
      }
      continue;
    }
    if (a->n_pos >= cmd->max_pos || a->n_pos >= CLI_MAX_POS)
      return cli_usage_error(cmd, "unexpected argument '%s'", s);
    a->pos[a->n_pos++] = s;
  }
  if (help) {
    if (cmd) cli_cmd_help(stdout, cmd);
    else cli_usage(stdout);
    return CLI_OK;
  }
  if (!cmd) {
    fprintf(stderr, "dhtreg: no command given\n\n");
    cli_usage(stderr);
    return CLI_USAGE;
  }
  if (a->n_pos < cmd->min_pos) {
    char what[64];
    arg_name(cmd, a->n_pos, what, sizeof what);
    return cli_usage_error(cmd, "missing %s", what);
  }
  *cmdp = cmd;
  return -1;
}
