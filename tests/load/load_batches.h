#pragma once

// Wire batches for the load tests: `events` TCP SYNs to port 1-1024 of 198.19.0.0/16 from
// sources spread over 203.0.0.0/8, timestamps one second apart per sequence number, so that
// every batch of every sensor holds distinct events.

#include <string>
#include <vector>

#include "model/batch_codec.h"

namespace isdas::load {

inline std::string Batch(const std::string& sensor, uint64_t epoch, uint64_t seq, int events) {
  std::vector<model::Event> evs(static_cast<size_t>(events));
  for (int i = 0; i < events; ++i) {
    auto& e = evs[static_cast<size_t>(i)];
    e.ts_us = 1795651200LL * 1000000 + static_cast<int64_t>(seq) * 1000000 + i;
    e.src = model::IpAddr::V4(0xcb000000u + static_cast<uint32_t>(i * 7919));
    e.dst = model::IpAddr::V4(0xc6130000u + static_cast<uint32_t>(i));
    e.proto = 6;
    e.dport = static_cast<uint16_t>(1 + i % 1024);
    e.tcp_flags = 2;
  }
  auto z = model::EncodeBatch({sensor, epoch, seq, 1}, evs);
  return std::string(z->begin(), z->end());
}

}  // namespace isdas::load
