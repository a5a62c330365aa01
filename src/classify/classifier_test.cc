#include "classify/classifier.h"

#include <gtest/gtest.h>

namespace isdas::classify {
namespace {

using model::Event;
using model::IpAddr;
using model::Tool;
using model::TrafficKind;

Event Tcp(uint8_t flags) {
  Event e;
  e.proto = model::kProtoTcp;
  e.src = IpAddr::V4(0xcb007107);  // 203.0.113.7
  e.dst = IpAddr::V4(0xc6130414);  // 198.19.4.20
  e.sport = 40000;
  e.dport = 23;
  e.tcp_flags = flags;
  e.ttl = 50;
  e.tcp_seq = 12345;
  e.ip_id = 1;
  e.tcp_win = 29200;
  return e;
}

Event Icmp(uint8_t type, bool v6 = false) {
  Event e;
  e.proto = v6 ? model::kProtoIcmpv6 : model::kProtoIcmp;
  e.src = IpAddr::V4(0xcb007107);
  e.dst = IpAddr::V4(0xc6130414);
  e.icmp_type = type;
  e.ttl = 50;
  return e;
}

TEST(KindRule, TcpSynAndStealthProbesAreScans) {
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpSyn)), TrafficKind::kScan);
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpSyn | model::kTcpEce | model::kTcpCwr)),
            TrafficKind::kScan);
  EXPECT_EQ(ClassifyKind(Tcp(0)), TrafficKind::kScan);               // NULL scan
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpFin)), TrafficKind::kScan);  // FIN scan
  EXPECT_EQ(ClassifyKind(Tcp(0x29)), TrafficKind::kScan);            // Xmas: FIN PSH URG
}

TEST(KindRule, SynAckAndRstAreBackscatter) {
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpSyn | model::kTcpAck)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpRst)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpRst | model::kTcpAck)), TrafficKind::kBackscatter);
}

TEST(KindRule, PlainAckIsOther) {
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpAck)), TrafficKind::kOther);
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpAck | model::kTcpPsh)), TrafficKind::kOther);
  EXPECT_EQ(ClassifyKind(Tcp(model::kTcpFin | model::kTcpAck)), TrafficKind::kOther);
}

TEST(KindRule, UdpFromAnAmplifierToAnUnprivilegedPortIsBackscatter) {
  Event e = Tcp(0);
  e.proto = model::kProtoUdp;
  e.dport = 41234;
  // Rules version 1 knew only DNS: an SNMP reflection reply was a "scan".
  for (uint16_t amp :
       {17,   19,   53,   69,   111,   123,   137,   161,   389,   427,   520,   1434, 1900,
        3283, 3702, 5353, 5683, 10001, 10074, 11211, 27015, 27960, 32414, 33848, 37810}) {
    e.sport = amp;
    EXPECT_EQ(ClassifyKind(e), TrafficKind::kBackscatter) << "source port " << amp;
  }
  e.sport = 161;
  e.dport = 1024;  // the lowest unprivileged port
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kBackscatter);
  e.dport = 1023;  // to a service port: a probe sent from port 161 (nmap -g 161, ntpd's 123→123)
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
  e.sport = 123;
  e.dport = 123;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
  e.sport = 5353;  // mDNS and SSDP requests go from their port to the same port
  e.dport = 5353;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
  e.sport = 53;  // to another amplifier's port: a probe of that service from port 53
  e.dport = 11211;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
  e.sport = 5060;  // SIP is not a listed amplifier
  e.dport = 41234;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
  e.sport = 40000;
  e.dport = 53;  // a query to us is a probe
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
  e.sport = 161;  // no transport header: not judged by ports
  e.dport = 41234;
  e.flags = model::kFlagFragment | model::kFlagNonFirstFragment;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kOther);
  e.flags = 0;
  e.proto = model::kProtoTcp;  // TCP from port 161 is judged by its flags
  e.tcp_flags = model::kTcpSyn;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kScan);
}

TEST(KindRule, IcmpRequestsScanRepliesAndErrorsBackscatter) {
  EXPECT_EQ(ClassifyKind(Icmp(8)), TrafficKind::kScan);
  EXPECT_EQ(ClassifyKind(Icmp(13)), TrafficKind::kScan);
  EXPECT_EQ(ClassifyKind(Icmp(0)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Icmp(3)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Icmp(11)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Icmp(9)), TrafficKind::kOther);  // router advertisement
  EXPECT_EQ(ClassifyKind(Icmp(128, true)), TrafficKind::kScan);
  EXPECT_EQ(ClassifyKind(Icmp(129, true)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Icmp(1, true)), TrafficKind::kBackscatter);
  EXPECT_EQ(ClassifyKind(Icmp(135, true)), TrafficKind::kOther);
  EXPECT_EQ(ClassifyKind(Icmp(8, true)), TrafficKind::kOther);  // type 8 means nothing in v6
}

