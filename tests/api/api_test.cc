// The query API over real HTTP (cpp-httplib client → ApiServer → SQLite store): malformed
// parameters first (400 naming the parameter, for every kind of mistake), then answers checked
// against a small hand-made data set whose counts are written out below.

#include "api/api.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "api/answer_cache.h"
#include "common/time_format.h"
#include "storage/sqlite_store.h"

namespace isdas::api {
namespace {

using Json = nlohmann::json;

constexpr int64_t kT0 = 1795737600;  // 2026-11-27T00:00:00Z
constexpr int64_t kNowUs = (kT0 + 86400) * 1000000;

model::Event Ev(int64_t at_s, uint8_t proto, const char* src, uint16_t dport,
                uint8_t flags = 0x02) {
  model::Event e;
  e.ts_us = at_s * 1000000 + 250000;
  e.proto = proto;
  EXPECT_TRUE(model::IpAddr::Parse(src, &e.src)) << src;
  model::IpAddr::Parse("198.18.0.9", &e.dst);
  e.dport = dport;
  e.sport = 40000;
  e.tcp_flags = proto == model::kProtoTcp ? flags : 0;
  e.labels.kind = model::TrafficKind::kScan;
  e.labels.tool = dport == 23 ? model::Tool::kMirai : model::Tool::kUnknown;
  return e;
}

storage::SourceInfo Si(const char* cc, uint32_t asn, bool research = false) {
  storage::SourceInfo s;
  s.country[0] = cc[0];
  s.country[1] = cc[1];
  s.asn = asn;
  s.research = research;
  return s;
}

// The data set:
//   tokyo-1: port 23 ×5 (192.0.2.1 ×3 JP AS64500, 192.0.2.2 ×2 JP AS64500) at 01:00-01:04,
//            port 445 ×2 (203.0.113.5 CN AS64501) at 02:00,
//            port 80 ×3 (198.51.100.7 US AS398324, research scanner) at 03:00
//   osaka-2: port 23 ×4 (192.0.2.1 ×1, 192.0.2.3 ×3, JP AS64500) at 09:30 (= 18:30 JST),
//            UDP 53 ×2 (203.0.113.5 CN AS64501) at 15:10 (= 00:10 JST next day), suspected
//            of a spoofed source (src_net_or_bcast)
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/isdas_api_XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = storage::SqliteStore::Open(dir_, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    storage::SensorBatch a, b;
    a.sensor_id = "tokyo-1";
    a.epoch = b.epoch = 1;
    a.seq = b.seq = 1;
    a.geo_version = b.geo_version = "ip-location-db test";
    auto add = [](storage::SensorBatch& batch, model::Event e, storage::SourceInfo si) {
      batch.events.push_back(e);
      batch.sources.push_back(si);
    };
    for (int i = 0; i < 3; ++i)
      add(a, Ev(kT0 + 3600 + i * 60, 6, "192.0.2.1", 23), Si("JP", 64500));
    for (int i = 0; i < 2; ++i)
      add(a, Ev(kT0 + 3600 + 240, 6, "192.0.2.2", 23, 0x12), Si("JP", 64500));
    for (int i = 0; i < 2; ++i) add(a, Ev(kT0 + 7200, 6, "203.0.113.5", 445), Si("CN", 64501));
    for (int i = 0; i < 3; ++i)
      add(a, Ev(kT0 + 3 * 3600, 6, "198.51.100.7", 80), Si("US", 398324, true));
    a.as_names = {{64500, "Example JP, Inc."}, {64501, "Example CN"}, {398324, "Censys, Inc."}};
    b.sensor_id = "osaka-2";
    add(b, Ev(kT0 + 9 * 3600 + 1800, 6, "192.0.2.1", 23), Si("JP", 64500));
    for (int i = 0; i < 3; ++i)
      add(b, Ev(kT0 + 9 * 3600 + 1800 + i, 6, "192.0.2.3", 23), Si("JP", 64500));
    for (int i = 0; i < 2; ++i) {
      model::Event e = Ev(kT0 + 15 * 3600 + 600, 17, "203.0.113.5", 53);
      e.labels.spoof = model::kSpoofSrcNetworkOrBroadcast;
      add(b, e, Si("CN", 64501));
    }
    std::vector<storage::SensorBatch*> batches{&a, &b};
    ASSERT_TRUE((*s)->CommitBatches(batches, kNowUs - 1000000).ok());
    ASSERT_TRUE((*s)->FlushRollups(true).ok());
    ASSERT_TRUE((*s)->RecordHeartbeat("tokyo-1", kNowUs - 2000000, {{"captured", 10}}).ok());
    Options o;
    o.port = 0;
    o.threads = 4;
    o.research_list = "test list";
    o.research_entries = 1;
    const std::string d = dir_;
    auto srv = ApiServer::Start(
        o, [d] { return storage::SqliteStore::OpenForReading(d); }, [] { return kNowUs; });
    ASSERT_TRUE(srv.ok()) << srv.status().ToString();
    server_ = std::move(srv.value());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    server_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }

