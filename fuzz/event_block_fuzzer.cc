// libFuzzer target: an event block as the SQLite store reads it back (zstd, column by
// column). Byte 0 even: the rest is the stored block; odd: the rest is the block's columns,
// compressed here, so mutations reach the column parser. A block that decodes has one source per
// event and encodes to a block that decodes and encodes to the same bytes.

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/event_blocks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string stored;
  if ((data[0] & 1) == 0) {
    stored.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  } else {
    stored.resize(ZSTD_compressBound(size - 1));
    stored.resize(ZSTD_compress(stored.data(), stored.size(), data + 1, size - 1, 1));
  }
  isdas::storage::EventBlock b;
  const std::string_view in(stored);
  isdas::Status s = isdas::storage::DecodeEventBlock(in, &b);
  if (!s.ok()) {
    if (s.kind() != isdas::ErrorKind::kCorruption || !b.events.empty()) __builtin_trap();
    return 0;
  }
  if (b.sources.size() != b.events.size() || b.events.size() > isdas::storage::kMaxBlockEvents) {
    __builtin_trap();
  }
  const std::string again = isdas::storage::EncodeEventBlock(b.events, b.sources, -1);
  isdas::storage::EventBlock b2;
  if (!isdas::storage::DecodeEventBlock(again, &b2).ok() || b2.events.size() != b.events.size()) {
    __builtin_trap();
  }
  if (isdas::storage::EncodeEventBlock(b2.events, b2.sources, -1) != again) __builtin_trap();
  return 0;
}
