#pragma once

// The query API, /api/v1 (docs/api.md): JSON or CSV answers over the rollups and events.
// Api turns one GET (path + query parameters) into a response; ApiServer serves it over HTTP
// (or HTTPS) with a pool of store connections. Every parameter is checked: a bad or unknown
// one gives 400 naming it, and nothing is read.

#include <absl/base/thread_annotations.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "storage/event_store.h"

namespace isdas::api {

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using Params = std::multimap<std::string, std::string>;
// Opens a read-only view of the store (one per concurrent request, pooled).
using StoreFactory = std::function<Result<std::unique_ptr<storage::ReadStore>>()>;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;        // 0: any free port (see ApiServer::port())
  std::string cert_file;  // both set: HTTPS
  std::string key_file;
  int threads = 8;
  storage::Retention retention;
  std::string research_list;  // shown in /meta: where the research-scanner list came from
  size_t research_entries = 0;
  // Answers kept while the rollups are unchanged (answer_cache.h, docs/api.md#answer-cache);
  // 0: none kept.
  size_t cache_bytes = 64u << 20;
};

class AnswerCache;

// One request at a time per store; Api itself is stateless apart from the pool.
class Api {
 public:
  Api(Options o, StoreFactory factory, std::function<int64_t()> now_us);
  ~Api();
  Response Get(const std::string& path, const Params& params);

 private:
  struct Lease;
  std::unique_ptr<Lease> Acquire(Status* error);
  // The endpoints (docs/api.md), one each.
  struct Request;
  Response AnswerTop(const Request& req);         // ports|countries|asns/top
  Response AnswerSeries(const Request& req);      // ports|countries|traffic/series
  Response AnswerTrafficTop(const Request& req);  // traffic/top
  Response AnswerPort(const Request& req);        // ports/{port}
  Response AnswerSource(const Request& req);      // sources/{address}
  Response AnswerSensors(const Request& req);     // sensors
  Response AnswerMeta(const Request& req);        // meta
  // The endpoint a path names (after /api/v1/, split at '/'); null when none.
  struct Route;
  static const Route* FindRoute(const std::vector<std::string>& parts);
  void Release(std::unique_ptr<storage::ReadStore> s);

  Options opt_;
  StoreFactory factory_;
  std::function<int64_t()> now_us_;
  std::unique_ptr<AnswerCache> cache_;  // null: answers are not kept
  Mutex mu_;
  std::vector<std::unique_ptr<storage::ReadStore>> idle_ ABSL_GUARDED_BY(mu_);
};

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> Start(const Options& o, StoreFactory factory,
                                                  std::function<int64_t()> now_us);
  ~ApiServer();
  int port() const { return port_; }
  void Stop();

 private:
  ApiServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace isdas::api
