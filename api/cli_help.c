/* cli_help.c - dhtreg's help, version and bash completion, all written from the tables of commands and options */
#include "api/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef DHTREG_GIT_COMMIT
#define DHTREG_GIT_COMMIT "unknown"
#endif
#ifndef DHTREG_OPENDHT_VERSION
#define DHTREG_OPENDHT_VERSION "unknown"
#endif

static const char exit_statuses[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  an error: the node answered with one, no node answered, or not in time\n"
    "  2  bad usage: an unknown command or option, a bad or missing argument, one\n"
    "     over a limit (checked here first), or one the node refused as invalid\n"
    "     (-32602: a TTL below its --min-ttl, a bootstrap name it cannot resolve)\n"
    "  3  not found: no such resource, record, alias or subscription\n";

static const char resources_about[] =
    "A RESOURCE is a resource id, or LABEL@ALIAS or LABEL@PEER_ID: the resource\n"
    "LABEL of that owner, its id computed here. An ALIAS names an owner's peer\n"
    "id in a names file ($DHTREG_NAMES, ~/.dhtreg/names, /etc/dhtreg/names;\n"
    "lines 'alias = PEER_ID'): 'dhtreg help names'.\n";

/* "--name ARG" or "-o, --name ARG" */
static void opt_label(const cli_opt *o, char *out, size_t len) {
  char shortp[8] = "";
  if (o->short_name) snprintf(shortp, sizeof shortp, "-%c, ", o->short_name);
  snprintf(out, len, "%s--%s%s%s", shortp, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Options, aligned, their help's later lines indented under the first. */
static void print_opts(FILE *out, const cli_opt *opts) {
  size_t w = 0;
  char label[128];
  for (const cli_opt *o = opts; o && o->name; o++) {
    opt_label(o, label, sizeof label);
    if (strlen(label) > w) w = strlen(label);
  }
  for (const cli_opt *o = opts; o && o->name; o++) {
    opt_label(o, label, sizeof label);
    fprintf(out, "  %-*s  ", (int)w, label);
    for (const char *p = o->help; *p; p++) {
      fputc(*p, out);
      if (*p == '\n') fprintf(out, "  %-*s  ", (int)w, "");
    }
    fprintf(out, "\n");
  }
}

static size_t count_opts(const cli_opt *opts) {
  size_t n = 0;
  while (opts && opts[n].name) n++;
  return n;
}

void cli_synopsis(FILE *out, const cli_cmd *cmd) {
  fprintf(out, "usage: dhtreg %s%s%s", cmd->name, cmd->args ? " " : "", cmd->args ? cmd->args : "");
  size_t n = count_opts(cmd->opts);
  if (n > 3) {
    fprintf(out, " [OPTIONS]");
  } else {
    char label[128];
    for (size_t i = 0; i < n; i++) {
      const cli_opt *o = &cmd->opts[i];
      opt_label(o, label, sizeof label);
      fprintf(out, " [%s]%s", label, o->repeat ? "..." : "");
    }
  }
  fprintf(out, "\n");
}

void cli_usage(FILE *out) {
  fprintf(out,
          "usage: dhtreg [OPTIONS] COMMAND [ARGS...]\n"
          "\n"
          "The command line of a dhtreg node (dhtregd), over its JSON-RPC socket.\n"
          "Options may come before or after the command; '--' ends them.\n"
          "\n"
          "Commands:\n");
  for (const cli_cmd *c = cli_cmds; c->name; c++)
    if (!c->hidden) fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out, "\nOptions:\n");
  print_opts(out, cli_global_opts);
  fprintf(out, "\n%s\n%s", resources_about, exit_statuses);
}

void cli_cmd_help(FILE *out, const cli_cmd *cmd) {
  cli_synopsis(out, cmd);
  fprintf(out, "\n%s\n", cmd->summary);
  if (count_opts(cmd->opts)) {
    fprintf(out, "\n");
    print_opts(out, cmd->opts);
  }
  if (cmd->about) fprintf(out, "\n%s", cmd->about);
  fprintf(out, "\nGlobal options: --socket PATH, -o json|wide, --utc, --timeout S (dhtreg help)\n");
  if (cmd->example) fprintf(out, "\nexample: %s\n", cmd->example);
}

int cli_cmd_help_fn(cli *c, const cli_cmd *cmd, const cli_args *a) {
  if (!a->n_pos) {
    cli_usage(stdout);
    return CLI_OK;
  }
  const cli_cmd *of = cli_find(a->pos[0]);
  if (!of) {
    const char *names[64];
    size_t n = 0;
    for (const cli_cmd *k = cli_cmds; k->name && n < 64; k++)
      if (!k->hidden) names[n++] = k->name;
    const char *sug = cli_suggest(a->pos[0], names, n);
    fprintf(stderr, "dhtreg: help: unknown command '%s'", a->pos[0]);
    if (sug) fprintf(stderr, "; did you mean '%s'?\n", sug);
    else fprintf(stderr, "; 'dhtreg help' lists the commands\n");
    return CLI_USAGE;
  }
  cli_cmd_help(stdout, of);
  return CLI_OK;
}

/* ---- version ---------------------------------------------------------------------------- */

int cli_version_line(void) {
  printf("dhtreg %s\n", DHTREG_VERSION);
  return CLI_OK;
}

/* The CLI's version and commit, the OpenDHT it was built against, and the
 * node's version when a node answers (no node is no failure). */
int cli_cmd_version(cli *c, const cli_cmd *cmd, const cli_args *a) {
  if (!c->json) {
    printf("dhtreg   %s (commit %s)\n", DHTREG_VERSION, DHTREG_GIT_COMMIT);
    printf("opendht  %s (the version this build of dhtreg was configured against)\n", DHTREG_OPENDHT_VERSION);
    fflush(stdout);
  }
  json_t *info = cli_call(c, "node.info", NULL);
  const char *v = json_string_value(json_object_get(info, "version"));
  char node[128], sock[600];
  cli_escape(v, node, sizeof node);
  cli_escape(c->socket, sock, sizeof sock);
  if (c->json) {
    json_t *out = json_pack("{s:{s:s, s:s, s:s}, s:o}", "dhtreg", "version", DHTREG_VERSION, "commit",
                            DHTREG_GIT_COMMIT, "opendht", DHTREG_OPENDHT_VERSION, "node",
                            info ? json_pack("{s:s, s:s}", "version", v ? v : "", "socket", c->socket)
                                 : json_null());
    cli_print_json(out);
    json_decref(out);
  } else if (info) {
    printf("node     %s (dhtregd at %s)\n", *node ? node : "?", sock);
  } else {
    printf("node     none answered at %s\n", sock);
  }
  json_decref(info);
  return CLI_OK;
}

/* ---- bash completion ------------------------------------------------------------------------ */

/* Writes w after sep (but for the first word). */
static void word(FILE *out, bool *first, const char *sep, const char *prefix, const char *w) {
  fprintf(out, "%s%s%s", *first ? "" : sep, prefix, w);
  *first = false;
}

/* The options' names: "--a --b" (with_short: "-o --output" too), or with
 * sep " | " and only those taking a value, a case pattern. */
static void words_of(const cli_opt *opts, bool with_short, bool valued_only, const char *sep, FILE *out) {
  bool first = true;
  for (const cli_opt *o = opts; o && o->name; o++) {
    if (valued_only && !o->arg) continue;
    char s[3] = {'-', o->short_name, '\0'};
    if (with_short && o->short_name) word(out, &first, sep, "", s);
    word(out, &first, sep, "--", o->name);
  }
}

/* The case arms completing the values of options: one for each option
 * with values to offer, one for the others (nothing to offer). */
static void value_arms(const cli_opt *opts, const char *indent, FILE *out) {
  bool first = true;
  for (const cli_opt *o = opts; o && o->name; o++) {
    if (!o->arg || !o->complete) continue;
    fprintf(out, "%s", indent);
    if (o->short_name) fprintf(out, "-%c | ", o->short_name);
    fprintf(out, "--%s)\n%s  ", o->name, indent);
    if (strcmp(o->complete, "@file") == 0)
      fprintf(out, "compopt -o filenames 2>/dev/null\n%s  COMPREPLY=($(compgen -f -- \"$cur\"))\n", indent);
    else if (strcmp(o->complete, "@user") == 0) fprintf(out, "COMPREPLY=($(compgen -u -- \"$cur\"))\n");
    else if (strcmp(o->complete, "@hostname") == 0) fprintf(out, "COMPREPLY=($(compgen -A hostname -- \"$cur\"))\n");
    else fprintf(out, "COMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n", o->complete);
    fprintf(out, "%s  return\n%s  ;;\n", indent, indent);
  }
  for (const cli_opt *o = opts; o && o->name; o++) {
    if (!o->arg || o->complete) continue;
    if (first) fprintf(out, "%s", indent);
    char s[3] = {'-', o->short_name, '\0'};
    if (o->short_name) word(out, &first, " | ", "", s);
    word(out, &first, " | ", "--", o->name);
  }
  if (!first) fprintf(out, ") return ;;\n");
}

static void command_words(FILE *out) {
  bool first = true;
  for (const cli_cmd *k = cli_cmds; k->name; k++)
    if (!k->hidden) word(out, &first, " ", "", k->name);
}

static void print_bash(FILE *out) {
  fprintf(out,
          "# dhtreg - bash completion of dhtreg, written by 'dhtreg completion bash' from its tables of commands and options\n"
          "# shellcheck shell=bash disable=SC2207\n"
          "\n"
          "_dhtreg() {\n"
          "  local cur prev words cword\n"
          "  if declare -F _init_completion >/dev/null 2>&1; then\n"
          "    _init_completion || return\n"
          "  else\n"
          "    words=(\"${COMP_WORDS[@]}\") cword=$COMP_CWORD\n"
          "    cur=${words[cword]} prev=${words[cword - 1]}\n"
          "  fi\n"
          "  local global='");
  words_of(cli_global_opts, true, false, " ", out);
  fprintf(out, "'\n  case $prev in\n");
  value_arms(cli_global_opts, "    ", out);
  fprintf(out,
          "  esac\n"
          "\n"
          "  # the command: the first word that is not an option or an option's value\n"
          "  local i cmd=''\n"
          "  for ((i = 1; i < cword; i++)); do\n"
          "    case ${words[i]} in\n"
          "      --)\n"
          "        ((i + 1 < cword)) && cmd=${words[i + 1]}\n"
          "        break\n"
          "        ;;\n"
          "      ");
  words_of(cli_global_opts, true, true, " | ", out);
  fprintf(out,
          ") ((i++)) ;;\n"
          "      -*) ;;\n"
          "      *)\n"
          "        cmd=${words[i]}\n"
          "        break\n"
          "        ;;\n"
          "    esac\n"
          "  done\n"
          "\n"
          "  local opts='' args=''\n"
          "  case $cmd in\n"
          "    '')\n"
          "      if [[ $cur == -* ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$global\" -- \"$cur\"))\n"
          "      else\n"
          "        COMPREPLY=($(compgen -W '");
  command_words(out);
  fprintf(out,
          "' -- \"$cur\"))\n"
          "      fi\n"
          "      return\n"
          "      ;;\n");
  for (const cli_cmd *k = cli_cmds; k->name; k++) {
    if (!k->opts && !k->complete) continue;
    fprintf(out, "    %s)\n", k->name);
    if (k->opts) {
      fprintf(out, "      opts='");
      words_of(k->opts, false, false, " ", out);
      fprintf(out, "'\n");
    }
    if (k->complete && strcmp(k->complete, "@command") == 0) {
      fprintf(out, "      args='");
      command_words(out);
      fprintf(out, "'\n");
    } else if (k->complete) {
      fprintf(out, "      args='%s'\n", k->complete);
    }
    bool valued = false;
    for (const cli_opt *o = k->opts; o && o->name; o++) valued |= o->arg != NULL;
    if (valued) {
      fprintf(out, "      case $prev in\n");
      value_arms(k->opts, "        ", out);
      fprintf(out, "      esac\n");
    }
    fprintf(out, "      ;;\n");
  }
  fprintf(out,
          "  esac\n"
          "  if [[ $cur == -* ]]; then\n"
          "    COMPREPLY=($(compgen -W \"$opts $global\" -- \"$cur\"))\n"
          "  elif [[ -n $args ]]; then\n"
          "    COMPREPLY=($(compgen -W \"$args\" -- \"$cur\"))\n"
          "  fi\n"
          "} &&\n"
          "  complete -F _dhtreg dhtreg\n");
}

int cli_cmd_completion(cli *c, const cli_cmd *cmd, const cli_args *a) {
  if (strcmp(a->pos[0], "bash") != 0)
    return cli_usage_error(cmd, "'%s': only bash is supported", a->pos[0]);
  print_bash(stdout);
  return CLI_OK;
}
