#pragma once

// The collector's HTTPS ingest endpoint (docs/ingest-protocol.md).
//
//   POST /v1/batch      body: a zstd-compressed wire Batch (docs/batch-format.md)
//   POST /v1/heartbeat  body: a protobuf Heartbeat
//   GET  /v1/health     "ok"
//
// The TLS handshake requires a client certificate issued by the collector's CA (`isdas keys`),
// valid and not revoked: a peer without one never reaches HTTP. The sensor id in the
// certificate must equal the one the body claims. Answers: 200 with
// {"status":"stored"|"duplicate"}; 400 malformed (with the reason); 403 mismatched sensor id;
// 413 body too large (from Content-Length, before reading it); 503 overloaded or out of
// decompression memory, with Retry-After; 500 store failure. Nothing is stored unless the
// answer is 200 "stored", and "stored" is sent only after the batch's transaction is durable.
// The HTTP layer (deadlines, connection caps, no smuggling through unread bodies):
// net/http_server.h.
//
// Batches from all connections go through one writer thread that commits them in groups
// (group commit: one fsync for many batches). Thread-safe; Start once, Stop once.

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/mutex.h"
#include "common/status.h"
#include "model/batch_codec.h"
#include "storage/event_store.h"

namespace isdas::geo {
class ScannerList;
class GeoDb;
}  // namespace isdas::geo

namespace isdas::net {
class HttpServer;
struct Counters;
class Responder;
struct Request;
}  // namespace isdas::net

namespace isdas::ingest {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;           // 0: any free port (see port())
  std::string cert_file;  // the collector's server certificate and key
  std::string key_file;
  std::string ca_file;   // the CA that issues sensor certificates
  std::string crl_file;  // its revocation list; re-read when it changes
  model::BatchLimits limits;
  int threads = 4;  // threads decoding and enriching batches (connections cost no thread)
  size_t max_pending_batches = 4096;  // beyond this: 503 + Retry-After
  size_t max_group = 512;             // batches per commit
  // Decompressed bytes being decoded at once, over all connections; a batch reserves its
  // frame's declared size (max_decompressed_bytes when it declares none). Beyond it: 503.
  size_t decompress_budget_bytes = 256u << 20;
  size_t max_connections = 8192;
  size_t max_connections_per_address = 256;  // sensors behind one NAT address share this
  int idle_timeout_s = 60;                   // keep-alive connections idle this long are closed
  // Told of refusals of a sensor (handshake or request: revoked, untrusted or missing
  // certificate, a batch for another sensor, a malformed batch): the first of each kind from
  // each sensor (or address) at once, repeats at most once a minute with their count.
  std::function<void(const std::string&)> on_refusal;
  int refusal_quiet_s = 60;  // repeats of one refusal are told at most this often
};

struct Counters {
  std::atomic<uint64_t> batches_stored{0};
  std::atomic<uint64_t> batches_duplicate{0};
  std::atomic<uint64_t> events_stored{0};
  std::atomic<uint64_t> heartbeats{0};
  std::atomic<uint64_t> refused_revoked{0};  // on a connection opened before the revocation
  std::atomic<uint64_t> refused_sensor_mismatch{0};
  std::atomic<uint64_t> refused_malformed{0};
  std::atomic<uint64_t> refused_overloaded{0};  // queue full or decompression budget spent
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
                                                      storage::IngestStore* store,
                                                      const geo::GeoDb* geo = nullptr,
                                                      const geo::ScannerList* scanners = nullptr);
  ~IngestServer();
  // Binds and starts serving in background threads.
  Status Start();
  // Stops accepting, finishes queued commits, joins threads.
  void Stop();
  int port() const { return port_; }
  const Counters& counters() const { return counters_; }
  // Connections, handshake refusals (no, untrusted or revoked certificate), timeouts.
  const net::Counters& http_counters() const;

 private:
  struct Pending;

  IngestServer(const Options& o, storage::IngestStore* store, const geo::GeoDb* geo,
               const geo::ScannerList* scanners);
  void WriterLoop() ABSL_LOCKS_EXCLUDED(mu_, store_mu_);
  void FlushStore(bool force) ABSL_LOCKS_EXCLUDED(store_mu_);
  void OnBatch(net::Request&& req, net::Responder respond);
  void OnHeartbeat(net::Request&& req, net::Responder respond);
  bool IsRevoked(const std::string& serial_hex) ABSL_LOCKS_EXCLUDED(crl_mu_);
  bool RefuseRevoked(const net::Request& req, net::Responder& respond);
  // Reserves decompression memory; false when the budget is spent.
  bool Reserve(size_t bytes) ABSL_LOCKS_EXCLUDED(budget_mu_);
  void Release(size_t bytes) ABSL_LOCKS_EXCLUDED(budget_mu_);
  Status LoadCrl() ABSL_EXCLUSIVE_LOCKS_REQUIRED(crl_mu_);
  // Tells opt_.on_refusal of a refusal of `who` (a sensor's name and address) for `why`.
  void NoteRefusal(const std::string& who, const std::string& why) ABSL_LOCKS_EXCLUDED(refusal_mu_);

  Options opt_;
  Mutex store_mu_;  // the store has one writer at a time: batches' and heartbeats'
  storage::IngestStore* store_ ABSL_PT_GUARDED_BY(store_mu_);
  const geo::GeoDb* geo_;
  const geo::ScannerList* scanners_;
  std::unique_ptr<net::HttpServer> http_;
  std::thread writer_;
  int port_ = 0;
  Counters counters_;

  Mutex mu_;
  CondVar cv_;  // a batch queued, or stopping_
  std::deque<std::unique_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  Mutex budget_mu_;
  size_t budget_used_ ABSL_GUARDED_BY(budget_mu_) = 0;

  struct Refusals {
    int64_t told_us = 0;  // when last told
    uint64_t untold = 0;  // refusals since
  };
  Mutex refusal_mu_;
  // By who and why; at most kMaxRefusalKeys (a flood of addresses folds into one key).
  std::map<std::string, Refusals> refusals_ ABSL_GUARDED_BY(refusal_mu_);

  Mutex crl_mu_;
  std::set<std::string> revoked_ ABSL_GUARDED_BY(crl_mu_);  // serial numbers, upper-case hex
  int64_t crl_mtime_ns_ ABSL_GUARDED_BY(crl_mu_) = -1;
  int64_t crl_checked_us_ ABSL_GUARDED_BY(crl_mu_) = 0;
};

}  // namespace isdas::ingest
