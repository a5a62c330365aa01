#include "storage/sqlite_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "rollup/rollup.h"
#include "storage/event_blocks.h"
#include "storage/events_table.h"

namespace isdas::storage {
namespace {

constexpr int kSchemaVersion = 7;
constexpr size_t kImportBlockEvents = 16384;  // an import's events are stored in blocks of this
constexpr int64_t kGraceSeconds = 120;        // a 5-minute bucket closes this long after its end
constexpr int64_t kLiveSeconds = 3600;        // traffic this recent is live (freshness flush)
// A fold lane's queue at most (StartFold waits): a write of the open days at the bound keeps a
// lane busy for seconds, and with three queued the writer, and so counting, waited on it.
constexpr size_t kMaxQueuedFolds = 6;
// WAL pages after which a commit asks the checkpointer to run (SQLite's own default point).
constexpr int kWalCheckpointPages = 1000;
constexpr double kIdleFlushSeconds = 2;  // an idle writer writes open rows at most this often

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
  error_offset INTEGER);
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
  head BLOB NOT NULL,
  counts BLOB NOT NULL,
  PRIMARY KEY(bucket, sensor, proto, kind, tool, research)) WITHOUT ROWID;
)sql";

using rollup::EncodePortCounts;
using rollup::PortCounts;

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string ForResolution(const char* sql, rollup::Resolution r) {
  std::string out = sql;
  const std::string name(rollup::Name(r));
  for (size_t at = out.find("{r}"); at != std::string::npos; at = out.find("{r}", at)) {
    out.replace(at, 3, name);
  }
  return out;
}

// The packs of every family with buckets in [lo, hi] (seconds), as ranges of their ids (the
// packs table's only key).
std::string PacksInBuckets(rollup::Resolution r, int64_t lo, int64_t hi) {
  std::string w;
  for (int f = 0; f < rollup::kFamilies; ++f) {
    int64_t a, b;
    if (!PackIdRange(r, f, f, lo, hi, 0, INT64_MAX, &a, &b)) continue;
    w += (w.empty() ? "(id BETWEEN " : " OR id BETWEEN ") + std::to_string(a) + " AND " +
         std::to_string(b);
  }
  return w.empty() ? "0" : w + ")";
}

// RAII for prepared statements used once.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

}  // namespace

int SqliteStore::WalHook(void* self, sqlite3* db, const char* name, int pages) {
  auto* s = static_cast<SqliteStore*>(self);
  if (pages >= s->wal_hard_pages_) {
    // The checkpoints have not caught up with the commits (a WAL is started over only once
    // one has, between two commits): this commit waits for a whole one, readers and the
    // checkpointer's pass included (up to the busy timeout), so the WAL stays bounded.
    // (SQLITE_BUSY at once while the checkpointer's own pass holds the checkpoint lock: tried
    // again until 2 seconds have passed. A reader that keeps its snapshot past the busy timeout
    // makes one try return SQLITE_BUSY after that timeout: then this commit gives up.)
    const double give_up = SteadySeconds() + 2;
    while (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr) ==
               SQLITE_BUSY &&
           SteadySeconds() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } else if (pages >= kWalCheckpointPages) {
    s->RequestCheckpoint();
  }
  return SQLITE_OK;
}

void SqliteStore::RequestCheckpoint() {
  {
    std::lock_guard lock(ckpt_mu_);
    if (!ckpt_thread_.joinable()) {
      ckpt_thread_ = std::thread([this] { RunCheckpointer(); });
    }
    ckpt_due_ = true;
  }
  ckpt_cv_.notify_one();
}

void SqliteStore::RunCheckpointer() {
  pthread_setname_np(pthread_self(), "isdas-ckpt");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    sqlite3_close_v2(db);
    db = nullptr;  // then the commits' own checkpoints at kWalHardPages keep the WAL bounded
  } else if (sqlite3_exec(db, "PRAGMA journal_mode", nullptr, nullptr, nullptr) != SQLITE_OK) {
    // (A connection checkpoints nothing until it has read the database and found its WAL.)
    sqlite3_close_v2(db);
    db = nullptr;
  }
  std::unique_lock lock(ckpt_mu_);
  for (;;) {
    ckpt_cv_.wait(lock, [this] { return ckpt_due_ || ckpt_stop_; });
    if (ckpt_stop_) break;
    ckpt_due_ = false;
    lock.unlock();
    if (db) {
      const double start = SteadySeconds();
      int log = 0, copied = 0;
      const int rc =
          sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      checkpoint_seconds_.store(
          checkpoint_seconds_.load(std::memory_order_relaxed) + (SteadySeconds() - start),
          std::memory_order_relaxed);
      if (rc == SQLITE_OK && copied > 0) checkpoints_.fetch_add(1, std::memory_order_relaxed);
    }
    lock.lock();
  }
  lock.unlock();
  sqlite3_close_v2(db);
}

SqliteStore::~SqliteStore() {
  JoinCounting();
  StopFoldLanes();
  {
    std::lock_guard lock(ckpt_mu_);
    ckpt_stop_ = true;
  }
  ckpt_cv_.notify_one();
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  if (in_import_) Abandon();
  sqlite3_finalize(insert_block_);
  // The pack writers' statements are finalized after this body, with the members: the
  // connection closes then.
  sqlite3_close_v2(db_);
}

Status SqliteStore::Error(const char* what) {
  return IoError(std::string(what) + " " + path_ + ": " + sqlite3_errmsg(db_));
}

Status SqliteStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = "sqlite " + path_ + ": " + (err ? err : "unknown error");
    sqlite3_free(err);
    return IoError(std::move(m));
  }
  return Status::Ok();
}

