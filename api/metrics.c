/* metrics.c - the node's metrics in the Prometheus text format (exposition format 0.0.4): node.info's counters, latency histograms, readiness */
#include "api/api_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const msg_names[DR_DHT_MSG__COUNT] = {"ping", "find", "get", "listen", "put"};

/* The HELP and TYPE lines of a metric. */
static void head(FILE *f, const char *name, const char *type, const char *help) {
  fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help, double v) {
  head(f, name, type, help);
  fprintf(f, "%s %.17g\n", name, v);
}
/* One metric of n series, labels[i] the value of its one label key. */
static void labelled(FILE *f, const char *name, const char *type, const char *help, const char *key,
                     const char *const *labels, const uint64_t *values, int n) {
  head(f, name, type, help);
  for (int i = 0; i < n; i++)
    fprintf(f, "%s{%s=\"%s\"} %llu\n", name, key, labels[i], (unsigned long long)values[i]);
}

#define GAUGE(f, name, help, v) one(f, "dhtreg_" name, "gauge", help, (double)(v))
#define COUNTER(f, name, help, v) one(f, "dhtreg_" name "_total", "counter", help, (double)(v))

/* The series of one histogram (cumulative buckets, +Inf, sum, count);
 * labels: `key="value"` or "". */
static void hist(FILE *f, const char *name, const char *labels, const dr_latency *h) {
  static const double bounds[DR_LATENCY_BUCKETS] = DR_LATENCY_BOUNDS;
  const char *sep = labels[0] ? "," : "";
  uint64_t cum = 0;
  for (int i = 0; i < DR_LATENCY_BUCKETS; i++) {
    cum += h->counts[i];
    fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i], (unsigned long long)cum);
  }
  fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)h->count);
  fprintf(f, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", h->sum);
  fprintf(f, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
          (unsigned long long)h->count);
}

/* counts[reason] of every rejection reason, as one labelled counter. */
static void reasons(FILE *f, const char *name, const char *help, const uint64_t *counts, bool full) {
  head(f, name, "counter", help);
  for (int r = DR_REJ_NONE + 1; r < DR_REJ__COUNT; r++)
    fprintf(f, "%s{reason=\"%s\"} %llu\n", name, dr_reject_name((dr_reject)r), (unsigned long long)counts[r]);
  if (full) fprintf(f, "%s{reason=\"full\"} %llu\n", name, (unsigned long long)counts[DR_REJ__COUNT]);
}

