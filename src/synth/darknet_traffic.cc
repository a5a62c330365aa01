#include "synth/darknet_traffic.h"

#include <cerrno>
#include <random>

#include "classify/classifier.h"
#include "synth/packet_builder.h"

namespace isdas::synth {
namespace {

// Indexes of model::Tool and model::TrafficKind (synth does not depend on model).
enum ToolIdx { kUnknown = 0, kMirai = 1, kZmap = 2, kMasscan = 3, kNmap = 4 };
enum KindIdx { kOther = 0, kScan = 1, kBackscatter = 2 };

uint32_t Mix32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

// A public unicast IPv4 address derived from `key`: never private, shared, loopback,
// link-local, benchmarking, multicast or reserved space, and never a .0 or .255 host.
uint32_t PublicAddress(uint64_t key) {
  for (uint64_t i = 0;; ++i) {
    const uint32_t a = Mix32(key * 0x9e3779b97f4a7c15ULL + i);
    const uint8_t o1 = a >> 24, o2 = (a >> 16) & 0xff, o4 = a & 0xff;
    if (o1 == 0 || o1 == 10 || o1 == 127 || o1 >= 224) continue;
    if (o1 == 100 && (o2 & 0xc0) == 64) continue;
    if (o1 == 169 && o2 == 254) continue;
    if (o1 == 172 && (o2 & 0xf0) == 16) continue;
    if (o1 == 192 && o2 == 168) continue;
    if (o1 == 198 && (o2 & 0xfe) == 18) continue;
    if (o4 == 0 || o4 == 255) continue;
    return a;
  }
}

constexpr uint16_t kPopularPorts[] = {22,   80,   443,  445,  3389, 8080, 21,   25,
                                      1433, 3306, 5900, 6379, 8443, 9200, 5555, 81};
constexpr uint16_t kUdpPorts[] = {53, 123, 161, 1900, 5060, 11211, 137, 389};

}  // namespace

Status WriteDarknetPcap(const TrafficSpec& spec, FILE* out, TrafficTruth* truth) {
  std::mt19937_64 rng(spec.seed);
  auto rnd = [&rng](uint64_t n) { return rng() % n; };
  *truth = TrafficTruth{};
  Bytes file = PcapFile(1, {});
  if (std::fwrite(file.data(), 1, file.size(), out) != file.size()) {
    return ErrnoError("write pcap header", errno);
  }
  const double gap_us = 1e6 / spec.pps;
  double t = static_cast<double>(spec.start_us);
  Bytes rec;
  for (uint64_t i = 0; i < spec.packets; ++i) {
    t += gap_us * (0.5 + static_cast<double>(rnd(1000)) / 1000.0);
    const uint32_t dst = spec.dark_net | static_cast<uint32_t>(rnd(65536));
    const uint64_t pick = rnd(100);
    uint16_t dport = rnd(10) < 7 ? kPopularPorts[rnd(16)] : static_cast<uint16_t>(1 + rnd(65535));
    int tool = kUnknown;
    int kind = kScan;
    Bytes frame;
    auto not_a_fingerprint = [](uint16_t id, uint32_t d, uint16_t dp, uint32_t seq) {
      return id != 54321 && id != ((d ^ dp ^ seq) & 0xffff);
    };
    if (pick < 35) {  // Mirai: seq = destination, telnet ports, many distinct bots
      tool = kMirai;
      TcpSpec tcp;
      tcp.sport = static_cast<uint16_t>(1024 + rnd(64000));
      tcp.dport = rnd(10) < 9 ? 23 : 2323;
      tcp.seq = dst;
      tcp.win = static_cast<uint16_t>(rnd(65535) + 1);
      Ip4Spec ip;
      ip.src = PublicAddress(rnd(spec.mirai_bots));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(40 + rnd(20));
      ip.id = static_cast<uint16_t>(rnd(65536));
      if (ip.id == 54321) ip.id = 1;
      frame = Ether(0x0800, Ipv4(ip, Tcp(tcp)));
    } else if (pick < 50) {  // masscan
      tool = kMasscan;
      TcpSpec tcp;
      tcp.sport = static_cast<uint16_t>(40000 + rnd(4));
      tcp.dport = dport;
      tcp.win = 1024;
      Ip4Spec ip;
      ip.src = PublicAddress(1000000000ULL + rnd(1500));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(230 + rnd(20));
      do {
        tcp.seq = static_cast<uint32_t>(rng());
        ip.id = static_cast<uint16_t>((dst ^ tcp.dport ^ tcp.seq) & 0xffff);
      } while (ip.id == 54321 || tcp.seq == dst);
      frame = Ether(0x0800, Ipv4(ip, Tcp(tcp)));
    } else if (pick < 60) {  // ZMap
      tool = kZmap;
      TcpSpec tcp;
      tcp.sport = static_cast<uint16_t>(32768 + rnd(28000));
      tcp.dport = dport;
      tcp.win = 65535;
      do tcp.seq = static_cast<uint32_t>(rng());
      while (tcp.seq == dst);
      Ip4Spec ip;
      ip.src = PublicAddress(2000000000ULL + rnd(800));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(235 + rnd(15));
      ip.id = 54321;
      frame = Ether(0x0800, Ipv4(ip, Tcp(tcp)));
    } else if (pick < 65) {  // Nmap SYN scan
      tool = kNmap;
      TcpSpec tcp;
      tcp.sport = static_cast<uint16_t>(40000 + rnd(20000));
      tcp.dport = dport;
      tcp.win = static_cast<uint16_t>(1024 * (1 + rnd(4)));
      tcp.options = {2, 4, 0x05, 0xb4};
      Ip4Spec ip;
      ip.src = PublicAddress(3000000000ULL + rnd(300));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(37 + rnd(23));
      do {
        tcp.seq = static_cast<uint32_t>(rng());
        ip.id = static_cast<uint16_t>(rng());
      } while (!not_a_fingerprint(ip.id, dst, tcp.dport, tcp.seq) || tcp.seq == dst);
      frame = Ether(0x0800, Ipv4(ip, Tcp(tcp)));
    } else if (pick < 80 || pick >= 98) {  // an ordinary stack's SYN, IPv4 or IPv6
      TcpSpec tcp;
      tcp.sport = static_cast<uint16_t>(32768 + rnd(28000));
      tcp.dport = dport;
      tcp.win = 64240;
      tcp.options = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};
      if (pick >= 98) {
        Ip6Spec ip6;
        ip6.src = Ip6("2001:db8:ff::1");
        const uint64_t who = rnd(100000);
        for (int b = 0; b < 4; ++b) ip6.src[12 + b] = static_cast<uint8_t>(who >> (8 * b));
        ip6.dst = Ip6("2001:db8:2::");
        ip6.dst[14] = static_cast<uint8_t>(dst >> 8);
        ip6.dst[15] = static_cast<uint8_t>(dst);
        ip6.hlim = static_cast<uint8_t>(40 + rnd(24));
        tcp.seq = static_cast<uint32_t>(rng());
        Bytes l4 = Tcp(tcp);
        FixIpv6Checksum(ip6, 6, &l4);
        frame = Ether(0x86dd, Ipv6(ip6, l4));
        ++truth->ipv6;
      } else {
        Ip4Spec ip;
        ip.src = PublicAddress(4000000000ULL + rnd(500000));
        ip.dst = dst;
        ip.ttl = static_cast<uint8_t>(40 + rnd(24));
        do {
          tcp.seq = static_cast<uint32_t>(rng());
          ip.id = static_cast<uint16_t>(rng());
        } while (!not_a_fingerprint(ip.id, dst, tcp.dport, tcp.seq) || tcp.seq == dst);
        frame = Ether(0x0800, Ipv4(ip, Tcp(tcp)));
      }
    } else if (pick < 87) {  // UDP probes
      Ip4Spec ip;
      ip.proto = 17;
      ip.src = PublicAddress(5000000000ULL + rnd(200000));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(40 + rnd(24));
      do ip.id = static_cast<uint16_t>(rng());
      while (ip.id == 54321);
      const uint16_t to = kUdpPorts[rnd(8)];
      uint16_t from;
      // From an amplifier's port to an unprivileged one it would be backscatter (classifier.h).
      do from = static_cast<uint16_t>(1024 + rnd(60000));
      while (to >= 1024 && classify::IsAmplifierPort(from));
      frame = Ether(0x0800, Ipv4(ip, Udp(from, to, Bytes(8 + rnd(24), 0))));
    } else if (pick < 90) {  // ICMP echo request
      Ip4Spec ip;
      ip.proto = 1;
      ip.src = PublicAddress(6000000000ULL + rnd(100000));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(40 + rnd(24));
      do ip.id = static_cast<uint16_t>(rng());
      while (ip.id == 54321);
      frame = Ether(0x0800, Ipv4(ip, Icmp(8, 0, Bytes(36, 0x61))));
    } else {  // backscatter: replies to floods that forged our addresses
      kind = kBackscatter;
      Ip4Spec ip;
      ip.src = PublicAddress(7000000000ULL + rnd(20000));
      ip.dst = dst;
      ip.ttl = static_cast<uint8_t>(40 + rnd(24));
      do ip.id = static_cast<uint16_t>(rng());
      while (ip.id == 54321);
      const uint64_t b = rnd(100);
      if (b < 70) {
        TcpSpec tcp;
        tcp.sport = kPopularPorts[rnd(16)];
        tcp.dport = static_cast<uint16_t>(1024 + rnd(64000));
        tcp.flags = b < 40 ? 0x12 : 0x14;  // SYN-ACK or RST-ACK
        tcp.seq = static_cast<uint32_t>(rng());
        tcp.ack = static_cast<uint32_t>(rng());
        tcp.win = b < 40 ? 29200 : 0;
        frame = Ether(0x0800, Ipv4(ip, Tcp(tcp)));
      } else if (b < 85) {
        ip.proto = 1;
        frame = Ether(0x0800, Ipv4(ip, Icmp(3, static_cast<uint8_t>(rnd(4)), Bytes(32, 0))));
      } else {
        ip.proto = 17;
        frame = Ether(0x0800,
                      Ipv4(ip, Udp(53, static_cast<uint16_t>(1024 + rnd(60000)), Bytes(40, 0))));
      }
    }
    ++truth->by_tool[tool];
    ++truth->by_kind[kind];
    ++truth->packets;
    rec.clear();
    const auto ts = static_cast<int64_t>(t);
    PutLe32(&rec, static_cast<uint32_t>(ts / 1000000));
    PutLe32(&rec, static_cast<uint32_t>(ts % 1000000));
    PutLe32(&rec, static_cast<uint32_t>(frame.size()));
    PutLe32(&rec, static_cast<uint32_t>(frame.size()));
    rec.insert(rec.end(), frame.begin(), frame.end());
    truth->bytes += rec.size();
    if (std::fwrite(rec.data(), 1, rec.size(), out) != rec.size()) {
      return ErrnoError("write pcap record", errno);
    }
  }
  return Status::Ok();
}

}  // namespace isdas::synth
