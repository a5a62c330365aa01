#pragma once

// The SQLite store's rollup writer (docs/rollups.md#when-rollups-are-written-sqlite): the rows
// of sensor batches' events are counted into a buffer of open buckets on a thread of their own
// while the store's writer goes on; buckets that close are taken out, folded into hours and
// days on two fold lanes, and their rows written a budget at a time with later commits; late
// events' rows are written with their own commit; and after a crash or a failed transaction
// the buffer is rebuilt from the stored events. Rows go into packs (rollup_packs.h) and the
// port-total blobs (docs/storage-sqlite.md).
//
// Used by one writer thread (the store's), which also runs the transactions: every method but
// the constructor writes inside the caller's open transaction, except Recover, which runs its
// own. The counting and fold threads touch only the buffer's tables and the lanes.

#include <absl/base/thread_annotations.h>
#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "rollup/rollup.h"
#include "storage/event_store.h"
#include "storage/rollup_buffer.h"
#include "storage/rollup_packs.h"

struct sqlite3;

namespace isdas::storage {

// Where CommitBatches' time went, summed over the store's life (seconds, steady clock): the
// writer storing event blocks, writing rollup rows (pending and late ones), waiting for the
// counting of the previous commit's events (the next call, or a flush, waits for it), and
// committing. For the benchmarks (bench/store_ingest.cc).
struct CommitTimes {
  double blocks = 0, rollup_rows = 0, wait_counting = 0, commit = 0;
  // Rollup rows written (merged into their packs), and the seconds that took, by resolution
  // (5m, 1h, 1d): every write — batches, FlushRollups, imports, recovery — not only
  // CommitBatches'.
  uint64_t rows[rollup::kResolutionCount] = {};
  double write_seconds[rollup::kResolutionCount] = {};
  // Folding closed buckets' rows into coarser ones, serializing those written (the fold
  // threads' time, summed; taking the tables out takes next to none), and the writer waiting
  // for the folds.
  double fold = 0, wait_fold = 0;
  double fold_half[2] = {0, 0};  // `fold` by counting half (0: hours and days, 1: pairs)
  // How often the open rows were written as they are: at the bound on memory, or for
  // freshness (not counting FlushRollups).
  uint64_t flushes_bound = 0, flushes_fresh = 0;
};

class SqliteRollupWriter {
 public:
  // Calls `fn` with the stored events from `from_us` on, a sensor's run at a time.
  using EventFn =
      std::function<Status(std::span<const model::Event>, std::span<const SourceInfo>, uint32_t)>;
  using EventScan = std::function<Status(int64_t from_us, const EventFn& fn)>;

  SqliteRollupWriter() = default;
  ~SqliteRollupWriter();  // joins the counting and fold threads; what they held is dropped
  SqliteRollupWriter(const SqliteRollupWriter&) = delete;
  SqliteRollupWriter& operator=(const SqliteRollupWriter&) = delete;

  // Prepares the packs' statements on `db` (the store's writer connection). `scan` reads the
  // stored events back (Recover).
  Status Prepare(sqlite3* db, const std::string& path, EventScan scan);

  // Imports and migrations: the rows of `agg`, 5-minute then hourly and daily ones made from
  // them, merged into what is stored.
  Status WriteAggregated(rollup::Aggregator* agg);

  // A commit of sensor batches, in this order:
  //   Ready()                       before the transaction: waits for the last counting, and
  //                                 rebuilds the buffer first when it may not match the tables
  //   TakeClosed(now)               in it, first: the buckets the earlier commits closed
  //   Count(batches)                the new batches' events: late ones kept for WriteRows, the
  //                                 others counted on the counting thread; the closed buckets
  //                                 queued on the fold lanes
  //   WriteRows()                   folded rows (within the per-commit budget) and late rows
  //   Failed()                      when the transaction was rolled back
  Status Ready();
  void TakeClosed(int64_t now_us);
  struct Stored {
    const SensorBatch* batch;
    uint32_t sensor;  // the sensor's number in the store
  };
  void Count(std::span<const Stored> batches);
  Status WriteRows();
  void Failed();

