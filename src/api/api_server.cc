// ApiServer: Api over HTTP or HTTPS (net::HttpServer), GET only.

#include <cstdio>
#include <exception>

#include "api/api.h"
#include "net/http_server.h"

namespace isdas::api {

namespace {

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o.push_back('\\');
      o.push_back(static_cast<char>(c));
    } else if (c >= 0x20) {
      o.push_back(static_cast<char>(c));
    }
  }
  return o;
}

}  // namespace

struct ApiServer::Impl {
  std::unique_ptr<Api> api;
  std::unique_ptr<net::HttpServer> http;
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
  net::Options no;
  no.name = "api";
  no.host = o.host;
  no.port = o.port;
  no.tls = !o.cert_file.empty();
  no.tls_options.cert_file = o.cert_file;
  no.tls_options.key_file = o.key_file;
  no.workers = o.threads;
  no.backlog = 1024;
  no.error_reply = [](int status, const std::string& message) {
    net::Reply r;
    r.status = status;
    r.body = "{\"error\":{\"message\":\"" + JsonEscape(message) +
             " (the API is GET /api/v1/…, see docs/api.md)\"}}";
    return r;
  };
  Api* api = im.api.get();
  std::vector<net::Route> routes;
  routes.push_back({"GET", "/api/v1/", 0, [api](net::Request&& req, net::Responder respond) {
                      Params p(req.query.begin(), req.query.end());
                      Response r;
                      try {
                        r = api->Get(req.path, p);
                      } catch (const std::exception& e) {
                        // A bug, not the caller's fault: logged, and answered without the
                        // exception's text (it would tell an attacker about the internals).
                        std::fprintf(stderr, "isdas api: %s: %s\n", req.path.c_str(), e.what());
                        r = Response{};
                        r.status = 500;
                        r.body = "{\"error\":{\"message\":\"internal error\"}}";
                      }
                      net::Reply reply;
                      reply.status = r.status;
                      reply.content_type = r.content_type;
                      reply.body = std::move(r.body);
                      reply.headers.emplace_back("Cache-Control", "no-store");
                      respond(std::move(reply));
                    }});
  auto h = net::HttpServer::Start(std::move(no), std::move(routes));
  if (!h.ok()) return h.status();
  im.http = std::move(h.value());
  s->port_ = im.http->port();
  return s;
}

void ApiServer::Stop() {
  if (impl_ && impl_->http) impl_->http->Stop();
}

ApiServer::~ApiServer() { Stop(); }

}  // namespace isdas::api
