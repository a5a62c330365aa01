#include "ship/shipper.h"

#include <gtest/gtest.h>

namespace isdas::ship {
namespace {

TEST(ParseUrl, RefusesWhatIsNotHttpsHostPort) {
  for (const char* u : {"http://a:1", "https://", "https://a:0", "https://a:65536", "https://a:x",
                        "https://a/path", "ftp://a", "https://[::1", "https://:80"}) {
    auto e = ParseUrl(u);
    ASSERT_FALSE(e.ok()) << u;
    EXPECT_EQ(e.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(e.status().message().find(u), std::string::npos);
  }
}

TEST(ParseUrl, HostsPortsAndIpv6) {
  auto e = ParseUrl("https://collector.example:8443/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "collector.example");
  EXPECT_EQ(e->port, 8443);
  e = ParseUrl("https://198.18.0.1");
  EXPECT_EQ(e->port, 443);
  e = ParseUrl("https://[2001:db8::1]:9443");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "2001:db8::1");
  EXPECT_EQ(e->port, 9443);
}

}  // namespace
}  // namespace isdas::ship
