/* cli.h - private to the CLI: what cli.c, cli_args.c, cli_help.c, cli_cmds.c, cli_records.c and cli_print.c share */
#ifndef DR_CLI_H
#define DR_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "crypto/crypto.h" /* DR_ID_TEXT_MAX */

/* Exit statuses (dhtreg help shows them; so do the README and the man page). */
#define CLI_OK 0
#define CLI_ERROR 1     /* the node answered with an error, no node answered, or not in time */
/* an unknown command or option, a bad or missing argument: one this CLI
 * refuses itself, or one the node refuses as invalid (-32602: a TTL under
 * its --min-ttl, a bootstrap name it cannot resolve, a stale cursor) */
#define CLI_USAGE 2
#define CLI_NOT_FOUND 3 /* no such resource, record, alias or subscription */

#define CLI_NOT_FOUND_CODE (-32004)      /* the JSON-RPC error "not found" */
#define CLI_INVALID_PARAMS_CODE (-32602) /* the JSON-RPC error "invalid params" */

typedef struct cli {
  const char *socket;
  const char *socket_owner; /* --socket-owner: a user besides this one and root trusted to run the node */
  bool json;                /* -o json: the node's result as it is */
  bool wide;                /* -o wide: every column */
  bool utc;                 /* --utc: times in ISO 8601 UTC, not relative to now */
  int timeout_s;
  /* Set by cli_call (through cli_rpc_error) when it returns NULL: the
   * node's JSON-RPC error code, or 0 when no answer came at all. */
  long long rpc_error;
} cli;

/* An option: of a command, or global (cli_global_opts). */
typedef struct cli_opt {
  const char *name; /* the long name, without "--" */
  char short_name;  /* 'o' for -o, or 0 */
  const char *arg;  /* the value's name in the help ("N"), or NULL for a flag */
  const char *help; /* lines after the first indented by the help */
  bool repeat;      /* may be given more than once */
  /* what completion offers for the value: words ("open owner"), "@file",
   * "@user", or NULL for nothing */
  const char *complete;
} cli_opt;

#define CLI_MAX_OPTS 16 /* options of one command */
#define CLI_MAX_VALUES 64
#define CLI_MAX_POS 64

/* A command line, parsed against its command's options. */
typedef struct cli_args {
  const char *pos[CLI_MAX_POS];
  int n_pos;
  const char *val[CLI_MAX_OPTS][CLI_MAX_VALUES]; /* by the index of the option in cmd->opts */
  int n[CLI_MAX_OPTS];
} cli_args;

struct cli_cmd;
typedef int (*cli_cmd_fn)(cli *c, const struct cli_cmd *cmd, const cli_args *a);

typedef struct cli_cmd {
  const char *name;
  cli_cmd_fn fn;
  const char *summary; /* one line, in dhtreg help's list */
  const char *args;    /* its positional arguments, "RESOURCE SERVICE_ID" */
  int min_pos, max_pos;
  const cli_opt *opts; /* NULL-name terminated, or NULL */
  const char *about;   /* what its help says after the options, or NULL */
  const char *example;
  /* what completion offers for its arguments: words, "@command", or NULL */
  const char *complete;
  bool hidden; /* not in dhtreg help's list, nor offered by completion */
} cli_cmd;

extern const cli_cmd cli_cmds[];
extern const cli_opt cli_global_opts[];

const cli_cmd *cli_find(const char *name);

/* ---- transport (cli.c) ---- */

/* Calls method with params (stolen) and returns the result (caller decrefs),
 * or prints the error to stderr and returns NULL (c->rpc_error says which). */
json_t *cli_call(cli *c, const char *method, json_t *params);

/* Opens a connection and sends one request: the fd, or -1 (error printed). */
int cli_send(cli *c, const char *method, json_t *params);
/* Reads one JSON line from fd within the timeout; NULL on EOF/timeout
 * (*eof tells which). */
json_t *cli_read(cli *c, int fd, bool *eof);

/* An error answer of the node: prints it to stderr and sets c->rpc_error. */
void cli_rpc_error(cli *c, long long code, const char *message);

/* The exit status of a failed call: CLI_NOT_FOUND for "not found",
 * CLI_USAGE for "invalid params" (an argument the node refused), else
 * CLI_ERROR. */
int cli_failed(const cli *c);

/* ---- the command line (cli_args.c) ---- */

/* Parses argv: global options anywhere, the command, its options and
 * arguments ("--" ends the options). Returns -1 with *cmd and *a set, or an
 * exit status (0 after --help or --version, 2 after a usage error, printed). */
