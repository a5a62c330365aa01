// The SQLite store's schema and its migrations (docs/storage-sqlite.md#schema-versions):
// opening a store, making a new one, and bringing an older one up to date a step at a time.

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "storage/event_blocks.h"
#include "storage/events_table.h"
#include "storage/sqlite_store.h"
#include "storage/sqlite_util.h"

namespace isdas::storage {
namespace {

constexpr int kSchemaVersion = 10;
constexpr size_t kImportBlockEvents = 16384;  // old events are moved into blocks of this

// Column meanings: docs/storage-sqlite.md. Addresses are 4- or 16-byte BLOBs in network
// order, so they compare and index as numbers do.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS imports(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  format TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  started_us INTEGER NOT NULL,
  finished_us INTEGER NOT NULL,
  records INTEGER NOT NULL,
  packets INTEGER NOT NULL,
  events INTEGER NOT NULL,
  anomalies INTEGER NOT NULL,
  rules_version INTEGER NOT NULL,
  error TEXT,
  error_offset INTEGER,
  geo_version TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS imports_sha256 ON imports(sha256);
CREATE TABLE IF NOT EXISTS import_counters(
  import_id INTEGER NOT NULL REFERENCES imports(id),
  name TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY(import_id, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_blocks(
  id INTEGER PRIMARY KEY,
  import_id INTEGER NOT NULL,
  ts_min INTEGER NOT NULL,
  ts_max INTEGER NOT NULL,
  events INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS event_blocks_ts ON event_blocks(ts_max, ts_min);
CREATE TABLE IF NOT EXISTS sensors(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL,
  last_heartbeat_us INTEGER NOT NULL DEFAULT 0,
  batches INTEGER NOT NULL DEFAULT 0,
  events INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sensor_counters(
  sensor INTEGER NOT NULL REFERENCES sensors(id),
  name TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY(sensor, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batches(
  sensor INTEGER NOT NULL REFERENCES sensors(id),
  epoch INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  events INTEGER NOT NULL,
  rules_version INTEGER NOT NULL,
  received_us INTEGER NOT NULL,
  geo_version TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(sensor, epoch, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS as_names(asn INTEGER PRIMARY KEY, name TEXT NOT NULL);
)sql";

// Rollup rows are kept in packs (rollup_packs.h, rollup_<res>_packs); beside them, per
// resolution (`{r}` is 5m, 1h or 1d):
constexpr const char* kRollupSchema = R"sql(
CREATE TABLE IF NOT EXISTS port_totals_{r}(
  bucket INTEGER NOT NULL,
  sensor INTEGER NOT NULL,
  proto INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  tool INTEGER NOT NULL,
  research INTEGER NOT NULL,
  spoof INTEGER NOT NULL,
  head BLOB NOT NULL,
  counts BLOB NOT NULL,
  PRIMARY KEY(bucket, sensor, proto, kind, tool, research, spoof)) WITHOUT ROWID;
)sql";

// The store's schema version (PRAGMA user_version; 0 for a new file). A file that is not a
// database fails here, at the first read; one newer than this isdas is refused.
Result<int> SchemaVersion(sqlite3* db, const std::string& path) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) != SQLITE_OK) {
    return Corruption("not an isdas database: " + path + ": " + sqlite3_errmsg(db));
  }
  int v = 0;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (v > kSchemaVersion) {
    return Corruption(path + " has schema version " + std::to_string(v) +
                      ", newer than this isdas (" + std::to_string(kSchemaVersion) + ")");
  }
  return v;
}

}  // namespace

// Each step brings the store from `from` to `to` inside one transaction, which also records
// `to`: a crash leaves the previous version, and the next open runs the step again.
const SqliteStore::Migration SqliteStore::kMigrations[] = {
    {1, 2, "source enrichment columns", &SqliteStore::AddEnrichmentColumns},
    {2, 3, "the research-scanner flag; rollups made from the events",
     &SqliteStore::AddResearchFlag},
    {3, 4, "events in blocks", &SqliteStore::EventsToBlocks},
    {4, 6, "rollup rows in packs", &SqliteStore::RollupsToPacks},
    {5, 6, "rollup rows in packs", &SqliteStore::RollupsToPacks},
    {6, 7, "the packs' deltas tables", &SqliteStore::AddPackDeltas},
    {7, 8, "the GeoIP data version of each import", &SqliteStore::AddImportGeoVersion},
    {8, 9, "coarse rollup buckets (8, 64 and 512 days)", &SqliteStore::AddCoarseRollups},
    {9, 10, "the spoof bits in the port totals' key", &SqliteStore::SpoofInPortTotals},
};

Status SqliteStore::Migrate(int from, int to) {
  // The whole way first: a version it cannot reach changes nothing.
  std::vector<const Migration*> steps;
  for (int v = from; v < to;) {
    const Migration* m = nullptr;
    for (const Migration& c : kMigrations) {
      if (c.from == v) m = &c;
    }
    if (!m || m->to > to) {
      return InvalidArgument(path_ + ": no migration from schema version " + std::to_string(v) +
                             " to " + std::to_string(to));
    }
    steps.push_back(m);
    v = m->to;
  }
  for (const Migration* m : steps) {
    ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = (this->*m->step)();
    if (s.ok()) s = Exec(("PRAGMA user_version=" + std::to_string(m->to)).c_str());
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return Status(s.kind(), "migrating " + path_ + " from schema version " +
                                  std::to_string(m->from) + " to " + std::to_string(m->to) + " (" +
                                  m->what + "): " + s.message());
    }
  }
  return Status::Ok();
}

// Version 2 added source enrichment (docs/geo.md): new columns go at the end, exactly where a
// fresh schema of that version had them.
Status SqliteStore::AddEnrichmentColumns() {
  return Exec(
      "ALTER TABLE events ADD COLUMN src_country TEXT NOT NULL DEFAULT '';"
      "ALTER TABLE events ADD COLUMN src_asn INTEGER NOT NULL DEFAULT 0;"
      "ALTER TABLE batches ADD COLUMN geo_version TEXT NOT NULL DEFAULT ''");
}

// Version 3 added the research-scanner flag and the rollups, made from the events already
// stored: once the later steps have made today's rollup tables (RebuildRollupsIfAsked).
Status SqliteStore::AddResearchFlag() {
  return Exec(
      "ALTER TABLE events ADD COLUMN src_research INTEGER NOT NULL DEFAULT 0;"
      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "INSERT OR REPLACE INTO meta VALUES('rollups_from_events', '1')");
}

// Version 4 stores events in blocks (docs/storage-sqlite.md#events-in-blocks).
Status SqliteStore::EventsToBlocks() {
  ISDAS_RETURN_IF_ERROR(Exec(kSchema));  // event_blocks
  Status s;
  {
    // The rows in their order, a block per run of one import (kImportBlockEvents at most).
    Stmt st;
    if (sqlite3_prepare_v2(db_,
                           "SELECT ts, sensor, proto, src, dst, sport, dport, icmp_type, "
                           "icmp_code, tcp_flags, ttl, ip_id, ip_len, tcp_seq, tcp_win, "
                           "tcp_optlen, tcp_mss, flags, kind, tool, spoof, import_id, "
                           "src_country, src_asn, src_research FROM events ORDER BY rowid",
                           -1, &st.s, nullptr) != SQLITE_OK) {
      s = Error("read old events in");
    }
    std::vector<model::Event> ev;
    std::vector<SourceInfo> src;
    int64_t import_id = 0;
    auto flush = [&] {
      if (s.ok() && !ev.empty()) s = InsertEvents(ev, src, -1, import_id);
      ev.clear();
      src.clear();
    };
    auto addr = [&](int col, model::IpAddr* a) {
      const int n = sqlite3_column_bytes(st.s, col);
      const auto* b = static_cast<const uint8_t*>(sqlite3_column_blob(st.s, col));
      if (n == 4) a->SetV4(b);
      if (n == 16) a->SetV6(b);
    };
    int rc = SQLITE_DONE;
    while (s.ok() && (rc = sqlite3_step(st.s)) == SQLITE_ROW) {
      const int64_t imp = sqlite3_column_int64(st.s, 21);
      if (imp != import_id || ev.size() == kImportBlockEvents) flush();
      import_id = imp;
      model::Event& e = ev.emplace_back();
      auto col = [&](int c) { return sqlite3_column_int64(st.s, c); };
      e.ts_us = col(0);
      e.sensor_id = static_cast<uint32_t>(col(1));
      e.proto = static_cast<uint8_t>(col(2));
      addr(3, &e.src);
      addr(4, &e.dst);
      e.sport = static_cast<uint16_t>(col(5));
      e.dport = static_cast<uint16_t>(col(6));
      e.icmp_type = static_cast<uint8_t>(col(7));
      e.icmp_code = static_cast<uint8_t>(col(8));
      e.tcp_flags = static_cast<uint8_t>(col(9));
      e.ttl = static_cast<uint8_t>(col(10));
      e.ip_id = static_cast<uint32_t>(col(11));
      e.ip_len = static_cast<uint32_t>(col(12));
      e.tcp_seq = static_cast<uint32_t>(col(13));
      e.tcp_win = static_cast<uint16_t>(col(14));
      e.tcp_optlen = static_cast<uint8_t>(col(15));
      e.tcp_mss = static_cast<uint16_t>(col(16));
      e.flags = static_cast<uint8_t>(col(17));
      e.labels.kind = static_cast<model::TrafficKind>(col(18));
      e.labels.tool = static_cast<model::Tool>(col(19));
      e.labels.spoof = static_cast<uint8_t>(col(20));
      SourceInfo& i = src.emplace_back();
      if (sqlite3_column_bytes(st.s, 22) == 2) {
        std::memcpy(i.country, sqlite3_column_text(st.s, 22), 2);
      }
      i.asn = static_cast<uint32_t>(col(23));
      i.research = static_cast<uint8_t>(col(24));
    }
    if (s.ok() && rc != SQLITE_DONE) s = Error("read old events in");
    flush();
  }
  if (s.ok()) s = Exec("DROP TABLE events");
  return s;
}

// Version 6 keeps rollup rows in packs (versions 3 and 4 had tables keyed (family, key,
// bucket, …), version 5 (family, bucket, key, …)).
Status SqliteStore::RollupsToPacks() {
  // The three tables in the step's one transaction: a crash leaves the old tables and version,
  // and the next open starts again. The rows are read in the packs' order (version 5's key;
  // older tables are sorted by SQLite in temporary files), so each pack is written once. Every
  // rollup row is copied once: minutes per GB (docs/storage-sqlite.md), so say what goes on.
  std::fprintf(stderr,
               "isdas: %s: moving the rollup rows into packs (schema version 6); this copies "
               "every rollup row once and can take minutes per GB\n",
               path_.c_str());
  ISDAS_RETURN_IF_ERROR(Exec(PacksSchema().c_str()));  // (with version 7's deltas: the writer's)
  Status s;
  for (rollup::Resolution r : rollup::kResolutions) {
    const std::string t = "rollup_" + std::string(rollup::Name(r));
    auto exists = Select("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '" + t + "'");
    if (!exists.ok()) {
      s = exists.status();
      break;
    }
    if (exists->empty()) continue;
    PackWriter w;
    s = w.Prepare(db_, r);
    Stmt st;
    if (s.ok() && sqlite3_prepare_v2(
                      db_,
                      ("SELECT family, key, bucket, sensor, proto, kind, tool, research, "
                       "packets, first_us, last_us, srcs, dsts FROM main." +
                       t + " ORDER BY family, bucket, key, sensor, proto, kind, tool, research")
                          .c_str(),
                      -1, &st.s, nullptr) != SQLITE_OK) {
      s = Error("read old rollups in");
    }
    StoredRows rows;
    uint64_t written = 0;
    auto blob = [&st](int col) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(st.s, col));
      return std::string_view(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st.s, col)));
    };
    int rc = SQLITE_DONE;
    while (s.ok() && (rc = sqlite3_step(st.s)) == SQLITE_ROW) {
      rollup::RowKey k;
      k.family = static_cast<rollup::Family>(sqlite3_column_int(st.s, 0));
      k.key = static_cast<uint64_t>(sqlite3_column_int64(st.s, 1));
      k.bucket = sqlite3_column_int64(st.s, 2);
      k.sensor = static_cast<uint32_t>(sqlite3_column_int64(st.s, 3));
      k.proto = static_cast<uint8_t>(sqlite3_column_int(st.s, 4));
      k.kind = static_cast<uint8_t>(sqlite3_column_int(st.s, 5));
      k.tool = static_cast<uint8_t>(sqlite3_column_int(st.s, 6));
      k.research = static_cast<uint8_t>(sqlite3_column_int(st.s, 7));
      rows.Add(k, static_cast<uint64_t>(sqlite3_column_int64(st.s, 8)),
               sqlite3_column_int64(st.s, 9), sqlite3_column_int64(st.s, 10), blob(11), blob(12));
      // A pack cut between two writes is merged by the second: any batch size is right.
      if (rows.size() >= 500000) {
        s = w.Write(rows, &written);
        rows = StoredRows();
      }
    }
    if (s.ok() && rc != SQLITE_DONE) s = Error("read old rollups in");
    if (s.ok()) s = w.Write(rows, &written);
    sqlite3_finalize(st.s);  // before the DROP: an open read would hold the table
    st.s = nullptr;
    if (s.ok()) s = Exec(("DROP TABLE main." + t).c_str());
    if (!s.ok()) break;
  }
  return s;
}

