#include "storage/clickhouse/clickhouse_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sstream>
#include <thread>

#include "model/event_fields.h"
#include "rollup/rollup.h"

namespace isdas::storage {
namespace {

using model::kNumberFields;

// Works on 18.16 and current releases: classic MergeTree syntax, no LowCardinality,
// no DateTime64 (time is Int64 µs beside a Date for partitioning).
constexpr const char* kTables[] = {
    R"sql(CREATE TABLE IF NOT EXISTS {events} (
  ts Int64, day Date, sensor String, proto UInt8, family UInt8,
  src FixedString(16), dst FixedString(16), sport UInt16, dport UInt16,
  {numbers},
  kind UInt8, tool UInt8, spoof UInt8, src_country FixedString(2), src_asn UInt32,
  batch_epoch UInt64, batch_seq UInt64, src_research UInt8
) ENGINE = MergeTree() PARTITION BY toYYYYMM(day) ORDER BY (day, dport, ts))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {batches} (
  sensor String, epoch UInt64, seq UInt64, events UInt32, rules_version UInt32,
  received_us Int64, geo_version String
) ENGINE = MergeTree() PARTITION BY tuple() ORDER BY (sensor, epoch, seq))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {intents} (
  sensor String, epoch UInt64, seq UInt64, time_us Int64
) ENGINE = MergeTree() PARTITION BY tuple() ORDER BY (sensor, epoch, seq))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {rollups} (
  res UInt8, family UInt8, key UInt64, bucket Int64, day Date, sensor String,
  proto UInt8, kind UInt8, tool UInt8, research UInt8,
  packets UInt64, first_us Int64, last_us Int64, srcs String, dsts String,
  batch_epoch UInt64, batch_seq UInt64, spoof UInt8
) ENGINE = MergeTree() PARTITION BY (res, toYYYYMM(day)) ORDER BY (res, family, key, bucket))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {heartbeats} (
  sensor String, time_us Int64, name String, value UInt64
) ENGINE = MergeTree() PARTITION BY tuple() ORDER BY (sensor, time_us, name))sql",
    R"sql(CREATE TABLE IF NOT EXISTS {as_names} (asn UInt32, name String)
ENGINE = MergeTree() PARTITION BY tuple() ORDER BY asn)sql",
};

constexpr const char* kTableNames[] = {"events",  "batches",    "intents",
                                       "rollups", "heartbeats", "as_names"};

// Columns added since a table was first made, each at its end (so RowBinary's order holds):
// a database made before is brought up to date at open.
struct AddedColumn {
  const char *table, *column, *type;
};
constexpr AddedColumn kAddedColumns[] = {
    {"rollups", "spoof", "UInt8"},  // 2026-12-08
};
// Adds the missing ones to the tables named with `suffix` (Debian's ClickHouse has no
// ADD COLUMN IF NOT EXISTS: the catalogue is asked first).
Status AddColumns(clickhouse::Client& c, const std::string& suffix) {
  for (const AddedColumn& a : kAddedColumns) {
    const std::string table = a.table + suffix;
    auto has = c.Query(
        "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = '" +
        table + "' AND name = '" + a.column + "'");
    if (!has.ok()) return has.status();
    if (std::strtoull(has->c_str(), nullptr, 10) != 0) continue;
    ISDAS_RETURN_IF_ERROR(
        c.Query("ALTER TABLE " + table + " ADD COLUMN " + a.column + " " + a.type).status());
  }
  return Status::Ok();
}

// kTables[i] with its table name, plus `suffix` ("_local" on the shards of a cluster); the
// events' number fields (model/event_fields.h) as UInt8/16/32 columns in their order.
std::string TableDdl(size_t i, const std::string& suffix) {
  std::string sql = kTables[i];
  const std::string ph = std::string("{") + kTableNames[i] + "}";
  sql.replace(sql.find(ph), ph.size(), std::string(kTableNames[i]) + suffix);
  if (const size_t at = sql.find("{numbers}"); at != std::string::npos) {
    std::string cols;
    for (const model::NumberField& f : model::kNumberFields) {
      if (!cols.empty()) cols += ", ";
      cols += std::string(f.name) + " UInt" + std::to_string(8 * f.bytes);
    }
    sql.replace(at, 9, cols);
  }
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
    ISDAS_RETURN_IF_ERROR(AddColumns(s->client_, ""));
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
    ISDAS_RETURN_IF_ERROR(AddColumns(sd, "_local"));
  }
  for (const char* t : kTableNames) {
    ISDAS_RETURN_IF_ERROR(s->client_
                              .Query(std::string("CREATE TABLE IF NOT EXISTS ") + t + " AS " + t +
                                     "_local ENGINE = Distributed(" + e.cluster + ", " +
                                     e.database + ", " + t + "_local, rand())")
                              .status());
  }
  ISDAS_RETURN_IF_ERROR(AddColumns(s->client_, ""));
  // An INSERT returns only once every shard has its rows.
  s->client_.AddSetting("insert_distributed_sync", "1");
  return s;
}

