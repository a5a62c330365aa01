#include "collector/import.h"

#include <sys/stat.h>

#include "classify/classifier.h"
#include "common/clock.h"
#include "ingest/enrich.h"

namespace isdas::collector {

std::vector<std::pair<std::string, uint64_t>> NamedCounters(const sensor::FileResult& r) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 1; i < decode::kOutcomeCount; ++i) {
    const auto o = static_cast<decode::Outcome>(i);
    if (r.outcomes[o]) out.emplace_back(std::string(decode::OutcomeName(o)), r.outcomes[o]);
  }
  if (r.reader.caplen_exceeds_len) {
    out.emplace_back("caplen_exceeds_len", r.reader.caplen_exceeds_len);
  }
  if (r.reader.simple_packet_no_timestamp) {
    out.emplace_back("simple_packet_no_timestamp", r.reader.simple_packet_no_timestamp);
  }
  return out;
}

Result<ImportResult> ImportFile(const std::string& path, storage::ImportStore* store,
                                const geo::GeoDb* geo, const geo::ScannerList* scanners) {
  auto reader = capture::FileReader::Open(path, /*sha256=*/true);
  if (!reader.ok()) return reader.status();
  ImportResult res;
  storage::ImportSummary& sum = res.summary;
  sum.path = path;
  sum.started_us = NowUs();
  sum.rules_version = classify::kRulesVersion;
  if (geo) sum.geo_version = geo->version();
  Status s = store->BeginImport();
  const bool enrich = geo || scanners;
  std::vector<model::SourceInfo> sources;
  std::vector<std::pair<uint32_t, std::string>> as_names;
  if (s.ok()) {
    s = sensor::ProcessFile(
        reader->get(),
        [&](std::span<const model::Event> evs) -> Status {
          if (!enrich) return store->Append(evs);
          ingest::EnrichEvents(geo, scanners, evs, &sources, &as_names);
          ISDAS_RETURN_IF_ERROR(store->AddAsNames(as_names));
          return store->Append(evs, sources);
        },
        &res.file);
  }
  auto sha = (*reader)->FinishSha256();
  if (s.ok() && !sha.ok()) s = sha.status();
  if (s.ok()) {
    auto prior = store->FindImport(sha.value());
    if (!prior.ok()) {
      s = prior.status();
    } else if (prior.value() != 0) {
      store->Abandon();
      res.earlier = prior.value();
      return res;
    }
  }
  if (!s.ok()) {
    store->Abandon();
    return s;
  }
  const sensor::FileResult& r = res.file;
  sum.sha256 = sha.value();
  sum.format = std::string(capture::FileFormatName(r.format));
  struct stat sb;
  sum.size_bytes = (path != "-" && stat(path.c_str(), &sb) == 0) ? static_cast<uint64_t>(sb.st_size)
                                                                 : reader->get()->offset();
  sum.records = r.reader.records;
  sum.packets = r.outcomes.packets();
  sum.events = r.outcomes[decode::Outcome::kEvent];
  sum.anomalies = r.outcomes.anomalies();
  sum.counters = NamedCounters(r);
  if (!r.damage.ok()) {
    sum.error = r.damage.message();
    sum.error_offset = r.damage_offset;
  }
  sum.finished_us = NowUs();
  auto id = store->Commit(sum);
  if (!id.ok()) return id.status();
  res.id = id.value();
  return res;
}

}  // namespace isdas::collector
