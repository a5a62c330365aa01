#include "capture/live_capture.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

namespace isdas::capture {
namespace {

TEST(LiveCapture, BadPrefixesAreNamed) {
  for (const char* p :
       {"198.19.0.0/33", "2001:db8::/129", "198.19.0/16", "x/8", "1.2.3.4/", "1.2.3.4/8x"}) {
    auto f = FilterForPrefixes({p});
    ASSERT_FALSE(f.ok()) << p;
    EXPECT_EQ(f.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(f.status().message().find(p), std::string::npos);
  }
}

TEST(LiveCapture, FilterCoversEveryPrefix) {
  auto f = FilterForPrefixes({"198.19.0.0/16", "2001:db8:2::/48", "203.0.113.9"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.value(),
            "(dst net 198.19.0.0/16) or (dst net 2001:db8:2::/48) or (dst net 203.0.113.9/32)");
  EXPECT_EQ(FilterForPrefixes({}).value(), "");
  // libpcap itself accepts the expression.
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 256);
  bpf_program prog;
  ASSERT_EQ(pcap_compile(dead, &prog, f->c_str(), 1, PCAP_NETMASK_UNKNOWN), 0) << pcap_geterr(dead);
  pcap_freecode(&prog);
  pcap_close(dead);
}

TEST(LiveCapture, UnknownInterfaceIsInvalidArgument) {
  LiveOptions o;
  o.interface = "isdas-no-such0";
  auto c = LiveCapture::Open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("isdas-no-such0"), std::string::npos);
}

}  // namespace
}  // namespace isdas::capture