  // GET; returns status and fills body.
  int Get(const std::string& path, std::string* body) {
    auto r = client_->Get(path.c_str());
    EXPECT_TRUE(r) << path;
    if (!r) return 0;
    *body = r->body;
    return r->status;
  }
  Json GetJson(const std::string& path) {
    std::string body;
    EXPECT_EQ(Get(path, &body), 200) << path << ": " << body;
    return Json::parse(body, nullptr, false);
  }
  // Expects 400 naming `param`.
  void ExpectBad(const std::string& path, const std::string& param) {
    std::string body;
    EXPECT_EQ(Get(path, &body), 400) << path << ": " << body.substr(0, 300);
    Json j = Json::parse(body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << body.substr(0, 300);
    ASSERT_TRUE(j.contains("error")) << path;
    EXPECT_EQ(j["error"]["parameter"], param) << path << ": " << body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }

  std::string dir_;
  std::unique_ptr<ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

const std::string kDay = "from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";

TEST_F(ApiTest, MalformedParametersAreNamed) {
  ExpectBad("/api/v1/ports/top?from=yesterday", "from");
  ExpectBad("/api/v1/ports/top?from=2026-11-31T00:00:00Z", "from");
  ExpectBad("/api/v1/ports/top?from=2026-11-27T00:00:00", "from");  // no offset
  ExpectBad("/api/v1/ports/top?to=2026-13-01", "to");
  ExpectBad("/api/v1/ports/top?from=2026-11-28&to=2026-11-27", "from");
  ExpectBad("/api/v1/ports/top?from=1990-01-01&to=2026-11-27", "from");  // over ten years
  ExpectBad("/api/v1/ports/top?proto=tcpp", "proto");
  ExpectBad("/api/v1/ports/top?proto=256", "proto");
  ExpectBad("/api/v1/ports/top?kind=scanning", "kind");
  ExpectBad("/api/v1/ports/top?tool=metasploit", "tool");
  ExpectBad("/api/v1/ports/top?sensor=tokyo-1,bad%20name", "sensor");
  ExpectBad("/api/v1/ports/top?exclude_research=maybe", "exclude_research");
  ExpectBad("/api/v1/ports/top?format=xml", "format");
  ExpectBad("/api/v1/ports/top?limit=0", "limit");
  ExpectBad("/api/v1/ports/top?limit=1001", "limit");
  ExpectBad("/api/v1/ports/top?limit=ten", "limit");
  ExpectBad("/api/v1/ports/top?offset=-1", "offset");
  ExpectBad("/api/v1/ports/top?prot=tcp", "prot");  // a typo is not ignored
  ExpectBad("/api/v1/ports/top?limit=1&limit=2", "limit");
  ExpectBad("/api/v1/ports/series?ports=23&step=7m", "step");
  ExpectBad("/api/v1/ports/series?ports=23&step=1w", "step");
  ExpectBad("/api/v1/ports/series?ports=23&tz=Asia/Tokyo", "tz");
  ExpectBad("/api/v1/ports/series?ports=23&tz=%2B25:00", "tz");
  ExpectBad("/api/v1/ports/series?ports=23&tz=%2B09:02", "tz");
  ExpectBad("/api/v1/ports/series?ports=70000", "ports");
  ExpectBad("/api/v1/ports/series?ports=23,", "ports");
  ExpectBad("/api/v1/ports/series", "ports");
  ExpectBad("/api/v1/ports/series?ports=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21",
            "ports");
  ExpectBad("/api/v1/ports/series?ports=22,23,80,443,445&step=5m&from=2026-10-01&to=2026-11-27",
            "step");  // 5 × 8,640 points (5-minute rows are kept 30 days)
  ExpectBad("/api/v1/countries/series?countries=jp", "countries");
  ExpectBad("/api/v1/countries/series?countries=JPN", "countries");
  ExpectBad("/api/v1/traffic/top?by=country", "by");
  ExpectBad("/api/v1/ports/abc", "port");
  ExpectBad("/api/v1/ports/65536", "port");
  ExpectBad("/api/v1/ports/23?format=csv", "format");
  ExpectBad("/api/v1/sources/not-an-address", "address");
  ExpectBad("/api/v1/sources/192.0.2.300", "address");
  ExpectBad("/api/v1/sensors?stale_after=1", "stale_after");
  ExpectBad("/api/v1/meta?verbose=1", "verbose");
  std::string body;
  EXPECT_EQ(Get("/api/v1/nothing", &body), 404);
  EXPECT_EQ(Get("/api/v2/ports/top", &body), 404);
  auto post = client_->Post("/api/v1/ports/top", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);
}

TEST_F(ApiTest, TopPortsCountPacketsAndSources) {
  Json j = GetJson("/api/v1/ports/top?" + kDay);
  ASSERT_EQ(j["rows"].size(), 4u) << j.dump();
  EXPECT_EQ(j["rows"][0]["port"], 23);
  EXPECT_EQ(j["rows"][0]["packets"], 9);
  EXPECT_EQ(j["rows"][0]["sources"], 3);
  EXPECT_EQ(j["rows"][0]["first_seen"], "2026-11-27T01:00:00.250000Z");
  EXPECT_EQ(j["rows"][0]["last_seen"], "2026-11-27T09:30:02.250000Z");
  EXPECT_EQ(j["rows"][1]["port"], 80);
  EXPECT_EQ(j["rows"][1]["packets"], 3);
  EXPECT_EQ(j["rows"][2]["port"], 53);  // ties: lower port first
  EXPECT_EQ(j["rows"][3]["port"], 445);
  EXPECT_EQ(j["next_offset"], nullptr);
  EXPECT_EQ(j["window"]["from"], "2026-11-27T00:00:00.000000Z");
  // Filters.
  j = GetJson("/api/v1/ports/top?" + kDay + "&exclude_research=true&proto=tcp");
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][1]["port"], 445);
  j = GetJson("/api/v1/ports/top?" + kDay + "&sensor=osaka-2&tool=mirai");
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["packets"], 4);
  EXPECT_EQ(j["rows"][0]["sources"], 2);
  // Pages.
  j = GetJson("/api/v1/ports/top?" + kDay + "&limit=3");
  EXPECT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["next_offset"], 3);
  j = GetJson("/api/v1/ports/top?" + kDay + "&limit=3&offset=3");
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["port"], 445);
  // A window of one hour (01:00-02:00) and a ragged one, widened to 5 minutes.
  j = GetJson("/api/v1/ports/top?from=2026-11-27T01:00:00Z&to=2026-11-27T02:00:00Z");
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["packets"], 5);
  j = GetJson("/api/v1/ports/top?from=2026-11-27T10:01:00%2B09:00&to=2026-11-27T10:02:00%2B09:00");
  EXPECT_EQ(j["window"]["from"], "2026-11-27T01:00:00.000000Z");
  EXPECT_EQ(j["window"]["to"], "2026-11-27T01:05:00.000000Z");
  EXPECT_EQ(j["rows"][0]["packets"], 5);
}

