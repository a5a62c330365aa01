#include "decode/decoder.h"

#include <cstring>

#include "common/byte_reader.h"

namespace isdas::decode {
namespace {

using model::Event;

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;  // IEEE 802.1Q
constexpr uint16_t kEtherQinQ = 0x88a8;  // IEEE 802.1ad
constexpr uint16_t kEtherQinQOld = 0x9100;
constexpr uint16_t kEtherPppoeSession = 0x8864;
constexpr uint16_t kEtherMplsUnicast = 0x8847;
constexpr uint16_t kEtherMplsMulticast = 0x8848;
constexpr int kMaxVlanTags = 4;
constexpr int kMaxMplsLabels = 8;
constexpr int kMaxIpv6ExtHeaders = 8;

// The IP payload as captured, and how long it was on the wire.
struct L4 {
  ByteReader cap;
  size_t wire_len;
  bool first_fragment;  // the datagram goes on in later fragments
};

Outcome DecodeTcp(L4 l4, Event* ev) {
  ByteReader& r = l4.cap;
  // RFC 9293 §3.1: the fixed header is 20 bytes; data offset counts 32-bit words.
  if (l4.wire_len < 20 || !r.Has(20)) return Outcome::kTcpHeaderTruncated;
  const uint8_t* h = r.current();
  const unsigned doff = h[12] >> 4;
  if (doff < 5) return Outcome::kBadTcpDataOffset;
  const size_t hdr_len = doff * 4u;
  if (hdr_len > l4.wire_len) return Outcome::kTcpOptionsTruncated;
  ev->sport = LoadBe16(h);
  ev->dport = LoadBe16(h + 2);
  ev->tcp_seq = LoadBe32(h + 4);
  ev->tcp_flags = h[13];
  ev->tcp_win = LoadBe16(h + 14);
  ev->tcp_optlen = static_cast<uint8_t>(hdr_len - 20);
  // Options may be cut by the capture's snap length; read what is there (RFC 9293 §3.2).
  size_t opt_end = hdr_len < r.remaining() ? hdr_len : r.remaining();
  size_t i = 20;
  while (i < opt_end) {
    const uint8_t kind = h[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= opt_end) break;
    const uint8_t len = h[i + 1];
    if (len < 2 || i + len > opt_end) break;
    if (kind == 2 && len == 4) ev->tcp_mss = LoadBe16(h + i + 2);
    i += len;
  }
  return Outcome::kEvent;
}

Outcome DecodeUdp(L4 l4, Event* ev) {
  if (l4.wire_len < 8 || !l4.cap.Has(8)) return Outcome::kUdpHeaderTruncated;
  const uint8_t* h = l4.cap.current();
  const uint16_t len = LoadBe16(h + 4);
  // RFC 768: length covers header and data, so at least 8 and at most the IP payload —
  // unless this is the first fragment, whose length field counts the later fragments too.
  if (len < 8 || (!l4.first_fragment && len > l4.wire_len)) return Outcome::kBadUdpLength;
  ev->sport = LoadBe16(h);
  ev->dport = LoadBe16(h + 2);
  return Outcome::kEvent;
}

Outcome DecodeIcmp(L4 l4, Event* ev, Outcome truncated) {
  // Type, code and checksum (RFC 792, RFC 4443 §2.1).
  if (l4.wire_len < 4 || !l4.cap.Has(4)) return truncated;
  ev->icmp_type = l4.cap.current()[0];
  ev->icmp_code = l4.cap.current()[1];
  return Outcome::kEvent;
}

Outcome DecodeTransport(L4 l4, Event* ev) {
  switch (ev->proto) {
    case model::kProtoTcp:
      return DecodeTcp(l4, ev);
    case model::kProtoUdp:
      return DecodeUdp(l4, ev);
    case model::kProtoIcmp:
      return DecodeIcmp(l4, ev, Outcome::kIcmpHeaderTruncated);
    case model::kProtoIcmpv6:
      return DecodeIcmp(l4, ev, Outcome::kIcmpv6HeaderTruncated);
    default:
      return Outcome::kEvent;  // other protocols are kept with their number, no ports
  }
}

// `r` starts at the IPv4 header; `wire_avail` is how many bytes followed the link header on
// the wire.
Outcome DecodeIpv4(ByteReader r, size_t wire_avail, Event* ev) {
  if (!r.Has(20)) return Outcome::kTruncatedIpv4Header;
  const uint8_t* h = r.current();
  if ((h[0] >> 4) != 4) return Outcome::kBadIpVersion;
  const size_t ihl = (h[0] & 0x0fu) * 4u;
  if (ihl < 20) return Outcome::kBadIpv4Ihl;  // RFC 791 §3.1: IHL is at least 5
  if (!r.Has(ihl)) return Outcome::kTruncatedIpv4Options;
  const size_t total_len = LoadBe16(h + 2);
  if (total_len < ihl) return Outcome::kBadIpv4TotalLength;
  if (total_len > wire_avail) return Outcome::kIpv4LengthExceedsFrame;

  ev->ip_len = static_cast<uint32_t>(total_len);
  ev->ip_id = LoadBe16(h + 4);
  ev->ttl = h[8];
  ev->proto = h[9];
  ev->src.SetV4(h + 12);
  ev->dst.SetV4(h + 16);
  if (ihl > 20) ev->flags |= model::kFlagIpOptions;
  const uint16_t frag = LoadBe16(h + 6);
  const bool more_fragments = frag & 0x2000;
  const uint16_t offset = frag & 0x1fff;
  if (more_fragments || offset != 0) ev->flags |= model::kFlagFragment;
  if (offset != 0) {
    // RFC 791: only the fragment at offset 0 carries the transport header.
    ev->flags |= model::kFlagNonFirstFragment;
    return Outcome::kEvent;
  }
  r.Truncate(total_len);  // drop link-layer padding
  r.Skip(ihl);
  return DecodeTransport(L4{r, total_len - ihl, more_fragments}, ev);
}

Outcome DecodeIpv6(ByteReader r, size_t wire_avail, Event* ev) {
  if (!r.Has(40)) return Outcome::kTruncatedIpv6Header;
  const uint8_t* h = r.current();
  if ((h[0] >> 4) != 6) return Outcome::kBadIpVersion;
  const size_t payload_len = LoadBe16(h + 4);
  uint8_t next = h[6];
  size_t wire_payload = payload_len;
  if (payload_len == 0 && next == 0) {
    // A jumbogram (RFC 2675) says its length in a hop-by-hop option: take the frame's.
    wire_payload = wire_avail - 40;  // r.Has(40) above: wire_avail >= 40
  } else if (40 + payload_len > wire_avail) {
    return Outcome::kIpv6LengthExceedsFrame;
  }
  ev->ip_len = static_cast<uint32_t>(40 + wire_payload);
  ev->ttl = h[7];
  ev->src.SetV6(h + 8);
  ev->dst.SetV6(h + 24);
  r.Truncate(40 + wire_payload);
  r.Skip(40);

  // RFC 8200 §4: walk the extension-header chain to the upper-layer header.
  for (int count = 0;; ++count) {
    switch (next) {
      case 0:     // hop-by-hop options
      case 43:    // routing
      case 60:    // destination options
      case 51: {  // authentication header (RFC 4302: length in 4-octet units minus 2)
        if (count >= kMaxIpv6ExtHeaders) return Outcome::kTooManyIpv6ExtHeaders;
        if (!r.Has(2) || wire_payload < 2) return Outcome::kTruncatedIpv6ExtHeader;
        const uint8_t* e = r.current();
        const size_t len = next == 51 ? (e[1] + 2u) * 4u : (e[1] + 1u) * 8u;
        if (len > wire_payload || !r.Has(len)) return Outcome::kTruncatedIpv6ExtHeader;
        if (next == 0 || next == 60) ev->flags |= model::kFlagIpOptions;
        next = e[0];
        r.Skip(len);
        wire_payload -= len;
        continue;
      }
      case 44: {  // fragment (RFC 8200 §4.5), fixed 8 bytes
        if (count >= kMaxIpv6ExtHeaders) return Outcome::kTooManyIpv6ExtHeaders;
        if (!r.Has(8) || wire_payload < 8) return Outcome::kTruncatedIpv6ExtHeader;
        const uint8_t* e = r.current();
        const uint16_t off_flags = LoadBe16(e + 2);
        const uint16_t offset = off_flags >> 3;
        const bool more = off_flags & 1;
        ev->ip_id = LoadBe32(e + 4);
        next = e[0];
        r.Skip(8);
        wire_payload -= 8;
        // An atomic fragment (offset 0, M 0; RFC 6946) is a whole datagram.
        if (more || offset != 0) ev->flags |= model::kFlagFragment;
        if (offset != 0) {
          ev->proto = next;
          ev->flags |= model::kFlagNonFirstFragment;
          return Outcome::kEvent;
        }
        continue;
      }
      default:
        ev->proto = next;
        return DecodeTransport(L4{r, wire_payload, (ev->flags & model::kFlagFragment) != 0}, ev);
    }
  }
}

// Dispatch on the IP version nibble (raw IP and loopback link types).
Outcome DecodeIpByVersion(ByteReader r, size_t wire_avail, Event* ev) {
  uint8_t v;
  if (!r.PeekU8(0, &v)) return Outcome::kTruncatedIpv4Header;
  switch (v >> 4) {
    case 4:
      return DecodeIpv4(r, wire_avail, ev);
    case 6:
      return DecodeIpv6(r, wire_avail, ev);
    default:
      return Outcome::kBadIpVersion;
  }
}

Outcome DecodeByEthertype(uint16_t type, ByteReader r, size_t wire_avail, Event* ev) {
  switch (type) {
    case kEtherIpv4:
      return DecodeIpv4(r, wire_avail, ev);
    case kEtherIpv6:
      return DecodeIpv6(r, wire_avail, ev);
    default:
      return Outcome::kNonIp;
  }
}

Outcome DecodeEthernet(ByteReader r, size_t wire_len, Event* ev) {
  uint16_t type;
  if (!r.Skip(12) || !r.ReadU16(&type)) return Outcome::kTruncatedEthernetHeader;
  for (int tags = 0; type == kEtherVlan || type == kEtherQinQ || type == kEtherQinQOld; ++tags) {
    if (tags == kMaxVlanTags) return Outcome::kTooManyVlanTags;
    // 2 bytes TCI, then the inner type.
    if (!r.Skip(2) || !r.ReadU16(&type)) return Outcome::kTruncatedVlanTag;
  }
  if (type == kEtherMplsUnicast || type == kEtherMplsMulticast) {
    // RFC 3032 §2.1: 4-byte label stack entries until the bottom-of-stack bit; the payload's
    // type is not named, so take it from the IP version nibble (RFC 4928 §2).
    for (int labels = 0;; ++labels) {
      if (labels == kMaxMplsLabels) return Outcome::kTooManyMplsLabels;
      uint32_t entry;
      if (!r.ReadU32(&entry)) return Outcome::kTruncatedMplsLabel;
      if (entry & 0x100) break;
    }
    uint8_t v;
    if (!r.PeekU8(0, &v)) return Outcome::kNonIp;
    type = (v >> 4) == 4 ? kEtherIpv4 : (v >> 4) == 6 ? kEtherIpv6 : 0;
  } else if (type == kEtherPppoeSession) {
    // RFC 2516 §4: 6-byte PPPoE header, then the 2-byte PPP protocol (RFC 1661).
    uint16_t ppp;
    if (!r.Skip(6) || !r.ReadU16(&ppp)) return Outcome::kNonIp;
    type = ppp == 0x0021 ? kEtherIpv4 : ppp == 0x0057 ? kEtherIpv6 : 0;
  }
  return DecodeByEthertype(type, r, wire_len - r.position(), ev);
}

Outcome DecodeSll(ByteReader r, size_t wire_len, Event* ev) {
  uint16_t pkttype, proto;
  if (!r.ReadU16(&pkttype) || !r.Skip(12) || !r.ReadU16(&proto)) {
    return Outcome::kTruncatedSllHeader;
  }
  if (pkttype == 4) return Outcome::kOutgoing;  // PACKET_OUTGOING: the host sent it
  return DecodeByEthertype(proto, r, wire_len - r.position(), ev);
}

Outcome DecodeSll2(ByteReader r, size_t wire_len, Event* ev) {
  uint16_t proto;
  uint8_t pkttype;
  if (!r.ReadU16(&proto) || !r.Skip(8) || !r.ReadU8(&pkttype) || !r.Skip(9)) {
    return Outcome::kTruncatedSll2Header;
  }
  if (pkttype == 4) return Outcome::kOutgoing;
  return DecodeByEthertype(proto, r, wire_len - r.position(), ev);
}

Outcome DecodeNull(ByteReader r, size_t wire_len, bool network_order, Event* ev) {
  if (!r.Has(4)) return Outcome::kTruncatedNullHeader;
  const uint8_t* p = r.current();
  // The family is in the writing host's byte order; whichever reading is small is right.
  uint32_t af = network_order ? LoadBe32(p) : LoadLe32(p);
  if (!network_order && af > 0xffff) af = LoadBe32(p);
  r.Skip(4);
  switch (af) {
    case 2:  // AF_INET everywhere
      return DecodeIpv4(r, wire_len - 4, ev);
    case 10:
    case 24:
    case 28:
    case 30:  // AF_INET6: Linux, Net/OpenBSD, FreeBSD, Darwin
      return DecodeIpv6(r, wire_len - 4, ev);
    default:
      return Outcome::kNonIp;
  }
}

}  // namespace

bool IsSupportedLinkType(uint32_t linktype) {
  switch (linktype) {
    case kLinkNull:
    case kLinkEthernet:
    case kLinkRawOpenBsd:
    case kLinkRawBsdi:
    case kLinkRaw:
    case kLinkLoop:
    case kLinkLinuxSll:
    case kLinkIpv4:
    case kLinkIpv6:
    case kLinkLinuxSll2:
      return true;
    default:
      return false;
  }
}

Outcome DecodePacket(uint32_t linktype, const uint8_t* data, size_t caplen, size_t wire_len,
                     Event* ev) {
  const int64_t ts = ev->ts_us;
  const uint32_t sensor = ev->sensor_id;
  *ev = Event{};
  ev->ts_us = ts;
  ev->sensor_id = sensor;
  if (wire_len < caplen) wire_len = caplen;
  ByteReader r(data, caplen);
  switch (linktype) {
    case kLinkEthernet:
      return DecodeEthernet(r, wire_len, ev);
    case kLinkRaw:
    case kLinkRawOpenBsd:
    case kLinkRawBsdi:
      return DecodeIpByVersion(r, wire_len, ev);
    case kLinkIpv4:
      return DecodeIpv4(r, wire_len, ev);
    case kLinkIpv6:
      return DecodeIpv6(r, wire_len, ev);
    case kLinkLinuxSll:
      return DecodeSll(r, wire_len, ev);
    case kLinkLinuxSll2:
      return DecodeSll2(r, wire_len, ev);
    case kLinkNull:
      return DecodeNull(r, wire_len, false, ev);
    case kLinkLoop:
      return DecodeNull(r, wire_len, true, ev);
    default:
      return Outcome::kUnsupportedLinkType;
  }
}

}  // namespace isdas::decode
