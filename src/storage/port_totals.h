#pragma once

// SQLite's port totals (docs/storage-sqlite.md, `port_totals_<res>`): every port's packets in
// one bucket and filter combination as one blob of (port, count) pairs, u16 port + u32 count,
// little-endian, 6 bytes a port, highest count first (ties by port), so a blob's first pairs are
// its top ports. Beside each blob its first kPortTotalsHead + 1 pairs are stored on their own
// (its `head`), so "top ports" reads the top of every blob without the rest (docs/rollups.md).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace isdas::storage {

using PortCounts = std::vector<std::pair<uint16_t, uint32_t>>;
constexpr size_t kPortTotalsHead = 256;

// The head of a blob: its first kPortTotalsHead + 1 pairs (all of them when fewer).
inline std::string_view PortTotalsHead(std::string_view blob) {
  return blob.substr(0, 6 * (kPortTotalsHead + 1));
}

// Calls f(port, count) for each pair of a blob, in stored order.
template <typename F>
void ForEachPortCount(const void* data, size_t n, F&& f) {
  const auto* b = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 6 <= n; i += 6) {
    f(static_cast<uint16_t>(b[i] | b[i + 1] << 8),
      static_cast<uint32_t>(b[i + 2] | b[i + 3] << 8 | b[i + 4] << 16 | uint32_t{b[i + 5]} << 24));
  }
}

// The blob of `pc` (any order; each port once): sorted highest count first.
std::string EncodePortCounts(PortCounts pc);

}  // namespace isdas::storage
