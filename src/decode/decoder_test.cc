#include "decode/decoder.h"

#include <gtest/gtest.h>

#include "synth/packet_builder.h"

namespace isdas::decode {
namespace {

using model::Event;
using namespace synth;  // NOLINT

const uint32_t kSrc = Ip4(203, 0, 113, 7);
const uint32_t kDst = Ip4(198, 19, 4, 20);

Bytes SynIp(uint16_t dport = 23) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  TcpSpec t;
  t.dport = dport;
  return Ipv4(ip, Tcp(t));
}

Outcome DecodeBytes(uint32_t lt, const Bytes& b, Event* ev, size_t wire = 0) {
  return DecodePacket(lt, b.data(), b.size(), wire ? wire : b.size(), ev);
}

// ---- malformed input first ----

TEST(EthernetDecode, ShortFrameIsTruncatedEthernetHeader) {
  Event ev;
  for (size_t n = 0; n < 14; ++n) {
    Bytes f = Ether(0x0800, SynIp());
    f.resize(n);
    EXPECT_EQ(DecodeBytes(kLinkEthernet, f, &ev), Outcome::kTruncatedEthernetHeader) << n;
  }
}

TEST(EthernetDecode, VlanTagCutShortOrTooDeepIsCounted) {
  Event ev;
  EXPECT_EQ(DecodeBytes(kLinkEthernet, Ether(0x8100, Bytes{0}), &ev), Outcome::kTruncatedVlanTag);
  EXPECT_EQ(DecodeBytes(kLinkEthernet, Ether(0x0800, SynIp(), {1, 2, 3, 4, 5}, 0x88a8), &ev),
            Outcome::kTooManyVlanTags);
  EXPECT_EQ(DecodeBytes(kLinkEthernet, Ether(0x0800, SynIp(), {1, 2, 3, 4}, 0x88a8), &ev),
            Outcome::kEvent);
}

TEST(Ipv4Decode, HeaderLengthBelowFiveIsCountedAsAnomaly) {
  for (int ihl = 0; ihl < 5; ++ihl) {
    Ip4Spec ip;
    ip.src = kSrc;
    ip.dst = kDst;
    ip.ihl = ihl;
    Event ev;
    EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(TcpSpec{})), &ev), Outcome::kBadIpv4Ihl) << ihl;
  }
}

TEST(Ipv4Decode, EveryShortPrefixIsAnAnomalyNeverAnEvent) {
  const Bytes full = SynIp();
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<long>(n));
    Event ev;
    // Captured short but the wire length is honest: every cut is an anomaly.
    const Outcome o = DecodePacket(kLinkRaw, cut.data(), cut.size(), full.size(), &ev);
    EXPECT_TRUE(IsAnomaly(o)) << n << " " << OutcomeName(o);
  }
}

TEST(Ipv4Decode, LengthsAreCheckedAgainstHeaderAndWire) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  Event ev;
  ip.total_len = 19;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(TcpSpec{})), &ev), Outcome::kBadIpv4TotalLength);
  ip.total_len = 1500;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(TcpSpec{})), &ev), Outcome::kIpv4LengthExceedsFrame);
  // The same packet is fine when the capture was cut by the snap length.
  ip.total_len = -1;
  Bytes b = Ipv4(ip, Tcp(TcpSpec{}));
  ip.version = 6;
  EXPECT_EQ(DecodeBytes(kLinkEthernet, Ether(0x0800, Ipv4(ip, Tcp(TcpSpec{}))), &ev),
            Outcome::kBadIpVersion);
  ip.version = 4;
  ip.ihl = 15;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Bytes{}), &ev), Outcome::kTruncatedIpv4Options);
}

TEST(TcpDecode, DataOffsetOutOfRangeIsCounted) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  TcpSpec t;
  Event ev;
  t.data_offset = 4;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(t)), &ev), Outcome::kBadTcpDataOffset);
  t.data_offset = 6;  // 24-byte header in a 20-byte segment
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(t)), &ev), Outcome::kTcpOptionsTruncated);
}

TEST(TcpDecode, OptionsCutBySnapLengthStillGiveAnEvent) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  TcpSpec t;
  t.options = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
  Bytes b = Ipv4(ip, Tcp(t));
  const size_t wire = b.size();
  b.resize(20 + 20 + 4);  // IP, TCP, and just the MSS option
  Event ev;
  ASSERT_EQ(DecodeBytes(kLinkRaw, b, &ev, wire), Outcome::kEvent);
  EXPECT_EQ(ev.tcp_optlen, 20);
  EXPECT_EQ(ev.tcp_mss, 1460);
  EXPECT_EQ(ev.dport, 80);
}

