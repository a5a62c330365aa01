// Store ingest benchmark (bench/store_ingest_bench.sh): N generated, enriched events committed as
// sensor batches through an IngestStore — exactly what the collector's writer does after the
// network — with events, rollups and batch marks; prints events/s for every tenth of the run
// (sustained, not a burst) and the process's peak RSS.
//
//   store_ingest sqlite DIR N [--dump-csv FILE] [--max-pending-rows ROWS]
//   store_ingest clickhouse HTTP_PORT DATABASE N [--dump-rowbinary EVENTS_FILE ROLLUPS_FILE]
//
// The dumps hold the same rows the run stores, for the tools a user would use instead
// (sqlite3 .import, clickhouse-client INSERT … FORMAT RowBinary).
//
// Traffic model: bench/traffic.h; SENSORS sensors (default 1: the /16 is one sensor). Batches
// of 16,384 events, 8 per commit (the collector's group commit).

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "storage/clickhouse/clickhouse_store.h"
#include "storage/sqlite_store.h"
#include "traffic.h"

using namespace isdas;
using bench::kBatch;
using bench::Traffic;

namespace {

constexpr size_t kGroup = 8;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t WallUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

long PeakRssKb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: store_ingest sqlite DIR N [--dump-csv FILE] [--max-pending-rows ROWS]\n"
                 "       store_ingest clickhouse HTTP_PORT DATABASE N "
                 "[--dump-rowbinary EVENTS ROLLUPS]\n");
    return 64;
  }
  const std::string engine = argv[1];
  std::unique_ptr<storage::IngestStore> store;
  size_t n = 0;
  int next = 0;
  if (engine == "sqlite") {
    auto s = storage::SqliteStore::Open(argv[2], /*durable=*/true);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
    store = std::move(s.value());
    n = std::strtoull(argv[3], nullptr, 10);
    next = 4;
  } else if (engine == "clickhouse" && argc >= 5) {
    storage::clickhouse::Endpoint e;
    e.port = std::atoi(argv[2]);
    e.database = argv[3];
    auto s = storage::ClickhouseStore::Open(e);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
    store = std::move(s.value());
    n = std::strtoull(argv[4], nullptr, 10);
    next = 5;
  } else {
    return std::fprintf(stderr, "unknown engine %s\n", argv[1]), 64;
  }
  std::ofstream csv, ev_bin, ro_bin;
  for (int i = next; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dump-csv") && i + 1 < argc) {
      csv.open(argv[++i]);
    } else if (!std::strcmp(argv[i], "--max-pending-rows") && i + 1 < argc) {
      // The bound on rollup rows held (SQLite): lower, the writes at it come sooner and more
      // often (BENCHMARKS.md, merges of stored packs).
      auto* sq = dynamic_cast<storage::SqliteStore*>(store.get());
      if (!sq) return std::fprintf(stderr, "--max-pending-rows is for sqlite\n"), 64;
      sq->set_max_pending_rows(std::strtoull(argv[++i], nullptr, 10));
    } else if (!std::strcmp(argv[i], "--dump-rowbinary") && i + 2 < argc) {
      ev_bin.open(argv[++i], std::ios::binary);
      ro_bin.open(argv[++i], std::ios::binary);
    }
  }
  Traffic traffic;
  const size_t batches = (n + kBatch - 1) / kBatch;
  std::vector<storage::SensorBatch> group(kGroup);
  const char* sensors[] = {"bench-a", "bench-b", "bench-c"};
  const size_t nsensors = getenv("SENSORS") ? std::strtoul(getenv("SENSORS"), nullptr, 10) : 1;
  double busy = 0, dumping = 0, dumping_all = 0, generating = 0;
  const double t0 = Now();
  size_t done = 0, next_report = batches / 10 ? batches / 10 : 1, seq = 0;
  double last_t = t0;
  size_t last_done = 0;
  std::printf("tenth,events,events_per_s\n");
  while (done < batches) {
    const size_t g = std::min(kGroup, batches - done);
    std::vector<storage::SensorBatch*> ptrs;
    const double g0 = Now();
    for (size_t i = 0; i < g; ++i) {
      storage::SensorBatch& b = group[i];
      b = storage::SensorBatch();
      ++seq;
      b.sensor_id = sensors[seq % std::min<size_t>(3, std::max<size_t>(1, nsensors))];
      b.epoch = 1;
      b.seq = seq;
      b.rules_version = 1;
      b.geo_version = "bench";
      traffic.Fill(&b);
      ptrs.push_back(&b);
    }
    const double d0 = Now();
    generating += d0 - g0;
    if (csv.is_open()) {
      for (auto* b : ptrs) {
        for (size_t i = 0; i < b->events.size(); ++i) {
          const model::Event& e = b->events[i];
          csv << e.ts_us << ',' << 1 << ',' << int{e.proto} << ',' << e.src.ToString() << ','
              << e.dst.ToString() << ',' << e.sport << ',' << e.dport << ",0,0," << int{e.tcp_flags}
              << ',' << int{e.ttl} << ",0,40,0,0,0,0,0," << int(e.labels.kind) << ','
              << int(e.labels.tool) << ",0,0," << std::string(b->sources[i].country, 2) << ','
              << b->sources[i].asn << ',' << int{b->sources[i].research} << '\n';
        }
      }
    }
    if (ev_bin.is_open()) {
      for (auto* b : ptrs) {
        storage::clickhouse::RowBinary ev, ro;
        storage::AppendEventRows(*b, &ev);
        storage::AppendRollupRows(*b, &ro);
        ev_bin << ev.data();
        ro_bin << ro.data();
      }
    }
    const double d1 = Now();
    dumping += d1 - d0;
    dumping_all += d1 - d0;
    auto r = store->CommitBatches(ptrs, WallUs());
    busy += Now() - d1;
    if (!r.ok()) return std::fprintf(stderr, "commit: %s\n", r.status().ToString().c_str()), 1;
    done += g;
    if (done >= next_report || done == batches) {
      const double t = Now();
      std::printf("%zu,%zu,%.0f\n", done * 10 / batches, done * kBatch,
                  static_cast<double>((done - last_done) * kBatch) / (t - last_t - dumping));
      std::fflush(stdout);
      last_t = t;
      last_done = done;
      dumping = 0;
      next_report += batches / 10 ? batches / 10 : 1;
    }
  }
  // The rows of buckets still open (SQLite holds them until they close, or for at most a
  // minute) are part of storing these events: written, and timed, before the rate is taken.
  const double f0 = Now();
  if (auto st = store->FlushRollups(true); !st.ok()) {
    return std::fprintf(stderr, "flush: %s\n", st.ToString().c_str()), 1;
  }
  const double flush_seconds = Now() - f0;
  busy += flush_seconds;
  const double total = Now() - t0;
  auto count = store->CountEvents();
  // The rate is over the wall time, generating the events included (a collector receives
  // and decodes them meanwhile, too): SQLite counts a commit's rollups while the next batches
  // are made, so its calls alone (store_seconds) would leave work out. Only the dumps are
  // taken off.
  const double wall = total - dumping_all;
  std::printf(
      "engine %s events %zu stored %llu store_seconds %.2f generate_seconds %.2f "
      "events_per_s %.0f wall_seconds %.2f peak_rss_mb %.1f\n",
      engine.c_str(), batches * kBatch,
      static_cast<unsigned long long>(count.ok() ? count.value() : 0), busy, generating,
      static_cast<double>(batches * kBatch) / wall, wall, PeakRssKb() / 1024.0);
  if (auto* sq = dynamic_cast<storage::SqliteStore*>(store.get())) {
    // Where the writer's time went, and what the events take on disk.
    const auto& t = sq->commit_times();
    auto bytes = sq->Select("SELECT SUM(length(data)) FROM event_blocks");
    std::printf(
        "sqlite writer_seconds blocks %.2f rollup_rows %.2f wait_counting %.2f commit %.2f "
        "block_bytes_per_event %.1f\n",
        t.blocks, t.rollup_rows, t.wait_counting, t.commit,
        bytes.ok() ? std::strtod(bytes.value()[0][0].c_str(), nullptr) /
                         static_cast<double>(batches * kBatch)
                   : 0.0);
    std::printf(
        "sqlite final_flush_seconds %.2f fold_seconds %.2f (halves %.2f %.2f) wait_fold_seconds "
        "%.2f\n",
        flush_seconds, t.fold, t.fold_half[0], t.fold_half[1], t.wait_fold);
    std::printf("sqlite checkpoints %llu in %.2f s (their own thread)\n",
                static_cast<unsigned long long>(sq->checkpoints()), sq->checkpoint_seconds());
    std::printf("sqlite open_row_flushes bound %llu fresh %llu\n",
                static_cast<unsigned long long>(t.flushes_bound),
                static_cast<unsigned long long>(t.flushes_fresh));
    std::printf("sqlite counting_seconds half0 %.2f half1 %.2f\n", sq->counting_half_seconds()[0],
                sq->counting_half_seconds()[1]);
    std::printf(
        "sqlite rollup_rows_written 5m %llu in %.2f s, 1h %llu in %.2f s, 1d %llu in %.2f s\n",
        static_cast<unsigned long long>(t.rows[0]), t.write_seconds[0],
        static_cast<unsigned long long>(t.rows[1]), t.write_seconds[1],
        static_cast<unsigned long long>(t.rows[2]), t.write_seconds[2]);
  }
  return 0;
}
