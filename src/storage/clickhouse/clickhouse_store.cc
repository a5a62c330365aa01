#include "storage/clickhouse/clickhouse_store.h"

#include <cstdlib>
#include <iterator>
#include <sstream>

namespace isdas::storage {
namespace {

// Works on 18.16 and current releases: classic MergeTree syntax, no LowCardinality,
// no DateTime64 (time is Int64 µs beside a Date for partitioning).
constexpr const char* kTables[] = {
    R"sql(CREATE TABLE IF NOT EXISTS {events} (
  ts Int64, day Date, sensor String, proto UInt8, family UInt8,
  src FixedString(16), dst FixedString(16), sport UInt16, dport UInt16,
  icmp_type UInt8, icmp_code UInt8, tcp_flags UInt8, ttl UInt8, ip_id UInt32, ip_len UInt32,
  tcp_seq UInt32, tcp_win UInt16, tcp_optlen UInt8, tcp_mss UInt16, flags UInt8,
  kind UInt8, tool UInt8, spoof UInt8, src_country FixedString(2), src_asn UInt32,
  batch_epoch UInt64, batch_seq UInt64
) ENGINE = MergeTree() PARTITION BY toYYYYMM(day) ORDER BY (day, dport, ts))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {batches} (
  sensor String, epoch UInt64, seq UInt64, events UInt32, rules_version UInt32,
  received_us Int64, geo_version String
) ENGINE = MergeTree() PARTITION BY tuple() ORDER BY (sensor, epoch, seq))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {heartbeats} (
  sensor String, time_us Int64, name String, value UInt64
) ENGINE = MergeTree() PARTITION BY tuple() ORDER BY (sensor, time_us, name))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {as_names} (asn UInt32, name String)
ENGINE = MergeTree() PARTITION BY tuple() ORDER BY asn)sql",
};

constexpr const char* kTableNames[] = {"events", "batches", "heartbeats", "as_names"};

// kTables[i] with its table name, plus `suffix` ("_local" on the shards of a cluster).
std::string TableDdl(size_t i, const std::string& suffix) {
  std::string sql = kTables[i];
  const std::string ph = std::string("{") + kTableNames[i] + "}";
  sql.replace(sql.find(ph), ph.size(), std::string(kTableNames[i]) + suffix);
  return sql;
}

// A string literal for SQL: sensor ids are validated to [A-Za-z0-9._-] before they get here,
// but quote anyway.
std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') q.push_back('\\');
    q.push_back(c);
  }
  return q + "'";
}

Status NoImports() {
  return InvalidArgument(
      "local file imports go to the SQLite store; ClickHouse takes sensor "
      "batches (see docs/storage-clickhouse.md)");
}

}  // namespace

Result<std::unique_ptr<ClickhouseStore>> ClickhouseStore::Open(const clickhouse::Endpoint& e) {
  clickhouse::Endpoint root = e;
  root.database = "default";
  clickhouse::Client admin(root);
  auto v = admin.Version();
  if (!v.ok()) return v.status();
  ISDAS_RETURN_IF_ERROR(admin.Query("CREATE DATABASE IF NOT EXISTS " + e.database).status());
  std::unique_ptr<ClickhouseStore> s(new ClickhouseStore(e));
  s->version_ = v.value();
  if (e.cluster.empty()) {
    for (size_t i = 0; i < std::size(kTables); ++i) {
      ISDAS_RETURN_IF_ERROR(s->client_.Query(TableDdl(i, "")).status());
    }
    return s;
  }
  // Scale-out: the same local tables on every shard, and on the entry server a Distributed
  // table over them (rows spread at random; every read and the duplicate check see all).
  for (const std::string& shard : e.shards) {
    clickhouse::Endpoint se = e;
    const size_t colon = shard.rfind(':');
    if (colon == std::string::npos)
      return InvalidArgument("shard '" + shard + "' is not host:port");
    se.host = shard.substr(0, colon);
    se.port = std::atoi(shard.c_str() + colon + 1);
    se.database = "default";
    clickhouse::Client sc(se);
    ISDAS_RETURN_IF_ERROR(sc.Query("CREATE DATABASE IF NOT EXISTS " + e.database).status());
    se.database = e.database;
    clickhouse::Client sd(se);
    for (size_t i = 0; i < std::size(kTables); ++i) {
      ISDAS_RETURN_IF_ERROR(sd.Query(TableDdl(i, "_local")).status());
    }
  }
  for (const char* t : kTableNames) {
    ISDAS_RETURN_IF_ERROR(s->client_
                              .Query(std::string("CREATE TABLE IF NOT EXISTS ") + t + " AS " + t +
                                     "_local ENGINE = Distributed(" + e.cluster + ", " +
                                     e.database + ", " + t + "_local, rand())")
                              .status());
  }
  // An INSERT returns only once every shard has its rows.
  s->client_.AddSetting("insert_distributed_sync", "1");
  return s;
}

