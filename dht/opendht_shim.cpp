/* opendht_shim.cpp - the one C++ file: what opendht_c.h does not offer (bind addresses, rate and
 * storage limits, dhtreg's value type and its store and edit policies, gets filtered on the storers,
 * plain puts, the node lists of done callbacks, statistics, a search step, OpenDHT's log) */
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
 * dht_op_token_delete: the token is the same std::future), but only for
 * values of one type. A get of the key is then not answered from this
 * listen's cache, whose per-node layer ignores values edited in place. */
extern "C" dht_op_token *dr__dht_listen_type(dht_runner *runner, const dht_infohash *h,
                                            uint16_t type, dht_value_cb cb,
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
    *token = r->listen(
        key,
        [cb, ud, guard](const std::vector<std::shared_ptr<dht::Value>> &values, bool expired) {
          for (const auto &v : values)
            if (!cb(reinterpret_cast<const dht_value *>(&v), expired, ud)) return false;
          return true;
        },
        {}, dht::Where().valueType(type));
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

/* A bind address for run(): ip with port, or empty when ip is NULL. */
static dht::SockAddr bind_addr(const char *ip, int family, uint16_t port) {
  dht::SockAddr sa;
  if (!ip) return sa;
  sa.setFamily(family);
  sa.setAddress(ip); /* throws on a bad address */
  sa.setPort(port);
  return sa;
}

/* DhtRunner::run with what the C config lacks: rate limits, the storage
 * limit, bind addresses. */
extern "C" int dr__dht_run(dht_runner *runner, const dr__dht_run_cfg *cfg) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  dht::DhtRunner::Config config;
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
      config.bind4 = bind_addr(cfg->bind4, AF_INET, cfg->port);
      config.bind6 = bind_addr(cfg->bind6, AF_INET6, cfg->port);
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
    if (config.bind4 || config.bind6) r->run(config, std::move(ctx));
    else r->run(cfg->port, config, std::move(ctx)); /* every address, both families */
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -ENOTCONN;
  }
  return 0;
}
