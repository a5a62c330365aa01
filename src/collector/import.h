#pragma once

// `isdas import`: one capture file decoded and classified (sensor::ProcessFile) into a store as
// one unit with its summary (storage::ImportStore). A file whose SHA-256 was imported before is
// not stored again.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "geo/geo.h"
#include "geo/scanners.h"
#include "sensor/file_pipeline.h"
#include "storage/event_store.h"

namespace isdas::collector {

struct ImportResult {
  int64_t id = 0;       // the import's id; 0 when skipped
  int64_t earlier = 0;  // the earlier import of the same file (then nothing was stored)
  sensor::FileResult file;
  storage::ImportSummary summary;
};

// Imports `path` ("-": standard input). Errors: the file cannot be opened or read, or the
// store fails — then nothing of the file is stored. A damaged file is not an error: the
// events before the damage are stored and `file.damage` says where it is.
// With `geo` and/or `scanners`, every event's source is enriched as the collector enriches a
// sensor's batch (ingest::EnrichEvents; country, AS, research flag) and the data version is
// recorded with the import.
Result<ImportResult> ImportFile(const std::string& path, storage::ImportStore* store,
                                const geo::GeoDb* geo = nullptr,
                                const geo::ScannerList* scanners = nullptr);

// Non-zero named counters of one file (decoder outcomes, then reader counts), in a stable
// order: what `isdas decode --format summary` prints and an import records.
std::vector<std::pair<std::string, uint64_t>> NamedCounters(const sensor::FileResult& r);

}  // namespace isdas::collector
