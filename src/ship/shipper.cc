#include "ship/shipper.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <random>

#include "pki/pki.h"

namespace isdas::ship {

struct Shipper::Client {
  std::unique_ptr<httplib::SSLClient> http;
  std::chrono::steady_clock::time_point last_used;
};

namespace {

// The TLS alerts a collector ends a handshake with when it refuses our certificate
// (RFC 8446 section 6.2; OpenSSL names them "... alert <name>").
// The alert's name when `e` holds one of those, else "".
std::string CertificateAlert(const std::string& e) {
  for (const char* a : {"certificate revoked", "unknown ca", "bad certificate",
                        "certificate expired", "certificate unknown", "certificate required",
                        "handshake failure", "access denied", "unsupported certificate"}) {
    if (e.find(std::string("alert ") + a) != std::string::npos) return a;
  }
  return "";
}

// What went wrong with a request to `where` that got no answer, as a sentence with the likely
// cause (httplib names only the kind: "Connection", "SSLServerVerification").
std::string Explain(httplib::Error e, const std::string& where, const std::string& host,
                    long verify_result, const Options& o) {
  const std::string timeout = std::to_string(o.timeout_s) + " s";
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect to " + where +
             ": refused or unreachable (is the collector running, listening on that address and "
             "port, and is the URL in collector.urls right?)";
    case httplib::Error::ConnectionTimeout:
      return "no connection to " + where + " within " + timeout +
             " (the host is down, or a firewall drops the packets)";
    case httplib::Error::Read:
      return "the connection to " + where + " broke while waiting for the answer (the collector " +
             "closed it, stopped, or took longer than " + timeout + ")";
    case httplib::Error::Write:
      return "the connection to " + where + " broke while sending (the collector closed it)";
    case httplib::Error::SSLConnection:
      return "the TLS handshake with " + where + " failed (is it an isdas collector's TLS port?)";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load collector.ca (" + o.ca_file + ") as PEM certificates";
    case httplib::Error::SSLServerVerification:
      if (verify_result == X509_V_OK) {
        return "the collector's certificate at " + where + " does not name '" + host +
               "', the host in collector.urls: use a name or address the certificate has, or " +
               "issue one that has it (`isdas keys server --dir CA " + host + "`, docs/keys.md)";
      }
      return "the collector's certificate at " + where +
             " is not trusted: " + X509_verify_cert_error_string(verify_result) +
             " (is collector.ca (" + o.ca_file + ") the CA of that collector?)";
    default:
      return where + ": " + httplib::to_string(e);
  }
}

}  // namespace

Result<Endpoint> ParseUrl(const std::string& url) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    return InvalidArgument("collector URL '" + url + "' must start with https://");
  }
  std::string rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find('/') != std::string::npos) {
    return InvalidArgument("collector URL '" + url + "' must be https://host[:port]");
  }
  Endpoint e;
  size_t colon = rest.rfind(':');
  if (rest[0] == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) return InvalidArgument("collector URL '" + url + "': bad IPv6");
    e.host = rest.substr(1, close - 1);
    colon = rest.size() > close + 1 && rest[close + 1] == ':' ? close + 1 : std::string::npos;
  } else {
    e.host = rest.substr(0, colon);
  }
  if (colon != std::string::npos) {
    const std::string p = rest.substr(colon + 1);
    if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) < 1 || std::stoi(p) > 65535) {
      return InvalidArgument("collector URL '" + url + "': bad port");
    }
    e.port = std::stoi(p);
  }
  if (e.host.empty()) return InvalidArgument("collector URL '" + url + "': no host");
  return e;
}