namespace {

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

Result<std::unique_ptr<ReadStore>> SqliteStore::OpenForReading(const std::string& data_dir) {
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
  return std::unique_ptr<ReadStore>(std::move(s));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& data_dir, bool durable) {
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
  // stored no faster over 4 M events and took 200 MB more; BENCHMARKS.md).
  ISDAS_RETURN_IF_ERROR(s->Exec("PRAGMA cache_size=-65536;"));
  ISDAS_RETURN_IF_ERROR(s->Exec(durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                        : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  // Checkpoints (copying the WAL into the database file, and syncing it) on a thread of their
  // own instead of inside the commit that passes SQLite's 1,000 pages — nearly every commit of
  // the collector's (docs/storage-sqlite.md).
  sqlite3_wal_hook(s->db_, &SqliteStore::WalHook, s.get());
  // A file that is not a database fails here, at the first read.
  auto version = SchemaVersion(s->db_, s->path_);
  if (!version.ok()) return version.status();
  const int user_version = version.value();
  if (user_version == 1) {
    // Version 2 added source enrichment (docs/geo.md): new columns go at the end, exactly
    // where a fresh schema has them.
    ISDAS_RETURN_IF_ERROR(
        s->Exec("BEGIN; ALTER TABLE events ADD COLUMN src_country TEXT NOT NULL DEFAULT '';"
                "ALTER TABLE events ADD COLUMN src_asn INTEGER NOT NULL DEFAULT 0;"
                "ALTER TABLE batches ADD COLUMN geo_version TEXT NOT NULL DEFAULT ''; COMMIT;"));
  }
  if (user_version == 1 || user_version == 2) {
    // Version 3 added the research-scanner flag and the rollup tables.
    ISDAS_RETURN_IF_ERROR(
        s->Exec("ALTER TABLE events ADD COLUMN src_research INTEGER NOT NULL DEFAULT 0"));
  }
  ISDAS_RETURN_IF_ERROR(s->Exec(kSchema));
  if (sqlite3_prepare_v2(s->db_,
                         "INSERT INTO event_blocks(import_id, ts_min, ts_max, events, data) "
                         "VALUES(?, ?, ?, ?, ?)",
                         -1, &s->insert_block_, nullptr) != SQLITE_OK) {
    return s->Error("prepare insert");
  }
  if (user_version >= 1 && user_version <= 3) {
    // Version 4 stores events in blocks (docs/storage-sqlite.md#events-in-blocks).
    ISDAS_RETURN_IF_ERROR(s->EventsToBlocks());
  }
  // `events` is from here on the blocks read as a table.
  if (!RegisterEventsTable(s->db_)) return s->Error("register the events table in");
  // Version 7 added the packs' deltas tables: made here when missing, nothing to move.
  ISDAS_RETURN_IF_ERROR(s->Exec(PacksSchema().c_str()));
  // `rollup_5m` … are from here on the packs read as tables (a store before version 6 still
  // has real tables of those names, hiding them until RollupsToPacks drops them).
  if (!RegisterRollupTables(s->db_)) return s->Error("register the rollup tables in");
  if (user_version >= 3 && user_version <= 5) {
    // Version 6 keeps rollup rows in packs. Every rollup row is copied once: minutes per GB
    // (docs/storage-sqlite.md), so say what is going on.
    std::fprintf(stderr,
                 "isdas: %s: moving the rollup rows into packs (schema version 6); this copies "
                 "every rollup row once and can take minutes per GB\n",
                 s->path_.c_str());
    ISDAS_RETURN_IF_ERROR(s->RollupsToPacks());
  }
  for (rollup::Resolution r : rollup::kResolutions) {
    ISDAS_RETURN_IF_ERROR(s->Exec(ForResolution(kRollupSchema, r).c_str()));
    ISDAS_RETURN_IF_ERROR(s->packs_[static_cast<int>(r)].Prepare(s->db_, r));
  }
  if (user_version == 1 || user_version == 2) {
    ISDAS_RETURN_IF_ERROR(s->RebuildRollups());
  }
  if (user_version != kSchemaVersion) {
    ISDAS_RETURN_IF_ERROR(
        s->Exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()));
  }
  return s;
}

Result<int64_t> SqliteStore::FindImport(const std::string& sha256) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id FROM imports WHERE sha256=?", -1, &st, nullptr) !=
      SQLITE_OK) {
    return Error("prepare");
  }
  sqlite3_bind_text(st, 1, sha256.data(), static_cast<int>(sha256.size()), SQLITE_TRANSIENT);
  int64_t id = 0;
  if (sqlite3_step(st) == SQLITE_ROW) id = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return id;
}

Status SqliteStore::BeginImport() {
  if (in_import_) return Internal("BeginImport called twice");
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  in_import_ = true;
  // Ids are taken inside the write transaction, so two importers cannot pick the same one.
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT COALESCE(MAX(id),0)+1 FROM imports", -1, &st, nullptr) !=
      SQLITE_OK) {
    Status s = Error("prepare");
    Abandon();
    return s;
  }
  if (sqlite3_step(st) == SQLITE_ROW) import_id_ = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return Status::Ok();
}

Status SqliteStore::Append(std::span<const model::Event> events) {
  if (!in_import_) return Internal("Append outside an import");
  import_events_.insert(import_events_.end(), events.begin(), events.end());
  if (import_events_.size() >= kImportBlockEvents) {
    ISDAS_RETURN_IF_ERROR(InsertEvents(import_events_, {}, -1, import_id_));
    import_events_.clear();
  }
  aggregator_.Add(events);
  // Bounded memory: long imports write their rollups in steps (upserts merge them).
  if (aggregator_.size() > max_pending_rows_) return WriteRollups(&aggregator_);
  return Status::Ok();
}

// One block (event_blocks.h) per kMaxBlockEvents events; sensor < 0: each event's own id.
Status SqliteStore::InsertEvents(std::span<const model::Event> events,
                                 std::span<const SourceInfo> sources, int64_t sensor,
                                 int64_t import_id) {
  for (size_t at = 0; at < events.size(); at += kMaxBlockEvents) {
    const size_t n = std::min(kMaxBlockEvents, events.size() - at);
    const auto ev = events.subspan(at, n);
    const std::string data =
        EncodeEventBlock(ev, sources.empty() ? sources : sources.subspan(at, n), sensor);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (const model::Event& e : ev) {
      lo = std::min(lo, e.ts_us);
      hi = std::max(hi, e.ts_us);
    }
    sqlite3_bind_int64(insert_block_, 1, import_id);
    sqlite3_bind_int64(insert_block_, 2, lo);
    sqlite3_bind_int64(insert_block_, 3, hi);
    sqlite3_bind_int64(insert_block_, 4, static_cast<int64_t>(n));
    sqlite3_bind_blob(insert_block_, 5, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(insert_block_);
    sqlite3_reset(insert_block_);
    if (rc != SQLITE_DONE) return Error("insert events into");
  }
  return Status::Ok();
}

Status SqliteStore::CutBlocks(int64_t cut_us, uint64_t* removed) {
  const std::string cut = std::to_string(cut_us);
  auto ids = Select("SELECT id FROM event_blocks WHERE ts_min < " + cut + " AND ts_max >= " + cut);
  if (!ids.ok()) return ids.status();
  Stmt get, put;
  if (sqlite3_prepare_v2(db_, "SELECT id, data FROM event_blocks WHERE id = ?", -1, &get.s,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_,
                         "UPDATE event_blocks SET ts_min = ?, events = ?, data = ? WHERE id = ?",
                         -1, &put.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  EventBlock b;
  for (const auto& row : ids.value()) {  // a transaction per block: the writer waits little
    const int64_t id = std::stoll(row[0]);
    ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    sqlite3_bind_int64(get.s, 1, id);
    Status s = sqlite3_step(get.s) == SQLITE_ROW ? DecodeBlockColumn(get.s, 0, 1, &b)
                                                 : Error("read event block in");
    sqlite3_reset(get.s);
    if (s.ok()) {
      *removed += DropBefore(&b, cut_us);
      int64_t lo = INT64_MAX;
      for (const model::Event& e : b.events) lo = std::min(lo, e.ts_us);
      const std::string data = EncodeEventBlock(b.events, b.sources, -1);
      sqlite3_bind_int64(put.s, 1, lo);
      sqlite3_bind_int64(put.s, 2, static_cast<int64_t>(b.events.size()));
      sqlite3_bind_blob(put.s, 3, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
      sqlite3_bind_int64(put.s, 4, id);
      if (sqlite3_step(put.s) != SQLITE_DONE) s = Error("rewrite event block in");
      sqlite3_reset(put.s);
    }
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
  }
  return Status::Ok();
}

Status SqliteStore::EventsToBlocks() {
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
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
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");
  return s;
}

Status SqliteStore::RollupsToPacks() {
  // One transaction for the three tables: a crash leaves the old tables and version, and the
  // next open starts again. The rows are read in the packs' order (version 5's key; older
  // tables are sorted by SQLite in temporary files), so each pack is written once.
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN"));
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
    rollup::StoredRows rows;
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
        rows = rollup::StoredRows();
      }
    }
    if (s.ok() && rc != SQLITE_DONE) s = Error("read old rollups in");
    if (s.ok()) s = w.Write(rows, &written);
    sqlite3_finalize(st.s);  // before the DROP: an open read would hold the table
    st.s = nullptr;
    if (s.ok()) s = Exec(("DROP TABLE main." + t).c_str());
    if (!s.ok()) break;
  }
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) (void)Exec("ROLLBACK");
  return s;
}

