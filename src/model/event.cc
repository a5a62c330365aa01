#include "model/event.h"

#include <arpa/inet.h>

#include <cstdio>

namespace isdas::model {

void IpAddr::AppendTo(std::string* out) const {
  if (family == 4) {
    char buf[16];
    int n = std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
    out->append(buf, static_cast<size_t>(n));
  } else if (family == 6) {
    char buf[INET6_ADDRSTRLEN];
    // glibc's inet_ntop prints the RFC 5952 form (lower case, longest zero run as "::").
    if (inet_ntop(AF_INET6, bytes, buf, sizeof buf) != nullptr) out->append(buf);
  }
}

std::string IpAddr::ToString() const {
  std::string s;
  AppendTo(&s);
  return s;
}

bool IpAddr::Parse(std::string_view text, IpAddr* out) {
  if (text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  IpAddr a;
  if (inet_pton(AF_INET, buf, a.bytes) == 1) {
    a.family = 4;
  } else if (inet_pton(AF_INET6, buf, a.bytes) == 1) {
    a.family = 6;
  } else {
    return false;
  }
  *out = a;
  return true;
}

std::string_view TrafficKindName(TrafficKind k) {
  switch (k) {
    case TrafficKind::kScan:
      return "scan";
    case TrafficKind::kBackscatter:
      return "backscatter";
    case TrafficKind::kOther:
      return "other";
  }
  return "other";
}

std::string_view ToolName(Tool t) {
  switch (t) {
    case Tool::kMirai:
      return "mirai";
    case Tool::kZmap:
      return "zmap";
    case Tool::kMasscan:
      return "masscan";
    case Tool::kNmapSyn:
      return "nmap_syn";
    case Tool::kUnknown:
      return "unknown";
  }
  return "unknown";
}

void AppendTcpFlags(uint8_t flags, std::string* out) {
  static constexpr char kLetters[] = "FSRPAUEC";
  for (int i = 0; i < 8; ++i) {
    if (flags & (1u << i)) out->push_back(kLetters[i]);
  }
}

void AppendProtoName(uint8_t proto, std::string* out) {
  switch (proto) {
    case kProtoTcp:
      out->append("tcp");
      return;
    case kProtoUdp:
      out->append("udp");
      return;
    case kProtoIcmp:
      out->append("icmp");
      return;
    case kProtoIcmpv6:
      out->append("icmp6");
      return;
    default:
      out->append(std::to_string(proto));
  }
}

void AppendSpoofReasons(uint8_t spoof, std::string* out) {
  static constexpr std::string_view kNames[] = {"src_eq_dst", "src_net_or_bcast",
                                                "high_ttl_no_options", "port_zero"};
  bool first = true;
  for (int i = 0; i < 4; ++i) {
    if (!(spoof & (1u << i))) continue;
    if (!first) out->push_back('+');
    out->append(kNames[i]);
    first = false;
  }
}

}  // namespace isdas::model