TEST_F(ApiTest, CsvHasAHeaderAndQuotesNames) {
  std::string body;
  ASSERT_EQ(Get("/api/v1/asns/top?" + kDay + "&format=csv", &body), 200);
  EXPECT_EQ(body,
            "asn,as_name,packets,sources,destinations,first_seen,last_seen\r\n"
            "64500,\"Example JP, Inc.\",9,3,1,2026-11-27T01:00:00.250000Z,"
            "2026-11-27T09:30:02.250000Z\r\n"
            "64501,Example CN,4,1,1,2026-11-27T02:00:00.250000Z,2026-11-27T15:10:00.250000Z\r\n"
            "398324,\"Censys, Inc.\",3,1,1,2026-11-27T03:00:00.250000Z,"
            "2026-11-27T03:00:00.250000Z\r\n");
  auto r = client_->Get(("/api/v1/ports/top?" + kDay + "&format=csv").c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv; charset=utf-8");
}

TEST_F(ApiTest, SeriesFollowTheTimeZone) {
  // JST days: 23 has 5 on 27th JST (10:00 JST) and 4 on 27th (18:30 JST); UDP 53 falls on the
  // 28th JST.
  Json j = GetJson("/api/v1/ports/series?ports=23,53&step=1d&tz=%2B09:00&" + kDay);
  EXPECT_EQ(j["tz"], "+09:00");
  EXPECT_EQ(j["resolution"], "1h");
  ASSERT_EQ(j["series"].size(), 2u);
  const Json& p23 = j["series"][0]["points"];
  ASSERT_EQ(p23.size(), 2u) << j.dump();  // 26th 15:00Z and 27th 15:00Z
  EXPECT_EQ(p23[0]["time"], "2026-11-26T15:00:00.000000Z");
  EXPECT_EQ(p23[0]["packets"], 9);
  EXPECT_EQ(p23[1]["packets"], 0);
  const Json& p53 = j["series"][1]["points"];
  EXPECT_EQ(p53[0]["packets"], 0);
  EXPECT_EQ(p53[1]["packets"], 2);
  // UTC days from the daily table.
  j = GetJson("/api/v1/countries/series?countries=JP,CN&step=1d&" + kDay);
  EXPECT_EQ(j["resolution"], "1d");
  EXPECT_EQ(j["series"][0]["country"], "CN");
  EXPECT_EQ(j["series"][0]["points"][0]["packets"], 4);
  EXPECT_EQ(j["series"][1]["points"][0]["packets"], 9);
  // Everything, hourly, as CSV: 24 rows plus the header.
  std::string body;
  ASSERT_EQ(Get("/api/v1/traffic/series?step=1h&format=csv&" + kDay, &body), 200);
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 25);
  EXPECT_NE(body.find("2026-11-27T01:00:00.000000Z,all,5,2,1\r\n"), std::string::npos) << body;
}

