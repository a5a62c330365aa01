// `isdas collector --config collector.toml`: the HTTPS ingest endpoint over the store.
// Config keys: docs/config.md.

#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/api.h"
#include "collector/scheduler.h"
#include "commands.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/stop_signal.h"
#include "geo/geo.h"
#include "geo/scanners.h"
#include "ingest/ingest_server.h"
#include "storage/clickhouse/clickhouse_store.h"
#include "storage/sqlite_store.h"

namespace isdas::app {
namespace {

struct CollectorConfig {
  std::string data_dir = "isdas-data";
  std::string listen = "127.0.0.1:8443";
  std::string port_file;
  std::string geo_dir;
  std::string engine = "sqlite";
  storage::clickhouse::Endpoint clickhouse{"127.0.0.1", 8123, "isdas", 60, "", {}};
  ingest::Options ingest;
  std::string research_scanners;              // "" = the list shipped in data/
  std::string api_listen = "127.0.0.1:8080";  // "off": no query API
  std::string api_port_file;
  api::Options api;
  uint64_t retention_interval_s = 3600;
};

// "host:port" or "[v6]:port" (port 0: any free one). Errors say what is wrong with `v`.
Status SplitListen(const std::string& v, std::string* host, int* port) {
  const size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgument("'" + v + "' is not host:port");
  }
  std::string h = v.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = v.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(p) > 65535) {
    return InvalidArgument("'" + v + "' has no valid port (0-65535)");
  }
  *host = h;
  *port = std::stoi(p);
  return Status::Ok();
}

Status ParseListen(Config& c, const char* key, const std::string& v, std::string* host, int* port) {
  Status s = SplitListen(v, host, port);
  return s.ok() ? s : c.Invalid(key, s.message());
}

