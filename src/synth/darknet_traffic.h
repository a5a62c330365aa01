#pragma once

// Synthetic darknet traffic: a pcap stream that looks like what a /16 telescope receives —
// Mirai-infected hosts probing 23/2323 from millions of addresses, masscan/ZMap/Nmap from a
// few thousand heavy scanners, ordinary SYN scans, UDP and ICMP probes, and backscatter.
// Written packet by packet (memory does not grow with the packet count). The generator also
// returns the ground truth (packets per tool and per traffic kind) that the classifier must
// reproduce exactly: packets are drawn so no fingerprint collides with another by chance.

#include <cstdint>
#include <cstdio>

#include "common/status.h"
#include "model/event.h"

namespace isdas::synth {

struct TrafficSpec {
  uint64_t packets = 100000;
  uint32_t seed = 1;
  uint32_t dark_net = 0xc6130000;             // 198.19.0.0/16 (RFC 2544 benchmarking space)
  int64_t start_us = 1795651200LL * 1000000;  // 2026-11-26T00:00:00Z
  double pps = 2000;                          // mean packet rate of the timestamps
  uint32_t mirai_bots = 2000000;              // distinct Mirai source addresses to draw from
};

struct TrafficTruth {
  uint64_t packets = 0;
  uint64_t by_tool[model::kTools] = {};         // indexed like model::Tool
  uint64_t by_kind[model::kTrafficKinds] = {};  // indexed like model::TrafficKind
  uint64_t ipv6 = 0;
  uint64_t bytes = 0;
};

// Writes a little-endian µs pcap (Ethernet) to `out`. Errors: kIo when a write fails.
Status WriteDarknetPcap(const TrafficSpec& spec, FILE* out, TrafficTruth* truth);

}  // namespace isdas::synth