TEST(KindRule, NonFirstFragmentAndOtherProtocolsAreOther) {
  Event e = Tcp(model::kTcpSyn);
  e.flags = model::kFlagFragment | model::kFlagNonFirstFragment;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kOther);
  e = Tcp(0);
  e.proto = 47;
  EXPECT_EQ(ClassifyKind(e), TrafficKind::kOther);
}

TEST(ToolRule, MiraiSeqEqualsDestination) {
  Event e = Tcp(model::kTcpSyn);
  e.tcp_seq = e.dst.v4();
  EXPECT_EQ(ClassifyTool(e), Tool::kMirai);
  e.tcp_seq ^= 1;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.tcp_seq = e.dst.v4();
  e.tcp_flags = model::kTcpSyn | model::kTcpAck;  // a SYN-ACK is not a Mirai probe
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
}

TEST(ToolRule, ZmapIpId54321) {
  Event e = Tcp(model::kTcpSyn);
  e.ip_id = 54321;
  EXPECT_EQ(ClassifyTool(e), Tool::kZmap);
  e.ip_id = 54320;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  Event i = Icmp(8);
  i.ip_id = 54321;
  EXPECT_EQ(ClassifyTool(i), Tool::kZmap);  // ZMap's ICMP and UDP probes carry it too
  Event v6 = Tcp(model::kTcpSyn);
  v6.src = v6.dst = IpAddr::V6(reinterpret_cast<const uint8_t*>("0123456789abcdef"));
  v6.ip_id = 54321;  // an IPv6 fragment id: not ZMap's mark
  EXPECT_EQ(ClassifyTool(v6), Tool::kUnknown);
}

TEST(ToolRule, MasscanIpIdIsDstXorPortXorSeq) {
  Event e = Tcp(model::kTcpSyn);
  e.tcp_seq = 0x9e3779b9;
  e.dport = 3389;
  e.ip_id = (e.dst.v4() ^ e.dport ^ e.tcp_seq) & 0xffff;
  EXPECT_EQ(ClassifyTool(e), Tool::kMasscan);
  e.ip_id ^= 0x100;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.ip_id ^= 0x100;
  e.tcp_flags = model::kTcpRst;  // masscan's RSTs are not probes
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
}

TEST(ToolRule, NmapSynNeedsWindowAndExactlyMss1460) {
  Event e = Tcp(model::kTcpSyn);
  e.tcp_win = 1024;
  e.tcp_optlen = 4;
  e.tcp_mss = 1460;
  EXPECT_EQ(ClassifyTool(e), Tool::kNmapSyn);
  e.tcp_win = 4096;
  EXPECT_EQ(ClassifyTool(e), Tool::kNmapSyn);
  e.tcp_win = 29200;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.tcp_win = 1024;
  e.tcp_optlen = 20;  // MSS plus more options: an ordinary stack
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.tcp_optlen = 4;
  e.tcp_mss = 1380;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.tcp_mss = 1460;
  e.tcp_optlen = 0;  // masscan: window 1024 but no options
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
}

Event V6(Event e) {
  e.src =
      IpAddr::V6(reinterpret_cast<const uint8_t*>("\x20\x01\x0d\xb8\0\x01\0\0\0\0\0\0\0\0\0\x01"));
  e.dst = IpAddr::V6(
      reinterpret_cast<const uint8_t*>("\x20\x01\x0d\xb8\0\x02\0\0\0\0\0\0\0\0\x01\x01"));
  e.ip_id = 0;
  e.ttl = 255;
  return e;
}

TEST(ToolRule, NmapSynOverIpv6) {
  // nmap 7.93 -6 -sS, as captured: hop limit 255, window 1024, one option (MSS 1460).
  Event e = V6(Tcp(model::kTcpSyn));
  e.tcp_win = 1024;
  e.tcp_optlen = 4;
  e.tcp_mss = 1460;
  EXPECT_EQ(ClassifyTool(e), Tool::kNmapSyn);  // rules version 1: unknown
  e.tcp_win = 2048;
  EXPECT_EQ(ClassifyTool(e), Tool::kNmapSyn);
  e.tcp_optlen = 20;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
}

