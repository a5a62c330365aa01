#include "rollup/rollup.h"

#include <pthread.h>

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
  const bool ports = e.proto == model::kProtoTcp || e.proto == model::kProtoUdp;
  if (ports) key(Family::kPort, e.dport);
  *n5 = n;
  if (ports) {
    // Families stored only daily are counted in daily buckets straight away, unless asked to
    // count them in 5-minute ones (then every key is a 5-minute one).
    if (!daily_by_5m_) k.bucket = BucketStart(k.bucket, 86400);
    key(Family::kPortCountry, uint64_t{e.dport} << 16 | cc);
    if (e.proto == model::kProtoTcp) key(Family::kPortFlags, uint64_t{e.dport} << 8 | e.tcp_flags);
  }
  if (daily_by_5m_) *n5 = n;
  return n;
}

RowMap* Aggregator::Find(std::vector<Table>* v, int64_t start) {
  // Newest first: events come nearly in time order, and an import may hold hundreds of
  // buckets' tables between its writes.
  for (auto t = v->rbegin(); t != v->rend(); ++t)
    if (t->start == start) return t->rows.get();
  return nullptr;
}

RowMap& Aggregator::TableFor(std::vector<Table>* v, int64_t start) {
  if (RowMap* m = Find(v, start)) return *m;
  auto m = std::make_unique<RowMap>();
  // As large as the last table taken out: a bucket's rows are not grown into one rehash at a
  // time (each a pass over the table).
  m->reserve(v == &by5_ ? hint5_ : hint1d_);
  v->push_back(Table{start, std::move(m)});
  return *v->back().rows;
}

void Aggregator::AddOne(const model::Event& e, const model::SourceInfo* s, uint32_t sensor) {
  RowKey keys[kMaxKeys];
  int n5;
  const int n = KeysOf(e, s, sensor, keys, &n5);
  const uint64_t hs = HashAddress(e.src);
  const uint64_t hd = HashAddress(e.dst);
  // All of an event's 5-minute keys share one bucket, and all its daily keys one day.
  RowMap* t5 = n5 > 0 ? &TableFor(&by5_, keys[0].bucket) : nullptr;
  RowMap* t1d = n > n5 ? &TableFor(&by1d_, keys[n5].bucket) : nullptr;
  for (int i = 0; i < n; ++i) {
    RowValue& v = (i < n5 ? *t5 : *t1d)[keys[i]];
    ++v.packets;
    v.first_us = std::min(v.first_us, e.ts_us);
    v.last_us = std::max(v.last_us, e.ts_us);
    v.sources.Add(hs);
    if (CountsDestinations(keys[i].family)) v.destinations.Add(hd);
  }
}

void Aggregator::Add(std::span<const model::Event> events,
                     std::span<const model::SourceInfo> sources, uint32_t sensor) {
  // The tables are far larger than the caches: the rows of the event a few places ahead are
  // fetched while this one is counted (perf: half the time was spent waiting for rows).
  constexpr size_t kAhead = 6;
  RowKey ahead[kMaxKeys];
  auto source = [&](size_t i) { return sources.empty() ? nullptr : &sources[i]; };
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + kAhead < events.size()) {
      int n5;
      const int n = KeysOf(events[i + kAhead], source(i + kAhead), sensor, ahead, &n5);
      RowMap* t5 = n5 > 0 ? Find(&by5_, ahead[0].bucket) : nullptr;
      RowMap* t1d = n > n5 ? Find(&by1d_, ahead[n5].bucket) : nullptr;
      for (int j = 0; j < n; ++j) {
        if (RowMap* t = j < n5 ? t5 : t1d) t->prefetch(ahead[j]);
      }
    }
    AddOne(events[i], source(i), sensor);
  }
}

void Aggregator::Add(std::span<const model::Event> events) {
  for (const model::Event& e : events) AddOne(e, nullptr, e.sensor_id);
}

size_t Aggregator::size() const {
  size_t n = 0;
  for (const auto* v : {&by5_, &by1d_})
    for (const Table& t : *v) n += t.rows->size();
  return n;
}

void Aggregator::TakeTables(std::vector<Table>* v, int64_t before, size_t* hint,
                            std::vector<RowMap>* out) {
  for (size_t i = 0; i < v->size();) {
    Table& t = (*v)[i];
    if (t.start >= before) {
      ++i;
      continue;
    }
    *hint = std::max(*hint, t.rows->size());
    out->push_back(std::move(*t.rows));
    (*v)[i] = std::move(v->back());
    v->pop_back();
  }
}

std::vector<RowMap> Aggregator::TakeBefore(int64_t before5, int64_t before1d) {
  std::vector<RowMap> out;
  TakeTables(&by5_, before5, &hint5_, &out);
  TakeTables(&by1d_, before1d, &hint1d_, &out);
  return out;
}

namespace {
// The rows of `maps` in no particular order; the maps are left empty.
std::vector<Row> Unsorted(std::vector<RowMap>&& maps) {
  std::vector<Row> out;
  size_t n = 0;
  for (const RowMap& m : maps) n += m.size();
  out.reserve(n);
  for (RowMap& m : maps) {
    for (auto& kv : m) out.push_back(Row{kv.first, std::move(kv.second)});
    m = RowMap();
  }
  return out;
}

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

}  // namespace

std::vector<Row> Aggregator::Take() { return SortRows(TakeUnsorted()); }

std::vector<Row> Aggregator::TakeUnsorted() { return Unsorted(TakeBefore(INT64_MAX, INT64_MAX)); }

