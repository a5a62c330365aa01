// `isdas collector --config collector.toml`: the HTTPS ingest endpoint over the store.
// Config keys: docs/config.md.

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "common/config.h"
#include "geo/geo.h"
#include "ingest/ingest_server.h"
#include "storage/clickhouse/clickhouse_store.h"
#include "storage/sqlite_store.h"

namespace isdas::app {
namespace {

volatile int g_stop = 0;

struct CollectorConfig {
  std::string data_dir = "isdas-data";
  std::string listen = "127.0.0.1:8443";
  std::string port_file;
  std::string geo_dir;
  std::string engine = "sqlite";
  storage::clickhouse::Endpoint clickhouse{"127.0.0.1", 8123, "isdas", 60, "", {}};
  ingest::Options ingest;
};

Status ParseListen(Config& c, const std::string& v, std::string* host, int* port) {
  const size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return c.Invalid("collector.listen", "'" + v + "' is not host:port");
  }
  std::string h = v.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = v.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(p) > 65535) {
    return c.Invalid("collector.listen", "'" + v + "' has no valid port (0-65535)");
  }
  *host = h;
  *port = std::stoi(p);
  return Status::Ok();
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
  ISDAS_RETURN_IF_ERROR(ParseListen(*c, cc.listen, &cc.ingest.host, &cc.ingest.port));
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
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.threads", 1, 4096, &v));
  cc.ingest.threads = static_cast<int>(v);
  v = cc.ingest.max_pending_batches;
  ISDAS_RETURN_IF_ERROR(c->GetUint("limits.max_pending_batches", 1, 1000000, &v));
  cc.ingest.max_pending_batches = v;
  ISDAS_RETURN_IF_ERROR(c->CheckAllKeysUsed());
  return cc;
}

}  // namespace

volatile int* InstallStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return &g_stop;
}

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
  std::unique_ptr<storage::EventStore> store;
  std::string where;
  if (cfg->engine == "clickhouse") {
    auto ch = storage::ClickhouseStore::Open(cfg->clickhouse);
    if (!ch.ok()) {
      std::fprintf(stderr, "isdas collector: %s\n", ch.status().message().c_str());
      return 1;
    }
    where = "clickhouse " + (*ch)->server_version() + " at " + cfg->clickhouse.host + ":" +
            std::to_string(cfg->clickhouse.port) + "/" + cfg->clickhouse.database;
    store = std::move(ch.value());
  } else {
    auto sq = storage::SqliteStore::Open(cfg->data_dir, /*durable=*/true);
    if (!sq.ok()) {
      std::fprintf(stderr, "isdas collector: %s\n", sq.status().message().c_str());
      return 1;
    }
    where = (*sq)->path();
    store = std::move(sq.value());
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
  auto server = ingest::IngestServer::Create(cfg->ingest, store.get(), geodb.get());
  if (!server.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", server.status().message().c_str());
    return 1;
  }
  volatile int* stop = InstallStopSignals();
  Status s = (*server)->Start();
  if (!s.ok()) {
    std::fprintf(stderr, "isdas collector: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("isdas collector: listening on %s:%d, store %s, enrichment %s\n",
              cfg->ingest.host.c_str(), (*server)->port(), where.c_str(),
              geodb ? geodb->version().c_str() : "off");
  std::fflush(stdout);
  if (!cfg->port_file.empty()) {
    const std::string tmp = cfg->port_file + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f) {
      std::fprintf(f, "%d\n", (*server)->port());
      std::fclose(f);
      std::rename(tmp.c_str(), cfg->port_file.c_str());
    }
  }
  while (!*stop) usleep(100000);
  (*server)->Stop();
  const auto& c = (*server)->counters();
  std::printf("isdas collector: stopped; batches stored %llu, duplicates %llu, events %llu\n",
              static_cast<unsigned long long>(c.batches_stored.load()),
              static_cast<unsigned long long>(c.batches_duplicate.load()),
              static_cast<unsigned long long>(c.events_stored.load()));
  return 0;
}

}  // namespace isdas::app