// Version 8 records the GeoIP data an import's sources were enriched with ('' for the imports
// before it: they were not enriched).
Status SqliteStore::AddImportGeoVersion() {
  // (A store from before imports were kept got today's table at version 4.)
  auto has = Select("SELECT count(*) FROM pragma_table_info('imports') WHERE name = 'geo_version'");
  if (!has.ok()) return has.status();
  if (has.value()[0][0] != "0") return Status::Ok();
  return Exec("ALTER TABLE imports ADD COLUMN geo_version TEXT NOT NULL DEFAULT ''");
}

// Version 9 added the coarse buckets (docs/rollups.md#coarse-buckets): their tables now; their
// rows are made from the daily ones once the writer is ready (BuildCoarseIfAsked). A
// collector's store folds only its closed days (the days before its closed mark's); an
// import's, every day.
Status SqliteStore::AddCoarseRollups() {
  ISDAS_RETURN_IF_ERROR(Exec(PacksSchema().c_str()));
  for (rollup::Resolution r : rollup::kCoarse) {
    ISDAS_RETURN_IF_ERROR(Exec(ForResolution(kRollupSchema, r).c_str()));
  }
  auto mark = Select("SELECT value FROM meta WHERE key = 'rollup_closed_5m'");
  if (!mark.ok()) return mark.status();
  if (!mark->empty()) {
    const int64_t through =
        rollup::BucketStart(std::strtoll(mark.value()[0][0].c_str(), nullptr, 10), 86400);
    ISDAS_RETURN_IF_ERROR(Exec(("INSERT OR REPLACE INTO meta VALUES('rollup_coarse_through', " +
                                std::to_string(through) + ")")
                                   .c_str()));
  }
  return Exec("INSERT OR REPLACE INTO meta VALUES('coarse_from_daily', '1')");
}

