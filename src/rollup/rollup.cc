#include "rollup/rollup.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <tuple>

namespace isdas::rollup {

int64_t Seconds(Resolution r) {
  switch (r) {
    case Resolution::k5m:
      return 300;
    case Resolution::k1h:
      return 3600;
    case Resolution::k1d:
      return 86400;
  }
  return 300;
}

std::string_view Name(Resolution r) {
  switch (r) {
    case Resolution::k5m:
      return "5m";
    case Resolution::k1h:
      return "1h";
    case Resolution::k1d:
      return "1d";
  }
  return "?";
}

std::string_view Name(Family f) {
  switch (f) {
    case Family::kTotal:
      return "total";
    case Family::kPort:
      return "port";
    case Family::kCountry:
      return "country";
    case Family::kAsn:
      return "asn";
    case Family::kPortCountry:
      return "port_country";
    case Family::kPortAsn:
      return "port_asn";
    case Family::kPortFlags:
      return "port_flags";
  }
  return "?";
}

int64_t BucketStart(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) --q;
  return q * width;
}

uint64_t CountryKey(const char* cc) {
  return (uint64_t{static_cast<uint8_t>(cc[0])} << 8) | static_cast<uint8_t>(cc[1]);
}

std::string CountryFromKey(uint64_t key) {
  if (key == 0) return "";
  return std::string{static_cast<char>(key >> 8 & 0xff), static_cast<char>(key & 0xff)};
}

size_t RowKeyHash::operator()(const RowKey& k) const {
  uint64_t h = static_cast<uint64_t>(k.bucket) * 0x9e3779b97f4a7c15ULL;
  h ^= k.key + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
  const uint64_t dims = uint64_t{k.sensor} << 32 | uint64_t{static_cast<uint8_t>(k.family)} << 24 |
                        uint64_t{k.proto} << 16 | uint64_t{k.kind} << 10 | uint64_t{k.tool} << 2 |
                        k.research;
  h ^= dims * 0xbf58476d1ce4e5b9ULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

bool operator<(const RowKey& a, const RowKey& b) {
  return std::tie(a.family, a.bucket, a.key, a.sensor, a.proto, a.kind, a.tool, a.research) <
         std::tie(b.family, b.bucket, b.key, b.sensor, b.proto, b.kind, b.tool, b.research);
}

void RowValue::Merge(const RowValue& o) {
  packets += o.packets;
  first_us = std::min(first_us, o.first_us);
  last_us = std::max(last_us, o.last_us);
  sources.Merge(o.sources);
  destinations.Merge(o.destinations);
}

int Aggregator::KeysOf(const model::Event& e, const model::SourceInfo* s, uint32_t sensor,
                       RowKey* keys, int* n5) const {
  RowKey k;
  k.bucket = BucketStart(BucketStart(e.ts_us, 1000000) / 1000000, 300);
  k.sensor = sensor;
  k.proto = e.proto;
  k.kind = static_cast<uint8_t>(e.labels.kind);
  k.tool = static_cast<uint8_t>(e.labels.tool);
  k.research = s ? s->research : 0;
  int n = 0;
  auto key = [&](Family f, uint64_t v) {
    if (!(families_ & Bit(f))) return;
    k.family = f;
    k.key = v;
    keys[n++] = k;
  };
  const uint64_t cc = s ? CountryKey(s->country) : 0;
  key(Family::kTotal, 0);
  key(Family::kCountry, cc);
  key(Family::kAsn, s ? s->asn : 0);
  if (e.proto == model::kProtoTcp || e.proto == model::kProtoUdp) key(Family::kPort, e.dport);
  *n5 = n;
  if (e.proto == model::kProtoTcp || e.proto == model::kProtoUdp) {
    // Families stored only daily are counted in daily buckets straight away.
    k.bucket = BucketStart(k.bucket, 86400);
    key(Family::kPortCountry, uint64_t{e.dport} << 16 | cc);
    if (e.proto == model::kProtoTcp) key(Family::kPortFlags, uint64_t{e.dport} << 8 | e.tcp_flags);
  }
  return n;
}

void Aggregator::AddOne(const model::Event& e, const model::SourceInfo* s, uint32_t sensor) {
  RowKey keys[kMaxKeys];
  int n5;
  const int n = KeysOf(e, s, sensor, keys, &n5);
  const uint64_t hs = HashAddress(e.src);
  const uint64_t hd = HashAddress(e.dst);
  if (n > n5) daily_min_ = std::min(daily_min_, keys[n5].bucket);
  // The daily rows are the port pairs, which count no destinations (CountsDestinations).
  static_assert(!CountsDestinations(Family::kPortCountry) &&
                !CountsDestinations(Family::kPortFlags) && CountsDestinations(Family::kPort));
  for (int i = 0; i < n; ++i) {
    RowValue& v = (i < n5 ? rows_ : daily_)[keys[i]];
    ++v.packets;
    v.first_us = std::min(v.first_us, e.ts_us);
    v.last_us = std::max(v.last_us, e.ts_us);
    v.sources.Add(hs);
    if (i < n5) v.destinations.Add(hd);
  }
}

void Aggregator::Add(std::span<const model::Event> events,
                     std::span<const model::SourceInfo> sources, uint32_t sensor) {
  // The table is far larger than the caches: the rows of the event a few places ahead are
  // fetched while this one is counted (perf: half the time was spent waiting for rows).
  constexpr size_t kAhead = 6;
  RowKey ahead[kMaxKeys];
  auto source = [&](size_t i) { return sources.empty() ? nullptr : &sources[i]; };
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + kAhead < events.size()) {
      int n5;
      const int n = KeysOf(events[i + kAhead], source(i + kAhead), sensor, ahead, &n5);
      for (int j = 0; j < n; ++j) (j < n5 ? rows_ : daily_).prefetch(ahead[j]);
    }
    AddOne(events[i], source(i), sensor);
  }
}

