#include "storage/sqlite_rollup_writer.h"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>

#include "storage/port_totals.h"
#include "storage/sqlite_util.h"

namespace isdas::storage {
namespace {

constexpr int64_t kGraceSeconds = 120;  // a 5-minute bucket closes this long after its end
constexpr int64_t kLiveSeconds = 3600;  // traffic this recent is live (freshness flush)
// A fold lane's queue at most (StartFold waits): a write of the open days at the bound keeps a
// lane busy for seconds, and with three queued the writer, and so counting, waited on it.
constexpr size_t kMaxQueuedFolds = 6;
constexpr double kIdleFlushSeconds = 2;  // an idle writer writes open rows at most this often

}  // namespace

SqliteRollupWriter::~SqliteRollupWriter() {
  JoinCounting();
  StopFoldLanes();
}

Status SqliteRollupWriter::Prepare(sqlite3* db, const std::string& path, EventScan scan) {
  db_ = db;
  path_ = path;
  scan_ = std::move(scan);
  for (rollup::Resolution r : rollup::kAllResolutions) {
    ISDAS_RETURN_IF_ERROR(packs_[static_cast<int>(r)].Prepare(db_, r));
  }
  ISDAS_RETURN_IF_ERROR(day_reader_.Prepare(db_, rollup::Resolution::k1d));
  return LoadCoarseThrough();
}

Status SqliteRollupWriter::Error(const char* what) {
  return IoError(std::string(what) + " " + path_ + ": " + sqlite3_errmsg(db_));
}

Status SqliteRollupWriter::Exec(const char* sql) { return ExecSql(db_, path_, sql); }

Result<Rows> SqliteRollupWriter::Select(const std::string& sql) {
  Stmt st;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  Rows out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    auto& row = out.emplace_back();
    for (int c = 0; c < sqlite3_column_count(st.s); ++c) {
      const auto* t = sqlite3_column_text(st.s, c);
      row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
  }
  if (rc != SQLITE_DONE) return Error("read");
  return out;
}

Status SqliteRollupWriter::WriteAggregated(rollup::Aggregator* agg) {
  if (agg->empty()) return Status::Ok();
  // As the transaction sees it: a collector on the same store may have moved it since.
  ISDAS_RETURN_IF_ERROR(LoadCoarseThrough());
  // 5-minute rows, then hourly ones made from them, then daily ones made from the hourly.
  std::vector<rollup::Row> rows = agg->Take();
  for (rollup::Resolution r : rollup::kResolutions) {
    if (r != rollup::Resolution::k5m) rows = rollup::Coarsen(std::move(rows), r);
    StoredRows stored;
    for (const rollup::Row& row : rows) stored.Add(row.key, row.value);
    ISDAS_RETURN_IF_ERROR(Write(r, stored));
  }
  return Status::Ok();
}

Status SqliteRollupWriter::Ready() {
  JoinCounting();
  if (!recovered_) ISDAS_RETURN_IF_ERROR(Recover());
  return Status::Ok();
}

void SqliteRollupWriter::TakeClosed(int64_t now_us) {
  late_.Clear();
  closed_ = Take(false, now_us, &closed_mark_);
}

// The events' rows and their rollups are independent work: the open buckets' rows are counted,
// and the closed ones folded (with no new batch too: written with the next ones), on other
// threads while the store's writer stores the events, writes the rows folded at earlier
// commits, commits, and takes the next batches; the next commit waits for both. Were the
// transaction lost, so would be the counted rows: the buffer is rebuilt from the stored
// events (Recover). Late events' rows are written in the transaction, with their events.
void SqliteRollupWriter::Count(std::span<const Stored> batches) {
  for (const Stored& s : batches) Route(*s.batch, s.sensor);
  if (!batches.empty()) StartCounting();
  StartFold(std::move(closed_), closed_mark_);
  closed_ = {};
  closed_mark_ = INT64_MIN;
}

void SqliteRollupWriter::Failed() {
  recovered_ = false;
  closed_ = {};
  closed_mark_ = INT64_MIN;
  late_.Clear();
}

Status SqliteRollupWriter::WriteRows() {
  // The rows of the folds finished by now (queued at this commit or earlier): a fold still
  // running is not waited for, its rows go with a later commit.
  JoinFold(/*wait=*/false);
  ISDAS_RETURN_IF_ERROR(WritePending(pending_rows_per_commit_));
  if (!late_.empty()) ISDAS_RETURN_IF_ERROR(WriteOut(late_.CloseAll()));
  return Status::Ok();
}

Status SqliteRollupWriter::Write(rollup::Resolution r, const StoredRows& rows, size_t begin,
                                 size_t end) {
  const double start = SteadySeconds();
  PortAdds totals;
  for (size_t i = begin; i < end; ++i) {
    const StoredRows::Row& row = rows.rows()[i];
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
  if (!s.ok() || r != rollup::Resolution::k1d) return s;
  // Days already folded into the coarse buckets get these rows there too (late events, imports
  // of past days), a day at a time: one day's rows hold each key once.
  std::map<int64_t, StoredRows> days;
  for (size_t i = begin; i < end; ++i) {
    const StoredRows::Row& row = rows.rows()[i];
    if (row.key.bucket >= coarse_through_) continue;
    days[row.key.bucket].Add(row.key, row.packets, row.first_us, row.last_us, rows.sources(row),
                             rows.destinations(row));
  }
  for (auto& [day, day_rows] : days) ISDAS_RETURN_IF_ERROR(WriteCoarse(day_rows, day));
  return Status::Ok();
}

Status SqliteRollupWriter::LoadCoarseThrough() {
  auto v = Select("SELECT value FROM meta WHERE key = 'rollup_coarse_through'");
  if (!v.ok()) return v.status();
  coarse_through_ = v->empty() ? INT64_MAX : std::strtoll(v.value()[0][0].c_str(), nullptr, 10);
  return Status::Ok();
}

Status SqliteRollupWriter::StoreCoarseThrough(int64_t day) {
  coarse_through_ = day;
  return Exec(
      ("INSERT OR REPLACE INTO meta VALUES('rollup_coarse_through', " + std::to_string(day) + ")")
          .c_str());
}

Status SqliteRollupWriter::WriteCoarse(StoredRows& rows, int64_t day, const int64_t* level_from) {
  for (size_t i = 0; i < std::size(rollup::kCoarse); ++i) {
    const rollup::Resolution r = rollup::kCoarse[i];
    if (level_from && day < level_from[i]) continue;
    rows.SetBucket(rollup::BucketStart(day, rollup::Seconds(r)));
    ISDAS_RETURN_IF_ERROR(Write(r, rows));
  }
  return Status::Ok();
}

Status SqliteRollupWriter::FoldDays(int64_t from, int64_t to, const int64_t* level_from) {
  if (from >= to) return StoreCoarseThrough(to);
  // The days with rows: each has a pack of the total family (every event counts in it).
  int64_t lo, hi;
  std::vector<int64_t> days;
  if (PackIdRange(rollup::Resolution::k1d, 0, 0, from, to - 1, 0, 0, &lo, &hi)) {
    auto found =
        Select("SELECT bucket FROM " + PacksTable(rollup::Resolution::k1d) + " WHERE id BETWEEN " +
               std::to_string(lo) + " AND " + std::to_string(hi) + " ORDER BY id");
    if (!found.ok()) return found.status();
    for (const auto& r : found.value()) days.push_back(std::strtoll(r[0].c_str(), nullptr, 10));
  }
  Stmt st;
  if (sqlite3_prepare_v2(db_,
                         ("SELECT id, part, data FROM " + PacksTable(rollup::Resolution::k1d) +
                          " WHERE id BETWEEN ? AND ? ORDER BY id")
                             .c_str(),
                         -1, &st.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  std::vector<PackRow> pack;
  for (const int64_t day : days) {
    StoredRows rows;
    for (int f = 0; f < rollup::kFamilies; ++f) {
      if (!PackIdRange(rollup::Resolution::k1d, f, f, day, day, 0, INT64_MAX, &lo, &hi)) continue;
      sqlite3_bind_int64(st.s, 1, lo);
      sqlite3_bind_int64(st.s, 2, hi);
      int rc;
      while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(st.s, 2));
        const std::string_view data(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st.s, 2)));
        Status read =
            day_reader_.Read(data, sqlite3_column_int64(st.s, 0), static_cast<rollup::Family>(f),
                             day, sqlite3_column_int64(st.s, 1), &pack);
        if (!read.ok()) {
          sqlite3_reset(st.s);
          return read;
        }
        for (const PackRow& pr : pack) {
          rollup::RowKey k;
          k.family = static_cast<rollup::Family>(f);
          k.bucket = day;
          k.key = pr.key;
          k.sensor = pr.sensor;
          k.proto = pr.proto;
          k.kind = pr.kind;
          k.tool = pr.tool;
          k.research = pr.research;
          k.spoof = pr.spoof;
          rows.Add(k, pr.packets, pr.first_us, pr.last_us, pr.sources, pr.destinations);
        }
      }
      sqlite3_reset(st.s);
      if (rc != SQLITE_DONE) return Error("read daily rollups in");
    }
    ISDAS_RETURN_IF_ERROR(WriteCoarse(rows, day, level_from));
  }
  return StoreCoarseThrough(to);
}

