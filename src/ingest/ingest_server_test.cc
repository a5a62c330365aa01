// The ingest endpoint against real TLS: a server on loopback, clients with certificates
// issued by a real CA (pki), and a real SQLite store. Hostile cases first.

#include "ingest/ingest_server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <zlib.h>
#include <zstd.h>

#include <csignal>
#include <functional>
#include <thread>

#include "common/mutex.h"
#include "geo/geo.h"
#include "model/batch_codec.h"
#include "model/heartbeat_codec.h"
#include "net/http_server.h"
#include "pki/pki.h"
#include "storage/events_table.h"
#include "storage/sqlite_store.h"

namespace isdas::ingest {
namespace {

struct Env {
  std::string root;
  std::string ca;     // our CA dir
  std::string other;  // a stranger's CA dir
  std::unique_ptr<storage::SqliteStore> store;
  std::unique_ptr<IngestServer> server;
};

Env StartCollector(const geo::GeoDb* geo = nullptr,
                   std::function<void(const std::string&)> on_refusal = nullptr,
                   int refusal_quiet_s = 60) {
  signal(SIGPIPE, SIG_IGN);  // a refused handshake closes under a writing client
  Env e;
  char tmpl[] = "/tmp/isdas_ingest_XXXXXX";
  e.root = mkdtemp(tmpl);
  e.ca = e.root + "/ca";
  e.other = e.root + "/other";
  EXPECT_TRUE(pki::CreateCa(e.ca, "collector CA", 30).ok());
  EXPECT_TRUE(pki::CreateCa(e.other, "someone else", 30).ok());
  EXPECT_TRUE(pki::IssueServer(e.ca, {"127.0.0.1"}, 30).ok());
  for (const char* s : {"tokyo-1", "osaka-2", "gone-3"}) {
    EXPECT_TRUE(pki::IssueSensor(e.ca, s, 30).ok());
  }
  EXPECT_TRUE(pki::IssueSensor(e.other, "tokyo-1", 30).ok());
  auto st = storage::SqliteStore::Open(e.root + "/data", true);
  EXPECT_TRUE(st.ok());
  e.store = std::move(st.value());
  Options o;
  o.cert_file = e.ca + "/server.crt";
  o.key_file = e.ca + "/server.key";
  o.ca_file = e.ca + "/ca.crt";
  o.crl_file = e.ca + "/crl.pem";
  o.limits.max_compressed_bytes = 1 << 20;
  o.limits.max_decompressed_bytes = 8 << 20;
  o.threads = 8;
  o.on_refusal = std::move(on_refusal);
  o.refusal_quiet_s = refusal_quiet_s;
  auto srv = IngestServer::Create(o, e.store.get(), geo);
  EXPECT_TRUE(srv.ok()) << srv.status().ToString();
  e.server = std::move(srv.value());
  EXPECT_TRUE(e.server->Start().ok());
  return e;
}

std::unique_ptr<httplib::SSLClient> Client(const Env& e, const std::string& ca_dir,
                                           const std::string& sensor) {
  std::unique_ptr<httplib::SSLClient> c;
  if (sensor.empty()) {
    c = std::make_unique<httplib::SSLClient>("127.0.0.1", e.server->port());
  } else {
    c = std::make_unique<httplib::SSLClient>("127.0.0.1", e.server->port(),
                                             ca_dir + "/sensors/" + sensor + ".crt",
                                             ca_dir + "/sensors/" + sensor + ".key");
  }
  c->set_ca_cert_path((e.ca + "/ca.crt").c_str());
  c->enable_server_certificate_verification(true);
  return c;
}

std::string Batch(const std::string& sensor, uint64_t seq, int events) {
  std::vector<model::Event> evs;
  for (int i = 0; i < events; ++i) {
    model::Event ev;
    ev.ts_us = 1795651200LL * 1000000 + i;
    ev.src = model::IpAddr::V4(0xcb007107);
    ev.dst = model::IpAddr::V4(0xc6130000u + static_cast<uint32_t>(i));
    ev.proto = 6;
    ev.dport = 23;
    evs.push_back(ev);
  }
  auto z = model::EncodeBatch(model::BatchHeader{sensor, 99, seq, 1}, evs);
  return std::string(z->begin(), z->end());
}

httplib::Result Post(httplib::SSLClient& c, const std::string& body) {
  return c.Post("/v1/batch", body, "application/x-isdas-batch");
}

uint64_t Stored(const Env& e) { return e.store->CountEvents().value(); }

// The client sees a refused handshake before the server's handler counts it: wait (bounded).
uint64_t Eventually(const std::atomic<uint64_t>& counter, uint64_t want) {
  for (int i = 0; i < 500 && counter.load() < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return counter.load();
}

TEST(Ingest, RefusalsAreToldOnceEachAndRepeatsCounted) {
  // The collector logged no refusal at all before.
  Mutex mu;
  std::vector<std::string> told;
  Env e = StartCollector(
      nullptr,
      [&](const std::string& m) {
        MutexLock lock(&mu);
        told.push_back(m);
      },
      /*refusal_quiet_s=*/1);
  auto said = [&] {
    MutexLock lock(&mu);
    return told;
  };
  for (int i = 0; i < 3; ++i) {  // a stranger's certificate, three handshakes
    auto c = Client(e, e.other, "tokyo-1");
    EXPECT_FALSE(Post(*c, Batch("tokyo-1", 1, 1)));
  }
  EXPECT_EQ(Eventually(e.server->http_counters().tls_untrusted_certificate, 3), 3u);
  auto c = Client(e, e.ca, "osaka-2");
  for (int i = 0; i < 2; ++i) {
    auto r = Post(*c, Batch("tokyo-1", 1, 1));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
  }
  const auto lines = said();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(
      lines[0].rfind("refused a connection from 127.0.0.1: its certificate is not accepted: ", 0),
      0u)
      << lines[0];
  EXPECT_EQ(lines[1],
            "refused sensor 'osaka-2' (127.0.0.1): its batch claims to be from sensor 'tokyo-1'");
  // Once the quiet second is over, the next refusal is told with the count of those untold.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto r = Post(*c, Batch("tokyo-1", 1, 1));
  ASSERT_TRUE(r);
  ASSERT_EQ(said().size(), 3u);
  EXPECT_EQ(said()[2].rfind("refused sensor 'osaka-2' (127.0.0.1): its batch claims to be from "
                            "sensor 'tokyo-1' (and 1 more times in the ",
                            0),
            0u)
      << said()[2];
}

TEST(Ingest, NoClientCertificateNeverReachesHttp) {
  Env e = StartCollector();
  auto c = Client(e, "", "");
  auto r = Post(*c, Batch("tokyo-1", 1, 5));
  EXPECT_FALSE(r);  // the handshake itself is refused
  EXPECT_EQ(Stored(e), 0u);
  EXPECT_EQ(Eventually(e.server->http_counters().tls_no_certificate, 1), 1u);
  EXPECT_EQ(e.server->http_counters().requests.load(), 0u);
}

TEST(Ingest, CertificateFromAnotherCaNeverReachesHttp) {
  Env e = StartCollector();
  auto c = Client(e, e.other, "tokyo-1");
  auto r = Post(*c, Batch("tokyo-1", 1, 5));
  EXPECT_FALSE(r);
  EXPECT_EQ(Stored(e), 0u);
  EXPECT_EQ(Eventually(e.server->http_counters().tls_untrusted_certificate, 1), 1u);
  EXPECT_EQ(e.server->http_counters().requests.load(), 0u);
}

TEST(Ingest, SensorAClaimingSensorBIs403) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "tokyo-1");
  auto r = Post(*c, Batch("osaka-2", 1, 5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("osaka-2"), std::string::npos);
  EXPECT_EQ(Stored(e), 0u);
  EXPECT_EQ(e.server->counters().refused_sensor_mismatch.load(), 1u);
}

TEST(Ingest, RevokedCertificateIsRefusedInTheHandshakeOnceTheCrlChanges) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "gone-3");
  c->set_keep_alive(true);  // this connection stays open across the revocation
  auto ok = Post(*c, Batch("gone-3", 1, 2));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  ASSERT_TRUE(pki::RevokeSensor(e.ca, "gone-3").ok());
  // The CRL is re-read within a second of changing: try until the handshake is refused.
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    auto c2 = Client(e, e.ca, "gone-3");
    auto r = Post(*c2, Batch("gone-3", 2 + static_cast<uint64_t>(i), 2));
    refused = !r;
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(Eventually(e.server->http_counters().tls_revoked_certificate, 1), 1u);
  // The connection opened before the revocation is refused too, on its next request.
  auto r = Post(*c, Batch("gone-3", 200, 2));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("revoked"), std::string::npos);
  // Every batch before the revocation took effect was stored, none after.
  EXPECT_EQ(Stored(e), 2u * e.server->counters().batches_stored.load());
}

