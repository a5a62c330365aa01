#pragma once

// Ships spooled batches to the collector over HTTPS with the sensor's client certificate,
// `window` at a time on parallel connections, and acknowledges them in the spool — in
// sequence order, only up to the first one not yet delivered — once the collector answers
// "stored" or "duplicate" (docs/ingest-protocol.md). Failures are retried with exponential
// backoff and jitter, moving to the next collector URL each time (fail-over).
// A batch the collector refuses as malformed (400/413) can never be stored as it is: it goes to
// the spool's quarantine with the collector's reason (`isdas spool list|show|requeue`), counted,
// so one bad batch cannot block the rest and none is lost. A refusal of the sensor itself —
// 401/403, or a TLS handshake the collector ends with a certificate alert (revoked, unknown CA,
// expired, none) — is not about the batch: the batch stays spooled, the shipper backs off and
// tries again, and the reason is reported (auth_problem(), on_problem once per change).
// Connections idle longer than `reconnect_idle_s` are reopened before use, and a request that
// fails on a reused connection before any answer is sent once more on a new one; neither counts
// as a retry.
// Thread-safe counters; Run() in one thread, Stop() from any.

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/mutex.h"
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
  uint32_t window = 8;             // batches in flight at once, each on its own connection
  uint32_t reconnect_idle_s = 25;  // under the collector's idle limit (60 s by default)
  // Told each new shipping problem once (a refusal of the sensor, a quarantined batch, the
  // first failed delivery after deliveries went through).
  std::function<void(const std::string&)> on_problem;
  // Told each change for the better once: the first delivery, delivering again after failures,
  // caught up with what was spooled meanwhile
  // (docs/ingest-protocol.md#what-the-sensor-and-the-collector-log).
  std::function<void(const std::string&)> on_state;
};

struct Counters {
  std::atomic<uint64_t> shipped_batches{0};
  std::atomic<uint64_t> shipped_events{0};  // acknowledged as stored or duplicate
  std::atomic<uint64_t> duplicate_batches{0};
  std::atomic<uint64_t> quarantined_batches{0};  // 400/413 in this run: kept in quarantine
  std::atomic<uint64_t> quarantined_events{0};
  std::atomic<uint64_t> auth_refusals{0};  // requests refused for the sensor's certificate
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> failovers{0};
  std::atomic<uint64_t> reconnects{0};  // idle or stale connections reopened (not retries)
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
  // Why the collector refuses this sensor right now ("" when it does not).
  std::string auth_problem() const;

 private:
  struct Client;
  Shipper(const Options& o, spool::Spool* spool);
  // Posts on connection `slot` to `endpoint`; returns the HTTP status (0 when no answer) and
  // the body. A slot is used by one thread at a time.
  struct Answer {
    int status = 0;  // 0: no HTTP answer
    std::string body;
    // Set when the collector refuses the sensor itself (401/403, or a TLS alert about its
    // certificate): the status and body, or the alert's name.
    std::string refusal;
  };
  Answer Post(size_t endpoint, size_t slot, const std::string& path, const std::string& body,
              const char* type);
  void SetAuthProblem(const std::string& why) ABSL_LOCKS_EXCLUDED(mu_);
  void SleepBackoff(uint32_t attempt) ABSL_LOCKS_EXCLUDED(mu_);
  // The delivery state (Run's thread only): says each change once, with counts.
  enum class Delivery : uint8_t { kNotYet, kDelivering, kFailing, kCatchingUp };
  void NoteDelivered(size_t endpoint);
  void NoteFailed(const std::string& why);
  void NoteIdle();

  Options opt_;
  spool::Spool* spool_;
  std::vector<Endpoint> endpoints_;
  // clients_[endpoint][slot]; slots 0..window-1 ship batches, slot `window` heartbeats.
  std::vector<std::vector<std::unique_ptr<Client>>> clients_;
  Mutex heartbeat_mu_;              // one heartbeat at a time (they share a connection slot)
  std::atomic<size_t> current_{0};  // the endpoint in use; read by heartbeats too
  Counters c_;
  Delivery delivery_ = Delivery::kNotYet;
  std::chrono::steady_clock::time_point failing_since_;
  uint64_t retries_at_failure_ = 0;  // c_.retries when the failures began
  uint64_t shipped_at_failure_ = 0;
  mutable Mutex mu_;
  CondVar cv_;  // stop_ or notified_ set
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::string auth_problem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace isdas::ship
