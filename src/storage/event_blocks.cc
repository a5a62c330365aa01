#include "storage/event_blocks.h"

#include <zstd.h>

#include <bit>
#include <cstring>
#include <memory>
#include <span>
#include <type_traits>

#include "model/event_fields.h"

namespace isdas::storage {
namespace {

using model::kNumberFields;

static_assert(std::endian::native == std::endian::little, "blocks are written as they lie");

constexpr char kMagic[4] = {'I', 'E', 'B', '1'};
constexpr size_t kHeader = 8;

// The event's number fields (model/event_fields.h) in the order blocks of format IEB1 store
// them: three after the protocol, the others after the ports. A field added to the model is
// stored by a new block format (IEB2), which the decoder then tells apart by its magic.
using model::FieldIndex;
constexpr size_t kBlockFirst[] = {FieldIndex("tcp_flags"), FieldIndex("icmp_type"),
                                  FieldIndex("icmp_code")};
constexpr size_t kBlockSecond[] = {
    FieldIndex("ttl"),     FieldIndex("flags"),   FieldIndex("tcp_optlen"), FieldIndex("tcp_mss"),
    FieldIndex("tcp_win"), FieldIndex("tcp_seq"), FieldIndex("ip_id"),      FieldIndex("ip_len")};
static_assert(std::size(kBlockFirst) + std::size(kBlockSecond) == model::kNumberFields.size(),
              "every number field of the model has its place in the block");
constexpr size_t kNumberBytes = [] {
  size_t n = 0;
  for (const model::NumberField& f : model::kNumberFields) n += f.bytes;
  return n;
}();
// Every column but the addresses: time, sensor, protocol, the two families, the ports, the
// number fields, the three labels, country, AS and research flag.
constexpr size_t kFixedPerEvent = 8 + 4 + 1 + 2 + 4 + kNumberBytes + 3 + 2 + 4 + 1;
static_assert(kFixedPerEvent == 51, "format IEB1");

template <size_t bytes>
using Uint =
    std::conditional_t<bytes == 1, uint8_t, std::conditional_t<bytes == 2, uint16_t, uint32_t>>;
constexpr int kLevel = 1;  // zstd's fastest standard level (BENCHMARKS.md)

// Fills one column: `get(i)` for every event, written as T.
template <typename T, typename Get>
void Column(char** at, size_t n, Get get) {
  for (size_t i = 0; i < n; ++i) {
    const T v = static_cast<T>(get(i));
    std::memcpy(*at, &v, sizeof v);
    *at += sizeof v;
  }
}

// Writes the number fields listed in `indices`, a column each.
template <const auto& indices>
void NumberColumns(char** at, std::span<const model::Event> ev) {
  model::ForEachField<indices>([&](auto k) {
    constexpr size_t idx = decltype(k)::value;
    Column<Uint<kNumberFields[idx].bytes>>(at, ev.size(),
                                           [&](size_t i) { return kNumberFields[idx].get(ev[i]); });
  });
}

struct ZstdContexts {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c{ZSTD_createCCtx(), ZSTD_freeCCtx};
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> d{ZSTD_createDCtx(), ZSTD_freeDCtx};
};
ZstdContexts& Contexts() {
  thread_local ZstdContexts z;
  return z;
}

// Reads columns off the decompressed bytes, failing (not reading past) at the first short one.
class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), end_(p + n) {}
  template <typename T, typename Set>
  bool Column(size_t n, Set set) {
    if (static_cast<size_t>(end_ - p_) / sizeof(T) < n) return false;
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, p_, sizeof v);
      p_ += sizeof v;
      set(i, v);
    }
    return true;
  }
  // Reads the number fields listed in `indices`, a column each, into `ev`.
  template <const auto& indices>
  bool NumberColumns(std::span<model::Event> ev) {
    bool ok = true;
    model::ForEachField<indices>([&](auto k) {
      constexpr size_t idx = decltype(k)::value;
      ok = ok && Column<Uint<kNumberFields[idx].bytes>>(
                     ev.size(), [&](size_t i, auto v) { kNumberFields[idx].set(ev[i], v); });
    });
    return ok;
  }
  bool Bytes(size_t n, uint8_t* out) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace

