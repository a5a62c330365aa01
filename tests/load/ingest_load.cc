// Load test of the collector: N simulated sensors, each with its own certificate and TLS
// connection, ship B batches of E events at once against a real `isdas collector` process
// on loopback. Asserts that every batch is committed exactly once (a replay of each sensor's
// first batch must come back "duplicate"), that no refusal for load comes without a
// Retry-After, and prints the acknowledgement latency percentiles.
//   ingest_load ISDAS SENSORS BATCHES EVENTS [SERVER_THREADS]
// Exit status 0 only if every check holds.

#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "load_batches.h"
#include "model/batch_codec.h"
#include "pki/pki.h"
#include "storage/events_table.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

int64_t Query(const std::string& db, const char* sql) {
  sqlite3* h;
  sqlite3_open(db.c_str(), &h);
  isdas::storage::RegisterEventsTable(h);  // events are stored in blocks
  sqlite3_stmt* st;
  sqlite3_prepare_v2(h, sql, -1, &st, nullptr);
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: ingest_load ISDAS SENSORS BATCHES EVENTS [SERVER_THREADS]\n");
    return 64;
  }
  signal(SIGPIPE, SIG_IGN);  // as a sensor does: a closed connection is an error, not death
  const std::string isdas = argv[1];
  const int sensors = std::atoi(argv[2]);
  const int batches = std::atoi(argv[3]);
  const int events = std::atoi(argv[4]);
  const int threads = argc > 5 ? std::atoi(argv[5]) : 4;
  char tmpl[] = "/tmp/isdas_load_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string ca = dir + "/ca";
  auto t_setup = Clock::now();
  if (!isdas::pki::CreateCa(ca, "load CA", 30).ok() ||
      !isdas::pki::IssueServer(ca, {"127.0.0.1"}, 30).ok()) {
    std::fprintf(stderr, "cannot create the CA\n");
    return 1;
  }
  for (int s = 0; s < sensors; ++s) {
    auto r = isdas::pki::IssueSensor(ca, "load-" + std::to_string(s), 30);
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().message().c_str());
      return 1;
    }
  }
  std::ofstream(dir + "/collector.toml")
      << "[collector]\ndata_dir = \"" << dir << "/data\"\nlisten = \"127.0.0.1:0\"\n"
      << "port_file = \"" << dir << "/port\"\n[tls]\ncert = \"" << ca << "/server.crt\"\n"
      << "key = \"" << ca << "/server.key\"\nca = \"" << ca << "/ca.crt\"\ncrl = \"" << ca
      << "/crl.pem\"\n[limits]\nthreads = " << threads
      << "\n"
      // Every simulated sensor connects from 127.0.0.1: lift the per-address cap that a
      // collector facing the Internet keeps (256 by default).
      << "max_connections_per_address = 100000\n";
  const std::string conf = dir + "/collector.toml";
  const char* args[] = {isdas.c_str(), "collector", "--config", conf.c_str(), nullptr};
  pid_t collector;
  if (posix_spawn(&collector, isdas.c_str(), nullptr, nullptr, const_cast<char**>(args), environ) !=
      0) {
    std::perror("spawn collector");
    return 1;
  }
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::ifstream pf(dir + "/port");
    if (!(pf >> port)) port = 0;
    if (!port) usleep(50000);
  }
  if (!port) {
    std::fprintf(stderr, "collector did not start\n");
    kill(collector, SIGKILL);
    return 1;
  }
  const double setup_s = std::chrono::duration<double>(Clock::now() - t_setup).count();

  std::mutex mu;
  std::vector<double> lat_ms;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<uint64_t> ok{0}, dup_ok{0}, busy_with_retry{0}, busy_without_retry{0}, failed{0};
  std::vector<std::thread> ts;
  for (int s = 0; s < sensors; ++s) {
    ts.emplace_back([&, s] {
      const std::string id = "load-" + std::to_string(s);
      std::vector<std::string> bodies;
      for (int b = 1; b <= batches; ++b)
        bodies.push_back(isdas::load::Batch(id, 1, static_cast<uint64_t>(b), events));
      httplib::SSLClient c("127.0.0.1", port, ca + "/sensors/" + id + ".crt",
                           ca + "/sensors/" + id + ".key");
      c.set_ca_cert_path((ca + "/ca.crt").c_str());
      c.enable_server_certificate_verification(true);
      c.set_keep_alive(true);
      c.set_connection_timeout(60, 0);
      c.set_read_timeout(120, 0);
      c.set_write_timeout(60, 0);
      std::vector<double> mine;
      ready++;
      while (!go) std::this_thread::yield();
      // Every batch, then the first one again: that one must be answered "duplicate".
      for (int b = 0; b <= batches; ++b) {
        const std::string& body = bodies[static_cast<size_t>(b == batches ? 0 : b)];
        for (int attempt = 0; attempt < 200; ++attempt) {
          const auto t0 = Clock::now();
          auto r = c.Post("/v1/batch", body, "application/x-isdas-batch");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          if (r && r->status == 200) {
            const bool dup = r->body.find("\"duplicate\"") != std::string::npos;
            if (b == batches) {
              if (dup)
                dup_ok++;
              else
                failed++;
            } else {
              ok++;
              mine.push_back(ms);
            }
            break;
          }
          if (r && r->status == 503) {
            if (r->has_header("Retry-After")) {
              busy_with_retry++;
              std::this_thread::sleep_for(
                  std::chrono::seconds(std::stoi(r->get_header_value("Retry-After"))));
              continue;
            }
            busy_without_retry++;
          }
          if (!r) {  // connection trouble: retry after a short pause
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
          }
          failed++;
          std::fprintf(stderr, "%s batch %d: HTTP %d %s", id.c_str(), b, r->status,
                       r->body.c_str());
          break;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      lat_ms.insert(lat_ms.end(), mine.begin(), mine.end());
    });
  }
  while (ready < sensors) usleep(10000);
  const auto t0 = Clock::now();
  go = true;
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  kill(collector, SIGTERM);
  int wst;
  waitpid(collector, &wst, 0);

  const std::string db = dir + "/data/isdas.sqlite";
  const int64_t stored_events = Query(db, "SELECT COUNT(*) FROM events");
  const int64_t stored_batches = Query(db, "SELECT COUNT(*) FROM batches");
  const int64_t known = Query(db, "SELECT COUNT(*) FROM sensors");
  std::sort(lat_ms.begin(), lat_ms.end());
  auto pct = [&](double p) {
    return lat_ms.empty()
               ? 0.0
               : lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(p * lat_ms.size()))];
  };
  const int64_t want_batches = int64_t{sensors} * batches;
  std::printf("sensors %d, batches/sensor %d, events/batch %d, server worker threads %d\n", sensors,
              batches, events, threads);
  std::printf("setup (CA, %d certificates, collector start): %.1f s\n", sensors, setup_s);
  std::printf("shipping: %.2f s, %.0f batches/s, %.0f events/s\n", secs, want_batches / secs,
              static_cast<double>(want_batches) * events / secs);
  std::printf("ack latency ms: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f\n", pct(0.5), pct(0.9),
              pct(0.99), lat_ms.empty() ? 0.0 : lat_ms.back());
  std::printf("503 with Retry-After: %llu, 503 without: %llu, failures: %llu\n",
              static_cast<unsigned long long>(busy_with_retry.load()),
              static_cast<unsigned long long>(busy_without_retry.load()),
              static_cast<unsigned long long>(failed.load()));
  std::printf("stored: %lld batches, %lld events, %lld sensors; replays answered duplicate: %llu\n",
              static_cast<long long>(stored_batches), static_cast<long long>(stored_events),
              static_cast<long long>(known), static_cast<unsigned long long>(dup_ok.load()));
  bool pass = ok == static_cast<uint64_t>(want_batches) && stored_batches == want_batches &&
              stored_events == want_batches * events && known == sensors &&
              dup_ok == static_cast<uint64_t>(sensors) && busy_without_retry == 0 && failed == 0;
  std::printf("%s\n", pass ? "ingest_load: all checks passed" : "ingest_load: FAILED");
  if (pass) std::system(("rm -rf " + dir).c_str());
  return pass ? 0 : 1;
}
