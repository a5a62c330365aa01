#include "synth/packet_builder.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>

namespace isdas::synth {

void PutBe16(Bytes* b, uint16_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}
void PutBe32(Bytes* b, uint32_t v) {
  PutBe16(b, static_cast<uint16_t>(v >> 16));
  PutBe16(b, static_cast<uint16_t>(v));
}
void PutLe16(Bytes* b, uint16_t v) {
  b->push_back(static_cast<uint8_t>(v));
  b->push_back(static_cast<uint8_t>(v >> 8));
}
void PutLe32(Bytes* b, uint32_t v) {
  PutLe16(b, static_cast<uint16_t>(v));
  PutLe16(b, static_cast<uint16_t>(v >> 16));
}
uint32_t Ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}
Bytes Ip6(const char* text) {
  Bytes b(16);
  if (inet_pton(AF_INET6, text, b.data()) != 1) {
    std::fprintf(stderr, "bad IPv6 literal in test: %s\n", text);
    std::abort();
  }
  return b;
}

namespace {

uint32_t SumWords(const uint8_t* p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>((p[i] << 8) | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
size_t ChecksumOffset(uint8_t proto) {
  switch (proto) {
    case 6:
      return 16;
    case 17:
      return 6;
    default:
      return 2;  // ICMP, ICMPv6
  }
}
void PadTo4(Bytes* b) {
  while (b->size() % 4) b->push_back(0);
}

}  // namespace

Bytes Tcp(const TcpSpec& t) {
  Bytes opts = t.options;
  PadTo4(&opts);
  Bytes b;
  PutBe16(&b, t.sport);
  PutBe16(&b, t.dport);
  PutBe32(&b, t.seq);
  PutBe32(&b, t.ack);
  const int doff = t.data_offset >= 0 ? t.data_offset : static_cast<int>(5 + opts.size() / 4);
  b.push_back(static_cast<uint8_t>(doff << 4));
  b.push_back(t.flags);
  PutBe16(&b, t.win);
  PutBe16(&b, 0);  // checksum
  PutBe16(&b, 0);  // urgent pointer
  b.insert(b.end(), opts.begin(), opts.end());
  return b;
}

Bytes Udp(uint16_t sport, uint16_t dport, const Bytes& payload, int length_override) {
  Bytes b;
  PutBe16(&b, sport);
  PutBe16(&b, dport);
  PutBe16(&b, static_cast<uint16_t>(length_override >= 0 ? length_override
                                                         : static_cast<int>(8 + payload.size())));
  PutBe16(&b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Icmp(uint8_t type, uint8_t code, const Bytes& rest) {
  Bytes b{type, code, 0, 0};
  b.insert(b.end(), rest.begin(), rest.end());
  uint16_t c = Fold(SumWords(b.data(), b.size(), 0));
  b[2] = static_cast<uint8_t>(c >> 8);
  b[3] = static_cast<uint8_t>(c);
  return b;
}

void FixIpv4Checksum(uint32_t src, uint32_t dst, uint8_t proto, Bytes* l4) {
  const size_t off = ChecksumOffset(proto);
  if (l4->size() < off + 2) return;
  (*l4)[off] = (*l4)[off + 1] = 0;
  uint32_t sum = 0;
  if (proto != 1) {  // ICMPv4 has no pseudo-header
    sum += src >> 16;
    sum += src & 0xffff;
    sum += dst >> 16;
    sum += dst & 0xffff;
    sum += proto;
    sum += static_cast<uint32_t>(l4->size());
  }
  const uint16_t c = Fold(SumWords(l4->data(), l4->size(), sum));
  (*l4)[off] = static_cast<uint8_t>(c >> 8);
  (*l4)[off + 1] = static_cast<uint8_t>(c);
}

void FixIpv6Checksum(const Ip6Spec& ip, uint8_t proto, Bytes* l4) {
  const size_t off = ChecksumOffset(proto);
  if (l4->size() < off + 2) return;
  (*l4)[off] = (*l4)[off + 1] = 0;
  uint32_t sum = SumWords(ip.src.data(), 16, 0);
  sum = SumWords(ip.dst.data(), 16, sum);
  sum += static_cast<uint32_t>(l4->size() >> 16);
  sum += static_cast<uint32_t>(l4->size() & 0xffff);
  sum += proto;
  const uint16_t c = Fold(SumWords(l4->data(), l4->size(), sum));
  (*l4)[off] = static_cast<uint8_t>(c >> 8);
  (*l4)[off + 1] = static_cast<uint8_t>(c);
}

Bytes Ipv4(const Ip4Spec& ip, const Bytes& payload) {
  Bytes opts = ip.options;
  PadTo4(&opts);
  const int ihl = ip.ihl >= 0 ? ip.ihl : static_cast<int>(5 + opts.size() / 4);
  Bytes l4 = payload;
  if ((ip.frag & 0x1fff) == 0 && (ip.proto == 6 || ip.proto == 17 || ip.proto == 1) &&
      !(ip.frag & 0x2000)) {
    FixIpv4Checksum(ip.src, ip.dst, ip.proto, &l4);
  }
  Bytes b;
  b.push_back(static_cast<uint8_t>((ip.version << 4) | (ihl & 0xf)));
  b.push_back(0);
  const int total =
      ip.total_len >= 0 ? ip.total_len : static_cast<int>(20 + opts.size() + l4.size());
  PutBe16(&b, static_cast<uint16_t>(total));
  PutBe16(&b, ip.id);
  PutBe16(&b, ip.frag);
  b.push_back(ip.ttl);
  b.push_back(ip.proto);
  PutBe16(&b, 0);
  PutBe32(&b, ip.src);
  PutBe32(&b, ip.dst);
  b.insert(b.end(), opts.begin(), opts.end());
  const uint16_t c = Fold(SumWords(b.data(), b.size(), 0));
  b[10] = static_cast<uint8_t>(c >> 8);
  b[11] = static_cast<uint8_t>(c);
  b.insert(b.end(), l4.begin(), l4.end());
  return b;
}

Bytes Ipv6(const Ip6Spec& ip, const Bytes& payload) {
  Bytes b;
  PutBe32(&b, 0x60000000);
  PutBe16(&b, static_cast<uint16_t>(ip.payload_len >= 0 ? ip.payload_len
                                                        : static_cast<int>(payload.size())));
  b.push_back(ip.next);
  b.push_back(ip.hlim);
  b.insert(b.end(), ip.src.begin(), ip.src.end());
  b.insert(b.end(), ip.dst.begin(), ip.dst.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Ipv6Ext(uint8_t next, uint8_t len_units) {
  Bytes b(8 * (size_t{len_units} + 1), 0);
  b[0] = next;
  b[1] = len_units;
  if (b.size() > 2) {
    b[2] = 1;  // PadN option covering the rest (RFC 8200 §4.2)
    b[3] = static_cast<uint8_t>(b.size() - 4);
  }
  return b;
}

Bytes Ipv6Frag(uint8_t next, uint16_t offset_units, bool more, uint32_t id) {
  Bytes b{next, 0};
  PutBe16(&b, static_cast<uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  PutBe32(&b, id);
  return b;
}

Bytes Ether(uint16_t type, const Bytes& payload, const std::vector<uint16_t>& vlans,
            uint16_t vlan_tpid) {
  Bytes b{0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  for (size_t i = 0; i < vlans.size(); ++i) {
    // Outer tags use the given TPID (0x88a8 for QinQ), the innermost 802.1Q.
    PutBe16(&b, i + 1 < vlans.size() ? vlan_tpid : 0x8100);
    PutBe16(&b, vlans[i]);
  }
  PutBe16(&b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Sll(uint16_t pkttype, uint16_t proto, const Bytes& payload) {
  Bytes b;
  PutBe16(&b, pkttype);
  PutBe16(&b, 1);  // ARPHRD_ETHER
  PutBe16(&b, 6);
  for (uint8_t x : {0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}) b.push_back(x);
  PutBe16(&b, proto);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Sll2(uint16_t proto, uint8_t pkttype, const Bytes& payload) {
  Bytes b;
  PutBe16(&b, proto);
  PutBe16(&b, 0);
  PutBe32(&b, 2);  // ifindex
  PutBe16(&b, 1);  // ARPHRD_ETHER
  b.push_back(pkttype);
  b.push_back(6);
  for (uint8_t x : {0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}) b.push_back(x);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Null(uint32_t af, bool big_endian, const Bytes& payload) {
  Bytes b;
  if (big_endian) {
    PutBe32(&b, af);
  } else {
    PutLe32(&b, af);
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes PcapFile(uint32_t linktype, const std::vector<Record>& recs, PcapFlavor flavor,
               uint32_t snaplen) {
  const bool be = flavor == PcapFlavor::kMicroBigEndian;
  auto put16 = [be](Bytes* b, uint16_t v) { be ? PutBe16(b, v) : PutLe16(b, v); };
  auto put32 = [be](Bytes* b, uint32_t v) { be ? PutBe32(b, v) : PutLe32(b, v); };
  Bytes b;
  put32(&b, flavor == PcapFlavor::kNano ? 0xa1b23c4d : 0xa1b2c3d4);
  put16(&b, 2);
  put16(&b, 4);
  put32(&b, 0);
  put32(&b, 0);
  put32(&b, snaplen);
  put32(&b, linktype);
  for (const Record& r : recs) {
    const int64_t sec = r.ts_us / 1000000;
    const int64_t frac = r.ts_us % 1000000;
    put32(&b, static_cast<uint32_t>(sec));
    put32(&b, static_cast<uint32_t>(flavor == PcapFlavor::kNano ? frac * 1000 : frac));
    put32(&b, static_cast<uint32_t>(r.data.size()));
    put32(&b, static_cast<uint32_t>(r.wire_len >= 0 ? r.wire_len
                                                    : static_cast<int64_t>(r.data.size())));
    b.insert(b.end(), r.data.begin(), r.data.end());
  }
  return b;
}

Bytes PcapngFile(const std::vector<uint32_t>& linktypes, const std::vector<Record>& recs,
                 const std::vector<uint32_t>& ifaces, uint8_t tsresol) {
  Bytes b;
  auto block = [&b](uint32_t type, const Bytes& body) {
    Bytes body4 = body;
    PadTo4(&body4);
    const auto len = static_cast<uint32_t>(12 + body4.size());
    PutLe32(&b, type);
    PutLe32(&b, len);
    b.insert(b.end(), body4.begin(), body4.end());
    PutLe32(&b, len);
  };
  Bytes shb;
  PutLe32(&shb, 0x1a2b3c4d);
  PutLe16(&shb, 1);
  PutLe16(&shb, 0);
  PutLe32(&shb, 0xffffffff);  // section length unknown
  PutLe32(&shb, 0xffffffff);
  block(0x0a0d0d0a, shb);
  for (uint32_t lt : linktypes) {
    Bytes idb;
    PutLe16(&idb, static_cast<uint16_t>(lt));
    PutLe16(&idb, 0);
    PutLe32(&idb, 65535);
    if (tsresol != 6) {
      PutLe16(&idb, 9);
      PutLe16(&idb, 1);
      idb.push_back(tsresol);
      idb.push_back(0);
      idb.push_back(0);
      idb.push_back(0);
      PutLe32(&idb, 0);  // opt_endofopt
    }
    block(1, idb);
  }
  uint64_t scale = 1;
  for (int i = 6; i < tsresol; ++i) scale *= 10;
  for (size_t i = 0; i < recs.size(); ++i) {
    const Record& r = recs[i];
    Bytes epb;
    PutLe32(&epb, ifaces.empty() ? 0 : ifaces[i]);
    const uint64_t ts = static_cast<uint64_t>(r.ts_us) * scale;
    PutLe32(&epb, static_cast<uint32_t>(ts >> 32));
    PutLe32(&epb, static_cast<uint32_t>(ts));
    PutLe32(&epb, static_cast<uint32_t>(r.data.size()));
    PutLe32(&epb, static_cast<uint32_t>(r.wire_len >= 0 ? r.wire_len
                                                        : static_cast<int64_t>(r.data.size())));
    epb.insert(epb.end(), r.data.begin(), r.data.end());
    block(6, epb);
  }
  return b;
}

bool WriteFile(const std::string& path, const Bytes& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace isdas::synth
