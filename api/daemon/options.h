/* options.h - private to dhtregd (api/daemon/main.c, api/daemon/options.c): its flags and their environment variables */
#ifndef DR_OPTIONS_H
#define DR_OPTIONS_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "api/rpc.h"
#include "node/node.h"

#define DR_MAX_BOOTSTRAP 64

typedef struct dr_options {
  dr_node_config node;
  dr_rpc_config rpc;
  dr_http_config http;
  dr_dns_config dns;
  char *bootstrap[DR_MAX_BOOTSTRAP];
  size_t n_bootstrap;
  char data_dir[PATH_MAX];
  char socket_path[PATH_MAX + 16];
  char *env_copies[64]; /* owned copies of environment values (entries point into them): one per flag at most */
  size_t n_env_copies;
  char *psk;           /* owned copy of the passphrase, wiped from argv */
  bool log_json;       /* --log-format json */
  const char *data_dir_arg, *socket_arg; /* --data-dir, --rpc-socket as given (or their variables) */
} dr_options;

/* Reads the flags of argv and, for every flag not given there, its
 * environment variable (DHTREG_ + the flag's name in capitals, '-' as '_';
 * --data-dir is DHTREG_HOME, --rpc-socket DHTREG_SOCKET). Returns -1 when
 * the daemon should go on, or the exit status (0 after --help/--version, 2
 * for a usage error, already printed to stderr, naming the flag or variable). */
int dr_options_parse(dr_options *o, int argc, char **argv);

void dr_options_free(dr_options *o);

#endif
