// libFuzzer target: a rollup pack as the SQLite store reads it back. Byte 0 picks the
// family, byte 1 the part; the rest is the pack. A pack that decodes has its rows in pack
// order, each once, encodes to a pack that decodes to the same rows, and merges with itself
// (counters included) into the same keys.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "storage/rollup_packs.h"

namespace {

bool Same(const isdas::storage::PackRow& a, const isdas::storage::PackRow& b) {
  return isdas::storage::SameRow(a, b) && a.packets == b.packets && a.first_us == b.first_us &&
         a.last_us == b.last_us && a.sources == b.sources && a.destinations == b.destinations;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace isdas::storage;
  if (size < 2) return 0;
  const auto family = static_cast<isdas::rollup::Family>(data[0] % isdas::rollup::kFamilies);
  const int64_t part = data[1];
  const int64_t bucket = 1795651200;  // a whole day, hour and 5 minutes
  const std::string_view pack(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<PackRow> rows;
  isdas::Status s = DecodePack(pack, family, bucket, part, &rows);
  if (!s.ok()) {
    if (s.kind() != isdas::ErrorKind::kCorruption) __builtin_trap();
    return 0;
  }
  for (size_t i = 1; i < rows.size(); ++i) {
    if (!PackOrder(rows[i - 1], rows[i])) __builtin_trap();  // sorted, each row once
  }
  std::string again;
  EncodePack(bucket, rows, &again);
  std::vector<PackRow> rows2;
  if (!DecodePack(again, family, bucket, part, &rows2).ok() || rows2.size() != rows.size()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!Same(rows[i], rows2[i])) __builtin_trap();
  }
  std::vector<PackRow> merged;
  std::deque<std::string> scratch;
  size_t used = 0;
  s = MergePackRows(rows, rows2, &merged, &scratch, &used);
  if (s.ok()) {
    if (merged.size() != rows.size()) __builtin_trap();
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!SameRow(merged[i], rows[i]) || merged[i].packets != 2 * rows[i].packets) {
        __builtin_trap();
      }
    }
  } else if (s.kind() != isdas::ErrorKind::kCorruption) {
    __builtin_trap();
  }
  return 0;
}
