#pragma once

// The collector's HTTPS ingest endpoint (docs/ingest-protocol.md).
//
//   POST /v1/batch      body: a zstd-compressed wire Batch (docs/batch-format.md)
//   POST /v1/heartbeat  body: a protobuf Heartbeat
//   GET  /v1/health     "ok"
//
// Every POST must come with a client certificate issued by the collector's CA (`isdas keys`),
// not revoked, whose sensor id equals the one the body claims. Answers: 200 with
// {"status":"stored"|"duplicate"}; 400 malformed (with the reason); 401 no certificate;
// 403 untrusted, revoked or mismatched certificate; 413 body too large; 503 overloaded, with
// Retry-After; 500 store failure. Nothing is stored unless the answer is 200 "stored", and
// "stored" is sent only after the batch's transaction is durable.
//
// Batches from all connections go through one writer thread that commits them in groups
// (group commit: one fsync for many batches). Thread-safe; Start once, Stop once.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/status.h"
#include "model/batch_codec.h"
#include "storage/event_store.h"

namespace isdas::geo {
class ScannerList;
class GeoDb;
}  // namespace isdas::geo

namespace httplib {
class SSLServer;
class ContentReader;
struct Request;
struct Response;
}  // namespace httplib

namespace isdas::ingest {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;           // 0: any free port (see port())
  std::string cert_file;  // the collector's server certificate and key
  std::string key_file;
  std::string ca_file;   // the CA that issues sensor certificates
  std::string crl_file;  // its revocation list; re-read when it changes
  model::BatchLimits limits;
  int threads = 1024;  // connection threads: a keep-alive connection holds one while open
  size_t max_pending_batches = 4096;  // beyond this: 503 + Retry-After
  size_t max_group = 512;             // batches per commit
};

struct Counters {
  std::atomic<uint64_t> batches_stored{0};
  std::atomic<uint64_t> batches_duplicate{0};
  std::atomic<uint64_t> events_stored{0};
  std::atomic<uint64_t> heartbeats{0};
  std::atomic<uint64_t> refused_no_certificate{0};
  std::atomic<uint64_t> refused_bad_certificate{0};
  std::atomic<uint64_t> refused_revoked{0};
  std::atomic<uint64_t> refused_sensor_mismatch{0};
  std::atomic<uint64_t> refused_malformed{0};
  std::atomic<uint64_t> refused_too_large{0};
  std::atomic<uint64_t> refused_overloaded{0};
  std::atomic<uint64_t> store_failures{0};
  std::atomic<uint64_t> commits{0};
};

class IngestServer {
 public:
  // Loads certificates and the CRL. Errors: kInvalidArgument / kIo naming the file.
  // With `geo`, every event's source is enriched (country, AS) before it is stored, and the
  // data version is recorded with the batch; with `scanners`, sources on the research-scanner
  // list are flagged. `store`, `geo` and `scanners` must outlive the server.
  static Result<std::unique_ptr<IngestServer>> Create(const Options& options,
                                                      storage::EventStore* store,
                                                      const geo::GeoDb* geo = nullptr,
                                                      const geo::ScannerList* scanners = nullptr);
  ~IngestServer();
  // Binds and starts serving in background threads.
  Status Start();
  // Stops accepting, finishes queued commits, joins threads.
  void Stop();
  int port() const { return port_; }
  const Counters& counters() const { return counters_; }

  struct Peer;

 private:
  struct Pending {
    storage::SensorBatch batch;
    std::promise<Result<storage::BatchOutcome>> done;
  };

  IngestServer(const Options& o, storage::EventStore* store, const geo::GeoDb* geo,
               const geo::ScannerList* scanners);
  void WriterLoop();
  void FlushStore(bool force);
  // Checks the client certificate and reads the body (at most max_body bytes). On refusal it
  // has answered (401/403/413) and counted, and returns false.
  bool Admit(const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader, size_t max_body, Peer* peer, std::string* body);
  bool IsRevoked(const std::string& serial_hex);
  Status LoadCrl();

  Options opt_;
  storage::EventStore* store_;
  const geo::GeoDb* geo_;
  const geo::ScannerList* scanners_;
  std::unique_ptr<httplib::SSLServer> http_;
  std::thread http_thread_;
  std::thread writer_;
  int port_ = 0;
  Counters counters_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;

  std::mutex store_mu_;  // the store has one writer at a time

  std::mutex crl_mu_;
  std::set<std::string> revoked_;  // serial numbers, upper-case hex
  int64_t crl_mtime_ns_ = -1;
  int64_t crl_checked_us_ = 0;
};

}  // namespace isdas::ingest