void StoredRows::Add(const RowKey& key, const RowValue& value) {
  Row r{key, value.packets, value.first_us, value.last_us};
  r.sources_at = bytes_.size();
  value.sources.SerializeTo(&bytes_);
  r.sources_len = bytes_.size() - r.sources_at;
  r.destinations_at = bytes_.size();
  value.destinations.SerializeTo(&bytes_);
  r.destinations_len = bytes_.size() - r.destinations_at;
  rows_.push_back(r);
}

void StoredRows::SortByKey() {
  std::sort(rows_.begin(), rows_.end(), [](const Row& a, const Row& b) { return a.key < b.key; });
}

namespace {
// Folds a row into `coarser`, re-bucketed to `width` (`coarser_min` lowered to its bucket):
// moved there, its counters never copied.
void FoldInto(const RowKey& key, RowValue&& value, RowMap* coarser, int64_t width,
              int64_t* coarser_min) {
  RowKey k = key;
  k.bucket = BucketStart(k.bucket, width);
  *coarser_min = std::min(*coarser_min, k.bucket);
  auto [c, fresh] = coarser->try_emplace(k, std::move(value));
  if (!fresh) c->second.Merge(value);
}

// A row taken out: serialized into `write` when its bucket is at or after `write_from`, then
// folded into `coarser` when given.
void WriteAndFold(const RowKey& key, RowValue&& value, int64_t write_from, StoredRows* write,
                  RowMap* coarser, int64_t width, int64_t* coarser_min) {
  if (key.bucket >= write_from) write->Add(key, value);
  if (coarser) FoldInto(key, std::move(value), coarser, width, coarser_min);
}

// Takes the rows of `m` with bucket < before out (erased one by one: the table keeps its
// memory for the next hour or day), through WriteAndFold into `out`, sorted. Returns the
// earliest bucket left in `m`.
int64_t Drain(RowMap* m, int64_t before, int64_t write_from, StoredRows* out, RowMap* coarser,
              int64_t width, int64_t* coarser_min) {
  int64_t kept_min = INT64_MAX;
  for (auto it = m->begin(); it != m->end();) {
    if (it->first.bucket < before) {
      WriteAndFold(it->first, std::move(it->second), write_from, out, coarser, width, coarser_min);
      m->erase(it++);
    } else {
      kept_min = std::min(kept_min, it->first.bucket);
      ++it;
    }
  }
  out->SortByKey();
  return kept_min;
}
}  // namespace

RollupBuffer::Taken RollupBuffer::Take(int64_t c5) {
  Taken t;
  t.c5 = c5;
  const int64_t c1d = BucketStart(c5, 86400);
  for (int half : {0, 1}) t.tables[half] = fine_[half].TakeBefore(c5, c1d);
  return t;
}

void RollupBuffer::FoldHalf(int half, std::vector<RowMap>&& tables, int64_t c5,
                            const int64_t write_from[3], Out* out) {
  const int64_t c1h = BucketStart(c5, 3600), c1d = BucketStart(c5, 86400);
  if (half == 1) {
    // The port pairs, kept daily only: straight into the day's.
    for (RowMap& m : tables) {
      for (auto& [key, value] : m) FoldInto(key, std::move(value), &pairs_, 86400, &pairs_min_);
      m = RowMap();
    }
    if (pairs_min_ < c1d) {
      pairs_min_ = Drain(&pairs_, c1d, write_from[2], &out->rows[2], nullptr, 0, nullptr);
    }
    return;
  }
  for (RowMap& m : tables) {
    for (auto& [key, value] : m) {
      WriteAndFold(key, std::move(value), write_from[0], &out->rows[0], &hour_, 3600, &hour_min_);
    }
    m = RowMap();
  }
  out->rows[0].SortByKey();
  // The open hour's and day's rows stay; they are only looked at once one has closed.
  if (hour_min_ < c1h) {
    hour_min_ = Drain(&hour_, c1h, write_from[1], &out->rows[1], &day_, 86400, &day_min_);
  }
  if (day_min_ < c1d) {
    day_min_ = Drain(&day_, c1d, write_from[2], &out->rows[2], nullptr, 0, nullptr);
  }
}

RollupBuffer::Out RollupBuffer::Fold(Taken&& t, const int64_t write_from[3]) {
  Out out;
  for (int half : {0, 1}) FoldHalf(half, std::move(t.tables[half]), t.c5, write_from, &out);
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
  std::thread other([&count] {
    pthread_setname_np(pthread_self(), "isdas-count1");
    count(1);
  });
  count(0);
  other.join();
}

void RollupBuffer::Clear() {
  for (Aggregator& a : fine_) (void)a.TakeBefore(INT64_MAX, INT64_MAX);
  hour_.clear();
  day_.clear();
  pairs_.clear();
  hour_min_ = day_min_ = pairs_min_ = INT64_MAX;
}

std::vector<Row> Coarsen(std::vector<Row>&& rows, Resolution to, bool sorted) {
  std::vector<RowMap> maps(1);
  RowMap& m = maps[0];
  m.reserve(rows.size());
  const int64_t w = Seconds(to);
  for (Row& r : rows) {
    RowKey k = r.key;
    k.bucket = BucketStart(k.bucket, w);
    auto [it, fresh] = m.try_emplace(k, std::move(r.value));
    if (!fresh) it->second.Merge(r.value);
  }
  rows.clear();
  std::vector<Row> out = Unsorted(std::move(maps));
  return sorted ? SortRows(std::move(out)) : out;
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
