/* rpc_stream.h - private to api/: splits a byte stream into top-level JSON texts
 *
 * Clients may send requests back to back with or without newlines between
 * them, split across any number of writes. The splitter tracks bracket depth
 * outside strings and hands out each complete top-level object or array;
 * anything else at top level is garbage, skipped up to the next newline.
 */
#ifndef DR_RPC_STREAM_H
#define DR_RPC_STREAM_H

#include <stdbool.h>
#include <stddef.h>

typedef enum dr_stream_status {
  DR_STREAM_NEED_MORE = 0, /* no complete text yet */
  DR_STREAM_VALUE,         /* text, len: one complete object or array */
  DR_STREAM_GARBAGE,       /* a run of bytes that starts no JSON text */
  DR_STREAM_TOO_LARGE,     /* a text grew past the limit: stop reading */
} dr_stream_status;

typedef struct dr_rpc_stream {
  char *buf;
  size_t len, cap;
  size_t pos;     /* next byte to scan */
  size_t start;   /* start of the text being scanned */
  size_t max;     /* largest text accepted */
  int depth;
  bool in_value, in_str, esc, discarding;
} dr_rpc_stream;

void dr_rpc_stream_init(dr_rpc_stream *s, size_t max);
void dr_rpc_stream_free(dr_rpc_stream *s);

/* Appends bytes. Returns 0 or -ENOMEM. */
int dr_rpc_stream_feed(dr_rpc_stream *s, const char *data, size_t len);

/* The next complete text, valid until the next feed or next call. */
dr_stream_status dr_rpc_stream_next(dr_rpc_stream *s, const char **text, size_t *len);

/* At end of input: true when an unfinished text or garbage was left over. */
bool dr_rpc_stream_leftover(const dr_rpc_stream *s);

#endif