Result<int64_t> ClickhouseStore::FindImport(const std::string&) { return NoImports(); }
Status ClickhouseStore::BeginImport() { return NoImports(); }
Status ClickhouseStore::Append(std::span<const model::Event>) { return NoImports(); }
Result<int64_t> ClickhouseStore::Commit(const ImportSummary&) { return NoImports(); }

Result<uint64_t> ClickhouseStore::Count(const std::string& sql) {
  auto r = client_.Query(sql);
  if (!r.ok()) return r.status();
  return std::strtoull(r->c_str(), nullptr, 10);
}

Result<uint64_t> ClickhouseStore::CountEvents() { return Count("SELECT count() FROM events"); }

Result<std::vector<BatchOutcome>> ClickhouseStore::CommitBatches(
    std::span<SensorBatch* const> batches, int64_t now_us) {
  std::vector<BatchOutcome> out;
  clickhouse::RowBinary rows, marks, names;
  for (SensorBatch* b : batches) {
    const std::string key = "sensor = " + Quote(b->sensor_id) +
                            " AND epoch = " + std::to_string(b->epoch) +
                            " AND seq = " + std::to_string(b->seq);
    auto seen = Count("SELECT count() FROM batches WHERE " + key);
    if (!seen.ok()) return seen.status();
    bool dup = seen.value() > 0;
    // The same batch twice in one group: the second is a duplicate of the first.
    for (size_t k = 0; k < out.size() && !dup; ++k) {
      const SensorBatch* o = batches[k];
      dup = out[k] == BatchOutcome::kStored && o->sensor_id == b->sensor_id &&
            o->epoch == b->epoch && o->seq == b->seq;
    }
    if (dup) {
      out.push_back(BatchOutcome::kDuplicate);
      continue;
    }
    auto present = Count("SELECT count() FROM events WHERE sensor = " + Quote(b->sensor_id) +
                         " AND batch_epoch = " + std::to_string(b->epoch) +
                         " AND batch_seq = " + std::to_string(b->seq));
    if (!present.ok()) return present.status();
    if (present.value() != 0 && present.value() != b->events.size()) {
      return Internal("batch " + b->sensor_id + "/" + std::to_string(b->seq) +
                      " is partly stored (" + std::to_string(present.value()) + " of " +
                      std::to_string(b->events.size()) + " events); it needs repair");
    }
    if (present.value() == 0) {
      for (size_t i = 0; i < b->events.size(); ++i) {
        const model::Event& e = b->events[i];
        rows.I64(e.ts_us);
        rows.U16(static_cast<uint16_t>(e.ts_us / 86400000000LL));  // Date: days since 1970
        rows.String(b->sensor_id);
        rows.U8(e.proto);
        rows.U8(e.src.family);
        rows.FixedString(std::string_view(reinterpret_cast<const char*>(e.src.bytes), 16), 16);
        rows.FixedString(std::string_view(reinterpret_cast<const char*>(e.dst.bytes), 16), 16);
        rows.U16(e.sport);
        rows.U16(e.dport);
        rows.U8(e.icmp_type);
        rows.U8(e.icmp_code);
        rows.U8(e.tcp_flags);
        rows.U8(e.ttl);
        rows.U32(e.ip_id);
        rows.U32(e.ip_len);
        rows.U32(e.tcp_seq);
        rows.U16(e.tcp_win);
        rows.U8(e.tcp_optlen);
        rows.U16(e.tcp_mss);
        rows.U8(e.flags);
        rows.U8(static_cast<uint8_t>(e.labels.kind));
        rows.U8(static_cast<uint8_t>(e.labels.tool));
        rows.U8(e.labels.spoof);
        const bool enriched = !b->sources.empty() && b->sources[i].country[0];
        rows.FixedString(enriched ? std::string_view(b->sources[i].country, 2) : "", 2);
        rows.U32(enriched ? b->sources[i].asn : 0);
        rows.U64(b->epoch);
        rows.U64(b->seq);
      }
    }
    marks.String(b->sensor_id);
    marks.U64(b->epoch);
    marks.U64(b->seq);
    marks.U32(static_cast<uint32_t>(b->events.size()));
    marks.U32(b->rules_version);
    marks.I64(now_us);
    marks.String(b->geo_version);
    for (const auto& [asn, name] : b->as_names) {
      names.U32(asn);
      names.String(name);
    }
    out.push_back(BatchOutcome::kStored);
  }
  // Events first, then the marks: a crash in between leaves events that the next attempt
  // finds and does not insert again.
  if (!rows.data().empty()) ISDAS_RETURN_IF_ERROR(client_.InsertRowBinary("events", rows.data()));
  if (!names.data().empty())
    ISDAS_RETURN_IF_ERROR(client_.InsertRowBinary("as_names", names.data()));
  if (!marks.data().empty())
    ISDAS_RETURN_IF_ERROR(client_.InsertRowBinary("batches", marks.data()));
  return out;
}

