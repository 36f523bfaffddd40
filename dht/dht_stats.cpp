/* dht_stats.cpp - the one C++ file: routing-table statistics, which opendht_c.h does not offer */
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