Result<int64_t> SqliteStore::Commit(const ImportSummary& sum) {
  if (!in_import_) return Internal("Commit outside an import");
  Status f = InsertEvents(import_events_, {}, -1, import_id_);
  import_events_.clear();
  if (f.ok()) f = WriteRollups(&aggregator_);
  if (!f.ok()) {
    Abandon();
    return f;
  }
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "INSERT INTO imports(id,path,sha256,format,size_bytes,started_us,finished_us,records,"
      "packets,events,anomalies,rules_version,error,error_offset) VALUES("
      "?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
  if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return Error("prepare");
  sqlite3_bind_int64(st, 1, import_id_);
  sqlite3_bind_text(st, 2, sum.path.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, sum.sha256.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, sum.format.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 5, static_cast<int64_t>(sum.size_bytes));
  sqlite3_bind_int64(st, 6, sum.started_us);
  sqlite3_bind_int64(st, 7, sum.finished_us);
  sqlite3_bind_int64(st, 8, static_cast<int64_t>(sum.records));
  sqlite3_bind_int64(st, 9, static_cast<int64_t>(sum.packets));
  sqlite3_bind_int64(st, 10, static_cast<int64_t>(sum.events));
  sqlite3_bind_int64(st, 11, static_cast<int64_t>(sum.anomalies));
  sqlite3_bind_int64(st, 12, sum.rules_version);
  if (sum.error.empty()) {
    sqlite3_bind_null(st, 13);
    sqlite3_bind_null(st, 14);
  } else {
    sqlite3_bind_text(st, 13, sum.error.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 14, static_cast<int64_t>(sum.error_offset));
  }
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    Status s = Error("insert import summary into");
    Abandon();
    return s;
  }
  const int64_t id = import_id_;
  if (sqlite3_prepare_v2(db_, "INSERT INTO import_counters VALUES(?,?,?)", -1, &st, nullptr) !=
      SQLITE_OK) {
    Status s = Error("prepare");
    Abandon();
    return s;
  }
  for (const auto& [name, count] : sum.counters) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, static_cast<int64_t>(count));
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) break;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    Status s = Error("insert import counters into");
    Abandon();
    return s;
  }
  Status s = Exec("COMMIT");
  if (!s.ok()) {
    Abandon();
    return s;
  }
  in_import_ = false;
  return id;
}

void SqliteStore::Abandon() {
  if (!in_import_) return;
  (void)aggregator_.Take();
  import_events_.clear();
  (void)Exec("ROLLBACK");
  in_import_ = false;
}

Result<uint64_t> SqliteStore::CountEvents() {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT COALESCE(SUM(events), 0) FROM event_blocks", -1, &st,
                         nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  uint64_t n = 0;
  if (sqlite3_step(st) == SQLITE_ROW) n = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  return n;
}

