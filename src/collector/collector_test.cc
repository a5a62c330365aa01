// The collector as one object, started by the test on loopback with a real CA, a real SQLite
// store and the pinned GeoIP data: bad configuration is refused with the key at fault and
// nothing left running; retention runs at start on the injected clock; the query API answers
// on its port and shows the research list it loaded; Stop closes both listeners.

#include "collector/collector.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "collector/import.h"
#include "common/clock.h"
#include "pki/pki.h"
#include "storage/sqlite_store.h"

namespace isdas::collector {
namespace {

struct Env {
  std::string dir;
  Env() {
    char tmpl[] = "/tmp/isdas_collector_XXXXXX";
    dir = mkdtemp(tmpl);
    EXPECT_TRUE(pki::CreateCa(dir + "/ca", "test CA", 30).ok());
    EXPECT_TRUE(pki::IssueServer(dir + "/ca", {"127.0.0.1"}, 30).ok());
  }
  ~Env() { std::filesystem::remove_all(dir); }
  // A config file with `extra` appended to the [collector] section's keys.
  std::string Config(const std::string& collector_extra, const std::string& rest = "") {
    const std::string path = dir + "/collector.toml";
    std::ofstream(path) << "[collector]\ndata_dir = \"" << dir
                        << "/data\"\nlisten = \"127.0.0.1:0\"\n"
                        << collector_extra << "\n[api]\nlisten = \"127.0.0.1:0\"\n"
                        << "[tls]\ncert = \"" << dir << "/ca/server.crt\"\nkey = \"" << dir
                        << "/ca/server.key\"\nca = \"" << dir << "/ca/ca.crt\"\ncrl = \"" << dir
                        << "/ca/crl.pem\"\n"
                        << rest;
    return path;
  }
};

// Lines the collector said.
struct Said {
  std::mutex mu;
  std::vector<std::string> lines;
  Collector::Say fn() {
    return [this](const std::string& s) {
      std::lock_guard<std::mutex> l(mu);
      lines.push_back(s);
    };
  }
  bool Has(const std::string& part) {
    std::lock_guard<std::mutex> l(mu);
    for (const auto& s : lines) {
      if (s.find(part) != std::string::npos) return true;
    }
    return false;
  }
};

// A connection to 127.0.0.1:port (-1 when refused); reads give up after 10 s.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The whole answer to one plain HTTP/1.1 GET.
std::string Get(int port, const std::string& path) {
  const int fd = Connect(port);
  std::string out;
  if (fd < 0) return out;
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(CollectorConfig, BadKeysAreNamedWithWhatToDo) {
  Env e;
  auto c = LoadConfig(e.Config("", "[storage]\nclickhouse_cluster = \"isdas\"\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("clickhouse_shards"), std::string::npos)
      << c.status().message();
  c = LoadConfig(e.Config("port_file = 5"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("collector.port_file"), std::string::npos)
      << c.status().message();
  c = LoadConfig(e.Config("", "[retention]\ninterval_s = 1\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("retention.interval_s"), std::string::npos);
  c = LoadConfig(e.Config("unknown_key = 1"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown_key"), std::string::npos);
  std::string host;
  int port = 0;
  EXPECT_FALSE(SplitListen("127.0.0.1", &host, &port).ok());
  EXPECT_FALSE(SplitListen("127.0.0.1:65536", &host, &port).ok());
  ASSERT_TRUE(SplitListen("[::1]:80", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 80);
}

TEST(Collector, BadEnrichmentDataIsRefusedWithItsKeyAndNothingListens) {
  Env e;
  auto c = LoadConfig(
      e.Config("port_file = \"" + e.dir + "/port\"", "[geo]\ndir = \"" + e.dir + "/no-geo\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Said said;
  auto col = Collector::Start(
      c.value(), [] { return NowUs(); }, said.fn());
  ASSERT_FALSE(col.ok());
  EXPECT_NE(col.status().message().find("geo.dir: "), std::string::npos) << col.status().message();
  EXPECT_FALSE(std::filesystem::exists(e.dir + "/port"));  // the ingest never started
  std::ofstream(e.dir + "/bad-list.txt") << "not a prefix\n";
  c = LoadConfig(e.Config("", "[geo]\nresearch_scanners = \"" + e.dir + "/bad-list.txt\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  col = Collector::Start(
      c.value(), [] { return NowUs(); }, said.fn());
  ASSERT_FALSE(col.ok());
  EXPECT_NE(col.status().message().find("geo.research_scanners: "), std::string::npos);
  EXPECT_NE(col.status().message().find("bad-list.txt:1"), std::string::npos)
      << col.status().message();
}

TEST(Collector, RetentionRunsAtStartOnTheInjectedClockAndTheApiAnswers) {
  Env e;
  {
    // Events of a golden capture (2024), imported into the store the collector will open.
    auto s = storage::SqliteStore::Open(e.dir + "/data");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto r = ImportFile(ISDAS_TESTDATA "/golden/l01_ethernet.pcap", s->get());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_GT((*s)->CountEvents().value(), 0u);
  }
  auto c = LoadConfig(e.Config("", "[geo]\ndir = \"" ISDAS_GEO_DIR "\"\n"
                                   "[retention]\nevents_days = 1\ninterval_s = 3600\n"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Said said;
  const int64_t now = NowUs();
  auto col = Collector::Start(
      c.value(), [now] { return now; }, said.fn());
  ASSERT_TRUE(col.ok()) << col.status().ToString();
  Collector& k = **col;
  EXPECT_GT(k.ingest_port(), 0);
  ASSERT_GT(k.api_port(), 0);
  EXPECT_TRUE(said.Has("listening on 127.0.0.1:" + std::to_string(k.ingest_port())));
  EXPECT_TRUE(said.Has("enrichment ip-location-db "));
  EXPECT_EQ(k.store_description(), e.dir + "/data/isdas.sqlite");
  // The first pass runs when the scheduler starts; wait for it on the reader's side.
  for (int i = 0; i < 500 && !said.Has("retention removed"); ++i) usleep(10000);
  EXPECT_TRUE(said.Has("retention removed")) << "no retention pass";
  ASSERT_EQ(k.scheduler().stats().size(), 1u);
  EXPECT_EQ(k.scheduler().stats()[0].name, "retention");
  EXPECT_EQ(k.scheduler().stats()[0].last_start_us, now);
  auto reader = storage::SqliteStore::OpenForReading(e.dir + "/data");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->CountEvents().value(), 0u);
  const std::string meta = Get(k.api_port(), "/api/v1/meta");
  EXPECT_EQ(meta.rfind("HTTP/1.1 200", 0), 0u) << meta;
  EXPECT_NE(meta.find("research-scanners.txt"), std::string::npos) << meta;
  // A client connected but silent when the collector stops is let go (the server closes it).
  const int idle = Connect(k.api_port());
  ASSERT_GE(idle, 0);
  k.Stop();
  EXPECT_TRUE(said.Has("stopped; batches stored 0"));
  // Closed: an end of stream, or a reset when it was still waiting to be accepted (a timeout
  // would be EAGAIN).
  char b;
  const ssize_t n = read(idle, &b, 1);
  const int err = errno;
  EXPECT_TRUE(n == 0 || (n < 0 && err == ECONNRESET)) << n << " " << std::strerror(err);
  close(idle);
}

}  // namespace
}  // namespace isdas::collector