TEST_F(ApiTest, PortPageBreaksDownOnePort) {
  Json j = GetJson("/api/v1/ports/23?" + kDay);
  EXPECT_EQ(j["totals"]["packets"], 9);
  EXPECT_EQ(j["first_seen_ever"], "2026-11-27T01:00:00.250000Z");
  ASSERT_EQ(j["countries"].size(), 1u);
  EXPECT_EQ(j["countries"][0]["country"], "JP");
  EXPECT_EQ(j["asns"][0]["as_name"], "Example JP, Inc.");
  ASSERT_EQ(j["tcp_flags"].size(), 2u);
  EXPECT_EQ(j["tcp_flags"][0]["tcp_flags"], "S");
  EXPECT_EQ(j["tcp_flags"][0]["packets"], 7);
  EXPECT_EQ(j["tcp_flags"][1]["tcp_flags"], "SA");
  EXPECT_EQ(j["tools"][0]["tool"], "mirai");
  ASSERT_EQ(j["sensors"].size(), 2u);
  EXPECT_EQ(j["sensors"][0]["sensor"], "tokyo-1");
  EXPECT_EQ(j["sensors"][0]["packets"], 5);
  EXPECT_EQ(j["lists_window"]["from"], "2026-11-27T00:00:00.000000Z");  // whole days
  EXPECT_EQ(j["asns_window"]["to"], "2026-11-28T00:00:00.000000Z");
  // A window inside a day: the country and flag lists cover the whole day, and say so.
  j = GetJson("/api/v1/ports/23?from=2026-11-27T01:00:00Z&to=2026-11-27T02:00:00Z");
  EXPECT_EQ(j["totals"]["packets"], 5);
  EXPECT_EQ(j["lists_window"]["to"], "2026-11-28T00:00:00.000000Z");
  EXPECT_EQ(j["countries"][0]["packets"], 9);
  EXPECT_EQ(j["asns"][0]["packets"], 5);  // ASes from the events: the hour only
  // A port nobody touched.
  j = GetJson("/api/v1/ports/8443?" + kDay);
  EXPECT_EQ(j["totals"]["packets"], 0);
  EXPECT_EQ(j["first_seen_ever"], nullptr);
}

