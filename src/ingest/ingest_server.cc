#include "ingest/ingest_server.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/clock.h"
#include "ingest/enrich.h"
#include "model/heartbeat_codec.h"
#include "net/http_server.h"
#include "pki/pki.h"

namespace isdas::ingest {
namespace {

std::string JsonString(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o.push_back('\\');
      o.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o.push_back(static_cast<char>(c));
    }
  }
  return o + "\"";
}

net::Reply Error(int status, const std::string& error) {
  net::Reply r;
  r.status = status;
  r.body = "{\"error\":" + JsonString(error) + "}\n";
  return r;
}

net::Reply Busy(const std::string& why, int retry_after_s) {
  net::Reply r = Error(503, why);
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

struct IngestServer::Pending {
  storage::SensorBatch batch;
  net::Responder respond;
};

IngestServer::IngestServer(const Options& o, storage::IngestStore* store, const geo::GeoDb* geo,
                           const geo::ScannerList* scanners)
    : opt_(o), store_(store), geo_(geo), scanners_(scanners) {}

IngestServer::~IngestServer() { Stop(); }

Status IngestServer::LoadCrl() {
  struct stat st;
  if (stat(opt_.crl_file.c_str(), &st) != 0) return ErrnoError("stat " + opt_.crl_file, errno);
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == crl_mtime_ns_) return Status::Ok();
  FILE* f = std::fopen(opt_.crl_file.c_str(), "r");
  if (!f) return ErrnoError("open " + opt_.crl_file, errno);
  X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!crl) return InvalidArgument(opt_.crl_file + ": not a PEM CRL: " + pki::OpensslErrors());
  // The CRL must be signed by our CA, or anyone able to write the file could un-revoke.
  f = std::fopen(opt_.ca_file.c_str(), "r");
  X509* ca = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  const bool signed_ok = ca && X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
  X509_free(ca);
  if (!signed_ok) {
    X509_CRL_free(crl);
    return InvalidArgument(opt_.crl_file + ": not signed by the CA in " + opt_.ca_file);
  }
  std::set<std::string> revoked;
  STACK_OF(X509_REVOKED)* rs = X509_CRL_get_REVOKED(crl);
  for (int i = 0; rs && i < sk_X509_REVOKED_num(rs); ++i) {
    revoked.insert(pki::SerialHex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rs, i))));
  }
  X509_CRL_free(crl);
  revoked_ = std::move(revoked);
  crl_mtime_ns_ = mtime;
  return Status::Ok();
}

bool IngestServer::IsRevoked(const std::string& serial_hex) {
  MutexLock lock(&crl_mu_);
  const int64_t now = NowUs();
  if (now - crl_checked_us_ >= 1000000) {
    crl_checked_us_ = now;
    // A CRL that became unreadable keeps the last good list (and revocations in it).
    (void)LoadCrl();
  }
  return revoked_.count(serial_hex) > 0;
}

Result<std::unique_ptr<IngestServer>> IngestServer::Create(const Options& o,
                                                           storage::IngestStore* store,
                                                           const geo::GeoDb* geo,
                                                           const geo::ScannerList* scanners) {
  for (const auto* f : {&o.cert_file, &o.key_file, &o.ca_file, &o.crl_file}) {
    struct stat st;
    if (f->empty()) return InvalidArgument("ingest: cert, key, CA and CRL files are required");
    if (stat(f->c_str(), &st) != 0) return ErrnoError("ingest: " + *f, errno);
  }
  std::unique_ptr<IngestServer> s(new IngestServer(o, store, geo, scanners));
  {
    MutexLock lock(&s->crl_mu_);
    ISDAS_RETURN_IF_ERROR(s->LoadCrl());
  }
  return s;
}

const net::Counters& IngestServer::http_counters() const { return http_->counters(); }

bool IngestServer::Reserve(size_t bytes) {
  MutexLock lock(&budget_mu_);
  if (budget_used_ + bytes > opt_.decompress_budget_bytes) return false;
  budget_used_ += bytes;
  return true;
}

void IngestServer::Release(size_t bytes) {
  MutexLock lock(&budget_mu_);
  budget_used_ -= bytes;
}

void IngestServer::NoteRefusal(const std::string& who, const std::string& why) {
  if (!opt_.on_refusal) return;
  constexpr size_t kMaxRefusalKeys = 1024;
  const int64_t kQuietUs = opt_.refusal_quiet_s * 1000000LL;
  const int64_t now = NowUs();
  std::string tell;
  {
    MutexLock lock(&refusal_mu_);
    std::string key = who + "\n" + why;
    if (!refusals_.count(key) && refusals_.size() >= kMaxRefusalKeys) {
      // Forget those quiet for ten minutes; past that, fold the rest into one line.
      std::erase_if(refusals_,
                    [&](const auto& r) { return now - r.second.told_us > 10 * kQuietUs; });
      if (refusals_.size() >= kMaxRefusalKeys) key = "(more peers)\n(reasons as above)";
    }
    Refusals& r = refusals_[key];
    if (r.told_us && now - r.told_us < kQuietUs) {
      ++r.untold;
      return;
    }
    const size_t nl = key.find('\n');
    tell = "refused " + key.substr(0, nl) + ": " + key.substr(nl + 1);
    if (r.untold) {
      tell += " (and " + std::to_string(r.untold) + " more times in the " +
              std::to_string((now - r.told_us) / 1000000) + " s before)";
    }
    r.told_us = now;
    r.untold = 0;
  }
  opt_.on_refusal(tell);
}

