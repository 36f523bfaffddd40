/* dht_stats.cpp - the one C++ file: what opendht_c.h does not offer (routing-table and message
 * statistics, value ids and types, the edit policy of dhtreg's value type, a search step, OpenDHT's
 * log) */
#include "dht/dht_stats.h"

#include <cerrno>
#include <cstdlib>
#include <new>
#include <opendht/dhtrunner.h>
#include <opendht/log.h>
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

/* opendht_c.cpp's dht_value is a std::shared_ptr<dht::Value> on the heap. */
extern "C" dht_value *dr__dht_value_clone(const dht_value *v) {
  using ValueSp = std::shared_ptr<dht::Value>;
  const ValueSp &orig = *reinterpret_cast<const ValueSp *>(v);
  try {
    auto copy = std::make_shared<dht::Value>(orig->data.data(), orig->data.size());
    copy->id = orig->id;
    copy->type = orig->type;
    copy->user_type = orig->user_type;
    copy->seq = orig->seq;
    return reinterpret_cast<dht_value *>(new ValueSp(std::move(copy)));
  } catch (...) {
    return nullptr;
  }
}

extern "C" void dr__dht_value_set_id(dht_value *v, uint64_t id, uint16_t type, uint16_t seq) {
  auto &val = *reinterpret_cast<std::shared_ptr<dht::Value> *>(v);
  val->id = id;
  val->type = type;
  val->seq = seq;
}

/* Registers dhtreg's value type on the running node: stored like OpenDHT's
 * user data (lifetime_s after the last announce; OpenDHT's is 600), but a stored value may be
 * replaced by one with the same id when edit_ok says so. OpenDHT calls the
 * policy on its own thread. */
extern "C" int dr__dht_register_type(dht_runner *runner, uint16_t type, unsigned lifetime_s,
                                     dr__dht_edit_fn edit_ok, void *ud) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
    dht::ValueType vt(type, "dhtreg", std::chrono::seconds(lifetime_s), dht::ValueType::DEFAULT_STORE_POLICY,
                      [edit_ok, ud](dht::InfoHash, const std::shared_ptr<dht::Value> &o,
                                    std::shared_ptr<dht::Value> &n, const dht::InfoHash &,
                                    const dht::SockAddr &) {
                        return o && n && o->id == n->id &&
                               edit_ok(ud, n->id, o->data.data(), o->data.size(), n->data.data(),
                                       n->data.size());
                      });
    r->registerType(vt);
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
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

/* dht_runner_run_config with what the C config lacks: request rate limits. */
extern "C" int dr__dht_run(dht_runner *runner, uint16_t port, const uint8_t node_id[20],
                           uint32_t network, long max_req_per_sec, long max_peer_req_per_sec) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
    dht::DhtRunner::Config config;
    auto &nc = config.dht_config.node_config;
    if (node_id) nc.node_id = dht::InfoHash(node_id, 20);
    else nc.node_id = dht::InfoHash::getRandom();
    nc.network = network;
    nc.max_req_per_sec = max_req_per_sec;
    nc.max_peer_req_per_sec = max_peer_req_per_sec;
    config.threaded = true;
    dht::DhtRunner::Context ctx;
    /* OpenDHT's own log, for debugging: DHTREG_OPENDHT_LOG=PREFIX writes
     * PREFIX.<pid> */
    if (const char *lf = getenv("DHTREG_OPENDHT_LOG"))
      ctx.logger = dht::log::getFileLogger(std::string(lf) + "." + std::to_string(getpid()));
    r->run(port, config, std::move(ctx));
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -ENOTCONN;
  }
  return 0;
}
