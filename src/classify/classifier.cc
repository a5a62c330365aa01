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

}  // namespace

TrafficKind ClassifyKind(const Event& ev) {
  if (ev.flags & model::kFlagNonFirstFragment) return TrafficKind::kOther;
  switch (ev.proto) {
    case model::kProtoTcp:
      return KindTcp(ev);
    case model::kProtoUdp:
      // A datagram from port 53 is a DNS answer to a query that carried our address.
      return ev.sport == 53 ? TrafficKind::kBackscatter : TrafficKind::kScan;
    case model::kProtoIcmp:
      return KindIcmp(ev.icmp_type);
    case model::kProtoIcmpv6:
      return KindIcmpv6(ev.icmp_type);
    default:
      return TrafficKind::kOther;
  }
}

Tool ClassifyTool(const Event& ev) {
  if (!ev.src.is_v4()) return Tool::kUnknown;  // every fingerprint below is IPv4-specific
  const bool tcp = ev.proto == model::kProtoTcp && !(ev.flags & model::kFlagNonFirstFragment);
  const uint32_t dst = ev.dst.v4();
  // Mirai sets the SYN's sequence number to the target address (Mirai scanner.c).
  if (tcp && IsSynOnly(ev) && ev.tcp_seq == dst) return Tool::kMirai;
  // ZMap sends every probe with IP id 54321 (zmap src/probe_modules/packet.c).
  if (ev.ip_id == 54321) return Tool::kZmap;
  // Masscan: ip_id = dst ^ dport ^ seq, truncated to 16 bits (masscan templ-pkt.c).
  if (tcp && IsSynOnly(ev) && ev.ip_id == ((dst ^ ev.dport ^ ev.tcp_seq) & 0xffffu)) {
    return Tool::kMasscan;
  }
  // Nmap's SYN scan: window 1024/2048/3072/4096 and a single option, MSS 1460
  // (nmap scan_engine_raw.cc, tcp options "\x02\x04\x05\xb4").
  if (tcp && (ev.tcp_flags == model::kTcpSyn) && ev.tcp_optlen == 4 && ev.tcp_mss == 1460 &&
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
