/* dht_stats.cpp - the one C++ file: what opendht_c.h does not offer (routing-table and message
 * statistics, re-announcing a value under its own id) */
#include "dht/dht_stats.h"

#include <cerrno>
#include <new>
#include <opendht/dhtrunner.h>

/* opendht_c.cpp creates a dht_runner as a dht::DhtRunner and casts it. */
extern "C" int dr__dht_request_stats(dht_runner *runner,
                                     void (*cb)(void *ud, unsigned good, unsigned dubious),
                                     void *ud) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
    r->getNodeInfo([cb, ud](std::shared_ptr<dht::NodeInfo> info) {
      unsigned good = 0, dubious = 0;
      if (info) {
        good = info->ipv4.good_nodes + info->ipv6.good_nodes;
        dubious = info->ipv4.dubious_nodes + info->ipv6.dubious_nodes;
      }
      cb(ud, good, dubious);
    });
  } catch (const std::bad_alloc &) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
  return 0;
}

extern "C" int dr__dht_message_stats(dht_runner *runner, uint64_t sent[5], uint64_t received[5]) {
  auto *r = reinterpret_cast<dht::DhtRunner *>(runner);
  try {
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
    return reinterpret_cast<dht_value *>(new ValueSp(std::move(copy)));
  } catch (...) {
    return nullptr;
  }
}