  // FlushRollups, in two steps. FlushDue (before the transaction): waits for counting and
  // folds, rebuilds the buffer when needed, and says whether anything is to be written — rows
  // are held, and with `force` or when the last write of open rows is older than the idle
  // interval. FlushAll (in it): whatever is open or folded is written.
  Result<bool> FlushDue(bool force);
  Status FlushAll();
  // Waits until the folds queued so far have finished; their rows go with the next commit.
  void WaitForFolds() { JoinFold(true); }

  // The coarse buckets (rollup::kCoarse; docs/rollups.md#coarse-buckets) made again from the
  // daily rows of the days folded into them (meta.rollup_coarse_through), in the caller's
  // transaction: the migration to schema version 9 and after a rebuild of the daily rows.
  Status RebuildCoarse();

  CommitTimes& times() { return times_; }
  const double* counting_half_seconds() const { return buffer_.half_seconds(); }
  void set_partial_flush_seconds(double s) { partial_flush_seconds_ = s; }
  void set_pending_rows_per_commit(size_t n) { pending_rows_per_commit_ = n; }
  void set_max_pending_rows(size_t n) { max_pending_rows_ = n; }
  size_t max_pending_rows() const { return max_pending_rows_; }

 private:
  Status Exec(const char* sql);
  Result<Rows> Select(const std::string& sql);
  Status Error(const char* what);
  // Writes rows into rollup_<r>'s packs (merged with what is there) and port_totals_<r>.
  Status Write(rollup::Resolution r, const StoredRows& rows) {
    return Write(r, rows, 0, rows.size());
  }
  Status Write(rollup::Resolution r, const StoredRows& rows, size_t begin, size_t end);
  Status WriteOut(const RollupBuffer::Out& out);
  // Packets to add to port_totals_<r>: (bucket, filter dimensions) -> (port, packets) pairs,
  // a port at most once a row.
  using PortAdds = absl::flat_hash_map<rollup::RowKey, std::vector<std::pair<uint16_t, uint64_t>>,
                                       rollup::RowKeyHash>;
  // Adds them (read, merge, write each bucket's blob); `add` is used up.
  Status AddPortTotals(rollup::Resolution r, PortAdds& add);
  // A batch's events of buckets already closed are counted into late_ now; the others are
  // copied into count_jobs_, for the buffer of open buckets.
  void Route(const SensorBatch& b, uint32_t sensor);
  // Starts counting count_jobs_ into buffer_ on its own thread; the writer goes on meanwhile.
  void StartCounting();
  // Waits for that counting (before it is started again or the buffer taken from or read)
  // and frees the copies.
  void JoinCounting();
  // Takes the tables of buckets that closed out of the buffer (everything open when `all`,
  // memory or freshness asks) and moves the closed mark in memory; `mark` is set to the mark
  // to record once their rows are written, or INT64_MIN. Not beside counting; folds may run
  // (it touches only the counting tables).
  RollupBuffer::Taken Take(bool all, int64_t now_us, int64_t* mark);
  // Queues what Take took to be folded on the fold lanes, one a counting half
  // (RollupBuffer::FoldHalf), beside counting and the next commits; folds of one lane run in
  // the order of their Takes. Waits only when a lane is kMaxQueuedFolds behind.
  void StartFold(RollupBuffer::Taken&& taken, int64_t mark);
  void RunFoldLane(int half);  // a lane's thread
  void StopFoldLanes();        // ends the threads, dropping what is queued
  bool FoldsIdle();            // no fold queued or running
  // Moves the rows of the folds finished so far to pending_, and sets folded_through_; with
  // `wait`, all queued folds first.
  void JoinFold(bool wait = true);
  // Writes pending_, in order, whole packs at a time until at least `budget` rows are
  // written (a fold's rows may take several commits); and the newest closed mark whose rows
  // are all written.
  Status WritePending(size_t budget = SIZE_MAX);
  // Gives a written output back to its lane, emptied, its buffers kept (a fold's output is
  // tens of MB: made new each time, its pages were faulted in and zeroed by the kernel, and
  // copied as the buffers grew).
  void RecycleOut(int half, RollupBuffer::Out&& out);
  // Records that 5-minute buckets before `closed5` are written (meta.rollup_closed_5m).
  Status WriteClosedMark(int64_t closed5);
  // Before the first sensor batch, and after a failed transaction: the buffer rebuilt from the
  // events of the buckets still open, their partly written rows deleted (its own transaction).
  Status Recover();

