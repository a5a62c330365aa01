#pragma once

// ClickHouse engine of EventStore (docs/storage-clickhouse.md), over the HTTP interface.
// Sensor batches, the sensor registry and heartbeats; local file imports stay on SQLite
// (Begin/Append/Commit answer kInvalidArgument saying so).
//
// Exactly once without transactions: a batch is looked up in `batches` first (duplicate);
// otherwise its events — tagged with (sensor, epoch, seq) — are counted: none are there →
// insert them; all are there (a crash came between the two inserts) → do not insert again;
// then the `batches` row is written. Only a batch split by a crash inside one INSERT can be
// found partly stored; it is reported (kInternal), never inserted twice.
// One writer per store object (the collector's writer thread).

#include <memory>
#include <string>

#include "storage/clickhouse/clickhouse_client.h"
#include "storage/event_store.h"

namespace isdas::storage {

class ClickhouseStore final : public EventStore {
 public:
  // Connects, checks the server answers, creates the database and tables if missing.
  static Result<std::unique_ptr<ClickhouseStore>> Open(const clickhouse::Endpoint& endpoint);

  Result<int64_t> FindImport(const std::string& sha256) override;
  Status BeginImport() override;
  Status Append(std::span<const model::Event> events) override;
  Result<int64_t> Commit(const ImportSummary& summary) override;
  void Abandon() override {}
  Result<uint64_t> CountEvents() override;
  Result<std::vector<BatchOutcome>> CommitBatches(std::span<SensorBatch* const> batches,
                                                  int64_t now_us) override;
  Status RecordHeartbeat(const std::string& sensor_id, int64_t now_us,
                         const std::vector<std::pair<std::string, uint64_t>>& counters) override;
  Result<std::vector<SensorInfo>> Sensors() override;
  const std::string& server_version() const { return version_; }

 private:
  explicit ClickhouseStore(const clickhouse::Endpoint& e) : client_(e), endpoint_(e) {}
  Result<uint64_t> Count(const std::string& sql);

  clickhouse::Client client_;
  clickhouse::Endpoint endpoint_;
  std::string version_;
};

}  // namespace isdas::storage
