/* opendht_shim.cpp - the one C++ file: what opendht_c.h does not offer (bind addresses on a socket of
 * both families, rate and storage limits, dhtreg's value type and its store and edit policies, gets
 * and listens filtered on the storers, plain puts, the node lists of done callbacks, statistics, a
 * search step, OpenDHT's log) */
#include "dht/opendht_shim.h"

#include <cerrno>
#include <cstdlib>
#include <algorithm>
#include <arpa/inet.h>
#include <climits>
#include <cstring>
#include <new>
#include <opendht/dhtrunner.h>
#include <opendht/log.h>
#include <opendht/network_utils.h>
#include <opendht/node.h>
#include <opendht/value.h>
#include <string>
#include <unistd.h>

/* opendht_c.cpp creates a dht_runner as a dht::DhtRunner and casts it. */
extern "C" int dr__dht_request_stats(dht_runner *runner,
                                     void (*cb)(void *ud, unsigned good, unsigned dubious,
                                                unsigned searches),
                                     void *ud) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
    r->getNodeInfo([cb, ud](std::shared_ptr<dht::NodeInfo> info) {
      unsigned good = 0, dubious = 0, searches = 0;
      if (info) {
        good = info->ipv4.good_nodes + info->ipv6.good_nodes;
        dubious = info->ipv4.dubious_nodes + info->ipv6.dubious_nodes;
        searches = info->ipv4.searches + info->ipv6.searches;
      }
      cb(ud, good, dubious, searches);
    });
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
  return 0;
}

extern "C" int dr__dht_message_stats(dht_runner *runner, uint64_t sent[5], uint64_t received[5],
                                     uint64_t store[2]) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
    auto st = r->getStoreSize();
    store[0] = st.second; /* values */
    store[1] = st.first;  /* bytes */
    auto out = r->getNodeMessageStats(false);
    auto in = r->getNodeMessageStats(true);
    for (size_t i = 0; i < 5 && i < out.size(); i++) sent[i] += out[i];
    for (size_t i = 0; i < 5 && i < in.size(); i++) received[i] += in[i];
  } catch (...) {
    return -EIO;
  }
  return 0;
}

/* Registers dhtreg's value type on the running node: stored lifetime_s after
 * the last put; a new value only if store accepts it, a stored one replaced
 * (same id, other content) only by a value store accepts and edit allows.
 * OpenDHT calls both on its own thread. */
extern "C" int dr__dht_register_type(dht_runner *runner, uint16_t type, unsigned lifetime_s,
                                     dr__dht_store_fn store, dr__dht_edit_fn edit, void *ud) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
    auto accepts = [store, ud](const dht::InfoHash &key, const dht::Value &v) {
      return store(ud, key.data(), v.user_type.data(), v.user_type.size(), v.data.data(), v.data.size()) == 0;
    };
    dht::ValueType vt(
        type, "dhtreg", std::chrono::seconds(lifetime_s),
        [accepts](dht::InfoHash key, std::shared_ptr<dht::Value> &v, const dht::InfoHash &,
                  const dht::SockAddr &) { return v && accepts(key, *v); },
        [accepts, edit, ud](dht::InfoHash key, const std::shared_ptr<dht::Value> &o,
                            std::shared_ptr<dht::Value> &n, const dht::InfoHash &, const dht::SockAddr &) {
          return o && n && o->id == n->id && accepts(key, *n) &&
                 edit(ud, n->id, o->data.data(), o->data.size(), n->data.data(), n->data.size());
        });
    r->registerType(vt);
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
  return 0;
}

/* The node ids of a done callback's list, for the C side. */
static size_t node_ids(const std::vector<std::shared_ptr<dht::Node>> &nodes,
                       uint8_t (*out)[DR__NODE_ID_LEN]) {
  size_t n = 0;
  for (const auto &node : nodes) {
    if (!node || n >= DR__DONE_NODES_MAX) continue;
    auto id = node->getId();
    std::memcpy(out[n++], id.data(), DR__NODE_ID_LEN);
  }
  return n;
}

/* A done callback that hands the C side ok and the node ids. */
static dht::DoneCallback done_to_c(dr__dht_done_fn done, void *ud) {
  return [done, ud](bool ok, const std::vector<std::shared_ptr<dht::Node>> &nodes) {
    uint8_t ids[DR__DONE_NODES_MAX][DR__NODE_ID_LEN];
    size_t n = node_ids(nodes, ids);
    done(ud, ok, ids, n);
  };
}

