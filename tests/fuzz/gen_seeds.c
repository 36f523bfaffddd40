/* gen_seeds.c - writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): requests, signed entries, state files
 *
 *   gen_seeds DIR    writes DIR/fuzz_rpc, DIR/fuzz_entry, DIR/fuzz_persist
 *
 * Entries are signed with the test-vector seed 00 01 .. 1f (the identity
 * fuzz_persist loads with) at fixed times, so the output is the same on
 * every run. Built with the fuzz targets; run by hand when the formats
 * change.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"

#define T0 1700000000u

static const char *out_dir;
static dr_identity id;

static void die(const char *what) {
  fprintf(stderr, "gen_seeds: %s\n", what);
  exit(1);
}

static void write_seed(const char *target, const char *name, const void *data, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", out_dir, target);
  if (mkdir(path, 0755) < 0 && errno != EEXIST) die("mkdir");
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) die(path);
}

/* ---- entries ------------------------------------------------------------ */

static dr_entry resource(const char *label, dr_policy policy, size_t n_allow, uint64_t seq) {
  dr_entry e = {.kind = DR_KIND_RESOURCE, .seq = seq, .issued_at = T0, .policy = policy};
  e.name = strdup(label);
  dr_resource_id(e.rid, id.pk, label, strlen(label));
  if (n_allow) {
    e.allow = calloc(n_allow, DR_ID_LEN);
    for (size_t i = 0; i < n_allow; i++) memset(e.allow[i], (int)(i + 1), DR_ID_LEN);
    e.n_allow = n_allow;
  }
  if (dr_entry_sign(&e, &id, NULL, NULL) < 0) die("sign resource");
  return e;
}

static char **strs(const char *const *v, size_t n) {
  char **out = calloc(n ? n : 1, sizeof *out);
  for (size_t i = 0; i < n; i++) out[i] = strdup(v[i]);
  return out;
}

static dr_entry record(const uint8_t rid[DR_ID_LEN], const char *sid, uint64_t seq, bool full) {
  dr_entry e = {.kind = DR_KIND_RECORD, .seq = seq, .issued_at = T0, .expires_at = T0 + 300};
  memcpy(e.rid, rid, DR_ID_LEN);
  e.name = strdup(sid);
  if (full) {
    static const char *const addrs[] = {"10.0.0.1:8080", "[::1]:8080"};
    static const char *const tags[] = {"v1", "primary", "z\xc3\xa9ro"};
    e.host = strdup("10.0.0.1");
    e.port = 8080;
    e.addrs = strs(addrs, 2);
    e.n_addrs = 2;
    e.type = strdup("http");
    e.tags = strs(tags, 3);
    e.n_tags = 3;
    e.meta = calloc(2, sizeof *e.meta);
    e.meta[0] = (dr_meta){strdup("weight"), strdup("")}; /* keys in ascending order (one encoding) */
    e.meta[1] = (dr_meta){strdup("zone"), strdup("eu")};
    e.n_meta = 2;
  }
  if (dr_entry_sign(&e, &id, NULL, NULL) < 0) die("sign record");
  return e;
}

/* A record whose issuer's check failed: its signed health is critical. */
static dr_entry critical(const uint8_t rid[DR_ID_LEN], const char *sid, uint64_t seq) {
  dr_entry e = {.kind = DR_KIND_RECORD, .seq = seq, .issued_at = T0 + 60, .expires_at = T0 + 360,
                .health = DR_HEALTH_CRITICAL};
  memcpy(e.rid, rid, DR_ID_LEN);
  e.name = strdup(sid);
  e.host = strdup("10.0.0.9");
  e.port = 80;
  if (dr_entry_sign(&e, &id, NULL, NULL) < 0) die("sign critical record");
  return e;
}

static dr_entry tombstone(const uint8_t rid[DR_ID_LEN], const char *sid, uint64_t seq) {
  dr_entry e = {.kind = DR_KIND_TOMBSTONE, .seq = seq, .issued_at = T0 + 100, .expires_at = T0 + 300};
  memcpy(e.rid, rid, DR_ID_LEN);
  e.name = strdup(sid);
  if (dr_entry_sign(&e, &id, NULL, NULL) < 0) die("sign tombstone");
  return e;
}

/* ---- state files (node/persist.c's frames) ---------------------------------- */

typedef struct buf {
  uint8_t p[65536];
  size_t len;
} buf;