Result<std::unique_ptr<Shipper>> Shipper::Create(const Options& o, spool::Spool* spool) {
  if (o.urls.empty()) return InvalidArgument("no collector URL configured");
  if (o.window < 1 || o.window > 64) return InvalidArgument("shipping window must be 1-64");
  const std::pair<const char*, const std::string*> files[] = {{"collector.ca", &o.ca_file},
                                                              {"collector.cert", &o.cert_file},
                                                              {"collector.key", &o.key_file}};
  for (const auto& [setting, f] : files) {
    struct stat st;
    if (f->empty()) return InvalidArgument(std::string(setting) + " is not set");
    if (stat(f->c_str(), &st) != 0) {
      return InvalidArgument(std::string(setting) + " (" + *f + "): " + std::strerror(errno) +
                             " (a relative path is taken from the config file's folder)");
    }
  }
  std::unique_ptr<Shipper> s(new Shipper(o, spool));
  for (const auto& u : o.urls) {
    auto e = ParseUrl(u);
    if (!e.ok()) return e.status();
    s->endpoints_.push_back(e.value());
    s->clients_.emplace_back();
    for (uint32_t k = 0; k <= s->opt_.window; ++k) {
      s->clients_.back().push_back(std::make_unique<Client>());
    }
  }
  return s;
}

Shipper::Shipper(const Options& o, spool::Spool* spool) : opt_(o), spool_(spool) {}

Shipper::~Shipper() { Stop(); }

Shipper::Answer Shipper::Post(size_t i, size_t slot, const std::string& path,
                              const std::string& body, const char* type) {
  Client& c = *clients_[i][slot];
  const auto now = std::chrono::steady_clock::now();
  if (c.http && now - c.last_used > std::chrono::seconds(opt_.reconnect_idle_s)) {
    // The collector closes idle connections; reopen before it does rather than find out.
    c.http.reset();
    c_.reconnects++;
  }
  for (int attempt = 0;; ++attempt) {
    const bool reused = c.http != nullptr;
    if (!c.http) {
      c.http = std::make_unique<httplib::SSLClient>(endpoints_[i].host, endpoints_[i].port,
                                                    opt_.cert_file, opt_.key_file);
      c.http->set_ca_cert_path(opt_.ca_file.c_str());
      c.http->enable_server_certificate_verification(true);
      c.http->set_keep_alive(true);
      c.http->set_tcp_nodelay(true);  // header and body go out at once, not 40 ms apart
      c.http->set_connection_timeout(static_cast<time_t>(opt_.timeout_s), 0);
      c.http->set_read_timeout(static_cast<time_t>(opt_.timeout_s), 0);
      c.http->set_write_timeout(static_cast<time_t>(opt_.timeout_s), 0);
    }
    ERR_clear_error();
    auto r = c.http->Post(path.c_str(), body, type);
    c.last_used = std::chrono::steady_clock::now();
    if (r) {
      const bool refused = r->status == 401 || r->status == 403;
      Answer a{r->status, r->body,
               refused ? "HTTP " + std::to_string(r->status) + " " + r->body : ""};
      // The collector closes after some answers (Connection: close): start afresh next time.
      if (r->get_header_value("Connection") == "close") c.http.reset();
      return a;
    }
    const std::string tls = pki::OpensslErrors();
    const long verify_result = c.http->get_openssl_verify_result();
    c.http.reset();  // a fresh connection next time
    if (const std::string alert = CertificateAlert(tls); !alert.empty()) {
      return {0, "TLS: " + tls, "the TLS handshake ended with the alert '" + alert + "'"};
    }
    // A reused connection the collector had closed meanwhile: once more on a new one.
    if (reused && attempt == 0 &&
        (r.error() == httplib::Error::Read || r.error() == httplib::Error::Write ||
         r.error() == httplib::Error::Connection)) {
      c_.reconnects++;
      continue;
    }
    const std::string where = endpoints_[i].host + ":" + std::to_string(endpoints_[i].port);
    return {0,
            Explain(r.error(), where, endpoints_[i].host, verify_result, opt_) +
                (tls.empty() ? "" : " (TLS: " + tls + ")"),
            ""};
  }
}