extern "C" int dr__dht_get(dht_runner *runner, const dht_infohash *h, uint16_t type, uint64_t id,
                           const char *user_type, dr__dht_value_fn value, dr__dht_done_fn done,
                           void *ud) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  const auto &key = *reinterpret_cast<const dht::InfoHash *>(h);
  try {
    dht::Where w;
    w.valueType(type);
    if (id) w.id(id);
    if (user_type) w.userType(user_type);
    r->get(
        key,
        [value, ud](const std::vector<std::shared_ptr<dht::Value>> &values) {
          for (const auto &v : values)
            if (v) value(ud, v->data.data(), v->data.size());
          return true;
        },
        done_to_c(done, ud),
        {}, std::move(w));
  } catch (...) {
    return -ENOMEM;
  }
  return 0;
}

extern "C" int dr__dht_put(dht_runner *runner, const dht_infohash *h, uint16_t type, uint64_t id,
                           uint16_t seq, const char *user_type, const uint8_t *data, size_t len,
                           unsigned age_s, dr__dht_done_fn done, void *ud) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  const auto &key = *reinterpret_cast<const dht::InfoHash *>(h);
  try {
    auto v = std::make_shared<dht::Value>(data, len);
    v->id = id;
    v->type = type;
    v->seq = seq;
    if (user_type) v->user_type = user_type;
    r->put(
        key, std::move(v),
        done_to_c(done, ud),
        age_s ? dht::clock::now() - std::chrono::seconds(age_s) : dht::time_point::max(), false);
  } catch (...) {
    return -ENOMEM;
  }
  return 0;
}

/* As dht_runner_listen (and compatible with dht_runner_cancel_listen and
 * dht_op_token_delete: the token is the same std::future), for the values
 * of one type and one OpenDHT user type. Two faults of OpenDHT 2.4.12 (and
 * later releases) decide the filter given to OpenDHT:
 * - Values another node sends to a listen pass its search cache's filter
 *   (Value::Filter::filter), which calls the filter with a Value built
 *   from the value's shared_ptr (the "pack anything" constructor): a value
 *   of type 0 and no user type, whatever the real one was. A listen
 *   filtered on dhtreg's type therefore never hears a value from another
 *   node, only from this node's own storage. Only a filter such a value
 *   passes works: "no user type" does.
 * - A get whose filter includes a listen's filter, on a key whose listen
 *   is synced, is answered from the listen's cache, without asking a node
 *   (Search::get, SearchCache::get). That cache keeps the first version of
 *   each value id (its per-node layer takes an edit in place for a
 *   refresh): a get filtered on the type alone under a listen on the type
 *   never saw a renewal. A listen filtered on the user type is included by
 *   no get dhtreg makes (on the type, an id, the resource mark), so every
 *   get reaches the storers.
 * So a listen of records and tombstones (user_type NULL) asks OpenDHT for
 * the values without a user type, and the type is checked here. A listen
 * of resource entries (user_type the mark) is filtered on both: OpenDHT
 * 2.4.12 calls it only for what this node stores itself (above), and a get
 * of the resource entry alone is answered from its cache, which does hold
 * what the storers sent (a resource's versions each have a new value id,
 * none is edited in place). */
extern "C" dht_op_token *dr__dht_listen_type(dht_runner *runner, const dht_infohash *h,
                                            uint16_t type, const char *user_type, dht_value_cb cb,
                                            dht_shutdown_cb done_cb, void *ud) {
  struct Guard {
    dht_shutdown_cb cb;
    void *ud;
    Guard(dht_shutdown_cb c, void *u) : cb(c), ud(u) {}
    Guard(const Guard &) = delete;
    ~Guard() {
      if (cb) cb(ud);
    }
  };
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  const auto &key = *reinterpret_cast<const dht::InfoHash *>(h);
  std::future<size_t> *token = nullptr;
  try {
    token = new std::future<size_t>;
    auto guard = std::make_shared<Guard>(done_cb, ud);
    std::string ut = user_type ? user_type : "";
    dht::Where w;
    if (user_type) w.valueType(type);
    w.userType(ut);
    *token = r->listen(
        key,
        [cb, ud, guard, type, ut](const std::vector<std::shared_ptr<dht::Value>> &values, bool expired) {
          for (const auto &v : values)
            if (v && v->type == type && v->user_type == ut &&
                !cb(reinterpret_cast<const dht_value *>(&v), expired, ud))
              return false;
          return true;
        },
        {}, std::move(w));
  } catch (...) {
    delete token;
    return nullptr;
  }
  return reinterpret_cast<dht_op_token *>(token);
}

