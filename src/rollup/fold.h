#pragma once

// The rollup code's one loop over rows that waits for memory: a four-stage software pipeline
// (Pipelined), and the fold of rows into coarser buckets built on it (FoldInto), shared by the
// aggregator (rollup.cc) and the SQLite engine's buffer of open buckets
// (storage/rollup_buffer.cc).

#include <cstddef>
#include <span>
#include <utility>

#include "rollup/rollup.h"

// On each stage of Pipelined: the stages are the loop's body and are compiled into it, as the
// hand-written loops were (without it GCC 12's folding took 5-9 % longer in bench/count_bench,
// measured against the build before Pipelined existed).
#define ISDAS_INLINE __attribute__((always_inline))

namespace isdas::rollup {

// Runs items 0..n-1 through four stages, kStep items apart, each item's state in a slot of a
// ring: `a` starts fetching what `b` needs, `b` what `c` needs, `c` what `d` needs, and `d`
// does the work. The tables are far larger than the caches and an item's work is a chain of
// dependent reads; this way each read is on its way while other items are worked on (perf:
// before, counting and folding waited for memory at every step). Each stage gets the item's
// index and its slot.
template <typename Slot, typename A, typename B, typename C, typename D>
void Pipelined(size_t n, A&& a, B&& b, C&& c, D&& d) {
  constexpr size_t kStep = 4, kB = kStep, kC = 2 * kStep, kD = 3 * kStep, kRing = 16;
  static_assert(kRing > kD);
  Slot ring[kRing];
  for (size_t t = 0; t < n + kD; ++t) {
    if (t < n) a(t, ring[t % kRing]);
    if (t >= kB && t - kB < n) b(t - kB, ring[(t - kB) % kRing]);
    if (t >= kC && t - kC < n) c(t - kC, ring[(t - kC) % kRing]);
    if (t >= kD) d(t - kD, ring[(t - kD) % kRing]);
  }
}

// Folds every row into its bucket of `width` in `coarser`: moved there when the row is new,
// else merged; `each(row)` sees every row first, while it is in the caches (the SQLite buffer
// serializes the rows it writes there). Rows are looked up some rows ahead of folding them,
// and their memory fetched meanwhile, then their counters' memory, both sides. The rows'
// values are moved from.
template <typename Each>
void FoldInto(std::span<Row> rows, RowTables* coarser, int64_t width, Each&& each) {
  // A: the row seen, its coarser key made and its slot fetched; B: the coarser row found (or
  // made) and fetched; C: the counters' memory of both rows; D: moved or merged.
  struct Staged {
    RowKey key;
    size_t hash;
    BucketRows* table;
    uint32_t row;
  };
  Pipelined<Staged>(
      rows.size(),
      [&](size_t i, Staged& s) ISDAS_INLINE {
        const Row& r = rows[i];
        each(r);
        s.key = r.key;
        s.key.bucket = BucketStart(s.key.bucket, width);
        s.table = &coarser->For(s.key.bucket);
        s.hash = RowKeyHash()(s.key);
        __builtin_prefetch(s.table->SlotFor(s.hash));
      },
      [](size_t, Staged& s) ISDAS_INLINE {
        s.row = s.table->FindOrAdd(s.key, s.hash);
        s.table->PrefetchValue(s.row);
      },
      [&](size_t i, Staged& s) ISDAS_INLINE {
        // Both sides (an exact table's slots are probed at random).
        const RowValue& to = s.table->row(s.row).value;
        const RowValue& from = rows[i].value;
        if (to.packets != 0) {
          to.sources.PrefetchAll();
          to.destinations.PrefetchAll();
        }
        from.sources.PrefetchAll();
        from.destinations.PrefetchAll();
      },
      [&](size_t i, Staged& s) ISDAS_INLINE {
        RowValue& to = s.table->row(s.row).value;
        RowValue& from = rows[i].value;
        if (to.packets == 0) {
          to = std::move(from);  // new in `coarser`: every counted row has packets
        } else {
          to.Merge(from);
        }
      });
}

}  // namespace isdas::rollup