TEST(ToolRule, MasscanSynOverIpv6) {
  // masscan 1.3.2 to an IPv6 target, as captured: window 1024, no options, a cookie for seq.
  Event e = V6(Tcp(model::kTcpSyn));
  e.tcp_win = 1024;
  e.tcp_optlen = 0;
  e.tcp_seq = 1065052382;
  EXPECT_EQ(ClassifyTool(e), Tool::kMasscan);
  e.ttl = 230;  // 25 hops away
  EXPECT_EQ(ClassifyTool(e), Tool::kMasscan);
  e.ttl = 64;  // a hand-made SYN from a host's own stack
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.ttl = 255;
  e.tcp_win = 512;  // hping3's window
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.tcp_win = 1024;
  e.tcp_flags = model::kTcpSyn | model::kTcpAck;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  e.tcp_flags = model::kTcpSyn;
  e.proto = model::kProtoUdp;
  EXPECT_EQ(ClassifyTool(e), Tool::kUnknown);
  // Mirai and ZMap's marks live in IPv4 fields: never over IPv6.
  Event m = V6(Tcp(model::kTcpSyn));
  m.tcp_seq = 0x01010000;
  m.ip_id = 54321;
  EXPECT_EQ(ClassifyTool(m), Tool::kUnknown);
}

TEST(ToolRule, OverlappingMasscanAndZmapAreToldApartByWindow) {
  // A masscan probe whose id, dst ^ dport ^ seq, happens to be 54321 (rules version 1 said
  // ZMap): choose the seq that makes it so.
  Event e = Tcp(model::kTcpSyn);
  e.dport = 80;
  e.tcp_win = 1024;
  e.tcp_seq = (e.dst.v4() ^ 80u ^ 54321u) & 0xffffu;
  e.ip_id = 54321;
  ASSERT_EQ(e.ip_id, (e.dst.v4() ^ e.dport ^ e.tcp_seq) & 0xffff);
  EXPECT_EQ(ClassifyTool(e), Tool::kMasscan);
  // The same header with ZMap's window is a ZMap SYN whose seq met masscan's relation.
  e.tcp_win = 65535;
  EXPECT_EQ(ClassifyTool(e), Tool::kZmap);
  // Mirai's seq == dst is checked first and cannot meet either by chance more than 2^-32.
  e.tcp_seq = e.dst.v4();
  EXPECT_EQ(ClassifyTool(e), Tool::kMirai);
}

TEST(SpoofRule, EachReasonAndItsNegative) {
  Event e = Tcp(model::kTcpSyn);
  EXPECT_EQ(ClassifySpoof(e), 0);
  Event same = e;
  same.src = same.dst;
  EXPECT_EQ(ClassifySpoof(same), model::kSpoofSrcEqualsDst);
  Event bcast = e;
  bcast.src = IpAddr::V4(0xcb0071ff);
  EXPECT_EQ(ClassifySpoof(bcast), model::kSpoofSrcNetworkOrBroadcast);
  bcast.src = IpAddr::V4(0xcb007100);
  EXPECT_EQ(ClassifySpoof(bcast), model::kSpoofSrcNetworkOrBroadcast);
  Event ttl = e;
  ttl.ttl = 200;
  EXPECT_EQ(ClassifySpoof(ttl), model::kSpoofHighTtlNoOptions);
  ttl.ttl = 199;
  EXPECT_EQ(ClassifySpoof(ttl), 0);
  ttl.ttl = 255;
  ttl.tcp_optlen = 4;  // options present: not this reason
  EXPECT_EQ(ClassifySpoof(ttl), 0);
  ttl.tcp_optlen = 0;
  ttl.flags = model::kFlagIpOptions;
  EXPECT_EQ(ClassifySpoof(ttl), 0);
  Event p0 = e;
  p0.sport = 0;
  EXPECT_EQ(ClassifySpoof(p0), model::kSpoofPortZero);
  p0.flags = model::kFlagFragment | model::kFlagNonFirstFragment;  // no ports to judge
  EXPECT_EQ(ClassifySpoof(p0), 0);
  Event icmp = Icmp(8);  // ICMP has no ports: port 0 is not suspicious
  EXPECT_EQ(ClassifySpoof(icmp), 0);
}

TEST(Classify, SetsAllThreeLabels) {
  Event e = Tcp(model::kTcpSyn);
  e.ip_id = 54321;
  e.ttl = 250;
  Classify(&e);
  EXPECT_EQ(e.labels.kind, TrafficKind::kScan);
  EXPECT_EQ(e.labels.tool, Tool::kZmap);
  EXPECT_EQ(e.labels.spoof, model::kSpoofHighTtlNoOptions);
}

}  // namespace
}  // namespace isdas::classify
