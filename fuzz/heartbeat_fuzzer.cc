// libFuzzer target: a sensor's heartbeat as the collector receives it. One that decodes
// encodes and decodes to the same sensor, time and counters.

#include <cstddef>
#include <cstdint>

#include "model/heartbeat_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto hb = isdas::model::DecodeHeartbeat({data, size});
  if (!hb.ok()) {
    if (hb.status().kind() != isdas::ErrorKind::kInvalidArgument) __builtin_trap();
    return 0;
  }
  auto again = isdas::model::DecodeHeartbeat(isdas::model::EncodeHeartbeat(hb.value()));
  if (!again.ok() || again->sensor_id != hb->sensor_id || again->time_us != hb->time_us ||
      again->counters != hb->counters) {
    __builtin_trap();
  }
  return 0;
}
