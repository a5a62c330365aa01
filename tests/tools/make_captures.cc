// Writes every golden capture of tests/data/golden/ (run: make_captures OUT_DIR).
// Each case is a small, hand-built capture with one point to make; docs/testing.md says how
// the expected outputs were checked. Malformed cases come first, as they were written first.
// Addresses: scanners from the documentation ranges (RFC 5737, RFC 3849), dark space
// 198.19.0.0/16 and 2001:db8:2::/48.

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "synth/packet_builder.h"

using namespace isdas::synth;  // NOLINT: a test tool

namespace {

constexpr int64_t kT0 = 1795651200LL * 1000000;  // 2026-11-26T00:00:00Z
const uint32_t kScanner = Ip4(203, 0, 113, 7);
const uint32_t kDark = Ip4(198, 19, 4, 20);

Bytes V4Tcp(uint32_t src, uint32_t dst, const TcpSpec& t, uint8_t ttl = 64, uint16_t id = 1) {
  Ip4Spec ip;
  ip.src = src;
  ip.dst = dst;
  ip.ttl = ttl;
  ip.id = id;
  return Ipv4(ip, Tcp(t));
}
Bytes Syn(uint16_t dport = 23) {
  TcpSpec t;
  t.dport = dport;
  return V4Tcp(kScanner, kDark, t);
}
Bytes EthV4(const Bytes& ip) { return Ether(0x0800, ip); }
Bytes EthV6(const Bytes& ip) { return Ether(0x86dd, ip); }

Ip6Spec V6(uint8_t next) {
  Ip6Spec s;
  s.src = Ip6("2001:db8:ff::7");
  s.dst = Ip6("2001:db8:2::20");
  s.next = next;
  return s;
}
Bytes V6Tcp(const TcpSpec& t) {
  Ip6Spec s = V6(6);
  Bytes l4 = Tcp(t);
  FixIpv6Checksum(s, 6, &l4);
  return Ipv6(s, l4);
}

std::vector<Record> Recs(const std::vector<Bytes>& frames) {
  std::vector<Record> out;
  int64_t t = kT0;
  for (const Bytes& f : frames) {
    out.push_back(Record{t, f, -1});
    t += 1500;  // 1.5 ms apart
  }
  return out;
}

struct Case {
  std::string name;  // file name without extension
  std::function<Bytes()> make;
  std::string ext = "pcap";
};

// A good SYN before and after each bad packet shows decoding carries on.
Bytes Around(const Bytes& bad_frame) {
  return PcapFile(1, Recs({EthV4(Syn(22)), bad_frame, EthV4(Syn(23))}));
}

std::vector<Case> Cases() {
  std::vector<Case> c;
  // ---- Malformed packets (each counted under its anomaly, neighbours still decoded) ----
  c.push_back({"m01_truncated_ethernet_header", [] {
                 return Around(Bytes{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0});
               }});
  c.push_back({"m02_truncated_vlan_tag", [] {
                 Bytes f = Ether(0x8100, Bytes{0x00});
                 return Around(f);
               }});
  c.push_back({"m03_too_many_vlan_tags", [] {
                 return Around(Ether(0x0800, Syn(), {1, 2, 3, 4, 5}, 0x88a8));
               }});
  c.push_back({"m04_truncated_ipv4_header", [] {
                 Bytes ip = Syn();
                 ip.resize(12);
                 return Around(EthV4(ip));
               }});
  c.push_back({"m05_bad_ipv4_ihl", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.ihl = 4;
                 return Around(EthV4(Ipv4(s, Tcp(TcpSpec{}))));
               }});
  c.push_back({"m06_truncated_ipv4_options", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.ihl = 15;  // 60-byte header announced, only 20 + TCP follow
                 Bytes ip = Ipv4(s, Bytes{});
                 return Around(EthV4(ip));
               }});
  c.push_back({"m07_bad_ipv4_total_length", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.total_len = 12;
                 return Around(EthV4(Ipv4(s, Tcp(TcpSpec{}))));
               }});
  c.push_back({"m08_ipv4_length_exceeds_frame", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.total_len = 1500;
                 return Around(EthV4(Ipv4(s, Tcp(TcpSpec{}))));
               }});
  c.push_back({"m09_bad_ip_version", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.version = 6;  // IPv4 ethertype, version nibble 6
                 return Around(EthV4(Ipv4(s, Tcp(TcpSpec{}))));
               }});
  c.push_back({"m10_truncated_ipv6_header", [] {
                 Bytes ip = V6Tcp(TcpSpec{});
                 ip.resize(30);
                 return Around(EthV6(ip));
               }});
  c.push_back({"m11_ipv6_length_exceeds_frame", [] {
                 Ip6Spec s = V6(6);
                 s.payload_len = 400;
                 return Around(EthV6(Ipv6(s, Tcp(TcpSpec{}))));
               }});
  c.push_back({"m12_truncated_ipv6_extension_header", [] {
                 Bytes hbh = Ipv6Ext(6, 2);  // 24 bytes announced
                 hbh.resize(8);              // 8 present, and the payload length says so
                 return Around(EthV6(Ipv6(V6(0), hbh)));
               }});
  c.push_back({"m13_too_many_ipv6_extension_headers", [] {
                 Bytes chain;
                 for (int i = 0; i < 9; ++i) {
                   Bytes e = Ipv6Ext(i == 8 ? 6 : 60, 0);
                   chain.insert(chain.end(), e.begin(), e.end());
                 }
                 Bytes t = Tcp(TcpSpec{});
                 chain.insert(chain.end(), t.begin(), t.end());
                 return Around(EthV6(Ipv6(V6(60), chain)));
               }});
  c.push_back({"m14_tcp_header_truncated", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 Bytes t = Tcp(TcpSpec{});
                 t.resize(12);
                 return Around(EthV4(Ipv4(s, t)));
               }});
  c.push_back({"m15_bad_tcp_data_offset", [] {
                 TcpSpec t;
                 t.data_offset = 3;
                 return Around(EthV4(V4Tcp(kScanner, kDark, t)));
               }});
  c.push_back({"m16_tcp_options_truncated", [] {
                 TcpSpec t;
                 t.data_offset = 15;  // 60-byte TCP header announced in a 20-byte segment
                 return Around(EthV4(V4Tcp(kScanner, kDark, t)));
               }});
  c.push_back({"m17_udp_header_truncated", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.proto = 17;
                 Bytes u = Udp(5353, 53, {});
                 u.resize(5);
                 return Around(EthV4(Ipv4(s, u)));
               }});
  c.push_back(
      {"m18_bad_udp_length", [] {
         Ip4Spec s;
         s.src = kScanner;
         s.dst = kDark;
         s.proto = 17;
         Bytes lo = EthV4(Ipv4(s, Udp(5353, 161, {1, 2, 3, 4}, 4)));    // below 8
         Bytes hi = EthV4(Ipv4(s, Udp(5353, 161, {1, 2, 3, 4}, 900)));  // beyond the datagram
         return PcapFile(1, Recs({EthV4(Syn(22)), lo, hi, EthV4(Syn(23))}));
       }});
  c.push_back({"m19_icmp_header_truncated", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.proto = 1;
                 return Around(EthV4(Ipv4(s, Bytes{8, 0})));
               }});
  c.push_back(
      {"m20_icmpv6_header_truncated", [] { return Around(EthV6(Ipv6(V6(58), Bytes{128}))); }});
  c.push_back(
      {"m21_truncated_sll_header", [] {
         Bytes bad = Sll(0, 0x0800, {});
         bad.resize(10);
         return PcapFile(113, Recs({Sll(0, 0x0800, Syn(22)), bad, Sll(0, 0x0800, Syn(23))}));
       }});
  c.push_back(
      {"m22_truncated_sll2_header", [] {
         Bytes bad = Sll2(0x0800, 0, {});
         bad.resize(15);
         return PcapFile(276, Recs({Sll2(0x0800, 0, Syn(22)), bad, Sll2(0x0800, 0, Syn(23))}));
       }});
  c.push_back(
      {"m23_truncated_null_header", [] {
         return PcapFile(0, Recs({Null(2, false, Syn(22)), Bytes{2, 0}, Null(2, false, Syn(23))}));
       }});
  c.push_back({"m24_unsupported_link_type", [] {
                 return PcapFile(105, Recs({Syn(22), Syn(23)}));  // IEEE 802.11
               }});
  c.push_back({"m25_bad_ip_version_raw", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.version = 5;
                 return PcapFile(101, Recs({Syn(22), Ipv4(s, Tcp(TcpSpec{})), Bytes{}, Syn(23)}));
               }});
  c.push_back({"m26_truncated_mpls_label", [] {
                 return Around(Ether(0x8847, Bytes{0x00, 0x01, 0x40}));  // 3 of 4 label bytes
               }});
  c.push_back({"m27_too_many_mpls_labels", [] {
                 Bytes stack;
                 for (int i = 0; i < 9; ++i)
                   PutBe32(&stack, (static_cast<uint32_t>(16 + i) << 12) | 64);
                 Bytes ip = Syn();
                 stack.insert(stack.end(), ip.begin(), ip.end());
                 return Around(Ether(0x8847, stack));
               }});
  // ---- Damaged files: events before the damage are kept, the error names the offset ----
  c.push_back({"f01_truncated_record", [] {
                 Bytes f = PcapFile(1, Recs({EthV4(Syn(22)), EthV4(Syn(23)), EthV4(Syn(24))}));
                 f.resize(f.size() - 10);
                 return f;
               }});
  c.push_back({"f02_truncated_record_header", [] {
                 Bytes f = PcapFile(1, Recs({EthV4(Syn(22)), EthV4(Syn(23))}));
                 f.resize(f.size() + 7, 0);  // 7 stray bytes where a 16-byte header should be
                 return f;
               }});
  c.push_back({"f03_not_a_capture", [] {
                 const std::string text = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
                 return Bytes(text.begin(), text.end());
               }});
  c.push_back({"f04_huge_caplen", [] {
                 Bytes f = PcapFile(1, Recs({EthV4(Syn(22)), EthV4(Syn(23))}));
                 // Make the second record claim 16 MiB (little-endian caplen at record offset 8).
                 const size_t second = 24 + 16 + EthV4(Syn(22)).size();
                 f[second + 8 + 3] = 0x01;
                 return f;
               }});
  c.push_back({"f05_pcapng_truncated_block",
               [] {
                 Bytes f = PcapngFile({1}, Recs({EthV4(Syn(22)), EthV4(Syn(23))}));
                 f.resize(f.size() - 20);
                 return f;
               },
               "pcapng"});
  c.push_back({"f06_pcapng_bad_trailer",
               [] {
                 Bytes f = PcapngFile({1}, Recs({EthV4(Syn(22)), EthV4(Syn(23))}));
                 f[f.size() - 4] ^= 0x04;  // last block's trailing length no longer matches
                 return f;
               },
               "pcapng"});
  c.push_back({"f07_pcapng_unknown_interface",
               [] {
                 return PcapngFile({1}, Recs({EthV4(Syn(22)), EthV4(Syn(23))}), {0, 3});
               },
               "pcapng"});
  c.push_back({"f08_empty_file", [] { return Bytes{}; }});
  c.push_back({"f09_header_only", [] { return PcapFile(1, {}); }});
  c.push_back({"f10_caplen_exceeds_len", [] {
                 std::vector<Record> r = Recs({EthV4(Syn(22)), EthV4(Syn(23))});
                 r[1].wire_len = 20;  // wire length below the captured length: repaired and counted
                 return PcapFile(1, r);
               }});
  // ---- Link types ----
  c.push_back({"l01_ethernet", [] {
                 Bytes v6 = EthV6(V6Tcp(TcpSpec{}));
                 Bytes arp = Ether(0x0806, Bytes(28, 0));
                 Bytes llc = Ether(0x0026, Bytes(38, 0xaa));  // 802.3 length field: not IP
                 return PcapFile(1, Recs({EthV4(Syn(80)), v6, arp, llc}));
               }});
  c.push_back({"l02_ethernet_vlan_qinq", [] {
                 Bytes one = Ether(0x0800, Syn(80), {100});
                 Bytes two = Ether(0x86dd, V6Tcp(TcpSpec{}), {10, 200}, 0x88a8);
                 Bytes old = Ether(0x0800, Syn(81), {10, 20}, 0x9100);
                 return PcapFile(1, Recs({one, two, old}));
               }});
  c.push_back({"l03_ethernet_padding", [] {
                 Bytes f = EthV4(Syn(443));
                 f.resize(60, 0);  // minimum frame: 6 bytes of padding after the IP datagram
                 Bytes g = f;
                 g.insert(g.end(), {0xde, 0xad, 0xbe, 0xef});  // and an FCS
                 return PcapFile(1, Recs({f, g}));
               }});
  c.push_back({"l04_linux_sll", [] {
                 return PcapFile(
                     113, Recs({Sll(0, 0x0800, Syn(22)), Sll(4, 0x0800, Syn(23)),
                                Sll(0, 0x86dd, V6Tcp(TcpSpec{})), Sll(0, 0x0806, Bytes(28, 0))}));
               }});
  c.push_back({"l05_linux_sll2", [] {
                 return PcapFile(276, Recs({Sll2(0x0800, 0, Syn(22)), Sll2(0x0800, 4, Syn(23)),
                                            Sll2(0x86dd, 0, V6Tcp(TcpSpec{}))}));
               }});
  c.push_back({"l06_raw_ip", [] { return PcapFile(101, Recs({Syn(22), V6Tcp(TcpSpec{})})); }});
  c.push_back({"l07_raw_ip_dlt12", [] { return PcapFile(12, Recs({Syn(22)})); }});
  c.push_back({"l08_linktype_ipv4_ipv6",
               [] {
                 return PcapngFile({228, 229}, Recs({Syn(22), V6Tcp(TcpSpec{})}), {0, 1});
               },
               "pcapng"});
  c.push_back({"l09_bsd_null", [] {
                 return PcapFile(0,
                                 Recs({Null(2, false, Syn(22)), Null(30, false, V6Tcp(TcpSpec{})),
                                       Null(2, true, Syn(23)), Null(24, true, V6Tcp(TcpSpec{})),
                                       Null(7, false, Bytes(20, 0))}));
               }});
  c.push_back(
      {"l10_openbsd_loop", [] {
         return PcapFile(108, Recs({Null(2, true, Syn(22)), Null(24, true, V6Tcp(TcpSpec{}))}));
       }});
  c.push_back({"l11_pppoe", [] {
                 Bytes pppoe{0x11, 0x00, 0x00, 0x01};
                 Bytes ip = Syn(8080);
                 PutBe16(&pppoe, static_cast<uint16_t>(ip.size() + 2));
                 PutBe16(&pppoe, 0x0021);
                 pppoe.insert(pppoe.end(), ip.begin(), ip.end());
                 return PcapFile(1, Recs({Ether(0x8864, pppoe)}));
               }});
  c.push_back(
      {"l12_mpls", [] {
         Bytes two;  // two labels, bottom of stack on the second, then IPv4
         PutBe32(&two, (100u << 12) | 64);
         PutBe32(&two, (200u << 12) | 0x100 | 64);
         Bytes ip = Syn(8443);
         two.insert(two.end(), ip.begin(), ip.end());
         Bytes one;
         PutBe32(&one, (300u << 12) | 0x100 | 64);
         Bytes ip6 = V6Tcp(TcpSpec{});
         one.insert(one.end(), ip6.begin(), ip6.end());
         Bytes pw;  // an Ethernet pseudowire (first nibble 0): not IP
         PutBe32(&pw, (400u << 12) | 0x100 | 64);
         pw.insert(pw.end(), 4, 0);
         return PcapFile(1, Recs({Ether(0x8847, two), Ether(0x8847, one), Ether(0x8847, pw)}));
       }});
  // ---- Protocols ----
  c.push_back(
      {"p01_tcp_flags", [] {
         std::vector<Bytes> f;
         for (uint8_t flags : {0x02, 0x12, 0x04, 0x14, 0x10, 0x18, 0x01, 0x00, 0x29, 0xc2}) {
           TcpSpec t;
           t.flags = flags;
           t.dport = 8000;
           f.push_back(EthV4(V4Tcp(kScanner, kDark, t)));
         }
         return PcapFile(1, Recs(f));
       }});
  c.push_back({"p02_udp", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.proto = 17;
                 Bytes probe = EthV4(Ipv4(s, Udp(41234, 5060, Bytes(12, 'x'))));
                 Bytes dns = EthV4(Ipv4(s, Udp(53, 33333, Bytes(30, 0))));
                 Ip6Spec s6 = V6(17);
                 Bytes u6 = Udp(5000, 123, Bytes(48, 0));
                 FixIpv6Checksum(s6, 17, &u6);
                 return PcapFile(1, Recs({probe, dns, EthV6(Ipv6(s6, u6))}));
               }});
  c.push_back({"p03_icmp", [] {
                 std::vector<Bytes> f;
                 for (auto [type, code] : std::vector<std::pair<uint8_t, uint8_t>>{
                          {8, 0}, {0, 0}, {3, 3}, {11, 0}, {13, 0}, {9, 0}}) {
                   Ip4Spec s;
                   s.src = kScanner;
                   s.dst = kDark;
                   s.proto = 1;
                   f.push_back(EthV4(Ipv4(s, Icmp(type, code))));
                 }
                 return PcapFile(1, Recs(f));
               }});
  c.push_back({"p04_icmpv6", [] {
                 std::vector<Bytes> f;
                 for (auto [type, code] : std::vector<std::pair<uint8_t, uint8_t>>{
                          {128, 0}, {129, 0}, {1, 4}, {135, 0}}) {
                   Ip6Spec s = V6(58);
                   Bytes l4 = Icmp(type, code);
                   FixIpv6Checksum(s, 58, &l4);
                   f.push_back(EthV6(Ipv6(s, l4)));
                 }
                 return PcapFile(1, Recs(f));
               }});
  c.push_back({"p05_ipv4_options", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.ttl = 250;
                 s.options = {0x94, 0x04, 0x00, 0x00};  // router alert (RFC 2113)
                 return PcapFile(1, Recs({EthV4(Ipv4(s, Tcp(TcpSpec{})))}));
               }});
  c.push_back({"p06_ipv4_fragments", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.proto = 17;
                 s.id = 777;
                 s.frag = 0x2000;  // first fragment, MF
                 Bytes first = EthV4(Ipv4(s, Udp(1900, 1900, Bytes(16, 0), 1208)));
                 s.frag = 0x2000 | 3;  // middle: offset 24 bytes
                 Bytes middle = EthV4(Ipv4(s, Bytes(24, 0xab)));
                 s.frag = 6;  // last
                 Bytes last = EthV4(Ipv4(s, Bytes(16, 0xcd)));
                 return PcapFile(1, Recs({first, middle, last}));
               }});
  c.push_back({"p07_ipv6_extension_headers", [] {
                 Bytes chain = Ipv6Ext(43, 0);  // hop-by-hop -> routing
                 Bytes rt = Ipv6Ext(60, 2);     // routing -> destination options
                 Bytes dst = Ipv6Ext(6, 1);     // destination options -> TCP
                 chain.insert(chain.end(), rt.begin(), rt.end());
                 chain.insert(chain.end(), dst.begin(), dst.end());
                 TcpSpec t;
                 t.dport = 443;
                 Bytes tcp = Tcp(t);
                 chain.insert(chain.end(), tcp.begin(), tcp.end());
                 return PcapFile(1, Recs({EthV6(Ipv6(V6(0), chain))}));
               }});
  c.push_back({"p08_ipv6_fragments", [] {
                 Bytes f1 = Ipv6Frag(17, 0, true, 0xdeadbeef);
                 Bytes u = Udp(4444, 161, Bytes(16, 0), 1040);
                 f1.insert(f1.end(), u.begin(), u.end());
                 Bytes f2 = Ipv6Frag(17, 3, false, 0xdeadbeef);
                 f2.insert(f2.end(), 24, 0xab);
                 Bytes atomic = Ipv6Frag(58, 0, false, 42);
                 Bytes echo = Icmp(128, 0);
                 atomic.insert(atomic.end(), echo.begin(), echo.end());
                 return PcapFile(1, Recs({EthV6(Ipv6(V6(44), f1)), EthV6(Ipv6(V6(44), f2)),
                                          EthV6(Ipv6(V6(44), atomic))}));
               }});
  c.push_back({"p09_other_protocols", [] {
                 Ip4Spec s;
                 s.src = kScanner;
                 s.dst = kDark;
                 s.proto = 47;  // GRE
                 Bytes gre = EthV4(Ipv4(s, Bytes{0, 0, 0x08, 0}));
                 s.proto = 132;  // SCTP
                 Bytes sctp = EthV4(Ipv4(s, Bytes(12, 0)));
                 Bytes nonext = EthV6(Ipv6(V6(59), {}));  // IPv6 "no next header"
                 return PcapFile(1, Recs({gre, sctp, nonext}));
               }});
  c.push_back({"p10_snaplen_cut_tcp_options", [] {
                 TcpSpec t;
                 t.options = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
                 Bytes f = EthV4(V4Tcp(kScanner, kDark, t));
                 std::vector<Record> r = Recs({f});
                 r[0].wire_len = static_cast<int64_t>(f.size());
                 r[0].data.resize(14 + 20 + 24);  // snap length 58: MSS captured, the rest cut
                 return PcapFile(1, r, PcapFlavor::kMicro, 58);
               }});
  // ---- Tool fingerprints and spoof suspicion ----
  c.push_back({"t01_mirai", [] {
                 TcpSpec t;
                 t.dport = 23;
                 t.seq = kDark;  // sequence number == destination address
                 t.win = 5840;   // not a rule input, as Mirai sends it
                 return PcapFile(1,
                                 Recs({EthV4(V4Tcp(Ip4(198, 51, 100, 23), kDark, t, 52, 0x1a2b))}));
               }});
  c.push_back({"t02_zmap", [] {
                 TcpSpec t;
                 t.dport = 443;
                 t.win = 65535;
                 t.seq = 0x12345678;
                 return PcapFile(1, Recs({EthV4(V4Tcp(kScanner, kDark, t, 245, 54321))}));
               }});
  c.push_back({"t03_masscan", [] {
                 TcpSpec t;
                 t.dport = 3389;
                 t.win = 1024;
                 t.sport = 61000;
                 t.seq = 0x9e3779b9;
                 const auto id = static_cast<uint16_t>((kDark ^ t.dport ^ t.seq) & 0xffff);
                 Bytes hit = EthV4(V4Tcp(kScanner, kDark, t, 247, id));
                 Bytes miss = EthV4(V4Tcp(kScanner, kDark, t, 247, static_cast<uint16_t>(id + 1)));
                 return PcapFile(1, Recs({hit, miss}));
               }});
  c.push_back({"t04_nmap_syn", [] {
                 TcpSpec t;
                 t.dport = 22;
                 t.win = 1024;
                 t.sport = 53211;
                 t.options = {2, 4, 0x05, 0xb4};
                 Bytes nmap = EthV4(V4Tcp(kScanner, kDark, t, 41, 31337));
                 t.win = 64240;  // a Linux connect(): MSS, SACK-permitted, timestamps, NOP, wscale
                 t.options = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};
                 Bytes linux_syn = EthV4(V4Tcp(kScanner, kDark, t, 50, 4242));
                 return PcapFile(1, Recs({nmap, linux_syn}));
               }});
  c.push_back({"t05_spoof_suspicion", [] {
                 TcpSpec t;
                 t.dport = 80;
                 Bytes same = EthV4(V4Tcp(kDark, kDark, t));
                 Bytes bcast = EthV4(V4Tcp(Ip4(203, 0, 113, 255), kDark, t));
                 Bytes net = EthV4(V4Tcp(Ip4(203, 0, 113, 0), kDark, t));
                 Bytes high_ttl = EthV4(V4Tcp(kScanner, kDark, t, 230, 7));
                 t.dport = 0;
                 Bytes port0 = EthV4(V4Tcp(kScanner, kDark, t));
                 return PcapFile(1, Recs({same, bcast, net, high_ttl, port0}));
               }});
  c.push_back({"t06_rules_v2", [] {  // docs/classifier.md, version 2
                 auto udp = [](uint16_t from, uint16_t to) {
                   Ip4Spec ip;
                   ip.src = kScanner;
                   ip.dst = kDark;
                   ip.proto = 17;
                   return EthV4(Ipv4(ip, Udp(from, to, Bytes(32, 0))));
                 };
                 // Amplifier replies to unprivileged ports: backscatter. Requests: scans.
                 Bytes snmp = udp(161, 41234), ntp = udp(123, 50000), memcached = udp(11211, 1024);
                 Bytes ssdp_ask = udp(1900, 1900), dns_to_service = udp(53, 80);
                 // masscan's IPv6 SYN (window 1024, no options, hop limit 255), Nmap's
                 // (window 1024, MSS 1460), a Linux host's own.
                 TcpSpec t;
                 t.dport = 80;
                 t.sport = 46916;
                 t.win = 1024;
                 t.seq = 1065052382;
                 Ip6Spec v6 = V6(6);
                 v6.hlim = 250;
                 Bytes l4 = Tcp(t);
                 FixIpv6Checksum(v6, 6, &l4);
                 Bytes masscan6 = EthV6(Ipv6(v6, l4));
                 t.options = {2, 4, 0x05, 0xb4};
                 l4 = Tcp(t);
                 FixIpv6Checksum(v6, 6, &l4);
                 Bytes nmap6 = EthV6(Ipv6(v6, l4));
                 t.win = 64800;
                 t.options = {2, 4, 0x05, 0xa0, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};
                 v6.hlim = 57;
                 l4 = Tcp(t);
                 FixIpv6Checksum(v6, 6, &l4);
                 Bytes linux6 = EthV6(Ipv6(v6, l4));
                 // An IPv4 masscan probe whose IP id, dst ^ dport ^ seq, is 54321 (version 1:
                 // zmap), and a ZMap SYN (window 65535) whose seq meets masscan's relation.
                 t = TcpSpec{};
                 t.dport = 80;
                 t.sport = 61000;
                 t.win = 1024;
                 t.seq = (kDark ^ 80u ^ 54321u) & 0xffffu;
                 Bytes masscan_54321 = EthV4(V4Tcp(kScanner, kDark, t, 247, 54321));
                 t.win = 65535;
                 Bytes zmap_masscan_seq = EthV4(V4Tcp(kScanner, kDark, t, 247, 54321));
                 return PcapFile(1, Recs({snmp, ntp, memcached, ssdp_ask, dns_to_service, masscan6,
                                          nmap6, linux6, masscan_54321, zmap_masscan_seq}));
               }});
  // ---- File formats ----
  c.push_back({"x01_pcap_nanosecond", [] {
                 std::vector<Record> r = Recs({EthV4(Syn(22))});
                 r[0].ts_us += 123456;
                 return PcapFile(1, r, PcapFlavor::kNano);
               }});
  c.push_back(
      {"x02_pcap_big_endian", [] {
         return PcapFile(1, Recs({EthV4(Syn(22)), EthV4(Syn(23))}), PcapFlavor::kMicroBigEndian);
       }});
  c.push_back(
      {"x03_pcapng_two_interfaces",
       [] {
         return PcapngFile({1, 113}, Recs({EthV4(Syn(22)), Sll(0, 0x0800, Syn(23))}), {0, 1});
       },
       "pcapng"});
  c.push_back({"x04_pcapng_nanosecond_resolution",
               [] { return PcapngFile({1}, Recs({EthV4(Syn(22))}), {}, 9); }, "pcapng"});
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_captures OUT_DIR\n");
    return 64;
  }
  const std::string dir = argv[1];
  for (const Case& c : Cases()) {
    const std::string path = dir + "/" + c.name + "." + c.ext;
    if (!WriteFile(path, c.make())) {
      std::fprintf(stderr, "make_captures: cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("%s\n", path.c_str());
  }
  return 0;
}