Result<int64_t> SqliteStore::SensorId(const std::string& name, int64_t now_us) {
  Stmt st;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO sensors(name, first_seen_us, last_seen_us) VALUES(?, ?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET last_seen_us = excluded.last_seen_us "
                         "RETURNING id",
                         -1, &st.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  sqlite3_bind_text(st.s, 1, name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 2, now_us);
  sqlite3_bind_int64(st.s, 3, now_us);
  if (sqlite3_step(st.s) != SQLITE_ROW) return Error("register sensor in");
  return sqlite3_column_int64(st.s, 0);
}

Result<std::vector<BatchOutcome>> SqliteStore::CommitBatches(std::span<SensorBatch* const> batches,
                                                             int64_t now_us) {
  if (in_import_) return Internal("CommitBatches during an import");
  JoinCounting();
  if (!recovered_) ISDAS_RETURN_IF_ERROR(RecoverRollups());
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  // The tables of the buckets the previous commits' events closed: queued to be folded beside
  // this commit's counting, written with the first commit after their fold finishes.
  int64_t closed_mark;
  rollup::RollupBuffer::Taken closed = TakeClosed(false, now_us, &closed_mark);
  rollup::RollupBuffer late;  // events of buckets already closed: written now
  std::vector<BatchOutcome> out;
  std::vector<std::pair<const SensorBatch*, int64_t>> stored;  // new batches, their sensor id
  Status failed;
  Stmt mark, count, names;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO batches VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         -1, &mark.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_,
                         "INSERT INTO as_names VALUES(?, ?) ON CONFLICT(asn) DO UPDATE SET "
                         "name = excluded.name WHERE name != excluded.name",
                         -1, &names.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_,
                         "UPDATE sensors SET batches = batches + 1, events = events + ? "
                         "WHERE id = ?",
                         -1, &count.s, nullptr) != SQLITE_OK) {
    failed = Error("prepare");
  }
  for (SensorBatch* b : batches) {
    if (!failed.ok()) break;
    auto id = SensorId(b->sensor_id, now_us);
    if (!id.ok()) {
      failed = id.status();
      break;
    }
    // The batches row is the de-duplication: it is inserted only if new, in the same
    // transaction as the events, so "stored" and "marked stored" cannot disagree.
    sqlite3_bind_int64(mark.s, 1, id.value());
    sqlite3_bind_int64(mark.s, 2, static_cast<int64_t>(b->epoch));
    sqlite3_bind_int64(mark.s, 3, static_cast<int64_t>(b->seq));
    sqlite3_bind_int64(mark.s, 4, static_cast<int64_t>(b->events.size()));
    sqlite3_bind_int64(mark.s, 5, b->rules_version);
    sqlite3_bind_int64(mark.s, 6, now_us);
    sqlite3_bind_text(mark.s, 7, b->geo_version.c_str(), -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(mark.s);
    sqlite3_reset(mark.s);
    if (rc != SQLITE_DONE) {
      failed = Error("insert batch into");
      break;
    }
    if (sqlite3_changes(db_) == 0) {
      out.push_back(BatchOutcome::kDuplicate);
      continue;
    }
    if (!b->sources.empty() && b->sources.size() != b->events.size()) {
      failed = Internal("batch sources do not match its events");
      break;
    }
    stored.emplace_back(b, id.value());
    for (const auto& [asn, name] : b->as_names) {
      sqlite3_bind_int64(names.s, 1, asn);
      sqlite3_bind_text(names.s, 2, name.c_str(), -1, SQLITE_TRANSIENT);
      const int rn = sqlite3_step(names.s);
      sqlite3_reset(names.s);
      if (rn != SQLITE_DONE) {
        failed = Error("insert AS name into");
        break;
      }
    }
    if (!failed.ok()) break;
    sqlite3_bind_int64(count.s, 1, static_cast<int64_t>(b->events.size()));
    sqlite3_bind_int64(count.s, 2, id.value());
    const int rc2 = sqlite3_step(count.s);
    sqlite3_reset(count.s);
    if (rc2 != SQLITE_DONE) {
      failed = Error("update sensor in");
      break;
    }
    out.push_back(BatchOutcome::kStored);
  }
  // The events' rows and their rollups are independent work: the open buckets' rows are
  // counted, and the closed ones folded (with no new batch too: written with the next ones), on
  // other threads while this one stores the events, writes the rows folded at the previous
  // commit, commits, and takes the next batches; the next call waits for both. Were this
  // transaction lost, so would be the counted rows: the buffer is rebuilt from the stored
  // events (RecoverRollups). Late events' rows are written in this transaction, with their
  // events.
  if (failed.ok()) {
    for (const auto& [b, id] : stored) Route(*b, static_cast<uint32_t>(id), &late);
    if (!stored.empty()) StartCounting();
    StartFold(std::move(closed), closed_mark);
  }
  if (failed.ok() && !stored.empty()) {
    double t = SteadySeconds();
    auto lap = [&t](double* into) {
      const double now = SteadySeconds();
      *into += now - t;
      t = now;
    };
    for (const auto& [b, id] : stored) {
      failed = InsertEvents(b->events, b->sources, id, 0);
      if (!failed.ok()) break;
    }
    lap(&times_.blocks);
    // The rows of the folds finished by now (queued at this commit or earlier): a fold still
    // running is not waited for, its rows go with a later commit.
    JoinFold(/*wait=*/false);
    if (failed.ok()) failed = WritePending(pending_rows_per_commit_);
    if (failed.ok() && !late.empty()) failed = WriteOut(late.CloseAll());
    lap(&times_.rollup_rows);
  }
  const double before_commit = SteadySeconds();
  if (failed.ok()) failed = Exec("COMMIT");
  times_.commit += SteadySeconds() - before_commit;
  if (!failed.ok()) {
    (void)Exec("ROLLBACK");
    // The buffer may hold rows of events that are not stored, or miss rows it handed out:
    // the next call rebuilds it from the tables.
    recovered_ = false;
    return failed;
  }
  return out;
}

Status SqliteStore::RecordHeartbeat(const std::string& sensor_id, int64_t now_us,
                                    const std::vector<std::pair<std::string, uint64_t>>& counters) {
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto id = SensorId(sensor_id, now_us);
  Status st = id.status();
  Stmt del, ins, upd;
  if (st.ok() && (sqlite3_prepare_v2(db_, "DELETE FROM sensor_counters WHERE sensor = ?", -1,
                                     &del.s, nullptr) != SQLITE_OK ||
                  sqlite3_prepare_v2(db_, "INSERT INTO sensor_counters VALUES(?, ?, ?)", -1, &ins.s,
                                     nullptr) != SQLITE_OK ||
                  sqlite3_prepare_v2(db_, "UPDATE sensors SET last_heartbeat_us = ? WHERE id = ?",
                                     -1, &upd.s, nullptr) != SQLITE_OK)) {
    st = Error("prepare");
  }
  if (st.ok()) {
    sqlite3_bind_int64(del.s, 1, id.value());
    if (sqlite3_step(del.s) != SQLITE_DONE) st = Error("clear counters in");
  }
  for (const auto& [name, value] : counters) {
    if (!st.ok()) break;
    sqlite3_bind_int64(ins.s, 1, id.value());
    sqlite3_bind_text(ins.s, 2, name.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins.s, 3, static_cast<int64_t>(value));
    if (sqlite3_step(ins.s) != SQLITE_DONE) st = Error("insert counter into");
    sqlite3_reset(ins.s);
  }
  if (st.ok()) {
    sqlite3_bind_int64(upd.s, 1, now_us);
    sqlite3_bind_int64(upd.s, 2, id.value());
    if (sqlite3_step(upd.s) != SQLITE_DONE) st = Error("update sensor in");
  }
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  return Exec("COMMIT");
}

Result<std::vector<SensorInfo>> SqliteStore::Sensors() {
  Stmt st, cs;
  if (sqlite3_prepare_v2(db_,
                         "SELECT id, name, first_seen_us, last_seen_us, last_heartbeat_us, "
                         "batches, events FROM sensors ORDER BY name",
                         -1, &st.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_,
                         "SELECT name, value FROM sensor_counters WHERE sensor = ? "
                         "ORDER BY name",
                         -1, &cs.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  std::vector<SensorInfo> out;
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    SensorInfo si;
    si.name = reinterpret_cast<const char*>(sqlite3_column_text(st.s, 1));
    si.first_seen_us = sqlite3_column_int64(st.s, 2);
    si.last_seen_us = sqlite3_column_int64(st.s, 3);
    si.last_heartbeat_us = sqlite3_column_int64(st.s, 4);
    si.batches = static_cast<uint64_t>(sqlite3_column_int64(st.s, 5));
    si.events = static_cast<uint64_t>(sqlite3_column_int64(st.s, 6));
    sqlite3_bind_int64(cs.s, 1, sqlite3_column_int64(st.s, 0));
    while (sqlite3_step(cs.s) == SQLITE_ROW) {
      si.counters.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(cs.s, 0)),
                               static_cast<uint64_t>(sqlite3_column_int64(cs.s, 1)));
    }
    sqlite3_reset(cs.s);
    out.push_back(std::move(si));
  }
  return out;
}

}  // namespace isdas::storage