void Shipper::SetAuthProblem(const std::string& why) {
  std::function<void(const std::string&)> tell;
  {
    MutexLock lock(&mu_);
    if (why == auth_problem_) return;
    auth_problem_ = why;
    tell = opt_.on_problem;
  }
  if (tell) {
    tell(why.empty() ? "the collector accepts this sensor again"
                     : "the collector refuses this sensor (batches stay spooled): " + why);
  }
}

void Shipper::SleepBackoff(uint32_t attempt) {
  // Exponential backoff with "full jitter": a random wait up to the doubled ceiling, so that
  // a thousand sensors coming back together do not retry in lockstep.
  static thread_local std::mt19937 rng{std::random_device{}()};
  uint64_t ceiling = opt_.initial_backoff_ms;
  for (uint32_t i = 0; i < attempt && ceiling < opt_.max_backoff_ms; ++i) ceiling *= 2;
  if (ceiling > opt_.max_backoff_ms) ceiling = opt_.max_backoff_ms;
  const uint64_t wait = ceiling / 2 + rng() % (ceiling / 2 + 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
  MutexLock lock(&mu_);
  while (!stop_ && !cv_.WaitUntil(&mu_, deadline)) {
  }
}

void Shipper::Run() {
  uint32_t attempt = 0;
  for (;;) {
    {
      MutexLock lock(&mu_);
      if (stop_) return;
    }
    // Always from the first undelivered record: the spool may also have dropped records
    // behind our back (full), which are never waited for.
    auto recs = spool_->Read(spool_->acked() + 1, opt_.window, 64u << 20);
    if (!recs.ok() || recs->empty()) {
      if (recs.ok()) NoteIdle();
      // Woken by Notify; the timeout also catches a spool that changed without one.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      MutexLock lock(&mu_);
      while (!stop_ && !notified_ && !cv_.WaitUntil(&mu_, deadline)) {
      }
      notified_ = false;
      continue;
    }
    // Send the window in parallel, one connection each; the collector commits them together.
    const size_t endpoint = current_;
    std::vector<std::future<Answer>> answers;
    for (size_t k = 0; k < recs->size(); ++k) {
      const spool::Record* rec = &(*recs)[k];
      answers.push_back(std::async(std::launch::async, [this, endpoint, k, rec] {
        return Post(endpoint, k, "/v1/batch", std::string(rec->payload.begin(), rec->payload.end()),
                    "application/x-isdas-batch");
      }));
    }
    bool failed = false;
    std::string
        auth_reason;  // why the collector refuses the sensor, from the first answer saying so
    for (size_t k = 0; k < recs->size(); ++k) {
      const Answer ans = answers[k].get();
      const spool::Record& rec = (*recs)[k];
      if (!ans.refusal.empty() && auth_reason.empty()) {
        auth_reason = endpoints_[endpoint].host + ":" + std::to_string(endpoints_[endpoint].port) +
                      ": " + ans.refusal;
      }
      if (failed) continue;  // resent next round (a copy that did arrive is a duplicate)
      if (ans.status == 200) {
        if (!spool_->Ack(rec.seq).ok()) {
          failed = true;
          continue;
        }
        c_.shipped_batches++;
        c_.shipped_events += rec.events;
        if (ans.body.find("\"duplicate\"") != std::string::npos) c_.duplicate_batches++;
      } else if (ans.status == 400 || ans.status == 413) {
        // The collector will never take this batch as it is: keep it aside with the reason.
        const std::string why = "HTTP " + std::to_string(ans.status) + " " + ans.body;
        if (!spool_->Quarantine(rec, why).ok()) {
          failed = true;
          continue;
        }
        c_.quarantined_batches++;
        c_.quarantined_events += rec.events;
        if (opt_.on_problem) {
          opt_.on_problem("batch " + std::to_string(rec.seq) + " (" + std::to_string(rec.events) +
                          " events) refused as malformed, kept in the spool's quarantine: " + why);
        }
      } else {
        failed = true;
        MutexLock lock(&mu_);
        last_error_ = ans.status ? endpoints_[endpoint].host + ":" +
                                       std::to_string(endpoints_[endpoint].port) + ": HTTP " +
                                       std::to_string(ans.status) + " " + ans.body
                                 : ans.body;
      }
    }
    if (!auth_reason.empty()) {
      c_.auth_refusals++;
      SetAuthProblem(auth_reason);
    } else if (!failed) {
      SetAuthProblem("");
    }
    if (!failed) {
      NoteDelivered(endpoint);
    } else if (auth_reason.empty()) {
      NoteFailed(last_error());
    }
    if (!failed) {
      attempt = 0;
      continue;
    }
    c_.retries++;
    if (endpoints_.size() > 1) {
      current_ = (current_ + 1) % endpoints_.size();
      c_.failovers++;
    }
    SleepBackoff(attempt++);
  }
}

void Shipper::NoteDelivered(size_t endpoint) {
  const std::string where =
      endpoints_[endpoint].host + ":" + std::to_string(endpoints_[endpoint].port);
  const uint64_t waiting = spool_->counters().unacked_events;
  if (delivery_ == Delivery::kNotYet) {
    delivery_ = Delivery::kDelivering;
    if (opt_.on_state) opt_.on_state("delivering to " + where);
  } else if (delivery_ == Delivery::kFailing) {
    delivery_ = Delivery::kCatchingUp;
    const auto down = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now() - failing_since_)
                          .count();
    if (opt_.on_state) {
      opt_.on_state("delivering again to " + where + " after " + std::to_string(down) + " s and " +
                    std::to_string(c_.retries.load() - retries_at_failure_) + " retries; " +
                    std::to_string(waiting) + " spooled events to catch up");
    }
  }
}