  // Coarse buckets. Days before coarse_through_ are in them: a write of daily rows of such a
  // day is also written into each coarse bucket holding it. Later days are folded in whole by
  // FoldDays once they close (the collector's closed mark passes their end), so a coarse
  // bucket never holds part of an open day, and recovery, which rebuilds open days, leaves
  // the coarse buckets alone. INT64_MAX (no mark: a store only imports write, whose days are
  // complete when written): every day.
  Status LoadCoarseThrough();
  Status StoreCoarseThrough(int64_t day);
  // Writes one day's rows (bucket = the day, as stored daily) into each coarse bucket holding
  // it; `rows` is re-bucketed.
  // `level_from` (one per rollup::kCoarse, or null): a level takes the day only from there on.
  Status WriteCoarse(StoredRows& rows, int64_t day, const int64_t* level_from = nullptr);
  // Folds the days in [from, to) that have daily rows into the coarse buckets, reading those
  // rows back (PackReader), and moves coarse_through_ to `to`.
  Status FoldDays(int64_t from, int64_t to, const int64_t* level_from = nullptr);
  // Deletes the coarse buckets holding days at or after `from` (INT64_MIN: all), folds the days
  // of theirs before `through` again, and sets coarse_through_ to `through`.
  Status RebuildCoarseFrom(int64_t from, int64_t through);
  // Deletes resolution r's buckets from `b` on (INT64_MIN: all): packs, deltas, port totals.
  Status DeleteBucketsFrom(rollup::Resolution r, int64_t b);

  sqlite3* db_ = nullptr;
  std::string path_;
  EventScan scan_;
  PackWriter packs_[rollup::kResolutionCount];  // rollup rows, by resolution
  PackReader day_reader_;                       // daily packs read back to fold days
  int64_t coarse_through_ = INT64_MAX;
  RollupBuffer buffer_;         // committed sensor batches' rows of open buckets
  RollupBuffer late_;           // this commit's events of closed buckets
  RollupBuffer::Taken closed_;  // TakeClosed's, queued by Count
  int64_t closed_mark_ = INT64_MIN;
  // The last commit's events of open buckets (copies: the caller may free its batches once
  // the commit returns), counted into buffer_ by `counting_` while the writer goes on.
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
    std::thread thread;  // started and joined by the writer
    Mutex mu;
    CondVar cv;  // a task queued or finished, or stop
    std::deque<Task> todo ABSL_GUARDED_BY(mu);
    size_t queued ABSL_GUARDED_BY(mu) = 0;  // tasks queued or running
    // (seq, rows folded)
    std::vector<std::pair<uint64_t, RollupBuffer::Out>> done ABSL_GUARDED_BY(mu);
    uint64_t done_through ABSL_GUARDED_BY(mu) = 0;  // seq of the last task finished
    double seconds ABSL_GUARDED_BY(mu) = 0;         // fold time not yet in times_
    bool stop ABSL_GUARDED_BY(mu) = false;
    // Outputs written out, emptied with their memory kept, for the next folds (RecycleOut).
    std::vector<RollupBuffer::Out> spare ABSL_GUARDED_BY(mu);
  };
  FoldLane lanes_[2];
  uint64_t fold_seq_ = 0;  // StartFold calls with something to fold
  // Both halves of every fold up to this seq are in pending_ (JoinFold).
  uint64_t folded_through_ = 0;
  // (seq, closed mark) of folds whose mark is not recorded yet: it is, in WritePending, once
  // both halves are folded and no row of a fold up to seq is left in pending_.
  std::deque<std::pair<uint64_t, int64_t>> fold_marks_;
  // Rows folded, not yet (all) written: the fold's seq, and the resolution and row to go on at.
  struct Pending {
    RollupBuffer::Out out;
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
  size_t max_pending_rows_ = 4000000;  // rows held in memory at most (docs/rollups.md)
  // Folded rows a commit writes at most: an hour's close, or the open days written at the
  // bound (millions of rows), go out over several commits instead of stalling one.
  size_t pending_rows_per_commit_ = 250000;
  double partial_flush_seconds_ = 60;  // open buckets of live traffic written at least this often
  double last_flush_ = 0;              // steady-clock seconds of the last write of open rows
  CommitTimes times_;
};

}  // namespace isdas::storage
