#pragma once

// SQLite engine of the stores (event_store.h: read, ingest, import): one file,
// `<data_dir>/isdas.sqlite`, WAL journal. Schema and column meanings: docs/storage-sqlite.md.

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "rollup/rollup.h"
#include "storage/event_store.h"
#include "storage/rollup_packs.h"
#include "storage/sqlite_rollup_writer.h"

struct sqlite3;
struct sqlite3_stmt;

namespace isdas::storage {

class SqliteStore final : public IngestStore, public ImportStore {
 public:
  // Creates the directory and database if missing and brings the schema up to date.
  // Errors: kIo (cannot create/open), kCorruption (not an isdas database or newer schema).
  // With `durable`, every commit is fsynced before it returns (synchronous=FULL): what the
  // collector acknowledges survives a power cut. Imports use NORMAL (a re-import redoes them).
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& data_dir,
                                                   bool durable = false);
  // Opens the store in `data_dir` for reading only (the API's connections): no schema change,
  // no prepared writers, no write can succeed. Errors: kIo (no store there), kCorruption (not
  // an isdas database), kInvalidArgument (an older schema: open it once with `Open` — the
  // collector or `isdas import` — to upgrade it).
  static Result<std::unique_ptr<ReadStore>> OpenForReading(const std::string& data_dir);
  // The same, as this engine (`isdas sql` asks for its ColumnOrigins).
  static Result<std::unique_ptr<SqliteStore>> OpenReadOnly(const std::string& data_dir);
  // Brings an older store up to schema version `to` only — the migration steps up to it, one
  // transaction each (sqlite_schema.cc) — and closes it: the tests of each step. Errors as
  // Open's; kInvalidArgument for a version with no migration to it.
  static Status UpgradeTo(const std::string& data_dir, int to);
  ~SqliteStore() override;

  Result<int64_t> FindImport(const std::string& sha256) override;
  Status BeginImport() override;
  using ImportStore::Append;
  Status Append(std::span<const model::Event> events, std::span<const SourceInfo> sources) override;
  Status AddAsNames(const std::vector<std::pair<uint32_t, std::string>>& names) override;
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
  Status SelectEach(const std::string& sql, const RowFn& fn) override;
  // Where each result column of `sql` comes from: {table, column} of a column read as it is
  // stored, empty for an expression (`hex(src)`, `COUNT(*)`). For `isdas sql`'s printing.
  Result<std::vector<std::pair<std::string, std::string>>> ColumnOrigins(const std::string& sql);
  const SqlDialect& dialect() const override;
  // From port_totals_<res> (sqlite_port_totals.cc): the heads first, whole blobs only where
  // they could change the ranking (docs/rollups.md#top-ports).
  Result<std::optional<PortTotals>> TopPortTotals(const PortTotalsQuery& q) override;
  // meta.rollup_generation (kBumpRollupGeneration), "0" before the first rollup write.
  Result<std::optional<std::string>> RollupGeneration() override;
  // meta.rollup_coarse_through (SqliteRollupWriter), INT64_MAX when there is none.
  int64_t CoarseThrough() override;
  std::string Describe() const override { return path_; }

  const std::string& path() const { return path_; }

