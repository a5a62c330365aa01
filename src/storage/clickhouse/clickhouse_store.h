#pragma once

// ClickHouse engine of the ingest and read stores (event_store.h; docs/storage-clickhouse.md),
// over the HTTP interface: sensor batches, the sensor registry and heartbeats. Local file
// imports (ImportStore) stay on SQLite.
//
// Exactly once without transactions: a batch is looked up in `batches` first (duplicate).
// A new batch gets an `intents` row, then its events and rollup rows (both tagged with
// (sensor, epoch, seq)), then its `batches` row. A batch with an intent but no mark was begun
// by an attempt that stopped part way: its tagged events and rollup rows are counted, and
// only what is missing is inserted. A batch split by a crash inside one INSERT is found partly
// stored: its rows are deleted on every server and it is stored again whole (repaired_batches).
// One writer per store object (the collector's writer thread).

#include <memory>
#include <string>

#include "rollup/rollup.h"
#include "storage/clickhouse/clickhouse_client.h"
#include "storage/event_store.h"

namespace isdas::storage {

class ClickhouseStore final : public IngestStore {
 public:
  // Connects, checks the server answers, creates the database and tables if missing.
  static Result<std::unique_ptr<ClickhouseStore>> Open(const clickhouse::Endpoint& endpoint);

  Result<uint64_t> CountEvents() override;
  Result<std::vector<BatchOutcome>> CommitBatches(std::span<SensorBatch* const> batches,
                                                  int64_t now_us) override;
  Status RecordHeartbeat(const std::string& sensor_id, int64_t now_us,
                         const std::vector<std::pair<std::string, uint64_t>>& counters) override;
  Result<std::vector<SensorInfo>> Sensors() override;
  Result<ExpireReport> Expire(const Retention& retention, int64_t now_us) override;
  Result<Rows> Select(const std::string& sql) override;
  const SqlDialect& dialect() const override;
  // "clickhouse VERSION at HOST:PORT/DATABASE"
  std::string Describe() const override;
  const std::string& server_version() const { return version_; }
  // Batches found part-stored (a server killed inside an INSERT) and stored again whole.
  uint64_t repaired_batches() const { return repaired_; }

 private:
  explicit ClickhouseStore(const clickhouse::Endpoint& e) : client_(e), endpoint_(e) {}
  Result<uint64_t> Count(const std::string& sql);
  Status DeleteWhere(const std::string& table, const std::string& condition);
  // Waits until every server has applied the deletions asked of it (kUnavailable after 120 s).
  Status WaitForMutations();

  clickhouse::Client client_;
  clickhouse::Endpoint endpoint_;
  // CommitBatches' row buffers, kept between calls (tens of MB each: allocated anew, every
  // page of them was faulted in again on each call — a fifth of the time in perf).
  clickhouse::RowBinary rows_, rollups_, new_rollups_;
  rollup::Aggregator agg_;  // AppendRollupRows' scratch, on CommitBatches' second thread
  std::string version_;
  uint64_t repaired_ = 0;
};

// The RowBinary rows the store inserts for a batch: its events, and its rollup rows at every
// resolution (returns how many). Public for the benchmark that compares with clickhouse-client.
void AppendEventRows(const SensorBatch& b, clickhouse::RowBinary* rows);
// `agg` (optional) is a scratch aggregator kept between calls, so its table is not allocated
// anew for every batch.
size_t AppendRollupRows(const SensorBatch& b, clickhouse::RowBinary* rows,
                        rollup::Aggregator* agg = nullptr);

}  // namespace isdas::storage
