#pragma once

// The collector's HTTP/1.1 server (ingest, query API, and the pages to come): event-driven on
// Boost.Asio/Beast, so that a connection costs a socket and a buffer, not a thread. Slow, idle
// or hostile peers cannot hold the handlers: every phase of a connection has its own deadline
// (TLS handshake, request header, body, idle keep-alive, writing the answer), connections are
// capped in all and per peer address, a body larger than its route allows is refused from its
// Content-Length before it is read, and other methods get 405. Handlers run on a pool of
// worker threads (they may block on a store) and answer through a Responder, from any thread,
// at any later time: the ingest handler answers from the store's commit thread.
//
// Whenever the server answers before it has read a request's body (a refusal from the header
// alone), it says `Connection: close` and closes after the answer, reading and discarding what
// the peer still sends for a few seconds so it sees the answer rather than a reset: an unread
// body is never parsed as the next request (no request smuggling through it).
//
// With TLS and a client CA, the client certificate is required in the handshake: a peer
// without one, or with one that does not verify (or that `check_client` refuses, e.g. revoked),
// never reaches HTTP.
//
// Thread-safe. Start() once; Stop() from any thread but a handler's.

#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace isdas::net {

struct Limits {
  std::chrono::milliseconds handshake{10000};  // TCP accept to TLS handshake done
  std::chrono::milliseconds header{10000};     // first byte of a request to the end of its header
  std::chrono::milliseconds body{60000};       // end of header to end of body
  std::chrono::milliseconds idle{60000};   // keep-alive: an answer to the next request's first byte
  std::chrono::milliseconds write{30000};  // writing one answer
  std::chrono::milliseconds linger{3000};  // reading and discarding before a close
  size_t max_connections = 8192;           // in all; beyond it a new connection is closed at once
  size_t max_connections_per_address = 256;  // per peer IP address
  size_t max_header_bytes = 16 * 1024;       // request line and header fields: beyond it 431
};

// What a TLS client certificate told the server (empty without TLS or without a client CA).
struct ClientIdentity {
  std::string id;      // what check_client made of it (the sensor id for ingest)
  std::string serial;  // upper-case hex
};

struct TlsOptions {
  std::string cert_file;  // the server's certificate chain and key (PEM)
  std::string key_file;
  // Set: a client certificate issued by this CA is required in the handshake.
  std::string client_ca_file;
  // Called in the handshake for a client certificate the CA has verified. Returns X509_V_OK,
  // or an X509_V_ERR_* code that fails the handshake with the matching alert (e.g.
  // X509_V_ERR_CERT_REVOKED); fills `who`. May be called from several threads at once.
  std::function<int(X509* cert, ClientIdentity* who)> check_client;
  // Told of each handshake refused for the client's certificate (revoked, not from the CA,
  // none given): the peer's address and why. May be called from several threads at once.
  std::function<void(const std::string& address, const std::string& why)> on_refused;
};

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string path;                               // percent-decoded, without the query
  std::multimap<std::string, std::string> query;  // percent-decoded (+ is a space)
  std::string content_type;
  std::string body;
  std::string peer_address;  // the peer's IP address, as text
  ClientIdentity client;
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, e.g. Retry-After
};

// Answers one request, once, from any thread. A Responder dropped without being called answers
// 500, so a request is never left hanging.
class Responder {
 public:
  struct State;
  explicit Responder(std::shared_ptr<State> s) : state_(std::move(s)) {}
  Responder(Responder&&) = default;
  Responder& operator=(Responder&&) = default;
  ~Responder();
  void operator()(Reply reply);

 private:
  std::shared_ptr<State> state_;
};

using Handler = std::function<void(Request&& request, Responder respond)>;

struct Route {
  std::string method;   // "GET" or "POST"
  std::string path;     // exact, or a prefix when it ends in '/'
  size_t max_body = 0;  // a larger Content-Length is refused (413) before the body is read
  Handler handler;
};

struct Options {
  std::string name = "http";  // in messages
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (see port())
  bool tls = false;
  TlsOptions tls_options;
  int io_threads = 1;  // threads doing network I/O and TLS
  int workers = 8;     // threads running handlers
  int backlog = 4096;
  Limits limits;
  // The body of the server's own refusals (404, 405, 411, 413, 415, 431, 400, 500); by default
  // text. The API answers JSON.
  std::function<Reply(int status, const std::string& message)> error_reply;
};

struct Counters {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> refused_connection_cap{0};     // closed at once: over max_connections
  std::atomic<uint64_t> refused_address_cap{0};        // over max_connections_per_address
  std::atomic<uint64_t> tls_no_certificate{0};         // handshake refused: no client certificate
  std::atomic<uint64_t> tls_untrusted_certificate{0};  // not from the CA, expired, ...
  std::atomic<uint64_t> tls_revoked_certificate{0};
  std::atomic<uint64_t> tls_failed{0};  // other handshake failures (not TLS, protocol errors)
  std::atomic<uint64_t> timeout_handshake{0};
  std::atomic<uint64_t> timeout_header{0};
  std::atomic<uint64_t> timeout_body{0};
  std::atomic<uint64_t> timeout_write{0};
  std::atomic<uint64_t> closed_idle{0};       // keep-alive connections closed after `idle`
  std::atomic<uint64_t> requests{0};          // handed to a handler
  std::atomic<uint64_t> refused_requests{0};  // answered by the server itself (4xx)
};

class HttpServer {
 public:
  // Loads certificates, binds and starts serving. Errors: kInvalidArgument (bad options or
  // files, naming them), kUnavailable (cannot listen).
  static Result<std::unique_ptr<HttpServer>> Start(Options options, std::vector<Route> routes);
  ~HttpServer();
  // Stops accepting and closes every connection; handlers already running finish, and answers
  // given after Stop are dropped. Idempotent.
  void Stop();
  int port() const;
  const Counters& counters() const;

  struct Impl;  // public for the sessions in the .cc; opaque to users

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
};

// Splits "path?query" into a percent-decoded path and parameters. False when the path or a
// parameter has a bad %-escape or decodes to a NUL.
bool ParseTarget(std::string_view target, std::string* path,
                 std::multimap<std::string, std::string>* query);

}  // namespace isdas::net
