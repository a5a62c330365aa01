#pragma once

// The storage engines every engine-independent test runs against: SQLite (a temp directory)
// and ClickHouse, single server and two-shard Distributed (servers the ctest fixture starts).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/clickhouse/clickhouse_store.h"
#include "storage/sqlite_store.h"

namespace isdas::storage {

// A ClickHouse database name no other test process has used on the shared server: the pid
// alone is not enough (ctest runs every case in its own process, and pids come round again
// while the server lives on), so the clock is in it too. The last one made is kept for tests
// that reach into the database themselves.
inline std::string g_last_database;
inline std::string NewDatabaseName() {
  static std::atomic<int> n{0};
  const auto ns = std::chrono::system_clock::now().time_since_epoch().count();
  g_last_database = "isdas_conf_" + std::to_string(getpid()) + "_" + std::to_string(ns) + "_" +
                    std::to_string(n++);
  return g_last_database;
}

// The SQLite stores' temp directories, removed when the test binary exits (every store is
// closed by then).
struct TempDirs {
  std::mutex mu;
  std::vector<std::string> dirs;
  ~TempDirs() {
    for (const auto& d : dirs) std::filesystem::remove_all(d);
  }
};
inline TempDirs g_temp_dirs;

inline std::unique_ptr<IngestStore> MakeSqlite() {
  char tmpl[] = "/tmp/isdas_conf_XXXXXX";
  const char* dir = mkdtemp(tmpl);
  EXPECT_NE(dir, nullptr);
  {
    std::lock_guard<std::mutex> l(g_temp_dirs.mu);
    g_temp_dirs.dirs.push_back(dir);
  }
  auto s = SqliteStore::Open(dir, true);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::unique_ptr<IngestStore>(std::move(s.value())) : nullptr;
}

inline std::unique_ptr<IngestStore> MakeClickhouse() {
  clickhouse::Endpoint e;
  std::ifstream(std::string(ISDAS_CLICKHOUSE_DIR) + "/http_port") >> e.port;
  e.database = NewDatabaseName();
  auto s = ClickhouseStore::Open(e);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::unique_ptr<IngestStore>(std::move(s.value())) : nullptr;
}

// Two servers with a Distributed table over both (the fixture `clickhouse_cluster`).
inline std::unique_ptr<IngestStore> MakeClickhouseCluster() {
  clickhouse::Endpoint e;
  const std::string dir = std::string(ISDAS_CLICKHOUSE_DIR) + "-cluster";
  int p2 = 0;
  std::ifstream(dir + "/s1/http_port") >> e.port;
  std::ifstream(dir + "/s2/http_port") >> p2;
  e.database = NewDatabaseName();
  e.cluster = "isdas";
  e.shards = {"127.0.0.1:" + std::to_string(e.port), "127.0.0.1:" + std::to_string(p2)};
  auto s = ClickhouseStore::Open(e);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::unique_ptr<IngestStore>(std::move(s.value())) : nullptr;
}

struct Engine {
  const char* name;
  std::function<std::unique_ptr<IngestStore>()> make;
};

inline void PrintTo(const Engine& e, std::ostream* os) { *os << e.name; }

inline const auto kAllEngines =
    ::testing::Values(Engine{"sqlite", MakeSqlite}, Engine{"clickhouse", MakeClickhouse},
                      Engine{"clickhouse_cluster", MakeClickhouseCluster});

}  // namespace isdas::storage
