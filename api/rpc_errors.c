/* rpc_errors.c - the node's errors as JSON-RPC error objects: the code, and a message that names the param or the limit and says what to do */
#include "api/api_private.h"

#include <errno.h>
#include <string.h>

void dr_rpc_fail_node(dr_rpc_call *call, int err, const dr_param_error *pe) {
  const char *field = pe && pe->field ? pe->field : NULL;
  const char *why = pe && pe->why ? pe->why : "";
  dr_node_info info; /* what some of the messages quote (not cheap: only for those) */
  if (err == -EDQUOT || err == DR_EWRITE || err == DR_ECLOCK) dr_node_get_info(dr_rpc_call_node(call), &info);
  switch (err) {
  case -EINVAL:
    if (field) dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param %s: %s", field, why);
    else dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid params");
    break;
  case -EMSGSIZE:
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: %s %s", field ? field : "entry", why);
    break;
  case DR_ENOTFOUND:
    dr_rpc_fail(call, DR_RPC_NOT_FOUND, "not found");
    break;
  case -EDQUOT:
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: this node looked up %zu distinct keys in the "
                "last hour (--max-lookup-keys); keys looked up before still resolve", info.lookup_keys);
    break;
  case -ENOBUFS:
    dr_rpc_fail(call, DR_RPC_LIMIT, "limit exceeded: the node has as many DHT lookups queued as it "
                "can answer in time (--max-queue); try again later");
    break;
  case DR_ETIMEOUT: {
    /* connected or not: which of the two the caller has to look into */
    const dr_node *n = dr_rpc_call_node(call);
    unsigned peers = dr_node_peers(n);
    if (!peers)
      dr_rpc_fail(call, DR_RPC_TIMEOUT, "the DHT did not answer in time: this node has no peers (not "
                  "connected; its health says why)");
    else
      dr_rpc_fail(call, DR_RPC_TIMEOUT, "the DHT did not answer in time: the lookup did not complete "
                  "within %llu ms (--op-timeout-ms), though the node has %u peer%s; try again",
                  (unsigned long long)dr_node_op_timeout_ms(n), peers, peers == 1 ? "" : "s");
    break;
  }
  case DR_EWRITE:
    dr_rpc_fail(call, DR_RPC_INTERNAL,
                "cannot write the node's state (%s): nothing was changed; the node tries again "
                "every second and recovers once the disk does",
                strerror(info.persist_error ? info.persist_error : EIO));
    break;
  case DR_ECLOCK:
    dr_rpc_fail(call, DR_RPC_INTERNAL,
                "refused: this node's clock seems %lld s behind the network's, so the record would "
                "arrive expired; synchronise the clock (NTP)", (long long)-info.clock_offset);
    break;
  case DR_ECURSOR:
    dr_rpc_fail(call, DR_RPC_INVALID_PARAMS, "invalid param cursor: the resource's shard count changed "
                "since that page; start again without a cursor");
    break;
  case DR_EFORBIDDEN:
    dr_rpc_fail(call, DR_RPC_FORBIDDEN, "forbidden by the resource's policy");
    break;
  case -ESHUTDOWN:
    dr_rpc_fail(call, DR_RPC_INTERNAL, "the node is shutting down");
    break;
  default:
    dr_rpc_fail(call, DR_RPC_INTERNAL, "internal error: %s", strerror(err < 0 ? -err : err));
    break;
  }
}

/* Drops the bytes of s that are not whole UTF-8 sequences. A message that
 * quotes a client's string cut to a length ("%.64s") may end a character
 * halfway; jansson refuses such a string, and the call would go unanswered. */
void dr__utf8_clean(char *s) {
  unsigned char *in = (unsigned char *)s, *out = in;
  while (*in) {
    size_t n = *in < 0x80 ? 1 : (*in & 0xe0) == 0xc0 ? 2 : (*in & 0xf0) == 0xe0 ? 3
             : (*in & 0xf8) == 0xf0 ? 4 : 0;
    size_t k = 1;
    while (n && k < n && (in[k] & 0xc0) == 0x80) k++;
    if (n && k == n) {
      memmove(out, in, n);
      out += n;
      in += n;
    } else {
      in += k; /* a cut sequence: skip its bytes */
    }
  }
  *out = '\0';
}
