// `isdas collector --config collector.toml` (src/collector), `isdas api` and `isdas sql`.
// Config keys: docs/config.md.

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "api/api.h"
#include "collector/collector.h"
#include "commands.h"
#include "common/clock.h"
#include "common/stop_signal.h"
#include "model/event.h"
#include "storage/sqlite_store.h"

namespace isdas::app {

int CmdCollector(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "--config") {
    std::fprintf(stderr, "usage: isdas collector --config collector.toml\n");
    return 64;
  }
  auto cfg = collector::LoadConfig(args[1]);
  if (!cfg.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", cfg.status().message().c_str());
    return 1;
  }
  StopFlag& stop = StopSignal::Install();
  auto c = collector::Collector::Start(
      std::move(cfg.value()), [] { return NowUs(); },
      [](const std::string& m) {
        std::printf("isdas collector: %s\n", m.c_str());
        std::fflush(stdout);
      });
  if (!c.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", c.status().message().c_str());
    return 1;
  }
  stop.Wait();
  (*c)->Stop();
  return 0;
}

int CmdApi(const std::vector<std::string>& args) {
  static const char* kUsage =
      "usage: isdas api --data-dir DIR [--listen HOST:PORT] [--threads N] [--cache-mb N]\n";
  std::string data_dir, listen = "127.0.0.1:8080";
  api::Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has = i + 1 < args.size();
    if (args[i] == "--data-dir" && has) {
      data_dir = args[++i];
    } else if (args[i] == "--listen" && has) {
      listen = args[++i];
    } else if (args[i] == "--threads" && has) {
      o.threads = std::atoi(args[++i].c_str());
      if (o.threads < 1 || o.threads > 256) {
        std::fprintf(stderr, "isdas api: --threads: 1 to 256\n");
        return 64;
      }
    } else if (args[i] == "--cache-mb" && has) {
      const std::string& v = args[++i];
      if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos) {
        std::fprintf(stderr, "isdas api: --cache-mb: 0 (none) to 999999\n");
        return 64;
      }
      o.cache_bytes = static_cast<size_t>(std::stoul(v)) << 20;
    } else {
      std::fputs(kUsage, stderr);
      return 64;
    }
  }
  if (data_dir.empty()) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  if (Status l = collector::SplitListen(listen, &o.host, &o.port); !l.ok()) {
    std::fprintf(stderr, "isdas api: --listen: %s\n", l.message().c_str());
    return 64;
  }
  // A directory without a store is a mistake (a typo), not an empty store to serve.
  struct stat st;
  if (stat((data_dir + "/isdas.sqlite").c_str(), &st) != 0) {
    std::fprintf(stderr,
                 "isdas api: no store at %s/isdas.sqlite (isdas import or the collector makes "
                 "one; is the directory right?)\n",
                 data_dir.c_str());
    return 1;
  }
  // Opened once as a writer, so an older schema is upgraded (and a store that will not open is
  // an error now, not per request); then served through read-only connections.
  auto first = storage::SqliteStore::Open(data_dir);
  if (!first.ok()) {
    std::fprintf(stderr, "isdas api: %s\n", first.status().message().c_str());
    return 1;
  }
  first.value().reset();
  api::StoreFactory factory = [data_dir] { return storage::SqliteStore::OpenForReading(data_dir); };
  StopFlag& stop = StopSignal::Install();
  auto server = api::ApiServer::Start(o, factory, [] { return NowUs(); });
  if (!server.ok()) {
    std::fprintf(stderr, "isdas api: %s\n", server.status().message().c_str());
    return 1;
  }
  std::printf("isdas api: http://%s:%d/api/v1/ over %s/isdas.sqlite\n", o.host.c_str(),
              (*server)->port(), data_dir.c_str());
  std::fflush(stdout);
  stop.Wait();
  (*server)->Stop();
  return 0;
}

