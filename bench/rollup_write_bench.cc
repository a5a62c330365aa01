// Rollup rows written into SQLite three ways, side by side (BENCHMARKS.md, "rollup rows in
// packs"): one SQLite row per rollup row by upsert (the layout until schema version 6, keyed
// (family, bucket, key, dimensions)), the same by plain insert, and through PackWriter into
// packs (the store's way since). Same rows each way: 4 families × ROWS_PER_BUCKET/4 keys in
// each of BUCKETS 5-minute buckets, a one-address counter each, one transaction a bucket, WAL
// and synchronous=FULL as the collector runs.
//
//   rollup_write_bench DIR [BUCKETS] [ROWS_PER_BUCKET]     (defaults 40, 100000)

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rollup/hll.h"
#include "rollup/rollup.h"
#include "storage/rollup_buffer.h"
#include "storage/rollup_packs.h"

using namespace isdas;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE) {
    std::fprintf(stderr, "rollup_write_bench: %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The merge the upsert names; never called for new rows, but SQLite must know it.
void Merge(sqlite3_context* ctx, int, sqlite3_value** v) { sqlite3_result_value(ctx, v[0]); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rollup_write_bench DIR [BUCKETS] [ROWS_PER_BUCKET]\n");
    return 64;
  }
  const std::string dir = argv[1];
  const int buckets = argc > 2 ? std::atoi(argv[2]) : 40;
  const int per = argc > 3 ? std::atoi(argv[3]) : 100000;
  const std::string counter = [] {
    rollup::DistinctCounter c;
    c.Add(0x9e3779b97f4a7c15ULL);
    return c.Serialize();
  }();
  for (const char* way : {"upsert", "insert", "packs"}) {
    const std::string path = dir + "/" + way + ".sqlite";
    std::remove(path.c_str());
    std::remove((path + "-wal").c_str());
    sqlite3* db = nullptr;
    Check(db, sqlite3_open(path.c_str(), &db), "open");
    Check(db,
          sqlite3_exec(
              db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;",
              nullptr, nullptr, nullptr),
          "pragmas");
    sqlite3_create_function(db, "merge", 2, SQLITE_UTF8, nullptr, Merge, nullptr, nullptr);
    Check(db,
          sqlite3_exec(db,
                       ("CREATE TABLE r(family INTEGER NOT NULL, key INTEGER NOT NULL, bucket "
                        "INTEGER NOT NULL, sensor INTEGER NOT NULL, proto INTEGER NOT NULL, kind "
                        "INTEGER NOT NULL, tool INTEGER NOT NULL, research INTEGER NOT NULL, "
                        "packets INTEGER NOT NULL, first_us INTEGER NOT NULL, last_us INTEGER NOT "
                        "NULL, srcs BLOB NOT NULL, dsts BLOB NOT NULL, PRIMARY KEY(family, bucket, "
                        "key, sensor, proto, kind, tool, research)) WITHOUT ROWID;" +
                        storage::PacksSchema())
                           .c_str(),
                       nullptr, nullptr, nullptr),
          "schema");
    sqlite3_stmt* st = nullptr;
    const std::string w(way);
    if (w != "packs") {
      Check(db,
            sqlite3_prepare_v2(
                db,
                w == "upsert"
                    ? "INSERT INTO r VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
                      "packets = packets + excluded.packets, first_us = min(first_us, "
                      "excluded.first_us), last_us = max(last_us, excluded.last_us), srcs = "
                      "merge(srcs, excluded.srcs), dsts = merge(dsts, excluded.dsts)"
                    : "INSERT INTO r VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                -1, &st, nullptr),
            "prepare");
    }
    storage::PackWriter packs;
    if (w == "packs" && !packs.Prepare(db, rollup::Resolution::k5m).ok()) return 1;
    const double start = Now();
    uint64_t rows = 0;
    for (int b = 0; b < buckets; ++b) {
      Check(db, sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), "begin");
      storage::StoredRows stored;
      const int64_t bucket = 1795651200 + int64_t{b} * 300;
      for (int f : {0, 1, 2, 3}) {
        for (int i = 0; i < per / 4; ++i) {
          rollup::RowKey k;
          k.family = static_cast<rollup::Family>(f);
          k.key = f == 0 ? 0 : static_cast<uint64_t>(i) * 2;  // total: one key, dims vary
          k.bucket = bucket;
          k.sensor = 1;
          k.proto = 6;
          k.kind = static_cast<uint8_t>(f == 0 ? i % 256 : i % 3);
          k.tool = static_cast<uint8_t>(f == 0 ? i / 256 : 0);
          const int64_t t = bucket * 1000000 + i;
          if (w == "packs") {
            stored.Add(k, 1 + (i % 7 == 0) * 100, t, t + 5, counter, counter);
            continue;
          }
          const int64_t v[11] = {f, static_cast<int64_t>(k.key), bucket, 1,    6, k.kind, k.tool,
                                 0, 1 + (i % 7 == 0) * 100,      t,      t + 5};
          for (int c = 0; c < 11; ++c) sqlite3_bind_int64(st, c + 1, v[c]);
          sqlite3_bind_blob(st, 12, counter.data(), static_cast<int>(counter.size()),
                            SQLITE_STATIC);
          sqlite3_bind_blob(st, 13, counter.data(), static_cast<int>(counter.size()),
                            SQLITE_STATIC);
          Check(db, sqlite3_step(st), "write a row");
          sqlite3_reset(st);
          ++rows;
        }
      }
      if (w == "packs") {
        if (Status s = packs.Write(stored, &rows); !s.ok()) {
          std::fprintf(stderr, "rollup_write_bench: %s\n", s.ToString().c_str());
          return 1;
        }
      }
      Check(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
    }
    const double secs = Now() - start;
    std::printf("%-6s rows %llu seconds %.2f us_per_row %.3f\n", way,
                static_cast<unsigned long long>(rows), secs,
                secs * 1e6 / static_cast<double>(rows));
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
  }
  return 0;
}