Status SqliteRollupWriter::RebuildCoarseFrom(int64_t from, int64_t through) {
  int64_t first = through;  // the first day to fold again
  int64_t level_from[std::size(rollup::kCoarse)];
  for (size_t i = 0; i < std::size(rollup::kCoarse); ++i) {
    const rollup::Resolution r = rollup::kCoarse[i];
    const int64_t b = from == INT64_MIN ? INT64_MIN : rollup::BucketStart(from, rollup::Seconds(r));
    level_from[i] = b;
    first = std::min(first, b);
    ISDAS_RETURN_IF_ERROR(DeleteBucketsFrom(r, b));
  }
  // Each level takes back the days of its deleted buckets only: a day before a level's first
  // deleted bucket is still in that level.
  return FoldDays(first, through, level_from);
}

Status SqliteRollupWriter::RebuildCoarse() { return RebuildCoarseFrom(INT64_MIN, coarse_through_); }

Status SqliteRollupWriter::DeleteBucketsFrom(rollup::Resolution r, int64_t b) {
  for (const std::string& sql :
       {"DELETE FROM " + DeltasTable(r) + " WHERE " + PacksInBuckets(r, b, INT64_MAX),
        "DELETE FROM " + PacksTable(r) + " WHERE " + PacksInBuckets(r, b, INT64_MAX),
        ForResolution("DELETE FROM port_totals_{r} WHERE bucket >= ", r) + std::to_string(b),
        std::string(kBumpRollupGeneration)}) {
    ISDAS_RETURN_IF_ERROR(Exec(sql.c_str()));
  }
  return Status::Ok();
}