Result<CollectorConfig> LoadConfig(const std::string& path) {
  auto c = Config::Load(path);
  if (!c.ok()) return c.status();
  CollectorConfig cc;
  uint64_t v;
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.data_dir", &cc.data_dir));
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.listen", &cc.listen));
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.port_file", &cc.port_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("geo.dir", &cc.geo_dir));
  ISDAS_RETURN_IF_ERROR(c->GetEnum("storage.engine", {"sqlite", "clickhouse"}, &cc.engine));
  ISDAS_RETURN_IF_ERROR(c->GetString("storage.clickhouse_host", &cc.clickhouse.host));
  v = static_cast<uint64_t>(cc.clickhouse.port);
  ISDAS_RETURN_IF_ERROR(c->GetUint("storage.clickhouse_port", 1, 65535, &v));
  cc.clickhouse.port = static_cast<int>(v);
  ISDAS_RETURN_IF_ERROR(c->GetString("storage.clickhouse_database", &cc.clickhouse.database));
  ISDAS_RETURN_IF_ERROR(c->GetString("storage.clickhouse_cluster", &cc.clickhouse.cluster));
  ISDAS_RETURN_IF_ERROR(c->GetStringList("storage.clickhouse_shards", &cc.clickhouse.shards));
  if (cc.clickhouse.cluster.empty() != cc.clickhouse.shards.empty()) {
    return c->Invalid("storage.clickhouse_cluster",
                      "set both clickhouse_cluster and clickhouse_shards, or neither");
  }
  if (cc.clickhouse.database.empty() ||
      cc.clickhouse.database.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") !=
          std::string::npos) {
    return c->Invalid("storage.clickhouse_database", "use lower-case letters, digits and _");
  }
  ISDAS_RETURN_IF_ERROR(
      ParseListen(*c, "collector.listen", cc.listen, &cc.ingest.host, &cc.ingest.port));
  ISDAS_RETURN_IF_ERROR(c->GetString("geo.research_scanners", &cc.research_scanners));
  ISDAS_RETURN_IF_ERROR(c->GetString("api.listen", &cc.api_listen));
  if (cc.api_listen != "off") {
    ISDAS_RETURN_IF_ERROR(ParseListen(*c, "api.listen", cc.api_listen, &cc.api.host, &cc.api.port));
  }
  ISDAS_RETURN_IF_ERROR(c->GetString("api.port_file", &cc.api_port_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("api.cert", &cc.api.cert_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("api.key", &cc.api.key_file));
  if (cc.api.cert_file.empty() != cc.api.key_file.empty()) {
    return c->Invalid("api.cert", "set both api.cert and api.key for HTTPS, or neither");
  }
  v = static_cast<uint64_t>(cc.api.threads);
  ISDAS_RETURN_IF_ERROR(c->GetUint("api.threads", 1, 256, &v));
  cc.api.threads = static_cast<int>(v);
  struct {
    const char* key;
    int* days;
  } ret[] = {{"retention.events_days", &cc.api.retention.raw_days},
             {"retention.rollup_5m_days", &cc.api.retention.r5m_days},
             {"retention.rollup_1h_days", &cc.api.retention.r1h_days},
             {"retention.rollup_1d_days", &cc.api.retention.r1d_days}};
  for (const auto& r : ret) {
    v = static_cast<uint64_t>(*r.days);
    ISDAS_RETURN_IF_ERROR(c->GetUint(r.key, 0, 100000, &v));
    *r.days = static_cast<int>(v);
  }
  ISDAS_RETURN_IF_ERROR(
      c->GetUint("retention.interval_s", 10, 7 * 86400, &cc.retention_interval_s));
  for (const char* k : {"tls.cert", "tls.key", "tls.ca", "tls.crl"}) {
    ISDAS_RETURN_IF_ERROR(c->Require(k));
  }
  ISDAS_RETURN_IF_ERROR(c->GetString("tls.cert", &cc.ingest.cert_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("tls.key", &cc.ingest.key_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("tls.ca", &cc.ingest.ca_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("tls.crl", &cc.ingest.crl_file));
  v = cc.ingest.limits.max_compressed_bytes;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_body_bytes", 1024, 1ull << 30, &v));
  cc.ingest.limits.max_compressed_bytes = v;
  v = cc.ingest.limits.max_decompressed_bytes;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_decompressed_bytes", 1024, 4ull << 30, &v));
  cc.ingest.limits.max_decompressed_bytes = v;
  v = cc.ingest.limits.max_events;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_events", 1, 100000000, &v));
  cc.ingest.limits.max_events = v;
  v = static_cast<uint64_t>(cc.ingest.threads);
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.threads", 1, 256, &v));
  cc.ingest.threads = static_cast<int>(v);
  v = cc.ingest.max_connections;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_connections", 1, 1000000, &v));
  cc.ingest.max_connections = v;
  v = cc.ingest.max_connections_per_address;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_connections_per_address", 1, 1000000, &v));
  cc.ingest.max_connections_per_address = v;
  v = static_cast<uint64_t>(cc.ingest.idle_timeout_s);
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.idle_timeout_s", 1, 3600, &v));
  cc.ingest.idle_timeout_s = static_cast<int>(v);
  v = cc.ingest.decompress_budget_bytes;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.decompress_budget_bytes", 1 << 20, 1ull << 40, &v));
  cc.ingest.decompress_budget_bytes = v;
  v = cc.ingest.max_pending_batches;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_pending_batches", 1, 1000000, &v));
  cc.ingest.max_pending_batches = v;
  ISDAS_RETURN_IF_ERROR(c->CheckAllKeysUsed());
  return cc;
}

// Written whole (rename), so a reader never sees a partial number.
void WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fprintf(f, "%d\n", port);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }
}

}  // namespace

int CmdCollector(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "--config") {
    std::fprintf(stderr, "usage: isdas collector --config collector.toml\n");
    return 64;
  }
  auto cfg = LoadConfig(args[1]);
  if (!cfg.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", cfg.status().message().c_str());
    return 1;
  }
  // Each user of the store (ingest writer, retention task, API workers) opens its own
  // connection: a store object is used by one thread at a time. The API's are read-only.
  const CollectorConfig& conf = cfg.value();
  auto open_store = [&conf]() -> Result<std::unique_ptr<storage::EventStore>> {
    if (conf.engine == "clickhouse") {
      auto ch = storage::ClickhouseStore::Open(conf.clickhouse);
      if (!ch.ok()) return ch.status();
      return std::unique_ptr<storage::EventStore>(std::move(ch.value()));
    }
    auto sq = storage::SqliteStore::Open(conf.data_dir, /*durable=*/true);
    if (!sq.ok()) return sq.status();
    return std::unique_ptr<storage::EventStore>(std::move(sq.value()));
  };
  auto opened = open_store();
  if (!opened.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", opened.status().message().c_str());
    return 1;
  }
  std::unique_ptr<storage::EventStore> store = std::move(opened.value());
  const std::string where =
      cfg->engine == "clickhouse"
          ? "clickhouse " + static_cast<storage::ClickhouseStore*>(store.get())->server_version() +
                " at " + cfg->clickhouse.host + ":" + std::to_string(cfg->clickhouse.port) + "/" +
                cfg->clickhouse.database
          : static_cast<storage::SqliteStore*>(store.get())->path();
  std::string research_path = cfg->research_scanners;
  if (research_path.empty()) {
    struct stat st;
    research_path = ISDAS_DATA_DIR "/research-scanners.txt";
    if (stat(research_path.c_str(), &st) != 0) research_path.clear();
  }
  std::unique_ptr<geo::ScannerList> scanners;
  if (!research_path.empty()) {
    auto l = geo::ScannerList::Load(research_path);
    if (!l.ok()) {
      std::fprintf(stderr, "isdas collector: geo.research_scanners: %s\n",
                   l.status().message().c_str());
      return 1;
    }
    scanners = std::make_unique<geo::ScannerList>(std::move(l.value()));
    cfg->api.research_list = research_path;
    cfg->api.research_entries = scanners->asns() + scanners->prefixes();
  }
  std::unique_ptr<geo::GeoDb> geodb;
  if (!cfg->geo_dir.empty()) {
    std::string version = "unknown";
    if (FILE* vf = std::fopen((cfg->geo_dir + "/VERSION").c_str(), "r")) {
      char buf[128] = {};
      if (std::fgets(buf, sizeof buf, vf)) version = std::string(buf, std::strcspn(buf, "\r\n"));
      std::fclose(vf);
    }
    auto g = geo::GeoDb::Open(cfg->geo_dir + "/geo-whois-asn-country.mmdb",
                              cfg->geo_dir + "/asn-ipv4.csv", cfg->geo_dir + "/asn-ipv6.csv",
                              "ip-location-db " + version);
    if (!g.ok()) {
      std::fprintf(stderr, "isdas collector: geo.dir: %s\n", g.status().message().c_str());
      return 1;
    }
    geodb = std::move(g.value());
  }
  auto server = ingest::IngestServer::Create(cfg->ingest, store.get(), geodb.get(), scanners.get());
  if (!server.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", server.status().message().c_str());
    return 1;
  }
  StopSignal& stop = StopSignal::Install();
  Status s = (*server)->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("isdas collector: listening on %s:%d, store %s, enrichment %s\n",
              cfg->ingest.host.c_str(), (*server)->port(), where.c_str(),
              geodb ? geodb->version().c_str() : "off");
  std::fflush(stdout);
  if (!cfg->port_file.empty()) WritePortFile(cfg->port_file, (*server)->port());
  std::unique_ptr<api::ApiServer> api_server;
  if (cfg->api_listen != "off") {
    api::StoreFactory open_reader = [&conf]() -> Result<std::unique_ptr<storage::ReadStore>> {
      if (conf.engine == "clickhouse") {
        auto ch = storage::ClickhouseStore::Open(conf.clickhouse);
        if (!ch.ok()) return ch.status();
        return std::unique_ptr<storage::ReadStore>(std::move(ch.value()));
      }
      return storage::SqliteStore::OpenForReading(conf.data_dir);
    };
    auto a = api::ApiServer::Start(cfg->api, open_reader, [] { return NowUs(); });
    if (!a.ok()) {
      std::fprintf(stderr, "isdas collector: %s\n", a.status().message().c_str());
      (*server)->Stop();
      return 1;
    }
    api_server = std::move(a.value());
    std::printf("isdas collector: query API on %s://%s:%d/api/v1/\n",
                cfg->api.cert_file.empty() ? "http" : "https", cfg->api.host.c_str(),
                api_server->port());
    std::fflush(stdout);
    if (!cfg->api_port_file.empty()) WritePortFile(cfg->api_port_file, api_server->port());
  }
  // Periodic tasks (retention: a pass at start, then every interval, on a connection of its
  // own), until a stop signal wakes the main thread.
  std::unique_ptr<storage::EventStore> retention_store;
  collector::Scheduler scheduler([] { return NowUs(); });
  scheduler.Add("retention", static_cast<int64_t>(cfg->retention_interval_s) * 1000000, [&] {
    if (!retention_store) {
      auto o = open_store();
      if (!o.ok()) {
        std::fprintf(stderr, "isdas collector: retention: %s\n", o.status().message().c_str());
        return;
      }
      retention_store = std::move(o.value());
    }
    auto rep = retention_store->Expire(cfg->api.retention, NowUs());
    if (!rep.ok()) {
      std::fprintf(stderr, "isdas collector: retention: %s\n", rep.status().message().c_str());
    } else if (rep->events + rep->rollup_rows[0] + rep->rollup_rows[1] + rep->rollup_rows[2]) {
      std::printf(
          "isdas collector: retention removed %llu events, %llu/%llu/%llu rollup rows "
          "(5m/1h/1d)\n",
          static_cast<unsigned long long>(rep->events),
          static_cast<unsigned long long>(rep->rollup_rows[0]),
          static_cast<unsigned long long>(rep->rollup_rows[1]),
          static_cast<unsigned long long>(rep->rollup_rows[2]));
      std::fflush(stdout);
    }
  });
  scheduler.Start();
  stop.Wait();
  scheduler.Stop();
  if (api_server) api_server->Stop();
  (*server)->Stop();
  const auto& c = (*server)->counters();
  std::printf("isdas collector: stopped; batches stored %llu, duplicates %llu, events %llu\n",
              static_cast<unsigned long long>(c.batches_stored.load()),
              static_cast<unsigned long long>(c.batches_duplicate.load()),
              static_cast<unsigned long long>(c.events_stored.load()));
  return 0;
}

int CmdApi(const std::vector<std::string>& args) {
  static const char* kUsage =
      "usage: isdas api --data-dir DIR [--listen HOST:PORT] [--threads N]\n";
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
    } else {
      std::fputs(kUsage, stderr);
      return 64;
    }
  }
  if (data_dir.empty()) {
    std::fputs(kUsage, stderr);
    return 64;
  }
  if (Status l = SplitListen(listen, &o.host, &o.port); !l.ok()) {
    std::fprintf(stderr, "isdas api: --listen: %s\n", l.message().c_str());
    return 64;
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
  StopSignal& stop = StopSignal::Install();
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
  static const char* kUsage = "usage: isdas sql [--data-dir DIR] \"SELECT ...\"\n";
  std::string data_dir = "isdas-data", sql;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--data-dir" && i + 1 < args.size()) {
      data_dir = args[++i];
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
  auto store = storage::SqliteStore::Open(data_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "isdas sql: %s\n", store.status().message().c_str());
    return 1;
  }
  // Rows are printed as they come (a query over every event need not fit in memory).
  std::string out;
  Status q = (*store)->SelectEach(sql, [&out](std::span<const std::string_view> row) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c) out.push_back('|');
      out += row[c];
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