TEST(TcpDecode, MalformedOptionListStopsParsingQuietly) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  TcpSpec t;
  t.options = {2, 0, 0x05, 0xb4};  // option length 0 would loop forever if trusted
  Event ev;
  ASSERT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(t)), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.tcp_mss, 0);
  t.options = {1, 1, 1, 2, 4, 0x05, 0xb4, 0};  // NOPs then an MSS that overruns by one
  ASSERT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Tcp(t)), &ev), Outcome::kEvent);
}

TEST(UdpDecode, LengthFieldOutsideDatagramIsCounted) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  ip.proto = 17;
  Event ev;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Udp(1, 2, {}, 7)), &ev), Outcome::kBadUdpLength);
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Udp(1, 2, {}, 9)), &ev), Outcome::kBadUdpLength);
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Udp(1, 2, {})), &ev), Outcome::kEvent);
  Bytes u = Udp(1, 2, {});
  u.resize(7);
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, u), &ev), Outcome::kUdpHeaderTruncated);
}

TEST(Ipv6Decode, ExtensionChainIsBoundedAndChecked) {
  Ip6Spec s;
  s.src = Ip6("2001:db8::1");
  s.dst = Ip6("2001:db8:2::1");
  Event ev;
  Bytes chain;
  for (int i = 0; i < 9; ++i) {
    Bytes e = Ipv6Ext(i == 8 ? 59 : 60, 0);
    chain.insert(chain.end(), e.begin(), e.end());
  }
  s.next = 60;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv6(s, chain), &ev), Outcome::kTooManyIpv6ExtHeaders);
  chain.resize(8 * 8);
  chain[7 * 8] = 59;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv6(s, chain), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.proto, 59);
  Bytes big = Ipv6Ext(6, 3);
  big.resize(16);
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv6(s, big), &ev), Outcome::kTruncatedIpv6ExtHeader);
  s.payload_len = 100;
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv6(s, Bytes(8, 0)), &ev), Outcome::kIpv6LengthExceedsFrame);
}

TEST(Ipv6Decode, NonFirstFragmentHasNoPortsAndKeepsId) {
  Ip6Spec s;
  s.src = Ip6("2001:db8::1");
  s.dst = Ip6("2001:db8:2::1");
  s.next = 44;
  Bytes f = Ipv6Frag(6, 10, false, 0xabcdef01);
  f.insert(f.end(), 40, 0x55);  // would parse as ports 0x5555 if trusted
  Event ev;
  ASSERT_EQ(DecodeBytes(kLinkRaw, Ipv6(s, f), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.proto, 6);
  EXPECT_EQ(ev.sport, 0);
  EXPECT_EQ(ev.dport, 0);
  EXPECT_EQ(ev.ip_id, 0xabcdef01u);
  EXPECT_TRUE(ev.flags & model::kFlagNonFirstFragment);
}

TEST(Ipv4Decode, NonFirstFragmentHasNoPorts) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  ip.frag = 0x2000 | 5;
  Event ev;
  ASSERT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Bytes(40, 0x55)), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.sport, 0);
  EXPECT_EQ(ev.dport, 0);
  EXPECT_EQ(ev.tcp_flags, 0);
  EXPECT_EQ(ev.flags & (model::kFlagFragment | model::kFlagNonFirstFragment),
            model::kFlagFragment | model::kFlagNonFirstFragment);
}

TEST(LinkDecode, UnknownLinkTypeAndNonIpAreNamed) {
  Event ev;
  EXPECT_EQ(DecodeBytes(105, SynIp(), &ev), Outcome::kUnsupportedLinkType);
  EXPECT_EQ(DecodeBytes(kLinkEthernet, Ether(0x0806, Bytes(28, 0)), &ev), Outcome::kNonIp);
  EXPECT_EQ(DecodeBytes(kLinkLinuxSll, Sll(4, 0x0800, SynIp()), &ev), Outcome::kOutgoing);
  EXPECT_EQ(DecodeBytes(kLinkLinuxSll2, Sll2(0x0800, 4, SynIp()), &ev), Outcome::kOutgoing);
  EXPECT_EQ(DecodeBytes(kLinkNull, Bytes{2, 0}, &ev), Outcome::kTruncatedNullHeader);
  EXPECT_EQ(DecodeBytes(kLinkRaw, Bytes{}, &ev), Outcome::kTruncatedIpv4Header);
}

// ---- well-formed input ----

