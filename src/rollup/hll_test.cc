#include "rollup/hll.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

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

// ---- behaviour ----

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