// A connection opened before its certificate was revoked is still open: check every request.
bool IngestServer::RefuseRevoked(const net::Request& req, net::Responder& respond) {
  if (!IsRevoked(req.client.serial)) return false;
  NoteRefusal("sensor '" + req.client.id + "' (" + req.peer_address + ")",
              "its certificate is revoked");
  counters_.refused_revoked++;
  respond(Error(403, "client certificate revoked"));
  return true;
}

void IngestServer::OnBatch(net::Request&& req, net::Responder respond) {
  if (RefuseRevoked(req, respond)) return;
  // The decompressed size a batch may reach: what its frame declares (a frame that grows past
  // it is refused as malformed), or the limit when it declares nothing.
  model::BatchLimits limits = opt_.limits;
  const unsigned long long declared = ZSTD_getFrameContentSize(req.body.data(), req.body.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR &&
      declared < limits.max_decompressed_bytes) {
    limits.max_decompressed_bytes = static_cast<size_t>(declared);
  }
  const size_t reserved = limits.max_decompressed_bytes;
  if (!Reserve(reserved)) {
    counters_.refused_overloaded++;
    return respond(Busy("collector busy decompressing other batches; retry later", 1));
  }
  auto decoded = model::DecodeBatch(Bytes(req.body), limits);
  Release(reserved);
  if (!decoded.ok()) {
    counters_.refused_malformed++;
    NoteRefusal("a batch of sensor '" + req.client.id + "' (" + req.peer_address + ")",
                "malformed: " + decoded.status().message());
    return respond(Error(400, decoded.status().message()));
  }
  if (decoded->header.sensor_id != req.client.id) {
    counters_.refused_sensor_mismatch++;
    NoteRefusal("sensor '" + req.client.id + "' (" + req.peer_address + ")",
                "its batch claims to be from sensor '" + decoded->header.sensor_id + "'");
    return respond(Error(403, "certificate is for sensor '" + req.client.id +
                                  "', the batch claims '" + decoded->header.sensor_id + "'"));
  }
  auto p = std::make_unique<Pending>(Pending{{}, std::move(respond)});
  p->batch.sensor_id = decoded->header.sensor_id;
  p->batch.epoch = decoded->header.epoch;
  p->batch.seq = decoded->header.seq;
  p->batch.rules_version = decoded->header.rules_version;
  p->batch.events = std::move(decoded->events);
  // Enrichment here, on a worker thread, keeps it off the single writer.
  Enrich(geo_, scanners_, &p->batch);
  {
    MutexLock lock(&mu_);
    if (queue_.size() < opt_.max_pending_batches && !stopping_) {
      queue_.push_back(std::move(p));
      p = nullptr;
      cv_.Signal();
    }
  }
  if (p) {
    counters_.refused_overloaded++;
    return p->respond(Busy("collector busy; retry later", 1));
  }
  // The writer answers once the batch's commit is durable.
}

void IngestServer::OnHeartbeat(net::Request&& req, net::Responder respond) {
  if (RefuseRevoked(req, respond)) return;
  auto hb = model::DecodeHeartbeat(Bytes(req.body));
  if (!hb.ok()) {
    counters_.refused_malformed++;
    NoteRefusal("a heartbeat of sensor '" + req.client.id + "' (" + req.peer_address + ")",
                "malformed: " + hb.status().message());
    return respond(Error(400, hb.status().message()));
  }
  if (hb->sensor_id != req.client.id) {
    counters_.refused_sensor_mismatch++;
    NoteRefusal("sensor '" + req.client.id + "' (" + req.peer_address + ")",
                "its heartbeat claims to be from sensor '" + hb->sensor_id + "'");
    return respond(Error(403, "certificate is for sensor '" + req.client.id +
                                  "', the heartbeat claims '" + hb->sensor_id + "'"));
  }
  Status s;
  {
    // Heartbeats share the store with the writer thread; the store is single-writer.
    MutexLock lock(&store_mu_);
    s = store_->RecordHeartbeat(hb->sensor_id, NowUs(), hb->counters);
  }
  if (!s.ok()) {
    counters_.store_failures++;
    return respond(Error(500, "store failed: " + s.message()));
  }
  counters_.heartbeats++;
  net::Reply r;
  r.body = "{\"status\":\"recorded\"}\n";
  respond(std::move(r));
}