TEST(Ingest, ARefusedBodyIsNeverParsedAsARequest) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "tokyo-1");
  // A batch too large for the limit whose bytes are an HTTP request storing a batch: refused
  // from its Content-Length, and the connection closed rather than its body parsed.
  const std::string inner = Batch("tokyo-1", 9, 3);
  std::string body =
      "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(inner.size()) +
      "\r\n\r\n" + inner;
  body += std::string((1 << 20) + 1 - body.size() + 10, 'x');
  auto r = Post(*c, body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->get_header_value("Connection"), "close");
  // The client's next request goes on a new connection and is answered for itself.
  r = Post(*c, Batch("tokyo-1", 10, 4));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Stored(e), 4u);
  EXPECT_EQ(e.server->counters().batches_stored.load(), 1u);
}

TEST(Ingest, MalformedBodiesAre400WithAReason) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "tokyo-1");
  auto r = Post(*c, "definitely not zstd");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("zstd"), std::string::npos);
  // A zstd bomb: 50 MB of zeros in a few kB, above the 8 MB decompression limit.
  std::string zeros(50 << 20, '\0');
  std::string bomb(ZSTD_compressBound(zeros.size()), '\0');
  bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 3));
  r = Post(*c, bomb);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("decompresses to more than"), std::string::npos) << r->body;
  EXPECT_EQ(Stored(e), 0u);
}