int cli_parse(cli *c, int argc, char **argv, const cli_cmd **cmd, cli_args *a);

/* Usage error of cmd (or NULL): "dhtreg: CMD: message", then its synopsis
 * line, on stderr; returns CLI_USAGE. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Splits s into at most max words at spaces and tabs, as a shell would
 * without expanding anything: '...' and "..." group words (quotes
 * removed). The words are written into buf (cap bytes). Returns their
 * count, or -1 (too many, too long, or an unclosed quote). */
int cli_split_words(const char *s, char **words, int max, char *buf, size_t cap);

/* The closest of n candidates to typed (an edit distance small for its
 * length, or typed a prefix of only it), or NULL. */
const char *cli_suggest(const char *typed, const char *const *cands, size_t n);

/* ---- what commands share (cli_cmds.c) ----
 * Each returns -1 when the argument is good, else an exit status (the
 * reason printed). */
int cli_parse_int(const cli_cmd *cmd, const char *name, const char *s, long long min, long long max,
                  json_int_t *out);
/* A RESOURCE (an id, LABEL@ALIAS or LABEL@PEER_ID) as an id's text. */
int cli_resource_arg(const cli_cmd *cmd, const char *ref, char out[DR_ID_TEXT_MAX]);
/* A LABEL or SERVICE_ID (what) the node is to sign: one of the names it
 * signs (rule: dr_label_refusal or dr_service_id_refusal). */
int cli_signed_name_arg(const cli_cmd *cmd, const char *what, dr_name_rule rule, const char *s);
/* Runs a call and prints its result with print (or as JSON); done: what
 * to call it when "published" is false, or NULL. Returns an exit status. */
typedef void (*cli_print_fn)(const cli *c, json_t *res);
int cli_run(cli *c, const char *method, json_t *params, cli_print_fn print, const char *done);

/* ---- the commands that change a record (cli_records.c) ---- */
extern const cli_opt cli_advertise_opts[];
int cli_cmd_advertise(cli *c, const cli_cmd *cmd, const cli_args *a);
int cli_cmd_renew(cli *c, const cli_cmd *cmd, const cli_args *a);
int cli_cmd_withdraw(cli *c, const cli_cmd *cmd, const cli_args *a);

/* ---- help, version, completion (cli_help.c) ---- */

void cli_usage(FILE *out);
void cli_cmd_help(FILE *out, const cli_cmd *cmd);
/* "usage: dhtreg NAME ARGS [OPTIONS]" and a newline */
void cli_synopsis(FILE *out, const cli_cmd *cmd);
int cli_version_line(void); /* --version: prints "dhtreg X.Y.Z" */
int cli_cmd_help_fn(cli *c, const cli_cmd *cmd, const cli_args *a);
int cli_cmd_version(cli *c, const cli_cmd *cmd, const cli_args *a);
int cli_cmd_completion(cli *c, const cli_cmd *cmd, const cli_args *a);

/* ---- printing (cli_print.c) ----
 * Everything a node sends is printed through cli_escape: control
 * characters and bytes that are not UTF-8 escaped. */
size_t cli_escape(const char *in, char *out, size_t cap);
/* A value of the node as one unambiguous word of a table or line: itself
 * when it is printable ASCII without a space, quote, backslash, ',' or '='
 * (and not "-", which stands for an empty value); else in double quotes,
 * with '"' and '\' backslashed and cli_escape's escapes. Returns the length
 * written into out (cap bytes, cut but still closed when it does not fit). */
size_t cli_quote(const char *in, char *out, size_t cap);
void cli_print_json(json_t *v);
void cli_print_kv(const cli *c, json_t *obj, const char *const *keys);
void cli_print_resource(const cli *c, json_t *res);
void cli_print_record(const cli *c, json_t *rec);
/* The records of a resolve; with_lease: list's own advertisements */
void cli_print_records_table(const cli *c, json_t *records, bool with_lease);
void cli_print_resources_table(const cli *c, json_t *resources);
void cli_print_status(const cli *c, json_t *info);
void cli_print_event(const cli *c, json_t *params);
void cli_print_names(const cli *c, json_t *names);
/* "4m58s" for a number of seconds */
void cli_fmt_duration(long long s, char *out, size_t len);
/* A Unix time: "in 4m58s", "2m05s ago", or with --utc "2026-11-28T10:58:23Z" */
void cli_fmt_time(const cli *c, long long t, char *out, size_t len);

#endif