static void put(buf *b, const void *p, size_t len) {
  if (b->len + len > sizeof b->p) die("buffer");
  memcpy(b->p + b->len, p, len);
  b->len += len;
}

static void be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

enum { OP_AD = 1, OP_TOMB = 2, OP_DROP = 3, OP_RES = 4, OP_AD_CHECK = 7 };

/* op 7: a record (shard 0) and its health check (node/check_spec.c's
 * encoding: a tcp check of 127.0.0.1:8080 every 10 s) */
static size_t payload_check(uint8_t *out, bool lease, uint32_t ttl, const uint8_t *d, size_t len) {
  static const uint8_t check[] = {1, 1, 0, 0, 0, 10, 0, 0, 0, 5, 0, 3, 0, 2, 1, 0, 14,
                                  '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '8', '0', '8', '0'};
  out[0] = OP_AD_CHECK;
  out[1] = lease;
  be32(out + 2, ttl);
  out[6] = out[7] = 0;
  be32(out + 8, (uint32_t)len);
  memcpy(out + 12, d, len);
  memcpy(out + 12 + len, check, sizeof check);
  return 12 + len + sizeof check;
}

static size_t payload(uint8_t *out, uint8_t op, bool lease, uint32_t ttl, const uint8_t *d, size_t len) {
  out[0] = op;
  out[1] = lease;
  be32(out + 2, ttl);
  be32(out + 6, (uint32_t)len);
  memcpy(out + 10, d, len);
  return 10 + len;
}

static void frame(buf *b, uint8_t op, bool lease, uint32_t ttl, const uint8_t *d, size_t len) {
  uint8_t pl[8192], head[12];
  size_t n = payload(pl, op, lease, ttl, d, len);
  be32(head, (uint32_t)n);
  crypto_generichash(head + 4, 8, pl, n, NULL, 0);
  put(b, head, sizeof head);
  put(b, pl, n);
}

/* fuzz_persist's mode 3: [u8 file, u16be len, payload] */
static void framed_op(buf *b, bool snap, uint8_t op, bool lease, uint32_t ttl, const uint8_t *d, size_t len) {
  uint8_t pl[8192], head[3];
  size_t n = payload(pl, op, lease, ttl, d, len);
  head[0] = snap;
  head[1] = (uint8_t)(n >> 8);
  head[2] = (uint8_t)n;
  put(b, head, 3);
  put(b, pl, n);
}

static void state_seed(const char *name, uint8_t mode, const buf *snap, const buf *log) {
  static buf b;
  b.len = 0;
  put(&b, &mode, 1);
  if (mode == 2) {
    uint8_t n[2] = {(uint8_t)(snap->len >> 8), (uint8_t)snap->len};
    put(&b, n, 2);
    put(&b, snap->p, snap->len);
    put(&b, log->p, log->len);
  } else {
    put(&b, mode == 1 ? snap->p : log->p, mode == 1 ? snap->len : log->len);
  }
  write_seed("fuzz_persist", name, b.p, b.len);
}

/* ---- requests -------------------------------------------------------------- */

static void rpc(const char *name, const char *text) {
  write_seed("fuzz_rpc", name, text, strlen(text));
}

static void rpc_seeds(const char *rid, const char *peer) {
  char t[4096];
  rpc("health", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"}\n");
  rpc("node_info", "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"node.info\",\"params\":{}}\n");
  rpc("bootstrap", "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"node.bootstrap\",\"params\":{\"addresses\":[\"127.0.0.1:4222\",\"[::1]:4223\"]}}\n");
  rpc("resource_id", "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resource.id\",\"params\":{\"label\":\"web\"}}\n");
  snprintf(t, sizeof t, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"resource.id\",\"params\":{\"label\":\"web\",\"owner\":\"%s\"}}\n", peer);
  rpc("resource_id_owner", t);
  rpc("create", "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resource.create\",\"params\":{\"label\":\"web\"}}\n");
  snprintf(t, sizeof t, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"resource.create\",\"params\":{\"label\":\"db\",\"policy\":\"owner\",\"allow\":[\"%s\"]}}\n", peer);
  rpc("create_owner", t);
  snprintf(t, sizeof t, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"resource.get\",\"params\":{\"resource_id\":\"%s\"}}\n", rid);
  rpc("get", t);
  snprintf(t, sizeof t,
           "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"record.advertise\",\"params\":{\"resource_id\":\"%s\","
           "\"service_id\":\"web-1\",\"host\":\"10.0.0.5\",\"port\":8080,\"addresses\":[\"10.0.0.5:8080\"],"
           "\"type\":\"http\",\"tags\":[\"v2\"],\"metadata\":{\"zone\":\"eu\"},\"ttl\":300,\"lease\":false}}\n", rid);
  rpc("advertise", t);
  snprintf(t, sizeof t,
           "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"record.advertise\",\"params\":{\"resource_id\":\"%s\",\"service_id\":\"s\",\"ttl\":30,\"lease\":true}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"record.renew\",\"params\":{\"resource_id\":\"%s\",\"service_id\":\"s\"}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"list\"}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"record.withdraw\",\"params\":{\"resource_id\":\"%s\",\"service_id\":\"s\"}}\n",
           rid, rid, rid);
  rpc("advertise_renew_withdraw", t);
  snprintf(t, sizeof t, "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"resolve\",\"params\":{\"resource_id\":\"%s\",\"limit\":10}}", rid);
  rpc("resolve", t);
  snprintf(t, sizeof t, "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":\"discover\",\"params\":{\"resource_id\":\"%s\",\"type\":\"http\"}}", rid);
  rpc("discover", t);
  snprintf(t, sizeof t,
           "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"watch\",\"params\":{\"resource_id\":\"%s\"}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":16,\"method\":\"unwatch\",\"params\":{\"subscription\":1}}\n", rid);
  rpc("watch_unwatch", t);
  snprintf(t, sizeof t,
           "{\"jsonrpc\":\"2.0\",\"id\":17,\"method\":\"resource.pin\",\"params\":{\"resource_id\":\"%s\"}}"
           "{\"jsonrpc\":\"2.0\",\"id\":18,\"method\":\"resource.unpin\",\"params\":{\"resource_id\":\"%s\"}}", rid, rid);
  rpc("pin_unpin", t);
  snprintf(t, sizeof t,
           "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"},"
           "{\"jsonrpc\":\"2.0\",\"method\":\"health\"},"
           "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"resolve\",\"params\":{\"resource_id\":\"%s\"}},"
           "{\"jsonrpc\":\"2.0\",\"id\":2.5,\"method\":\"nope\"},1,{}]\n", rid);
  rpc("batch", t);
  rpc("batch_notifications", "[{\"jsonrpc\":\"2.0\",\"method\":\"health\"},{\"jsonrpc\":\"2.0\",\"method\":\"list\"}]");
  rpc("empty_batch", "[]\n");
  rpc("garbage", "hello\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\"} 42\n[1,2\n");
  rpc("parse_error", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"health\",\"id\":2}{\"a\":}");
  rpc("unfinished", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"he");
  rpc("strings", "{\"jsonrpc\":\"2.0\",\"id\":\"\\u00e9\\\"}{\",\"method\":\"resource.id\",\"params\":{\"label\":\"\\u0000x\"}}");
  rpc("bad_params", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resolve\",\"params\":[1]}"
                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resolve\",\"params\":{\"resource_id\":\"1111\",\"x\":1}}"
                    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"record.advertise\",\"params\":{\"ttl\":-1}}");
  rpc("invalid", "{\"jsonrpc\":\"1.0\",\"id\":{},\"method\":3}\n{\"id\":[],\"method\":\"health\"}\n");
  snprintf(t, sizeof t,
           "{\"jsonrpc\":\"2.0\",\"id\":19,\"method\":\"record.advertise\",\"params\":{\"resource_id\":\"%s\","
           "\"service_id\":\"c1\",\"check\":{\"tcp\":\"127.0.0.1:8080\",\"interval\":1,\"timeout\":1,\"failures\":1,\"passes\":1}}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"record.advertise\",\"params\":{\"resource_id\":\"%s\","
           "\"service_id\":\"c2\",\"check\":{\"http\":\"http://127.0.0.1:8080/health\"}}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"record.advertise\",\"params\":{\"resource_id\":\"%s\","
           "\"service_id\":\"c3\",\"check\":{\"exec\":[\"true\",\"x\"],\"interval\":1}}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"list\"}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":\"resolve\",\"params\":{\"resource_id\":\"%s\",\"include\":\"all\"}}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":24,\"method\":\"discover\",\"params\":{\"resource_id\":\"%s\",\"include\":\"passing\"}}\n",
           rid, rid, rid, rid, rid);
  rpc("advertise_checks", t);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  if (dr_crypto_init() < 0) die("dr_crypto_init");
  uint8_t s[DR_SEED_LEN];
  for (int i = 0; i < DR_SEED_LEN; i++) s[i] = (uint8_t)i;
  dr_identity_from_seed(&id, s);

  dr_entry res = resource("web", DR_POLICY_OPEN, 0, 1);
  dr_entry res_owner = resource("db", DR_POLICY_OWNER, 3, 5);
  dr_entry rec = record(res.rid, "web-1", 2, false);
  dr_entry rec_full = record(res.rid, "web-1", 4, true);
  dr_entry rec2 = record(res.rid, "web-2", 6, true);
  dr_entry tomb = tombstone(res.rid, "web-1", 7);

  write_seed("fuzz_entry", "resource", res.raw, res.raw_len);
  write_seed("fuzz_entry", "resource_owner", res_owner.raw, res_owner.raw_len);
  write_seed("fuzz_entry", "record", rec.raw, rec.raw_len);
  write_seed("fuzz_entry", "record_full", rec_full.raw, rec_full.raw_len);
  write_seed("fuzz_entry", "tombstone", tomb.raw, tomb.raw_len);
  dr_entry crit = critical(res.rid, "web-3", 8);
  write_seed("fuzz_entry", "record_critical", crit.raw, crit.raw_len);

  static buf snap, log, torn, framed;
  frame(&snap, OP_RES, false, 0, res.raw, res.raw_len);
  frame(&snap, OP_RES, false, 0, res_owner.raw, res_owner.raw_len);
  frame(&snap, OP_AD, false, 300, rec_full.raw, rec_full.raw_len);
  frame(&log, OP_AD, true, 60, rec2.raw, rec2.raw_len);
  frame(&log, OP_TOMB, false, 0, tomb.raw, tomb.raw_len);
  uint8_t key[DR_ID_LEN + 8];
  memcpy(key, res.rid, DR_ID_LEN);
  memcpy(key + DR_ID_LEN, "web-2", 5);
  frame(&log, OP_DROP, false, 0, key, DR_ID_LEN + 5);
  frame(&log, OP_AD, false, 300, rec.raw, rec.raw_len); /* older than the tombstone: ignored */
  state_seed("log", 0, &snap, &log);
  state_seed("snap", 1, &snap, &log);
  state_seed("snap_and_log", 2, &snap, &log);
  torn = log;
  torn.len -= 7; /* a crash in the middle of the last write */
  state_seed("torn_log", 0, &snap, &torn);
  framed_op(&framed, true, OP_RES, false, 0, res.raw, res.raw_len);
  framed_op(&framed, true, OP_AD, false, 300, rec_full.raw, rec_full.raw_len);
  framed_op(&framed, false, OP_AD, true, 60, rec2.raw, rec2.raw_len);
  framed_op(&framed, false, OP_TOMB, false, 0, tomb.raw, tomb.raw_len);
  framed_op(&framed, false, OP_DROP, false, 0, key, DR_ID_LEN + 5);
  framed_op(&framed, false, OP_RES, false, 0, res_owner.raw, res_owner.raw_len);
  state_seed("framed_ops", 3, &snap, &framed); /* mode 3: the bytes as framed ops */
  static buf checked; /* a record and its health check (op 7), critical as its check signed it */
  uint8_t cpl[8192];
  size_t cn = payload_check(cpl, false, 300, crit.raw, crit.raw_len);
  uint8_t ch[3] = {0, (uint8_t)(cn >> 8), (uint8_t)cn};
  put(&checked, ch, 3);
  put(&checked, cpl, cn);
  state_seed("check_op", 3, &snap, &checked);

  char rid[DR_ID_TEXT_MAX], peer[DR_ID_TEXT_MAX];
  dr_id_encode(res.rid, rid);
  dr_id_encode(id.pk, peer);
  rpc_seeds(rid, peer);

  dr_entry_clear(&res);
  dr_entry_clear(&res_owner);
  dr_entry_clear(&rec);
  dr_entry_clear(&rec_full);
  dr_entry_clear(&rec2);
  dr_entry_clear(&tomb);
  dr_entry_clear(&crit);
  return 0;
}
