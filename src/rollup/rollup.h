#pragma once

// Rollups (docs/rollups.md): events counted into 5-minute, hourly and daily buckets, one row
// per (family, key, bucket, sensor, protocol, traffic kind, tool, research-scanner flag) with
// packets, first/last time and distinct sources/destinations (DistinctCounter). The filter
// dimensions are in every row, so every query can filter on them; the family says what `key`
// is (a port, a country, an AS number, or a pair of those for one port's detail page).
//
// The Aggregator folds events into 5-minute rows; Coarsen re-buckets rows into hourly or daily
// ones (rows, not events: the cost is paid once per row). Both are plain values, one thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/event.h"
#include "model/source_info.h"
#include "rollup/hll.h"
#include "rollup/huge_pages.h"

namespace isdas::rollup {

// 5 minutes, an hour, a day: every engine keeps these. The coarse ones — 8, 64 and 512 days
// from 1970-01-01 — only engines that merge a bucket's rows as they are written (SQLite): made
// from closed days, they let a long window be read as tens of buckets instead of hundreds of
// days (docs/rollups.md#coarse-buckets).
enum class Resolution : uint8_t { k5m = 0, k1h = 1, k1d = 2, k8d = 3, k64d = 4, k512d = 5 };
inline constexpr Resolution kResolutions[] = {Resolution::k5m, Resolution::k1h, Resolution::k1d};
inline constexpr Resolution kCoarse[] = {Resolution::k8d, Resolution::k64d, Resolution::k512d};
inline constexpr Resolution kAllResolutions[] = {Resolution::k5m,  Resolution::k1h,
                                                 Resolution::k1d,  Resolution::k8d,
                                                 Resolution::k64d, Resolution::k512d};
inline constexpr int kResolutionCount = 6;
inline constexpr bool IsCoarse(Resolution r) { return r >= Resolution::k8d; }
int64_t Seconds(Resolution r);        // 300, 3600, 86400, 691200, 5529600, 44236800
std::string_view Name(Resolution r);  // "5m", "1h", "1d", "8d", "64d", "512d"
// Start of the bucket holding `t` (seconds since 1970, UTC; floor, also before 1970).
int64_t BucketStart(int64_t t, int64_t width);

// What a row's key means. Values are stored: never renumber.
enum class Family : uint8_t {
  kTotal = 0,        // key 0: everything (per sensor/proto/kind/tool/research)
  kPort = 1,         // key = destination port (TCP and UDP only)
  kCountry = 2,      // key = CountryKey(source country)
  kAsn = 3,          // key = source AS number (0 unknown)
  kPortCountry = 4,  // key = port << 16 | CountryKey
  kPortAsn = 5,      // retired, never written: port × AS pairs are nearly one row per event;
                     // a port's ASes come from its events (query::Queries::PortAsns)
  kPortFlags = 6,    // key = port << 8 | TCP flags (TCP only)
};
inline constexpr int kFamilies = 7;
std::string_view Name(Family f);
// The finest resolution a family is stored at: the port × country/AS/flags pairs (a port
// page's lists) only daily — finer, they would be most of the rows written.
constexpr Resolution Finest(Family f) {
  return f == Family::kPortCountry || f == Family::kPortAsn || f == Family::kPortFlags
             ? Resolution::k1d
             : Resolution::k5m;
}

// Whether the family's rows count distinct destinations. The port pairs do not: a port page
// lists its countries and flag combinations with packets and sources only, and destinations —
// nearly one per packet on a darknet — were a fifth of counting them (BENCHMARKS.md).
inline constexpr bool CountsDestinations(Family f) { return Finest(f) != Resolution::k1d; }

// Two-letter code <-> key: 'J','P' -> 0x4a50; "" (not enriched) -> 0.
uint64_t CountryKey(const char* cc2);
std::string CountryFromKey(uint64_t key);

// The pair families' keys: a port's country or TCP flags, and the range of one port's pairs.
inline constexpr uint64_t PortCountryKey(uint16_t port, uint64_t country_key) {
  return uint64_t{port} << 16 | country_key;
}
inline constexpr uint64_t PortFlagsKey(uint16_t port, uint8_t flags) {
  return uint64_t{port} << 8 | flags;
}
struct KeyRange {
  uint64_t lo, hi;  // inclusive
};
inline constexpr KeyRange PortPairs(Family f, uint16_t port) {
  return f == Family::kPortCountry ? KeyRange{PortCountryKey(port, 0), PortCountryKey(port, 0xffff)}
                                   : KeyRange{PortFlagsKey(port, 0), PortFlagsKey(port, 0xff)};
}

struct RowKey {
  int64_t bucket = 0;  // seconds since 1970, start of the bucket
  uint64_t key = 0;
  uint32_t sensor = 0;  // the store's sensor number (0: local imports)
  Family family = Family::kTotal;
  uint8_t proto = 0;
  uint8_t kind = 0;
  uint8_t tool = 0;
  uint8_t research = 0;  // 1: source is a known research scanner
  uint8_t spoof = 0;     // spoof-suspicion reason bits (model::kSpoof*; 0: none)
  bool operator==(const RowKey&) const = default;
};

struct RowKeyHash {
  size_t operator()(const RowKey& k) const;
};

struct RowValue {
  uint64_t packets = 0;
  int64_t first_us = INT64_MAX;
  int64_t last_us = INT64_MIN;
  DistinctCounter sources;
  DistinctCounter destinations;
  void Merge(const RowValue& o);
};

struct Row {
  RowKey key;
  RowValue value;
};

// Rows in an array of their own (BucketRows, the tables taken out of it).
using RowVector = std::vector<Row, HugePageAllocator<Row>>;

// One bucket's open rows as the Aggregator counts them: the rows in the order they were made,
// found through an index of compact slots (32 bytes: two to a cache line; open addressing,
// linear probing, at most half full). A row is known by its number, which stays valid while
// other rows are added, so rows can be looked up a few events ahead of counting them and
// their memory fetched meanwhile (Aggregator::Add; an Abseil table could fetch only the first
// slot of a 16-slot group, and counting waited for memory at every row).
class BucketRows {
 public:
  explicit BucketRows(size_t expect);
  // Where the search for a key with this hash starts (to prefetch).
  const void* SlotFor(size_t hash) const { return &slots_[hash & mask_]; }
  // The row of `key` (hash: RowKeyHash of it), made empty when missing.
  uint32_t FindOrAdd(const RowKey& key, size_t hash);
  Row& row(uint32_t i) { return rows_[i]; }
  // Fetches row i's value into the caches (it is about to be counted into or merged).
  void PrefetchValue(uint32_t i) const {
    const char* v = reinterpret_cast<const char*>(&rows_[i].value);
    __builtin_prefetch(v, 1);
    __builtin_prefetch(v + sizeof(RowValue) - 1, 1);
  }
  size_t size() const { return rows_.size(); }
  // The rows, in the order they were made; the table is left empty.
  RowVector TakeRows();

