/* log.h - levelled logging to stderr; each node carries its own logger */
#ifndef DR_LOG_H
#define DR_LOG_H

#include <stdbool.h>

typedef enum dr_log_level {
  DR_LOG_ERROR = 0,
  DR_LOG_WARN = 1,
  DR_LOG_INFO = 2,
  DR_LOG_DEBUG = 3,
} dr_log_level;

typedef struct dr_logger {
  dr_log_level level;
  char name[24]; /* shown in every line: tells nodes of one process apart */
} dr_logger;

/* Parses "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int dr_log_parse_level(const char *s, dr_log_level *out);

/* How every logger of the process writes (call once, before any thread
 * logs): JSON objects of time, level, node and msg when json, else text
 * lines; either with sd-daemon priority prefixes ("<6>") when stderr is
 * the journal's stream (JOURNAL_STREAM), and then without the time. */
void dr_log_setup(bool json);

void dr_log_write(const dr_logger *lg, dr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DR_LOG(lg, lvl, ...)                                      \
  do {                                                            \
    if ((lg) && (lvl) <= (lg)->level) dr_log_write((lg), (lvl), __VA_ARGS__); \
  } while (0)
#define DR_ERROR(lg, ...) DR_LOG(lg, DR_LOG_ERROR, __VA_ARGS__)
#define DR_WARN(lg, ...) DR_LOG(lg, DR_LOG_WARN, __VA_ARGS__)
#define DR_INFO(lg, ...) DR_LOG(lg, DR_LOG_INFO, __VA_ARGS__)
#define DR_DEBUG(lg, ...) DR_LOG(lg, DR_LOG_DEBUG, __VA_ARGS__)

#endif