int CmdSql(const std::vector<std::string>& args) {
  static const char* kUsage = "usage: isdas sql [--data-dir DIR] [--raw] \"SELECT ...\"\n";
  std::string data_dir = "isdas-data", sql;
  bool raw = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--data-dir" && i + 1 < args.size()) {
      data_dir = args[++i];
    } else if (args[i] == "--raw") {
      raw = true;
    } else if (sql.empty() && !args[i].empty() && args[i][0] != '-') {
      sql = args[i];
    } else {
      std::fputs(kUsage, stderr);
      return 64;
    }
  }
  if (sql.empty()) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  struct stat st;
  if (stat((data_dir + "/isdas.sqlite").c_str(), &st) != 0) {
    std::fprintf(stderr, "isdas sql: no store at %s/isdas.sqlite\n", data_dir.c_str());
    return 1;
  }
  // Upgraded once if older, then queried on a read-only connection: nothing the query says can
  // write, nor make a file (ATTACH of a new one).
  if (auto up = storage::SqliteStore::Open(data_dir); !up.ok()) {
    std::fprintf(stderr, "isdas sql: %s\n", up.status().message().c_str());
    return 1;
  }
  auto store = storage::SqliteStore::OpenReadOnly(data_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "isdas sql: %s\n", store.status().message().c_str());
    return 1;
  }
  // Columns read as stored are printed for people (docs/cli.md): events' src and dst as
  // addresses, a sensor number (events, rollups) as the sensor's name; --raw prints them as
  // stored. Expressions over them (hex(src), sensor + 0) are printed as they come.
  enum class Show : uint8_t { kAsIs, kAddress, kSensor };
  std::vector<Show> show;
  std::map<std::string, std::string, std::less<>> sensor_names = {{"0", "local"}};
  if (!raw) {
    auto origins = (*store)->ColumnOrigins(sql);
    if (!origins.ok()) {
      std::fprintf(stderr, "isdas sql: %s\n", origins.status().message().c_str());
      return 1;
    }
    for (const auto& [table, column] : origins.value()) {
      const bool rollup = table == "rollup_5m" || table == "rollup_1h" || table == "rollup_1d";
      if (table == "events" && (column == "src" || column == "dst")) {
        show.push_back(Show::kAddress);
      } else if ((table == "events" || rollup) && column == "sensor") {
        show.push_back(Show::kSensor);
      } else {
        show.push_back(Show::kAsIs);
      }
    }
    if (std::find(show.begin(), show.end(), Show::kSensor) != show.end()) {
      Status names = (*store)->SelectEach("SELECT id, name FROM sensors",
                                          [&](std::span<const std::string_view> r) {
                                            sensor_names[std::string(r[0])] = std::string(r[1]);
                                            return Status::Ok();
                                          });
      if (!names.ok()) {
        std::fprintf(stderr, "isdas sql: %s\n", names.message().c_str());
        return 1;
      }
    }
  }
  // Rows are printed as they come (a query over every event need not fit in memory).
  std::string out;
  Status q = (*store)->SelectEach(sql, [&](std::span<const std::string_view> row) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) out.push_back('|');
      const Show how = c < show.size() ? show[c] : Show::kAsIs;
      if (how == Show::kAddress && (row[c].size() == 4 || row[c].size() == 16)) {
        const auto* b = reinterpret_cast<const uint8_t*>(row[c].data());
        model::IpAddr a;
        if (row[c].size() == 4) {
          a.SetV4(b);
        } else {
          a.SetV6(b);
        }
        a.AppendTo(&out);
      } else if (auto name = sensor_names.find(row[c]);
                 how == Show::kSensor && name != sensor_names.end()) {
        out += name->second;
      } else {
        out += row[c];
      }
    }
    out.push_back('\n');
    if (out.size() > (1 << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
    return Status::Ok();
  });
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!q.ok()) {
    std::fflush(stdout);
    std::fprintf(stderr, "isdas sql: %s\n", q.message().c_str());
    return 1;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace isdas::app