Status SqliteRollupWriter::AddPortTotals(rollup::Resolution r, PortAdds& add) {
  if (add.empty()) return Status::Ok();
  Stmt get, put;
  if (sqlite3_prepare_v2(
          db_,
          ForResolution("SELECT counts FROM port_totals_{r} WHERE bucket = ? AND sensor = ? AND "
                        "proto = ? AND kind = ? AND tool = ? AND research = ? AND spoof = ?",
                        r)
              .c_str(),
          -1, &get.s, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(
          db_,
          ForResolution("INSERT OR REPLACE INTO port_totals_{r} VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        r)
              .c_str(),
          -1, &put.s, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  std::vector<std::pair<rollup::RowKey, std::vector<std::pair<uint16_t, uint64_t>>*>> order;
  for (auto& [dims, ports] : add) order.emplace_back(dims, &ports);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [dims, ports] : order) {
    const int64_t d[7] = {dims.bucket, dims.sensor,   dims.proto, dims.kind,
                          dims.tool,   dims.research, dims.spoof};
    for (int i = 0; i < 7; ++i) {
      sqlite3_bind_int64(get.s, i + 1, d[i]);
      sqlite3_bind_int64(put.s, i + 1, d[i]);
    }
    // What is stored plus what is added: both listed, sorted by port, equal ports summed.
    std::vector<std::pair<uint16_t, uint64_t>>& all = *ports;
    if (sqlite3_step(get.s) == SQLITE_ROW) {
      ForEachPortCount(sqlite3_column_blob(get.s, 0),
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
    const std::string_view head = PortTotalsHead(blob);
    sqlite3_bind_blob(put.s, 8, head.data(), static_cast<int>(head.size()), SQLITE_STATIC);
    sqlite3_bind_blob(put.s, 9, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(put.s);
    sqlite3_reset(put.s);
    if (rc != SQLITE_DONE) return Error("update port totals in");
  }
  return Status::Ok();
}

void SqliteRollupWriter::Route(const SensorBatch& b, uint32_t sensor) {
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
  late_.Add(late_ev, late_src, sensor);
}

void SqliteRollupWriter::StartCounting() {
  counting_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "isdas-count");
    std::vector<RollupBuffer::Batch> batches;
    for (size_t i = 0; i < jobs_; ++i) {
      const CountJob& j = count_jobs_[i];
      batches.push_back({j.events, j.sources, j.sensor});
    }
    buffer_.Add(batches);
  });
}

void SqliteRollupWriter::JoinCounting() {
  if (!counting_.joinable()) return;
  const double start = SteadySeconds();
  counting_.join();
  times_.wait_counting += SteadySeconds() - start;
  jobs_ = 0;
}

Status SqliteRollupWriter::WriteOut(const RollupBuffer::Out& out) {
  for (rollup::Resolution r : rollup::kResolutions) {
    ISDAS_RETURN_IF_ERROR(Write(r, out.rows[static_cast<int>(r)]));
  }
  return Status::Ok();
}

RollupBuffer::Taken SqliteRollupWriter::Take(bool all, int64_t now_us, int64_t* mark) {
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
  RollupBuffer::Taken t;
  if (days_only) {
    t = buffer_.Take(closed5_);  // with the buckets closed now, if any
    t.open_days = true;
  } else if (flush) {
    t = buffer_.Take(RollupBuffer::kEverything);
  } else if (closes) {
    t = buffer_.Take(c5);
  }
  return t;
}

void SqliteRollupWriter::StartFold(RollupBuffer::Taken&& taken, int64_t mark) {
  if (taken.c5 == INT64_MIN) return;  // nothing closed (and then no mark either)
  const uint64_t seq = ++fold_seq_;
  if (mark != INT64_MIN) fold_marks_.emplace_back(seq, mark);
  // The halves' folds touch different rows (RollupBuffer::FoldHalf): a lane each.
  for (int half : {0, 1}) {
    FoldLane& l = lanes_[half];
    MutexLock lock(&l.mu);
    if (l.todo.size() >= kMaxQueuedFolds) {
      // The lane is behind by several buckets: wait (their tables hold memory).
      const double start = SteadySeconds();
      while (l.todo.size() >= kMaxQueuedFolds) l.cv.Wait(&l.mu);
      times_.wait_fold += SteadySeconds() - start;
    }
    l.todo.push_back({std::move(taken.tables[half]), taken.c5, taken.open_days, seq});
    ++l.queued;
    if (!l.thread.joinable()) l.thread = std::thread([this, half] { RunFoldLane(half); });
    l.cv.SignalAll();
  }
}

void SqliteRollupWriter::RunFoldLane(int half) {
  pthread_setname_np(pthread_self(), half == 0 ? "isdas-fold" : "isdas-fold1");
  FoldLane& l = lanes_[half];
  MutexLock lock(&l.mu);
  for (;;) {
    while (!l.stop && l.todo.empty()) l.cv.Wait(&l.mu);
    if (l.stop) return;  // what is queued is dropped: recovery counts it again
    FoldLane::Task task = std::move(l.todo.front());
    l.todo.pop_front();
    const double start = SteadySeconds();
    const int64_t all_rows[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
    RollupBuffer::Out out;
    if (!l.spare.empty()) {
      // The largest: an hour's close writes ten times the rows of a 5-minute one.
      auto it = std::max_element(l.spare.begin(), l.spare.end(), [](const auto& a, const auto& b) {
        return a.capacity_bytes() < b.capacity_bytes();
      });
      out = std::move(*it);
      l.spare.erase(it);
    }
    l.mu.Unlock();
    buffer_.FoldHalf(half, std::move(task.tables), task.c5, all_rows, &out, task.open_days);
    const double seconds = SteadySeconds() - start;
    l.mu.Lock();
    l.done.emplace_back(task.seq, std::move(out));
    l.done_through = task.seq;
    l.seconds += seconds;
    --l.queued;
    l.cv.SignalAll();
  }
}

void SqliteRollupWriter::StopFoldLanes() {
  for (FoldLane& l : lanes_) {
    {
      MutexLock lock(&l.mu);
      l.stop = true;
      l.cv.SignalAll();
    }
    if (l.thread.joinable()) l.thread.join();
  }
}

void SqliteRollupWriter::JoinFold(bool wait) {
  uint64_t through = UINT64_MAX;
  for (int half : {0, 1}) {
    FoldLane& l = lanes_[half];
    std::vector<RollupBuffer::Out> empty;
    {
      MutexLock lock(&l.mu);
      if (wait && l.queued > 0) {
        const double start = SteadySeconds();
        while (l.queued > 0) l.cv.Wait(&l.mu);
        times_.wait_fold += SteadySeconds() - start;
      }
      times_.fold += l.seconds;
      times_.fold_half[half] += l.seconds;
      l.seconds = 0;
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
    }
    for (auto& out : empty) RecycleOut(half, std::move(out));
  }
  folded_through_ = through;
}

bool SqliteRollupWriter::FoldsIdle() {
  for (FoldLane& l : lanes_) {
    MutexLock lock(&l.mu);
    if (l.queued > 0) return false;
  }
  return true;
}

Status SqliteRollupWriter::WriteClosedMark(int64_t closed5) {
  return Exec(
      ("INSERT OR REPLACE INTO meta VALUES('rollup_closed_5m', " + std::to_string(closed5) + ")")
          .c_str());
}

Status SqliteRollupWriter::WritePending(size_t budget) {
  size_t written = 0;
  while (!pending_.empty() && written < budget) {
    Pending& p = pending_.front();
    while (p.r < 3 && written < budget) {
      const StoredRows& rows = p.out.rows[p.r];
      const size_t end =
          PackWriter::PackEnd(rows, p.at + std::min(budget - written, rows.size() - p.at));
      ISDAS_RETURN_IF_ERROR(Write(static_cast<rollup::Resolution>(p.r), rows, p.at, end));
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
  if (mark == INT64_MIN) return Status::Ok();
  // Days the mark has closed, their rows all written, go into the coarse buckets with it.
  const int64_t day = rollup::BucketStart(mark, 86400);
  if (coarse_through_ != INT64_MAX && day > coarse_through_) {
    ISDAS_RETURN_IF_ERROR(FoldDays(coarse_through_, day));
  }
  return WriteClosedMark(mark);
}

void SqliteRollupWriter::RecycleOut(int half, RollupBuffer::Out&& out) {
  // A few a lane (one being written, one folded meanwhile), 512 MiB at most in all, the
  // largest kept: an hour's close fits (a write at the bound, gigabytes, is not kept for good).
  // None next to nothing.
  constexpr size_t kSpares = 3, kMinBytes = size_t{1} << 20, kMaxBytes = size_t{512} << 20;
  const size_t bytes = out.capacity_bytes();
  if (bytes < kMinBytes || bytes > kMaxBytes) return;
  for (auto& rows : out.rows) rows.Clear();
  FoldLane& l = lanes_[half];
  MutexLock lock(&l.mu);
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

Status SqliteRollupWriter::Recover() {
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
    // The coarse buckets hold closed days only (LoadCoarseThrough); days imported before a
    // collector first ran on the store are in them whole, and the open one is counted again
    // below: take it out.
    const int64_t open_day =
        closed5_ == INT64_MIN ? INT64_MIN : rollup::BucketStart(closed5_, 86400);
    s = LoadCoarseThrough();
    if (s.ok() && coarse_through_ > open_day) s = RebuildCoarseFrom(open_day, open_day);
    if (!s.ok()) return fail(s);
  }
  {
    // Rows of open buckets may hold partial writes: delete them and count those buckets again
    // from the events (every event there, imports included). No mark (a collector first
    // started on an empty database, and no bucket closed and written since): every bucket.
    const bool none = closed5_ == INT64_MIN;
    const int64_t from[3] = {closed5_, none ? INT64_MIN : rollup::BucketStart(closed5_, 3600),
                             none ? INT64_MIN : rollup::BucketStart(closed5_, 86400)};
    for (rollup::Resolution r : rollup::kResolutions) {
      s = DeleteBucketsFrom(r, from[static_cast<int>(r)]);
      if (!s.ok()) return fail(s);
    }
    s = scan_(none ? INT64_MIN : from[2] * 1000000,
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

Result<bool> SqliteRollupWriter::FlushDue(bool force) {
  JoinCounting();
  JoinFold();
  if (!recovered_) ISDAS_RETURN_IF_ERROR(Recover());
  if (buffer_.empty() && pending_.empty()) return false;
  return force || SteadySeconds() - last_flush_ > kIdleFlushSeconds;
}

Status SqliteRollupWriter::FlushAll() {
  int64_t mark;
  RollupBuffer::Taken all = Take(true, 0, &mark);
  StartFold(std::move(all), mark);  // both halves at once: here, the writer has only to wait
  JoinFold();
  return WritePending();
}

}  // namespace isdas::storage