// Version 10 keys the port totals by the spoof bits too (the rollup rows carry them since
// 2026-12-08): each table is made again with the column, its blobs moved as not suspected (the
// rows of a store written before carry no spoof bits either: they read as 0).
Status SqliteStore::SpoofInPortTotals() {
  for (rollup::Resolution r : rollup::kAllResolutions) {
    const std::string t = "port_totals_" + std::string(rollup::Name(r));
    auto exists = Select("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '" + t + "'");
    if (!exists.ok()) return exists.status();
    if (exists->empty()) continue;  // made with today's schema when the store opens
    ISDAS_RETURN_IF_ERROR(Exec(("ALTER TABLE " + t + " RENAME TO old_" + t).c_str()));
    ISDAS_RETURN_IF_ERROR(Exec(ForResolution(kRollupSchema, r).c_str()));
    ISDAS_RETURN_IF_ERROR(
        Exec(("INSERT INTO " + t +
              " SELECT bucket, sensor, proto, kind, tool, research, 0, head, counts FROM old_" + t +
              "; DROP TABLE old_" + t)
                 .c_str()));
  }
  return Status::Ok();
}

// Version 7 added the packs' deltas tables: made, nothing to move.
Status SqliteStore::AddPackDeltas() { return Exec(PacksSchema().c_str()); }

