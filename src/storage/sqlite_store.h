#pragma once

// SQLite engine of EventStore: one file, `<data_dir>/isdas.sqlite`, WAL journal.
// Schema and column meanings: docs/storage-sqlite.md.

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rollup/rollup.h"
#include "storage/event_store.h"
#include "storage/rollup_packs.h"

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
  // Opens the store in `data_dir` for reading only (the API's connections): no schema change,
  // no prepared writers, no write can succeed. Errors: kIo (no store there), kCorruption (not
  // an isdas database), kInvalidArgument (an older schema: open it once with `Open` — the
  // collector or `isdas import` — to upgrade it).
  static Result<std::unique_ptr<ReadStore>> OpenForReading(const std::string& data_dir);
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
  Status SelectEach(const std::string& sql, const RowFn& fn) override;
  const SqlDialect& dialect() const override;

  const std::string& path() const { return path_; }

  // Where CommitBatches' time went, summed over the store's life (seconds, steady clock): the
  // writer storing event blocks, writing rollup rows (pending and late ones), waiting for the
  // counting of the previous commit's events (the next call, or a flush, waits for it), and
  // committing. For the benchmarks (bench/store_ingest.cc).
  struct CommitTimes {
    double blocks = 0, rollup_rows = 0, wait_counting = 0, commit = 0;
    // Rollup rows written (merged into their packs), and the seconds that took, by resolution
    // (5m, 1h, 1d): every write — batches, FlushRollups, imports, recovery — not only
    // CommitBatches'.
    uint64_t rows[3] = {0, 0, 0};
    double write_seconds[3] = {0, 0, 0};
    // Folding closed buckets' rows into coarser ones, serializing those written (the fold
    // threads' time, summed; taking the tables out takes next to none), and the writer waiting
    // for the folds.
    double fold = 0, wait_fold = 0;
    double fold_half[2] = {0, 0};  // `fold` by counting half (0: hours and days, 1: pairs)
    // How often the open rows were written as they are: at the bound on memory, or for
    // freshness (not counting FlushRollups).
    uint64_t flushes_bound = 0, flushes_fresh = 0;
  };
  const CommitTimes& commit_times() const { return times_; }
  // Checkpoints the checkpointer thread ran that copied pages, and the seconds it spent in all.
  uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }
  double checkpoint_seconds() const { return checkpoint_seconds_.load(std::memory_order_relaxed); }
  // Seconds each counting half of the open buckets' rows has run (RollupBuffer::half_seconds).
  const double* counting_half_seconds() const { return buffer_.half_seconds(); }
  // Called with the text of every Select/SelectEach before it runs (tests check the plans of
  // what the query layer asks; empty: none).
  void set_select_trace(std::function<void(const std::string&)> f) { trace_ = std::move(f); }
  // Waits until the folds queued so far have finished; their rows go with the next commit
  // (without it, with the first commit after they finish). For tests that look for rows at a
  // known commit.
  void WaitForFolds() { JoinFold(true); }
  // How often the open buckets of live traffic are written (docs/rollups.md; 60 s). Tests
  // shorten it rather than wait.
  void set_partial_flush_seconds(double s) { partial_flush_seconds_ = s; }
  // How many folded rollup rows a commit writes at most (250,000; whole packs, so a few more).
  // Tests make it small to have rows left over at every commit.
  void set_pending_rows_per_commit(size_t n) { pending_rows_per_commit_ = n; }
  // Rollup rows held in memory at most (4,000,000; docs/rollups.md). The benchmark lowers it
  // to measure the writes at the bound (bench/store_ingest.cc --max-pending-rows).
  void set_max_pending_rows(size_t n) { max_pending_rows_ = n; }
  // WAL pages after which a commit checkpoints itself, waiting (65,536: 256 MiB of 4 KiB
  // pages). Tests make it small.
  void set_wal_hard_pages(int n) { wal_hard_pages_ = n; }

 private:
  SqliteStore() = default;
  Status Exec(const char* sql);
  Status Error(const char* what);
  // Stores events as blocks (event_blocks.h); sensor < 0: under each event's own sensor id.
  Status InsertEvents(std::span<const model::Event> events, std::span<const SourceInfo> sources,
                      int64_t sensor, int64_t import_id);
  // Schema version 4: the rows of an older `events` table moved into blocks, the table dropped.
  Status EventsToBlocks();
  // Schema version 6: the rows of the rollup tables (versions 3 to 5) moved into packs, the
  // tables dropped.
  Status RollupsToPacks();
  // Runs `sql`, a DELETE of a few rows RETURNING one count, in transactions of its own until it
  // deletes nothing; adds the counts to `removed`.
  Status DeleteCounting(const std::string& sql, uint64_t* removed);
  // Keeps only the events at or after `cut_us` in each block that straddles it.
  Status CutBlocks(int64_t cut_us, uint64_t* removed);
  Result<int64_t> SensorId(const std::string& name, int64_t now_us);
  // Writes `agg`'s rows into the three rollup tables (inside the open transaction).
  Status WriteRollups(rollup::Aggregator* agg);
  // Writes rows into rollup_<r>'s packs (merged with what is there) and port_totals_<r>.
  Status WriteRows(rollup::Resolution r, const rollup::StoredRows& rows) {
    return WriteRows(r, rows, 0, rows.size());
  }
  Status WriteRows(rollup::Resolution r, const rollup::StoredRows& rows, size_t begin, size_t end);
  Status WriteOut(const rollup::RollupBuffer::Out& out);
  // Packets to add to port_totals_<r>: (bucket, filter dimensions) -> (port, packets) pairs,
  // a port at most once a row.
  using PortAdds = absl::flat_hash_map<rollup::RowKey, std::vector<std::pair<uint16_t, uint64_t>>,
                                       rollup::RowKeyHash>;
  // Adds them (read, merge, write each bucket's blob); `add` is used up.
  Status AddPortTotals(rollup::Resolution r, PortAdds& add);
  // Recomputes every rollup from the stored events (schema migration from before rollups).
  Status RebuildRollups();
  // Calls `fn` with the events from `from_us` on, block by block, a sensor's run at a time.
  Status ScanEvents(int64_t from_us,
                    const std::function<Status(std::span<const model::Event>,
                                               std::span<const SourceInfo>, uint32_t)>& fn);
  // Sensor batches' rollups (docs/rollups.md#when-rollups-are-written-sqlite): a batch's
  // events of buckets already closed are counted into `late` now; the others are copied into
  // count_jobs_, for the buffer of open buckets.
  void Route(const SensorBatch& b, uint32_t sensor, rollup::RollupBuffer* late);
  // Starts counting count_jobs_ into buffer_ on its own thread; the writer goes on meanwhile
  // (folding and writing closed rows, storing the events, committing, taking the next
  // batches).
  void StartCounting();
  // Waits for that counting (before it is started again or the buffer taken from or read)
  // and frees the copies.
  void JoinCounting();
  // Takes the tables of buckets that closed out of the buffer (everything open when `all`,
  // memory or freshness asks) and moves the closed mark in memory; `mark` is set to the mark
  // to record once their rows are written, or INT64_MIN (docs/rollups.md#when-rollups-are-
  // written-sqlite). Not beside counting; folds may run (it touches only the counting
  // tables).
  rollup::RollupBuffer::Taken TakeClosed(bool all, int64_t now_us, int64_t* mark);
  // Queues what TakeClosed took to be folded on the fold lanes, one a counting half
  // (RollupBuffer::FoldHalf), beside counting and the next commits; folds of one lane run in
  // the order of their Takes. Waits only when a lane is kMaxQueuedFolds behind.
  void StartFold(rollup::RollupBuffer::Taken&& taken, int64_t mark);
  void RunFoldLane(int half);  // a lane's thread
  void StopFoldLanes();        // ends the threads, dropping what is queued
  bool FoldsIdle();            // no fold queued or running
  // Checkpoints: the writer connection's WAL hook (after every commit) asks a thread with a
  // connection of its own to run them; the commit itself waits for none.
  static int WalHook(void* self, sqlite3* db, const char* name, int pages);
  void RequestCheckpoint();
  void RunCheckpointer();
  // Moves the rows of the folds finished so far to pending_, and sets folded_through_; with
  // `wait`, all queued folds first.
  void JoinFold(bool wait = true);
  // Inside the open transaction: writes pending_, in order, whole packs at a time until at
  // least `budget` rows are written (a fold's rows may take several commits); and the newest
  // closed mark whose rows are all written.
  Status WritePending(size_t budget = SIZE_MAX);
  // Gives a written output back to its lane, emptied, its buffers kept (a fold's output is
  // tens of MB: made new each time, its pages were faulted in and zeroed by the kernel, and
  // copied as the buffers grew — 10 % of all CPU samples, on the fold threads; BENCHMARKS.md).
  void RecycleOut(int half, rollup::RollupBuffer::Out&& out);
  // Records that 5-minute buckets before `closed5` are written (meta.rollup_closed_5m).
  Status WriteClosedMark(int64_t closed5);
  // Before the first sensor batch, and after a failed transaction: the buffer rebuilt from the
  // events of the buckets still open, their partly written rows deleted.
  Status RecoverRollups();

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_block_ = nullptr;     // one block of events
  PackWriter packs_[3];                      // rollup rows, by resolution
  std::vector<model::Event> import_events_;  // an import's events not yet in a block
  rollup::Aggregator aggregator_;            // an import's rollups, written with its commit
  rollup::RollupBuffer buffer_;              // committed sensor batches' rows of open buckets
  // The last commit's events of open buckets (copies: the caller may free its batches once
  // CommitBatches returns), counted into buffer_ by `counting_` while the writer goes on.
  struct CountJob {
    std::vector<model::Event> events;
    std::vector<SourceInfo> sources;
    uint32_t sensor = 0;
  };
  std::vector<CountJob> count_jobs_;  // the first jobs_ in use (kept: their memory is reused)
  size_t jobs_ = 0;
  std::thread counting_;
  // A fold lane: a thread folding, in order, what StartFold queued for one counting half.
  struct FoldLane {
    struct Task {
      std::vector<rollup::RowVector> tables;
      int64_t c5 = INT64_MIN;
      bool open_days = false;
      uint64_t seq = 0;  // StartFold's number
    };
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;  // a task queued or finished, or stop
    std::deque<Task> todo;
    size_t queued = 0;                                                 // tasks queued or running
    std::vector<std::pair<uint64_t, rollup::RollupBuffer::Out>> done;  // (seq, rows folded)
    uint64_t done_through = 0;  // seq of the last task finished
    double seconds = 0;         // fold time not yet in times_
    bool stop = false;
    // Outputs written out, emptied with their memory kept, for the next folds (RecycleOut).
    std::vector<rollup::RollupBuffer::Out> spare;
  };
  FoldLane lanes_[2];
  uint64_t fold_seq_ = 0;  // StartFold calls with something to fold
  // Both halves of every fold up to this seq are in pending_ (JoinFold).
  uint64_t folded_through_ = 0;
  // (seq, closed mark) of folds whose mark is not recorded yet: it is, in WritePending, once
  // both halves are folded and no row of a fold up to seq is left in pending_.
  std::deque<std::pair<uint64_t, int64_t>> fold_marks_;
  std::thread ckpt_thread_;  // RunCheckpointer, started at the first request
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_due_ = false, ckpt_stop_ = false;
  std::atomic<double> checkpoint_seconds_{0};
  std::atomic<uint64_t> checkpoints_{0};
  // Rows folded, not yet (all) written: the fold's seq, and the resolution and row to go on at.
  struct Pending {
    rollup::RollupBuffer::Out out;
    uint64_t seq = 0;
    int half = 0;  // the lane that folded it
    int r = 0;
    size_t at = 0;
  };
  std::deque<Pending> pending_;
  bool recovered_ = false;  // buffer_ matches the tables
  // 5-minute buckets before this are closed: taken out of buffer_ (the mark in meta follows
  // once their rows are written).
  int64_t closed5_ = INT64_MIN;
  int64_t max_ts_s_ = INT64_MIN;       // newest event time seen
  size_t max_pending_rows_ = 4000000;  // set_max_pending_rows
  // Folded rows a commit writes at most: an hour's close, or the open days written at the
  // bound (millions of rows), go out over several commits instead of stalling one
  // (docs/rollups.md).
  size_t pending_rows_per_commit_ = 250000;
  int wal_hard_pages_ = 65536;         // set_wal_hard_pages
  double partial_flush_seconds_ = 60;  // open buckets of live traffic written at least this often
  double last_flush_ = 0;              // steady-clock seconds of the last write of open rows
  CommitTimes times_;
  std::function<void(const std::string&)> trace_;
  bool in_import_ = false;
  int64_t import_id_ = 0;
};

}  // namespace isdas::storage
