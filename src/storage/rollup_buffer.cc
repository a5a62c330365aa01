#include "storage/rollup_buffer.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "rollup/fold.h"

namespace isdas::storage {

using rollup::BucketStart;
using rollup::Row;

void StoredRows::Add(const RowKey& key, const RowValue& value) {
  Row r{key, value.packets, value.first_us, value.last_us};
  r.sources_at = bytes_.size();
  value.sources.SerializeTo(&bytes_);
  r.sources_len = bytes_.size() - r.sources_at;
  r.destinations_at = bytes_.size();
  value.destinations.SerializeTo(&bytes_);
  r.destinations_len = bytes_.size() - r.destinations_at;
  rows_.push_back(r);
}

void StoredRows::Add(const RowKey& key, uint64_t packets, int64_t first_us, int64_t last_us,
                     std::string_view sources, std::string_view destinations) {
  Row r{key, packets, first_us, last_us};
  r.sources_at = bytes_.size();
  bytes_.append(sources);
  r.sources_len = sources.size();
  r.destinations_at = bytes_.size();
  bytes_.append(destinations);
  r.destinations_len = destinations.size();
  rows_.push_back(r);
}

void StoredRows::SortByKey() {
  std::sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) { return a.key < b.key; });
}

namespace {
// Serializes into `write` the rows with buckets at or after `write_from` (when given), then
// folds every row into its bucket of `width` in `coarser` (when given); each table is freed
// once done.
void WriteAndFold(std::vector<RowVector>* tables, int64_t write_from, StoredRows* write,
                  RowTables* coarser, int64_t width) {
  auto each = [&](const Row& r) {
    if (write && r.key.bucket >= write_from) write->Add(r.key, r.value);
  };
  for (RowVector& rows : *tables) {
    if (coarser) {
      rollup::FoldInto(std::span(rows), coarser, width, each);
    } else {
      for (const Row& r : rows) each(r);
    }
    rows = {};
  }
}
}  // namespace

RollupBuffer::Taken RollupBuffer::Take(int64_t c5) {
  Taken t;
  t.c5 = c5;
  const int64_t c1d = BucketStart(c5, 86400);
  for (int half : {0, 1}) t.tables[half] = fine_[half].TakeBefore(c5, c1d);
  return t;
}

void RollupBuffer::FoldHalf(int half, std::vector<RowVector>&& tables, int64_t c5,
                            const int64_t write_from[3], Out* out, bool open_days) {
  const int64_t c1h = BucketStart(c5, 3600);
  const int64_t c1d = open_days ? kEverything : BucketStart(c5, 86400);
  std::vector<RowVector> hours, days;
  if (half == 1) {
    // The port pairs, kept daily only: straight into the day's.
    WriteAndFold(&tables, 0, nullptr, &pairs_, 86400);
    pairs_.TakeBefore(c1d, &days);
  } else {
    WriteAndFold(&tables, write_from[0], &out->rows[0], &hours_, 3600);
    out->rows[0].SortByKey();
    // The open hour's and day's rows stay.
    hours_.TakeBefore(c1h, &hours);
    WriteAndFold(&hours, write_from[1], &out->rows[1], &days_, 86400);
    out->rows[1].SortByKey();
    days_.TakeBefore(c1d, &days);
  }
  WriteAndFold(&days, write_from[2], &out->rows[2], nullptr, 0);
  out->rows[2].SortByKey();
  if (half == 0) hour_rows_.store(hours_.size(), std::memory_order_relaxed);
  day_rows_[half].store(half == 1 ? pairs_.size() : days_.size(), std::memory_order_relaxed);
}

RollupBuffer::Out RollupBuffer::Fold(Taken&& t, const int64_t write_from[3]) {
  Out out;
  for (int half : {0, 1}) FoldHalf(half, std::move(t.tables[half]), t.c5, write_from, &out);
  return out;
}

void RollupBuffer::Add(std::span<const Batch> batches) {
  auto count = [this, batches](int half) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const Batch& b : batches) fine_[half].Add(b.events, b.sources, b.sensor);
    half_seconds_[half] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  constexpr size_t kParallelFrom = 4096;  // below, a thread costs more than it saves
  size_t n = 0;
  for (const Batch& b : batches) n += b.events.size();
  if (n < kParallelFrom) {
    count(0);
    count(1);
    return;
  }
  std::thread other([&count] {
    pthread_setname_np(pthread_self(), "isdas-count1");
    count(1);
  });
  count(0);
  other.join();
}

void RollupBuffer::Clear() {
  for (Aggregator& a : fine_) (void)a.TakeBefore(INT64_MAX, INT64_MAX);
  hours_.Clear();
  days_.Clear();
  pairs_.Clear();
  hour_rows_.store(0, std::memory_order_relaxed);
  for (auto& n : day_rows_) n.store(0, std::memory_order_relaxed);
}

}  // namespace isdas::storage