 private:
  struct alignas(32) Slot {
    uint64_t key;
    uint64_t dims;  // sensor, family, proto, kind, tool
    uint32_t row;
    uint32_t hash;  // its low bits, to grow without rehashing the keys
    uint8_t used;   // 0: empty; else 1 + research + 2 * spoof (Used)
  };
  static uint8_t Used(const RowKey& k) {
    return static_cast<uint8_t>(1 + k.research + 2 * k.spoof);
  }
  static uint64_t Dims(const RowKey& k) {
    return uint64_t{k.sensor} << 32 | uint64_t{static_cast<uint8_t>(k.family)} << 24 |
           uint64_t{k.proto} << 16 | uint64_t{k.kind} << 8 | k.tool;
  }
  void Grow();
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  size_t mask_ = 0;
  RowVector rows_;
};

// Open rows by bucket, one BucketRows each: closing buckets hands their tables over whole,
// with no look at the rows still open (the tables are few: events come nearly in time order).
class RowTables {
 public:
  BucketRows& For(int64_t bucket);  // made when missing, as large as the largest taken out
  // Appends the tables of buckets before `before`, each a vector of rows.
  void TakeBefore(int64_t before, std::vector<RowVector>* out);
  size_t size() const;
  void Clear() { tables_.clear(); }

