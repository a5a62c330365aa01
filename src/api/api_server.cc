// ApiServer: Api over HTTP or HTTPS (cpp-httplib), GET only.

#include <httplib.h>

#include <thread>

#include "api/api.h"
#include "common/http_bind.h"

namespace isdas::api {

struct ApiServer::Impl {
  std::unique_ptr<Api> api;
  std::unique_ptr<httplib::Server> http;
  std::thread thread;
};

Result<std::unique_ptr<ApiServer>> ApiServer::Start(const Options& o, StoreFactory factory,
                                                    std::function<int64_t()> now_us) {
  std::unique_ptr<ApiServer> s(new ApiServer());
  s->impl_ = std::make_unique<Impl>();
  Impl& im = *s->impl_;
  im.api = std::make_unique<Api>(o, std::move(factory), std::move(now_us));
  if (o.cert_file.empty() != o.key_file.empty()) {
    return InvalidArgument("api: set both cert and key for HTTPS, or neither");
  }
  if (!o.cert_file.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(o.cert_file.c_str(), o.key_file.c_str());
    if (!tls->is_valid()) {
      return InvalidArgument("api: cannot load certificate " + o.cert_file + " / key " +
                             o.key_file);
    }
    im.http = std::move(tls);
  } else {
    im.http = std::make_unique<httplib::Server>();
  }
  httplib::Server& h = *im.http;
  // Without it, keep-alive clients wait out Nagle + delayed ACK (~40 ms) on every answer.
  h.set_tcp_nodelay(true);
  const int threads = o.threads;
  h.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  Api* api = im.api.get();
  h.Get(R"(/api/v1/.*)", [api](const httplib::Request& req, httplib::Response& res) {
    Params p(req.params.begin(), req.params.end());
    Response r = api->Get(req.path, p);
    res.status = r.status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(std::move(r.body), r.content_type);
  });
  h.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content("{\"error\":{\"message\":\"" + std::to_string(res.status) +
                          " (the API is GET /api/v1/…, see docs/api.md)\"}}",
                      "application/json");
    }
  });
  s->port_ = BindWithBacklog(h, o.host, o.port, 1024);
  if (s->port_ <= 0) {
    return Status(ErrorKind::kUnavailable,
                  "api: cannot listen on " + o.host + ":" + std::to_string(o.port));
  }
  im.thread = std::thread([&h] { h.listen_after_bind(); });
  return s;
}

void ApiServer::Stop() {
  if (!impl_ || !impl_->http) return;
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

ApiServer::~ApiServer() { Stop(); }

}  // namespace isdas::api
