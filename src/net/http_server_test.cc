// The HTTP layer against real sockets on loopback: raw clients for the hostile cases (unread
// bodies carrying requests, slow headers, idle and excess connections), cpp-httplib clients
// with real certificates (pki) for TLS. No test waits on a fixed sleep for the server to act:
// each reads until the server answers or closes.

#include "net/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "pki/pki.h"

namespace isdas::net {
namespace {

using namespace std::chrono_literals;

// A raw TCP connection to 127.0.0.1:port, optionally from another loopback address.
class Raw {
 public:
  explicit Raw(int port, const char* from = nullptr) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (from) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      inet_pton(AF_INET, from, &a.sin_addr);
      EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &s.sin_addr);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&s), sizeof s) == 0;
  }
  ~Raw() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(const std::string& s) { (void)!send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // What the peer sends until `needle` appears (never, when empty), it closes, or `limit`
  // passes; *closed says whether it closed.
  std::string ReadUntil(const std::string& needle, std::chrono::milliseconds limit,
                        bool* closed = nullptr) {
    std::string out;
    if (closed) *closed = false;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (needle.empty() || out.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  std::string ReadAll(std::chrono::milliseconds limit, bool* closed = nullptr) {
    return ReadUntil("", limit, closed);
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

struct Fixture {
  std::atomic<int> echo_calls{0};
  std::atomic<int> secret_calls{0};
  std::unique_ptr<HttpServer> server;
};

std::unique_ptr<Fixture> Serve(Limits limits = {}, bool tls = false, TlsOptions t = {}) {
  // A refused handshake closes the socket under a client still writing: clients (the
  // sensor included) ignore SIGPIPE and see the error.
  signal(SIGPIPE, SIG_IGN);
  auto f = std::make_unique<Fixture>();
  Options o;
  o.limits = limits;
  o.tls = tls;
  o.tls_options = std::move(t);
  o.workers = 2;
  Fixture* fx = f.get();
  std::vector<Route> routes;
  routes.push_back({"POST", "/echo", 64, [fx](Request&& r, Responder respond) {
                      fx->echo_calls++;
                      Reply rep;
                      rep.content_type = "text/plain";
                      rep.body = r.client.id + "|" + r.body;
                      respond(std::move(rep));
                    }});
  routes.push_back({"GET", "/secret", 0, [fx](Request&&, Responder respond) {
                      fx->secret_calls++;
                      respond(Reply{200, "text/plain", "secret", {}});
                    }});
  routes.push_back({"GET", "/q/", 0, [](Request&& r, Responder respond) {
                      std::string b = r.path;
                      for (const auto& [k, v] : r.query) b += "|" + k + "=" + v;
                      respond(Reply{200, "text/plain", b, {}});
                    }});
  routes.push_back({"GET", "/forgets", 0, [](Request&&, Responder) {}});
  auto s = HttpServer::Start(std::move(o), std::move(routes));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  f->server = std::move(s.value());
  return f;
}

TEST(HttpServer, AnUnreadBodyIsNeverParsedAsTheNextRequest) {
  auto f = Serve();
  const std::string smuggled = "GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";
  // Too large for the route: refused from Content-Length, body unread.
  {
    Raw c(f->server->port());
    const std::string body = smuggled + std::string(100, 'x');
    c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body);
    bool closed = false;
    const std::string got = c.ReadAll(5s, &closed);
    EXPECT_NE(got.find("HTTP/1.1 413"), std::string::npos) << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
    EXPECT_TRUE(closed);
    EXPECT_EQ(got.find("secret"), std::string::npos) << got;
  }
  // A method the path does not take, with a body: 405, and the body is not a request either.
  {
    Raw c(f->server->port());
    c.Send("POST /secret HTTP/1.1\r\nHost: x\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
    bool closed = false;
    const std::string got = c.ReadAll(5s, &closed);
    EXPECT_NE(got.find("HTTP/1.1 405"), std::string::npos) << got;
    EXPECT_NE(got.find("Allow: GET"), std::string::npos) << got;
    EXPECT_TRUE(closed);
  }
  // A body without Content-Length (chunked): 411 and close.
  {
    Raw c(f->server->port());
    c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
           std::to_string(smuggled.size()) + "\r\n" + smuggled + "\r\n0\r\n\r\n");
    bool closed = false;
    const std::string got = c.ReadAll(5s, &closed);
    EXPECT_NE(got.find("HTTP/1.1 411"), std::string::npos) << got;
    EXPECT_TRUE(closed);
  }
  // Content-Encoding is refused before the body is read.
  {
    Raw c(f->server->port());
    c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
    bool closed = false;
    const std::string got = c.ReadAll(5s, &closed);
    EXPECT_NE(got.find("HTTP/1.1 415"), std::string::npos) << got;
    EXPECT_TRUE(closed);
  }
  EXPECT_EQ(f->secret_calls.load(), 0);
  EXPECT_EQ(f->echo_calls.load(), 0);
  EXPECT_EQ(f->server->counters().refused_requests.load(), 4u);
}

TEST(HttpServer, MalformedRequestsAreRefusedWithAReason) {
  auto f = Serve();
  struct Case {
    std::string send, status;
  } cases[] = {
      {"GARBAGE\r\n\r\n", "400"},
      {"GET /q/%zz HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
      {"GET /q/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
      {"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
      {"GET /q/ HTTP/1.1\r\nHost: x\r\nX: " + std::string(20000, 'a') + "\r\n\r\n", "431"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", "400"},
  };
  for (const auto& k : cases) {
    Raw c(f->server->port());
    c.Send(k.send);
    const std::string got = c.ReadAll(5s);
    EXPECT_EQ(got.rfind("HTTP/1.1 " + k.status, 0), 0u) << k.send.substr(0, 60) << " -> " << got;
  }
  EXPECT_EQ(f->secret_calls.load() + f->echo_calls.load(), 0);
}

TEST(HttpServer, TargetsArePercentDecoded) {
  std::string path;
  std::multimap<std::string, std::string> q;
  ASSERT_TRUE(ParseTarget("/a%20b/c?x=1&y=a+b%2Bc&&z&x=2", &path, &q));
  EXPECT_EQ(path, "/a b/c");
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(q.find("y")->second, "a b+c");
  EXPECT_EQ(q.count("x"), 2u);
  EXPECT_EQ(q.find("z")->second, "");
  for (const char* bad : {"/%", "/%4", "/%g0", "/?a=%", "/?%00=1", "/a%00"}) {
    EXPECT_FALSE(ParseTarget(bad, &path, &q)) << bad;
  }
}

TEST(HttpServer, KeepAliveServesManyRequestsOnOneConnection) {
  auto f = Serve();
  Raw c(f->server->port());
  for (int i = 0; i < 5; ++i) {
    c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    const std::string got = c.ReadUntil("|hello", 5s);
    EXPECT_NE(got.find("200 OK"), std::string::npos) << got;
  }
  EXPECT_EQ(f->echo_calls.load(), 5);
  // A handler that drops its responder: the client still gets an answer.
  c.Send("GET /forgets HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.ReadUntil("no answer", 5s).find("500"), std::string::npos);
}

TEST(HttpServer, SlowHeadersAndIdleConnectionsAreClosedWithoutBlockingOthers) {
  Limits l;
  l.header = 800ms;
  l.idle = 800ms;
  auto f = Serve(l);
  // Slowloris: a header byte every 200 ms never finishes within the header deadline.
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < 16; ++i) slow.push_back(std::make_unique<Raw>(f->server->port()));
  std::atomic<bool> done{false};
  std::thread drip([&] {
    const std::string req = "GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t k = 0; k < req.size() && !done; ++k) {
      for (auto& s : slow) s->Send(req.substr(k, 1));
      std::this_thread::sleep_for(200ms);
    }
  });
  // Meanwhile a normal client is served at once, many times.
  for (int i = 0; i < 20; ++i) {
    Raw c(f->server->port());
    c.Send("GET /q/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(c.ReadAll(2s).find("/q/ok"), std::string::npos);
  }
  bool closed = false;
  slow[0]->ReadAll(5s, &closed);
  EXPECT_TRUE(closed);
  done = true;
  drip.join();
  // An idle keep-alive connection is closed after `idle`.
  Raw idle(f->server->port());
  idle.Send("GET /q/x HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string got = idle.ReadAll(5s, &closed);
  EXPECT_NE(got.find("/q/x"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_EQ(f->secret_calls.load(), 0);
  EXPECT_GE(f->server->counters().timeout_header.load(), 16u);
  // Beast closes a timed-out socket before the handler counts it: wait for the count.
  for (int i = 0; i < 500 && f->server->counters().closed_idle.load() == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(f->server->counters().closed_idle.load(), 1u);
}

TEST(HttpServer, ConnectionsAreCappedPerAddressAndInAll) {
  Limits l;
  l.max_connections_per_address = 4;
  l.max_connections = 6;
  auto f = Serve(l);
  std::vector<std::unique_ptr<Raw>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<Raw>(f->server->port()));
  // Make sure the server has taken the four (each answers one request).
  for (auto& h : held) {
    h->Send("GET /q/ HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_NE(h->ReadUntil("\r\n\r\n/q/", 5s).find("200"), std::string::npos);
  }
  Raw fifth(f->server->port());
  bool closed = false;
  fifth.Send("GET /q/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(fifth.ReadAll(5s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(f->server->counters().refused_address_cap.load(), 1u);
  // Another address still gets in, up to the global cap.
  Raw other(f->server->port(), "127.0.0.2");
  other.Send("GET /q/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(other.ReadUntil("/q/", 5s).find("200"), std::string::npos);
  Raw other2(f->server->port(), "127.0.0.3");
  other2.Send("GET /q/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(other2.ReadUntil("/q/", 5s).find("200"), std::string::npos);
  Raw seventh(f->server->port(), "127.0.0.4");
  seventh.Send("GET /q/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(seventh.ReadAll(5s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(f->server->counters().refused_connection_cap.load(), 1u);
  // A freed slot is usable again.
  held.pop_back();
  for (int i = 0; i < 100 && f->server->counters().connections_open.load() > 5; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  Raw again(f->server->port());
  again.Send("GET /q/ HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(again.ReadUntil("/q/", 5s).find("200"), std::string::npos);
}

struct Pki {
  std::string root;
  std::string ca, other;
};

Pki MakePki() {
  Pki p;
  char tmpl[] = "/tmp/isdas_net_XXXXXX";
  p.root = mkdtemp(tmpl);
  p.ca = p.root + "/ca";
  p.other = p.root + "/other";
  EXPECT_TRUE(pki::CreateCa(p.ca, "test CA", 30).ok());
  EXPECT_TRUE(pki::CreateCa(p.other, "stranger", 30).ok());
  EXPECT_TRUE(pki::IssueServer(p.ca, {"127.0.0.1"}, 30).ok());
  EXPECT_TRUE(pki::IssueSensor(p.ca, "good-1", 30).ok());
  EXPECT_TRUE(pki::IssueSensor(p.ca, "banned-2", 30).ok());
  EXPECT_TRUE(pki::IssueSensor(p.other, "good-1", 30).ok());
  return p;
}

TEST(HttpServer, TlsRequiresAClientCertificateInTheHandshake) {
  const Pki p = MakePki();
  TlsOptions t;
  t.cert_file = p.ca + "/server.crt";
  t.key_file = p.ca + "/server.key";
  t.client_ca_file = p.ca + "/ca.crt";
  t.check_client = [](X509* cert, ClientIdentity* who) {
    who->id = pki::SensorIdOf(cert);
    return who->id == "banned-2" ? X509_V_ERR_CERT_REVOKED : X509_V_OK;
  };
  auto f = Serve({}, true, t);
  auto client = [&](const std::string& dir, const std::string& sensor) {
    std::unique_ptr<httplib::SSLClient> c =
        sensor.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", f->server->port())
                       : std::make_unique<httplib::SSLClient>("127.0.0.1", f->server->port(),
                                                              dir + "/sensors/" + sensor + ".crt",
                                                              dir + "/sensors/" + sensor + ".key");
    c->set_ca_cert_path((p.ca + "/ca.crt").c_str());
    c->enable_server_certificate_verification(true);
    return c;
  };
  auto r = client(p.ca, "good-1")->Post("/echo", "hi", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "good-1|hi");
  EXPECT_FALSE(client("", "")->Post("/echo", "hi", "text/plain"));
  EXPECT_FALSE(client(p.other, "good-1")->Post("/echo", "hi", "text/plain"));
  EXPECT_FALSE(client(p.ca, "banned-2")->Post("/echo", "hi", "text/plain"));
  // Plain HTTP to the TLS port is a failed handshake, not a request.
  Raw plain(f->server->port());
  plain.Send("GET /secret HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  EXPECT_EQ(plain.ReadAll(5s, &closed).find("secret"), std::string::npos);
  EXPECT_TRUE(closed);
  EXPECT_EQ(f->echo_calls.load(), 1);
  EXPECT_EQ(f->secret_calls.load(), 0);
  const Counters& c = f->server->counters();
  EXPECT_EQ(c.tls_no_certificate.load(), 1u);
  EXPECT_EQ(c.tls_untrusted_certificate.load(), 1u);
  EXPECT_EQ(c.tls_revoked_certificate.load(), 1u);
  EXPECT_EQ(c.tls_failed.load(), 1u);
}

TEST(HttpServer, ListenFailuresSayTheLikelyCause) {
  // "cannot listen on …: Address already in use" named no cause before, and a host name was
  // "listen address 'localhost': Invalid argument".
  auto f = Serve();
  auto start = [](const std::string& host, int port) {
    Options o;
    o.name = "api";
    o.host = host;
    o.port = port;
    return HttpServer::Start(std::move(o), {}).status().message();
  };
  const int taken = f->server->port();
  EXPECT_NE(start("127.0.0.1", taken).find("another process already listens there"),
            std::string::npos);
  EXPECT_NE(start("198.18.100.1", 0).find("no interface of this host has the address"),
            std::string::npos);
  EXPECT_NE(start("localhost", 0).find("not an IP address"), std::string::npos);
}

}  // namespace
}  // namespace isdas::net
