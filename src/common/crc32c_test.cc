#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace isdas {
namespace {

uint32_t Of(const std::string& s) {
  return Crc32c(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Of(""), 0u);
  EXPECT_EQ(Of("123456789"), 0xe3069283u);  // the CRC-32C check value
  // RFC 3720 §B.4: 32 bytes of zeros, and of 0xff.
  EXPECT_EQ(Of(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Of(std::string(32, '\xff')), 0x62a8ab43u);
}

TEST(Crc32c, ExtendsAcrossSplits) {
  const std::string s = "The quick brown fox jumps over the lazy dog";
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(Crc32c(p + cut, s.size() - cut, Crc32c(p, cut)), Of(s)) << cut;
  }
}

}  // namespace
}  // namespace isdas
