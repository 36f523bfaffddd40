/* rpc_conn.h - private to the JSON-RPC server (rpc_server.c: listeners, connections, reading
 * and writing; rpc_call.c: calls, batches, replies, subscriptions): the state both sides share */
#ifndef DR_RPC_CONN_H
#define DR_RPC_CONN_H

#include "api/api_private.h"
#include "api/rpc_stream.h"

#define RESUME_AT (DR_RPC_MAX_PENDING / 2) /* pending calls at which a paused connection reads again */

typedef struct conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  } h;
  struct conn *prev, *next;
  dr_rpc_server *srv;
  dr_node *node;
  dr_rpc_stream in;
  unsigned refs;    /* the open handle, each unended call, each write */
  unsigned pending; /* calls not yet ended */
  unsigned writes;  /* writes under way */
  bool closed;      /* uv_close called: nothing more is read or written */
  uint64_t *subs;   /* this connection's watch subscriptions */
  dr_rpc_call *calls; /* calls not yet ended */
  size_t n_subs;
  bool eof;         /* the client will send nothing more */
  bool paused;      /* reading stopped: DR_RPC_MAX_PENDING calls pending, or out_paused */
  bool out_paused;  /* OUT_HIGH bytes of answers unsent */
  bool tcp;         /* came through the TCP listener */
  uint64_t active_ms;  /* uv_now() of the last byte read or answer taken */
  uint64_t partial_ms; /* since when part of a request waits for the rest, 0: none */
  bool resume_queued;       /* on the server's resume list (holds a ref) */
  struct conn *resume_next;
} conn;

typedef struct batch {
  json_t *responses;
  size_t outstanding;
} batch;

struct dr_rpc_call {
  conn *c;
  int method;          /* its index, or -1 */
  bool failed;         /* answered with an error */
  uint64_t started_ns; /* uv_hrtime() when it was read */
  json_t *id; /* NULL for a notification */
  batch *b;
  struct dr_rpc_call *prev, *next; /* the connection's calls not yet ended */
  void (*on_close)(dr_rpc_call *call, void *arg);
  void *close_arg;
};

struct dr_rpc_server {
  uv_loop_t *loop;
  dr_node *node;
  uv_pipe_t pipe;
  uv_tcp_t tcp;
  bool have_tcp;
  char *unix_path;
  unsigned max_conns;           /* per listener */
  unsigned n_conns, n_unix, n_tcp;
  dr_rpc_stats stats;
  uint64_t idle_ms, request_ms; /* the idle timeout and the deadline of a request */
  uv_timer_t sweep;
  conn *conns;
  dr_json_cache *json_cache; /* entry texts for resolve answers */
  uv_idle_t resume_idle; /* resumes paused connections outside any callback */
  conn *resume;          /* connections to resume, each holding a ref */
  unsigned handles; /* listeners, the idle handle and connections not yet closed */
  /* connections not yet freed: a closed one lives on while calls it read
   * are pending (the node answers them later, into the void), and those
   * calls use the server (its stats, its JSON cache) when they end */
  unsigned conns_alive;
  bool releasing; /* inside server_release: the done callback runs */
  bool stopping;
  void (*done)(void *);
  void *done_ctx;
};

/* rpc_server.c */
/* Closes c once the client sent all it will and nothing is left to answer. */
void dr__rpc_maybe_close(conn *c);
/* Drops a reference (a call, a write, the open handle); frees c at the last. */
void dr__rpc_conn_unref(conn *c);
/* Reads c again from the loop's idle phase (it was paused at the cap). */
void dr__rpc_queue_resume(conn *c);
/* Writes the n pieces as one line, or msg as one line of JSON (nothing on a
 * closed connection). */
void dr__rpc_send_parts(conn *c, const char *const *parts, const size_t *lens, size_t n);
void dr__rpc_send_json(conn *c, json_t *msg);
/* A JSON-RPC error response (id NULL: null). */
json_t *dr__rpc_error_object(json_t *id, int code, const char *message);

/* rpc_call.c: one complete text read from c: a request, a notification or a batch */
void dr__rpc_handle_text(conn *c, const char *text, size_t len);

#endif
