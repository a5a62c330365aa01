#pragma once

// Heartbeat: a sensor's counters, sent beside its batches (docs/batch-format.md).

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace isdas::model {

struct HeartbeatData {
  std::string sensor_id;
  int64_t time_us = 0;
  std::vector<std::pair<std::string, uint64_t>> counters;  // sorted by name
};

std::vector<uint8_t> EncodeHeartbeat(const HeartbeatData& hb);
// Errors: kInvalidArgument naming what is wrong (size, sensor id, counter names).
Result<HeartbeatData> DecodeHeartbeat(std::span<const uint8_t> bytes);

}  // namespace isdas::model