void Shipper::NoteFailed(const std::string& why) {
  if (delivery_ == Delivery::kFailing) return;
  delivery_ = Delivery::kFailing;
  failing_since_ = std::chrono::steady_clock::now();
  retries_at_failure_ = c_.retries.load();
  shipped_at_failure_ = c_.shipped_events.load();
  if (opt_.on_problem) {
    const uint32_t ms = opt_.max_backoff_ms;
    opt_.on_problem(why + "; retrying with backoff (up to " +
                    (ms >= 1000 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms") +
                    " apart), batches stay spooled (" +
                    std::to_string(spool_->counters().unacked_events) + " events waiting)");
  }
}

void Shipper::NoteIdle() {
  if (delivery_ != Delivery::kCatchingUp) return;
  delivery_ = Delivery::kDelivering;
  if (opt_.on_state) {
    opt_.on_state("caught up: every spooled batch is delivered (" +
                  std::to_string(c_.shipped_events.load() - shipped_at_failure_) +
                  " events since delivery resumed)");
  }
}

Status Shipper::SendHeartbeat(const std::vector<uint8_t>& body) {
  MutexLock lock(&heartbeat_mu_);
  std::string last;
  for (size_t k = 0; k < endpoints_.size(); ++k) {
    const size_t i = (current_ + k) % endpoints_.size();
    const Answer a = Post(i, opt_.window, "/v1/heartbeat", std::string(body.begin(), body.end()),
                          "application/x-protobuf");
    if (a.status == 200) return Status::Ok();
    last = a.status ? "HTTP " + std::to_string(a.status) + " " + a.body : a.body;
  }
  return {ErrorKind::kUnavailable, "heartbeat not delivered: " + last};
}

void Shipper::Notify() {
  {
    MutexLock lock(&mu_);
    notified_ = true;
    cv_.SignalAll();
  }
}

void Shipper::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
}

bool Shipper::Drained() const { return spool_->acked() + 1 >= spool_->next_seq(); }

std::string Shipper::auth_problem() const {
  MutexLock lock(&mu_);
  return auth_problem_;
}

std::string Shipper::last_error() const {
  MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace isdas::ship