  // Where CommitBatches' time went (sqlite_rollup_writer.h). For the benchmarks.
  const CommitTimes& commit_times() { return rollups_.times(); }
  // Checkpoints the checkpointer thread ran that copied pages, and the seconds it spent in all.
  uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }
  double checkpoint_seconds() const { return checkpoint_seconds_.load(std::memory_order_relaxed); }
  // Seconds each counting half of the open buckets' rows has run (RollupBuffer::half_seconds).
  const double* counting_half_seconds() const { return rollups_.counting_half_seconds(); }
  // Called with the text of every Select/SelectEach before it runs (tests check the plans of
  // what the query layer asks; empty: none).
  void set_select_trace(std::function<void(const std::string&)> f) { trace_ = std::move(f); }
  // Waits until the folds queued so far have finished; their rows go with the next commit
  // (without it, with the first commit after they finish). For tests that look for rows at a
  // known commit.
  void WaitForFolds() { rollups_.WaitForFolds(); }
  // How often the open buckets of live traffic are written (docs/rollups.md; 60 s). Tests
  // shorten it rather than wait.
  void set_partial_flush_seconds(double s) { rollups_.set_partial_flush_seconds(s); }
  // How many folded rollup rows a commit writes at most (250,000; whole packs, so a few more).
  // Tests make it small to have rows left over at every commit.
  void set_pending_rows_per_commit(size_t n) { rollups_.set_pending_rows_per_commit(n); }
  // Rollup rows held in memory at most (4,000,000; docs/rollups.md). The benchmark lowers it
  // to measure the writes at the bound (bench/store_ingest.cc --max-pending-rows).
  void set_max_pending_rows(size_t n) { rollups_.set_max_pending_rows(n); }
  // WAL pages after which a commit checkpoints itself, waiting (65,536: 256 MiB of 4 KiB
  // pages). Tests make it small.
  void set_wal_hard_pages(int n) { wal_hard_pages_ = n; }

 private:
  // One step of the schema's migrations (sqlite_schema.cc): brings a store at version `from`
  // to `to`, inside a transaction that also records `to`.
  struct Migration {
    int from, to;
    const char* what;
    Status (SqliteStore::*step)();
  };
  static const Migration kMigrations[];

  SqliteStore() = default;
  Status Exec(const char* sql);
  Status Error(const char* what);
  // Opens the file at `<data_dir>/isdas.sqlite` read-write (creating it) with the pragmas of a
  // writer; no schema work.
  static Result<std::unique_ptr<SqliteStore>> OpenFile(const std::string& data_dir, bool durable);
  // Runs the migrations from the file's version up to `to`, one transaction each
  // (sqlite_schema.cc).
  Status Migrate(int from, int to);
  // The steps (sqlite_schema.cc; docs/storage-sqlite.md#schema-versions).
  Status AddEnrichmentColumns();  // 1 -> 2
  Status AddResearchFlag();       // 2 -> 3: the rollups are then made from the events (below)
  Status EventsToBlocks();        // 3 -> 4
  Status RollupsToPacks();        // 4 or 5 -> 6
  Status AddPackDeltas();         // 6 -> 7
  Status AddImportGeoVersion();   // 7 -> 8
  Status AddCoarseRollups();      // 8 -> 9: their rows are then made from the daily ones (below)
  Status SpoofInPortTotals();     // 9 -> 10
  // Today's schema objects that are missing (a new store gets them all).
  Status CreateSchema();
  // Recomputes every rollup from the stored events, when a migration from before rollups
  // asked for it (meta.rollups_from_events).
  Status RebuildRollupsIfAsked();
  // Makes the coarse buckets from the daily rows, when the migration to version 9 asked for it
  // (meta.coarse_from_daily).
  Status BuildCoarseIfAsked();
  // Stores events as blocks (event_blocks.h); sensor < 0: under each event's own sensor id.
  Status InsertEvents(std::span<const model::Event> events, std::span<const SourceInfo> sources,
                      int64_t sensor, int64_t import_id);
  // Runs `sql`, a DELETE of a few rows RETURNING one count, in transactions of its own until it
  // deletes nothing; adds the counts to `removed`.
  Status DeleteCounting(const std::string& sql, uint64_t* removed);
  // Keeps only the events at or after `cut_us` in each block that straddles it.
  Status CutBlocks(int64_t cut_us, uint64_t* removed);
  Result<int64_t> SensorId(const std::string& name, int64_t now_us);
  // Upserts AS names (a sensor batch's or an import's), inside the open transaction.
  Status InsertAsNames(const std::vector<std::pair<uint32_t, std::string>>& names);
  // Calls `fn` with the events from `from_us` on, block by block, a sensor's run at a time.
  Status ScanEvents(int64_t from_us, const SqliteRollupWriter::EventFn& fn);
  // Checkpoints: the writer connection's WAL hook (after every commit) asks a thread with a
  // connection of its own to run them; the commit itself waits for none.
  static int WalHook(void* self, sqlite3* db, const char* name, int pages);
  void RequestCheckpoint() ABSL_LOCKS_EXCLUDED(ckpt_mu_);
  void RunCheckpointer() ABSL_LOCKS_EXCLUDED(ckpt_mu_);

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_block_ = nullptr;     // one block of events (prepared at first use)
  sqlite3_stmt* insert_as_name_ = nullptr;   // one AS name, upserted (prepared at first use)
  std::vector<model::Event> import_events_;  // an import's events not yet in a block
  std::vector<SourceInfo> import_sources_;   // theirs, one each
  rollup::Aggregator aggregator_;            // an import's rollups, written with its commit
  SqliteRollupWriter rollups_;               // sensor batches' rollups (and everyone's writes)
  Mutex ckpt_mu_;
  // RunCheckpointer, started at the first request (by the writer's WAL hook).
  std::thread ckpt_thread_ ABSL_GUARDED_BY(ckpt_mu_);
  CondVar ckpt_cv_;  // ckpt_due_ or ckpt_stop_ set
  bool ckpt_due_ ABSL_GUARDED_BY(ckpt_mu_) = false;
  bool ckpt_stop_ ABSL_GUARDED_BY(ckpt_mu_) = false;
  std::atomic<double> checkpoint_seconds_{0};
  std::atomic<uint64_t> checkpoints_{0};
  int wal_hard_pages_ = 65536;  // set_wal_hard_pages
  std::function<void(const std::string&)> trace_;
  bool in_import_ = false;
  int64_t import_id_ = 0;
};

}  // namespace isdas::storage
