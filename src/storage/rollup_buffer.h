#pragma once

// The SQLite engine's rollup rows in memory (docs/rollups.md#when-rollups-are-written-sqlite):
// StoredRows, rows as its packs store them, and RollupBuffer, the rows of buckets still open
// that the rollup writer (sqlite_rollup_writer.h) counts into and takes closed buckets from.

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/event.h"
#include "model/source_info.h"
#include "rollup/rollup.h"

namespace isdas::storage {

using rollup::Aggregator;
using rollup::Bit;
using rollup::Family;
using rollup::RowKey;
using rollup::RowTables;
using rollup::RowValue;
using rollup::RowVector;

// Rows as the tables store them: counters serialized (DistinctCounter::Serialize) into one
// buffer, not a string each (malloc and free were 16 % of the writer's time; BENCHMARKS.md).
class StoredRows {
 public:
  struct Row {
    RowKey key;
    uint64_t packets = 0;
    int64_t first_us = 0, last_us = 0;
    size_t sources_at = 0, sources_len = 0, destinations_at = 0, destinations_len = 0;
  };
  void Add(const RowKey& key, const RowValue& value);
  // A row whose counters are serialized already (DistinctCounter::Serialize's bytes).
  void Add(const RowKey& key, uint64_t packets, int64_t first_us, int64_t last_us,
           std::string_view sources, std::string_view destinations);
  void SortByKey();  // rollup::operator<: the order of rows in the packs
  // Files every row under bucket `b` (one day's rows, each key once, re-bucketed into the
  // coarse bucket holding the day: the keys stay distinct and in order).
  void SetBucket(int64_t b) {
    for (Row& r : rows_) r.key.bucket = b;
  }
  const std::vector<Row>& rows() const { return rows_; }
  std::string_view sources(const Row& r) const {
    return {bytes_.data() + r.sources_at, r.sources_len};
  }
  std::string_view destinations(const Row& r) const {
    return {bytes_.data() + r.destinations_at, r.destinations_len};
  }
  bool empty() const { return rows_.empty(); }
  size_t size() const { return rows_.size(); }
  // Empties, keeping the memory (a fold's output is reused for a later fold's).
  void Clear() {
    rows_.clear();
    bytes_.clear();
  }
  size_t capacity_bytes() const { return rows_.capacity() * sizeof(Row) + bytes_.capacity(); }

 private:
  std::vector<Row> rows_;
  std::string bytes_;
};

// Rollup rows of buckets still open, for the collector (docs/rollups.md#when-rollups-are-
// written-sqlite): events fold into 5-minute rows (the port pairs too, which are kept daily
// only); when 5-minute buckets close, their rows are handed out to be written and folded into
// hourly rows (the pairs straight into the day's), which close into daily rows in turn. So a row is
// written once per bucket, however many batches it counts. Everything written is merged (added)
// into the tables, so a partial write — Close with everything — is always correct too.
class RollupBuffer {
 public:
  // One sensor's events (`sources` empty, or one per event).
  struct Batch {
    std::span<const model::Event> events;
    std::span<const model::SourceInfo> sources;
    uint32_t sensor = 0;
  };
  // Counts batches' events. The families are counted in two halves, each by its own
  // aggregator: when there are enough events, the halves are counted at once on two threads,
  // each through all the batches.
  void Add(std::span<const Batch> batches);
  void Add(std::span<const model::Event> events, std::span<const model::SourceInfo> sources,
           uint32_t sensor) {
    const Batch b{events, sources, sensor};
    Add(std::span(&b, 1));
  }
  // Seconds each half has spent counting, summed over the buffer's life (steady clock; for
  // the benchmarks: the slower half bounds how fast events are counted).
  const double* half_seconds() const { return half_seconds_; }
  // Rows to write, by resolution (5m, 1h, 1d), sorted by key, serialized.
  struct Out {
    StoredRows rows[3];
    size_t capacity_bytes() const {
      return rows[0].capacity_bytes() + rows[1].capacity_bytes() + rows[2].capacity_bytes();
    }
  };
  // Closing every 5-minute bucket before `c5` (and the hours and days before its hour and
  // day) is two steps. Take, which must not run beside Add, takes the closed buckets' tables
  // out of the counting aggregators (no row is looked at). Fold, which may run while Add
  // counts (it touches only the hourly and daily rows), returns the rows with buckets at or
  // after `write_from[r]` to be written, serialized, and folds every row (moved, not copied)
  // into its coarser one; rows before `write_from[r]` are only folded (rebuilding after a
  // crash). Folds run one at a time, in the order of their Takes.
  struct Taken {
    std::vector<RowVector> tables[2];  // by counting half
    int64_t c5 = INT64_MIN;
    // The open days' rows (kept daily: the day's port pairs, and the hours folded so far) are
    // written too, and the tables emptied (the bound on memory: those are most of the rows).
    bool open_days = false;
  };
  Taken Take(int64_t c5);
  Out Fold(Taken&& taken, const int64_t write_from[3]);
  // Fold of one half's tables alone, its rows added to `out`: the halves' folds touch
  // different rows (0: hourly and daily rows of the 5-minute families; 1: the day's port
  // pairs), so the two may run at once, each after the previous fold of its half.
  void FoldHalf(int half, std::vector<RowVector>&& tables, int64_t c5, const int64_t write_from[3],
                Out* out, bool open_days = false);
  Out Close(int64_t c5, const int64_t write_from[3]) { return Fold(Take(c5), write_from); }
  static constexpr int64_t kEverything = INT64_MAX - 86400 * 2;  // a c5 closing every bucket
  Out CloseAll() {
    const int64_t all[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
    return Close(kEverything, all);
  }
  // Rows held. Safe beside a fold (not beside Add): the coarser rows are counted as the last
  // fold of each half left them.
  size_t size() const {
    return fine_[0].size() + fine_[1].size() + hour_rows_.load(std::memory_order_relaxed) +
           open_day_rows();
  }
  // Of those, the open days' rows (Taken::open_days).
  size_t open_day_rows() const {
    return day_rows_[0].load(std::memory_order_relaxed) +
           day_rows_[1].load(std::memory_order_relaxed);
  }
  bool empty() const { return size() == 0; }
  void Clear();

 private:
  // Total, country, AS, port / port × country, port × flags: about half the work each
  // (BENCHMARKS.md). The pairs are counted in 5-minute tables and folded into the day's: a
  // table over the whole day, mostly rows seen once, made every count a miss in memory.
  Aggregator fine_[2] = {Aggregator(Bit(Family::kTotal) | Bit(Family::kCountry) |
                                    Bit(Family::kAsn) | Bit(Family::kPort)),
                         Aggregator(Bit(Family::kPortCountry) | Bit(Family::kPortFlags),
                                    /*daily_by_5m=*/true)};
  // Hourly and daily rows of the 5-minute families, the day's port pairs (counted in 5-minute
  // tables, which stay small enough for the caches, and folded here).
  RowTables hours_, days_, pairs_;
  // hours_, and days_ and pairs_ (by half), as FoldHalf last left them.
  std::atomic<size_t> hour_rows_ = 0, day_rows_[2] = {0, 0};
  double half_seconds_[2] = {0, 0};
};

}  // namespace isdas::storage
