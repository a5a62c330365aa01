// Google Benchmark micro-benchmarks of merging two serialized distinct counters, as SQLite's
// pack merges do for every row written twice: DistinctCounter::MergeBytes side by side with
// the way through a counter (Parse, MergeSerialized, Serialize), for each kind of pair.

#include <benchmark/benchmark.h>

#include <string>

#include "rollup/hll.h"

namespace {

using isdas::rollup::DistinctCounter;

// A serialized counter of `n` distinct values starting at `from` (exact up to 256, then a
// sketch of 4,096 registers).
std::string Counter(uint64_t from, uint64_t n) {
  DistinctCounter c;
  for (uint64_t i = 0; i < n; ++i) c.Add((from + i) * 0x9e3779b97f4a7c15ULL);
  return c.Serialize();
}

// The pairs: both exact (a union that stays exact), both exact (a union past the limit), a
// sketch and an exact list, two sketches.
struct Pair {
  std::string a, b;
};
Pair PairOf(int kind) {
  switch (kind) {
    case 0:
      return {Counter(0, 40), Counter(20, 40)};
    case 1:
      return {Counter(0, 200), Counter(1000, 200)};
    case 2:
      return {Counter(0, 5000), Counter(10000, 40)};
    default:
      return {Counter(0, 5000), Counter(10000, 5000)};
  }
}
const char* kKinds[] = {"exact+exact", "exact+exact>256", "sketch+exact", "sketch+sketch"};

void BM_MergeBytes(benchmark::State& state) {
  const Pair p = PairOf(static_cast<int>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(DistinctCounter::MergeBytes(p.a, p.b, &out));
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(kKinds[state.range(0)]);
}
BENCHMARK(BM_MergeBytes)->DenseRange(0, 3);

void BM_ThroughACounter(benchmark::State& state) {
  const Pair p = PairOf(static_cast<int>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    auto c = DistinctCounter::Parse(p.a);
    benchmark::DoNotOptimize(c->MergeSerialized(p.b));
    out.clear();
    c->SerializeTo(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(kKinds[state.range(0)]);
}
BENCHMARK(BM_ThroughACounter)->DenseRange(0, 3);

}  // namespace

BENCHMARK_MAIN();
