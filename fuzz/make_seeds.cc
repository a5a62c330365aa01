// Writes valid seed inputs for the fuzz targets of outside and stored data (batches,
// heartbeats, event blocks, rollup packs, spools) into corpus/<target>/seed_*, made with the
// project's own encoders so every fuzz run starts from real formats.
//   make_seeds CORPUS_DIR

#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "model/batch_codec.h"
#include "model/heartbeat_codec.h"
#include "rollup/hll.h"
#include "rollup/rollup.h"
#include "spool/spool.h"
#include "storage/event_blocks.h"
#include "storage/rollup_packs.h"

namespace {

using namespace isdas;

void Put(const std::string& path, const void* p, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::perror(path.c_str());
    return;
  }
  std::fwrite(p, 1, n, f);
  std::fclose(f);
}

void Put(const std::string& path, const std::vector<uint8_t>& b) { Put(path, b.data(), b.size()); }

std::vector<uint8_t> Mode(uint8_t mode, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out(body.size() + 1);
  out[0] = mode;
  if (!body.empty()) std::memcpy(out.data() + 1, body.data(), body.size());
  return out;
}

std::vector<uint8_t> Inflate(const std::vector<uint8_t>& z) {
  std::vector<uint8_t> out(ZSTD_getFrameContentSize(z.data(), z.size()));
  out.resize(ZSTD_decompress(out.data(), out.size(), z.data(), z.size()));
  return out;
}

