#include "net/http_server.h"

#include <absl/base/thread_annotations.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <limits>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/mutex.h"

namespace isdas::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

std::string OpensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = Hex(in[i + 1]), lo = Hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

bool IsBeastHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

}  // namespace

bool ParseTarget(std::string_view target, std::string* path,
                 std::multimap<std::string, std::string>* query) {
  const size_t q = target.find('?');
  if (!Decode(target.substr(0, q), false, path)) return false;
  query->clear();
  if (q == std::string_view::npos) return true;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string k, v;
    if (!Decode(pair.substr(0, eq), true, &k)) return false;
    if (eq != std::string_view::npos && !Decode(pair.substr(eq + 1), true, &v)) return false;
    query->emplace(std::move(k), std::move(v));
  }
  return true;
}

struct Responder::State {
  std::function<void(Reply)> deliver;
  std::atomic<bool> done{false};
};

Responder::~Responder() {
  if (state_ && !state_->done.exchange(true)) {
    Reply r;
    r.status = 500;
    r.content_type = "text/plain";
    r.body = "the handler gave no answer\n";
    state_->deliver(std::move(r));
  }
}

void Responder::operator()(Reply reply) {
  if (state_ && !state_->done.exchange(true)) state_->deliver(std::move(reply));
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void CloseSoon() = 0;
};

struct HttpServer::Impl {
  Options opt;
  std::vector<Route> routes;
  Counters c;
  Mutex mu;
  std::unordered_map<std::string, size_t> per_address ABSL_GUARDED_BY(mu);
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions ABSL_GUARDED_BY(mu);
  // Declared before the io_context: sessions (destroyed with it) use everything above.
  std::optional<ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::vector<std::thread> io_threads;
  std::optional<asio::thread_pool> workers;
  int port = 0;
  std::atomic<bool> stopped{false};

  void DoAccept();
  void OnAccept(tcp::socket socket);
  void Forget(SessionBase* s, const std::string& address) {
    MutexLock lock(&mu);
    sessions.erase(s);
    auto it = per_address.find(address);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
    c.connections_open--;
  }
  Reply ErrorReply(int status, const std::string& message) const {
    if (opt.error_reply) return opt.error_reply(status, message);
    Reply r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = message + "\n";
    return r;
  }
};