std::string EncodeEventBlock(std::span<const model::Event> ev,
                             std::span<const model::SourceInfo> src, int64_t sensor) {
  const size_t n = ev.size();
  size_t addr_bytes = 0;
  for (const model::Event& e : ev) addr_bytes += e.src.size() + e.dst.size();
  std::string raw(kHeader + n * kFixedPerEvent + addr_bytes, '\0');
  char* at = raw.data();
  std::memcpy(at, kMagic, 4);
  const uint32_t count = static_cast<uint32_t>(n);
  std::memcpy(at + 4, &count, 4);
  at += kHeader;
  // Differences in wrapping (unsigned) arithmetic, so any two times have one, and the decoder's
  // sums give them back exactly.
  Column<int64_t>(&at, n, [&](size_t i) {
    return static_cast<int64_t>(static_cast<uint64_t>(ev[i].ts_us) -
                                static_cast<uint64_t>(i ? ev[i - 1].ts_us : 0));
  });
  Column<uint32_t>(&at, n, [&](size_t i) { return sensor >= 0 ? sensor : ev[i].sensor_id; });
  Column<uint8_t>(&at, n, [&](size_t i) { return ev[i].proto; });
  NumberColumns<kBlockFirst>(&at, ev);
  Column<uint8_t>(&at, n, [&](size_t i) { return ev[i].src.size() ? ev[i].src.family : 0; });
  Column<uint8_t>(&at, n, [&](size_t i) { return ev[i].dst.size() ? ev[i].dst.family : 0; });
  for (const model::Event& e : ev) {
    std::memcpy(at, e.src.bytes, e.src.size());
    at += e.src.size();
  }
  for (const model::Event& e : ev) {
    std::memcpy(at, e.dst.bytes, e.dst.size());
    at += e.dst.size();
  }
  Column<uint16_t>(&at, n, [&](size_t i) { return ev[i].sport; });
  Column<uint16_t>(&at, n, [&](size_t i) { return ev[i].dport; });
  NumberColumns<kBlockSecond>(&at, ev);
  Column<uint8_t>(&at, n, [&](size_t i) { return ev[i].labels.kind; });
  Column<uint8_t>(&at, n, [&](size_t i) { return ev[i].labels.tool; });
  Column<uint8_t>(&at, n, [&](size_t i) { return ev[i].labels.spoof; });
  const bool have = !src.empty();
  Column<uint16_t>(&at, n, [&](size_t i) {
    return have ? uint16_t(uint8_t(src[i].country[0]) | uint8_t(src[i].country[1]) << 8) : 0;
  });
  Column<uint32_t>(&at, n, [&](size_t i) { return have ? src[i].asn : 0; });
  Column<uint8_t>(&at, n, [&](size_t i) { return have ? src[i].research : 0; });
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t z =
      ZSTD_compressCCtx(Contexts().c.get(), out.data(), out.size(), raw.data(), raw.size(), kLevel);
  // Compressing into a buffer of compressBound's size cannot fail but for memory.
  if (ZSTD_isError(z)) throw std::bad_alloc();
  out.resize(z);
  return out;
}

size_t DropBefore(EventBlock* b, int64_t from_us) {
  size_t kept = 0;
  for (size_t i = 0; i < b->events.size(); ++i) {
    if (b->events[i].ts_us < from_us) continue;
    b->events[kept] = b->events[i];
    b->sources[kept++] = b->sources[i];
  }
  const size_t dropped = b->events.size() - kept;
  b->events.resize(kept);
  b->sources.resize(kept);
  return dropped;
}

