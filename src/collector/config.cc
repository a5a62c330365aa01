#include "collector/config.h"

#include "common/config.h"

namespace isdas::collector {

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

namespace {

Status ParseListen(isdas::Config& c, const char* key, const std::string& v, std::string* host,
                   int* port) {
  Status s = SplitListen(v, host, port);
  return s.ok() ? s : c.Invalid(key, s.message());
}

}  // namespace

Result<Options> LoadConfig(const std::string& path) {
  auto c = Config::Load(path);
  if (!c.ok()) return c.status();
  Options cc;
  uint64_t v;
  ISDAS_RETURN_IF_ERROR(c->GetPath("collector.data_dir", &cc.data_dir));
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.listen", &cc.listen));
  ISDAS_RETURN_IF_ERROR(c->GetPath("collector.port_file", &cc.port_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("geo.dir", &cc.geo_dir));
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
  ISDAS_RETURN_IF_ERROR(c->GetPath("geo.research_scanners", &cc.research_scanners));
  ISDAS_RETURN_IF_ERROR(c->GetString("api.listen", &cc.api_listen));
  if (cc.api_listen != "off") {
    ISDAS_RETURN_IF_ERROR(ParseListen(*c, "api.listen", cc.api_listen, &cc.api.host, &cc.api.port));
  }
  ISDAS_RETURN_IF_ERROR(c->GetPath("api.port_file", &cc.api_port_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("api.cert", &cc.api.cert_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("api.key", &cc.api.key_file));
  if (cc.api.cert_file.empty() != cc.api.key_file.empty()) {
    return c->Invalid("api.cert", "set both api.cert and api.key for HTTPS, or neither");
  }
  v = static_cast<uint64_t>(cc.api.threads);
  ISDAS_RETURN_IF_ERROR(c->GetUint("api.threads", 1, 256, &v));
  cc.api.threads = static_cast<int>(v);
  v = cc.api.cache_bytes >> 20;
  ISDAS_RETURN_IF_ERROR(c->GetUint("api.cache_mb", 0, 1 << 20, &v));
  cc.api.cache_bytes = static_cast<size_t>(v) << 20;
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
  ISDAS_RETURN_IF_ERROR(c->GetPath("tls.cert", &cc.ingest.cert_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("tls.key", &cc.ingest.key_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("tls.ca", &cc.ingest.ca_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("tls.crl", &cc.ingest.crl_file));
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

}  // namespace isdas::collector
