// Enrichment on its own, against the real GeoIP data the project fetches (third_party/geo) and
// a research-scanner list parsed here.

#include "ingest/enrich.h"

#include <gtest/gtest.h>

#include "geo/geo.h"
#include "geo/scanners.h"

namespace isdas::ingest {
namespace {

storage::SensorBatch Batch(std::initializer_list<uint32_t> sources) {
  storage::SensorBatch b;
  b.sensor_id = "tokyo-1";
  for (uint32_t s : sources) {
    model::Event e;
    e.src = model::IpAddr::V4(s);
    e.dst = model::IpAddr::V4(0xc6130001);
    b.events.push_back(e);
  }
  return b;
}

TEST(Enrich, NothingToEnrichWithChangesNothing) {
  storage::SensorBatch b = Batch({0x08080404});
  Enrich(nullptr, nullptr, &b);
  EXPECT_TRUE(b.sources.empty());
  EXPECT_TRUE(b.geo_version.empty());
}

TEST(Enrich, CountryAsAndResearchFlagPerSource) {
  const std::string dir = ISDAS_GEO_DIR;
  auto g = geo::GeoDb::Open(dir + "/geo-whois-asn-country.mmdb", dir + "/asn-ipv4.csv",
                            dir + "/asn-ipv6.csv", "geo-test-2");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto list = geo::ScannerList::Parse("AS15169 Google (for this test)\n", "test list");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  // 8.8.4.4 (Google, on the list by AS), 133.1.1.1 (Osaka University), 10.0.0.1 (private).
  storage::SensorBatch b = Batch({0x08080404, 0x85010101, 0x0a000001, 0x08080404});
  Enrich(g->get(), &list.value(), &b);
  ASSERT_EQ(b.sources.size(), 4u);
  EXPECT_EQ(std::string(b.sources[0].country, 2), "US");
  EXPECT_EQ(b.sources[0].asn, 15169u);
  EXPECT_TRUE(b.sources[0].research);
  EXPECT_EQ(std::string(b.sources[1].country, 2), "JP");
  EXPECT_EQ(b.sources[1].asn, 4730u);
  EXPECT_FALSE(b.sources[1].research);
  EXPECT_EQ(std::string(b.sources[2].country, 2), "XP");
  EXPECT_EQ(b.sources[2].asn, 0u);
  EXPECT_EQ(b.geo_version, "geo-test-2");
  // Each AS named once, whatever the number of its sources.
  ASSERT_EQ(b.as_names.size(), 2u);
  // The list alone: flags, no countries.
  storage::SensorBatch c = Batch({0x08080404});
  Enrich(nullptr, &list.value(), &c);
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_FALSE(c.sources[0].research);  // the list matches by AS, unknown without GeoIP data
  EXPECT_EQ(c.sources[0].country[0], 0);
}

}  // namespace
}  // namespace isdas::ingest
