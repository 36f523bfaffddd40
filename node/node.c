/* node.c - a node's life: identity, DHT runner, bootstrap, info, deadlines, stop */
#include "node/node_private.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#define DEFAULT_SKEW 60
#define DEFAULT_OP_TIMEOUT_MS 10000

uint64_t dr_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec;
}

uint64_t dr_now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

static uint64_t now_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Sequence numbers are microsecond timestamps, bumped past the last one
 * given: they grow across restarts without any state, as long as the clock
 * does not step back further than the node was down. */
uint64_t dr__next_seq(dr_node *n) {
  uint64_t s = now_us();
  if (s <= n->last_seq) s = n->last_seq + 1;
  n->last_seq = s;
  return s;
}

size_t dr__ad_key(uint8_t *out, const uint8_t rid[DR_ID_LEN], const char *service_id) {
  size_t n = strlen(service_id);
  memcpy(out, rid, DR_ID_LEN);
  memcpy(out + DR_ID_LEN, service_id, n);
  return DR_ID_LEN + n;
}

/* ---- deadlines ----------------------------------------------------------- */

static void on_deadline_timer(uv_timer_t *t);

static void arm_timer(dr_node *n) {
  if (!n->dl_head) {
    uv_timer_stop(&n->deadline_timer);
    return;
  }
  uint64_t now = uv_now(n->loop);
  uint64_t wait = n->dl_head->at_ms > now ? n->dl_head->at_ms - now : 0;
  uv_timer_start(&n->deadline_timer, on_deadline_timer, wait, 0);
}

void dr__deadline_add(dr_node *n, dr_deadline *dl, void (*fire)(dr_deadline *)) {
  dl->at_ms = uv_now(n->loop) + n->op_timeout_ms;
  dl->fire = fire;
  dl->armed = true;
  dl->next = NULL;
  dl->prev = n->dl_tail;
  if (n->dl_tail) n->dl_tail->next = dl;
  else n->dl_head = dl;
  n->dl_tail = dl;
  if (n->dl_head == dl) arm_timer(n);
}

void dr__deadline_remove(dr_node *n, dr_deadline *dl) {
  if (!dl->armed) return;
  dl->armed = false;
  bool was_head = n->dl_head == dl;
  if (dl->prev) dl->prev->next = dl->next;
  else n->dl_head = dl->next;
  if (dl->next) dl->next->prev = dl->prev;
  else n->dl_tail = dl->prev;
  dl->prev = dl->next = NULL;
  if (was_head && !n->stopping) arm_timer(n);
}

static void on_deadline_timer(uv_timer_t *t) {
  dr_node *n = t->data;
  uint64_t now = uv_now(n->loop);
  while (n->dl_head && n->dl_head->at_ms <= now) {
    dr_deadline *dl = n->dl_head;
    dr__deadline_remove(n, dl);
    dl->fire(dl);
  }
  arm_timer(n);
}

/* ---- start and stop ------------------------------------------------------ */

static void dht_log(void *ctx, int level, const char *msg) {
  dr_node *n = ctx;
  DR_LOG(&n->log, (dr_log_level)level, "dht: %s", msg);
}

static void free_netkey(dr_node *n) {
  if (!n->net) return;
  sodium_memzero(n->net, sizeof *n->net);
  free(n->net);
  n->net = NULL;
}

static void persist_closed_early(dr_node *n) {
  (void)n;
}

