#pragma once

// The benchmarks' traffic model (bench/store_ingest.cc, bench/count_bench.cc): a /16 darknet at
// 2,000 packets/s of capture time; ports Zipf-like over all 65,536 (a few hot, a long tail from
// port sweeps); 200,000 sources with fixed country/AS (AS Zipf-like over 20,000); kind and tool
// by source (92 % scans; 60 % no fingerprint, 25 % Mirai, the rest masscan/ZMap/Nmap).
// Deterministic (seed 42).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "storage/event_store.h"

namespace isdas::bench {

constexpr size_t kBatch = 16384;
constexpr int64_t kStartUs = 1795651200LL * 1000000;  // 2026-11-26T00:00:00Z

struct Source {
  model::IpAddr addr;
  model::SourceInfo info;
  uint8_t kind, tool;
};

class Traffic {
 public:
  Traffic() : rng_(42) {
    const char* cc[] = {"US", "CN", "JP", "DE", "GB", "KR", "FR", "BR", "RU", "IN", "XP", "ZZ"};
    for (int i = 0; i < 200000; ++i) {
      Source s;
      s.addr = model::IpAddr::V4(0x01000000u + static_cast<uint32_t>(rng_() % 0xdf000000u));
      const char* c = cc[std::min<size_t>(11, static_cast<size_t>(std::abs(Normal()) * 3))];
      s.info.country[0] = c[0];
      s.info.country[1] = c[1];
      s.info.asn = 1 + static_cast<uint32_t>(Zipf(20000, 1.2));
      s.info.research = rng_() % 50 == 0;
      s.kind = rng_() % 100 < 8 ? 2 : 1;
      // Tool fingerprints as a darknet sees them: mostly unknown or Mirai.
      const int t = static_cast<int>(rng_() % 100);
      s.tool = t < 60 ? 0 : t < 85 ? 1 : t < 92 ? 3 : t < 97 ? 2 : 4;
      sources_.push_back(s);
    }
  }
  void Fill(storage::SensorBatch* b) {
    b->events.resize(kBatch);
    b->sources.resize(kBatch);
    for (size_t i = 0; i < kBatch; ++i) {
      const Source& s = sources_[Zipf(sources_.size(), 1.1)];
      model::Event& e = b->events[i];
      ts_ += 500 + static_cast<int64_t>(rng_() % 8) - 4;  // ~2,000 pps
      e.ts_us = ts_;
      e.proto = rng_() % 10 < 8 ? model::kProtoTcp
                : rng_() % 2    ? model::kProtoUdp
                                : model::kProtoIcmp;
      e.src = s.addr;
      e.dst = model::IpAddr::V4(0xc6120000u + static_cast<uint32_t>(rng_() % 65536));
      e.sport = static_cast<uint16_t>(rng_());
      e.dport = e.proto == model::kProtoIcmp ? 0 : static_cast<uint16_t>(Zipf(65536, 1.05));
      e.tcp_flags = e.proto == model::kProtoTcp ? (s.kind == 2 ? 0x12 : 0x02) : 0;
      e.ttl = 64;
      e.labels.kind = static_cast<model::TrafficKind>(s.kind);
      e.labels.tool = static_cast<model::Tool>(s.tool);
      b->sources[i] = s.info;
    }
  }

 private:
  double Normal() { return std::normal_distribution<double>()(rng_); }
  // Zipf-like rank in [0, n) by inverse transform of a continuous power law:
  // x = (u (n^a - 1) + 1)^(1/a), a = 1 - s. The laws used have 1/a a whole number (-20, -10,
  // -5): the power is then a few multiplications, not std::pow (two calls an event were 7 % of
  // the run's CPU, taken from the store it measures). Same law, same draws.
  size_t Zipf(size_t n, double s) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    Law& law = LawOf(n, s);
    const double y = u * law.scale + 1;
    double x;
    if (law.whole != 0) {
      double p = 1, b = y;
      for (int k = -law.whole; k > 0; k >>= 1, b *= b)
        if (k & 1) p *= b;
      x = 1 / p;
    } else {
      x = std::pow(y, 1 / (1 - s));
    }
    return std::min(n - 1, static_cast<size_t>(x) - 1);
  }
  struct Law {
    size_t n;
    double s;
    double scale;  // n^a - 1
    int whole;     // 1/a when a whole negative number, else 0
  };
  Law& LawOf(size_t n, double s) {
    for (Law& l : laws_)
      if (l.n == n && l.s == s) return l;
    const double a = 1 - s, inv = 1 / a, r = std::round(inv);
    laws_.push_back({n, s, std::pow(static_cast<double>(n), a) - 1,
                     std::abs(inv - r) < 1e-9 && r < 0 ? static_cast<int>(r) : 0});
    return laws_.back();
  }
  std::vector<Law> laws_;
  std::mt19937_64 rng_;
  std::vector<Source> sources_;
  int64_t ts_ = kStartUs;
};

}  // namespace isdas::bench
