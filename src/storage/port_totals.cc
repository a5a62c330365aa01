#include "storage/port_totals.h"

#include <algorithm>

namespace isdas::storage {

std::string EncodePortCounts(PortCounts pc) {
  std::sort(pc.begin(), pc.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::string s;
  s.reserve(pc.size() * 6);
  for (auto [port, n] : pc) {
    const uint8_t b[6] = {static_cast<uint8_t>(port),    static_cast<uint8_t>(port >> 8),
                          static_cast<uint8_t>(n),       static_cast<uint8_t>(n >> 8),
                          static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 24)};
    s.append(reinterpret_cast<const char*>(b), 6);
  }
  return s;
}

}  // namespace isdas::storage
