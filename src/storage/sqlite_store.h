#pragma once

// SQLite engine of EventStore: one file, `<data_dir>/isdas.sqlite`, WAL journal.
// Schema and column meanings: docs/storage-sqlite.md.

#include <memory>
#include <string>

#include "rollup/rollup.h"
#include "storage/event_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace isdas::storage {

class SqliteStore final : public EventStore {
 public:
  // Creates the directory and database if missing and brings the schema up to date.
  // Errors: kIo (cannot create/open), kCorruption (not an isdas database or newer schema).
  // With `durable`, every commit is fsynced before it returns (synchronous=FULL): what the
  // collector acknowledges survives a power cut. Imports use NORMAL (a re-import redoes them).
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& data_dir,
                                                   bool durable = false);
  ~SqliteStore() override;

  Result<int64_t> FindImport(const std::string& sha256) override;
  Status BeginImport() override;
  Status Append(std::span<const model::Event> events) override;
  Result<int64_t> Commit(const ImportSummary& summary) override;
  void Abandon() override;
  Result<uint64_t> CountEvents() override;
  Result<std::vector<BatchOutcome>> CommitBatches(std::span<SensorBatch* const> batches,
                                                  int64_t now_us) override;
  Status RecordHeartbeat(const std::string& sensor_id, int64_t now_us,
                         const std::vector<std::pair<std::string, uint64_t>>& counters) override;
  Result<std::vector<SensorInfo>> Sensors() override;
  Result<ExpireReport> Expire(const Retention& retention, int64_t now_us) override;
  Status FlushRollups(bool force) override;
  Result<Rows> Select(const std::string& sql) override;
  const SqlDialect& dialect() const override;

  const std::string& path() const { return path_; }

 private:
  SqliteStore() = default;
  Status Exec(const char* sql);
  Status Error(const char* what);
  Status InsertEvents(std::span<const model::Event> events, std::span<const SourceInfo> sources,
                      int64_t sensor, int64_t import_id);
  Result<int64_t> SensorId(const std::string& name, int64_t now_us);
  // Writes `agg`'s rows into the three rollup tables (inside the open transaction).
  Status WriteRollups(rollup::Aggregator* agg);
  // Inside the open transaction: writes the pending sensor-batch rollups and moves the
  // watermark (meta 'rollup_rowid') to the newest event they cover.
  Status WritePending(int64_t upto_rowid);
  // Folds the events `where` selects into `agg`; writes it when it grows past the bound
  // (`pending`: as pending rows, moving the watermark).
  Status AggregateEvents(const std::string& where, rollup::Aggregator* agg, bool pending);
  // Rebuilds the pending rollups from the sensor events past the watermark (at open, and
  // after a failed transaction, whose rows the aggregator may already hold).
  Status RecoverPending();
  Result<int64_t> MaxEventRowid();
  // Recomputes every rollup from the events table (schema migration from before rollups).
  Status RebuildRollups();

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;       // one event
  sqlite3_stmt* insert_many_ = nullptr;  // kRowsPerInsert events
  sqlite3_stmt* upsert_[3] = {};         // rollup upsert, by resolution
  rollup::Aggregator aggregator_;        // an import's rollups, written with its commit
  rollup::Aggregator pending_;           // committed sensor batches' rollups, not yet written
  double pending_since_ = 0;             // steady-clock seconds of the first pending row
  bool in_import_ = false;
  int64_t import_id_ = 0;
};

}  // namespace isdas::storage
