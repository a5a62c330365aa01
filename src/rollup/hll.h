#pragma once

// Distinct counting for rollups (docs/rollups.md): exact up to kExactLimit distinct values,
// then a HyperLogLog sketch (Flajolet et al. 2007) with 2^p registers, standard error
// 1.04 / sqrt(2^p) (1.6 % at the default p = 12). Sketches of the same p merge exactly like the
// sets they stand for, so unique sources over a month are the merge of the days' sketches.
// Plain value type; not thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/event.h"

namespace isdas::rollup {

class DistinctCounter {
 public:
  static constexpr size_t kExactLimit = 256;

  explicit DistinctCounter(int p = 12);
  DistinctCounter(const DistinctCounter& o);
  DistinctCounter(DistinctCounter&& o) noexcept;
  DistinctCounter& operator=(DistinctCounter o) noexcept;  // copy or move, then swap
  ~DistinctCounter();
  void Add(uint64_t hash);
  void Merge(const DistinctCounter& other);  // same p; kInternal-worthy misuse is a no-op
  // Fetches the memory Add(hash) will touch into the caches (a register, or the exact table's
  // slot), so that a caller counting many rows can ask for it ahead of time. No effect on the
  // value; when the values are inline there is nothing to fetch.
  void Prefetch(uint64_t hash) const {
    if (registers_) {
      __builtin_prefetch(registers_ + (hash >> (64 - p_)), 1);
    } else if (table_) {
      __builtin_prefetch(table_ + (hash & (cap_ - 1u)), 1);
    }
  }
  // Fetches all of the counter's memory (its exact table or registers) into the caches: a merge
  // into it, or from it, touches all of it.
  void PrefetchAll() const {
    const char* p =
        table_ ? reinterpret_cast<const char*>(table_) : reinterpret_cast<const char*>(registers_);
    const size_t n = table_ ? size_t{cap_} * sizeof(uint64_t) : registers_ ? registers() : 0;
    for (size_t i = 0; i < n; i += 64) __builtin_prefetch(p + i, 1);
  }
  uint64_t Estimate() const;
  bool exact() const { return registers_ == nullptr; }
  int precision() const { return p_; }

  // Compact bytes for storage: version, p, then either the exact hashes or the registers.
  std::string Serialize() const;
  void SerializeTo(std::string* out) const;  // appends the same bytes
  // Errors: kCorruption naming what is wrong.
  static Result<DistinctCounter> Parse(std::string_view bytes);
  // Merge(Parse(bytes)) without building the counter (queries merge hundreds). Same errors as
  // Parse, and a different precision is kInvalidArgument; on error this counter is unchanged.
  Status MergeSerialized(std::string_view bytes);
  // The serialized merge of two serialized counters, into `out` (replaced): the bytes
  // Parse(a), MergeSerialized(b), Serialize would give, made without building a counter (two
  // exact lists merged in order; a sketch copied and raised by the other side's registers or
  // hashes). SQLite's pack merges do this for every row written twice.
  // Same errors as Parse and MergeSerialized; on error `out` is unchanged.
  static Status MergeBytes(std::string_view a, std::string_view b, std::string* out);

 private:
  void ToRegisters();
  void AddToRegisters(uint64_t hash);
  void InsertExact(uint64_t hash);
  void Place(uint64_t hash);  // into table_, known absent and with room
  template <typename F>
  void ForEachExact(F&& f) const {
    if (!table_) {
      for (uint32_t i = 0; i < n_ - zero_; ++i) f(small_[i]);
    } else {
      for (uint32_t i = 0; i < cap_; ++i)
        if (table_[i] != 0) f(table_[i]);
    }
    if (zero_) f(0);
  }
  size_t registers() const { return size_t{1} << p_; }

  // 40 bytes (rollup rows hold two, and a collector a million rows). While exact: the first
  // kSmall distinct nonzero hashes in small_; beyond, all of them in an open-addressing table
  // of cap_ slots (0 = empty), at most half full. The hash 0 itself is `zero_`. Sorted only
  // when serialized. Once sketched: 2^p registers, and no table.
  static constexpr uint32_t kSmall = 2;
  std::array<uint64_t, kSmall> small_{};
  uint64_t* table_ = nullptr;
  uint8_t* registers_ = nullptr;
  uint32_t n_ = 0;  // distinct values while exact, the hash 0 included
  uint16_t cap_ = 0;
  uint8_t p_;
  bool zero_ = false;
};

// A well-mixed 64-bit hash of an address (family and all 16 bytes).
uint64_t HashAddress(const model::IpAddr& a);

}  // namespace isdas::rollup
