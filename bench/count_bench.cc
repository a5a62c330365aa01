// Rollup counting benchmark: the store_ingest traffic (bench/traffic.h) counted into a
// RollupBuffer on one thread, closed buckets taken and folded every 8 batches as the SQLite
// store does — the CPU each stage costs an event, without SQLite, threads or the disk.
//
//   count_bench N
//
// Prints the seconds of each counting half, of taking and of folding, and ns per event.

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "rollup/rollup.h"
#include "storage/rollup_buffer.h"
#include "traffic.h"

using namespace isdas;

namespace {
double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return std::fprintf(stderr, "usage: count_bench N\n"), 64;
  const size_t n = std::strtoull(argv[1], nullptr, 10);
  bench::Traffic traffic;
  storage::RollupBuffer buffer;
  // Below RollupBuffer's parallel threshold: both halves on this thread, timed apart.
  constexpr size_t kChunk = 4000;
  constexpr int64_t kGraceSeconds = 120;  // as the SQLite store's (kGraceSeconds)
  double take = 0, fold = 0, generate = 0;
  size_t rows[3] = {0, 0, 0}, done = 0;
  int64_t max_ts = INT64_MIN;
  storage::SensorBatch b;
  for (size_t batch = 0; done < n; ++batch) {
    const double g0 = Now();
    traffic.Fill(&b);
    generate += Now() - g0;
    for (size_t at = 0; at < b.events.size(); at += kChunk) {
      const size_t len = std::min(kChunk, b.events.size() - at);
      buffer.Add(std::span(b.events).subspan(at, len), std::span(b.sources).subspan(at, len), 1);
    }
    max_ts = std::max(max_ts, b.events.back().ts_us / 1000000);
    done += b.events.size();
    if (batch % 8 == 7 || done >= n) {
      const int64_t c5 = done >= n ? storage::RollupBuffer::kEverything
                                   : rollup::BucketStart(max_ts - kGraceSeconds, 300);
      const double t0 = Now();
      auto taken = buffer.Take(c5);
      const double t1 = Now();
      const int64_t all[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
      auto out = buffer.Fold(std::move(taken), all);
      fold += Now() - t1;
      take += t1 - t0;
      for (int r = 0; r < 3; ++r) rows[r] += out.rows[r].size();
    }
  }
  const double* h = buffer.half_seconds();
  auto ns = [&](double s) { return s * 1e9 / static_cast<double>(done); };
  std::printf("events %zu generate_s %.2f\n", done, generate);
  std::printf("count half0 %.2f s (%.0f ns/event) half1 %.2f s (%.0f ns/event)\n", h[0], ns(h[0]),
              h[1], ns(h[1]));
  std::printf("take %.2f s fold %.2f s (%.0f ns/event)\n", take, fold, ns(fold));
  std::printf("rows 5m %zu 1h %zu 1d %zu\n", rows[0], rows[1], rows[2]);
  return 0;
}
