#pragma once

// The event: one record per packet that reached a monitored (dark) address.
// Field meanings and sizes are documented in docs/event-model.md; the CSV/JSON columns
// in docs/decode-output.md. Plain value type, trivially copyable.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace isdas::model {

// An IPv4 or IPv6 address in network byte order. IPv4 uses bytes[0..3], the rest zero.
struct IpAddr {
  uint8_t family = 0;  // 4, 6, or 0 (none)
  uint8_t bytes[16] = {};

  static IpAddr V4(uint32_t host_order) {
    IpAddr a;
    a.family = 4;
    a.bytes[0] = static_cast<uint8_t>(host_order >> 24);
    a.bytes[1] = static_cast<uint8_t>(host_order >> 16);
    a.bytes[2] = static_cast<uint8_t>(host_order >> 8);
    a.bytes[3] = static_cast<uint8_t>(host_order);
    return a;
  }
  static IpAddr V6(const uint8_t* b16) {
    IpAddr a;
    a.family = 6;
    std::memcpy(a.bytes, b16, 16);
    return a;
  }
  // Sets an IPv4 address from 4 bytes in network order. Writes the bytes in place: building a
  // temporary and copying it costs a store-forwarding stall per address on the decode path.
  void SetV4(const uint8_t* b4) {
    family = 4;
    std::memcpy(bytes, b4, 4);
    std::memset(bytes + 4, 0, 12);
  }
  void SetV6(const uint8_t* b16) {
    family = 6;
    std::memcpy(bytes, b16, 16);
  }
  bool is_v4() const { return family == 4; }
  bool is_v6() const { return family == 6; }
  uint32_t v4() const {
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
           uint32_t{bytes[3]};
  }
  size_t size() const { return family == 4 ? 4 : family == 6 ? 16 : 0; }
  bool operator==(const IpAddr& o) const {
    return family == o.family && std::memcmp(bytes, o.bytes, 16) == 0;
  }
  // Dotted quad or RFC 5952 text ("" for no address).
  std::string ToString() const;
  void AppendTo(std::string* out) const;
  // Parses IPv4 or IPv6 text; returns false on anything else.
  static bool Parse(std::string_view text, IpAddr* out);
};

// IANA protocol numbers the decoder understands beyond the IP layer.
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

// TCP flag bits as in the header's 13th byte (RFC 9293 §3.1; ECE/CWR RFC 3168).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

// Event::flags bits.
inline constexpr uint8_t kFlagFragment = 0x01;          // part of a fragmented datagram
inline constexpr uint8_t kFlagNonFirstFragment = 0x02;  // offset > 0: no transport header
inline constexpr uint8_t kFlagIpOptions = 0x04;  // IPv4 options, or IPv6 hop-by-hop/dest opts

enum class TrafficKind : uint8_t { kOther = 0, kScan = 1, kBackscatter = 2 };
inline constexpr int kTrafficKinds = 3;  // values 0 .. kTrafficKinds - 1
enum class Tool : uint8_t { kUnknown = 0, kMirai = 1, kZmap = 2, kMasscan = 3, kNmapSyn = 4 };
inline constexpr int kTools = 5;  // values 0 .. kTools - 1

// Spoof-suspicion reason bits (Labels::spoof); see docs/classifier.md.
inline constexpr uint8_t kSpoofSrcEqualsDst = 0x01;
inline constexpr uint8_t kSpoofSrcNetworkOrBroadcast = 0x02;
inline constexpr uint8_t kSpoofHighTtlNoOptions = 0x04;
inline constexpr uint8_t kSpoofPortZero = 0x08;

struct Labels {
  TrafficKind kind = TrafficKind::kOther;
  Tool tool = Tool::kUnknown;
  uint8_t spoof = 0;  // bit set of kSpoof*
};

struct Event {
  int64_t ts_us = 0;       // capture time, microseconds since 1970-01-01 UTC
  uint32_t sensor_id = 0;  // 0 = local import
  uint8_t proto = 0;       // IANA protocol number of the transport (after IPv6 ext headers)
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;  // ICMP/ICMPv6 only
  uint8_t icmp_code = 0;
  IpAddr src;
  IpAddr dst;
  uint16_t sport = 0;  // TCP/UDP only; 0 for ICMP and non-first fragments
  uint16_t dport = 0;
  uint8_t ttl = 0;         // IPv4 TTL or IPv6 hop limit
  uint8_t flags = 0;       // kFlag*
  uint8_t tcp_optlen = 0;  // bytes of TCP options (0-40); 0 = none
  uint16_t tcp_mss = 0;    // MSS option value, 0 when absent
  uint16_t tcp_win = 0;
  uint32_t tcp_seq = 0;
  uint32_t ip_id = 0;   // IPv4 identification; IPv6 fragment-header identification or 0
  uint32_t ip_len = 0;  // IPv4 total length; IPv6 40 + payload length
  Labels labels;
};

// Whether the event has ports: a TCP or UDP packet with its transport header. Others (ICMP,
// other protocols, non-first fragments) keep 0 in sport/dport, which means "no port" and is not
// port 0: the text output leaves them empty, and they are kept out of the port rollups
// (docs/event-model.md).
inline bool HasPorts(const Event& e) {
  return (e.proto == kProtoTcp || e.proto == kProtoUdp) && !(e.flags & kFlagNonFirstFragment);
}

std::string_view TrafficKindName(TrafficKind k);
std::string_view ToolName(Tool t);
// "S", "SA", "R", "FPU" …: tcpdump-style letters in the order F S R P A U E C ("" for none).
void AppendTcpFlags(uint8_t flags, std::string* out);
// "tcp", "udp", "icmp", "icmp6" or the decimal number.
void AppendProtoName(uint8_t proto, std::string* out);
// Comma-free "+"-joined reason names ("src_eq_dst+port_zero"), "" when none.
void AppendSpoofReasons(uint8_t spoof, std::string* out);

}  // namespace isdas::model