std::string ClickhouseStore::Describe() const {
  return "clickhouse " + version_ + " at " + endpoint_.host + ":" + std::to_string(endpoint_.port) +
         "/" + endpoint_.database;
}

Result<uint64_t> ClickhouseStore::Count(const std::string& sql) {
  auto r = client_.Query(sql);
  if (!r.ok()) return r.status();
  return std::strtoull(r->c_str(), nullptr, 10);
}

Result<uint64_t> ClickhouseStore::CountEvents() { return Count("SELECT count() FROM events"); }

namespace {

std::string BatchKey(const SensorBatch& b) {
  return "(" + Quote(b.sensor_id) + ", " + std::to_string(b.epoch) + ", " + std::to_string(b.seq) +
         ")";
}

// "sensor\tepoch\tseq" lines of a query's output, as BatchKey strings.
std::vector<std::string> KeysOf(const std::string& tsv) {
  std::vector<std::string> out;
  std::istringstream in(tsv);
  std::string sensor, epoch, seq;
  while (in >> sensor >> epoch >> seq) {
    // Appended piece by piece: `"(" + std::string&&` trips GCC 12's false -Wrestrict.
    std::string k = "(";
    k.append(Quote(sensor)).append(", ").append(epoch).append(", ").append(seq).append(")");
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace

void AppendEventRows(const SensorBatch& b, clickhouse::RowBinary* rows) {
  for (size_t i = 0; i < b.events.size(); ++i) {
    const model::Event& e = b.events[i];
    rows->I64(e.ts_us);
    rows->U16(static_cast<uint16_t>(rollup::BucketStart(e.ts_us / 1000000, 86400) / 86400));
    rows->String(b.sensor_id);
    rows->U8(e.proto);
    rows->U8(e.src.family);
    rows->FixedString(std::string_view(reinterpret_cast<const char*>(e.src.bytes), 16), 16);
    rows->FixedString(std::string_view(reinterpret_cast<const char*>(e.dst.bytes), 16), 16);
    rows->U16(e.sport);
    rows->U16(e.dport);
    model::ForEachField<model::kAllFields>([&](auto k) {
      constexpr size_t idx = decltype(k)::value;
      if constexpr (kNumberFields[idx].bytes == 1) {
        rows->U8(static_cast<uint8_t>(kNumberFields[idx].get(e)));
      } else if constexpr (kNumberFields[idx].bytes == 2) {
        rows->U16(static_cast<uint16_t>(kNumberFields[idx].get(e)));
      } else {
        rows->U32(kNumberFields[idx].get(e));
      }
    });
    rows->U8(static_cast<uint8_t>(e.labels.kind));
    rows->U8(static_cast<uint8_t>(e.labels.tool));
    rows->U8(e.labels.spoof);
    const bool enriched = !b.sources.empty() && b.sources[i].country[0];
    rows->FixedString(enriched ? std::string_view(b.sources[i].country, 2) : "", 2);
    rows->U32(enriched ? b.sources[i].asn : 0);
    rows->U64(b.epoch);
    rows->U64(b.seq);
    rows->U8(b.sources.empty() ? 0 : b.sources[i].research);
  }
}

size_t AppendRollupRows(const SensorBatch& b, clickhouse::RowBinary* rows,
                        rollup::Aggregator* agg) {
  rollup::Aggregator own;
  if (!agg) agg = &own;
  agg->Add(b.events, b.sources, 0);
  std::vector<rollup::Row> rows_r = agg->TakeUnsorted();  // ClickHouse sorts on insert
  size_t n = 0;
  auto put = [&](rollup::Resolution r, const rollup::Row& row, int64_t bucket,
                 const std::string& srcs, const std::string& dsts) {
    const rollup::RowKey& k = row.key;
    rows->U8(static_cast<uint8_t>(r));
    rows->U8(static_cast<uint8_t>(k.family));
    rows->U64(k.key);
    rows->I64(bucket);
    rows->U16(static_cast<uint16_t>(rollup::BucketStart(bucket, 86400) / 86400));
    rows->String(b.sensor_id);
    rows->U8(k.proto);
    rows->U8(k.kind);
    rows->U8(k.tool);
    rows->U8(k.research);
    rows->U64(row.value.packets);
    rows->I64(row.value.first_us);
    rows->I64(row.value.last_us);
    rows->String(srcs);
    rows->String(dsts);
    rows->U64(b.epoch);
    rows->U64(b.seq);
    rows->U8(k.spoof);
    ++n;
  };
  // A batch is seconds of traffic: its 5-minute rows are nearly always in one bucket, and then
  // its hourly and daily rows are the same rows in the hour's and day's bucket — written from
  // one serialization, without coarsening.
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const rollup::Row& row : rows_r) {
    if (rollup::Finest(row.key.family) != rollup::Resolution::k5m) continue;
    lo = std::min(lo, row.key.bucket);
    hi = std::max(hi, row.key.bucket);
  }
  if (lo == hi || lo == INT64_MAX) {
    for (const rollup::Row& row : rows_r) {
      const std::string srcs = row.value.sources.Serialize();
      const std::string dsts = row.value.destinations.Serialize();
      for (rollup::Resolution r : rollup::kResolutions) {
        if (r < rollup::Finest(row.key.family)) continue;
        put(r, row, rollup::BucketStart(row.key.bucket, rollup::Seconds(r)), srcs, dsts);
      }
    }
    return n;
  }
  for (rollup::Resolution r : rollup::kResolutions) {
    if (r != rollup::Resolution::k5m) rows_r = rollup::Coarsen(std::move(rows_r), r, false);
    for (const rollup::Row& row : rows_r) {
      if (r < rollup::Finest(row.key.family)) continue;
      put(r, row, row.key.bucket, row.value.sources.Serialize(),
          row.value.destinations.Serialize());
    }
  }
  return n;
}

Result<std::vector<BatchOutcome>> ClickhouseStore::CommitBatches(
    std::span<SensorBatch* const> batches, int64_t now_us) {
  std::vector<BatchOutcome> out(batches.size(), BatchOutcome::kStored);
  if (batches.empty()) return out;
  std::string keys;
  for (SensorBatch* b : batches) keys += (keys.empty() ? "" : ", ") + BatchKey(*b);
  const std::string where = "(sensor, epoch, seq) IN (" + keys + ")";
  // One query each for the group: which batches are stored (marked), and which were begun
  // by an earlier attempt that did not get as far as the mark (intent without mark).
  auto marked = client_.Query("SELECT sensor, epoch, seq FROM batches WHERE " + where);
  if (!marked.ok()) return marked.status();
  auto begun = client_.Query("SELECT DISTINCT sensor, epoch, seq FROM intents WHERE " + where);
  if (!begun.ok()) return begun.status();
  const std::vector<std::string> done = KeysOf(marked.value());
  const std::vector<std::string> started = KeysOf(begun.value());
  auto in = [](const std::vector<std::string>& v, const std::string& k) {
    return std::find(v.begin(), v.end(), k) != v.end();
  };
  // First what each batch needs: nothing (stored), everything (new), or what an earlier
  // attempt did not get to (begun: intent without mark).
  enum Need : uint8_t { kEvents = 1, kRollups = 2, kIntent = 4 };
  std::vector<uint8_t> need(batches.size(), 0);
  rollups_.clear();  // of begun batches now; of new ones in new_rollups_ below
  new_rollups_.clear();
  rows_.clear();
  for (size_t i = 0; i < batches.size(); ++i) {
    const SensorBatch& b = *batches[i];
    const std::string key = BatchKey(b);
    bool dup = in(done, key);
    for (size_t k = 0; k < i && !dup; ++k) {  // the same batch twice in one group
      dup = out[k] == BatchOutcome::kStored && BatchKey(*batches[k]) == key;
    }
    if (dup) {
      out[i] = BatchOutcome::kDuplicate;
      continue;
    }
    if (!in(started, key)) {
      need[i] = kEvents | kRollups | kIntent;
      continue;
    }
    // An earlier attempt stopped part way: count what it left (tagged with the batch).
    clickhouse::RowBinary batch_rollups;
    const size_t rollup_rows = AppendRollupRows(b, &batch_rollups);
    const std::string tag = "sensor = " + Quote(b.sensor_id) +
                            " AND batch_epoch = " + std::to_string(b.epoch) +
                            " AND batch_seq = " + std::to_string(b.seq);
    auto ev = Count("SELECT count() FROM events WHERE " + tag);
    if (!ev.ok()) return ev.status();
    auto ro = Count("SELECT count() FROM rollups WHERE " + tag);
    if (!ro.ok()) return ro.status();
    if ((ev.value() != 0 && ev.value() != b.events.size()) ||
        (ro.value() != 0 && ro.value() != rollup_rows)) {
      // A server killed inside one INSERT left part of the batch (on some shards, or some
      // blocks). Remove what there is of it everywhere, wait until that is done, and store it
      // whole: exactly once, with no operator step.
      ISDAS_RETURN_IF_ERROR(DeleteWhere("events", tag));
      ISDAS_RETURN_IF_ERROR(DeleteWhere("rollups", tag));
      ISDAS_RETURN_IF_ERROR(WaitForMutations());
      auto ev2 = Count("SELECT count() FROM events WHERE " + tag);
      if (!ev2.ok()) return ev2.status();
      auto ro2 = Count("SELECT count() FROM rollups WHERE " + tag);
      if (!ro2.ok()) return ro2.status();
      if (ev2.value() != 0 || ro2.value() != 0) {
        return Internal("batch " + b.sensor_id + "/" + std::to_string(b.seq) +
                        ": its partial rows are still there after their deletion");
      }
      ++repaired_;
      std::fprintf(stderr,
                   "clickhouse: batch %s/%llu/%llu was partly stored (%llu of %zu events, %llu "
                   "of %zu rollup rows): removed and stored again (%llu repaired so far)\n",
                   b.sensor_id.c_str(), static_cast<unsigned long long>(b.epoch),
                   static_cast<unsigned long long>(b.seq),
                   static_cast<unsigned long long>(ev.value()), b.events.size(),
                   static_cast<unsigned long long>(ro.value()), rollup_rows,
                   static_cast<unsigned long long>(repaired_));
      need[i] = kEvents | kRollups;
      rollups_.Append(batch_rollups);
      continue;
    }
    need[i] = (ev.value() == 0 ? kEvents : 0) | (ro.value() == 0 ? kRollups : 0);
    if (need[i] & kRollups) rollups_.Append(batch_rollups);
  }
  // The new batches' rollup rows are counted on a second thread while this one encodes and
  // sends the events (joined before the rollups are sent).
  std::thread count_rollups([&] {
    for (size_t i = 0; i < batches.size(); ++i)
      if (need[i] & kIntent) AppendRollupRows(*batches[i], &new_rollups_, &agg_);
  });
  clickhouse::RowBinary intents, marks, names;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (out[i] == BatchOutcome::kDuplicate) continue;
    const SensorBatch& b = *batches[i];
    if (need[i] & kIntent) {
      intents.String(b.sensor_id);
      intents.U64(b.epoch);
      intents.U64(b.seq);
      intents.I64(now_us);
    }
    if (need[i] & kEvents) AppendEventRows(b, &rows_);
    marks.String(b.sensor_id);
    marks.U64(b.epoch);
    marks.U64(b.seq);
    marks.U32(static_cast<uint32_t>(b.events.size()));
    marks.U32(b.rules_version);
    marks.I64(now_us);
    marks.String(b.geo_version);
    for (const auto& [asn, name] : b.as_names) {
      names.U32(asn);
      names.String(name);
    }
  }
  // Intent, events, rollups, then the marks: a crash anywhere leaves an intent, and the next
  // attempt counts what is there instead of inserting it again.
  Status sent;
  if (!intents.data().empty()) sent = client_.InsertRowBinary("intents", intents.data());
  if (sent.ok() && !rows_.data().empty()) sent = client_.InsertRowBinary("events", rows_.data());
  count_rollups.join();
  ISDAS_RETURN_IF_ERROR(sent);
  for (const clickhouse::RowBinary* r : {&rollups_, &new_rollups_}) {  // each batch's in one
    if (!r->data().empty()) ISDAS_RETURN_IF_ERROR(client_.InsertRowBinary("rollups", r->data()));
  }
  if (!names.data().empty())
    ISDAS_RETURN_IF_ERROR(client_.InsertRowBinary("as_names", names.data()));
  if (!marks.data().empty())
    ISDAS_RETURN_IF_ERROR(client_.InsertRowBinary("batches", marks.data()));
  return out;
}

Result<ExpireReport> ClickhouseStore::Expire(const Retention& ret, int64_t now_us) {
  // ALTER ... DELETE is a mutation that ClickHouse applies in the background; the report
  // counts the rows it was asked to remove.
  ExpireReport rep;
  const int64_t raw = RetentionCutoff(ret.raw_days, now_us);
  if (raw != INT64_MIN) {
    const std::string cond = "ts < " + std::to_string(raw * 1000000);
    auto n = Count("SELECT count() FROM events WHERE " + cond);
    if (!n.ok()) return n.status();
    if (n.value() > 0) ISDAS_RETURN_IF_ERROR(DeleteWhere("events", cond));
    rep.events = n.value();
  }
  for (rollup::Resolution r : rollup::kResolutions) {
    const int64_t cut = RetentionCutoff(ret.days(static_cast<int>(r)), now_us);
    if (cut == INT64_MIN) continue;
    const std::string cond = "res = " + std::to_string(static_cast<int>(r)) +
                             " AND bucket <= " + std::to_string(cut - rollup::Seconds(r));
    auto n = Count("SELECT count() FROM rollups WHERE " + cond);
    if (!n.ok()) return n.status();
    if (n.value() > 0) ISDAS_RETURN_IF_ERROR(DeleteWhere("rollups", cond));
    rep.rollup_rows[static_cast<int>(r)] = n.value();
  }
  return rep;
}

Status ClickhouseStore::DeleteWhere(const std::string& table, const std::string& cond) {
  if (endpoint_.cluster.empty()) {
    return client_.Query("ALTER TABLE " + table + " DELETE WHERE " + cond).status();
  }
  for (const std::string& shard : endpoint_.shards) {  // mutations run on the local tables
    clickhouse::Endpoint se = endpoint_;
    const size_t colon = shard.rfind(':');
    se.host = shard.substr(0, colon);
    se.port = std::atoi(shard.c_str() + colon + 1);
    clickhouse::Client sc(se);
    ISDAS_RETURN_IF_ERROR(
        sc.Query("ALTER TABLE " + table + "_local DELETE WHERE " + cond).status());
  }
  return Status::Ok();
}

Status ClickhouseStore::WaitForMutations() {
  std::vector<clickhouse::Endpoint> servers;
  if (endpoint_.cluster.empty()) {
    servers.push_back(endpoint_);
  } else {
    for (const std::string& shard : endpoint_.shards) {
      clickhouse::Endpoint se = endpoint_;
      const size_t colon = shard.rfind(':');
      se.host = shard.substr(0, colon);
      se.port = std::atoi(shard.c_str() + colon + 1);
      servers.push_back(se);
    }
  }
  const std::string sql =
      "SELECT count() FROM system.mutations WHERE database = " + Quote(endpoint_.database) +
      " AND is_done = 0";
  for (const auto& se : servers) {
    clickhouse::Client sc(se);
    for (int i = 0;; ++i) {
      auto r = sc.Query(sql);
      if (!r.ok()) return r.status();
      if (r.value() == "0\n") break;
      if (i >= 1200) {
        return Status(ErrorKind::kUnavailable, "ClickHouse at " + se.host + ":" +
                                                   std::to_string(se.port) +
                                                   " has not applied a deletion within 120 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return Status::Ok();
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

namespace isdas::storage {
namespace {

std::string ChRollupFrom(int res) { return "rollups WHERE res = " + std::to_string(res) + " AND"; }

std::string ChSourceIs(const model::IpAddr& a) {
  static const char kHex[] = "0123456789abcdef";
  std::string s = "family = " + std::to_string(a.family) + " AND src = unhex('";
  for (size_t i = 0; i < 16; ++i) {
    s.push_back(kHex[a.bytes[i] >> 4]);
    s.push_back(kHex[a.bytes[i] & 15]);
  }
  return s + "')";
}

const SqlDialect kChDialect{ChRollupFrom, true, ChSourceIs, false, Quote, false};

// TabSeparated escapes (\t \n \\ \0 \b \f \r \' and the like) undone.
std::string Unescape(std::string_view f) {
  std::string out;
  out.reserve(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '\\' || i + 1 == f.size()) {
      out.push_back(f[i]);
      continue;
    }
    const char c = f[++i];
    out.push_back(c == 't'   ? '\t'
                  : c == 'n' ? '\n'
                  : c == 'r' ? '\r'
                  : c == '0' ? '\0'
                  : c == 'b' ? '\b'
                  : c == 'f' ? '\f'
                             : c);
  }
  return out;
}

}  // namespace

const SqlDialect& ClickhouseStore::dialect() const { return kChDialect; }

Result<Rows> ClickhouseStore::Select(const std::string& sql) {
  auto r = client_.Query(sql + " FORMAT TabSeparated");
  if (!r.ok()) return r.status();
  Rows rows;
  std::string_view text = r.value();
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::vector<std::string>& row = rows.emplace_back();
    for (;;) {
      const size_t tab = line.find('\t');
      row.push_back(Unescape(line.substr(0, tab)));
      if (tab == std::string_view::npos) break;
      line = line.substr(tab + 1);
    }
  }
  return rows;
}

}  // namespace isdas::storage