TEST(Ingest, OversizedBodyIs413) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "tokyo-1");
  auto r = Post(*c, std::string(2 << 20, 'x'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Stored(e), 0u);
}

TEST(Ingest, ContentEncodingIsRefusedBeforeTheBodyIsRead) {
  Env e = StartCollector();
  // 100 MB of zeros, gzip-compressed, sent as Content-Encoding: gzip.
  std::string zeros(100 << 20, '\0');
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY);
  std::string gz(deflateBound(&zs, zeros.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
  zs.avail_in = static_cast<uInt>(zeros.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  deflate(&zs, Z_FINISH);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  auto c = Client(e, e.ca, "tokyo-1");
  httplib::Headers h{{"Content-Encoding", "gzip"}};
  auto r = c->Post("/v1/batch", h, gz, "application/x-isdas-batch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415) << r->body;  // refused before a byte of it is inflated
  EXPECT_EQ(Stored(e), 0u);
}

TEST(Ingest, BatchIsStoredOnceAndAReplayIsAcknowledgedAsDuplicate) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "tokyo-1");
  const std::string b = Batch("tokyo-1", 7, 100);
  auto r = Post(*c, b);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\"stored\""), std::string::npos);
  EXPECT_EQ(Stored(e), 100u);
  r = Post(*c, b);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("\"duplicate\""), std::string::npos);
  EXPECT_EQ(Stored(e), 100u);
  auto sensors = e.store->Sensors();
  ASSERT_EQ(sensors->size(), 1u);
  EXPECT_EQ(sensors->at(0).name, "tokyo-1");
  EXPECT_EQ(sensors->at(0).events, 100u);
}

