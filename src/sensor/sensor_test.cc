// The sensor as one object against the collector as one object, both started by the test on
// loopback with a real CA and mutual TLS: a replay is stored whole and Run says 0; a sensor
// whose certificate the collector does not trust keeps every event spooled and says 3.

#include "sensor/sensor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "collector/collector.h"
#include "common/clock.h"
#include "pki/pki.h"
#include "storage/sqlite_store.h"
#include "synth/darknet_traffic.h"

namespace isdas::sensor {
namespace {

struct Env {
  std::string dir;
  std::unique_ptr<collector::Collector> collector;
  Env() {
    char tmpl[] = "/tmp/isdas_sensor_e2e_XXXXXX";
    dir = mkdtemp(tmpl);
    EXPECT_TRUE(pki::CreateCa(dir + "/ca", "collector CA", 30).ok());
    EXPECT_TRUE(pki::CreateCa(dir + "/other", "someone else", 30).ok());
    EXPECT_TRUE(pki::IssueServer(dir + "/ca", {"127.0.0.1"}, 30).ok());
    EXPECT_TRUE(pki::IssueSensor(dir + "/ca", "tokyo-1", 30).ok());
    EXPECT_TRUE(pki::IssueSensor(dir + "/other", "tokyo-1", 30).ok());
    collector::Options c;
    c.data_dir = dir + "/data";
    c.api_listen = "off";
    c.ingest.host = "127.0.0.1";
    c.ingest.port = 0;
    c.ingest.cert_file = dir + "/ca/server.crt";
    c.ingest.key_file = dir + "/ca/server.key";
    c.ingest.ca_file = dir + "/ca/ca.crt";
    c.ingest.crl_file = dir + "/ca/crl.pem";
    auto k = collector::Collector::Start(
        c, [] { return NowUs(); }, [](const std::string&) {});
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    if (k.ok()) collector = std::move(k.value());
  }
  ~Env() {
    collector.reset();
    std::filesystem::remove_all(dir);
  }
  std::string Capture(uint64_t packets) {
    const std::string path = dir + "/sim.pcap";
    FILE* f = std::fopen(path.c_str(), "wb");
    synth::TrafficSpec spec;
    spec.packets = packets;
    synth::TrafficTruth truth;
    EXPECT_TRUE(synth::WriteDarknetPcap(spec, f, &truth).ok());
    std::fclose(f);
    return path;
  }
  Options SensorOptions(const std::string& ca, const std::string& spool) {
    Options o;
    o.id = "tokyo-1";
    o.replay = {Capture(5000)};
    o.replay_wait_s = 2;
    o.batch_max_events = 500;
    o.spool_dir = dir + "/" + spool;
    o.spool.fsync = spool::FsyncPolicy::kNever;
    o.ship.urls = {"https://127.0.0.1:" + std::to_string(collector->ingest_port())};
    o.ship.ca_file = dir + "/ca/ca.crt";
    o.ship.cert_file = dir + "/" + ca + "/sensors/tokyo-1.crt";
    o.ship.key_file = dir + "/" + ca + "/sensors/tokyo-1.key";
    o.ship.initial_backoff_ms = 50;
    o.ship.max_backoff_ms = 200;
    return o;
  }
};

uint64_t Counter(const Sensor& s, const std::string& name) {
  for (const auto& [k, v] : s.Counters()) {
    if (k == name) return v;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

TEST(SensorConfig, BadKeysAreNamedWithWhatToDo) {
  char tmpl[] = "/tmp/isdas_sensor_cfg_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/sensor.toml";
  std::ofstream(path) << "[sensor]\nid = \"-bad\"\n";
  auto c = LoadConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("sensor.id"), std::string::npos) << c.status().message();
  std::ofstream(path) << "[sensor]\nid = \"tokyo-1\"\ninterface = \"eth0\"\nreplay = [\"x\"]\n";
  c = LoadConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("exactly one of"), std::string::npos);
  std::ofstream(path)
      << "[sensor]\nid = \"tokyo-1\"\nreplay = [\"x\"]\n"
         "[collector]\nurls = [\"http://a\"]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\n";
  c = LoadConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("collector.urls"), std::string::npos) << c.status().message();
  std::filesystem::remove_all(dir);
}

TEST(Sensor, AReplayIsStoredWholeAndRunSaysSo) {
  Env e;
  ASSERT_TRUE(e.collector);
  std::vector<std::string> warned;
  auto s = Sensor::Open(
      e.SensorOptions("ca", "spool"), [](const std::string&) {},
      [&](const std::string& w) { warned.push_back(w); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE((*s)->Describe().find("replaying files, spool " + e.dir + "/spool"), std::string::npos);
  StopFlag stop;
  EXPECT_EQ((*s)->Run(&stop), kExitOk);
  EXPECT_TRUE(warned.empty()) << warned[0];
  const uint64_t decoded = Counter(**s, "decoded");
  EXPECT_GT(decoded, 4000u);
  EXPECT_EQ(Counter(**s, "shipped"), decoded);
  EXPECT_EQ(Counter(**s, "spool_unshipped"), 0u);
  EXPECT_EQ(e.collector->counters().events_stored.load(), decoded);
  e.collector->Stop();
  auto reader = storage::SqliteStore::OpenForReading(e.dir + "/data");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->CountEvents().value(), decoded);
  auto hb = (*reader)->Sensors();
  ASSERT_TRUE(hb.ok());
  ASSERT_EQ(hb->size(), 1u);
  EXPECT_EQ((*hb)[0].name, "tokyo-1");
  EXPECT_GT((*hb)[0].last_heartbeat_us, 0);  // the heartbeats came too
}

TEST(Sensor, AnUntrustedSensorKeepsEverythingSpooledAndSaysThree) {
  Env e;
  ASSERT_TRUE(e.collector);
  std::vector<std::string> warned;
  auto s = Sensor::Open(
      e.SensorOptions("other", "spool-other"), [](const std::string&) {},
      [&](const std::string& w) { warned.push_back(w); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  StopFlag stop;
  EXPECT_EQ((*s)->Run(&stop), kExitNotShipped);
  const uint64_t decoded = Counter(**s, "decoded");
  EXPECT_GT(decoded, 4000u);
  EXPECT_EQ(Counter(**s, "shipped"), 0u);
  EXPECT_EQ(Counter(**s, "spool_unshipped"), decoded);
  EXPECT_GT(Counter(**s, "auth_refusals"), 0u);
  EXPECT_EQ(e.collector->counters().events_stored.load(), 0u);
  bool said_refused = false;
  for (const auto& w : warned) said_refused |= w.find("refuses this sensor") != std::string::npos;
  EXPECT_TRUE(said_refused);
}

TEST(Sensor, ACertificateOfAnotherSensorIsRefusedAtStartUp) {
  // Caught only by the collector's refusals before; now before anything is spooled.
  Env e;
  ASSERT_TRUE(e.collector);
  ASSERT_TRUE(pki::IssueSensor(e.dir + "/ca", "osaka-2", 30).ok());
  Options o = e.SensorOptions("ca", "spool-id");
  o.ship.cert_file = e.dir + "/ca/sensors/osaka-2.crt";
  o.ship.key_file = e.dir + "/ca/sensors/osaka-2.key";
  auto s = Sensor::Open(
      o, [](const std::string&) {}, [](const std::string&) {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("was issued to sensor 'osaka-2', but sensor.id is 'tokyo-1'"),
            std::string::npos)
      << s.status().message();
  EXPECT_FALSE(std::filesystem::exists(e.dir + "/spool-id"));
}

TEST(Sensor, CapturingEverythingIsSaidAtStartUp) {
  if (geteuid() != 0) GTEST_SKIP() << "live capture needs root";
  Env e;
  ASSERT_TRUE(e.collector);
  Options o = e.SensorOptions("ca", "spool-live");
  o.replay.clear();
  o.interface = "lo";
  std::vector<std::string> warned;
  auto s = Sensor::Open(
      o, [](const std::string&) {}, [&](const std::string& w) { warned.push_back(w); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_EQ(warned[0].rfind("sensor.prefixes is empty: capturing every packet on lo", 0), 0u)
      << warned[0];
  o.spool_dir = e.dir + "/spool-live-2";
  o.prefixes = {"198.19.0.0/16"};
  warned.clear();
  s = Sensor::Open(
      o, [](const std::string&) {}, [&](const std::string& w) { warned.push_back(w); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(warned.empty());
}

}  // namespace
}  // namespace isdas::sensor