void Aggregator::Add(std::span<const model::Event> events) {
  for (const model::Event& e : events) AddOne(e, nullptr, e.sensor_id);
}

namespace {
// Moves the rows of `m` with bucket < before to `out`; returns the earliest bucket left.
int64_t TakeOut(RowMap* m, int64_t before, std::vector<Row>* out) {
  int64_t kept_min = INT64_MAX;
  for (auto it = m->begin(); it != m->end();) {
    if (it->first.bucket < before) {
      out->push_back(Row{it->first, std::move(it->second)});
      m->erase(it++);
    } else {
      kept_min = std::min(kept_min, it->first.bucket);
      ++it;
    }
  }
  return kept_min;
}

// The rows in table order. With `keep_memory` the tables keep their allocation for the next
// rows (erased one by one; clear() would free it), otherwise they are freed.
std::vector<Row> Unsorted(std::initializer_list<RowMap*> maps, bool keep_memory) {
  std::vector<Row> out;
  size_t n = 0;
  for (RowMap* m : maps) n += m->size();
  out.reserve(n);
  for (RowMap* m : maps) {
    if (keep_memory) {
      TakeOut(m, INT64_MAX, &out);
      continue;
    }
    for (auto& kv : *m) out.push_back(Row{kv.first, std::move(kv.second)});
    m->clear();
  }
  return out;
}
std::vector<Row> Unsorted(RowMap* m) { return Unsorted({m}, false); }

// Rows in key order (the tables' primary-key order: B-tree inserts stay local). Sorts the keys
// in one array (comparing keys spread over the heap was a cache miss each), then moves each
// row once.
std::vector<Row> SortRows(std::vector<Row>&& rows) {
  std::vector<std::pair<RowKey, uint32_t>> order;
  order.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) order.emplace_back(rows[i].key, i);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Row> out;
  out.reserve(rows.size());
  for (const auto& [key, i] : order) out.push_back(std::move(rows[i]));
  rows.clear();
  return out;
}

std::vector<Row> Sorted(std::initializer_list<RowMap*> maps) {
  return SortRows(Unsorted(maps, false));
}
std::vector<Row> Sorted(RowMap* m) { return Sorted({m}); }

}  // namespace

std::vector<Row> Aggregator::Take() {
  daily_min_ = INT64_MAX;
  return Sorted({&rows_, &daily_});
}

std::vector<Row> Aggregator::TakeUnsorted() {
  daily_min_ = INT64_MAX;
  return Unsorted({&rows_, &daily_}, /*keep_memory=*/true);
}

std::vector<Row> Aggregator::TakeBefore(int64_t before5, int64_t before1d) {
  std::vector<Row> out;
  TakeOut(&rows_, before5, &out);
  if (daily_min_ < before1d) daily_min_ = TakeOut(&daily_, before1d, &out);  // a day closed
  return out;
}