Status SqliteStore::CreateSchema() {
  ISDAS_RETURN_IF_ERROR(Exec(kSchema));
  ISDAS_RETURN_IF_ERROR(Exec(PacksSchema().c_str()));
  for (rollup::Resolution r : rollup::kAllResolutions) {
    ISDAS_RETURN_IF_ERROR(Exec(ForResolution(kRollupSchema, r).c_str()));
  }
  return Status::Ok();
}

Status SqliteStore::RebuildRollupsIfAsked() {
  auto asked = Select("SELECT 1 FROM meta WHERE key = 'rollups_from_events'");
  if (!asked.ok()) return asked.status();
  if (asked->empty()) return Status::Ok();
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = ScanEvents(INT64_MIN, [this](auto ev, auto src, uint32_t sensor) {
    aggregator_.Add(ev, src, sensor);
    return aggregator_.size() > rollups_.max_pending_rows() ? rollups_.WriteAggregated(&aggregator_)
                                                            : Status::Ok();
  });
  if (s.ok()) s = rollups_.WriteAggregated(&aggregator_);
  if (s.ok()) s = Exec("DELETE FROM meta WHERE key = 'rollups_from_events'");
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) {
    (void)aggregator_.Take();
    (void)Exec("ROLLBACK");
  }
  return s;
}