namespace {

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServer::Impl* srv, Stream stream, std::string address)
      : srv_(srv), stream_(std::move(stream)), address_(std::move(address)) {}
  ~Session() override { srv_->Forget(this, address_); }

  void Begin() {
    if constexpr (kTls) {
      Lowest().expires_after(srv_->opt.limits.handshake);
      stream_.async_handshake(
          ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) { self->OnHandshake(ec); });
    } else {
      ReadRequest();
    }
  }

  void CloseSoon() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void OnHandshake(beast::error_code ec) {
    if constexpr (kTls) {
      if (ec) {
        Counters& c = srv_->c;
        const long vr = SSL_get_verify_result(stream_.native_handle());
        const auto& refused = srv_->opt.tls_options.on_refused;
        if (ec == beast::error::timeout) {
          c.timeout_handshake++;
        } else if (vr == X509_V_ERR_CERT_REVOKED) {
          c.tls_revoked_certificate++;
          if (refused) refused(address_, "its certificate is revoked");
        } else if (vr != X509_V_OK) {
          c.tls_untrusted_certificate++;
          if (refused) {
            refused(address_, std::string("its certificate is not accepted: ") +
                                  X509_verify_cert_error_string(vr));
          }
        } else if (ec.category() == asio::error::get_ssl_category() &&
                   ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                       SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
          c.tls_no_certificate++;
          if (refused) refused(address_, "it sent no client certificate");
        } else {
          c.tls_failed++;
        }
        return Close();
      }
      if (!srv_->opt.tls_options.client_ca_file.empty()) {
        X509* cert = SSL_get1_peer_certificate(stream_.native_handle());
        if (cert && srv_->opt.tls_options.check_client) {
          (void)srv_->opt.tls_options.check_client(cert, &client_);
        }
        X509_free(cert);
      }
    }
    ReadRequest();
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_->opt.limits.max_header_bytes));
    // No body limit while the header is read (the parser would check Content-Length against
    // it before the route is known); the route's limit is set once the header is in. Not
    // boost::none: Boost 1.74's parser compares Content-Length with an empty optional as larger.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (buffer_.size() > 0) return ReadHeader();
    // Wait for the first byte: the idle phase of a keep-alive connection (a new connection
    // gets only the header deadline for its first request).
    Lowest().expires_after(first_request_ ? srv_->opt.limits.header : srv_->opt.limits.idle);
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) {
                                if (ec == beast::error::timeout) {
                                  Counters& c = self->srv_->c;
                                  (self->first_request_ ? c.timeout_header : c.closed_idle)++;
                                }
                                return self->Close();
                              }
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    Lowest().expires_after(srv_->opt.limits.header);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Parse errors get an answer; transport errors and timeouts just close.
  void OnReadError(beast::error_code ec, std::atomic<uint64_t>& timeouts) {
    if (ec == beast::error::timeout) {
      timeouts++;
      return Close();
    }
    if (ec == http::error::header_limit) {
      return Refuse(431, "request header larger than " +
                             std::to_string(srv_->opt.limits.max_header_bytes) + " bytes");
    }
    if (ec == http::error::body_limit && route_) {
      return Refuse(413, "body larger than " + std::to_string(route_->max_body) + " bytes");
    }
    if (IsBeastHttpError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return Refuse(400, "malformed HTTP request: " + ec.message());
    }
    Close();
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec, srv_->c.timeout_header);
    auto& h = parser_->get();
    request_ = Request();
    request_.peer_address = address_;
    request_.client = client_;
    request_.method = std::string(h.method_string());
    keep_alive_ = h.keep_alive();
    const std::string_view target(h.target().data(), h.target().size());
    if (!ParseTarget(target, &request_.path, &request_.query)) {
      return Refuse(400, "bad %-escape in the request target");
    }
    route_ = nullptr;
    std::string allow;
    for (const Route& r : srv_->routes) {
      const bool match =
          r.path.back() == '/' ? request_.path.rfind(r.path, 0) == 0 : request_.path == r.path;
      if (!match) continue;
      if (r.method == request_.method) {
        route_ = &r;
        break;
      }
      if (allow.find(r.method) == std::string::npos)
        allow += (allow.empty() ? "" : ", ") + r.method;
    }
    if (!route_) {
      if (allow.empty()) return Refuse(404, "no such path: " + request_.path);
      return Refuse(405, request_.method + " is not allowed here; use " + allow,
                    {{"Allow", allow}});
    }
    const auto encoding = h[http::field::content_encoding];
    if (!encoding.empty() && !beast::iequals(encoding, "identity")) {
      return Refuse(415, "Content-Encoding " + std::string(encoding) + " is not accepted");
    }
    const auto length = parser_->content_length();
    if (!length && parser_->chunked()) {
      return Refuse(411, "a body must come with Content-Length");
    }
    if (length && *length > route_->max_body) {
      return Refuse(413, "body of " + std::to_string(*length) + " bytes; at most " +
                             std::to_string(route_->max_body) + " here");
    }
    request_.content_type = std::string(h[http::field::content_type]);
    if (!length || *length == 0) return Dispatch();
    parser_->body_limit(route_->max_body);
    Lowest().expires_after(srv_->opt.limits.body);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code e, size_t) {
                       if (e) return self->OnReadError(e, self->srv_->c.timeout_body);
                       self->Dispatch();
                     });
  }

  void Dispatch() {
    request_.body = std::move(parser_->get().body());
    srv_->c.requests++;
    auto state = std::make_shared<Responder::State>();
    state->deliver = [self = this->shared_from_this()](Reply r) {
      asio::post(self->stream_.get_executor(),
                 [self, r = std::move(r)]() mutable { self->Write(std::move(r)); });
    };
    asio::post(*srv_->workers, [route = route_, req = std::move(request_),
                                respond = Responder(std::move(state))]() mutable {
      route->handler(std::move(req), std::move(respond));
    });
  }

  // An answer from the server itself. The body (if any) was not read: close after it.
  void Refuse(int status, const std::string& message,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    srv_->c.refused_requests++;
    close_after_ = true;
    Reply r = srv_->ErrorReply(status, message);
    for (auto& kv : headers) r.headers.push_back(std::move(kv));
    Write(std::move(r));
  }

  void Write(Reply r) {
    if (closed_) return;
    response_.emplace(static_cast<http::status>(r.status), 11);
    response_->set(http::field::server, "isdas");
    response_->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) response_->set(k, v);
    response_->body() = std::move(r.body);
    response_->keep_alive(keep_alive_ && !close_after_);
    response_->prepare_payload();
    Lowest().expires_after(srv_->opt.limits.write);
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) {
                          if (ec == beast::error::timeout) self->srv_->c.timeout_write++;
                          return self->Close();
                        }
                        const bool keep = self->response_->keep_alive();
                        self->response_.reset();
                        if (!keep) return self->Linger();
                        self->first_request_ = false;
                        self->ReadRequest();
                      });
  }

  // Half-close and read what the peer still sends (an unread body) until it closes or the
  // linger deadline passes, so the peer reads our answer instead of a reset.
  void Linger() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    Lowest().expires_after(srv_->opt.limits.linger);
    Drain();
  }
  void Drain() {
    Lowest().async_read_some(asio::buffer(drain_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->Close();
                               self->Drain();
                             });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  HttpServer::Impl* srv_;
  Stream stream_;
  std::string address_;
  ClientIdentity client_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  Request request_;
  const Route* route_ = nullptr;
  bool first_request_ = true;
  bool keep_alive_ = false;
  bool close_after_ = false;
  bool closed_ = false;
  std::array<char, 16384> drain_;
};

}  // namespace