std::vector<model::Event> Events(int n, bool v6) {
  std::vector<model::Event> evs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& e = evs[static_cast<size_t>(i)];
    e.ts_us = 1795651200LL * 1000000 + i * 1000;
    if (v6) {
      uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      a[15] = static_cast<uint8_t>(i);
      e.src = model::IpAddr::V6(a);
      a[3] = 0xb9;
      e.dst = model::IpAddr::V6(a);
    } else {
      e.src = model::IpAddr::V4(0xcb000000u + static_cast<uint32_t>(i * 7919));
      e.dst = model::IpAddr::V4(0xc6130000u + static_cast<uint32_t>(i));
    }
    e.proto = i % 3 == 0 ? 17 : 6;
    e.sport = static_cast<uint16_t>(40000 + i);
    e.dport = static_cast<uint16_t>(i % 5 == 0 ? 23 : 1 + i % 1024);
    e.tcp_flags = e.proto == 6 ? 2 : 0;
    e.ttl = 64;
    e.ip_id = static_cast<uint32_t>(i * 13);
    e.tcp_win = 1024;
  }
  return evs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 64;
  }
  const std::string dir = argv[1];
  // Batches: v4 and v6, a handful and a few hundred events.
  int k = 0;
  for (int n : {1, 7, 300}) {
    for (bool v6 : {false, true}) {
      auto z = model::EncodeBatch({"tokyo-1", 99, static_cast<uint64_t>(n), 2}, Events(n, v6));
      // As received (mode 0), and its protobuf for the target to compress (mode 1).
      Put(dir + "/batch_fuzzer/seed_" + std::to_string(k++), Mode(0, *z));
      Put(dir + "/batch_fuzzer/seed_" + std::to_string(k++), Mode(1, Inflate(*z)));
    }
  }
  // Heartbeats.
  model::HeartbeatData hb{"osaka-2", 1795651200000000, {{"captured", 10}, {"spool_drops", 3}}};
  auto h = model::EncodeHeartbeat(hb);
  Put(dir + "/heartbeat_fuzzer/seed_0", h.data(), h.size());
  hb.counters.clear();
  h = model::EncodeHeartbeat(hb);
  Put(dir + "/heartbeat_fuzzer/seed_1", h.data(), h.size());
  // Event blocks, with and without sources.
  k = 0;
  for (int n : {1, 50}) {
    for (bool v6 : {false, true}) {
      const auto evs = Events(n, v6);
      std::vector<model::SourceInfo> src(evs.size());
      for (size_t i = 0; i < src.size(); ++i) {
        src[i].country[0] = 'J';
        src[i].country[1] = 'P';
        src[i].asn = static_cast<uint32_t>(2500 + i);
        src[i].research = i % 2 == 0;
      }
      std::string b = storage::EncodeEventBlock(
          evs, v6 ? std::span<const model::SourceInfo>{} : std::span<const model::SourceInfo>(src),
          -1);
      const std::vector<uint8_t> bytes(b.begin(), b.end());
      Put(dir + "/event_block_fuzzer/seed_" + std::to_string(k++), Mode(0, bytes));
      Put(dir + "/event_block_fuzzer/seed_" + std::to_string(k++), Mode(1, Inflate(bytes)));
    }
  }
  // Rollup packs: byte 0 family, byte 1 part, then the pack (pack_fuzzer.cc). Counters exact
  // and, past 256 values, sketches.
  struct P {
    rollup::Family f;
    int shift;
  } fams[] = {{rollup::Family::kTotal, 0},
              {rollup::Family::kPort, 4},
              {rollup::Family::kCountry, 8},
              {rollup::Family::kAsn, 10},
              {rollup::Family::kPortFlags, 8}};
  k = 0;
  for (const P& p : fams) {
    const uint64_t part = p.f == rollup::Family::kTotal ? 0 : 2;
    std::vector<std::string> counters;
    std::vector<storage::PackRow> rows;
    for (int r = 0; r < 3; ++r) {
      rollup::DistinctCounter a, b;
      for (int v = 0; v < (r == 2 ? 400 : 3 + r); ++v) {
        a.Add(0x9e3779b97f4a7c15ull * static_cast<uint64_t>(v + 1));
        b.Add(0xc2b2ae3d27d4eb4full * static_cast<uint64_t>(v + 7));
      }
      counters.push_back(a.Serialize());
      counters.push_back(b.Serialize());
    }
    for (int r = 0; r < 3; ++r) {
      storage::PackRow row;
      row.key = (part << p.shift) + (p.f == rollup::Family::kTotal ? 0 : static_cast<uint64_t>(r));
      row.sensor = static_cast<uint32_t>(1 + (p.f == rollup::Family::kTotal ? r : 0));
      row.proto = 6;
      row.packets = 10 + static_cast<uint64_t>(r);
      row.first_us = 1795651200LL * 1000000 + r;
      row.last_us = row.first_us + 1000;
      row.sources = counters[static_cast<size_t>(2 * r)];
      row.destinations = counters[static_cast<size_t>(2 * r + 1)];
      rows.push_back(row);
    }
    std::sort(rows.begin(), rows.end(), storage::PackOrder);
    std::string pack;
    storage::EncodePack(1795651200, rows, &pack);
    std::string in;
    in.push_back(static_cast<char>(p.f));
    in.push_back(static_cast<char>(part));
    in += pack;
    Put(dir + "/pack_fuzzer/seed_" + std::to_string(k++), in.data(), in.size());
  }
  // Spools: a state (2-byte length first) and a segment, from a real spool.
  {
    char tmpl[] = "/tmp/isdas_seed_spool_XXXXXX";
    const std::string sd = mkdtemp(tmpl);
    {
      spool::Options o;
      o.segment_bytes = 64 * 1024;
      o.max_bytes = 1 << 20;
      o.owner = "tokyo-1";
      auto s = spool::Spool::Open(sd, o);
      const std::string meta = "replay 1 2 3 4 5";
      for (int i = 1; i <= 4; ++i) {
        auto z = model::EncodeBatch({"tokyo-1", 99, static_cast<uint64_t>(i), 2}, Events(5, false));
        (void)(*s)->Append(*z, 5, {reinterpret_cast<const uint8_t*>(meta.data()), meta.size()});
      }
      (void)(*s)->Ack(1);
    }
    auto slurp = [](const std::string& p) {
      std::string out;
      if (FILE* f = std::fopen(p.c_str(), "rb")) {
        char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        std::fclose(f);
      }
      return out;
    };
    const std::string state = slurp(sd + "/state");
    for (const char* seg : {"/00000000000000000001.seg", "/00000000000000000005.seg"}) {
      const std::string body = slurp(sd + seg);
      if (body.empty()) continue;
      std::string in;
      in.push_back(static_cast<char>(state.size() & 0xff));
      in.push_back(static_cast<char>(state.size() >> 8));
      in += state + body;
      Put(dir + "/spool_fuzzer/seed_" + std::to_string(seg[20] - '0'), in.data(), in.size());
    }
    std::system(("rm -rf " + sd).c_str());
  }
  std::fprintf(stderr, "seeds written under %s\n", dir.c_str());
  return 0;
}