int dr_node_start(dr_node **out, uv_loop_t *loop, const dr_node_config *cfg, char *err,
                  size_t errlen) {
  int r;
  dr_node *n = calloc(1, sizeof *n);
  if (!n) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  n->loop = loop;
  n->log.level = cfg->log_level;
  snprintf(n->log.name, sizeof n->log.name, "%s", cfg->log_name ? cfg->log_name : "");
  n->network = cfg->network;
  n->clock_skew = cfg->clock_skew ? cfg->clock_skew : DEFAULT_SKEW;
  n->op_timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : DEFAULT_OP_TIMEOUT_MS;
  n->min_ttl = cfg->min_ttl ? cfg->min_ttl : DR_TTL_MIN;
  snprintf(n->ttl_range, sizeof n->ttl_range, "must be between %u and %u seconds", n->min_ttl,
           DR_TTL_MAX);
  n->started_at = dr_now();
  randombytes_buf(n->window_key, sizeof n->window_key);
  n->lock_fd = -1;
  dr_map_init(&n->resources);
  dr_map_init(&n->ads);
  dr_map_init(&n->writing);
  dr_map_init(&n->caches);
  dr_map_init(&n->subs);
  dr_map_init(&n->seen);
  dr__clock_init(n);
  dr_map_init(&n->lookups);
  dr_map_init(&n->resinfo);
  dr_map_init(&n->counts);
  n->value_lifetime = cfg->value_lifetime ? cfg->value_lifetime : 600;
  n->max_lookup_keys = cfg->max_lookup_keys ? cfg->max_lookup_keys : 8192;
  n->max_watches = cfg->max_watches ? cfg->max_watches : 4096;

  if (cfg->seed) {
    dr_identity_from_seed(&n->id, cfg->seed);
  } else if (cfg->ephemeral || !cfg->data_dir) {
    dr_identity_generate(&n->id);
  } else {
    char path[PATH_MAX];
    if ((r = dr__datadir_open(n, cfg->data_dir, err, errlen)) < 0) goto err_free;
    snprintf(path, sizeof path, "%s/identity.key", cfg->data_dir);
    if ((r = dr_identity_load_or_create(&n->id, path, err, errlen)) < 0) goto err_free;
    if ((r = dr__persist_open(n, cfg->data_dir, err, errlen)) < 0) goto err_free;
  }

  if (cfg->psk) {
    /* the slow KDF runs once, before the loop serves anything */
    if (!(n->net = malloc(sizeof *n->net))) r = -ENOMEM;
    else r = dr_netkey_derive(n->net, cfg->psk, strlen(cfg->psk));
    if (r < 0) {
      snprintf(err, errlen, r == -EINVAL ? "--psk: the passphrase is empty"
                                         : "--psk: cannot derive the network key: out of memory");
      goto err_persist;
    }
  }

  uint8_t node_id[DR_DHT_KEY_SIZE];
  crypto_generichash(node_id, sizeof node_id, n->id.pk, DR_ID_LEN, NULL, 0);
  n->policy.net = n->net;
  n->policy.skew = n->clock_skew;
  dr_dht_config dc = {
      .port = cfg->port,
      .bind4 = cfg->bind4,
      .bind6 = cfg->bind6,
      .max_store_bytes = cfg->max_store_bytes,
      .network = cfg->network,
      .node_id = cfg->ephemeral ? NULL : node_id,
      .max_inflight = cfg->max_inflight,
      .max_queued = cfg->max_queued,
      .peer_rate_limit = cfg->peer_rate ? cfg->peer_rate : DR_PEER_RATE_DEFAULT,
      .value_lifetime_s = n->value_lifetime, /* what the re-puts are timed by */
      .log = dht_log,
      .log_ctx = n,
      .store_ok = dr__store_ok,
      .edit_ok = dr__edit_ok,
      .policy_ctx = &n->policy,
  };
  if ((r = dr_dht_start(&n->dht, loop, &dc)) < 0) {
    if (r == -EADDRNOTAVAIL)
      snprintf(err, errlen, "cannot start the DHT: --bind %s%s%s is not an address to bind",
               cfg->bind4 ? cfg->bind4 : "", cfg->bind4 && cfg->bind6 ? " / " : "",
               cfg->bind6 ? cfg->bind6 : "");
    else {
      int why = dr_dht_probe_bind(cfg->bind4, cfg->bind6, cfg->port);
      snprintf(err, errlen, "cannot start the DHT on UDP port %u%s%s: %s%s", cfg->port,
               cfg->bind4 || cfg->bind6 ? " of " : "", cfg->bind4 ? cfg->bind4 : cfg->bind6 ? cfg->bind6 : "",
               why < 0 ? strerror(-why) : strerror(-r),
               why == -EADDRINUSE ? " (another node on that port? --port picks another, 0 any free one)" : "");
    }
    goto err_persist;
  }
  uv_timer_init(loop, &n->deadline_timer);
  n->deadline_timer.data = n;
  dr__tick_start(n, cfg->tick_ms ? cfg->tick_ms : 1000);
  dr__repl_start(n, cfg->replicate_ms ? cfg->replicate_ms : 60000);
  for (size_t i = 0; i < cfg->n_bootstrap; i++)
    if (dr_node_bootstrap(n, cfg->bootstrap[i], NULL, NULL) < 0)
      DR_WARN(&n->log, "ignoring bad bootstrap address %s", cfg->bootstrap[i]);

  char pid[DR_ID_TEXT_MAX];
  dr_id_encode(n->id.pk, pid);
  DR_INFO(&n->log, "node %s on UDP port %u, network %u%s", pid, dr_dht_port(n->dht),
          n->network, n->net ? ", private registry (--psk)" : "");
  dr__clock_check_own(n, dr_now());
  dr__announce_loaded(n);
  *out = n;
  return 0;

err_persist:
  dr__own_free_all(n);
  if (n->persist) dr__persist_close(n, persist_closed_early);
err_free:
  dr__datadir_close(n);
  free_netkey(n);
  sodium_memzero(&n->id, sizeof n->id);
  dr_map_free(&n->resources);
  dr_map_free(&n->ads);
  dr__wire_free(n);
  dr__clock_free(n);
  dr__lookups_free(n);
  dr__resinfo_free(n);
  dr__repl_free(n);
  free(n);
  return r;
}