void HttpServer::Impl::DoAccept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopped) return;
    if (ec) {
      // Out of file descriptors or similar: try again shortly rather than spin.
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e && !stopped) DoAccept();
      });
      return;
    }
    OnAccept(std::move(socket));
    DoAccept();
  });
}

void HttpServer::Impl::OnAccept(tcp::socket socket) {
  beast::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;
  std::string address = remote.address().to_string();
  c.connections_accepted++;
  {
    MutexLock lock(&mu);
    if (c.connections_open >= opt.limits.max_connections) {
      c.refused_connection_cap++;
      return;  // the socket closes here
    }
    size_t& n = per_address[address];
    if (n >= opt.limits.max_connections_per_address) {
      c.refused_address_cap++;
      return;
    }
    ++n;
    c.connections_open++;
  }
  socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<SessionBase> s;
  if (tls) {
    auto t = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        this, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *tls), address);
    t->Begin();
    s = t;
  } else {
    auto p = std::make_shared<Session<beast::tcp_stream>>(
        this, beast::tcp_stream(std::move(socket)), address);
    p->Begin();
    s = p;
  }
  {
    MutexLock lock(&mu);
    sessions.emplace(s.get(), s);
  }
  // A connection accepted while Stop runs may have missed Stop's list of sessions (Stop sets
  // `stopped` before it takes the list under the same lock): it closes itself, or it would
  // stay open until the server is destroyed.
  if (stopped) s->CloseSoon();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Options o, std::vector<Route> routes) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->impl_ = std::make_unique<Impl>();
  Impl& im = *s->impl_;
  if (o.io_threads < 1 || o.workers < 1) {
    return InvalidArgument(o.name + ": io_threads and workers must be at least 1");
  }
  for (const Route& r : routes) {
    if (r.path.empty() || r.path[0] != '/' || !r.handler) {
      return InvalidArgument(o.name + ": bad route '" + r.path + "'");
    }
  }
  if (o.tls) {
    const TlsOptions& t = o.tls_options;
    im.tls.emplace(ssl::context::tls_server);
    SSL_CTX* ctx = im.tls->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, t.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      return InvalidArgument(o.name + ": server certificate " + t.cert_file + " / key " +
                             t.key_file + ": " + OpensslErrors());
    }
    if (!t.client_ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, t.client_ca_file.c_str(), nullptr) != 1) {
        return InvalidArgument(o.name + ": client CA " + t.client_ca_file + ": " + OpensslErrors());
      }
      SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(t.client_ca_file.c_str()));
      im.tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      auto check = t.check_client;
      im.tls->set_verify_callback([check](bool preverified, ssl::verify_context& vc) {
        X509_STORE_CTX* x = vc.native_handle();
        if (!preverified) return false;
        if (X509_STORE_CTX_get_error_depth(x) != 0 || !check) return true;
        ClientIdentity who;
        const int e = check(X509_STORE_CTX_get_current_cert(x), &who);
        if (e == X509_V_OK) return true;
        X509_STORE_CTX_set_error(x, e);
        return false;
      });
    }
  }
  // Every connection is a descriptor: let the process have as many as its hard limit allows.
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(o.host, ec);
  if (ec) {
    return InvalidArgument(o.name + ": cannot listen on '" + o.host +
                           "': not an IP address (give one of this host's addresses, such as "
                           "127.0.0.1 or ::1, or 0.0.0.0 / :: for all of them)");
  }
  const tcp::endpoint ep(address, static_cast<unsigned short>(o.port));
  im.acceptor.open(ep.protocol(), ec);
  if (!ec) im.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor.bind(ep, ec);
  if (!ec) im.acceptor.listen(o.backlog, ec);
  if (ec) {
    const std::string where = o.host + ":" + std::to_string(o.port);
    std::string cause;
    if (ec == asio::error::address_in_use) {
      cause =
          ": another process already listens there (`ss -ltnp 'sport = :" + std::to_string(o.port) +
          "'` names it; an isdas still running?)";
    } else if (ec == boost::system::errc::address_not_available) {
      cause = ": no interface of this host has the address " + o.host +
              " (`ip addr` lists them; 0.0.0.0 or :: listens on all)";
    } else if (ec == asio::error::access_denied) {
      cause = ": ports below 1024 need root or the CAP_NET_BIND_SERVICE capability";
    }
    return Status(ErrorKind::kUnavailable,
                  o.name + ": cannot listen on " + where + ": " + ec.message() + cause);
  }
  im.port = im.acceptor.local_endpoint().port();
  im.opt = std::move(o);
  im.routes = std::move(routes);
  im.workers.emplace(static_cast<size_t>(im.opt.workers));
  im.DoAccept();
  for (int i = 0; i < im.opt.io_threads; ++i) {
    im.io_threads.emplace_back([&im] { im.ioc.run(); });
  }
  return s;
}

void HttpServer::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  Impl& im = *impl_;
  asio::post(im.ioc, [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
    im.accept_retry.cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    MutexLock lock(&im.mu);
    for (auto& [p, w] : im.sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
  }
  // Outside the lock: dropping the last reference to a session takes it in ~Session.
  for (auto& s : live) s->CloseSoon();
  live.clear();
  // Closed sockets end their operations, and with the acceptor closed the I/O threads run out
  // of work and return — a connection accepted just now included: its handler runs, sees
  // `stopped` and closes it (stopping the io_context at once left such a socket open, inside
  // the handler, until the server was destroyed). Two seconds at most, then whatever is left
  // is stopped.
  for (int i = 0; i < 200 && (im.c.connections_open > 0 || !im.ioc.stopped()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  im.ioc.stop();
  for (auto& t : im.io_threads) t.join();
  im.workers->join();
}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return impl_->port; }

const Counters& HttpServer::counters() const { return impl_->c; }

}  // namespace isdas::net
