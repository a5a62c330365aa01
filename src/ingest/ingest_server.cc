#include "ingest/ingest_server.h"

#include <httplib.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <unordered_map>

#include "common/clock.h"
#include "common/http_bind.h"
#include "geo/geo.h"
#include "geo/scanners.h"
#include "model/heartbeat_codec.h"
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

void Reply(httplib::Response& res, int status, const std::string& error) {
  res.status = status;
  res.set_content("{\"error\":" + JsonString(error) + "}\n", "application/json");
}

}  // namespace

// What the client certificate says, or why it is refused.
struct IngestServer::Peer {
  int status = 200;  // 401 / 403 when refused
  std::string error;
  std::string sensor_id;
  std::string serial;
};

namespace {

IngestServer::Peer CheckPeer(const httplib::Request& req) {
  IngestServer::Peer p;
  if (!req.ssl) {
    p.status = 401;
    p.error = "HTTPS with a client certificate is required";
    return p;
  }
  X509* cert = SSL_get1_peer_certificate(req.ssl);
  if (!cert) {
    p.status = 401;
    p.error = "a client certificate is required";
    return p;
  }
  const long vr = SSL_get_verify_result(req.ssl);
  if (vr != X509_V_OK) {
    p.status = 403;
    p.error = std::string("client certificate not trusted: ") + X509_verify_cert_error_string(vr);
  } else {
    p.sensor_id = pki::SensorIdOf(cert);
    p.serial = pki::SerialHex(X509_get0_serialNumber(cert));
    if (p.sensor_id.empty()) {
      p.status = 403;
      p.error = "client certificate names no sensor";
    }
  }
  X509_free(cert);
  return p;
}

}  // namespace

IngestServer::IngestServer(const Options& o, storage::EventStore* store, const geo::GeoDb* geo,
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
  std::lock_guard<std::mutex> lock(crl_mu_);
  const int64_t now = NowUs();
  if (now - crl_checked_us_ >= 1000000) {
    crl_checked_us_ = now;
    // A CRL that became unreadable keeps the last good list (and revocations in it).
    (void)LoadCrl();
  }
  return revoked_.count(serial_hex) > 0;
}

Result<std::unique_ptr<IngestServer>> IngestServer::Create(const Options& o,
                                                           storage::EventStore* store,
                                                           const geo::GeoDb* geo,
                                                           const geo::ScannerList* scanners) {
  for (const auto* f : {&o.cert_file, &o.key_file, &o.ca_file, &o.crl_file}) {
    struct stat st;
    if (f->empty()) return InvalidArgument("ingest: cert, key, CA and CRL files are required");
    if (stat(f->c_str(), &st) != 0) return ErrnoError("ingest: " + *f, errno);
  }
  std::unique_ptr<IngestServer> s(new IngestServer(o, store, geo, scanners));
  {
    std::lock_guard<std::mutex> lock(s->crl_mu_);
    ISDAS_RETURN_IF_ERROR(s->LoadCrl());
  }
  std::string setup_error;
  const Options opt = o;
  s->http_ = std::make_unique<httplib::SSLServer>([opt, &setup_error](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, opt.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(&ctx, opt.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(&ctx) != 1) {
      setup_error = "server certificate/key " + opt.cert_file + ": " + pki::OpensslErrors();
      return false;
    }
    if (SSL_CTX_load_verify_locations(&ctx, opt.ca_file.c_str(), nullptr) != 1) {
      setup_error = "CA " + opt.ca_file + ": " + pki::OpensslErrors();
      return false;
    }
    SSL_CTX_set_client_CA_list(&ctx, SSL_load_client_CA_file(opt.ca_file.c_str()));
    // Ask for a certificate but let the handshake finish whatever comes, so that a refusal is
    // an HTTP answer with a reason (401/403) rather than a bare TLS alert.
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    return true;
  });
  if (!s->http_->is_valid()) {
    return InvalidArgument("ingest TLS setup failed: " + setup_error);
  }
  return s;
}

