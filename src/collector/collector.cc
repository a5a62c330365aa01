#include "collector/collector.h"

#include <sys/stat.h>

#include <cstdio>

#include "pki/pki.h"
#include "storage/clickhouse/clickhouse_store.h"
#include "storage/sqlite_store.h"

namespace isdas::collector {
namespace {

// Written whole (rename), so a reader never sees a partial number.
void WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fprintf(f, "%d\n", port);
    std::fclose(f);
    std::rename(tmp.c_str(), path.c_str());
  }
}

Status Prefixed(const std::string& what, const Status& s) {
  return Status(s.kind(), what + ": " + s.message());
}

}  // namespace

Result<std::unique_ptr<storage::IngestStore>> Stores::OpenWriter() const {
  if (opt_.engine == "clickhouse") {
    auto ch = storage::ClickhouseStore::Open(opt_.clickhouse);
    if (!ch.ok()) return ch.status();
    return std::unique_ptr<storage::IngestStore>(std::move(ch.value()));
  }
  auto sq = storage::SqliteStore::Open(opt_.data_dir, /*durable=*/true);
  if (!sq.ok()) return sq.status();
  return std::unique_ptr<storage::IngestStore>(std::move(sq.value()));
}

Result<std::unique_ptr<storage::ReadStore>> Stores::OpenReader() const {
  if (opt_.engine == "clickhouse") {
    auto ch = storage::ClickhouseStore::Open(opt_.clickhouse);
    if (!ch.ok()) return ch.status();
    return std::unique_ptr<storage::ReadStore>(std::move(ch.value()));
  }
  return storage::SqliteStore::OpenForReading(opt_.data_dir);
}

Result<std::unique_ptr<geo::ScannerList>> LoadResearchList(const std::string& configured,
                                                           std::string* path) {
  *path = configured;
  if (path->empty()) {
    struct stat st;
    *path = ISDAS_DATA_DIR "/research-scanners.txt";
    if (stat(path->c_str(), &st) != 0) {
      path->clear();
      return std::unique_ptr<geo::ScannerList>();
    }
  }
  auto l = geo::ScannerList::Load(*path);
  if (!l.ok()) return l.status();
  return std::make_unique<geo::ScannerList>(std::move(l.value()));
}

std::string DefaultGeoDir() { return ISDAS_GEO_DEFAULT_DIR; }

Collector::Collector(Options o, Clock clock, Say say)
    : opt_(std::move(o)),
      clock_(std::move(clock)),
      say_(std::move(say)),
      stores_(opt_),
      scheduler_(clock_) {}

Collector::~Collector() { Stop(); }

Result<std::unique_ptr<Collector>> Collector::Start(Options options, Clock clock, Say say) {
  std::unique_ptr<Collector> c(new Collector(std::move(options), std::move(clock), std::move(say)));
  Options& o = c->opt_;
  // The certificates first: a wrong or exposed key is said before anything is opened.
  ISDAS_RETURN_IF_ERROR(pki::CheckCredentials(
      {o.ingest.cert_file, "tls.cert", o.ingest.key_file, "tls.key", /*sensor_id=*/""}));
  if (!o.api.cert_file.empty()) {
    ISDAS_RETURN_IF_ERROR(pki::CheckCredentials(
        {o.api.cert_file, "api.cert", o.api.key_file, "api.key", /*sensor_id=*/""}));
  }
  auto store = c->stores_.OpenWriter();
  if (!store.ok()) return store.status();
  c->store_ = std::move(store.value());
  c->store_description_ = c->store_->Describe();
  std::string research_path;
  auto scanners = LoadResearchList(o.research_scanners, &research_path);
  if (!scanners.ok()) return Prefixed("geo.research_scanners", scanners.status());
  c->scanners_ = std::move(scanners.value());
  if (c->scanners_) {
    o.api.research_list = research_path;
    o.api.research_entries = c->scanners_->asns() + c->scanners_->prefixes();
  }
  if (!o.geo_dir.empty()) {
    auto g = geo::GeoDb::OpenDir(o.geo_dir);
    if (!g.ok()) return Prefixed("geo.dir", g.status());
    c->geo_ = std::move(g.value());
  }
  if (!o.ingest.on_refusal) o.ingest.on_refusal = c->say_;
  auto server =
      ingest::IngestServer::Create(o.ingest, c->store_.get(), c->geo_.get(), c->scanners_.get());
  if (!server.ok()) return server.status();
  c->ingest_ = std::move(server.value());
  ISDAS_RETURN_IF_ERROR(c->ingest_->Start());
  c->say_("listening on " + o.ingest.host + ":" + std::to_string(c->ingest_->port()) + ", store " +
          c->store_description_ + ", enrichment " +
          (c->geo_ ? c->geo_->version() : std::string("off")));
  if (!o.port_file.empty()) WritePortFile(o.port_file, c->ingest_->port());
  if (o.api_listen != "off") {
    const Stores* stores = &c->stores_;
    auto a = api::ApiServer::Start(
        o.api, [stores] { return stores->OpenReader(); }, c->clock_);
    if (!a.ok()) return a.status();  // the destructor stops ingest
    c->api_ = std::move(a.value());
    c->say_(std::string("query API on ") + (o.api.cert_file.empty() ? "http" : "https") + "://" +
            o.api.host + ":" + std::to_string(c->api_->port()) + "/api/v1/");
    if (!o.api_port_file.empty()) WritePortFile(o.api_port_file, c->api_->port());
  }
  Collector* self = c.get();
  c->scheduler_.Add("retention", static_cast<int64_t>(o.retention_interval_s) * 1000000,
                    [self] { self->RunRetention(); });
  c->scheduler_.Start();
  return c;
}

// A pass at start, then every retention.interval_s, on a connection of its own.
void Collector::RunRetention() {
  if (!retention_store_) {
    auto o = stores_.OpenWriter();
    if (!o.ok()) {
      say_("retention: " + o.status().message());
      return;
    }
    retention_store_ = std::move(o.value());
  }
  auto rep = retention_store_->Expire(opt_.api.retention, clock_());
  if (!rep.ok()) {
    say_("retention: " + rep.status().message());
  } else {
    uint64_t coarse = 0, any = rep->events;
    for (rollup::Resolution r : rollup::kAllResolutions) {
      any += rep->rollup_rows[static_cast<int>(r)];
      if (rollup::IsCoarse(r)) coarse += rep->rollup_rows[static_cast<int>(r)];
    }
    if (any) {
      say_("retention removed " + std::to_string(rep->events) + " events, " +
           std::to_string(rep->rollup_rows[0]) + "/" + std::to_string(rep->rollup_rows[1]) + "/" +
           std::to_string(rep->rollup_rows[2]) + "/" + std::to_string(coarse) +
           " rollup rows (5m/1h/1d/coarser)");
    }
  }
}

void Collector::Stop() {
  if (stopped_) return;
  stopped_ = true;
  scheduler_.Stop();
  if (api_) api_->Stop();
  if (ingest_) {
    ingest_->Stop();
    const auto& n = ingest_->counters();
    say_("stopped; batches stored " + std::to_string(n.batches_stored.load()) + ", duplicates " +
         std::to_string(n.batches_duplicate.load()) + ", events " +
         std::to_string(n.events_stored.load()));
  }
}

}  // namespace isdas::collector