static void node_metrics(FILE *f, dr_node *node) {
  dr_node_info in;
  dr_node_health h;
  dr_node_get_info(node, &in);
  dr_node_get_health(node, &h);
  head(f, "dhtreg_build_info", "gauge", "The node's version (always 1).");
  fprintf(f, "dhtreg_build_info{version=\"%s\"} 1\n", DHTREG_VERSION);
  GAUGE(f, "up_seconds", "Seconds since the node started.", in.uptime_s);
  GAUGE(f, "ready", "1 when the node should get traffic: it has peers or was started alone, writes its state, and its clock is within the tolerance.", h.ready);
  GAUGE(f, "warnings", "Reasons the node is not ready (dhtreg health lists them).", h.n_warnings);
  GAUGE(f, "peers", "Good DHT nodes in the routing table.", in.peers);
  GAUGE(f, "connected", "1 when the routing table has any node.", in.connected);
  GAUGE(f, "private_network", "1 when the node was started with a passphrase (--psk).", in.private_network);
  head(f, "dhtreg_entries", "gauge", "Entries this node holds, by kind.");
  fprintf(f, "dhtreg_entries{kind=\"resource\"} %zu\ndhtreg_entries{kind=\"record\"} %zu\n"
             "dhtreg_entries{kind=\"tombstone\"} %zu\n", in.resources, in.records, in.tombstones);
  GAUGE(f, "advertisements", "This node's live advertisements.", in.advertised);
  reasons(f, "dhtreg_rejected_total", "Entries read from the DHT and rejected, by reason: what only forgery, a storer that hides entries, or a bug produces (alert on it).", in.rejected, false);
  head(f, "dhtreg_dropped_total", "counter", "Entries read from the DHT and dropped in normal operation, by reason: a copy a storer still holds just past its expiry, an older version read with its newer one.");
  for (int d = 0; d < DR_DROP__COUNT; d++)
    fprintf(f, "dhtreg_dropped_total{reason=\"%s\"} %llu\n", dr_drop_name((dr_drop)d), (unsigned long long)in.dropped[d]);
  reasons(f, "dhtreg_store_refused_total", "Values other nodes offered this node to store and it refused, by reason (full: --max-store).", in.store_refused, true);
  GAUGE(f, "cache_resources", "Resources in the watch and pin cache.", in.cached_resources);
  GAUGE(f, "cache_entries", "Entries in the watch and pin cache.", in.cached_entries);
  GAUGE(f, "watches", "Watch subscriptions.", in.watches);
  COUNTER(f, "watch_events", "Watch events sent.", in.events);
  COUNTER(f, "cache_hits", "Resolves answered from the cache.", in.cache_hits);
  COUNTER(f, "cache_renewal_checks", "Reads of cached resources for renewals the listens missed.", in.cache_polls);
  COUNTER(f, "replication_runs", "Runs of the replication task.", in.repl_runs);
  COUNTER(f, "replication_checked", "Keys the replication task checked.", in.repl_checked);
  COUNTER(f, "replication_repaired", "Entries the replication task put again.", in.repl_repaired);
  labelled(f, "dhtreg_dht_messages_sent_total", "counter", "DHT requests sent, by type.", "type", msg_names,
           in.msg_sent, DR_DHT_MSG__COUNT);
  labelled(f, "dhtreg_dht_messages_received_total", "counter", "DHT requests received, by type.", "type",
           msg_names, in.msg_received, DR_DHT_MSG__COUNT);
  GAUGE(f, "dht_stored_values", "Values this node stores for the DHT.", in.stored_values);
  GAUGE(f, "dht_stored_bytes", "Bytes of the values this node stores for the DHT.", in.stored_bytes);
  GAUGE(f, "dht_pending_operations", "DHT operations queued or in flight.", in.dht_pending);
  GAUGE(f, "dht_searches", "OpenDHT's searches (kept an hour after use).", in.dht_searches);
  GAUGE(f, "dht_listens", "OpenDHT listens held: one per shard of a watched or pinned resource, one more per head.", in.dht_listens);
  COUNTER(f, "dht_refused", "DHT lookups refused: the queue was full (--max-queue).", in.dht_refused);
  COUNTER(f, "dht_retries", "DHT lookups asked again after an empty answer from too few nodes.", in.dht_retries);
  COUNTER(f, "dht_nudges", "Searches stepped for a put in flight too long.", in.dht_nudges);
  COUNTER(f, "records_moved", "Own records moved to another shard.", in.records_moved);
  GAUGE(f, "lookup_keys", "Distinct keys resolved in the last hour.", in.lookup_keys);
  COUNTER(f, "lookups_refused", "Resolves refused by --max-lookup-keys.", in.lookups_refused);
  head(f, "dhtreg_dht_operation_duration_seconds", "histogram", "How long DHT gets and puts took, from their start to their end.");
  hist(f, "dhtreg_dht_operation_duration_seconds", "op=\"get\"", &in.dht_get);
  hist(f, "dhtreg_dht_operation_duration_seconds", "op=\"put\"", &in.dht_put);
  GAUGE(f, "persistence_enabled", "1 when the node writes a data dir.", in.persist_enabled);
  GAUGE(f, "persistence_ok", "1 when the node's state writes work.", !in.persist_error);
  GAUGE(f, "persistence_failing_since_seconds", "Unix time since which writes fail (0: they work).", in.persist_error ? in.persist_since : 0);
  GAUGE(f, "clock_offset_seconds", "How far this node's clock seems ahead of the network's (negative: behind).", in.clock_offset);
  GAUGE(f, "clock_issuers", "Issuers the clock estimate rests on (0: no estimate).", in.clock_issuers);
  GAUGE(f, "clock_correction_seconds", "What the node takes off its clock to sign and check entries by the network's time (at most the tolerated skew either way).", in.clock_correction);
  GAUGE(f, "clock_ok", "1 when the clock is within the tolerated skew.", !in.clock_beyond);
  GAUGE(f, "clock_skew_tolerance_seconds", "The tolerated clock skew (--clock-skew).", in.clock_skew);
}

