#pragma once

// Ships spooled batches to the collector over HTTPS with the sensor's client certificate,
// `window` at a time on parallel connections, and acknowledges them in the spool — in
// sequence order, only up to the first one not yet delivered — once the collector answers
// "stored" or "duplicate" (docs/ingest-protocol.md). Failures are retried with exponential
// backoff and jitter, moving to the next collector URL each time (fail-over).
// A batch the collector refuses as malformed (400/413) can never be stored: it is skipped and
// its events counted as refused_events, so one bad batch cannot block the rest.
// Thread-safe counters; Run() in one thread, Stop() from any.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "spool/spool.h"

namespace isdas::ship {

struct Options {
  std::vector<std::string> urls;  // "https://host:port", tried in order, then round again
  std::string ca_file;            // the collector CA (verifies the collector)
  std::string cert_file;          // this sensor's certificate and key
  std::string key_file;
  uint32_t initial_backoff_ms = 200;
  uint32_t max_backoff_ms = 30000;
  uint32_t timeout_s = 30;
  uint32_t window = 8;  // batches in flight at once, each on its own connection
};

struct Counters {
  std::atomic<uint64_t> shipped_batches{0};
  std::atomic<uint64_t> shipped_events{0};  // acknowledged as stored or duplicate
  std::atomic<uint64_t> duplicate_batches{0};
  std::atomic<uint64_t> refused_batches{0};  // 400/413: skipped, never storable
  std::atomic<uint64_t> refused_events{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> failovers{0};
};

struct Endpoint {
  std::string host;
  int port = 443;
};
// Parses "https://host[:port][/]". Errors: kInvalidArgument naming the URL.
Result<Endpoint> ParseUrl(const std::string& url);

class Shipper {
 public:
  // Errors: kInvalidArgument (no URL, bad URL, missing files).
  static Result<std::unique_ptr<Shipper>> Create(const Options& options, spool::Spool* spool);
  ~Shipper();

  // Ships until Stop(). Wakes up when Notify() says the spool has something new.
  void Run();
  void Notify();
  void Stop();
  // Sends one heartbeat (body: protobuf Heartbeat) to the first collector that answers.
  Status SendHeartbeat(const std::vector<uint8_t>& body);
  // True when everything appended so far has been acknowledged or skipped.
  bool Drained() const;
  const Counters& counters() const { return c_; }
  std::string last_error() const;

 private:
  struct Client;
  Shipper(const Options& o, spool::Spool* spool);
  // Posts on connection `slot` to `endpoint`; returns the HTTP status (0 when no answer) and
  // the body. A slot is used by one thread at a time.
  std::pair<int, std::string> Post(size_t endpoint, size_t slot, const std::string& path,
                                   const std::string& body, const char* type);
  void SleepBackoff(uint32_t attempt);

  Options opt_;
  spool::Spool* spool_;
  std::vector<Endpoint> endpoints_;
  // clients_[endpoint][slot]; slots 0..window-1 ship batches, slot `window` heartbeats.
  std::vector<std::vector<std::unique_ptr<Client>>> clients_;
  std::mutex heartbeat_mu_;
  std::atomic<size_t> current_{0};  // the endpoint in use; read by heartbeats too
  Counters c_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool notified_ = false;
  std::string last_error_;
};

}  // namespace isdas::ship
