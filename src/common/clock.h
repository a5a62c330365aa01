#pragma once

// Wall-clock time in the unit isdas stores: microseconds since the Unix epoch, UTC.

#include <chrono>
#include <cstdint>

namespace isdas {

inline int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace isdas