Status SqliteStore::BuildCoarseIfAsked() {
  auto asked = Select("SELECT 1 FROM meta WHERE key = 'coarse_from_daily'");
  if (!asked.ok()) return asked.status();
  if (asked->empty()) return Status::Ok();
  std::fprintf(stderr,
               "isdas: %s: making the coarse rollup buckets from the daily ones (schema version "
               "9); this reads every daily rollup row once\n",
               path_.c_str());
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = rollups_.RebuildCoarse();
  if (s.ok()) s = Exec("DELETE FROM meta WHERE key = 'coarse_from_daily'");
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");
  return s;
}

Result<std::unique_ptr<ReadStore>> SqliteStore::OpenForReading(const std::string& data_dir) {
  auto s = OpenReadOnly(data_dir);
  if (!s.ok()) return s.status();
  return std::unique_ptr<ReadStore>(std::move(s.value()));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::OpenReadOnly(const std::string& data_dir) {
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  std::unique_ptr<SqliteStore> s(new SqliteStore());
  s->path_ = data_dir + "/isdas.sqlite";
  struct stat st;
  if (stat(s->path_.c_str(), &st) != 0) return ErrnoError("open store " + s->path_, errno);
  if (sqlite3_open_v2(s->path_.c_str(), &s->db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return s->Error("open");
  }
  sqlite3_busy_timeout(s->db_, 10000);
  ISDAS_RETURN_IF_ERROR(s->Exec("PRAGMA cache_size=-65536;"));
  auto version = SchemaVersion(s->db_, s->path_);
  if (!version.ok()) return version.status();
  const int user_version = version.value();
  if (user_version != kSchemaVersion) {
    return InvalidArgument(s->path_ + " has schema version " + std::to_string(user_version) +
                           "; open it once with the collector or `isdas import` to upgrade it to " +
                           std::to_string(kSchemaVersion) + " before serving it");
  }
  if (!RegisterEventsTable(s->db_)) return s->Error("register the events table in");
  if (!RegisterRollupTables(s->db_)) return s->Error("register the rollup tables in");
  return s;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::OpenFile(const std::string& data_dir,
                                                           bool durable) {
  if (mkdir(data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("create data directory " + data_dir, errno);
  }
  // SQLite counts every allocation under one process-wide mutex unless told not to; with
  // several API threads each on its own connection that mutex was contended (perf: 6 % of the
  // query benchmark waking its waiters). Only possible before SQLite's first use.
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  std::unique_ptr<SqliteStore> s(new SqliteStore());
  s->path_ = data_dir + "/isdas.sqlite";
  // NOMUTEX: a SqliteStore is used by one thread at a time (its contract), so SQLite's own
  // per-call mutex would only cost (it was a fifth of the collector's CPU time).
  if (sqlite3_open_v2(s->path_.c_str(), &s->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return s->Error("open");
  }
  sqlite3_busy_timeout(s->db_, 10000);
  // Rollup packs and port totals are read and rewritten as their buckets are written: with
  // SQLite's default 2 MB page cache, the upserts of the rows before packs re-read their
  // B-tree pages from the kernel nearly every time. 64 MB of cache per connection (256 MB
  // stored no faster over 4 M events and took 200 MB more).
  ISDAS_RETURN_IF_ERROR(s->Exec("PRAGMA cache_size=-65536;"));
  ISDAS_RETURN_IF_ERROR(s->Exec(durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                        : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  return s;
}

Status SqliteStore::UpgradeTo(const std::string& data_dir, int to) {
  auto s = OpenFile(data_dir, false);
  if (!s.ok()) return s.status();
  auto version = SchemaVersion((*s)->db_, (*s)->path_);
  if (!version.ok()) return version.status();
  if (version.value() == 0) return InvalidArgument((*s)->path_ + " is a new store");
  return (*s)->Migrate(version.value(), to);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& data_dir, bool durable) {
  auto opened = OpenFile(data_dir, durable);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<SqliteStore> s = std::move(opened.value());
  // Checkpoints (copying the WAL into the database file, and syncing it) on a thread of their
  // own instead of inside the commit that passes SQLite's 1,000 pages — nearly every commit of
  // the collector's (docs/storage-sqlite.md).
  sqlite3_wal_hook(s->db_, &SqliteStore::WalHook, s.get());
  // A file that is not a database fails here, at the first read.
  auto version = SchemaVersion(s->db_, s->path_);
  if (!version.ok()) return version.status();
  if (version.value() != 0) ISDAS_RETURN_IF_ERROR(s->Migrate(version.value(), kSchemaVersion));
  // Today's objects (all of them for a new store; IF NOT EXISTS for the others).
  ISDAS_RETURN_IF_ERROR(s->CreateSchema());
  if (version.value() != kSchemaVersion) {
    ISDAS_RETURN_IF_ERROR(
        s->Exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()));
  }
  // `events` and `rollup_5m` … are the blocks and packs read as tables.
  if (!RegisterEventsTable(s->db_)) return s->Error("register the events table in");
  if (!RegisterRollupTables(s->db_)) return s->Error("register the rollup tables in");
  SqliteStore* self = s.get();
  ISDAS_RETURN_IF_ERROR(s->rollups_.Prepare(
      s->db_, s->path_, [self](int64_t from_us, const SqliteRollupWriter::EventFn& fn) {
        return self->ScanEvents(from_us, fn);
      }));
  ISDAS_RETURN_IF_ERROR(s->RebuildRollupsIfAsked());
  ISDAS_RETURN_IF_ERROR(s->BuildCoarseIfAsked());
  return s;
}

}  // namespace isdas::storage
