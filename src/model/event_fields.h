#pragma once

// One description of the event's header fields that are plain unsigned numbers (event.h):
// name, width, how to read and set it, and how text shows it. Every table, codec and text form
// of events takes its columns for them from here — the CSV/JSON output (output/event_format),
// SQLite's events table (storage/events_table), ClickHouse's events table and row writer
// (storage/clickhouse), and the stored event blocks (storage/event_blocks) — so a new such field
// is one line below (and a field of the wire batch, batch.proto, and a new block version: those
// are formats others have stored). docs/event-model.md.
//
// The order is the one the CSV/JSON output and both events tables list them in, after ts,
// sensor, proto, the addresses and ports.

#include <array>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "model/event.h"

namespace isdas::model {

enum class FieldText : uint8_t {
  kDecimal,   // the number
  kTcpFlags,  // tcpdump-style letters (AppendTcpFlags)
  kIpFlags,   // the kFlag* bits, shown as two columns: ip_options (0/1) and fragment
};

struct NumberField {
  std::string_view name;
  uint8_t bytes;  // 1, 2 or 4: the width tables and codecs give it
  FieldText text;
  uint32_t (*get)(const Event&);
  void (*set)(Event&, uint32_t);  // the value cut to the field's width
};

// The fields, in order.
#define ISDAS_FIELD(member, width, text)                                                \
  NumberField {                                                                         \
#member, width, FieldText::text, [](const Event& e) -> uint32_t { return e.member; }, \
        [](Event& e, uint32_t v) { e.member = static_cast<decltype(e.member)>(v); } \
  }
inline constexpr std::array<NumberField, 11> kNumberFields = {
    ISDAS_FIELD(icmp_type, 1, kDecimal),  ISDAS_FIELD(icmp_code, 1, kDecimal),
    ISDAS_FIELD(tcp_flags, 1, kTcpFlags), ISDAS_FIELD(ttl, 1, kDecimal),
    ISDAS_FIELD(ip_id, 4, kDecimal),      ISDAS_FIELD(ip_len, 4, kDecimal),
    ISDAS_FIELD(tcp_seq, 4, kDecimal),    ISDAS_FIELD(tcp_win, 2, kDecimal),
    ISDAS_FIELD(tcp_optlen, 1, kDecimal), ISDAS_FIELD(tcp_mss, 2, kDecimal),
    ISDAS_FIELD(flags, 1, kIpFlags),
};
#undef ISDAS_FIELD

// The index of the field named `name` in kNumberFields (a compile error when there is none,
// used in constant expressions).
constexpr size_t FieldIndex(std::string_view name) {
  for (size_t i = 0; i < kNumberFields.size(); ++i) {
    if (kNumberFields[i].name == name) return i;
  }
  throw "no such event field";
}

// Calls fn(std::integral_constant<size_t, I>{}) for each index I of `indices` (an array of
// indices into kNumberFields), in order. The index is a constant, so a caller's
// kNumberFields[I].get/set is a known function and inlines: the codecs' loops over every event
// cost what hand-written ones did.
template <const auto& indices, typename Fn>
constexpr void ForEachField(Fn&& fn) {
  [&]<size_t... K>(std::index_sequence<K...>) {
    (fn(std::integral_constant<size_t, indices[K]>{}), ...);
  }
  (std::make_index_sequence<std::size(indices)>{});
}

// Every field, in order.
inline constexpr auto kAllFields = [] {
  std::array<size_t, kNumberFields.size()> a{};
  for (size_t i = 0; i < a.size(); ++i) a[i] = i;
  return a;
}();

// The field's width must hold every value of its member.
static_assert([] {
  Event e;
  for (const NumberField& f : kNumberFields) {
    const uint32_t max = f.bytes == 4 ? UINT32_MAX : (1u << (8 * f.bytes)) - 1;
    f.set(e, max);
    if (f.get(e) != max) return false;
  }
  return true;
}());

}  // namespace isdas::model
