#pragma once

// Packet decoder: link layer -> IPv4/IPv6 (+ extension headers) -> TCP/UDP/ICMP/ICMPv6.
// Never sees libpcap: it takes a link type number and the captured bytes. Each call has
// exactly one Outcome; only Outcome::kEvent fills the event. Malformed input is an outcome,
// never an error or a crash. Stateless and thread-safe. Rules: docs/decoder.md.

#include <cstddef>
#include <cstdint>

#include "decode/outcome.h"
#include "model/event.h"

namespace isdas::decode {

// LINKTYPE_* values as stored in pcap/pcapng files (https://www.tcpdump.org/linktypes.html).
inline constexpr uint32_t kLinkNull = 0;  // BSD loopback, 4-byte AF in the writer's byte order
inline constexpr uint32_t kLinkEthernet = 1;
inline constexpr uint32_t kLinkRawOpenBsd = 12;  // DLT_RAW as some systems write it
inline constexpr uint32_t kLinkRawBsdi = 14;
inline constexpr uint32_t kLinkRaw = 101;
inline constexpr uint32_t kLinkLoop = 108;  // OpenBSD loopback, AF in network order
inline constexpr uint32_t kLinkLinuxSll = 113;
inline constexpr uint32_t kLinkIpv4 = 228;
inline constexpr uint32_t kLinkIpv6 = 229;
inline constexpr uint32_t kLinkLinuxSll2 = 276;

bool IsSupportedLinkType(uint32_t linktype);

// Decodes one packet. `caplen` bytes are at `data`; `wire_len` is the length on the wire
// (>= caplen; pass caplen when unknown). On kEvent every field of *ev except ts_us and
// sensor_id is overwritten and labels are left at their defaults (the classifier sets them).
Outcome DecodePacket(uint32_t linktype, const uint8_t* data, size_t caplen, size_t wire_len,
                     model::Event* ev);

}  // namespace isdas::decode
