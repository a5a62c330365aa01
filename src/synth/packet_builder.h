#pragma once

// Builds packets and capture files byte by byte for tests, golden captures, `isdas simulate`
// and benchmarks.
// Deliberately independent of the decoder: it writes headers from the RFC layouts, with
// knobs to break each field. Checksums are computed (RFC 1071) so tcpdump/tshark agree.

#include <cstdint>
#include <string>
#include <vector>

namespace isdas::synth {

using Bytes = std::vector<uint8_t>;

void PutBe16(Bytes* b, uint16_t v);
void PutBe32(Bytes* b, uint32_t v);
void PutLe16(Bytes* b, uint16_t v);
void PutLe32(Bytes* b, uint32_t v);
uint32_t Ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
// Parses IPv6 text (test input is trusted; aborts on bad text).
Bytes Ip6(const char* text);

struct TcpSpec {
  uint16_t sport = 40000, dport = 80;
  uint32_t seq = 1, ack = 0;
  uint8_t flags = 0x02;
  uint16_t win = 1024;
  Bytes options;         // padded to 4 bytes by the builder
  int data_offset = -1;  // override the 4-bit data offset (words); -1 = computed
};
Bytes Tcp(const TcpSpec& t);
Bytes Udp(uint16_t sport, uint16_t dport, const Bytes& payload, int length_override = -1);
Bytes Icmp(uint8_t type, uint8_t code, const Bytes& rest = Bytes(4, 0));

struct Ip4Spec {
  uint32_t src = 0, dst = 0;
  uint8_t proto = 6;
  uint8_t ttl = 64;
  uint16_t id = 0;
  uint16_t frag = 0;   // flags (DF 0x4000, MF 0x2000) | offset in 8-byte units
  Bytes options;       // padded to 4 bytes
  int ihl = -1;        // override (words)
  int total_len = -1;  // override
  int version = 4;
};
Bytes Ipv4(const Ip4Spec& ip, const Bytes& payload);

struct Ip6Spec {
  Bytes src = Bytes(16, 0), dst = Bytes(16, 0);
  uint8_t next = 6;
  uint8_t hlim = 64;
  int payload_len = -1;  // override
};
// `payload` includes any extension headers; `next` names the first of them.
Bytes Ipv6(const Ip6Spec& ip, const Bytes& payload);
// Generic extension header (hop-by-hop, routing, destination options): 8*(len+1) bytes.
Bytes Ipv6Ext(uint8_t next, uint8_t len_units);
Bytes Ipv6Frag(uint8_t next, uint16_t offset_units, bool more, uint32_t id);
// TCP/UDP/ICMPv6 checksum over the IPv6 pseudo-header, written into the transport header.
void FixIpv6Checksum(const Ip6Spec& ip, uint8_t proto, Bytes* l4);
void FixIpv4Checksum(uint32_t src, uint32_t dst, uint8_t proto, Bytes* l4);

Bytes Ether(uint16_t type, const Bytes& payload, const std::vector<uint16_t>& vlans = {},
            uint16_t vlan_tpid = 0x8100);
Bytes Sll(uint16_t pkttype, uint16_t proto, const Bytes& payload);
Bytes Sll2(uint16_t proto, uint8_t pkttype, const Bytes& payload);
Bytes Null(uint32_t af, bool big_endian, const Bytes& payload);

struct Record {
  int64_t ts_us = 0;
  Bytes data;
  int64_t wire_len = -1;  // -1 = data.size()
};

enum class PcapFlavor { kMicro, kNano, kMicroBigEndian };
Bytes PcapFile(uint32_t linktype, const std::vector<Record>& recs,
               PcapFlavor flavor = PcapFlavor::kMicro, uint32_t snaplen = 65535);
// pcapng with one section; interface i has linktypes[i]; records go to interface 0 unless
// ifaces says otherwise. tsresol is written when not 6 (10^-tsresol).
Bytes PcapngFile(const std::vector<uint32_t>& linktypes, const std::vector<Record>& recs,
                 const std::vector<uint32_t>& ifaces = {}, uint8_t tsresol = 6);

bool WriteFile(const std::string& path, const Bytes& bytes);

}  // namespace isdas::synth
