// GeoDb against the pinned ip-location-db data (scripts/fetch-geo.sh) and, for countries,
// against the Debian `mmdblookup` tool reading the same file.

#include "geo/geo.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

namespace isdas::geo {
namespace {

const std::string kDir = ISDAS_GEO_DIR;

model::IpAddr A(const char* s) {
  model::IpAddr a;
  EXPECT_TRUE(model::IpAddr::Parse(s, &a)) << s;
  return a;
}

std::unique_ptr<GeoDb> Db() {
  auto g = GeoDb::Open(kDir + "/geo-whois-asn-country.mmdb", kDir + "/asn-ipv4.csv",
                       kDir + "/asn-ipv6.csv", "test");
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? std::move(g.value()) : nullptr;
}

// ---- bad input first ----

TEST(GeoDb, MissingOrBrokenFilesAreNamed) {
  auto g = GeoDb::Open("/nonexistent.mmdb", kDir + "/asn-ipv4.csv", kDir + "/asn-ipv6.csv", "x");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("/nonexistent.mmdb"), std::string::npos);
  char tmpl[] = "/tmp/isdas_geo_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/v4.csv") << "1.0.0.0,1.0.0.255,13335,Cloudflare\nnot,a,csv\n";
  std::ofstream(dir + "/v6.csv") << "";
  g = GeoDb::Open(kDir + "/geo-whois-asn-country.mmdb", dir + "/v4.csv", dir + "/v6.csv", "x");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().kind(), ErrorKind::kCorruption);
  EXPECT_NE(g.status().message().find("v4.csv:2"), std::string::npos) << g.status().message();
  std::ofstream(dir + "/v4.csv") << "1.0.0.0,1.0.0.255,AS13335,Cloudflare\n";
  g = GeoDb::Open(kDir + "/geo-whois-asn-country.mmdb", dir + "/v4.csv", dir + "/v6.csv", "x");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("bad AS number"), std::string::npos);
}

TEST(GeoDb, OpenDirNamesTheMissingFileAndReadsTheRelease) {
  auto g = GeoDb::OpenDir("/nonexistent-geo");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("/nonexistent-geo/geo-whois-asn-country.mmdb"),
            std::string::npos)
      << g.status().message();
  g = GeoDb::OpenDir(kDir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  std::string release;
  std::ifstream(kDir + "/VERSION") >> release;
  ASSERT_FALSE(release.empty());
  EXPECT_EQ((*g)->version(), "ip-location-db " + release);
}

TEST(SpecialCode, PrivateAndReservedRangesNeverGetACountry) {
  for (const char* p : {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1",
                        "fd00::1", "fc00::1"}) {
    EXPECT_EQ(SpecialCode(A(p)), "XP") << p;
  }
  for (const char* r : {"0.0.0.1", "127.0.0.1", "169.254.1.1", "192.0.0.8", "192.0.2.1",
                        "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.7", "224.0.0.1",
                        "239.255.255.250", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
                        "ff02::1", "2001:db8::1", "::ffff:8.8.8.8"}) {
    EXPECT_EQ(SpecialCode(A(r)), "XR") << r;
  }
  for (const char* pub : {"8.8.8.8", "172.32.0.1", "172.15.255.255", "100.128.0.1", "1.1.1.1",
                          "198.20.0.1", "2001:200::1", "2a00:1450::1"}) {
    EXPECT_EQ(SpecialCode(A(pub)), "") << pub;
  }
}

// ---- the real data ----

TEST(GeoDb, KnownAddressesGiveTheirCountryAndAs) {
  auto g = Db();
  ASSERT_TRUE(g);
  Origin o = g->Lookup(A("8.8.4.4"));
  EXPECT_STREQ(o.country, "US");
  EXPECT_EQ(o.asn, 15169u);
  EXPECT_EQ(o.as_name, "Google LLC");
  o = g->Lookup(A("133.1.1.1"));
  EXPECT_STREQ(o.country, "JP");
  EXPECT_EQ(o.asn, 4730u);
  EXPECT_EQ(o.as_name, "Osaka University");
  o = g->Lookup(A("8.8.2.1"));
  EXPECT_EQ(o.as_name, "Level 3 Communications, Inc.");  // a quoted name with a comma
  o = g->Lookup(A("2a00:1450:4001::1"));
  EXPECT_EQ(o.asn, 15169u);
  o = g->Lookup(A("10.0.0.1"));
  EXPECT_STREQ(o.country, "XP");
  EXPECT_EQ(o.asn, 0u);
  o = g->Lookup(A("198.19.4.20"));
  EXPECT_STREQ(o.country, "XR");
  EXPECT_GT(g->asn_ranges(), 100000u);
}

TEST(GeoDb, CountriesAgreeWithMmdblookupOnRandomAddresses) {
  auto g = Db();
  ASSERT_TRUE(g);
  std::mt19937 rng(7);
  int compared = 0;
  for (int i = 0; i < 200; ++i) {
    const model::IpAddr a = model::IpAddr::V4(static_cast<uint32_t>(rng()));
    if (!SpecialCode(a).empty()) continue;
    const std::string ip = a.ToString();
    FILE* p = popen(("mmdblookup --file " + kDir + "/geo-whois-asn-country.mmdb --ip " + ip +
                     " country_code 2>/dev/null")
                        .c_str(),
                    "r");
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
    std::string want = "ZZ";
    const size_t q = out.find('"');
    if (q != std::string::npos) want = out.substr(q + 1, 2);
    EXPECT_EQ(std::string(g->Lookup(a).country), want) << ip;
    ++compared;
  }
  EXPECT_GT(compared, 150);
}

}  // namespace
}  // namespace isdas::geo