// Bytes that are not UTF-8 in a value, a name or the path once ended the whole process (the
// JSON library threw while writing the error): each is a 400 that names what is wrong, the
// answer is valid JSON, no header carries an exception's text, and the server answers on.
// Forms strtoll and sscanf took by accident are refused too.
TEST_F(ApiTest, TextThatIsNotUtf8AndAccidentalFormsAreRefused) {
  for (const char* path :
       {"/api/v1/ports/top?limit=%ff", "/api/v1/ports/top?from=%c3%28", "/api/v1/ports/top?%ff=1",
        "/api/v1/ports/%ff", "/api/v1/sources/%ed%a0%80", "/api/v1/ports/top?=1",
        "/api/v1/ports/top?from=%01"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path << ": " << r->body;
    Json j = Json::parse(r->body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << path << ": " << r->body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty()) << path;
    for (const auto& [k, v] : r->headers) {
      EXPECT_EQ(k.find("EXCEPTION"), std::string::npos) << path << ": " << k << ": " << v;
    }
  }
  ExpectBad("/api/v1/ports/top?limit=%2B23", "limit");
  ExpectBad("/api/v1/ports/top?limit=%2023", "limit");
  ExpectBad("/api/v1/ports/top?offset=%2B1", "offset");
  ExpectBad("/api/v1/ports/series?ports=", "ports");
  ExpectBad("/api/v1/ports/series?ports=,23", "ports");
  ExpectBad("/api/v1/ports/series?ports=22,,23", "ports");
  ExpectBad("/api/v1/countries/series?countries=", "countries");
  ExpectBad("/api/v1/ports/top?sensor=", "sensor");
  ExpectBad("/api/v1/ports/top?from=2026-11-27%2000:00:00Z", "from");
  ExpectBad("/api/v1/ports/top?from=2026-%2011-27", "from");
  ExpectBad("/api/v1/ports/top?from=0000-01-01", "from");
  ExpectBad("/api/v1/ports/top?from=-2026-01-01", "from");
  ExpectBad("/api/v1/ports/top?from=%2B026-01-01", "from");
  ExpectBad("/api/v1/ports/top?from=9999-12-30&to=10000-01-01", "to");
  ExpectBad("/api/v1/ports/top?from=1&to=999999999999", "to");
  // A week's step widens 2016-01-01 .. 2026-01-01 (3,653 days) to whole weeks past ten years.
  ExpectBad("/api/v1/ports/series?ports=23&step=7d&from=2015-12-27&to=2025-12-31", "step");
  std::string body;
  EXPECT_EQ(Get("/api/v1/ports/top?" + kDay, &body), 200) << body;  // still answering
}

TEST_F(ApiTest, SourcePageListsPortsSensorsAndLabels) {
  Json j = GetJson("/api/v1/sources/203.0.113.5?" + kDay);
  EXPECT_EQ(j["packets"], 4);
  EXPECT_EQ(j["country"], "CN");
  EXPECT_EQ(j["as_name"], "Example CN");
  EXPECT_EQ(j["research_scanner"], false);
  ASSERT_EQ(j["ports"].size(), 2u);
  EXPECT_EQ(j["sensors"].size(), 2u);
  j = GetJson("/api/v1/sources/198.51.100.7?" + kDay);
  EXPECT_EQ(j["research_scanner"], true);
  j = GetJson("/api/v1/sources/198.51.100.7?exclude_research=true&" + kDay);
  EXPECT_EQ(j["packets"], 0);
  j = GetJson("/api/v1/sources/2001:db8::1?" + kDay);
  EXPECT_EQ(j["packets"], 0);
}

TEST_F(ApiTest, SensorsMetaAndBreakdowns) {
  Json j = GetJson("/api/v1/sensors");
  ASSERT_EQ(j["sensors"].size(), 2u);
  EXPECT_EQ(j["sensors"][1]["sensor"], "tokyo-1");
  EXPECT_EQ(j["sensors"][1]["health"], "ok");
  EXPECT_EQ(j["sensors"][1]["counters"]["captured"], 10);
  j = GetJson("/api/v1/meta");
  EXPECT_EQ(j["api"], "v1");
  EXPECT_EQ(j["now"], FormatTimestampUs(kNowUs));
  EXPECT_TRUE(j["rollups_from"].contains("5m")) << j.dump();
  EXPECT_EQ(j["geo_versions"][0], "ip-location-db test");
  EXPECT_EQ(j["retention_days"]["events"], 90);
  j = GetJson("/api/v1/traffic/top?by=sensor&" + kDay);
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["rows"][0]["sensor"], "tokyo-1");
  EXPECT_EQ(j["rows"][0]["packets"], 10);
  j = GetJson("/api/v1/traffic/top?by=proto&" + kDay);
  EXPECT_EQ(j["rows"][0]["proto"], "tcp");
  EXPECT_EQ(j["rows"][1]["proto"], "udp");
}

