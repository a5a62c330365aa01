#pragma once

// What became of one captured packet. Every packet has exactly one outcome, so
//   packets == events + sum(skipped) + sum(anomalies)
// holds for every file and every sensor. Names are stable: they appear in summaries, the
// SQLite store and heartbeats (docs/anomalies.md lists each with its meaning).

#include <array>
#include <cstdint>
#include <string_view>

namespace isdas::decode {

// X(enumerator, "name", is_anomaly)
#define ISDAS_OUTCOMES(X)                                             \
  X(kEvent, "event", false)                                           \
  X(kNonIp, "non_ip", false)                                          \
  X(kOutgoing, "outgoing_packet", false)                              \
  X(kUnsupportedLinkType, "unsupported_link_type", true)              \
  X(kTruncatedEthernetHeader, "truncated_ethernet_header", true)      \
  X(kTruncatedVlanTag, "truncated_vlan_tag", true)                    \
  X(kTooManyVlanTags, "too_many_vlan_tags", true)                     \
  X(kTruncatedMplsLabel, "truncated_mpls_label", true)                \
  X(kTooManyMplsLabels, "too_many_mpls_labels", true)                 \
  X(kTruncatedSllHeader, "truncated_sll_header", true)                \
  X(kTruncatedSll2Header, "truncated_sll2_header", true)              \
  X(kTruncatedNullHeader, "truncated_null_header", true)              \
  X(kBadIpVersion, "bad_ip_version", true)                            \
  X(kTruncatedIpv4Header, "truncated_ipv4_header", true)              \
  X(kBadIpv4Ihl, "bad_ipv4_ihl", true)                                \
  X(kTruncatedIpv4Options, "truncated_ipv4_options", true)            \
  X(kBadIpv4TotalLength, "bad_ipv4_total_length", true)               \
  X(kIpv4LengthExceedsFrame, "ipv4_length_exceeds_frame", true)       \
  X(kTruncatedIpv6Header, "truncated_ipv6_header", true)              \
  X(kIpv6LengthExceedsFrame, "ipv6_length_exceeds_frame", true)       \
  X(kTruncatedIpv6ExtHeader, "truncated_ipv6_extension_header", true) \
  X(kTooManyIpv6ExtHeaders, "too_many_ipv6_extension_headers", true)  \
  X(kTcpHeaderTruncated, "tcp_header_truncated", true)                \
  X(kBadTcpDataOffset, "bad_tcp_data_offset", true)                   \
  X(kTcpOptionsTruncated, "tcp_options_truncated", true)              \
  X(kUdpHeaderTruncated, "udp_header_truncated", true)                \
  X(kBadUdpLength, "bad_udp_length", true)                            \
  X(kIcmpHeaderTruncated, "icmp_header_truncated", true)              \
  X(kIcmpv6HeaderTruncated, "icmpv6_header_truncated", true)

enum class Outcome : uint8_t {
#define ISDAS_OUTCOME_ENUM(e, name, anomaly) e,
  ISDAS_OUTCOMES(ISDAS_OUTCOME_ENUM)
#undef ISDAS_OUTCOME_ENUM
};

inline constexpr size_t kOutcomeCount = 0
#define ISDAS_OUTCOME_COUNT(e, name, anomaly) +1
    ISDAS_OUTCOMES(ISDAS_OUTCOME_COUNT)
#undef ISDAS_OUTCOME_COUNT
    ;

std::string_view OutcomeName(Outcome o);
bool IsAnomaly(Outcome o);

// Per-outcome packet counts. Plain value; add with operator+=.
struct OutcomeCounts {
  std::array<uint64_t, kOutcomeCount> by{};

  void Add(Outcome o) { ++by[static_cast<size_t>(o)]; }
  uint64_t operator[](Outcome o) const { return by[static_cast<size_t>(o)]; }
  uint64_t packets() const;
  uint64_t anomalies() const;
  OutcomeCounts& operator+=(const OutcomeCounts& o) {
    for (size_t i = 0; i < kOutcomeCount; ++i) by[i] += o.by[i];
    return *this;
  }
};

}  // namespace isdas::decode
