/* log.c - levelled logging to stderr: text lines, sd-daemon priority prefixes under journald, or JSON objects */
#include "node/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* sd-daemon(3)'s priorities of the levels: err, warning, info, debug */
static const char *const journal_prefix[] = {"<3>", "<4>", "<6>", "<7>"};

/* Set once at start, before any thread logs. */
static bool log_json, log_journal;

int dr_log_parse_level(const char *s, dr_log_level *out) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) {
      *out = (dr_log_level)i;
      return 0;
    }
  return -EINVAL;
}

void dr_log_setup(bool json) {
  log_json = json;
  /* systemd sets JOURNAL_STREAM to the device and inode of the stream it
   * gave as stderr: prefixes are for that stream only (not for a shell's
   * redirection inherited from a unit) */
  const char *js = getenv("JOURNAL_STREAM");
  unsigned long long dev, ino;
  struct stat st;
  log_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
                (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void dr_log_write(const dr_logger *lg, dr_log_level level, const char *fmt, ...) {
  char msg[1024], ts[64];
  struct timespec now;
  struct tm tm;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *prefix = log_journal ? journal_prefix[level] : "";
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
  /* one fprintf per line: lines of several threads or nodes do not interleave */
  if (log_json) {
    json_t *o = json_pack("{s:s, s:s, s:s%}", "time", ts, "level", level_names[level], "msg", msg, strlen(msg));
    if (o && lg->name[0]) json_object_set_new(o, "node", json_string(lg->name));
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (line) {
      fprintf(stderr, "%s%s\n", prefix, line);
      free(line);
      return;
    }
  }
  if (log_journal) /* the journal has the time */
    fprintf(stderr, "%s%s%s%s\n", prefix, lg->name, lg->name[0] ? ": " : "", msg);
  else
    fprintf(stderr, "%s %-5s %s%s%s\n", ts, level_names[level], lg->name, lg->name[0] ? ": " : "", msg);
}
