#include "ship/shipper.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <thread>

#include "common/mutex.h"
#include "ingest/ingest_server.h"
#include "model/batch_codec.h"
#include "net/http_server.h"
#include "pki/pki.h"
#include "storage/sqlite_store.h"

namespace isdas::ship {
namespace {

TEST(ParseUrl, RefusesWhatIsNotHttpsHostPort) {
  for (const char* u : {"http://a:1", "https://", "https://a:0", "https://a:65536", "https://a:x",
                        "https://a/path", "ftp://a", "https://[::1", "https://:80"}) {
    auto e = ParseUrl(u);
    ASSERT_FALSE(e.ok()) << u;
    EXPECT_EQ(e.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(e.status().message().find(u), std::string::npos);
  }
}

TEST(ParseUrl, HostsPortsAndIpv6) {
  auto e = ParseUrl("https://collector.example:8443/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "collector.example");
  EXPECT_EQ(e->port, 8443);
  e = ParseUrl("https://198.18.0.1");
  EXPECT_EQ(e->port, 443);
  e = ParseUrl("https://[2001:db8::1]:9443");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "2001:db8::1");
  EXPECT_EQ(e->port, 9443);
}

// The shipper against a real collector (IngestServer over SQLite, real certificates).
struct Lab {
  std::string root;
  std::unique_ptr<storage::SqliteStore> store;
  std::unique_ptr<ingest::IngestServer> server;
  std::unique_ptr<spool::Spool> spool;
  std::unique_ptr<Shipper> shipper;
  std::thread runner;
  ~Lab() {
    if (shipper) shipper->Stop();
    if (runner.joinable()) runner.join();
  }
};

std::vector<uint8_t> Batch(uint64_t seq) {
  std::vector<model::Event> evs(3);
  for (size_t i = 0; i < evs.size(); ++i) {
    evs[i].ts_us = 1795651200LL * 1000000 + static_cast<int64_t>(seq * 10 + i);
    evs[i].src = model::IpAddr::V4(0xcb007107);
    evs[i].dst = model::IpAddr::V4(0xc6130001);
    evs[i].proto = 6;
  }
  return model::EncodeBatch({"tokyo-1", 5, seq, 1}, evs).value();
}

template <class F>
bool WaitFor(F done) {  // bounded: 10 s
  for (int i = 0; i < 1000 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

void Start(Lab* lab, int idle_timeout_s, uint32_t reconnect_idle_s = 25,
           const std::function<void(Options*)>& tweak = nullptr) {
  signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/isdas_ship_XXXXXX";
  lab->root = mkdtemp(tmpl);
  const std::string ca = lab->root + "/ca";
  ASSERT_TRUE(pki::CreateCa(ca, "ship CA", 30).ok());
  ASSERT_TRUE(pki::IssueServer(ca, {"127.0.0.1"}, 30).ok());
  ASSERT_TRUE(pki::IssueSensor(ca, "tokyo-1", 30).ok());
  lab->store = std::move(storage::SqliteStore::Open(lab->root + "/data", true).value());
  ingest::Options o;
  o.cert_file = ca + "/server.crt";
  o.key_file = ca + "/server.key";
  o.ca_file = ca + "/ca.crt";
  o.crl_file = ca + "/crl.pem";
  o.idle_timeout_s = idle_timeout_s;
  lab->server = std::move(ingest::IngestServer::Create(o, lab->store.get()).value());
  ASSERT_TRUE(lab->server->Start().ok());
  spool::Options so;
  so.segment_bytes = 64 * 1024;
  so.max_bytes = 1 << 20;
  lab->spool = std::move(spool::Spool::Open(lab->root + "/spool", so).value());
  Options sh;
  sh.urls = {"https://127.0.0.1:" + std::to_string(lab->server->port())};
  sh.ca_file = ca + "/ca.crt";
  sh.cert_file = ca + "/sensors/tokyo-1.crt";
  sh.key_file = ca + "/sensors/tokyo-1.key";
  sh.initial_backoff_ms = 50;
  sh.window = 1;
  sh.reconnect_idle_s = reconnect_idle_s;
  if (tweak) tweak(&sh);
  lab->shipper = std::move(Shipper::Create(sh, lab->spool.get()).value());
  Shipper* s = lab->shipper.get();
  lab->runner = std::thread([s] { s->Run(); });
}

// What the shipper says, in order: problems and changes for the better.
struct Said {
  isdas::Mutex mu;
  std::vector<std::string> lines ABSL_GUARDED_BY(mu);
  void Hook(Options* o) {
    o->on_problem = [this](const std::string& m) { Add("problem: " + m); };
    o->on_state = [this](const std::string& m) { Add("state: " + m); };
  }
  void Add(const std::string& m) {
    isdas::MutexLock lock(&mu);
    lines.push_back(m);
  }
  std::vector<std::string> Get() {
    isdas::MutexLock lock(&mu);
    return lines;
  }
};

TEST(Shipper, EachChangeOfDeliveryIsToldOnceWithItsCounts) {
  // A sensor used to say nothing through a collector outage and its backlog.
  Lab lab;
  Said said;
  Start(&lab, 60, 25, [&](Options* o) {
    said.Hook(o);
    o->max_backoff_ms = 100;
  });
  const std::string where = "127.0.0.1:" + std::to_string(lab.server->port());
  ASSERT_TRUE(lab.spool->Append(Batch(1), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return said.Get().size() == 1; }));
  EXPECT_EQ(said.Get()[0], "state: delivering to " + where);
  const int port = lab.server->port();
  lab.server->Stop();
  ASSERT_TRUE(lab.spool->Append(Batch(2), 3).ok());
  ASSERT_TRUE(lab.spool->Append(Batch(3), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.shipper->counters().retries.load() >= 4; }));
  auto lines = said.Get();
  ASSERT_EQ(lines.size(), 2u);  // four failures, told once
  EXPECT_EQ(lines[1].rfind("problem: cannot connect to " + where + ": refused or unreachable", 0),
            0u)
      << lines[1];
  EXPECT_NE(lines[1].find("retrying with backoff (up to 100 ms apart), batches stay spooled "
                          "(6 events waiting)"),
            std::string::npos)
      << lines[1];
  // The collector comes back on the same port.
  ingest::Options o;
  o.cert_file = lab.root + "/ca/server.crt";
  o.key_file = lab.root + "/ca/server.key";
  o.ca_file = lab.root + "/ca/ca.crt";
  o.crl_file = lab.root + "/ca/crl.pem";
  o.port = port;
  lab.server.reset();
  lab.server = std::move(ingest::IngestServer::Create(o, lab.store.get()).value());
  ASSERT_TRUE(lab.server->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 3; }));
  ASSERT_TRUE(WaitFor([&] { return said.Get().size() == 4; }));
  lines = said.Get();
  EXPECT_EQ(lines[2].rfind("state: delivering again to " + where + " after ", 0), 0u) << lines[2];
  EXPECT_NE(lines[2].find(" retries; "), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3],
            "state: caught up: every spooled batch is delivered (6 events since "
            "delivery resumed)");
  EXPECT_EQ(lab.store->CountEvents().value(), 9u);
}

