#include "geo/scanners.h"

#include <gtest/gtest.h>

namespace isdas::geo {
namespace {

model::IpAddr A(const char* s) {
  model::IpAddr a;
  EXPECT_TRUE(model::IpAddr::Parse(s, &a)) << s;
  return a;
}

TEST(ScannerList, BadLinesAreRefusedWithFileAndLine) {
  struct Case {
    const char* text;
    const char* where;
  } cases[] = {
      {"AS398324\n", "list:1: 'AS398324' has no name"},
      {"# ok\nASx Foo\n", "list:2: 'ASx' is not an AS number"},
      {"AS0 Zero\n", "list:1: 'AS0' is not an AS number"},
      {"AS4294967296 Big\n", "list:1: 'AS4294967296' is not an AS number"},
      {"192.0.2.0/33 Too long\n", "list:1: '192.0.2.0/33': prefix length must be 0 to 32"},
      {"2001:db8::/129 Too long\n", "list:1: '2001:db8::/129': prefix length must be 0 to 128"},
      {"192.0.2.0/ Empty\n", "list:1: '192.0.2.0/': prefix length"},
      {"192.0.2.0 NoLength\n", "list:1: '192.0.2.0' is neither"},
      {"example.com/24 Name\n", "list:1: 'example.com/24' is neither"},
  };
  for (const Case& c : cases) {
    auto l = ScannerList::Parse(c.text, "list");
    ASSERT_FALSE(l.ok()) << c.text;
    EXPECT_EQ(l.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(l.status().message().find(c.where), std::string::npos) << l.status().message();
  }
}

TEST(ScannerList, MatchesByAsnAndPrefix) {
  auto l = ScannerList::Parse(
      "# comment\n\nAS398324 Censys  # trailing comment\n192.0.2.130/25 Project X\n"
      "2001:db8:1234::/48 Project Y\n",
      "list");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->asns(), 1u);
  EXPECT_EQ(l->prefixes(), 2u);
  EXPECT_TRUE(l->Contains(A("203.0.113.1"), 398324));
  EXPECT_FALSE(l->Contains(A("203.0.113.1"), 398325));
  EXPECT_FALSE(l->Contains(A("203.0.113.1"), 0));
  EXPECT_TRUE(l->Contains(A("192.0.2.128"), 0));  // host bits of the entry are ignored
  EXPECT_TRUE(l->Contains(A("192.0.2.255"), 0));
  EXPECT_FALSE(l->Contains(A("192.0.2.127"), 0));
  EXPECT_TRUE(l->Contains(A("2001:db8:1234:ffff::1"), 0));
  EXPECT_FALSE(l->Contains(A("2001:db8:1235::1"), 0));
  EXPECT_FALSE(l->Contains(A("::ffff:192.0.2.200"), 0));  // another family
}

TEST(ScannerList, TheShippedListLoads) {
  auto l = ScannerList::Load(ISDAS_DATA_DIR "/research-scanners.txt");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_GE(l->asns(), 10u);
  EXPECT_TRUE(l->Contains(A("66.132.148.1"), 398324));
  EXPECT_FALSE(ScannerList::Load("/nonexistent/list").ok());
}

}  // namespace
}  // namespace isdas::geo