Status IngestServer::Start() {
  net::Options o;
  o.name = "ingest";
  o.host = opt_.host;
  o.port = opt_.port;
  o.tls = true;
  o.tls_options.cert_file = opt_.cert_file;
  o.tls_options.key_file = opt_.key_file;
  o.tls_options.client_ca_file = opt_.ca_file;
  o.tls_options.check_client = [this](X509* cert, net::ClientIdentity* who) {
    who->id = pki::SensorIdOf(cert);
    who->serial = pki::SerialHex(X509_get0_serialNumber(cert));
    if (who->id.empty()) return static_cast<int>(X509_V_ERR_APPLICATION_VERIFICATION);
    if (IsRevoked(who->serial)) return static_cast<int>(X509_V_ERR_CERT_REVOKED);
    return static_cast<int>(X509_V_OK);
  };
  o.tls_options.on_refused = [this](const std::string& address, const std::string& why) {
    NoteRefusal("a connection from " + address, why);
  };
  o.workers = opt_.threads;
  // TLS handshakes (a thousand sensors reconnecting at once) are the I/O threads' main work.
  o.io_threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  o.limits.max_connections = opt_.max_connections;
  o.limits.max_connections_per_address = opt_.max_connections_per_address;
  o.limits.idle = std::chrono::seconds(opt_.idle_timeout_s);
  o.error_reply = [](int status, const std::string& message) { return Error(status, message); };
  std::vector<net::Route> routes;
  routes.push_back({"GET", "/v1/health", 0, [](net::Request&&, net::Responder respond) {
                      net::Reply r;
                      r.content_type = "text/plain";
                      r.body = "ok\n";
                      respond(std::move(r));
                    }});
  routes.push_back({"POST", "/v1/batch", opt_.limits.max_compressed_bytes,
                    [this](net::Request&& req, net::Responder respond) {
                      OnBatch(std::move(req), std::move(respond));
                    }});
  routes.push_back(
      {"POST", "/v1/heartbeat", 64 * 1024, [this](net::Request&& req, net::Responder respond) {
         OnHeartbeat(std::move(req), std::move(respond));
       }});
  writer_ = std::thread([this] { WriterLoop(); });
  auto h = net::HttpServer::Start(std::move(o), std::move(routes));
  if (!h.ok()) {
    Stop();
    return h.status();
  }
  http_ = std::move(h.value());
  port_ = http_->port();
  return Status::Ok();
}

void IngestServer::FlushStore(bool force) {
  MutexLock lock(&store_mu_);
  Status s = store_->FlushRollups(force);
  if (!s.ok()) {
    counters_.store_failures++;
    std::fprintf(stderr, "ingest: writing rollups: %s\n", s.ToString().c_str());
  }
}

void IngestServer::WriterLoop() {
  for (;;) {
    std::vector<std::unique_ptr<Pending>> group;
    bool stop = false;
    {
      MutexLock lock(&mu_);
      // Idle for a second: let the store write rollups it holds in memory (docs/rollups.md).
      while (queue_.empty() && !stopping_) {
        if (cv_.WaitFor(&mu_, std::chrono::seconds(1)) && queue_.empty() && !stopping_) {
          mu_.Unlock();
          FlushStore(false);
          mu_.Lock();
        }
      }
      stop = queue_.empty();
      while (!queue_.empty() && group.size() < opt_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (stop) {
      FlushStore(true);
      return;
    }
    std::vector<storage::SensorBatch*> batches;
    for (auto& p : group) batches.push_back(&p->batch);
    Result<std::vector<storage::BatchOutcome>> r = Internal("not run");
    {
      MutexLock lock(&store_mu_);
      r = store_->CommitBatches(batches, NowUs());
    }
    counters_.commits++;
    for (size_t i = 0; i < group.size(); ++i) {
      if (!r.ok()) {
        counters_.store_failures++;
        group[i]->respond(Error(500, "store failed: " + r.status().message()));
        continue;
      }
      const bool stored = r.value()[i] == storage::BatchOutcome::kStored;
      if (stored) {
        counters_.batches_stored++;
        counters_.events_stored += group[i]->batch.events.size();
      } else {
        counters_.batches_duplicate++;
      }
      net::Reply reply;
      reply.body = std::string("{\"status\":\"") + (stored ? "stored" : "duplicate") +
                   "\",\"seq\":" + std::to_string(group[i]->batch.seq) + "}\n";
      group[i]->respond(std::move(reply));
    }
  }
}

void IngestServer::Stop() {
  // Connections first (answers given after this are dropped), then the queued commits.
  if (http_) http_->Stop();
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (writer_.joinable()) writer_.join();
}

}  // namespace isdas::ingest
