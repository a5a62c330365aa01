#include "storage/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>

namespace isdas::storage {
namespace {

constexpr int kSchemaVersion = 1;

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
CREATE TABLE IF NOT EXISTS events(
  ts INTEGER NOT NULL,
  sensor INTEGER NOT NULL,
  proto INTEGER NOT NULL,
  src BLOB NOT NULL,
  dst BLOB NOT NULL,
  sport INTEGER NOT NULL,
  dport INTEGER NOT NULL,
  icmp_type INTEGER NOT NULL,
  icmp_code INTEGER NOT NULL,
  tcp_flags INTEGER NOT NULL,
  ttl INTEGER NOT NULL,
  ip_id INTEGER NOT NULL,
  ip_len INTEGER NOT NULL,
  tcp_seq INTEGER NOT NULL,
  tcp_win INTEGER NOT NULL,
  tcp_optlen INTEGER NOT NULL,
  tcp_mss INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  tool INTEGER NOT NULL,
  spoof INTEGER NOT NULL,
  import_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
)sql";

}  // namespace

SqliteStore::~SqliteStore() {
  if (in_import_) Abandon();
  sqlite3_finalize(insert_);
  sqlite3_close(db_);
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

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& data_dir) {
  if (mkdir(data_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("create data directory " + data_dir, errno);
  }
  std::unique_ptr<SqliteStore> s(new SqliteStore());
  s->path_ = data_dir + "/isdas.sqlite";
  if (sqlite3_open_v2(s->path_.c_str(), &s->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    return s->Error("open");
  }
  sqlite3_busy_timeout(s->db_, 10000);
  ISDAS_RETURN_IF_ERROR(s->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  // A file that is not a database fails here, at the first read.
  sqlite3_stmt* st = nullptr;
  int user_version = 0;
  if (sqlite3_prepare_v2(s->db_, "PRAGMA user_version", -1, &st, nullptr) != SQLITE_OK) {
    return Corruption("not an isdas database: " + s->path_ + ": " + sqlite3_errmsg(s->db_));
  }
  if (sqlite3_step(st) == SQLITE_ROW) user_version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (user_version > kSchemaVersion) {
    return Corruption(s->path_ + " has schema version " + std::to_string(user_version) +
                      ", newer than this isdas (" + std::to_string(kSchemaVersion) + ")");
  }
  ISDAS_RETURN_IF_ERROR(s->Exec(kSchema));
  ISDAS_RETURN_IF_ERROR(s->Exec("PRAGMA user_version=1"));
  if (sqlite3_prepare_v2(s->db_,
                         "INSERT INTO events VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         -1, &s->insert_, nullptr) != SQLITE_OK) {
    return s->Error("prepare insert");
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
  for (const model::Event& e : events) {
    sqlite3_stmt* s = insert_;
    sqlite3_bind_int64(s, 1, e.ts_us);
    sqlite3_bind_int64(s, 2, e.sensor_id);
    sqlite3_bind_int(s, 3, e.proto);
    sqlite3_bind_blob(s, 4, e.src.bytes, static_cast<int>(e.src.size()), SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, e.dst.bytes, static_cast<int>(e.dst.size()), SQLITE_STATIC);
    sqlite3_bind_int(s, 6, e.sport);
    sqlite3_bind_int(s, 7, e.dport);
    sqlite3_bind_int(s, 8, e.icmp_type);
    sqlite3_bind_int(s, 9, e.icmp_code);
    sqlite3_bind_int(s, 10, e.tcp_flags);
    sqlite3_bind_int(s, 11, e.ttl);
    sqlite3_bind_int64(s, 12, e.ip_id);
    sqlite3_bind_int64(s, 13, e.ip_len);
    sqlite3_bind_int64(s, 14, e.tcp_seq);
    sqlite3_bind_int(s, 15, e.tcp_win);
    sqlite3_bind_int(s, 16, e.tcp_optlen);
    sqlite3_bind_int(s, 17, e.tcp_mss);
    sqlite3_bind_int(s, 18, e.flags);
    sqlite3_bind_int(s, 19, static_cast<int>(e.labels.kind));
    sqlite3_bind_int(s, 20, static_cast<int>(e.labels.tool));
    sqlite3_bind_int(s, 21, e.labels.spoof);
    sqlite3_bind_int64(s, 22, import_id_);
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return Error("insert event into");
  }
  return Status::Ok();
}

Result<int64_t> SqliteStore::Commit(const ImportSummary& sum) {
  if (!in_import_) return Internal("Commit outside an import");
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
  (void)Exec("ROLLBACK");
  in_import_ = false;
}

Result<uint64_t> SqliteStore::CountEvents() {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM events", -1, &st, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  uint64_t n = 0;
  if (sqlite3_step(st) == SQLITE_ROW) n = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  return n;
}

}  // namespace isdas::storage