TEST(Ingest, SourcesAreEnrichedWithCountryAndAsAtIngest) {
  const std::string dir = ISDAS_GEO_DIR;
  auto g = geo::GeoDb::Open(dir + "/geo-whois-asn-country.mmdb", dir + "/asn-ipv4.csv",
                            dir + "/asn-ipv6.csv", "geo-test-1");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Env e = StartCollector(g->get());
  std::vector<model::Event> evs(3);
  const uint32_t srcs[] = {0x08080404 /* 8.8.4.4 */, 0x85010101 /* 133.1.1.1 */,
                           0x0a000001 /* 10.0.0.1 */};
  for (int i = 0; i < 3; ++i) {
    evs[static_cast<size_t>(i)].ts_us = 1795651200LL * 1000000 + i;
    evs[static_cast<size_t>(i)].src = model::IpAddr::V4(srcs[i]);
    evs[static_cast<size_t>(i)].dst = model::IpAddr::V4(0xc6130001);
    evs[static_cast<size_t>(i)].proto = 6;
  }
  auto z = model::EncodeBatch(model::BatchHeader{"tokyo-1", 5, 1, 1}, evs);
  auto c = Client(e, e.ca, "tokyo-1");
  auto r = Post(*c, std::string(z->begin(), z->end()));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  e.server->Stop();
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((e.root + "/data/isdas.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(storage::RegisterEventsTable(db));  // events are stored in blocks
  sqlite3_stmt* st;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT src_country, src_asn, COALESCE(n.name, '') FROM "
                               "events LEFT JOIN as_names n ON n.asn = src_asn ORDER BY ts",
                               -1, &st, nullptr),
            SQLITE_OK);
  std::vector<std::string> got;
  while (sqlite3_step(st) == SQLITE_ROW) {
    got.push_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "/" +
                  std::to_string(sqlite3_column_int64(st, 1)) + "/" +
                  reinterpret_cast<const char*>(sqlite3_column_text(st, 2)));
  }
  sqlite3_finalize(st);
  EXPECT_EQ(got,
            (std::vector<std::string>{"US/15169/Google LLC", "JP/4730/Osaka University", "XP/0/"}));
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT geo_version FROM batches", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "geo-test-1");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(Ingest, HeartbeatIsRecordedAndChecked) {
  Env e = StartCollector();
  auto c = Client(e, e.ca, "tokyo-1");
  model::HeartbeatData hb{"tokyo-1", 5, {{"captured", 10}, {"kernel_drops", 0}}};
  auto body = model::EncodeHeartbeat(hb);
  auto r =
      c->Post("/v1/heartbeat", std::string(body.begin(), body.end()), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  hb.sensor_id = "osaka-2";
  body = model::EncodeHeartbeat(hb);
  r = c->Post("/v1/heartbeat", std::string(body.begin(), body.end()), "application/x-protobuf");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  auto sensors = e.store->Sensors();
  ASSERT_EQ(sensors->size(), 1u);
  EXPECT_EQ(sensors->at(0).counters.size(), 2u);
}

TEST(Ingest, ManyConcurrentSensorsAreEachStoredOnce) {
  Env e = StartCollector();
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      auto c = Client(e, e.ca, t % 2 ? "tokyo-1" : "osaka-2");
      for (int i = 0; i < 10; ++i) {
        // Each sensor sends seqs 1..40 across 4 threads: every batch twice over.
        auto r = Post(*c, Batch(t % 2 ? "tokyo-1" : "osaka-2", 1 + (t / 2 * 10 + i) % 20, 10));
        if (r && r->status == 200) ok++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 80);
  // 2 sensors x 20 distinct seqs x 10 events, whatever the interleaving.
  EXPECT_EQ(Stored(e), 400u);
  EXPECT_EQ(e.server->counters().batches_stored.load(), 40u);
  EXPECT_EQ(e.server->counters().batches_duplicate.load(), 40u);
}

}  // namespace
}  // namespace isdas::ingest