namespace isdas::storage {

int64_t RetentionCutoff(int days, int64_t now_us) {
  if (days <= 0) return INT64_MIN;
  return now_us / 1000000 - int64_t{days} * 86400;
}

Status SqliteStore::WriteRollups(rollup::Aggregator* agg) {
  if (agg->empty()) return Status::Ok();
  // 5-minute rows, then hourly ones made from them, then daily ones made from the hourly.
  std::vector<rollup::Row> rows = agg->Take();
  for (rollup::Resolution r : rollup::kResolutions) {
    if (r != rollup::Resolution::k5m) rows = rollup::Coarsen(std::move(rows), r);
    rollup::StoredRows stored;
    for (const rollup::Row& row : rows) stored.Add(row.key, row.value);
    ISDAS_RETURN_IF_ERROR(WriteRows(r, stored));
  }
  return Status::Ok();
}

Status SqliteStore::WriteRows(rollup::Resolution r, const rollup::StoredRows& rows, size_t begin,
                              size_t end) {
  const double start = SteadySeconds();
  PortAdds totals;
  for (size_t i = begin; i < end; ++i) {
    const rollup::StoredRows::Row& row = rows.rows()[i];
    const rollup::RowKey& k = row.key;
    if (k.family != rollup::Family::kPort || r < rollup::Finest(k.family)) continue;
    rollup::RowKey dims = k;
    dims.key = 0;
    totals[dims].emplace_back(static_cast<uint16_t>(k.key), row.packets);
  }
  uint64_t written = 0;
  // Writes to closed buckets merge into their packs (the closing write compacts the deltas that
  // early writes of the open bucket left).
  packs_[static_cast<int>(r)].set_closed_before(closed5_);
  Status s = packs_[static_cast<int>(r)].Write(rows, begin, end, &written);
  if (s.ok()) s = AddPortTotals(r, totals);
  times_.rows[static_cast<int>(r)] += written;
  times_.write_seconds[static_cast<int>(r)] += SteadySeconds() - start;
  return s;
}

Status SqliteStore::AddPortTotals(rollup::Resolution r, PortAdds& add) {
  if (add.empty()) return Status::Ok();
  Stmt get, put;
  if (sqlite3_prepare_v2(
          db_,
          ForResolution("SELECT counts FROM port_totals_{r} WHERE bucket = ? AND sensor = ? AND "
                        "proto = ? AND kind = ? AND tool = ? AND research = ?",
                        r)
              .c_str(),
          -1, &get.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(
          db_,
          ForResolution("INSERT OR REPLACE INTO port_totals_{r} VALUES(?, ?, ?, ?, ?, ?, ?, ?)", r)
              .c_str(),
          -1, &put.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  std::vector<std::pair<rollup::RowKey, std::vector<std::pair<uint16_t, uint64_t>>*>> order;
  for (auto& [dims, ports] : add) order.emplace_back(dims, &ports);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [dims, ports] : order) {
    const int64_t d[6] = {dims.bucket, dims.sensor, dims.proto,
                          dims.kind,   dims.tool,   dims.research};
    for (int i = 0; i < 6; ++i) {
      sqlite3_bind_int64(get.s, i + 1, d[i]);
      sqlite3_bind_int64(put.s, i + 1, d[i]);
    }
    // What is stored plus what is added: both listed, sorted by port, equal ports summed.
    std::vector<std::pair<uint16_t, uint64_t>>& all = *ports;
    if (sqlite3_step(get.s) == SQLITE_ROW) {
      rollup::ForEachPortCount(sqlite3_column_blob(get.s, 0),
                               static_cast<size_t>(sqlite3_column_bytes(get.s, 0)),
                               [&all](uint16_t port, uint32_t n) { all.emplace_back(port, n); });
    }
    sqlite3_reset(get.s);
    std::sort(all.begin(), all.end());
    PortCounts merged;
    for (size_t i = 0; i < all.size();) {
      uint64_t n = 0;
      const uint16_t port = all[i].first;
      for (; i < all.size() && all[i].first == port; ++i) n += all[i].second;
      merged.emplace_back(port, static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX)));
    }
    const std::string blob = EncodePortCounts(std::move(merged));
    const std::string_view head = rollup::PortTotalsHead(blob);
    sqlite3_bind_blob(put.s, 7, head.data(), static_cast<int>(head.size()), SQLITE_STATIC);
    sqlite3_bind_blob(put.s, 8, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(put.s);
    sqlite3_reset(put.s);
    if (rc != SQLITE_DONE) return Error("update port totals in");
  }
  return Status::Ok();
}

Status SqliteStore::ScanEvents(
    int64_t from_us, const std::function<Status(std::span<const model::Event>,
                                                std::span<const SourceInfo>, uint32_t)>& fn) {
  Stmt st;
  if (sqlite3_prepare_v2(db_, "SELECT id, data FROM event_blocks WHERE ts_max >= ? ORDER BY id", -1,
                         &st.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  sqlite3_bind_int64(st.s, 1, from_us);
  EventBlock b;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    if (Status d = DecodeBlockColumn(st.s, 0, 1, &b); !d.ok()) {
      return Corruption(path_ + ": " + d.message());
    }
    (void)DropBefore(&b, from_us);
    for (size_t i = 0; i < b.events.size();) {  // one sensor at a time
      size_t j = i;
      while (j < b.events.size() && b.events[j].sensor_id == b.events[i].sensor_id) ++j;
      ISDAS_RETURN_IF_ERROR(fn(std::span(b.events).subspan(i, j - i),
                               std::span(b.sources).subspan(i, j - i), b.events[i].sensor_id));
      i = j;
    }
  }
  if (rc != SQLITE_DONE) return Error("read events in");
  return Status::Ok();
}

Status SqliteStore::RebuildRollups() {
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = ScanEvents(INT64_MIN, [this](auto ev, auto src, uint32_t sensor) {
    aggregator_.Add(ev, src, sensor);
    return aggregator_.size() > max_pending_rows_ ? WriteRollups(&aggregator_) : Status::Ok();
  });
  if (s.ok()) s = WriteRollups(&aggregator_);
  if (!s.ok()) {
    (void)aggregator_.Take();
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

void SqliteStore::Route(const SensorBatch& b, uint32_t sensor, rollup::RollupBuffer* late) {
  int64_t lo = INT64_MAX;
  for (const model::Event& e : b.events) {
    const int64_t t = rollup::BucketStart(e.ts_us, 1000000) / 1000000;
    lo = std::min(lo, t);
    max_ts_s_ = std::max(max_ts_s_, t);
  }
  if (b.events.empty()) return;
  if (jobs_ == count_jobs_.size()) count_jobs_.emplace_back();
  CountJob& open = count_jobs_[jobs_++];
  open.sensor = sensor;
  if (closed5_ == INT64_MIN || rollup::BucketStart(lo, 300) >= closed5_) {
    open.events.assign(b.events.begin(), b.events.end());  // the usual case: nothing late
    open.sources.assign(b.sources.begin(), b.sources.end());
    return;
  }
  open.events.clear();
  open.sources.clear();
  std::vector<model::Event> late_ev;
  std::vector<SourceInfo> late_src;
  for (size_t i = 0; i < b.events.size(); ++i) {
    const bool is_late =
        rollup::BucketStart(rollup::BucketStart(b.events[i].ts_us, 1000000) / 1000000, 300) <
        closed5_;
    (is_late ? late_ev : open.events).push_back(b.events[i]);
    if (!b.sources.empty()) (is_late ? late_src : open.sources).push_back(b.sources[i]);
  }
  late->Add(late_ev, late_src, sensor);
}

void SqliteStore::StartCounting() {
  counting_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "isdas-count");
    std::vector<rollup::RollupBuffer::Batch> batches;
    for (size_t i = 0; i < jobs_; ++i) {
      const CountJob& j = count_jobs_[i];
      batches.push_back({j.events, j.sources, j.sensor});
    }
    buffer_.Add(batches);
  });
}

void SqliteStore::JoinCounting() {
  if (!counting_.joinable()) return;
  const double start = SteadySeconds();
  counting_.join();
  times_.wait_counting += SteadySeconds() - start;
  jobs_ = 0;
}

Status SqliteStore::WriteOut(const rollup::RollupBuffer::Out& out) {
  for (rollup::Resolution r : rollup::kResolutions) {
    ISDAS_RETURN_IF_ERROR(WriteRows(r, out.rows[static_cast<int>(r)]));
  }
  return Status::Ok();
}

rollup::RollupBuffer::Taken SqliteStore::TakeClosed(bool all, int64_t now_us, int64_t* mark) {
  const int64_t c5 =
      max_ts_s_ == INT64_MIN ? INT64_MIN : rollup::BucketStart(max_ts_s_ - kGraceSeconds, 300);
  const bool closes = (closed5_ == INT64_MIN || c5 > closed5_) && c5 != INT64_MIN;
  *mark = INT64_MIN;
  if (closes) {
    closed5_ = c5;  // later events of these buckets are late (written apart, merged)
    *mark = c5;
  }
  // Open buckets are written as they are (merged later) when memory asks, or freshness: the
  // traffic is live (its newest event within kLiveSeconds of the clock). A backlog's buckets
  // close as its time goes by.
  // (The sizes of the hours and days are as the last fold left them: while one runs, they may
  // be about to shrink, and the bound waits.)
  const bool bound = buffer_.size() > max_pending_rows_ && FoldsIdle();
  const bool live = max_ts_s_ != INT64_MIN && max_ts_s_ >= now_us / 1000000 - kLiveSeconds;
  const bool flush =
      all || bound ||
      (live && !buffer_.empty() && SteadySeconds() - last_flush_ > partial_flush_seconds_);
  // At the bound, when the open days hold most of the rows (the day's port pairs grow all day,
  // the open 5-minute buckets and hour stay small), only those are written: the rest would be
  // written again, merged, within the hour.
  const bool days_only =
      bound && !all && closed5_ != INT64_MIN && buffer_.open_day_rows() * 2 > buffer_.size();
  if (flush) {
    if (!all) ++(bound ? times_.flushes_bound : times_.flushes_fresh);
    last_flush_ = SteadySeconds();
  }
  rollup::RollupBuffer::Taken t;
  if (days_only) {
    t = buffer_.Take(closed5_);  // with the buckets closed now, if any
    t.open_days = true;
  } else if (flush) {
    t = buffer_.Take(rollup::RollupBuffer::kEverything);
  } else if (closes) {
    t = buffer_.Take(c5);
  }
  return t;
}

void SqliteStore::StartFold(rollup::RollupBuffer::Taken&& taken, int64_t mark) {
  if (taken.c5 == INT64_MIN) return;  // nothing closed (and then no mark either)
  const uint64_t seq = ++fold_seq_;
  if (mark != INT64_MIN) fold_marks_.emplace_back(seq, mark);
  // The halves' folds touch different rows (RollupBuffer::FoldHalf): a lane each.
  for (int half : {0, 1}) {
    FoldLane& l = lanes_[half];
    std::unique_lock lock(l.mu);
    if (l.todo.size() >= kMaxQueuedFolds) {
      // The lane is behind by several buckets: wait (their tables hold memory).
      const double start = SteadySeconds();
      l.cv.wait(lock, [&l] { return l.todo.size() < kMaxQueuedFolds; });
      times_.wait_fold += SteadySeconds() - start;
    }
    l.todo.push_back({std::move(taken.tables[half]), taken.c5, taken.open_days, seq});
    ++l.queued;
    if (!l.thread.joinable()) l.thread = std::thread([this, half] { RunFoldLane(half); });
    l.cv.notify_all();
  }
}

void SqliteStore::RunFoldLane(int half) {
  pthread_setname_np(pthread_self(), half == 0 ? "isdas-fold" : "isdas-fold1");
  FoldLane& l = lanes_[half];
  std::unique_lock lock(l.mu);
  for (;;) {
    l.cv.wait(lock, [&l] { return l.stop || !l.todo.empty(); });
    if (l.stop) return;  // what is queued is dropped: recovery counts it again
    FoldLane::Task task = std::move(l.todo.front());
    l.todo.pop_front();
    lock.unlock();
    const double start = SteadySeconds();
    const int64_t all_rows[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
    rollup::RollupBuffer::Out out;
    lock.lock();
    if (!l.spare.empty()) {
      // The largest: an hour's close writes ten times the rows of a 5-minute one.
      auto it = std::max_element(l.spare.begin(), l.spare.end(), [](const auto& a, const auto& b) {
        return a.capacity_bytes() < b.capacity_bytes();
      });
      out = std::move(*it);
      l.spare.erase(it);
    }
    lock.unlock();
    buffer_.FoldHalf(half, std::move(task.tables), task.c5, all_rows, &out, task.open_days);
    const double seconds = SteadySeconds() - start;
    lock.lock();
    l.done.emplace_back(task.seq, std::move(out));
    l.done_through = task.seq;
    l.seconds += seconds;
    --l.queued;
    l.cv.notify_all();
  }
}

void SqliteStore::StopFoldLanes() {
  for (FoldLane& l : lanes_) {
    {
      std::lock_guard lock(l.mu);
      l.stop = true;
    }
    l.cv.notify_all();
    if (l.thread.joinable()) l.thread.join();
  }
}

void SqliteStore::JoinFold(bool wait) {
  uint64_t through = UINT64_MAX;
  for (int half : {0, 1}) {
    FoldLane& l = lanes_[half];
    std::unique_lock lock(l.mu);
    if (wait && l.queued > 0) {
      const double start = SteadySeconds();
      l.cv.wait(lock, [&l] { return l.queued == 0; });
      times_.wait_fold += SteadySeconds() - start;
    }
    times_.fold += l.seconds;
    times_.fold_half[half] += l.seconds;
    l.seconds = 0;
    std::vector<rollup::RollupBuffer::Out> empty;
    for (auto& [seq, out] : l.done) {
      bool any = false;
      for (const auto& rows : out.rows) any = any || !rows.empty();
      if (any) {
        pending_.push_back({std::move(out), seq, half});
      } else {
        empty.push_back(std::move(out));
      }
    }
    l.done.clear();
    through = std::min(through, l.done_through);
    lock.unlock();
    for (auto& out : empty) RecycleOut(half, std::move(out));
  }
  folded_through_ = through;
}

bool SqliteStore::FoldsIdle() {
  for (FoldLane& l : lanes_) {
    std::lock_guard lock(l.mu);
    if (l.queued > 0) return false;
  }
  return true;
}

Status SqliteStore::WriteClosedMark(int64_t closed5) {
  return Exec(
      ("INSERT OR REPLACE INTO meta VALUES('rollup_closed_5m', " + std::to_string(closed5) + ")")
          .c_str());
}

Status SqliteStore::WritePending(size_t budget) {
  size_t written = 0;
  while (!pending_.empty() && written < budget) {
    Pending& p = pending_.front();
    while (p.r < 3 && written < budget) {
      const rollup::StoredRows& rows = p.out.rows[p.r];
      const size_t end =
          PackWriter::PackEnd(rows, p.at + std::min(budget - written, rows.size() - p.at));
      ISDAS_RETURN_IF_ERROR(WriteRows(static_cast<rollup::Resolution>(p.r), rows, p.at, end));
      written += end - p.at;
      p.at = end;
      if (p.at == rows.size()) {
        ++p.r;
        p.at = 0;
      }
    }
    if (p.r == 3) {
      RecycleOut(p.half, std::move(p.out));
      pending_.pop_front();
    }
  }
  // The newest mark whose folds are done and have no row left.
  uint64_t left = folded_through_ + 1;
  for (const Pending& p : pending_) left = std::min(left, p.seq);
  int64_t mark = INT64_MIN;
  while (!fold_marks_.empty() && fold_marks_.front().first < left) {
    mark = fold_marks_.front().second;
    fold_marks_.pop_front();
  }
  if (mark != INT64_MIN) ISDAS_RETURN_IF_ERROR(WriteClosedMark(mark));
  return Status::Ok();
}

void SqliteStore::RecycleOut(int half, rollup::RollupBuffer::Out&& out) {
  // A few a lane (one being written, one folded meanwhile), 512 MiB at most in all, the
  // largest kept: an hour's close fits (a write at the bound, gigabytes, is not kept for good).
  // None next to nothing.
  constexpr size_t kSpares = 3, kMinBytes = size_t{1} << 20, kMaxBytes = size_t{512} << 20;
  const size_t bytes = out.capacity_bytes();
  if (bytes < kMinBytes || bytes > kMaxBytes) return;
  for (auto& rows : out.rows) rows.Clear();
  FoldLane& l = lanes_[half];
  std::lock_guard lock(l.mu);
  l.spare.push_back(std::move(out));
  size_t total = 0;
  for (const auto& o : l.spare) total += o.capacity_bytes();
  while (l.spare.size() > kSpares || total > kMaxBytes) {
    auto it = std::min_element(l.spare.begin(), l.spare.end(), [](const auto& a, const auto& b) {
      return a.capacity_bytes() < b.capacity_bytes();
    });
    total -= it->capacity_bytes();
    l.spare.erase(it);
  }
}

Status SqliteStore::RecoverRollups() {
  JoinCounting();
  JoinFold();
  buffer_.Clear();
  pending_.clear();
  fold_marks_.clear();
  max_ts_s_ = INT64_MIN;
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s;
  auto fail = [&](Status st) {
    buffer_.Clear();
    (void)Exec("ROLLBACK");
    return st;
  };
  auto mark = Select("SELECT value FROM meta WHERE key = 'rollup_closed_5m'");
  if (!mark.ok()) return fail(mark.status());
  auto top = Select("SELECT MAX(ts_max) FROM event_blocks");
  if (!top.ok()) return fail(top.status());
  const bool any = !top->empty() && !top.value()[0][0].empty();
  if (any) {
    max_ts_s_ = rollup::BucketStart(std::strtoll(top.value()[0][0].c_str(), nullptr, 10), 1000000) /
                1000000;
  }
  if (mark->empty()) {
    // First start of a collector on this database: whatever is stored (imports) has its
    // rollups; treat its buckets as closed.
    closed5_ = any ? rollup::BucketStart(max_ts_s_, 300) + 300 : INT64_MIN;
    s = WriteClosedMark(closed5_);
    if (!s.ok()) return fail(s);
  } else {
    closed5_ = std::strtoll(mark.value()[0][0].c_str(), nullptr, 10);
  }
  {
    // Rows of open buckets may hold partial writes: delete them and count those buckets again
    // from the events (every event there, imports included). No mark (a collector first
    // started on an empty database, and no bucket closed and written since): every bucket.
    const bool none = closed5_ == INT64_MIN;
    const int64_t from[3] = {closed5_, none ? INT64_MIN : rollup::BucketStart(closed5_, 3600),
                             none ? INT64_MIN : rollup::BucketStart(closed5_, 86400)};
    for (rollup::Resolution r : rollup::kResolutions) {
      const int64_t b = from[static_cast<int>(r)];
      for (const std::string& sql :
           {"DELETE FROM " + DeltasTable(r) + " WHERE " + PacksInBuckets(r, b, INT64_MAX),
            "DELETE FROM " + PacksTable(r) + " WHERE " + PacksInBuckets(r, b, INT64_MAX),
            ForResolution("DELETE FROM port_totals_{r} WHERE bucket >= ", r) + std::to_string(b)}) {
        s = Exec(sql.c_str());
        if (!s.ok()) return fail(s);
      }
    }
    s = ScanEvents(none ? INT64_MIN : from[2] * 1000000,
                   [&](auto ev, auto src, uint32_t sensor) -> Status {
                     buffer_.Add(ev, src, sensor);
                     if (buffer_.size() <= max_pending_rows_) return Status::Ok();
                     // Fold the closed buckets without writing them, then write the rest.
                     if (!none) (void)buffer_.Close(closed5_, from);
                     return WriteOut(buffer_.CloseAll());
                   });
    if (!s.ok()) return fail(s);
    if (!none) (void)buffer_.Close(closed5_, from);  // only folds: those rows are in the tables
  }
  s = Exec("COMMIT");
  if (!s.ok()) return fail(s);
  recovered_ = true;
  last_flush_ = SteadySeconds();
  return Status::Ok();
}

Status SqliteStore::FlushRollups(bool force) {
  if (in_import_) return Internal("FlushRollups during an import");
  JoinCounting();
  JoinFold();
  if (!recovered_) ISDAS_RETURN_IF_ERROR(RecoverRollups());
  if (buffer_.empty() && pending_.empty()) return Status::Ok();
  if (!force && SteadySeconds() - last_flush_ <= kIdleFlushSeconds) return Status::Ok();
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  int64_t mark;
  rollup::RollupBuffer::Taken all = TakeClosed(true, 0, &mark);
  StartFold(std::move(all), mark);  // both halves at once: here, the writer has only to wait
  JoinFold();
  Status s = WritePending();
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    recovered_ = false;
  }
  return s;
}

Status SqliteStore::DeleteCounting(const std::string& sql, uint64_t* removed) {
  Stmt del;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &del.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  for (bool more = true; more;) {
    ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    int rc;
    more = false;
    while ((rc = sqlite3_step(del.s)) == SQLITE_ROW) {
      *removed += static_cast<uint64_t>(sqlite3_column_int64(del.s, 0));
      more = true;
    }
    sqlite3_reset(del.s);
    Status s = rc == SQLITE_DONE ? Exec("COMMIT") : Error("delete expired rows from");
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s;
    }
  }
  return Status::Ok();
}

Result<ExpireReport> SqliteStore::Expire(const Retention& ret, int64_t now_us) {
  ExpireReport rep;
  // Small transactions (DeleteCounting), so the writer (the collector's ingest) never waits long.
  const int64_t raw = RetentionCutoff(ret.raw_days, now_us);
  if (raw != INT64_MIN) {
    // Whole blocks before the cut-off, 16 at a time (~256 k events per transaction), each
    // DELETE returning the events it removed; then the blocks that straddle the cut-off are
    // rewritten with the events they keep.
    ISDAS_RETURN_IF_ERROR(
        DeleteCounting("DELETE FROM event_blocks WHERE id IN (SELECT id FROM event_blocks "
                       "WHERE ts_max < " +
                           std::to_string(raw * 1000000) + " LIMIT 16) RETURNING events",
                       &rep.events));
    ISDAS_RETURN_IF_ERROR(CutBlocks(raw * 1000000, &rep.events));
  }
  for (rollup::Resolution r : rollup::kResolutions) {
    const int64_t cut = RetentionCutoff(ret.days(static_cast<int>(r)), now_us);
    if (cut == INT64_MIN) continue;
    // Whole buckets only: those that end at or before the cut-off.
    const int64_t before = cut - rollup::Seconds(r) + 1;
    // Delta packs, then packs, 64 at a time, each DELETE returning the rows it removed (stored
    // rows: a key in a pack and its deltas counts once in each).
    const std::string in = PacksInBuckets(r, INT64_MIN, before - 1);
    const std::string d = DeltasTable(r), t = PacksTable(r);
    for (const std::string& sql : {"DELETE FROM " + d + " WHERE rowid IN (SELECT rowid FROM " + d +
                                       " WHERE " + in + " LIMIT 64) RETURNING rows",
                                   "DELETE FROM " + t + " WHERE id IN (SELECT id FROM " + t +
                                       " WHERE " + in + " LIMIT 64) RETURNING rows"}) {
      ISDAS_RETURN_IF_ERROR(DeleteCounting(sql, &rep.rollup_rows[static_cast<int>(r)]));
    }
    uint64_t blobs = 0;  // port-total blobs, 5,000 at a time
    const std::string keys = "bucket, sensor, proto, kind, tool, research";
    const std::string totals = "DELETE FROM port_totals_{r} WHERE (" + keys + ") IN (SELECT " +
                               keys + " FROM port_totals_{r} WHERE bucket < " +
                               std::to_string(before) + " LIMIT 5000) RETURNING 1";
    ISDAS_RETURN_IF_ERROR(DeleteCounting(ForResolution(totals.c_str(), r), &blobs));
  }
  return rep;
}

}  // namespace isdas::storage

