// Hostile peers against a real `isdas collector` process on loopback, while real sensors ship:
//   - 1,000 connections to the ingest port without a certificate, from other loopback
//     addresses: 500 idle, 400 slowloris (a junk byte a second), 100 sending a junk POST and
//     never reading;
//   - 16 sensors with valid certificates sending zstd bombs (100 MB of zeros) at once;
//   - on the API port: 64 keep-alive clients asking as fast as they can, 8 slowloris clients;
// and meanwhile a probe sensor posts a batch every 200 ms and an `isdas sensor` replays a
// capture. Checks: every probe batch and every replayed event stored once; no probe batch
// and no API answer held back (each within `stall_s`); the collector's memory bounded.
// Prints the probe's ack latency and the API's latency percentiles and the collector's peak
// RSS. With --strict it also asserts the figures the design promises (ack within 1 s, API p99
// under 100 ms): run that on an idle machine (bench/), not as a test on a shared one.
//   hostile_peers ISDAS [--strict] [--seconds N]

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
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
using namespace std::chrono_literals;

int Connect(int port, const std::string& from) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &a.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &s.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int64_t Query(const std::string& db, const char* sql) {
  sqlite3* h;
  sqlite3_open(db.c_str(), &h);
  isdas::storage::RegisterEventsTable(h);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(h, sql, -1, &st, nullptr);
  const int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

long RssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

int WaitPort(const std::string& file) {
  for (int i = 0; i < 400; ++i) {
    std::ifstream pf(file);
    int port = 0;
    if (pf >> port && port > 0) return port;
    usleep(50000);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: hostile_peers ISDAS [--strict] [--seconds N]\n");
    return 64;
  }
  const std::string isdas = argv[1];
  bool strict = false;
  int seconds = 10;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--strict") == 0) strict = true;
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atoi(argv[++i]);
  }
  const double stall_s = 5;  // the old thread-per-connection server held sensors 30-100 s
  signal(SIGPIPE, SIG_IGN);
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  char tmpl[] = "/tmp/isdas_hostile_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string ca = dir + "/ca";
  if (!isdas::pki::CreateCa(ca, "hostile CA", 30).ok() ||
      !isdas::pki::IssueServer(ca, {"127.0.0.1"}, 30).ok()) {
    std::fprintf(stderr, "cannot create the CA\n");
    return 1;
  }
  std::vector<std::string> bombers;
  for (const char* s : {"probe", "replay"}) (void)isdas::pki::IssueSensor(ca, s, 30);
  for (int i = 0; i < 16; ++i) {
    bombers.push_back("bomb-" + std::to_string(i));
    (void)isdas::pki::IssueSensor(ca, bombers.back(), 30);
  }
  const int replay_packets = 100000;
  const pid_t sim = Spawn({isdas, "simulate", "--out", dir + "/replay.pcap", "--packets",
                           std::to_string(replay_packets), "--seed", "5"},
                          dir + "/simulate.out");
  int st = 0;
  waitpid(sim, &st, 0);
  std::ofstream(dir + "/collector.toml")
      << "[collector]\ndata_dir = \"" << dir << "/data\"\nlisten = \"127.0.0.1:0\"\n"
      << "port_file = \"" << dir << "/port\"\n[api]\nlisten = \"127.0.0.1:0\"\nport_file = \""
      << dir << "/api.port\"\n[tls]\ncert = \"" << ca << "/server.crt\"\nkey = \"" << ca
      << "/server.key\"\nca = \"" << ca << "/ca.crt\"\ncrl = \"" << ca << "/crl.pem\"\n";
  const pid_t collector =
      Spawn({isdas, "collector", "--config", dir + "/collector.toml"}, dir + "/collector.out");
  const int port = WaitPort(dir + "/port");
  const int api_port = WaitPort(dir + "/api.port");
  if (!port || !api_port) {
    std::fprintf(stderr, "collector did not start\n");
    kill(collector, SIGKILL);
    return 1;
  }
  const long rss_start = RssKb(collector);
  std::atomic<bool> stop{false};
  std::atomic<long> rss_peak{rss_start};
  std::thread sampler([&] {
    while (!stop) {
      rss_peak = std::max(rss_peak.load(), RssKb(collector));
      std::this_thread::sleep_for(50ms);
    }
  });

  // The attackers: 1,000 connections to the ingest port from 127.0.0.2-9 (125 each, under the
  // per-address cap, so every one is held open by the server).
  std::vector<int> idle, slow, junk;
  for (int i = 0; i < 1000; ++i) {
    const std::string from = "127.0.0." + std::to_string(2 + i / 125);
    const int fd = Connect(port, from);
    if (fd < 0) continue;
    (i < 500 ? idle : i < 900 ? slow : junk).push_back(fd);
  }
  for (int fd : junk) {
    const std::string j = "POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                          std::string(2000, 'j');
    (void)!send(fd, j.data(), j.size(), MSG_NOSIGNAL);  // and never read
  }
  std::vector<int> api_slow;
  for (int i = 0; i < 8; ++i) {
    const int fd = Connect(api_port, "127.0.0.10");
    if (fd >= 0) api_slow.push_back(fd);
  }
  std::thread drip([&] {
    const std::string req = "GET /api/v1/meta HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t k = 0; !stop; ++k) {
      for (int fd : slow) (void)!send(fd, "\x16", 1, MSG_NOSIGNAL);
      for (int fd : api_slow) (void)!send(fd, req.data() + k % req.size(), 1, MSG_NOSIGNAL);
      for (int i = 0; i < 10 && !stop; ++i) std::this_thread::sleep_for(100ms);
    }
  });
  // 16 zstd bombs at once, from sensors with valid certificates.
  std::string zeros(100 << 20, '\0');
  std::string bomb(ZSTD_compressBound(zeros.size()), '\0');
  bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 1));
  zeros.clear();
  zeros.shrink_to_fit();
  std::atomic<int> bombs_refused{0};
  std::vector<std::thread> bomb_threads;
  for (const auto& b : bombers) {
    bomb_threads.emplace_back([&, b] {
      httplib::SSLClient c("127.0.0.1", port, ca + "/sensors/" + b + ".crt",
                           ca + "/sensors/" + b + ".key");
      c.set_ca_cert_path((ca + "/ca.crt").c_str());
      c.enable_server_certificate_verification(true);
      for (int k = 0; k < 3; ++k) {
        auto r = c.Post("/v1/batch", bomb, "application/x-isdas-batch");
        if (r && (r->status == 400 || r->status == 503)) bombs_refused++;
      }
    });
  }
  // The API clients: keep-alive, as fast as answers come.
  std::mutex mu;
  std::vector<double> api_ms;
  std::atomic<int> api_bad{0};
  std::vector<std::thread> api_threads;
  for (int i = 0; i < 64; ++i) {
    api_threads.emplace_back([&] {
      httplib::Client c("127.0.0.1", api_port);
      c.set_keep_alive(true);
      c.set_read_timeout(60, 0);
      std::vector<double> mine;
      while (!stop) {
        const auto t0 = Clock::now();
        auto r = c.Get("/api/v1/meta");
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (!r || r->status != 200) api_bad++;
      }
      std::lock_guard<std::mutex> lock(mu);
      api_ms.insert(api_ms.end(), mine.begin(), mine.end());
    });
  }
  // A real sensor replaying a capture, and the probe.
  std::ofstream(dir + "/sensor.toml")
      << "[sensor]\nid = \"replay\"\nreplay = [\"" << dir << "/replay.pcap\"]\n"
      << "replay_wait_s = 120\n[spool]\ndir = \"" << dir << "/spool\"\n[collector]\nurls = "
      << "[\"https://127.0.0.1:" << port << "\"]\nca = \"" << ca << "/ca.crt\"\ncert = \"" << ca
      << "/sensors/replay.crt\"\nkey = \"" << ca << "/sensors/replay.key\"\n";
  const pid_t sensor =
      Spawn({isdas, "sensor", "--config", dir + "/sensor.toml"}, dir + "/sensor.out");
  std::vector<double> ack_ms;
  int probe_sent = 0, probe_ok = 0;
  {
    httplib::SSLClient c("127.0.0.1", port, ca + "/sensors/probe.crt", ca + "/sensors/probe.key");
    c.set_ca_cert_path((ca + "/ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);
    c.set_read_timeout(120, 0);
    const auto end = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < end) {
      const std::string body =
          isdas::load::Batch("probe", 7, static_cast<uint64_t>(++probe_sent), 1000);
      const auto t0 = Clock::now();
      auto r = c.Post("/v1/batch", body, "application/x-isdas-batch");
      ack_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (getenv("HOSTILE_VERBOSE"))
        std::fprintf(stderr, "probe %d: %.1f ms\n", probe_sent, ack_ms.back());
      if (r && r->status == 200) probe_ok++;
      std::this_thread::sleep_for(200ms);
    }
  }
  stop = true;
  for (auto& t : api_threads) t.join();
  for (auto& t : bomb_threads) t.join();
  drip.join();
  int sensor_status = 0;
  waitpid(sensor, &sensor_status, 0);
  sampler.join();
  for (auto* v : {&idle, &slow, &junk, &api_slow}) {
    for (int fd : *v) close(fd);
  }
  kill(collector, SIGTERM);
  waitpid(collector, &st, 0);

  const std::string db = dir + "/data/isdas.sqlite";
  const int64_t probe_events = Query(db,
                                     "SELECT COUNT(*) FROM events WHERE sensor = "
                                     "(SELECT id FROM sensors WHERE name = 'probe')");
  const int64_t replay_events = Query(db,
                                      "SELECT COUNT(*) FROM events WHERE sensor = "
                                      "(SELECT id FROM sensors WHERE name = 'replay')");
  std::ifstream so(dir + "/sensor.out");
  std::string line;
  int64_t replay_decoded = -1;
  while (std::getline(so, line)) {
    if (line.rfind("decoded: ", 0) == 0) replay_decoded = std::atoll(line.c_str() + 9);
  }
  const double ack_max = ack_ms.empty() ? 0 : *std::max_element(ack_ms.begin(), ack_ms.end());
  const double api_max = api_ms.empty() ? 0 : *std::max_element(api_ms.begin(), api_ms.end());
  std::printf(
      "attack: %zu idle, %zu slowloris, %zu junk connections held on ingest; 16 bombs x3 "
      "(%d refused); 8 slowloris + 64 keep-alive clients on the API; %d s\n",
      idle.size(), slow.size(), junk.size(), bombs_refused.load(), seconds);
  std::printf("probe: %d of %d batches acknowledged; ack ms p50 %.1f, p99 %.1f, max %.1f\n",
              probe_ok, probe_sent, Pct(ack_ms, 0.5), Pct(ack_ms, 0.99), ack_max);
  std::printf("api: %zu answers, %d bad; ms p50 %.1f, p99 %.1f, max %.1f\n", api_ms.size(),
              api_bad.load(), Pct(api_ms, 0.5), Pct(api_ms, 0.99), api_max);
  std::printf("replay sensor: exit %d, %lld of %lld decoded events stored; probe events %lld\n",
              WIFEXITED(sensor_status) ? WEXITSTATUS(sensor_status) : -1,
              static_cast<long long>(replay_events), static_cast<long long>(replay_decoded),
              static_cast<long long>(probe_events));
  std::printf("collector RSS: %ld MB at start, %ld MB peak\n", rss_start / 1024,
              rss_peak.load() / 1024);
  bool pass = idle.size() + slow.size() + junk.size() == 1000 && probe_ok == probe_sent &&
              probe_events == int64_t{probe_sent} * 1000 && ack_max < stall_s * 1000 &&
              api_bad == 0 && !api_ms.empty() && api_max < stall_s * 1000 &&
              WIFEXITED(sensor_status) && WEXITSTATUS(sensor_status) == 0 && replay_decoded > 0 &&
              replay_events == replay_decoded && bombs_refused == 48 && rss_peak < 1024 * 1024;
  if (strict) pass = pass && ack_max < 1000 && Pct(api_ms, 0.99) < 100;
  std::printf("%s\n", pass ? "hostile_peers: all checks passed" : "hostile_peers: FAILED");
  if (pass) std::system(("rm -rf " + dir).c_str());
  return pass ? 0 : 1;
}
