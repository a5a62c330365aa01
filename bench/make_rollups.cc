// Writes a year of generated rollups into a SQLite store, for the query benchmark
// (bench/query_bench.sh): what a /16 darknet's collector would hold after a year at
// EVENTS_PER_DAY events a day (default 2,740,000: a billion a year).
//
//   make_rollups DIR [DAYS] [EVENTS_PER_DAY]
//
// Daily rows for DAYS days (families total, port, country, asn), hourly rows for the last 7 days
// and 5-minute rows for the last 2 — what "top ports over 30 days" and "a port over a year"
// read, at full size. Per day the events spread Zipf-like over all 65,536 ports (so nearly every
// port has a row, as on a real /16) and two label combinations (plain scans, Mirai). Distinct
// counters have the real sizes (exact lists up to 256, 4 KiB sketches beyond) but are built
// from at most 1,000 hashes each, to generate in minutes.

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "rollup/hll.h"
#include "rollup/rollup.h"
#include "storage/port_totals.h"
#include "storage/rollup_buffer.h"
#include "storage/rollup_packs.h"
#include "storage/sqlite_store.h"

using namespace isdas;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_rollups DIR [DAYS] [EVENTS_PER_DAY]\n");
    return 64;
  }
  const std::string dir = argv[1];
  const int days = argc > 2 ? std::atoi(argv[2]) : 365;
  const double per_day = argc > 3 ? std::atof(argv[3]) : 2740000;
  {
    auto s = storage::SqliteStore::Open(dir);  // creates the schema
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
  }
  sqlite3* db = nullptr;
  sqlite3_open((dir + "/isdas.sqlite").c_str(), &db);
  sqlite3_exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-1000000;", nullptr, nullptr,
               nullptr);
  std::mt19937_64 rng(1);
  // Port weights: Zipf-like (s = 1.1), the hot ports shuffled over the port space.
  std::vector<int> rank(65536);
  for (int i = 0; i < 65536; ++i) rank[i] = i;
  std::shuffle(rank.begin(), rank.end(), rng);
  const int hot[] = {23, 22, 80, 445, 3389, 8080, 443, 2323, 5555, 6379};
  for (int i = 0; i < 10; ++i) std::swap(rank[i], *std::find(rank.begin(), rank.end(), hot[i]));
  std::vector<double> weight(65536);
  double total_w = 0;
  for (int r = 0; r < 65536; ++r) total_w += weight[r] = 1 / std::pow(r + 1.0, 1.1);
  const char* countries[] = {"US", "CN", "JP", "DE", "GB", "KR", "FR", "BR", "RU", "IN"};
  const int64_t now_day = rollup::BucketStart(1795651200, 86400);  // 2026-11-26
  const int64_t first_day = now_day - int64_t{days - 1} * 86400;

  auto counter = [&](uint64_t n) {
    rollup::DistinctCounter c;
    const uint64_t m = std::min<uint64_t>(n, n > 256 ? 1000 : n);
    for (uint64_t i = 0; i < m; ++i) c.Add(rng());
    return c.Serialize();
  };
  // The rows go through the store's own pack writer (storage/rollup_packs.h).
  storage::PackWriter ins[3];
  sqlite3_stmt* tot[3] = {};
  for (int r = 0; r < 3; ++r) {
    sqlite3_prepare_v2(db,
                       ("INSERT OR REPLACE INTO port_totals_" +
                        std::string(rollup::Name(static_cast<rollup::Resolution>(r))) +
                        " VALUES(?, 0, 6, 1, ?, 0, 0, ?, ?)")
                           .c_str(),
                       -1, &tot[r], nullptr);
    Status p = ins[r].Prepare(db, static_cast<rollup::Resolution>(r));
    // The tables are the store's: a statement that does not fit them is a generator out of date.
    if (!p.ok() || !tot[r]) {
      return std::fprintf(stderr, "make_rollups: %s %s\n", p.ToString().c_str(),
                          sqlite3_errmsg(db)),
             1;
    }
  }
  // Every row must go in (a store missing rows would time wrong answers).
  auto step = [db](sqlite3_stmt* st) {
    if (sqlite3_step(st) != SQLITE_DONE) {
      std::fprintf(stderr, "make_rollups: %s\n", sqlite3_errmsg(db));
      std::exit(1);
    }
    sqlite3_reset(st);
  };
  uint64_t rows = 0, events = 0;
  // One resolution's rows for [from, to) in buckets of `width`.
  auto emit = [&](int res, int64_t from, int64_t to, int64_t width) {
    const double per_bucket = per_day * static_cast<double>(width) / 86400;
    for (int64_t b = from; b < to; b += width) {
      sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
      storage::StoredRows bucket_rows;
      auto put = [&](int family, uint64_t key, int tool, uint64_t n) {
        if (n == 0) return;
        const std::string s = counter(std::max<uint64_t>(1, n * 2 / 3));
        const std::string d = counter(std::max<uint64_t>(1, n * 9 / 10));
        rollup::RowKey k;
        k.family = static_cast<rollup::Family>(family);
        k.key = key;
        k.bucket = b;
        k.proto = 6;
        k.kind = 1;
        k.tool = static_cast<uint8_t>(tool);
        bucket_rows.Add(k, n, b * 1000000, (b + width) * 1000000 - 1, s, d);
        ++rows;
      };
      uint64_t all = 0;
      storage::PortCounts totals[2];  // by tool: 0 (none), 1 (Mirai)
      for (int r = 0; r < 65536; ++r) {
        const double mean = per_bucket * weight[r] / total_w;
        const uint64_t n = std::poisson_distribution<uint64_t>(mean)(rng);
        if (n == 0) continue;
        const uint64_t mirai = rank[r] == 23 || rank[r] == 2323 ? n * 7 / 10 : n / 20;
        put(1, static_cast<uint64_t>(rank[r]), 0, n - mirai);
        put(1, static_cast<uint64_t>(rank[r]), 1, mirai);
        if (n - mirai)
          totals[0].emplace_back(static_cast<uint16_t>(rank[r]), static_cast<uint32_t>(n - mirai));
        if (mirai)
          totals[1].emplace_back(static_cast<uint16_t>(rank[r]), static_cast<uint32_t>(mirai));
        all += n;
      }
      for (int tool = 0; tool < 2; ++tool) {
        std::sort(totals[tool].begin(), totals[tool].end());
        const std::string blob = storage::EncodePortCounts(totals[tool]);
        sqlite3_bind_int64(tot[res], 1, b);
        sqlite3_bind_int(tot[res], 2, tool);
        const std::string_view head = storage::PortTotalsHead(blob);
        sqlite3_bind_blob(tot[res], 3, head.data(), static_cast<int>(head.size()), SQLITE_STATIC);
        sqlite3_bind_blob(tot[res], 4, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
        step(tot[res]);
      }
      put(0, 0, 0, all);
      for (int c = 0; c < 10; ++c) {
        put(2, rollup::CountryKey(countries[c]), 0, static_cast<uint64_t>(all / (c + 2.0) / 2.9));
      }
      for (uint64_t a = 1; a <= 300; ++a) put(3, a, 0, static_cast<uint64_t>(all / (a + 1.0) / 7));
      if (res == 2) events += all;
      uint64_t written = 0;
      if (Status w = ins[res].Write(bucket_rows, &written); !w.ok()) {
        std::fprintf(stderr, "make_rollups: %s\n", w.ToString().c_str());
        std::exit(1);
      }
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
  };
  emit(2, first_day, now_day + 86400, 86400);
  emit(1, now_day - 6 * 86400, now_day + 86400, 3600);
  emit(0, now_day - 86400, now_day + 86400, 300);
  for (auto* st : tot) sqlite3_finalize(st);
  sqlite3_exec(db, "ANALYZE", nullptr, nullptr, nullptr);
  // The coarse buckets are made from the daily rows when the store is next opened, as after
  // the migration to schema version 9: every day, as for an import's store (no collector mark).
  sqlite3_exec(db, "INSERT OR REPLACE INTO meta VALUES('coarse_from_daily', '1')", nullptr, nullptr,
               nullptr);
  sqlite3_close_v2(db);  // closed once the pack writers finalize their statements
  {
    auto s = storage::SqliteStore::Open(dir);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
  }
  std::printf("days %d events %llu rows %llu\n", days, static_cast<unsigned long long>(events),
              static_cast<unsigned long long>(rows));
  return 0;
}
