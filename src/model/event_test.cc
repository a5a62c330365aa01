#include "model/event.h"

#include <gtest/gtest.h>

namespace isdas::model {
namespace {

TEST(IpAddr, ParseRejectsGarbageAndRoundTrips) {
  IpAddr a;
  EXPECT_FALSE(IpAddr::Parse("", &a));
  EXPECT_FALSE(IpAddr::Parse("256.1.1.1", &a));
  EXPECT_FALSE(IpAddr::Parse("1.2.3", &a));
  EXPECT_FALSE(IpAddr::Parse("2001:db8:::1", &a));
  EXPECT_FALSE(IpAddr::Parse(std::string(100, '1'), &a));
  ASSERT_TRUE(IpAddr::Parse("198.18.0.1", &a));
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.v4(), 0xc6120001u);
  EXPECT_EQ(a.ToString(), "198.18.0.1");
  ASSERT_TRUE(IpAddr::Parse("2001:DB8:0:0:0:0:0:1", &a));
  EXPECT_EQ(a.ToString(), "2001:db8::1");  // RFC 5952 §4
  EXPECT_EQ(IpAddr::V4(0x01020304).ToString(), "1.2.3.4");
}

TEST(Labels, NamesAndFlagLetters) {
  std::string s;
  AppendTcpFlags(kTcpSyn | kTcpAck, &s);
  EXPECT_EQ(s, "SA");
  s.clear();
  AppendTcpFlags(0xff, &s);
  EXPECT_EQ(s, "FSRPAUEC");
  s.clear();
  AppendProtoName(47, &s);
  EXPECT_EQ(s, "47");
  s.clear();
  AppendSpoofReasons(kSpoofSrcEqualsDst | kSpoofPortZero, &s);
  EXPECT_EQ(s, "src_eq_dst+port_zero");
  EXPECT_EQ(ToolName(Tool::kMasscan), "masscan");
  EXPECT_EQ(TrafficKindName(TrafficKind::kBackscatter), "backscatter");
}

}  // namespace
}  // namespace isdas::model
