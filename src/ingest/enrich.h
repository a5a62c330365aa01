#pragma once

// Enrichment of a sensor batch at ingest: each event's source gets its country and AS (with
// the AS names the batch brings into the store) from the GeoIP data, and the research-scanner
// flag from the list; the data version is recorded with the batch. Either source may be
// absent. Pure: no I/O, thread-safe over const data.

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "storage/event_store.h"

namespace isdas::geo {
class GeoDb;
class ScannerList;
}  // namespace isdas::geo

namespace isdas::ingest {

// Fills batch->sources (one per event), batch->as_names and batch->geo_version. With neither
// `geo` nor `scanners` it changes nothing.
void Enrich(const geo::GeoDb* geo, const geo::ScannerList* scanners, storage::SensorBatch* batch);

// The same for events of any origin (`isdas import`): `sources` gets one per event, `as_names`
// the names of the ASes seen (replaced).
void EnrichEvents(const geo::GeoDb* geo, const geo::ScannerList* scanners,
                  std::span<const model::Event> events, std::vector<model::SourceInfo>* sources,
                  std::vector<std::pair<uint32_t, std::string>>* as_names);

}  // namespace isdas::ingest
