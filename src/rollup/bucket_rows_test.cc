// BucketRows: the Aggregator's per-bucket index (rows found by number through compact slots).
// The brute-force rollup tests (tests/storage) check the counts it feeds; these check the index
// itself where it could go wrong: keys equal but for one dimension, and growth.

#include <gtest/gtest.h>

#include <set>

#include "rollup/rollup.h"

namespace isdas::rollup {
namespace {

RowKey Key(uint64_t key) {
  RowKey k;
  k.bucket = 1795651200;
  k.family = Family::kPort;
  k.key = key;
  k.proto = 6;
  return k;
}

uint32_t Find(BucketRows* t, const RowKey& k) { return t->FindOrAdd(k, RowKeyHash()(k)); }

TEST(BucketRows, KeysDifferingInOneDimensionAreDifferentRows) {
  BucketRows t(0);
  const RowKey base = Key(443);
  std::vector<RowKey> keys{base};
  auto with = [&](auto change) {
    RowKey k = base;
    change(k);
    keys.push_back(k);
  };
  with([](RowKey& k) { k.key = 444; });
  with([](RowKey& k) { k.sensor = 2; });
  with([](RowKey& k) { k.family = Family::kAsn; });
  with([](RowKey& k) { k.proto = 17; });
  with([](RowKey& k) { k.kind = 2; });
  with([](RowKey& k) { k.tool = 1; });
  with([](RowKey& k) { k.research = 1; });
  std::set<uint32_t> rows;
  for (const RowKey& k : keys) rows.insert(Find(&t, k));
  EXPECT_EQ(rows.size(), keys.size());
  ASSERT_EQ(t.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const uint32_t r = Find(&t, keys[i]);  // found again, not made
    EXPECT_EQ(t.row(r).key, keys[i]);
  }
  EXPECT_EQ(t.size(), keys.size());
}

TEST(BucketRows, RowsKeepTheirNumbersAndValuesAcrossGrowth) {
  BucketRows t(0);  // 16 slots: grows many times below
  constexpr uint64_t kRows = 100000;
  for (uint64_t i = 0; i < kRows; ++i) {
    const uint32_t r = Find(&t, Key(i));
    ASSERT_EQ(r, i);  // numbered in the order made
    t.row(r).value.packets = i + 1;
  }
  for (uint64_t i = 0; i < kRows; ++i) {
    const uint32_t r = Find(&t, Key(i));
    ASSERT_EQ(r, i);
    ASSERT_EQ(t.row(r).value.packets, i + 1);
  }
  RowVector rows = t.TakeRows();
  ASSERT_EQ(rows.size(), kRows);
  EXPECT_EQ(rows[kRows - 1].key, Key(kRows - 1));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(Find(&t, Key(7)), 0u);  // usable again, from empty
  EXPECT_EQ(t.row(0).value.packets, 0u);
}

}  // namespace
}  // namespace isdas::rollup

namespace isdas::rollup {
namespace {

// The allocator behind BucketRows' arrays: large arrays on 2 MiB boundaries (where huge pages
// can back them), small ones from the heap; both usable and freed through the vector.
TEST(HugePageAllocator, LargeArraysStartOnA2MiBBoundary) {
  std::vector<uint64_t, HugePageAllocator<uint64_t>> big(HugePageAllocator<uint64_t>::kHuge);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % HugePageAllocator<uint64_t>::kHuge, 0u);
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = i;  // writable throughout
  EXPECT_EQ(big[big.size() / 2 / 4096 * 4096], big.size() / 2 / 4096 * 4096);
  big.resize(big.size() * 3);  // grown: a new large array, the old one freed
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % HugePageAllocator<uint64_t>::kHuge, 0u);
  EXPECT_EQ(big[4096], 4096u);
  std::vector<uint64_t, HugePageAllocator<uint64_t>> small(10, 7);
  EXPECT_EQ(small[9], 7u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % alignof(uint64_t), 0u);
}

}  // namespace
}  // namespace isdas::rollup

namespace isdas::rollup {
namespace {

// "No port" is not port 0: a non-first fragment (no transport header) and an ICMP packet count
// in the totals and under their protocol but in no port row; a TCP SYN to port 0 does.
TEST(Aggregator, PacketsWithoutPortsAreNotPortZero) {
  model::Event frag;
  frag.ts_us = 1795651200000000;
  frag.proto = model::kProtoUdp;
  frag.flags = model::kFlagFragment | model::kFlagNonFirstFragment;
  frag.src = model::IpAddr::V4(0xcb007101);
  frag.dst = model::IpAddr::V4(0xc6120001);
  model::Event icmp = frag;
  icmp.proto = model::kProtoIcmp;
  icmp.flags = 0;
  model::Event syn0 = frag;
  syn0.proto = model::kProtoTcp;
  syn0.flags = 0;
  syn0.tcp_flags = model::kTcpSyn;
  const std::vector<model::Event> events{frag, icmp, syn0};
  Aggregator agg;
  agg.Add(events);
  uint64_t total = 0, port0 = 0, pairs = 0, udp_total = 0;
  for (const Row& r : agg.Take()) {
    if (r.key.family == Family::kTotal) total += r.value.packets;
    if (r.key.family == Family::kTotal && r.key.proto == model::kProtoUdp) {
      udp_total += r.value.packets;
    }
    if (r.key.family == Family::kPort) {
      EXPECT_EQ(r.key.proto, model::kProtoTcp) << "only the SYN has a port";
      EXPECT_EQ(r.key.key, 0u);
      port0 += r.value.packets;
    }
    if (r.key.family == Family::kPortCountry || r.key.family == Family::kPortFlags) {
      pairs += r.value.packets;
    }
  }
  EXPECT_EQ(total, 3u);
  EXPECT_EQ(udp_total, 1u);  // the fragment, under its protocol
  EXPECT_EQ(port0, 1u);      // the SYN alone
  EXPECT_EQ(pairs, 2u);      // the SYN's port × country and port × flags rows
}

}  // namespace
}  // namespace isdas::rollup