/* A get of h for a value id nobody uses: it answers nothing, but it makes
 * OpenDHT step h's search now, which reports the announces its nodes
 * already acknowledged. */
extern "C" int dr__dht_step_search(dht_runner *runner, const dht_infohash *h) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  const auto &key = *reinterpret_cast<const dht::InfoHash *>(h);
  try {
    r->get(
        key, [](const std::vector<std::shared_ptr<dht::Value>> &) { return true; },
        [](bool, const std::vector<std::shared_ptr<dht::Node>> &) {}, {}, dht::Where().id(1));
  } catch (...) {
    return -ENOMEM;
  }
  return 0;
}

/* A bind address for the runner's socket: ip (every address of the family
 * when NULL) with port. */
static dht::SockAddr bind_addr(const char *ip, int family, uint16_t port) {
  dht::SockAddr sa;
  sa.setFamily(family);
  if (ip) sa.setAddress(ip); /* throws on a bad address */
  sa.setPort(port);
  return sa;
}

/* The runner's UDP socket, which says it has both address families even
 * when --bind gave it one. OpenDHT 2.4.12's Dht::listen asks the IPv4 and
 * the IPv6 search in turn, and when the runner lacks a family (a socket
 * bound to one address, or a host without IPv6) it gets no token from that
 * search, drops the listener it had put on the node's own storage and
 * returns 0, leaving the other family's search listener behind: the listen
 * never hears what is stored on this node, and dht_runner_cancel_listen
 * cannot end it (OpenDHT knows no listen by the token 0). A family without a
 * socket here behaves as one the host has no route for: every send to a
 * node of it fails with EAFNOSUPPORT (UdpSocket::sendTo), and OpenDHT drops
 * that node at once (NetworkEngine::requestStep, as for ENETUNREACH).
 * Nothing is bound beyond the addresses given. */
class dual_family_socket final : public dht::net::UdpSocket {
public:
  using dht::net::UdpSocket::UdpSocket;
  bool hasIPv4() const override { return true; }
  bool hasIPv6() const override { return true; }
};

/* DhtRunner::run with what the C config lacks: rate limits, the storage
 * limit, bind addresses, a socket of both families. */
extern "C" int dr__dht_run(dht_runner *runner, const dr__dht_run_cfg *cfg) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  dht::DhtRunner::Config config;
  dht::SockAddr bind4, bind6;
  try {
    auto &nc = config.dht_config.node_config;
    if (cfg->node_id) nc.node_id = dht::InfoHash(cfg->node_id, 20);
    else nc.node_id = dht::InfoHash::getRandom();
    nc.network = cfg->network;
    nc.max_req_per_sec = cfg->max_req_per_sec;
    nc.max_peer_req_per_sec = cfg->max_peer_req_per_sec;
    /* OpenDHT keeps this as an int */
    nc.max_store_size = std::min<long>(cfg->max_store_bytes > 0 ? cfg->max_store_bytes : 0, INT_MAX);
    config.threaded = true;
    try {
      bool any = !cfg->bind4 && !cfg->bind6; /* every address, both families */
      if (any || cfg->bind4) bind4 = bind_addr(cfg->bind4, AF_INET, cfg->port);
      if (any || cfg->bind6) bind6 = bind_addr(cfg->bind6, AF_INET6, cfg->port);
    } catch (...) {
      return -EADDRNOTAVAIL;
    }
  } catch (...) {
    return -ENOMEM;
  }
  try {
    dht::DhtRunner::Context ctx;
    /* OpenDHT's own log, for debugging: DHTREG_OPENDHT_LOG=PREFIX writes
     * PREFIX.<pid> */
    if (const char *lf = getenv("DHTREG_OPENDHT_LOG"))
      ctx.logger = dht::log::getFileLogger(std::string(lf) + "." + std::to_string(getpid()));
    /* throws when no address of either family could be bound */
    ctx.sock = std::make_unique<dual_family_socket>(bind4, bind6, ctx.logger);
    r->run(config, std::move(ctx));
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -ENOTCONN;
  }
  return 0;
}