static void on_timer_closed(uv_handle_t *h) {
  dr_node *n = h->data;
  if (--n->handles_open) return;
  n->closed = true;
  dr__node_release(n);
}

void dr__node_release(dr_node *n) {
  if (!n->closed || n->boot_pending) return; /* a name resolution still holds n */
  void (*done)(void *) = n->stop_done;
  void *ctx = n->stop_ctx;
  dr__datadir_close(n);
  free_netkey(n);
  sodium_memzero(&n->id, sizeof n->id);
  free(n);
  if (done) done(ctx);
}

static void on_persist_closed(dr_node *n) {
  dr__change_free_all(n);
  dr__own_free_all(n);
  n->handles_open = 3;
  uv_close((uv_handle_t *)&n->repl_timer, on_timer_closed);
  uv_close((uv_handle_t *)&n->deadline_timer, on_timer_closed);
  uv_close((uv_handle_t *)&n->tick_timer, on_timer_closed);
}

static void on_dht_closed(void *ctx) {
  dr_node *n = ctx;
  n->dht = NULL;
  dr__cache_free_all(n); /* their listens ended with the runner */
  dr__wire_free(n);
  dr__clock_free(n);
  dr__lookups_free(n);
  dr__resinfo_free(n);
  dr__repl_free(n);
  dr__bootstrap_free(n); /* the DHT answered or dropped every ping */
  /* whatever still waits for a deadline is answered now */
  while (n->dl_head) {
    dr_deadline *dl = n->dl_head;
    dr__deadline_remove(n, dl);
    dl->fire(dl);
  }
  dr__persist_close(n, on_persist_closed);
}

void dr_node_stop(dr_node *n, void (*done)(void *ctx), void *ctx) {
  if (n->stopping) return;
  n->stopping = true;
  n->stop_done = done;
  n->stop_ctx = ctx;
  dr__checks_stop(n); /* programs killed, connections closed */
  uv_timer_stop(&n->deadline_timer);
  uv_timer_stop(&n->tick_timer);
  uv_timer_stop(&n->repl_timer);
  dr_dht_close(n->dht, on_dht_closed, n);
}

/* ---- accessors, info, bootstrap ------------------------------------------ */

const dr_logger *dr_node_logger(const dr_node *n) {
  return &n->log;
}

const dr_identity *dr_node_identity(const dr_node *n) {
  return &n->id;
}

uint64_t dr_node_op_timeout_ms(const dr_node *n) {
  return n->op_timeout_ms;
}

unsigned dr_node_peers(const dr_node *n) {
  unsigned good = 0, dubious = 0;
  if (n->dht) dr_dht_node_counts(n->dht, &good, &dubious);
  return good;
}

const char *dr_drop_name(dr_drop d) {
  return d == DR_DROP_EXPIRED ? "expired" : d == DR_DROP_SUPERSEDED ? "superseded" : "?";
}

uint64_t dr_node_now(const dr_node *n) {
  return dr__net_now(n);
}

uint32_t dr_node_min_ttl(const dr_node *n) {
  return n->min_ttl;
}

const char *dr_node_ttl_range(const dr_node *n) {
  return n->ttl_range;
}

