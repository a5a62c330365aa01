#pragma once

// Events stored in blocks (docs/storage-sqlite.md#events-in-blocks): the events of one sensor
// batch, or of a run of an import, as one zstd-compressed, column-by-column record. SQLite pays
// per row inserted (its shell imports ~309 k event rows a second here); a block is one row for
// 16,384 events.
//
// Layout before compression, all integers little-endian:
//   "IEB1"  u32 count
//   then one column after another, `count` values each:
//     ts (i64, difference to the previous event's; the first to 0), sensor u32, proto u8,
//     tcp_flags u8, icmp_type u8, icmp_code u8, src family u8 (0, 4 or 6), dst family u8,
//     src addresses (4 or 16 bytes each, by family, back to back), dst addresses, sport u16,
//     dport u16, ttl u8, flags u8, tcp_optlen u8, tcp_mss u16, tcp_win u16, tcp_seq u32,
//     ip_id u32, ip_len u32, kind u8, tool u8, spoof u8, country 2 bytes ({0,0} = not looked
//     up), asn u32, research u8.
// A column stays together so zstd sees runs of like values (ports, flags, countries).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/event.h"
#include "model/source_info.h"

namespace isdas::storage {

inline constexpr size_t kMaxBlockEvents = 1 << 20;  // rowids of the events table: block << 20

struct EventBlock {
  std::vector<model::Event> events;
  std::vector<model::SourceInfo> sources;  // one per event (not looked up: country {0,0})
};

// Encodes `events` (at most kMaxBlockEvents); `sources` is one per event or empty (not looked
// up). With `sensor` >= 0 every event is stored under that sensor id, else under its own.
std::string EncodeEventBlock(std::span<const model::Event> events,
                             std::span<const model::SourceInfo> sources, int64_t sensor);

// Removes the events before `from_us` (order kept); returns how many.
size_t DropBefore(EventBlock* b, int64_t from_us);

// Decodes a block into `out` (replacing its contents). kCorruption, saying what is wrong and
// where, for anything that is not a whole block; `out` is then empty.
Status DecodeEventBlock(std::string_view data, EventBlock* out);

}  // namespace isdas::storage
