#pragma once

// An allocator for the rollup buffer's large arrays (the open rows and their index): arrays of
// 2 MiB and more are placed on whole 2 MiB pages and the kernel is asked to back them with
// transparent huge pages (madvise; Debian's default mode). Counting and folding touch those
// arrays at random: with 4 KiB pages nearly every touch also missed the TLB, and the page walk
// waited for memory the prefetches had not asked for (BENCHMARKS.md). Smaller arrays come
// from the heap as usual. Where the kernel gives no huge pages the advice is a no-op.

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace isdas::rollup {

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t{2} << 20;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHuge) {
      return static_cast<T*>(::operator new (bytes, std::align_val_t{alignof(T)}));
    }
    const size_t len = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, len);
    if (p == nullptr) throw std::bad_alloc();
    (void)madvise(p, len, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHuge) {
      ::operator delete (p, std::align_val_t{alignof(T)});
    } else {
      std::free(p);
    }
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace isdas::rollup