namespace isdas::storage {
namespace {

std::string SqliteRollupFrom(int res) {
  return "rollup_" + std::string(rollup::Name(static_cast<rollup::Resolution>(res))) + " WHERE";
}

std::string SqliteSourceIs(const model::IpAddr& a) {
  static const char kHex[] = "0123456789abcdef";
  std::string s = "src = X'";
  for (size_t i = 0; i < a.size(); ++i) {
    s.push_back(kHex[a.bytes[i] >> 4]);
    s.push_back(kHex[a.bytes[i] & 15]);
  }
  return s + "'";
}

std::string SqliteQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q.push_back(c);
    q.push_back(c);
  }
  return q + "'";
}

const SqlDialect kSqliteDialect{SqliteRollupFrom, false, SqliteSourceIs, true, true,
                                SqliteQuote,      true};

}  // namespace

const SqlDialect& SqliteStore::dialect() const { return kSqliteDialect; }

Status SqliteStore::SelectEach(const std::string& sql, const RowFn& fn) {
  if (trace_) trace_(sql);
  Stmt st;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) {
    return Error("query");
  }
  if (!st.s) return InvalidArgument("query: no statement in \"" + sql + "\"");
  if (!sqlite3_stmt_readonly(st.s)) {
    return InvalidArgument("query: not a read-only statement: " + sql);
  }
  const int n = sqlite3_column_count(st.s);
  std::vector<std::string_view> cells(static_cast<size_t>(n));
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    for (int c = 0; c < n; ++c) {
      // Blobs as they are (asking for text would copy them to add a terminator).
      const void* v = sqlite3_column_type(st.s, c) == SQLITE_BLOB ? sqlite3_column_blob(st.s, c)
                                                                  : sqlite3_column_text(st.s, c);
      cells[static_cast<size_t>(c)] = std::string_view(
          v ? static_cast<const char*>(v) : "", static_cast<size_t>(sqlite3_column_bytes(st.s, c)));
    }
    ISDAS_RETURN_IF_ERROR(fn(cells));
  }
  if (rc != SQLITE_DONE) return Error("query");
  return Status::Ok();
}

Result<Rows> SqliteStore::Select(const std::string& sql) {
  Rows rows;
  ISDAS_RETURN_IF_ERROR(SelectEach(sql, [&](std::span<const std::string_view> cells) {
    rows.emplace_back(cells.begin(), cells.end());
    return Status::Ok();
  }));
  return rows;
}

}  // namespace isdas::storage
