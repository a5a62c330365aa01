// `isdas import`'s unit against a real SQLite store and the golden captures: a file that is not
// a capture stores nothing, a damaged one keeps the events before the damage, and the same file
// twice is stored once.

#include "collector/import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "collector/collector.h"
#include "storage/sqlite_store.h"
#include "synth/darknet_traffic.h"

namespace isdas::collector {
namespace {

const std::string kGolden = ISDAS_TESTDATA "/golden";

struct Store {
  std::string dir;
  std::unique_ptr<storage::SqliteStore> s;
  Store() {
    char tmpl[] = "/tmp/isdas_import_XXXXXX";
    dir = mkdtemp(tmpl);
    auto o = storage::SqliteStore::Open(dir);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    s = std::move(o.value());
  }
  ~Store() {
    s.reset();
    std::filesystem::remove_all(dir);
  }
  uint64_t Count(const std::string& sql) {
    auto r = s->Select(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && !r->empty() ? std::stoull(r.value()[0][0]) : 0;
  }
};

TEST(ImportFile, NotACaptureStoresNothingAndSaysWhy) {
  Store st;
  auto r = ImportFile(kGolden + "/f03_not_a_capture.pcap", st.s.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("f03_not_a_capture.pcap"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(st.Count("SELECT count(*) FROM imports"), 0u);
  EXPECT_EQ(st.s->CountEvents().value(), 0u);
  r = ImportFile("/nonexistent.pcap", st.s.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent.pcap"), std::string::npos);
}

TEST(ImportFile, DamagedFileKeepsTheEventsBeforeTheDamage) {
  Store st;
  auto r = ImportFile(kGolden + "/f01_truncated_record.pcap", st.s.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->id, 0);
  EXPECT_FALSE(r->file.damage.ok());
  EXPECT_NE(r->summary.error.find("truncated packet record"), std::string::npos);
  EXPECT_EQ(r->summary.events, 2u);
  EXPECT_EQ(st.s->CountEvents().value(), 2u);
  EXPECT_EQ(st.Count("SELECT count(*) FROM imports WHERE coalesce(error, '') != ''"), 1u);
}

TEST(ImportFile, TheSameFileTwiceIsStoredOnce) {
  Store st;
  auto a = ImportFile(kGolden + "/l01_ethernet.pcap", st.s.get());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const uint64_t events = st.s->CountEvents().value();
  EXPECT_GT(events, 0u);
  EXPECT_EQ(a->summary.events, events);
  EXPECT_EQ(a->summary.sha256.size(), 64u);
  auto b = ImportFile(kGolden + "/l01_ethernet.pcap", st.s.get());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->id, 0);
  EXPECT_EQ(b->earlier, a->id);
  EXPECT_EQ(st.s->CountEvents().value(), events);
  EXPECT_EQ(st.Count("SELECT count(*) FROM imports"), 1u);
}

// Imported captures are enriched like shipped batches: countries, ASes (with their names) and
// the research flag, in the events and in the country rollups, and the data version recorded
// with the import. Without GeoIP data the import says so in its summary and stores none.
TEST(ImportFile, SourcesAreEnrichedLikeTheCollectorsAndTheDataVersionRecorded) {
  Store st;
  const std::string pcap = st.dir + "/sim.pcap";
  FILE* f = std::fopen(pcap.c_str(), "wb");
  synth::TrafficSpec spec;
  spec.packets = 3000;
  synth::TrafficTruth truth;
  ASSERT_TRUE(synth::WriteDarknetPcap(spec, f, &truth).ok());
  std::fclose(f);
  auto geo = geo::GeoDb::OpenDir(ISDAS_GEO_DIR);
  ASSERT_TRUE(geo.ok()) << geo.status().ToString();
  std::string used;
  auto list = LoadResearchList("", &used);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  auto r = ImportFile(pcap, st.s.get(), geo->get(), list->get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->summary.geo_version, (*geo)->version());
  const uint64_t events = st.s->CountEvents().value();
  ASSERT_GT(events, 2000u);
  // Every event has a country code (ZZ unknown, XP/XR special), most a real one, and an AS.
  EXPECT_EQ(st.Count("SELECT count(*) FROM events WHERE src_country = ''"), 0u);
  EXPECT_GT(st.Count("SELECT count(*) FROM events WHERE src_country NOT IN ('ZZ', 'XP', 'XR')"),
            events / 2);
  EXPECT_GT(st.Count("SELECT count(*) FROM events WHERE src_asn != 0"), events / 2);
  EXPECT_GT(st.Count("SELECT count(*) FROM as_names"), 0u);
  EXPECT_EQ(st.Count("SELECT count(*) FROM events WHERE src_asn != 0 AND src_asn NOT IN "
                     "(SELECT asn FROM as_names)"),
            0u);
  EXPECT_EQ(st.Count("SELECT sum(packets) FROM rollup_1d WHERE family = 2 AND key != 0"),
            events);  // the country rollups hold every event under a country
  auto v = st.s->Select("SELECT geo_version FROM imports");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.value()[0][0], (*geo)->version());
}

}  // namespace
}  // namespace isdas::collector
