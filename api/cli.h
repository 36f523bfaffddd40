/* cli.h - private to the CLI: what cli.c, cli_cmds.c and cli_print.c share */
#ifndef DR_CLI_H
#define DR_CLI_H

#include <jansson.h>
#include <stdbool.h>

typedef struct cli {
  const char *socket;
  const char *socket_owner; /* --socket-owner: a user besides this one and root trusted to run the node */
  bool json;
  int timeout_s;
} cli;

typedef int (*cli_cmd_fn)(cli *c, int argc, char **argv);

typedef struct cli_cmd {
  const char *name;
  cli_cmd_fn fn;
  const char *summary;
  const char *usage; /* synopsis, options and an example */
} cli_cmd;

extern const cli_cmd cli_cmds[];

/* Calls method with params (stolen) and returns the result (caller decrefs),
 * or prints the error to stderr and returns NULL. */
json_t *cli_call(cli *c, const char *method, json_t *params);

/* Opens a connection and sends one request: the fd, or -1 (error printed). */
int cli_send(cli *c, const char *method, json_t *params);
/* Reads one JSON line from fd within the timeout; NULL on EOF/timeout
 * (*eof tells which). */
json_t *cli_read(cli *c, int fd, bool *eof);

/* Usage error: message, then the command's usage, on stderr; returns 2. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const cli_cmd *cli_find(const char *name);

/* Printing (cli_print.c). Everything a node sends is printed through
 * cli_escape: control characters and bytes that are not UTF-8 escaped. */
size_t cli_escape(const char *in, char *out, size_t cap);
void cli_print_json(json_t *v);
void cli_print_kv(json_t *obj, const char *const *keys);
void cli_print_resource(json_t *res);
void cli_print_record(json_t *rec);
void cli_print_records_table(json_t *records, bool with_lease);
void cli_print_resources_table(json_t *resources);
void cli_print_status(json_t *info);
void cli_print_event(json_t *params);
/* "4m58s" for a number of seconds (negative: "expired") */
void cli_fmt_duration(long long s, char *out, size_t len);

#endif