Status ClickhouseStore::RecordHeartbeat(
    const std::string& sensor_id, int64_t now_us,
    const std::vector<std::pair<std::string, uint64_t>>& counters) {
  clickhouse::RowBinary rb;
  for (const auto& [name, value] : counters) {
    rb.String(sensor_id);
    rb.I64(now_us);
    rb.String(name);
    rb.U64(value);
  }
  if (counters.empty()) {  // still a sign of life
    rb.String(sensor_id);
    rb.I64(now_us);
    rb.String("");
    rb.U64(0);
  }
  return client_.InsertRowBinary("heartbeats", rb.data());
}

Result<std::vector<SensorInfo>> ClickhouseStore::Sensors() {
  auto r = client_.Query(
      "SELECT sensor, min(first), max(last), max(hb), sum(b), sum(e) FROM ("
      " SELECT sensor, min(received_us) AS first, max(received_us) AS last, toInt64(0) AS hb,"
      "  count() AS b, sum(events) AS e FROM batches GROUP BY sensor"
      " UNION ALL"
      " SELECT sensor, min(time_us), max(time_us), max(time_us), toUInt64(0), toUInt64(0)"
      "  FROM heartbeats GROUP BY sensor)"
      " GROUP BY sensor ORDER BY sensor FORMAT TabSeparated");
  if (!r.ok()) return r.status();
  std::vector<SensorInfo> out;
  std::istringstream in(r.value());
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    SensorInfo si;
    ls >> si.name >> si.first_seen_us >> si.last_seen_us >> si.last_heartbeat_us >> si.batches >>
        si.events;
    auto c = client_.Query("SELECT name, value FROM heartbeats WHERE sensor = " + Quote(si.name) +
                           " AND time_us = (SELECT max(time_us) FROM heartbeats WHERE sensor = " +
                           Quote(si.name) + ") AND name != '' ORDER BY name FORMAT TabSeparated");
    if (!c.ok()) return c.status();
    std::istringstream cs(c.value());
    std::string name;
    uint64_t value;
    while (cs >> name >> value) si.counters.emplace_back(name, value);
    out.push_back(std::move(si));
  }
  return out;
}

}  // namespace isdas::storage
