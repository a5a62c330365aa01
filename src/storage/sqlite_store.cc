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
#include "storage/sqlite_util.h"

namespace isdas::storage {
namespace {

constexpr size_t kImportBlockEvents = 16384;  // an import's events are stored in blocks of this
// WAL pages after which a commit asks the checkpointer to run (SQLite's own default point).
constexpr int kWalCheckpointPages = 1000;

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
  MutexLock lock(&ckpt_mu_);
  if (!ckpt_thread_.joinable()) {
    ckpt_thread_ = std::thread([this] { RunCheckpointer(); });
  }
  ckpt_due_ = true;
  ckpt_cv_.Signal();
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
  MutexLock lock(&ckpt_mu_);
  for (;;) {
    while (!ckpt_due_ && !ckpt_stop_) ckpt_cv_.Wait(&ckpt_mu_);
    if (ckpt_stop_) break;
    ckpt_due_ = false;
    ckpt_mu_.Unlock();
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
    ckpt_mu_.Lock();
  }
  sqlite3_close_v2(db);
}

SqliteStore::~SqliteStore() {
  std::thread checkpointer;
  {
    MutexLock lock(&ckpt_mu_);
    ckpt_stop_ = true;
    ckpt_cv_.Signal();
    checkpointer = std::move(ckpt_thread_);
  }
  if (checkpointer.joinable()) checkpointer.join();
  if (in_import_) Abandon();
  sqlite3_finalize(insert_block_);
  sqlite3_finalize(insert_as_name_);
  // The pack writers' statements are finalized after this body, with the rollup writer: the
  // connection closes then.
  sqlite3_close_v2(db_);
}

Status SqliteStore::Error(const char* what) {
  return IoError(std::string(what) + " " + path_ + ": " + sqlite3_errmsg(db_));
}

Status SqliteStore::Exec(const char* sql) { return ExecSql(db_, path_, sql); }

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

Status SqliteStore::Append(std::span<const model::Event> events,
                           std::span<const SourceInfo> sources) {
  if (!in_import_) return Internal("Append outside an import");
  if (!sources.empty() && sources.size() != events.size()) {
    return Internal("import sources do not match its events");
  }
  import_events_.insert(import_events_.end(), events.begin(), events.end());
  if (sources.empty()) {
    import_sources_.resize(import_events_.size());
  } else {
    import_sources_.insert(import_sources_.end(), sources.begin(), sources.end());
  }
  if (import_events_.size() >= kImportBlockEvents) {
    ISDAS_RETURN_IF_ERROR(InsertEvents(import_events_, import_sources_, -1, import_id_));
    import_events_.clear();
    import_sources_.clear();
  }
  aggregator_.Add(events, sources);
  // Bounded memory: long imports write their rollups in steps (upserts merge them).
  if (aggregator_.size() > rollups_.max_pending_rows()) {
    return rollups_.WriteAggregated(&aggregator_);
  }
  return Status::Ok();
}

// One block (event_blocks.h) per kMaxBlockEvents events; sensor < 0: each event's own id.
Status SqliteStore::InsertEvents(std::span<const model::Event> events,
                                 std::span<const SourceInfo> sources, int64_t sensor,
                                 int64_t import_id) {
  if (!insert_block_ &&
      sqlite3_prepare_v2(db_,
                         "INSERT INTO event_blocks(import_id, ts_min, ts_max, events, data) "
                         "VALUES(?, ?, ?, ?, ?)",
                         -1, &insert_block_, nullptr) != SQLITE_OK) {
    return Error("prepare insert into");
  }
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

Status SqliteStore::AddAsNames(const std::vector<std::pair<uint32_t, std::string>>& names) {
  if (!in_import_) return Internal("AddAsNames outside an import");
  return InsertAsNames(names);
}

Status SqliteStore::InsertAsNames(const std::vector<std::pair<uint32_t, std::string>>& names) {
  if (!insert_as_name_ &&
      sqlite3_prepare_v2(db_,
                         "INSERT INTO as_names VALUES(?, ?) ON CONFLICT(asn) DO UPDATE SET "
                         "name = excluded.name WHERE name != excluded.name",
                         -1, &insert_as_name_, nullptr) != SQLITE_OK) {
    return Error("prepare insert into");
  }
  for (const auto& [asn, name] : names) {
    sqlite3_bind_int64(insert_as_name_, 1, asn);
    sqlite3_bind_text(insert_as_name_, 2, name.c_str(), -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(insert_as_name_);
    sqlite3_reset(insert_as_name_);
    if (rc != SQLITE_DONE) return Error("insert AS name into");
  }
  return Status::Ok();
}

Result<int64_t> SqliteStore::Commit(const ImportSummary& sum) {
  if (!in_import_) return Internal("Commit outside an import");
  Status f = InsertEvents(import_events_, import_sources_, -1, import_id_);
  import_events_.clear();
  import_sources_.clear();
  if (f.ok()) f = rollups_.WriteAggregated(&aggregator_);
  if (!f.ok()) {
    Abandon();
    return f;
  }
  sqlite3_stmt* st = nullptr;
  const char* sql =
      "INSERT INTO imports(id,path,sha256,format,size_bytes,started_us,finished_us,records,"
      "packets,events,anomalies,rules_version,error,error_offset,geo_version) VALUES("
      "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
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
  sqlite3_bind_text(st, 15, sum.geo_version.c_str(), -1, SQLITE_TRANSIENT);
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
  import_sources_.clear();
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
  ISDAS_RETURN_IF_ERROR(rollups_.Ready());
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  // The tables of the buckets the previous commits' events closed: queued to be folded beside
  // this commit's counting, written with the first commit after their fold finishes.
  rollups_.TakeClosed(now_us);
  std::vector<BatchOutcome> out;
  std::vector<SqliteRollupWriter::Stored> stored;  // new batches, their sensor number
  Status failed;
  Stmt mark, count;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO batches VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         -1, &mark.s, nullptr) != SQLITE_OK ||
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
    stored.push_back({b, static_cast<uint32_t>(id.value())});
    failed = InsertAsNames(b->as_names);
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
  // The rollups are counted and folded on other threads while this one stores the events
  // (SqliteRollupWriter::Count); the rows folded at earlier commits and the late events' rows
  // are written in this transaction.
  CommitTimes& times = rollups_.times();
  if (failed.ok()) rollups_.Count(stored);
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
    lap(&times.blocks);
    if (failed.ok()) failed = rollups_.WriteRows();
    lap(&times.rollup_rows);
  }
  const double before_commit = SteadySeconds();
  if (failed.ok()) failed = Exec("COMMIT");
  times.commit += SteadySeconds() - before_commit;
  if (!failed.ok()) {
    (void)Exec("ROLLBACK");
    // The buffer may hold rows of events that are not stored, or miss rows it handed out:
    // the next call rebuilds it from the tables.
    rollups_.Failed();
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

Status SqliteStore::ScanEvents(int64_t from_us, const SqliteRollupWriter::EventFn& fn) {
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

Status SqliteStore::FlushRollups(bool force) {
  if (in_import_) return Internal("FlushRollups during an import");
  auto due = rollups_.FlushDue(force);
  if (!due.ok()) return due.status();
  if (!due.value()) return Status::Ok();
  ISDAS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = rollups_.FlushAll();
  if (s.ok()) s = Exec("COMMIT");
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    rollups_.Failed();
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
  for (rollup::Resolution r : rollup::kAllResolutions) {
    const int64_t cut = RetentionCutoff(ret.days(static_cast<int>(r)), now_us);
    if (cut == INT64_MIN) continue;
    // Whole buckets only: those that end at or before the cut-off; and a coarse bucket once its
    // first day is past it (its days after the cut are read from the daily rows instead, which
    // are kept: query::Availability).
    const int64_t before = rollup::IsCoarse(r) ? cut : cut - rollup::Seconds(r) + 1;
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
    const std::string keys = "bucket, sensor, proto, kind, tool, research, spoof";
    const std::string totals = "DELETE FROM port_totals_{r} WHERE (" + keys + ") IN (SELECT " +
                               keys + " FROM port_totals_{r} WHERE bucket < " +
                               std::to_string(before) + " LIMIT 5000) RETURNING 1";
    ISDAS_RETURN_IF_ERROR(DeleteCounting(ForResolution(totals.c_str(), r), &blobs));
    if (blobs || rep.rollup_rows[static_cast<int>(r)]) {
      ISDAS_RETURN_IF_ERROR(Exec(kBumpRollupGeneration));
    }
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

const SqlDialect kSqliteDialect{SqliteRollupFrom, false, SqliteSourceIs, true, SqliteQuote, true};

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

int64_t SqliteStore::CoarseThrough() {
  auto r = Select("SELECT value FROM meta WHERE key = 'rollup_coarse_through'");
  if (!r.ok()) return INT64_MIN;
  return r->empty() ? INT64_MAX : std::strtoll(r.value()[0][0].c_str(), nullptr, 10);
}

Result<std::optional<std::string>> SqliteStore::RollupGeneration() {
  auto r = Select("SELECT value FROM meta WHERE key = 'rollup_generation'");
  if (!r.ok()) return r.status();
  return std::optional<std::string>(r->empty() ? "0" : r.value()[0][0]);
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteStore::ColumnOrigins(
    const std::string& sql) {
  Stmt st;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) {
    return Error("query");
  }
  std::vector<std::pair<std::string, std::string>> out;
  const int n = st.s ? sqlite3_column_count(st.s) : 0;
  for (int c = 0; c < n; ++c) {
    const char* t = sqlite3_column_table_name(st.s, c);
    const char* col = sqlite3_column_origin_name(st.s, c);
    out.emplace_back(t ? t : "", col ? col : "");
  }
  return out;
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