// Spoof suspicion as a filter on every endpoint, and as a breakdown (issue #16.6).
TEST_F(ApiTest, SpoofSuspicionFiltersAndBreaksDown) {
  Json j = GetJson("/api/v1/traffic/top?by=spoof&" + kDay);
  ASSERT_EQ(j["rows"].size(), 2u) << j.dump();
  EXPECT_EQ(j["rows"][0]["spoof"], "none");
  EXPECT_EQ(j["rows"][0]["packets"], 14);
  EXPECT_EQ(j["rows"][1]["spoof"], "src_net_or_bcast");
  EXPECT_EQ(j["rows"][1]["packets"], 2);
  EXPECT_EQ(j["rows"][1]["sources"], 1);
  for (const char* v : {"any", "src_net_or_bcast"}) {
    j = GetJson(std::string("/api/v1/ports/top?spoof=") + v + "&" + kDay);
    ASSERT_EQ(j["rows"].size(), 1u) << v << " " << j.dump();
    EXPECT_EQ(j["rows"][0]["port"], 53) << v;
    EXPECT_EQ(j["filters"]["spoof"], v);
  }
  j = GetJson("/api/v1/ports/top?spoof=none&" + kDay);
  ASSERT_EQ(j["rows"].size(), 3u) << j.dump();
  EXPECT_EQ(j["rows"][0]["port"], 23);
  EXPECT_EQ(j["rows"][0]["packets"], 9);
  for (const auto& r : j["rows"]) EXPECT_NE(r["port"], 53);
  j = GetJson("/api/v1/ports/top?spoof=port_zero&" + kDay);
  EXPECT_EQ(j["rows"].size(), 0u) << j.dump();
  j = GetJson("/api/v1/countries/top?spoof=any&" + kDay);
  ASSERT_EQ(j["rows"].size(), 1u) << j.dump();
  EXPECT_EQ(j["rows"][0]["country"], "CN");
  // Events too: the source page of the suspected source.
  j = GetJson("/api/v1/sources/203.0.113.5?spoof=none&" + kDay);
  EXPECT_EQ(j["packets"], 2);  // its two TCP 445 packets, not the UDP ones
  std::string csv;
  ASSERT_EQ(Get("/api/v1/traffic/top?by=spoof&format=csv&" + kDay, &csv), 200);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")), "spoof,packets,sources,destinations");  // RFC 4180
  EXPECT_NE(csv.find("\r\nsrc_net_or_bcast,2,1,1\r\n"), std::string::npos) << csv;
  ExpectBad("/api/v1/ports/top?spoof=yes", "spoof");
  ExpectBad("/api/v1/ports/top?spoof=", "spoof");
  ExpectBad("/api/v1/traffic/top?by=spoofs", "by");
}

