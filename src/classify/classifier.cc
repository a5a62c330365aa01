#include "classify/classifier.h"

namespace isdas::classify {
namespace {

using model::Event;
using model::Tool;
using model::TrafficKind;

using model::HasPorts;

bool IsSynOnly(const Event& ev) {
  return (ev.tcp_flags & (model::kTcpSyn | model::kTcpAck | model::kTcpRst)) == model::kTcpSyn;
}

TrafficKind KindTcp(const Event& ev) {
  const uint8_t f = ev.tcp_flags;
  // A RST or a SYN-ACK answers a connection attempt someone else made with our address as
  // the (spoofed) source: backscatter.
  if (f & model::kTcpRst) return TrafficKind::kBackscatter;
  if ((f & (model::kTcpSyn | model::kTcpAck)) == (model::kTcpSyn | model::kTcpAck)) {
    return TrafficKind::kBackscatter;
  }
  // SYN, and the stealth probes without ACK (FIN, NULL, Xmas), open a conversation: scans.
  if (!(f & model::kTcpAck)) return TrafficKind::kScan;
  // ACK without SYN/RST: an ACK scan cannot be told from a stray segment.
  return TrafficKind::kOther;
}

TrafficKind KindIcmp(uint8_t type) {
  switch (type) {
    case 8:   // echo request
    case 13:  // timestamp request
    case 15:  // information request
    case 17:  // address mask request
      return TrafficKind::kScan;
    case 0:   // echo reply
    case 3:   // destination unreachable
    case 4:   // source quench
    case 5:   // redirect
    case 11:  // time exceeded
    case 12:  // parameter problem
    case 14:  // timestamp reply
    case 16:  // information reply
    case 18:  // address mask reply
      return TrafficKind::kBackscatter;
    default:
      return TrafficKind::kOther;
  }
}

TrafficKind KindIcmpv6(uint8_t type) {
  // RFC 4443 §2.1: types 0-127 are errors; 128/129 echo request/reply.
  if (type == 128) return TrafficKind::kScan;
  if (type == 129 || (type >= 1 && type <= 4)) return TrafficKind::kBackscatter;
  return TrafficKind::kOther;  // neighbour discovery, MLD, router solicitation …
}

// A TCP SYN-only probe (ACK and RST clear).
bool IsSynProbe(const Event& ev) {
  return ev.proto == model::kProtoTcp && !(ev.flags & model::kFlagNonFirstFragment) &&
         IsSynOnly(ev);
}

}  // namespace

bool IsAmplifierPort(uint16_t port) {
  switch (port) {
    // US-CERT/CISA alert TA14-017A, "UDP-Based Amplification Attacks" (revised 2018).
    case 17:     // QOTD
    case 19:     // CharGEN
    case 53:     // DNS
    case 69:     // TFTP
    case 111:    // Portmap/RPC
    case 123:    // NTP
    case 137:    // NetBIOS name service
    case 161:    // SNMP
    case 389:    // CLDAP
    case 520:    // RIPv1
    case 1900:   // SSDP
    case 5353:   // mDNS
    case 11211:  // memcached
    case 27015:  // Steam
    case 27960:  // Quake 3
    // Reflectors published since (docs/classifier.md names each source).
    case 427:    // SLP, CVE-2023-29552
    case 1434:   // MS SQL Server resolution service
    case 3283:   // Apple Remote Management Service
    case 3702:   // WS-Discovery
    case 5683:   // CoAP (RFC 7252 §11.3)
    case 10001:  // Ubiquiti discovery
    case 10074:  // Mitel TP-240, CVE-2022-26143
    case 32414:  // Plex Media Server discovery
    case 33848:  // Jenkins auto-discovery, CVE-2020-2100
    case 37810:  // DVR DHCPDiscover
      return true;
    default:
      return false;
  }
}

TrafficKind ClassifyKind(const Event& ev) {
  if (ev.flags & model::kFlagNonFirstFragment) return TrafficKind::kOther;
  switch (ev.proto) {
    case model::kProtoTcp:
      return KindTcp(ev);
    case model::kProtoUdp:
      // An amplifier's answer (from its service port to an unprivileged one) to a request
      // that forged our address: backscatter of a reflection attack on us as the victim.
      // To a service port, or another amplifier's (mDNS 5353 -> 5353, SSDP 1900 -> 1900), it
      // is a request.
      return IsAmplifierPort(ev.sport) && ev.dport >= 1024 && !IsAmplifierPort(ev.dport)
                 ? TrafficKind::kBackscatter
                 : TrafficKind::kScan;
    case model::kProtoIcmp:
      return KindIcmp(ev.icmp_type);
    case model::kProtoIcmpv6:
      return KindIcmpv6(ev.icmp_type);
    default:
      return TrafficKind::kOther;
  }
}

Tool ClassifyTool(const Event& ev) {
  const bool syn_probe = IsSynProbe(ev);
  if (ev.src.is_v4()) {
    const uint32_t dst = ev.dst.v4();
    // Mirai sets the SYN's sequence number to the target address (Mirai scanner.c).
    if (syn_probe && ev.tcp_seq == dst) return Tool::kMirai;
    // ZMap sends every probe with IP id 54321 (zmap src/probe_modules/packet.c).
    const bool zmap = ev.ip_id == 54321;
    // Masscan: ip_id = dst ^ dport ^ seq, truncated to 16 bits (masscan templ-pkt.c).
    const bool masscan = syn_probe && ev.ip_id == ((dst ^ ev.dport ^ ev.tcp_seq) & 0xffffu);
    // Both hold for one masscan probe in 65,536 (its id is 54321) and one ZMap SYN in 65,536
    // (its sequence number meets masscan's relation): ZMap's SYN has window 65535, masscan's
    // 1024.
    if (zmap && masscan) return ev.tcp_win == 65535 ? Tool::kZmap : Tool::kMasscan;
    if (zmap) return Tool::kZmap;
    if (masscan) return Tool::kMasscan;
  } else if (syn_probe && ev.tcp_win == 1024 && ev.tcp_optlen == 0 && ev.ttl >= 200) {
    // IPv6 has no IP id: masscan's IPv6 SYN is its template, window 1024, no TCP options and
    // hop limit 255 (seen from masscan 1.3.2; >= 200 leaves 55 hops); an operating system's
    // SYN always carries options.
    return Tool::kMasscan;
  }
  // Nmap's SYN scan, IPv4 and IPv6: window 1024/2048/3072/4096 and a single option, MSS 1460
  // (nmap scan_engine_raw.cc, tcp options "\x02\x04\x05\xb4"; seen from nmap 7.93 -6).
  if (syn_probe && ev.tcp_flags == model::kTcpSyn && ev.tcp_optlen == 4 && ev.tcp_mss == 1460 &&
      (ev.tcp_win == 1024 || ev.tcp_win == 2048 || ev.tcp_win == 3072 || ev.tcp_win == 4096)) {
    return Tool::kNmapSyn;
  }
  return Tool::kUnknown;
}

uint8_t ClassifySpoof(const Event& ev) {
  uint8_t s = 0;
  if (ev.src == ev.dst) s |= model::kSpoofSrcEqualsDst;
  if (ev.src.is_v4()) {
    const uint8_t last = ev.src.bytes[3];
    if (last == 0 || last == 255) s |= model::kSpoofSrcNetworkOrBroadcast;
  }
  const bool no_options = !(ev.flags & model::kFlagIpOptions) && ev.tcp_optlen == 0;
  if (ev.ttl >= 200 && no_options) s |= model::kSpoofHighTtlNoOptions;
  if (HasPorts(ev) && (ev.sport == 0 || ev.dport == 0)) s |= model::kSpoofPortZero;
  return s;
}

}  // namespace isdas::classify
