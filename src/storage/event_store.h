#pragma once

// The storage interfaces, one per role (docs/architecture.md):
//   ReadStore    the read side: the query API, and next the dashboard, reports and detectors;
//   IngestStore  the collector's writer: sensor batches, heartbeats, retention (and reads);
//   ImportStore  `isdas import`: capture files decoded on the collector's machine.
// Engines: SQLite (embedded default, sqlite_store.h) plays all three; ClickHouse
// (clickhouse/clickhouse_store.h) the first two. Not thread-safe: a store object is used by one
// thread at a time; each user opens its own.

#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "model/event.h"
#include "model/source_info.h"
#include "rollup/rollup.h"

namespace isdas::storage {

// What an import of one capture file saw; stored beside its events.
struct ImportSummary {
  std::string path;
  std::string sha256;
  std::string format;
  uint64_t size_bytes = 0;
  int64_t started_us = 0;
  int64_t finished_us = 0;
  uint64_t records = 0;  // packet records in the file
  uint64_t packets = 0;  // records handed to the decoder
  uint64_t events = 0;
  uint64_t anomalies = 0;
  uint32_t rules_version = 0;
  std::string geo_version;  // the GeoIP data the sources were enriched with ("" none)
  std::string error;        // empty when the whole file was read
  uint64_t error_offset = 0;
  // Every non-zero named counter: decoder outcomes and reader counts.
  std::vector<std::pair<std::string, uint64_t>> counters;
};

using SourceInfo = model::SourceInfo;

// One batch from a sensor, as the collector received it.
struct SensorBatch {
  std::string sensor_id;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  uint32_t rules_version = 0;
  std::vector<model::Event> events;
  std::vector<SourceInfo> sources;  // one per event, or empty when not enriched
  std::string geo_version;          // the data `sources` came from
  std::vector<std::pair<uint32_t, std::string>> as_names;  // names of the ASNs in `sources`
};

enum class BatchOutcome { kStored, kDuplicate };

struct SensorInfo {
  std::string name;
  int64_t first_seen_us = 0;
  int64_t last_seen_us = 0;
  int64_t last_heartbeat_us = 0;
  uint64_t batches = 0;
  uint64_t events = 0;
  std::vector<std::pair<std::string, uint64_t>> counters;  // from the last heartbeat
};

// How long each kind of data is kept (docs/rollups.md#retention); 0 = for ever.
struct Retention {
  int raw_days = 90;                // events
  int r5m_days = 30;                // 5-minute rollups
  int r1h_days = 730;               // hourly rollups
  int r1d_days = 0;                 // daily rollups
  int days(int resolution) const {  // 0 5m, 1 1h, 2 1d; the coarse ones as the daily
    return resolution == 0 ? r5m_days : resolution == 1 ? r1h_days : r1d_days;
  }
};

// What one retention pass removed.
struct ExpireReport {
  uint64_t events = 0;
  uint64_t rollup_rows[rollup::kResolutionCount] = {};  // by resolution (rollup::Resolution)
};

// Cells of a SELECT's result as text (NULL and empty alike ""), row by row.
using Rows = std::vector<std::vector<std::string>>;
// One row's cells as SelectEach hands them out: valid only during the call.
using RowFn = std::function<Status(std::span<const std::string_view>)>;
// A number cell as a value (0 for anything else, as strtoull/strtoll would give).
inline uint64_t CellU64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
inline int64_t CellI64(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// What differs between the engines' SQL for the read side (src/query builds the rest).
struct SqlDialect {
  // FROM-and-WHERE opening of the rollup rows of one resolution, ready for "cond AND ...":
  // "rollup_5m WHERE" (SQLite) or "rollups WHERE res = 0 AND" (ClickHouse).
  std::string (*rollup_from)(int resolution);
  // Rollups and events name their sensor by number (SQLite: sensors.id, 0 = local imports) or
  // by name (ClickHouse).
  bool sensor_is_name;
  // A condition matching one source address in the events table.
  std::string (*source_is)(const model::IpAddr& a);
  // Select returns blob columns as their bytes (SQLite); otherwise ask for hex(…) (ClickHouse's
  // text output).
  bool raw_blobs;
  // A string literal of the engine's SQL holding `s` exactly: '…' with quotes doubled
  // (SQLite), or quotes and backslashes escaped by a backslash (ClickHouse).
  std::string (*quote)(const std::string& s);
  // A window of rollup buckets is asked for as the list of its buckets (`bucket IN (…)`), not
  // as a range: SQLite keeps rollup rows in packs indexed by (family, bucket, part of the
  // key), so each bucket of a family is one seek of that index (docs/storage-sqlite.md).
  bool bucket_lists;
};

// "Top ports" from an engine that keeps every port's packets per bucket and filter combination
// (SQLite's port totals, storage/port_totals.h; docs/rollups.md#top-ports): the read side asks
// for these before it groups rollup rows itself.
struct PortTotalsQuery {
  struct Range {
    int resolution;  // 0 5m, 1 1h, 2 1d
    int64_t from_s;  // bucket starts in [from_s, to_s)
    int64_t to_s;
  };
  std::vector<Range> ranges;  // not overlapping
  std::string filter_sql;     // "" or " AND …" over sensor, proto, kind, tool, research
  size_t k = 10;              // every port that may rank within the first k is exact
  size_t head = 256;          // pairs read from each blob's head first (tests make it small)
};
struct PortTotals {
  // Ports with their exact packets over the ranges: every port that may rank within the first
  // k (others may be left out), in no order.
  std::vector<std::pair<uint32_t, uint64_t>> ports;
  // How they were found: heads read, whole blobs read to settle candidates, and whether every
  // blob had to be summed whole instead.
  size_t heads = 0;
  size_t wholes = 0;
  bool summed_all = false;
};

// What the read side may do — the query API today; the dashboard, partner reports and
// detectors next. They are handed a ReadStore, never a writer: an engine may open one without
// any of its write machinery (SqliteStore::OpenForReading).
class ReadStore {
 public:
  virtual ~ReadStore() = default;
  virtual Result<uint64_t> CountEvents() = 0;
  virtual Result<std::vector<SensorInfo>> Sensors() = 0;
  // Runs one read-only SELECT (anything else is kInvalidArgument on SQLite). Blob columns come
  // back as dialect().raw_blobs says.
  virtual Result<Rows> Select(const std::string& sql) = 0;
  // The same rows, one call of `fn` each, without copying every cell (SQLite hands out its own
  // buffers: queries that merge hundreds of 4 KiB sketches spent a fifth of their time copying
  // them). Stops at the first error `fn` returns.
  virtual Status SelectEach(const std::string& sql, const RowFn& fn) {
    auto rows = Select(sql);
    if (!rows.ok()) return rows.status();
    std::vector<std::string_view> cells;
    for (const auto& r : rows.value()) {
      cells.assign(r.begin(), r.end());
      ISDAS_RETURN_IF_ERROR(fn(cells));
    }
    return Status::Ok();
  }
  virtual const SqlDialect& dialect() const = 0;
  // Top ports from port totals; nullopt when the engine keeps none (ClickHouse: then the rollup
  // rows are grouped).
  virtual Result<std::optional<PortTotals>> TopPortTotals(const PortTotalsQuery& q) {
    (void)q;
    return std::optional<PortTotals>();
  }
  // A token that changes whenever any rollup row changes (written, expired, rebuilt): an
  // answer read from rollups at one token is current while the token is the same. nullopt
  // when the engine keeps none (ClickHouse: the API caches no answer).
  virtual Result<std::optional<std::string>> RollupGeneration() {
    return std::optional<std::string>();
  }
  // The coarse buckets (rollup::kCoarse, docs/rollups.md#coarse-buckets) hold every day before
  // this (seconds; INT64_MAX: every day): plans read whole ones of those that end by then
  // instead of their days. INT64_MIN when the engine keeps none (ClickHouse) or it cannot be
  // read (then the days are read).
  virtual int64_t CoarseThrough() { return INT64_MIN; }
  // Where the data is, for the logs: a file's path, or a server's version and address.
  virtual std::string Describe() const = 0;
};

// The collector's writer: sensor batches, heartbeats, retention; it reads too (tests compare
// what was written with what is read back on the same connection).
class IngestStore : public ReadStore {
 public:
  // Stores every batch whose (sensor_id, epoch, seq) is new, all in one transaction that is
  // durable when this returns; batches already stored are reported kDuplicate and not stored
  // again. Registers unknown sensors. The result has one outcome per batch, in order.
  virtual Result<std::vector<BatchOutcome>> CommitBatches(std::span<SensorBatch* const> batches,
                                                          int64_t now_us) = 0;
  // Writes rollup rows the engine holds in memory for batches already committed (SQLite
  // gathers them for up to `flush_interval` — docs/rollups.md#when-rollups-are-written);
  // `force`: now, whatever their age. The collector's writer calls it when idle and at exit.
  virtual Status FlushRollups(bool force) {
    (void)force;
    return Status::Ok();
  }
  // Records a sensor's heartbeat counters (replacing the previous ones) and last-seen time.
  virtual Status RecordHeartbeat(const std::string& sensor_id, int64_t now_us,
                                 const std::vector<std::pair<std::string, uint64_t>>& counters) = 0;
  // Deletes events older than `raw_days` and rollup buckets that end at or before their
  // resolution's cut-off (now minus its days). A bucket is kept or deleted whole.
  virtual Result<ExpireReport> Expire(const Retention& retention, int64_t now_us) = 0;
};

// Imports of capture files. An import is one unit: BeginImport, any number of Append calls,
// then Commit (events and summary become visible together) or Abandon (nothing of it remains).
class ImportStore {
 public:
  virtual ~ImportStore() = default;
  // Returns the id of an earlier import of a file with this SHA-256, or 0.
  virtual Result<int64_t> FindImport(const std::string& sha256) = 0;
  virtual Status BeginImport() = 0;
  // `sources`: empty (not enriched) or one per event.
  virtual Status Append(std::span<const model::Event> events,
                        std::span<const SourceInfo> sources) = 0;
  Status Append(std::span<const model::Event> events) { return Append(events, {}); }
  // Names of the ASes the import's sources are in (kept with the store's other AS names).
  virtual Status AddAsNames(const std::vector<std::pair<uint32_t, std::string>>& names) = 0;
  // Stores the summary with the events appended since BeginImport; returns the import id.
  virtual Result<int64_t> Commit(const ImportSummary& summary) = 0;
  virtual void Abandon() = 0;
};

// The cut-off of `days` before now, in seconds (INT64_MIN for 0 = keep for ever).
int64_t RetentionCutoff(int days, int64_t now_us);

}  // namespace isdas::storage