void dr_node_get_info(const dr_node *n, dr_node_info *out) {
  memset(out, 0, sizeof *out);
  memcpy(out->peer_id, n->id.pk, DR_ID_LEN);
  out->network = n->network;
  out->private_network = n->net != NULL;
  out->uptime_s = dr_now() - n->started_at;
  out->records_moved = n->records_moved;
  if (n->dht) {
    unsigned good, dubious;
    out->port = dr_dht_port(n->dht);
    dr_dht_node_counts(n->dht, &good, &dubious);
    out->peers = good;
    out->connected = good + dubious > 0;
    dr_dht_message_counts(n->dht, out->msg_sent, out->msg_received);
    dr_dht_store_size(n->dht, &out->stored_values, &out->stored_bytes);
    out->dht_pending = dr_dht_pending(n->dht);
    out->dht_listens = dr_dht_listens(n->dht);
    out->dht_refused = dr_dht_refused(n->dht);
    out->dht_searches = dr_dht_searches(n->dht);
    out->dht_retries = dr_dht_retries(n->dht);
    uint64_t refused[DR_DHT_STORE_REASONS];
    dr_dht_store_refused(n->dht, refused);
    for (int i = 1; i < DR_REJ__COUNT; i++) out->store_refused[i] = refused[i];
    out->store_refused[DR_REJ__COUNT] = refused[DR_DHT_STORE_FULL];
    out->lookup_keys = n->lookups.count;
    out->lookups_refused = n->lookups_refused;
    out->dht_nudges = dr_dht_nudges(n->dht);
    dr_dht_latencies(n->dht, &out->dht_get, &out->dht_put);
  }
  dr__cache_counts(n, &out->cached_resources, &out->cached_entries, &out->watches);
  out->events = n->events;
  out->cache_hits = n->cache_hits;
  out->cache_polls = n->cache_polls;
  out->repl_runs = n->repl_runs;
  out->repl_checked = n->repl_checked;
  out->repl_repaired = n->repl_repaired;
  out->resources = n->resources.count;
  size_t b;
  for (dr_map_item *it = dr_map_next(&n->ads, NULL, &b); it; it = dr_map_next(&n->ads, it, &b)) {
    const own_ad *ad = it->value;
    if (ad->withdrawn) out->tombstones++;
    else out->records++;
  }
  out->advertised = out->records;
  dr_persist_status ps;
  dr__persist_status(n, &ps);
  out->persist_enabled = ps.enabled;
  out->persist_error = ps.error;
  out->persist_since = ps.since;
  out->clock_offset = n->clock_offset;
  out->clock_issuers = n->clock_issuers;
  out->clock_correction = n->clock_correction;
  out->clock_beyond = n->clock_beyond;
  out->clock_skew = n->clock_skew;
  memcpy(out->rejected, n->rejected, sizeof out->rejected);
  memcpy(out->dropped, n->dropped, sizeof out->dropped);
}

void dr_node_get_health(const dr_node *n, dr_node_health *out) {
  memset(out, 0, sizeof *out);
  dr_persist_status ps;
  dr__persist_status(n, &ps);
  if (ps.error)
    snprintf(out->warnings[out->n_warnings++], sizeof out->warnings[0],
             "cannot write the node's state for %llu s: %s (advertise, renew, withdraw and create fail)",
             (unsigned long long)(dr_now() - ps.since), strerror(ps.error));
  if (n->clock_beyond) {
    int64_t off = n->clock_offset;
    snprintf(out->warnings[out->n_warnings++], sizeof out->warnings[0],
             "the clock seems %lld s %s the network's, beyond the tolerated %llu s: synchronise it (NTP)",
             (long long)(off < 0 ? -off : off), off < 0 ? "behind" : "ahead of",
             (unsigned long long)n->clock_skew);
  }
  if (n->bootstrapped && !dr_node_peers(n))
    snprintf(out->warnings[out->n_warnings++], sizeof out->warnings[0],
             "no peers: not joined through its bootstrap addresses (%.180s)", n->boot_addrs[0] ? n->boot_addrs : "resolving");
  if (n->stopping)
    snprintf(out->warnings[out->n_warnings++], sizeof out->warnings[0], "stopping");
  out->ready = out->n_warnings == 0;
}

int dr_split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen) {
  const char *colon;
  size_t hl;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return -EINVAL;
    hl = (size_t)(close - s - 1);
    s++;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || strchr(s, ':') != colon) return -EINVAL;
    hl = (size_t)(colon - s);
  }
  const char *p = colon + 1;
  size_t pl = strlen(p);
  if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen || pl > 5) return -EINVAL;
  for (size_t i = 0; i < pl; i++)
    if (p[i] < '0' || p[i] > '9') return -EINVAL;
  long v = strtol(p, NULL, 10);
  if (v < 1 || v > 65535) return -EINVAL;
  memcpy(host, s, hl);
  host[hl] = '\0';
  memcpy(port, p, pl + 1);
  return 0;
}

const uint8_t *dr_node_peer_id(const dr_node *n) {
  return n->id.pk;
}