bool IngestServer::Admit(const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader, size_t max_body, Peer* peer,
                         std::string* body) {
  *peer = CheckPeer(req);
  if (peer->status != 200) {
    (peer->status == 401 ? counters_.refused_no_certificate : counters_.refused_bad_certificate)++;
    Reply(res, peer->status, peer->error);
    return false;
  }
  if (IsRevoked(peer->serial)) {
    counters_.refused_revoked++;
    Reply(res, 403, "client certificate revoked");
    return false;
  }
  // Read the body ourselves, so a body that grows past the limit — including one that HTTP
  // content-encoding inflates — is cut off as it arrives. Past the limit it is read and
  // discarded (up to 4x), so that a client still sending receives the 413, not a reset.
  bool too_large = false;
  size_t seen = 0;
  reader([&](const char* d, size_t n) {
    seen += n;
    if (too_large || body->size() + n > max_body) {
      too_large = true;
      body->clear();
      return seen <= 4 * max_body;
    }
    body->append(d, n);
    return true;
  });
  if (too_large) {
    counters_.refused_too_large++;
    Reply(res, 413, "body larger than " + std::to_string(max_body) + " bytes");
    return false;
  }
  return true;
}

Status IngestServer::Start() {
  httplib::SSLServer& h = *http_;
  const int threads = opt_.threads;
  h.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  // Body size is enforced by the handlers themselves (413 with a reason, decoded bodies
  // included), not by the library's generic limit.
  h.set_keep_alive_max_count(100000);
  h.set_keep_alive_timeout(30);
  h.set_read_timeout(30, 0);

  h.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });

  h.Post("/v1/batch", [this](const httplib::Request& req, httplib::Response& res,
                             const httplib::ContentReader& reader) {
    Peer peer;
    std::string body;
    if (!Admit(req, res, reader, opt_.limits.max_compressed_bytes, &peer, &body)) return;
    auto decoded = model::DecodeBatch(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()),
        opt_.limits);
    if (!decoded.ok()) {
      counters_.refused_malformed++;
      return Reply(res, 400, decoded.status().message());
    }
    if (decoded->header.sensor_id != peer.sensor_id) {
      counters_.refused_sensor_mismatch++;
      return Reply(res, 403,
                   "certificate is for sensor '" + peer.sensor_id + "', the batch claims '" +
                       decoded->header.sensor_id + "'");
    }
    auto p = std::make_unique<Pending>();
    p->batch.sensor_id = decoded->header.sensor_id;
    p->batch.epoch = decoded->header.epoch;
    p->batch.seq = decoded->header.seq;
    p->batch.rules_version = decoded->header.rules_version;
    p->batch.events = std::move(decoded->events);
    if (geo_ || scanners_) {
      // Enrichment here, in the connection's thread, keeps it off the single writer.
      if (geo_) p->batch.geo_version = geo_->version();
      p->batch.sources.resize(p->batch.events.size());
      std::unordered_map<uint32_t, std::string_view> names;
      for (size_t i = 0; i < p->batch.events.size(); ++i) {
        model::SourceInfo& si = p->batch.sources[i];
        if (geo_) {
          const geo::Origin o = geo_->Lookup(p->batch.events[i].src);
          si.country[0] = o.country[0];
          si.country[1] = o.country[1];
          si.asn = o.asn;
          if (o.asn) names.emplace(o.asn, o.as_name);
        }
        si.research = scanners_ && scanners_->Contains(p->batch.events[i].src, si.asn);
      }
      for (const auto& [asn, name] : names) p->batch.as_names.emplace_back(asn, std::string(name));
    }
    auto fut = p->done.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= opt_.max_pending_batches || stopping_) {
        counters_.refused_overloaded++;
        res.set_header("Retry-After", "1");
        return Reply(res, 503, "collector busy; retry later");
      }
      queue_.push_back(std::move(p));
    }
    cv_.notify_one();
    if (fut.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      // Still queued: the sensor retries; if it does get committed, the retry is a duplicate.
      res.set_header("Retry-After", "5");
      return Reply(res, 503, "commit is taking too long; retry later");
    }
    auto outcome = fut.get();
    if (!outcome.ok()) {
      counters_.store_failures++;
      return Reply(res, 500, "store failed: " + outcome.status().message());
    }
    const bool stored = outcome.value() == storage::BatchOutcome::kStored;
    res.set_content(std::string("{\"status\":\"") + (stored ? "stored" : "duplicate") +
                        "\",\"seq\":" + std::to_string(decoded->header.seq) + "}\n",
                    "application/json");
  });

  h.Post("/v1/heartbeat", [this](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
    Peer peer;
    std::string body;
    if (!Admit(req, res, reader, 64 * 1024, &peer, &body)) return;
    auto hb = model::DecodeHeartbeat(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
    if (!hb.ok()) {
      counters_.refused_malformed++;
      return Reply(res, 400, hb.status().message());
    }
    if (hb->sensor_id != peer.sensor_id) {
      counters_.refused_sensor_mismatch++;
      return Reply(res, 403,
                   "certificate is for sensor '" + peer.sensor_id + "', the heartbeat claims '" +
                       hb->sensor_id + "'");
    }
    Status s;
    {
      // Heartbeats share the store with the writer thread; the store is single-writer.
      std::lock_guard<std::mutex> lock(store_mu_);
      s = store_->RecordHeartbeat(hb->sensor_id, NowUs(), hb->counters);
    }
    if (!s.ok()) {
      counters_.store_failures++;
      return Reply(res, 500, "store failed: " + s.message());
    }
    counters_.heartbeats++;
    res.set_content("{\"status\":\"recorded\"}\n", "application/json");
  });

  port_ = BindWithBacklog(h, opt_.host, opt_.port, 4096);
  if (port_ <= 0) {
    return {ErrorKind::kUnavailable,
            "cannot listen on " + opt_.host + ":" + std::to_string(opt_.port)};
  }
  writer_ = std::thread([this] { WriterLoop(); });
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::Ok();
}