TEST(Shipper, ACertificateThatDoesNotNameTheUrlsHostIsExplained) {
  // Said "SSLServerVerification" before: the certificate names 127.0.0.1, not localhost.
  Lab lab;
  Said said;
  Start(&lab, 60, 25, [&](Options* o) {
    said.Hook(o);
    o->urls = {"https://localhost:" + o->urls[0].substr(o->urls[0].rfind(':') + 1)};
  });
  ASSERT_TRUE(lab.spool->Append(Batch(1), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return !said.Get().empty(); }));
  const std::string m = said.Get()[0];
  EXPECT_NE(m.find("does not name 'localhost', the host in collector.urls"), std::string::npos)
      << m;
  EXPECT_NE(lab.shipper->last_error().find("isdas keys server --dir CA localhost"),
            std::string::npos);
  EXPECT_EQ(lab.spool->acked(), 0u);
}

TEST(Shipper, AConnectionTheCollectorClosedWhenIdleIsReopenedWithoutARetry) {
  Lab lab;
  Start(&lab, 1);
  ASSERT_TRUE(lab.spool->Append(Batch(1), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 1; }));
  // The collector closes the kept-alive connection after a second idle.
  ASSERT_TRUE(WaitFor([&] { return lab.server->http_counters().closed_idle.load() == 1; }));
  ASSERT_TRUE(lab.spool->Append(Batch(2), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 2; }));
  EXPECT_EQ(lab.shipper->counters().retries.load(), 0u);
  EXPECT_EQ(lab.store->CountEvents().value(), 6u);
}

TEST(Shipper, ConnectionsAreReopenedBeforeTheCollectorsIdleLimit) {
  Lab lab;
  Start(&lab, 60, /*reconnect_idle_s=*/1);
  ASSERT_TRUE(lab.spool->Append(Batch(1), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the shipper's own idle limit
  ASSERT_TRUE(lab.spool->Append(Batch(2), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 2; }));
  EXPECT_EQ(lab.shipper->counters().reconnects.load(), 1u);
  EXPECT_EQ(lab.shipper->counters().retries.load(), 0u);
  EXPECT_EQ(lab.server->http_counters().closed_idle.load(), 0u);  // the sensor closed first
}

TEST(Shipper, ABatchTheCollectorCallsMalformedIsQuarantinedNotLost) {
  Lab lab;
  Start(&lab, 60);
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'z', 's', 't', 'd'};
  ASSERT_TRUE(lab.spool->Append(junk, 4).ok());
  ASSERT_TRUE(lab.spool->Append(Batch(2), 3).ok());
  lab.shipper->Notify();
  ASSERT_TRUE(WaitFor([&] { return lab.spool->acked() == 2; }));
  EXPECT_EQ(lab.shipper->counters().quarantined_batches.load(), 1u);
  EXPECT_EQ(lab.shipper->counters().quarantined_events.load(), 4u);
  auto q = spool::Spool::ListQuarantine(lab.root + "/spool");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_NE(q->at(0).reason.find("HTTP 400"), std::string::npos) << q->at(0).reason;
  EXPECT_NE(q->at(0).reason.find("zstd"), std::string::npos) << q->at(0).reason;
  EXPECT_EQ(spool::Spool::QuarantinedPayload(lab.root + "/spool", 1).value(), junk);
  EXPECT_EQ(lab.store->CountEvents().value(), 3u);  // the batch behind it went on
}

}  // namespace
}  // namespace isdas::ship
