#include "ingest/enrich.h"

#include <string_view>
#include <unordered_map>

#include "geo/geo.h"
#include "geo/scanners.h"

namespace isdas::ingest {

void Enrich(const geo::GeoDb* geo, const geo::ScannerList* scanners, storage::SensorBatch* b) {
  if (!geo && !scanners) return;
  if (geo) b->geo_version = geo->version();
  b->sources.assign(b->events.size(), model::SourceInfo{});
  std::unordered_map<uint32_t, std::string_view> names;
  for (size_t i = 0; i < b->events.size(); ++i) {
    model::SourceInfo& si = b->sources[i];
    if (geo) {
      const geo::Origin o = geo->Lookup(b->events[i].src);
      si.country[0] = o.country[0];
      si.country[1] = o.country[1];
      si.asn = o.asn;
      if (o.asn) names.emplace(o.asn, o.as_name);
    }
    si.research = scanners && scanners->Contains(b->events[i].src, si.asn);
  }
  b->as_names.clear();
  for (const auto& [asn, name] : names) b->as_names.emplace_back(asn, std::string(name));
}

}  // namespace isdas::ingest