namespace {
// Folds each row into `coarser` (re-bucketed to `width`; `coarser_min` lowered to its
// buckets) when given, and returns those at or after `write_from`, sorted, to be written.
std::vector<Row> WriteAndFold(std::vector<Row>&& rows, int64_t write_from, RowMap* coarser,
                              int64_t width, int64_t* coarser_min) {
  std::vector<Row> write;
  write.reserve(rows.size());
  for (Row& r : rows) {
    if (coarser) {
      RowKey k = r.key;
      k.bucket = BucketStart(k.bucket, width);
      *coarser_min = std::min(*coarser_min, k.bucket);
      if (r.key.bucket >= write_from) {
        auto [c, fresh] = coarser->try_emplace(k, r.value);  // a copy: the row is written too
        if (!fresh) c->second.Merge(r.value);
      } else {
        auto [c, fresh] = coarser->try_emplace(k, std::move(r.value));
        if (!fresh) c->second.Merge(r.value);
        continue;
      }
    }
    if (r.key.bucket >= write_from) write.push_back(std::move(r));
  }
  rows.clear();
  return SortRows(std::move(write));
}

// Takes the rows of `m` with bucket < before out, through WriteAndFold into `out`. Returns the
// earliest bucket left in `m`.
int64_t Drain(RowMap* m, int64_t before, int64_t write_from, std::vector<Row>* out, RowMap* coarser,
              int64_t width, int64_t* coarser_min) {
  std::vector<Row> taken;
  const int64_t kept_min = TakeOut(m, before, &taken);
  *out = WriteAndFold(std::move(taken), write_from, coarser, width, coarser_min);
  return kept_min;
}
}  // namespace

RollupBuffer::Out RollupBuffer::Close(int64_t c5, const int64_t write_from[3]) {
  Out out;
  const int64_t c1h = BucketStart(c5, 3600), c1d = BucketStart(c5, 86400);
  std::vector<Row> fine, taken = fine_[0].TakeBefore(c5, c1d);
  for (Row& r : fine_[1].TakeBefore(c5, c1d)) taken.push_back(std::move(r));
  for (Row& r : taken) {
    if (Finest(r.key.family) == Resolution::k1d) {  // already daily
      day_min_ = std::min(day_min_, r.key.bucket);
      auto [d, fresh] = day_.try_emplace(r.key, std::move(r.value));
      if (!fresh) d->second.Merge(r.value);
    } else {
      fine.push_back(std::move(r));
    }
  }
  out.rows[0] = WriteAndFold(std::move(fine), write_from[0], &hour_, 3600, &hour_min_);
  // The open hour's and day's rows stay; they are only looked at once one has closed.
  if (hour_min_ < c1h) {
    hour_min_ = Drain(&hour_, c1h, write_from[1], &out.rows[1], &day_, 86400, &day_min_);
  }
  if (day_min_ < c1d) {
    day_min_ = Drain(&day_, c1d, write_from[2], &out.rows[2], nullptr, 0, nullptr);
  }
  return out;
}

void RollupBuffer::Add(std::span<const Batch> batches) {
  auto count = [this, batches](int half) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const Batch& b : batches) fine_[half].Add(b.events, b.sources, b.sensor);
    half_seconds_[half] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  constexpr size_t kParallelFrom = 4096;  // below, a thread costs more than it saves
  size_t n = 0;
  for (const Batch& b : batches) n += b.events.size();
  if (n < kParallelFrom) {
    count(0);
    count(1);
    return;
  }
  std::thread other(count, 1);
  count(0);
  other.join();
}

void RollupBuffer::Clear() {
  for (Aggregator& a : fine_) (void)a.Take();
  hour_.clear();
  day_.clear();
  hour_min_ = day_min_ = INT64_MAX;
}

std::vector<Row> Coarsen(std::vector<Row>&& rows, Resolution to, bool sorted) {
  RowMap m;
  m.reserve(rows.size());
  const int64_t w = Seconds(to);
  for (Row& r : rows) {
    RowKey k = r.key;
    k.bucket = BucketStart(k.bucket, w);
    auto [it, fresh] = m.try_emplace(k, std::move(r.value));
    if (!fresh) it->second.Merge(r.value);
  }
  rows.clear();
  return sorted ? Sorted(&m) : Unsorted(&m);
}

std::string EncodePortCounts(PortCounts pc) {
  std::sort(pc.begin(), pc.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::string s;
  s.reserve(pc.size() * 6);
  for (auto [port, n] : pc) {
    const uint8_t b[6] = {static_cast<uint8_t>(port),    static_cast<uint8_t>(port >> 8),
                          static_cast<uint8_t>(n),       static_cast<uint8_t>(n >> 8),
                          static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 24)};
    s.append(reinterpret_cast<const char*>(b), 6);
  }
  return s;
}

}  // namespace isdas::rollup