void IngestServer::FlushStore(bool force) {
  std::lock_guard<std::mutex> lock(store_mu_);
  Status s = store_->FlushRollups(force);
  if (!s.ok()) {
    counters_.store_failures++;
    std::fprintf(stderr, "ingest: writing rollups: %s\n", s.ToString().c_str());
  }
}

void IngestServer::WriterLoop() {
  for (;;) {
    std::vector<std::unique_ptr<Pending>> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Idle for a second: let the store write rollups it holds in memory (docs/rollups.md).
      while (!cv_.wait_for(lock, std::chrono::seconds(1),
                           [this] { return !queue_.empty() || stopping_; })) {
        lock.unlock();
        FlushStore(false);
        lock.lock();
      }
      if (queue_.empty()) {
        lock.unlock();
        FlushStore(true);
        return;
      }
      while (!queue_.empty() && group.size() < opt_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<storage::SensorBatch*> batches;
    for (auto& p : group) batches.push_back(&p->batch);
    Result<std::vector<storage::BatchOutcome>> r = Internal("not run");
    {
      std::lock_guard<std::mutex> lock(store_mu_);
      r = store_->CommitBatches(batches, NowUs());
    }
    counters_.commits++;
    for (size_t i = 0; i < group.size(); ++i) {
      if (!r.ok()) {
        group[i]->done.set_value(r.status());
        continue;
      }
      const auto o = r.value()[i];
      if (o == storage::BatchOutcome::kStored) {
        counters_.batches_stored++;
        counters_.events_stored += group[i]->batch.events.size();
      } else {
        counters_.batches_duplicate++;
      }
      group[i]->done.set_value(o);
    }
  }
}

void IngestServer::Stop() {
  if (http_ && http_thread_.joinable()) {
    http_->stop();
    http_thread_.join();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

}  // namespace isdas::ingest
