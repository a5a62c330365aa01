#include "model/heartbeat_codec.h"

#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <mutex>

#include "model/batch.pb.h"

namespace isdas::model {
namespace {

bool ValidCounterName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

}  // namespace

std::vector<uint8_t> EncodeHeartbeat(const HeartbeatData& hb) {
  wire::v1::Heartbeat m;
  m.set_sensor_id(hb.sensor_id);
  m.set_time_us(hb.time_us);
  for (const auto& [k, v] : hb.counters) (*m.mutable_counters())[k] = v;
  const std::string s = m.SerializeAsString();
  return std::vector<uint8_t>(s.begin(), s.end());
}

Result<HeartbeatData> DecodeHeartbeat(std::span<const uint8_t> bytes) {
  if (bytes.size() > 64 * 1024) return InvalidArgument("heartbeat: larger than 64 KiB");
  wire::v1::Heartbeat m;
  // As for batches (batch_codec.cc): no protobuf log line per non-UTF-8 string a sender puts.
  static std::once_flag quiet;
  std::call_once(quiet, [] { google::protobuf::SetLogHandler(nullptr); });
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("heartbeat: not a valid protobuf Heartbeat");
  }
  if (m.counters_size() > 256) return InvalidArgument("heartbeat: more than 256 counters");
  HeartbeatData hb;
  hb.sensor_id = m.sensor_id();
  hb.time_us = m.time_us();
  for (const auto& [k, v] : m.counters()) {
    if (!ValidCounterName(k)) {
      return InvalidArgument("heartbeat: counter name '" + k.substr(0, 64) +
                             "' is not 1-64 characters of [a-z0-9_.]");
    }
    hb.counters.emplace_back(k, v);
  }
  std::sort(hb.counters.begin(), hb.counters.end());
  return hb;
}

}  // namespace isdas::model