TEST(LinkDecode, EveryLinkTypeReachesTheSameEvent) {
  const Bytes ip = SynIp(8080);
  struct {
    uint32_t lt;
    Bytes frame;
  } cases[] = {
      {kLinkEthernet, Ether(0x0800, ip)},
      {kLinkEthernet, Ether(0x0800, ip, {7})},
      {kLinkEthernet, Ether(0x0800, ip, {7, 8}, 0x88a8)},
      {kLinkRaw, ip},
      {kLinkRawOpenBsd, ip},
      {kLinkIpv4, ip},
      {kLinkLinuxSll, Sll(0, 0x0800, ip)},
      {kLinkLinuxSll2, Sll2(0x0800, 0, ip)},
      {kLinkNull, Null(2, false, ip)},
      {kLinkNull, Null(2, true, ip)},
      {kLinkLoop, Null(2, true, ip)},
  };
  for (const auto& c : cases) {
    Event ev;
    ASSERT_EQ(DecodeBytes(c.lt, c.frame, &ev), Outcome::kEvent) << c.lt;
    EXPECT_EQ(ev.src.v4(), kSrc);
    EXPECT_EQ(ev.dst.v4(), kDst);
    EXPECT_EQ(ev.dport, 8080);
    EXPECT_EQ(ev.sport, 40000);
    EXPECT_EQ(ev.tcp_flags, model::kTcpSyn);
    EXPECT_EQ(ev.proto, 6);
    EXPECT_EQ(ev.ip_len, 40u);
  }
}

TEST(Ipv6Decode, HopByHopRoutingDestOptsThenTcp) {
  Ip6Spec s;
  s.src = Ip6("2001:db8::1");
  s.dst = Ip6("2001:db8:2::1");
  s.next = 0;
  s.hlim = 57;
  Bytes chain = Ipv6Ext(43, 0);
  Bytes rt = Ipv6Ext(60, 1);
  Bytes d = Ipv6Ext(6, 0);
  TcpSpec t;
  t.dport = 22;
  Bytes tcp = Tcp(t);
  for (const Bytes* b : {&rt, &d, &tcp}) chain.insert(chain.end(), b->begin(), b->end());
  Event ev;
  ASSERT_EQ(DecodeBytes(kLinkRaw, Ipv6(s, chain), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.proto, 6);
  EXPECT_EQ(ev.dport, 22);
  EXPECT_EQ(ev.ttl, 57);
  EXPECT_EQ(ev.src.ToString(), "2001:db8::1");
  EXPECT_TRUE(ev.flags & model::kFlagIpOptions);
}

TEST(IcmpDecode, TypeAndCodeWithoutPorts) {
  Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  ip.proto = 1;
  Event ev;
  ASSERT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Icmp(3, 13)), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.icmp_type, 3);
  EXPECT_EQ(ev.icmp_code, 13);
  EXPECT_EQ(ev.sport, 0);
  EXPECT_EQ(DecodeBytes(kLinkRaw, Ipv4(ip, Bytes{8, 0, 0}), &ev), Outcome::kIcmpHeaderTruncated);
}

TEST(Decode, TimestampAndSensorSurviveReset) {
  Event ev;
  ev.ts_us = 42;
  ev.sensor_id = 7;
  ev.sport = 999;
  ASSERT_EQ(DecodeBytes(kLinkRaw, SynIp(), &ev), Outcome::kEvent);
  EXPECT_EQ(ev.ts_us, 42);
  EXPECT_EQ(ev.sensor_id, 7u);
  EXPECT_EQ(ev.sport, 40000);
}

}  // namespace
}  // namespace isdas::decode

namespace isdas::decode {
namespace {

TEST(UdpDecode, FirstFragmentMayAnnounceTheWholeDatagramLength) {
  synth::Ip4Spec ip;
  ip.src = kSrc;
  ip.dst = kDst;
  ip.proto = 17;
  ip.frag = 0x2000;  // MF, offset 0
  Event ev;
  const synth::Bytes b = synth::Ipv4(ip, synth::Udp(1900, 1900, synth::Bytes(16, 0), 1208));
  ASSERT_EQ(DecodeBytes(kLinkRaw, b, &ev), Outcome::kEvent);
  EXPECT_EQ(ev.dport, 1900);
  EXPECT_EQ(ev.flags & model::kFlagNonFirstFragment, 0);
  ip.frag = 0;  // the same length in an unfragmented datagram is a lie
  EXPECT_EQ(DecodeBytes(kLinkRaw,
                        synth::Ipv4(ip, synth::Udp(1900, 1900, synth::Bytes(16, 0), 1208)), &ev),
            Outcome::kBadUdpLength);
}

}  // namespace
}  // namespace isdas::decode