static void rpc_metrics(FILE *f, const dr_rpc_server *rpc) {
  static const char *const via[2] = {"unix", "tcp"};
  dr_rpc_stats st;
  dr_rpc_server_stats(rpc, &st);
  const uint64_t open[2] = {st.open[0], st.open[1]};
  const char *methods[DR_RPC_N_METHODS];
  for (int i = 0; i < DR_RPC_N_METHODS; i++) methods[i] = dr_rpc_method_name(i);
  labelled(f, "dhtreg_rpc_connections", "gauge", "JSON-RPC connections open, by listener.", "listener", via, open, 2);
  labelled(f, "dhtreg_rpc_connections_accepted_total", "counter", "JSON-RPC connections accepted, by listener.",
           "listener", via, st.accepted, 2);
  labelled(f, "dhtreg_rpc_connections_refused_total", "counter",
           "JSON-RPC connections refused at --max-connections, by listener.", "listener", via, st.refused, 2);
  COUNTER(f, "rpc_bad_requests", "JSON-RPC messages that were not JSON, not a request, or of no such method.", st.bad_requests);
  labelled(f, "dhtreg_rpc_errors_total", "counter", "JSON-RPC calls answered with an error, by method.", "method",
           methods, st.errors, DR_RPC_N_METHODS);
  head(f, "dhtreg_rpc_request_duration_seconds", "histogram", "How long JSON-RPC calls took, from the request read to the answer, by method.");
  for (int i = 0; i < DR_RPC_N_METHODS; i++) {
    char label[64];
    snprintf(label, sizeof label, "method=\"%s\"", methods[i]);
    hist(f, "dhtreg_rpc_request_duration_seconds", label, &st.latency[i]);
  }
}

static void dns_metrics(FILE *f, const dr_dns_server *dns) {
  static const char *const rcodes[DR_DNS_RCODES] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  dr_dns_stats st;
  dr_dns_stats_get(dns, &st);
  COUNTER(f, "dns_queries", "DNS queries received (messages with a header that were not responses).", st.queries);
  labelled(f, "dhtreg_dns_responses_total", "counter", "DNS answers sent, by rcode.", "rcode", rcodes, st.rcodes,
           DR_DNS_RCODES);
  COUNTER(f, "dns_dropped", "DNS datagrams not answered: shorter than a header, or responses.", st.dropped);
  COUNTER(f, "dns_truncated", "DNS answers cut to fit a UDP datagram (TC set).", st.truncated);
  COUNTER(f, "dns_tcp_connections_accepted", "DNS connections accepted over TCP.", st.tcp_accepted);
  GAUGE(f, "dns_tcp_connections", "DNS connections open over TCP.", st.tcp_connections);
}

int dr_metrics_text(dr_node *node, const dr_rpc_server *rpc, const uint64_t http_requests[4],
                    const dr_dns_server *dns, char **text, size_t *len) {
  static const char *const paths[4] = {"/metrics", "/health", "/ready", "other"};
  FILE *f = open_memstream(text, len);
  if (!f) return -ENOMEM;
  node_metrics(f, node);
  if (rpc) rpc_metrics(f, rpc);
  if (dns) dns_metrics(f, dns);
  if (http_requests)
    labelled(f, "dhtreg_http_requests_total", "counter", "HTTP requests, by path.", "path", paths, http_requests, 4);
  if (fclose(f) != 0) {
    free(*text);
    *text = NULL;
    return -ENOMEM;
  }
  return 0;
}
