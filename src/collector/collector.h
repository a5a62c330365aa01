#pragma once

// The collector as one object (docs/architecture.md): the store of the configured engine, the
// enrichment data and research-scanner list, the HTTPS ingest endpoint, the query API and the
// periodic tasks (retention now; partner reports and detectors next). `isdas collector` parses
// its arguments, starts one and waits for a stop signal.
//
// Each user of the store opens its own connection (a store object is used by one thread at a
// time): the ingest writer, the retention task, and every API worker, whose connections are
// read-only.

#include <functional>
#include <memory>
#include <string>

#include "api/api.h"
#include "collector/config.h"
#include "collector/scheduler.h"
#include "common/status.h"
#include "geo/geo.h"
#include "geo/scanners.h"
#include "ingest/ingest_server.h"
#include "storage/event_store.h"

namespace isdas::collector {

// The stores of the configured engine.
class Stores {
 public:
  explicit Stores(const Options& o) : opt_(o) {}
  // A writer: the ingest server's, or the retention task's. SQLite's is durable (every commit
  // fsynced before the sensor is told its batch is stored).
  Result<std::unique_ptr<storage::IngestStore>> OpenWriter() const;
  // A read-only connection (the API's workers).
  Result<std::unique_ptr<storage::ReadStore>> OpenReader() const;

 private:
  Options opt_;
};

// The research-scanner list a configured path names; "" takes the one shipped in data/, and
// none is used when that is not installed. Errors name the file and line.
Result<std::unique_ptr<geo::ScannerList>> LoadResearchList(const std::string& configured,
                                                           std::string* path);

// Where the GeoIP data is looked for when none is configured (`isdas import`): the directory
// scripts/fetch-geo.sh fills, third_party/geo of the source tree.
std::string DefaultGeoDir();

class Collector {
 public:
  using Clock = std::function<int64_t()>;  // µs since the epoch
  using Say = std::function<void(const std::string&)>;
  // Opens everything and starts serving. `say` gets the log lines (listening, retention's
  // removals, the last counts). Errors name the config key or file at fault; nothing is left
  // running.
  static Result<std::unique_ptr<Collector>> Start(Options options, Clock clock, Say say);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Stops the periodic tasks, the API, then ingest (queued commits finish); idempotent.
  void Stop();

  int ingest_port() const { return ingest_->port(); }
  int api_port() const { return api_ ? api_->port() : 0; }  // 0: the API is off
  const ingest::Counters& counters() const { return ingest_->counters(); }
  const Scheduler& scheduler() const { return scheduler_; }
  const std::string& store_description() const { return store_description_; }

 private:
  Collector(Options o, Clock clock, Say say);
  void RunRetention();

  Options opt_;
  Clock clock_;
  Say say_;
  Stores stores_;
  std::string store_description_;
  std::unique_ptr<storage::IngestStore> store_;            // the ingest writer's
  std::unique_ptr<storage::IngestStore> retention_store_;  // opened at the first pass
  std::unique_ptr<geo::ScannerList> scanners_;
  std::unique_ptr<geo::GeoDb> geo_;
  std::unique_ptr<ingest::IngestServer> ingest_;
  std::unique_ptr<api::ApiServer> api_;
  Scheduler scheduler_;
  bool stopped_ = false;
};

}  // namespace isdas::collector