Status DecodeEventBlock(std::string_view data, EventBlock* out) {
  out->events.clear();
  out->sources.clear();
  auto bad = [&](const std::string& what) {
    out->events.clear();
    out->sources.clear();
    return Corruption("event block (" + std::to_string(data.size()) + " bytes): " + what);
  };
  const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return bad("not a zstd frame with its size");
  }
  constexpr size_t kMaxRaw = kHeader + kMaxBlockEvents * (kFixedPerEvent + 32);
  if (size < kHeader || size > kMaxRaw) {
    return bad("content size " + std::to_string(size) + " outside 8.." + std::to_string(kMaxRaw));
  }
  std::string raw(size, '\0');
  const size_t got =
      ZSTD_decompressDCtx(Contexts().d.get(), raw.data(), raw.size(), data.data(), data.size());
  if (ZSTD_isError(got)) return bad(std::string("zstd: ") + ZSTD_getErrorName(got));
  if (got != size)
    return bad("decompressed to " + std::to_string(got) + " bytes, not " + std::to_string(size));
  if (std::memcmp(raw.data(), kMagic, 4) != 0) return bad("no IEB1 magic");
  uint32_t n;
  std::memcpy(&n, raw.data() + 4, 4);
  if (n > kMaxBlockEvents) return bad("count " + std::to_string(n) + " above the maximum");
  if ((size - kHeader) / kFixedPerEvent < n) {
    return bad(std::to_string(size) + " bytes cannot hold " + std::to_string(n) + " events");
  }
  out->events.resize(n);
  out->sources.resize(n);
  auto& ev = out->events;
  auto& src = out->sources;
  Reader r(raw.data() + kHeader, size - kHeader);
  std::string wrong;  // the first value out of its range, with its event
  auto out_of_range = [&wrong](size_t i, const char* what, unsigned v) {
    if (wrong.empty()) wrong = "event " + std::to_string(i) + ": " + what + " " + std::to_string(v);
  };
  uint64_t ts = 0;  // wrapping sums: a damaged delta gives a wrong time, never overflow
  bool ok = r.Column<int64_t>(n,
                              [&](size_t i, int64_t d) {
                                ts += static_cast<uint64_t>(d);
                                ev[i].ts_us = static_cast<int64_t>(ts);
                              }) &&
            r.Column<uint32_t>(n, [&](size_t i, uint32_t v) { ev[i].sensor_id = v; }) &&
            r.Column<uint8_t>(n, [&](size_t i, uint8_t v) { ev[i].proto = v; }) &&
            r.NumberColumns<kBlockFirst>(ev);
  if (!ok) return bad("cut short in the first columns");
  // Families first, then the addresses they size.
  for (int which = 0; which < 2; ++which) {
    ok = r.Column<uint8_t>(n, [&](size_t i, uint8_t v) {
      if (v != 0 && v != 4 && v != 6) out_of_range(i, "address family", v);
      (which ? ev[i].dst : ev[i].src).family = v;
    });
    if (!ok) return bad("cut short in the address families");
    if (!wrong.empty()) return bad(wrong);
  }
  for (int which = 0; which < 2; ++which) {
    for (size_t i = 0; i < n; ++i) {
      model::IpAddr& a = which ? ev[i].dst : ev[i].src;
      if (!r.Bytes(a.size(), a.bytes)) {
        return bad(std::string("cut short in the ") + (which ? "destination" : "source") +
                   " address of event " + std::to_string(i));
      }
    }
  }
  ok = r.Column<uint16_t>(n, [&](size_t i, uint16_t v) { ev[i].sport = v; }) &&
       r.Column<uint16_t>(n, [&](size_t i, uint16_t v) { ev[i].dport = v; }) &&
       r.NumberColumns<kBlockSecond>(ev) &&
       r.Column<uint8_t>(n,
                         [&](size_t i, uint8_t v) {
                           if (v >= model::kTrafficKinds) out_of_range(i, "kind", v);
                           ev[i].labels.kind = static_cast<model::TrafficKind>(v);
                         }) &&
       r.Column<uint8_t>(n,
                         [&](size_t i, uint8_t v) {
                           if (v >= model::kTools) out_of_range(i, "tool", v);
                           ev[i].labels.tool = static_cast<model::Tool>(v);
                         }) &&
       r.Column<uint8_t>(n, [&](size_t i, uint8_t v) { ev[i].labels.spoof = v; }) &&
       r.Column<uint16_t>(n,
                          [&](size_t i, uint16_t v) {
                            src[i].country[0] = static_cast<char>(v & 0xff);
                            src[i].country[1] = static_cast<char>(v >> 8);
                          }) &&
       r.Column<uint32_t>(n, [&](size_t i, uint32_t v) { src[i].asn = v; }) &&
       r.Column<uint8_t>(n, [&](size_t i, uint8_t v) { src[i].research = v; });
  if (!ok) return bad("cut short in the transport and label columns");
  if (!wrong.empty()) return bad(wrong);
  if (r.left() != 0) return bad(std::to_string(r.left()) + " bytes after the last column");
  return Status::Ok();
}

}  // namespace isdas::storage
