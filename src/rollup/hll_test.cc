#include "rollup/hll.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace isdas::rollup {
namespace {

// ---- malformed input first ----

TEST(DistinctCounter, ParseRefusesDamagedBytes) {
  DistinctCounter c;
  for (uint64_t i = 0; i < 10; ++i) c.Add(i * 977);
  std::string s = c.Serialize();
  EXPECT_EQ(DistinctCounter::Parse("").status().kind(), ErrorKind::kCorruption);
  EXPECT_EQ(DistinctCounter::Parse(s.substr(0, s.size() - 3)).status().kind(),
            ErrorKind::kCorruption);
  std::string bad_p = s;
  bad_p[1] = 30;
  EXPECT_EQ(DistinctCounter::Parse(bad_p).status().kind(), ErrorKind::kCorruption);
  std::string bad_kind = s;
  bad_kind[2] = 'x';
  EXPECT_EQ(DistinctCounter::Parse(bad_kind).status().kind(), ErrorKind::kCorruption);
  for (uint64_t i = 0; i < 1000; ++i) c.Add(i * 131071);
  std::string dense = c.Serialize();
  dense[10] = static_cast<char>(200);  // a register beyond 64 - p + 1
  EXPECT_EQ(DistinctCounter::Parse(dense).status().kind(), ErrorKind::kCorruption);
}

TEST(DistinctCounter, RegistersAreCheckedAgainstTheirLimitAtEveryPosition) {
  for (int p : {4, 12}) {
    DistinctCounter dense(p);
    for (uint64_t i = 0; i < 5000; ++i) dense.Add(HashAddress(model::IpAddr::V4(i)));
    ASSERT_FALSE(dense.exact());
    const std::string good = dense.Serialize();
    const size_t m = size_t{1} << p;
    const int limit = 64 - p + 1;
    for (size_t at : {size_t{0}, size_t{7}, size_t{8}, m / 2 + 3, m - 1}) {
      std::string b = good;
      b[3 + at] = static_cast<char>(limit);
      EXPECT_TRUE(DistinctCounter::Parse(b).ok()) << p << " " << at;
      for (int v : {limit + 1, 127, 128, 255}) {
        b[3 + at] = static_cast<char>(v);
        EXPECT_EQ(DistinctCounter::Parse(b).status().kind(), ErrorKind::kCorruption)
            << p << " " << at << " " << v;
        std::string out = "unchanged";
        EXPECT_EQ(DistinctCounter::MergeBytes(good, b, &out).kind(), ErrorKind::kCorruption);
        EXPECT_EQ(out, "unchanged");
      }
    }
  }
}

// A good serialized counter's bytes (50 exact values), and serialized counters damaged in every
// way a merge must refuse as kCorruption.
std::string GoodCounter() {
  DistinctCounter c;
  for (uint64_t i = 0; i < 50; ++i) c.Add(i * 7919);
  return c.Serialize();
}

std::vector<std::string> DamagedCounters() {
  const std::string ok = GoodCounter();
  DistinctCounter exact;
  for (uint64_t i = 0; i < 5; ++i) exact.Add(1000 + i);
  std::string unsorted = exact.Serialize();
  std::swap_ranges(unsorted.begin() + 3, unsorted.begin() + 11, unsorted.begin() + 11);
  std::string repeated = exact.Serialize();
  std::copy(repeated.begin() + 3, repeated.begin() + 11, repeated.begin() + 11);
  DistinctCounter dense;
  for (uint64_t i = 0; i < 5000; ++i) dense.Add(HashAddress(model::IpAddr::V4(i)));
  std::string high = dense.Serialize();
  high[4000] = static_cast<char>(64);  // beyond 64 - p + 1
  std::string bad_p = ok;
  bad_p[1] = 30;
  std::string bad_kind = ok;
  bad_kind[2] = 'x';
  std::string too_long = ok.substr(0, 3);  // 257 exact values
  for (int i = 0; i < 257; ++i) too_long.append(8, static_cast<char>(i + 1));
  return {std::string(),
          ok.substr(0, 2),
          ok.substr(0, ok.size() - 3),
          unsorted,
          repeated,
          high,
          dense.Serialize().substr(0, 100),
          bad_p,
          bad_kind,
          too_long};
}

TEST(DistinctCounter, MergeSerializedRefusesDamagedBytesAndChangesNothing) {
  auto into = DistinctCounter::Parse(GoodCounter());
  ASSERT_TRUE(into.ok());
  const std::string before = into->Serialize();
  for (const std::string& bad : DamagedCounters()) {
    EXPECT_EQ(into->MergeSerialized(bad).kind(), ErrorKind::kCorruption) << bad.size();
  }
  DistinctCounter other_p(10);
  other_p.Add(5);
  EXPECT_EQ(into->MergeSerialized(other_p.Serialize()).kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(into->Serialize(), before);
}

TEST(DistinctCounter, MergeBytesRefusesDamagedBytesAndChangesNothing) {
  const std::string ok = GoodCounter();
  std::string out = "untouched";
  for (const std::string& bad : DamagedCounters()) {
    // Either side.
    EXPECT_EQ(DistinctCounter::MergeBytes(bad, ok, &out).kind(), ErrorKind::kCorruption);
    EXPECT_EQ(DistinctCounter::MergeBytes(ok, bad, &out).kind(), ErrorKind::kCorruption);
  }
  DistinctCounter other_p(10);
  other_p.Add(5);
  EXPECT_EQ(DistinctCounter::MergeBytes(ok, other_p.Serialize(), &out).kind(),
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(out, "untouched");
}

// ---- behaviour ----

// Every kind of pair (exact lists whose union stays within the limit, reaches it or passes it;
// a sketch on either side or both; the hash 0; another precision) merges to the very bytes the
// counter objects make.
TEST(DistinctCounter, MergeBytesEqualsMergeOfCounters) {
  std::mt19937_64 rng(9);
  for (int p : {12, 4, 16}) {
    for (size_t na : {0, 1, 2, 100, 200, 256, 3000}) {
      for (size_t nb : {0, 1, 56, 57, 156, 256, 20000}) {
        DistinctCounter a(p), b(p);
        for (size_t i = 0; i < na; ++i) a.Add(i % 7 == 0 ? 0 : rng());
        // Some of b's values are a's too (rng replayed), so unions are smaller than sums.
        std::mt19937_64 again(rng());
        for (size_t i = 0; i < nb; ++i) b.Add(i % 3 == 0 ? i * 977 : again());
        DistinctCounter want = a;
        ASSERT_TRUE(want.MergeSerialized(b.Serialize()).ok());
        std::string got;
        ASSERT_TRUE(DistinctCounter::MergeBytes(a.Serialize(), b.Serialize(), &got).ok());
        EXPECT_EQ(got, want.Serialize()) << "p " << p << ": " << na << " + " << nb;
        ASSERT_TRUE(DistinctCounter::MergeBytes(b.Serialize(), a.Serialize(), &got).ok());
        EXPECT_EQ(got, want.Serialize()) << "p " << p << ": " << nb << " + " << na;
      }
    }
  }
}

TEST(DistinctCounter, MergeSerializedEqualsMergeOfParsed) {
  std::mt19937_64 rng(5);
  for (size_t na : {0, 3, 200, 3000}) {
    for (size_t nb : {0, 1, 100, 257, 20000}) {
      DistinctCounter a, b;
      for (size_t i = 0; i < na; ++i) a.Add(rng());
      for (size_t i = 0; i < nb; ++i) b.Add(rng() % 2 ? rng() : 42);
      DistinctCounter via_parse = a, via_bytes = a;
      auto parsed = DistinctCounter::Parse(b.Serialize());
      ASSERT_TRUE(parsed.ok());
      via_parse.Merge(parsed.value());
      ASSERT_TRUE(via_bytes.MergeSerialized(b.Serialize()).ok());
      EXPECT_EQ(via_bytes.Serialize(), via_parse.Serialize()) << na << " + " << nb;
    }
  }
}

TEST(DistinctCounter, ExactUpToTheLimit) {
  DistinctCounter c;
  std::mt19937_64 rng(1);
  std::vector<uint64_t> vals;
  for (size_t i = 0; i < DistinctCounter::kExactLimit; ++i) vals.push_back(rng());
  for (int round = 0; round < 3; ++round) {
    for (uint64_t v : vals) c.Add(v);  // duplicates do not count
  }
  EXPECT_TRUE(c.exact());
  EXPECT_EQ(c.Estimate(), DistinctCounter::kExactLimit);
  auto back = DistinctCounter::Parse(c.Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Estimate(), DistinctCounter::kExactLimit);
}

TEST(DistinctCounter, ErrorStaysWithinThreeStandardErrors) {
  const double se = 1.04 / std::sqrt(4096.0);
  for (uint64_t n : {1000ull, 10000ull, 100000ull, 1000000ull}) {
    DistinctCounter c;
    for (uint64_t i = 0; i < n; ++i)
      c.Add(HashAddress(model::IpAddr::V4(static_cast<uint32_t>(i * 2654435761u))));
    const double err = std::fabs(static_cast<double>(c.Estimate()) - static_cast<double>(n)) /
                       static_cast<double>(n);
    EXPECT_LT(err, 3 * se) << n << " -> " << c.Estimate();
  }
}

TEST(DistinctCounter, MergeIsTheUnion) {
  DistinctCounter a, b, both;
  for (uint64_t i = 0; i < 60000; ++i) {
    const uint64_t h = HashAddress(model::IpAddr::V4(static_cast<uint32_t>(i)));
    (i < 40000 ? a : b).Add(h);
    if (i >= 20000 && i < 40000) b.Add(h);  // overlap of 20,000
    both.Add(h);
  }
  a.Merge(b);
  EXPECT_EQ(a.Estimate(), both.Estimate());  // identical registers
  DistinctCounter small1, small2;
  small1.Add(1);
  small2.Add(1);
  small2.Add(2);
  small1.Merge(small2);
  EXPECT_EQ(small1.Estimate(), 2u);
  auto back = DistinctCounter::Parse(a.Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Estimate(), a.Estimate());
}

TEST(HashAddress, FamiliesAndAddressesDiffer) {
  model::IpAddr v6;
  model::IpAddr::Parse("::102:304", &v6);
  EXPECT_NE(HashAddress(model::IpAddr::V4(0x01020304)), HashAddress(v6));
  EXPECT_NE(HashAddress(model::IpAddr::V4(1)), HashAddress(model::IpAddr::V4(2)));
}

}  // namespace
}  // namespace isdas::rollup
