#pragma once

// Small pieces the SQLite store's files share (sqlite_store.cc, sqlite_schema.cc,
// sqlite_rollup_writer.cc).

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "rollup/rollup.h"
#include "storage/rollup_packs.h"

namespace isdas::storage {

inline double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// `sql` with every "{r}" replaced by the resolution's name (5m, 1h, 1d).
inline std::string ForResolution(const char* sql, rollup::Resolution r) {
  std::string out = sql;
  const std::string name(rollup::Name(r));
  for (size_t at = out.find("{r}"); at != std::string::npos; at = out.find("{r}", at)) {
    out.replace(at, 3, name);
  }
  return out;
}

// The packs of every family with buckets in [lo, hi] (seconds), as ranges of their ids (the
// packs table's only key).
inline std::string PacksInBuckets(rollup::Resolution r, int64_t lo, int64_t hi) {
  std::string w;
  for (int f = 0; f < rollup::kFamilies; ++f) {
    int64_t a, b;
    if (!PackIdRange(r, f, f, lo, hi, 0, INT64_MAX, &a, &b)) continue;
    w += (w.empty() ? "(id BETWEEN " : " OR id BETWEEN ") + std::to_string(a) + " AND " +
         std::to_string(b);
  }
  return w.empty() ? "0" : w + ")";
}

// Runs `sql` (any number of statements) on the connection to the store at `path`.
inline Status ExecSql(sqlite3* db, const std::string& path, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = "sqlite " + path + ": " + (err ? err : "unknown error");
    sqlite3_free(err);
    return IoError(std::move(m));
  }
  return Status::Ok();
}

// RAII for prepared statements used once.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

}  // namespace isdas::storage
