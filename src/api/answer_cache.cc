#include "api/answer_cache.h"

namespace isdas::api {

void AnswerCache::AddToKey(std::string* key, const std::string& part) {
  key->append(std::to_string(part.size())).push_back(':');
  key->append(part);
}

void AnswerCache::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) {
  if (it->second.answer) {
    lru_.erase(it->second.lru);
    stats_.bytes -= it->second.bytes;
  }
  map_.erase(it);
}

Response AnswerCache::Get(const std::string& key, const std::string& gen,
                          const std::function<Response()>& compute) {
  {
    MutexLock lock(&mu_);
    for (;;) {
      auto it = map_.find(key);
      if (it == map_.end()) break;
      if (!it->second.answer) {  // being computed: wait for it, then look again
        ++stats_.waited;
        done_.Wait(&mu_);
        continue;
      }
      if (it->second.gen == gen) {
        ++stats_.hits;
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return *it->second.answer;
      }
      EraseLocked(it);  // from an older generation
      break;
    }
    map_.emplace(key, Entry{gen, nullptr, {}, 0});
    ++stats_.misses;
  }
  Response r;
  try {
    r = compute();
  } catch (...) {
    MutexLock lock(&mu_);
    EraseLocked(map_.find(key));
    done_.SignalAll();
    throw;
  }
  MutexLock lock(&mu_);
  auto it = map_.find(key);
  const size_t bytes = key.size() + r.body.size() + r.content_type.size() + 64;
  if (r.status != 200 || bytes > max_bytes_ / 8) {
    EraseLocked(it);
  } else {
    it->second.answer = std::make_shared<const Response>(r);
    it->second.bytes = bytes;
    lru_.push_front(key);
    it->second.lru = lru_.begin();
    stats_.bytes += bytes;
    while (stats_.bytes > max_bytes_ && !lru_.empty()) {
      auto old = map_.find(lru_.back());
      EraseLocked(old);
      ++stats_.evicted;
    }
  }
  done_.SignalAll();
  return r;
}

AnswerCache::Stats AnswerCache::stats() const {
  MutexLock lock(&mu_);
  Stats s = stats_;
  s.entries = lru_.size();  // the answers kept (those being computed are not in it)
  return s;
}

}  // namespace isdas::api
