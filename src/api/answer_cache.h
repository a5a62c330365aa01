#pragma once

// Answers of the query API kept while the rollups they were read from are unchanged
// (docs/api.md#answer-cache). A dashboard asks the same questions all the time (the last
// 24 hours, 7, 30, 90 days, a year, ...); each is computed once per rollup generation
// (storage::ReadStore::RollupGeneration: it moves whenever a rollup row is written, expired or
// rebuilt), and while one request computes an answer, others asking the same wait for it
// instead of computing it again. Bounded in bytes, least recently used out first; a key is
// every byte of the request that shapes the answer, so two different questions never share
// an answer. Thread-safe.

#include <absl/base/thread_annotations.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "api/api.h"
#include "common/mutex.h"

namespace isdas::api {

class AnswerCache {
 public:
  // Answers larger than max_bytes / 8 are never kept.
  explicit AnswerCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The answer to `key` at rollup generation `gen`: the one kept, or compute()'s. Only 200
  // answers are kept. compute() runs without the cache's lock.
  Response Get(const std::string& key, const std::string& gen,
               const std::function<Response()>& compute) ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;   // computed
    uint64_t waited = 0;   // asked while another request computed the same answer
    uint64_t evicted = 0;  // pushed out by newer answers (the byte bound)
    size_t entries = 0;    // answers kept (filled in by stats())
    size_t bytes = 0;
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // A key from the request's parts, each length-prefixed so that no two requests share one.
  static void AddToKey(std::string* key, const std::string& part);

 private:
  struct Entry {
    std::string gen;
    std::shared_ptr<const Response> answer;  // null while computing
    std::list<std::string>::iterator lru;    // valid when answer is set
    size_t bytes = 0;
  };
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_bytes_;
  mutable Mutex mu_;
  CondVar done_;  // a computation finished
  std::unordered_map<std::string, Entry> map_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace isdas::api