TEST_F(ApiTest, AnswersAreKeptWhileTheRollupsAreUnchanged) {
  const std::string q = "/api/v1/ports/top?from=2026-11-27&to=2026-11-28";
  auto cache = [&] { return GetJson("/api/v1/meta")["answer_cache"]; };
  const Json first = GetJson(q);
  EXPECT_EQ(cache()["misses"], 1);
  EXPECT_EQ(GetJson(q), first);
  EXPECT_EQ(cache()["hits"], 1);
  EXPECT_EQ(cache()["entries"], 1);
  // A bad question is answered, never kept: asked twice, computed twice.
  ExpectBad(q + "&limit=0", "limit");
  ExpectBad(q + "&limit=0", "limit");
  EXPECT_EQ(cache()["entries"], 1);
  EXPECT_EQ(cache()["hits"], 1);
  EXPECT_EQ(cache()["misses"], 3);
  // More traffic for port 23: the rollups change, and so does the answer.
  {
    auto s = storage::SqliteStore::Open(dir_, true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    storage::SensorBatch c;
    c.sensor_id = "tokyo-1";
    c.epoch = 1;
    c.seq = 2;
    for (int i = 0; i < 4; ++i) {
      c.events.push_back(Ev(kT0 + 5 * 3600 + i, 6, "192.0.2.9", 23));
      c.sources.push_back(Si("JP", 64500));
    }
    std::vector<storage::SensorBatch*> batches{&c};
    ASSERT_TRUE((*s)->CommitBatches(batches, kNowUs - 1000000).ok());
    ASSERT_TRUE((*s)->FlushRollups(true).ok());
  }
  const Json after = GetJson(q);
  ASSERT_EQ(after["rows"][0]["port"], 23);
  EXPECT_EQ(after["rows"][0]["packets"], first["rows"][0]["packets"].get<int>() + 4);
  EXPECT_EQ(cache()["misses"], 4);
  EXPECT_EQ(GetJson(q), after);
  EXPECT_EQ(cache()["hits"], 2);
}

TEST_F(ApiTest, ManyAskingTheSameQuestionAtOnceComputeItOnce) {
  const std::string q = "/api/v1/countries/top?from=2026-11-27&to=2026-11-28&limit=5";
  std::vector<std::thread> askers;
  std::vector<std::string> bodies(8);
  for (size_t i = 0; i < bodies.size(); ++i) {
    askers.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      auto r = c.Get(q.c_str());
      if (r && r->status == 200) bodies[i] = r->body;
    });
  }
  for (auto& t : askers) t.join();
  for (const auto& b : bodies) EXPECT_EQ(b, bodies[0]);
  EXPECT_FALSE(bodies[0].empty());
  const Json c = GetJson("/api/v1/meta")["answer_cache"];
  EXPECT_EQ(c["misses"], 1);  // the others waited for it, or found it kept
  EXPECT_EQ(c["hits"].get<int>() + 1, 8);
}

TEST(AnswerCache, KeysNeverCollideAndMemoryIsBounded) {
  std::string a, b;
  AnswerCache::AddToKey(&a, "ab");
  AnswerCache::AddToKey(&a, "c");
  AnswerCache::AddToKey(&b, "a");
  AnswerCache::AddToKey(&b, "bc");
  EXPECT_NE(a, b);
  AnswerCache cache(64 << 10);
  int computed = 0;
  for (int i = 0; i < 200; ++i) {  // 200 different questions of 2 KiB answers each
    Response r = cache.Get("q" + std::to_string(i), "7", [&] {
      ++computed;
      return Response{200, "text/plain", std::string(2048, 'x')};
    });
    EXPECT_EQ(r.body.size(), 2048u);
  }
  EXPECT_EQ(computed, 200);
  const AnswerCache::Stats st = cache.stats();
  EXPECT_LE(st.bytes, size_t{64} << 10);
  EXPECT_GT(st.evicted, 150u);
  // The newest are kept, at their generation only.
  cache.Get("q199", "7", [&] { return ++computed, Response{}; });
  EXPECT_EQ(computed, 200);
  cache.Get("q199", "8", [&] { return ++computed, Response{}; });
  EXPECT_EQ(computed, 201);
}

}  // namespace
}  // namespace isdas::api