 private:
  struct Table {
    int64_t start;  // the bucket
    std::unique_ptr<BucketRows> rows;
  };
  std::vector<Table> tables_;
  size_t last_ = 0;  // the table For found or made last
  size_t hint_ = 0;  // the most rows a table taken out held: new ones' size
};

// A set of families, one bit each (1 << Family).
using FamilySet = uint8_t;
inline constexpr FamilySet Bit(Family f) {
  return static_cast<FamilySet>(1u << static_cast<int>(f));
}
inline constexpr FamilySet kAllFamilies = 0x7f;

class Aggregator {
 public:
  // Counts rows of the families in `families` only; with `daily_by_5m`, those kept daily
  // (Finest) in 5-minute buckets too.
  explicit Aggregator(FamilySet families = kAllFamilies, bool daily_by_5m = false)
      : families_(families), daily_by_5m_(daily_by_5m) {}
  // Adds events of one sensor. `sources` is empty (not enriched) or one per event.
  void Add(std::span<const model::Event> events, std::span<const model::SourceInfo> sources,
           uint32_t sensor);
  // Adds events carrying their own sensor number (imports).
  void Add(std::span<const model::Event> events);
  // The same with their sources (empty, or one per event).
  void Add(std::span<const model::Event> events, std::span<const model::SourceInfo> sources);
  bool empty() const { return size() == 0; }
  size_t size() const;
  // Takes out the rows whose bucket is before `before5` (families kept at 5 minutes) or
  // `before1d` (families kept daily): their buckets' whole tables, each a vector of rows.
  std::vector<RowVector> TakeBefore(int64_t before5, int64_t before1d);
  // The rows so far, sorted by key; clears the aggregator. Buckets are 5 minutes, except for
  // families whose Finest() is coarser: those rows are already in daily buckets (unless
  // `daily_by_5m`).
  std::vector<Row> Take();
  // The same in no particular order (for an engine that sorts on insert); the next rows'
  // tables are made as large as these were.
  std::vector<Row> TakeUnsorted();

 private:
  // The rows an event counts in (at most kMaxKeys); returns how many. The first *n5 are
  // 5-minute rows, the rest daily ones.
  static constexpr int kMaxKeys = 6;
  int KeysOf(const model::Event& e, const model::SourceInfo* s, uint32_t sensor, RowKey* keys,
             int* n5) const;
  // Counts events (event(i), source(i) or null, sensor(i)) in stages a few events apart, each
  // fetching what the next needs: the rows' slots, the rows, their counters' memory.
  template <typename EventAt, typename SourceAt, typename SensorAt>
  void AddStaged(size_t n, EventAt event, SourceAt source, SensorAt sensor);
  // Families kept at 5 minutes by 5-minute bucket, those kept daily by day.
  RowTables by5_, by1d_;
  FamilySet families_;
  bool daily_by_5m_;
};

// The rows re-bucketed at a coarser resolution (merging rows that meet), sorted by key unless
// `sorted` is false. Consumes its input (no copies of the counters).
std::vector<Row> Coarsen(std::vector<Row>&& rows, Resolution to, bool sorted = true);

// Family, bucket, key, then the filter dimensions: the order of SQLite's rollup packs (each
// pack one family and bucket, its rows by key and dimensions: storage/rollup_packs.h).
bool operator<(const RowKey& a, const RowKey& b);

}  // namespace isdas::rollup
