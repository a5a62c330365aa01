#include "ingest/enrich.h"

#include <string_view>
#include <unordered_map>

#include "geo/geo.h"
#include "geo/scanners.h"

namespace isdas::ingest {

void EnrichEvents(const geo::GeoDb* geo, const geo::ScannerList* scanners,
                  std::span<const model::Event> events, std::vector<model::SourceInfo>* sources,
                  std::vector<std::pair<uint32_t, std::string>>* as_names) {
  sources->assign(events.size(), model::SourceInfo{});
  std::unordered_map<uint32_t, std::string_view> names;
  for (size_t i = 0; i < events.size(); ++i) {
    model::SourceInfo& si = (*sources)[i];
    if (geo) {
      const geo::Origin o = geo->Lookup(events[i].src);
      si.country[0] = o.country[0];
      si.country[1] = o.country[1];
      si.asn = o.asn;
      if (o.asn) names.emplace(o.asn, o.as_name);
    }
    si.research = scanners && scanners->Contains(events[i].src, si.asn);
  }
  as_names->clear();
  for (const auto& [asn, name] : names) as_names->emplace_back(asn, std::string(name));
}

void Enrich(const geo::GeoDb* geo, const geo::ScannerList* scanners, storage::SensorBatch* b) {
  if (!geo && !scanners) return;
  if (geo) b->geo_version = geo->version();
  EnrichEvents(geo, scanners, b->events, &b->sources, &b->as_names);
}

}  // namespace isdas::ingest
