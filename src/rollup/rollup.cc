#include "rollup/rollup.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <tuple>

#include "rollup/fold.h"

namespace isdas::rollup {

int64_t Seconds(Resolution r) {
  switch (r) {
    case Resolution::k5m:
      return 300;
    case Resolution::k1h:
      return 3600;
    case Resolution::k1d:
      return 86400;
    case Resolution::k8d:
      return 8 * 86400;
    case Resolution::k64d:
      return 64 * 86400;
    case Resolution::k512d:
      return 512 * 86400;
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
    case Resolution::k8d:
      return "8d";
    case Resolution::k64d:
      return "64d";
    case Resolution::k512d:
      return "512d";
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
                        uint64_t{k.proto} << 16 | uint64_t{k.kind} << 10 | uint64_t{k.tool} << 6 |
                        uint64_t{k.spoof} << 1 | k.research;
  h ^= dims * 0xbf58476d1ce4e5b9ULL;
  // Mixed to the low bits (BucketRows indexes its slots by them; a pair's key holds the port
  // above the country, which alone would have clustered every port of a country together).
  h = (h ^ (h >> 31)) * 0x94d049bb133111ebULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

bool operator<(const RowKey& a, const RowKey& b) {
  return std::tie(a.family, a.bucket, a.key, a.sensor, a.proto, a.kind, a.tool, a.research,
                  a.spoof) < std::tie(b.family, b.bucket, b.key, b.sensor, b.proto, b.kind, b.tool,
                                      b.research, b.spoof);
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
  k.spoof = e.labels.spoof;
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
  // A non-first fragment has no transport header: it counts under its protocol and in the
  // totals, never under port 0.
  const bool ports = model::HasPorts(e);
  if (ports) key(Family::kPort, e.dport);
  *n5 = n;
  if (ports) {
    // Families stored only daily are counted in daily buckets straight away, unless asked to
    // count them in 5-minute ones (then every key is a 5-minute one).
    if (!daily_by_5m_) k.bucket = BucketStart(k.bucket, 86400);
    key(Family::kPortCountry, PortCountryKey(e.dport, cc));
    if (e.proto == model::kProtoTcp) key(Family::kPortFlags, PortFlagsKey(e.dport, e.tcp_flags));
  }
  if (daily_by_5m_) *n5 = n;
  return n;
}

BucketRows::BucketRows(size_t expect) {
  size_t cap = 16;
  while (cap < 2 * expect) cap *= 2;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  rows_.reserve(expect);
}

uint32_t BucketRows::FindOrAdd(const RowKey& key, size_t hash) {
  if ((rows_.size() + 1) * 2 > slots_.size()) Grow();  // room for one more, at most half full
  const uint64_t dims = Dims(key);
  const uint8_t used = Used(key);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.used == 0) {
      s = Slot{key.key, dims, static_cast<uint32_t>(rows_.size()), static_cast<uint32_t>(hash),
               used};
      rows_.emplace_back();
      rows_.back().key = key;
      return s.row;
    }
    if (s.key == key.key && s.dims == dims && s.used == used) return s.row;
  }
}

void BucketRows::Grow() {
  std::vector<Slot, HugePageAllocator<Slot>> old(slots_.size() * 2, Slot{});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& o : old) {
    if (o.used == 0) continue;
    size_t i = o.hash & mask_;
    while (slots_[i].used != 0) i = (i + 1) & mask_;
    slots_[i] = o;
  }
}

RowVector BucketRows::TakeRows() {
  RowVector out = std::move(rows_);
  rows_ = {};
  slots_.assign(16, Slot{});  // usable again, empty
  mask_ = slots_.size() - 1;
  return out;
}

BucketRows& RowTables::For(int64_t bucket) {
  // The table asked for last, then newest first: events come nearly in time order, and rows
  // re-bucketed (Coarsen) come a family at a time, in bucket order; an import may hold
  // hundreds of buckets' tables.
  if (last_ < tables_.size() && tables_[last_].start == bucket) return *tables_[last_].rows;
  for (size_t i = tables_.size(); i-- > 0;) {
    if (tables_[i].start == bucket) {
      last_ = i;
      return *tables_[i].rows;
    }
  }
  // As large as the largest table taken out: a bucket's rows are not grown into one rehash
  // at a time (each a pass over the table).
  tables_.push_back(Table{bucket, std::make_unique<BucketRows>(hint_)});
  last_ = tables_.size() - 1;
  return *tables_.back().rows;
}

void RowTables::TakeBefore(int64_t before, std::vector<RowVector>* out) {
  for (size_t i = 0; i < tables_.size();) {
    Table& t = tables_[i];
    if (t.start >= before) {
      ++i;
      continue;
    }
    hint_ = std::max(hint_, t.rows->size());
    out->push_back(t.rows->TakeRows());
    tables_[i] = std::move(tables_.back());
    tables_.pop_back();
  }
}

size_t RowTables::size() const {
  size_t n = 0;
  for (const Table& t : tables_) n += t.rows->size();
  return n;
}

template <typename EventAt, typename SourceAt, typename SensorAt>
void Aggregator::AddStaged(size_t n, EventAt event, SourceAt source, SensorAt sensor) {
  // A count is three dependent reads: the slot, the row, the counter's memory. A makes an
  // event's keys and fetches their slots; B finds (or makes) the rows and fetches them; C
  // fetches the rows' counters' memory; D counts.
  struct Staged {
    RowKey keys[kMaxKeys];
    size_t hash[kMaxKeys];
    BucketRows* table[kMaxKeys];
    uint32_t row[kMaxKeys];
    uint64_t hs, hd;
    int n;
  };
  Pipelined<Staged>(
      n,
      [&](size_t i, Staged& s) ISDAS_INLINE {
        const model::Event& e = event(i);
        int n5;
        s.n = KeysOf(e, source(i), sensor(i), s.keys, &n5);
        // All of an event's 5-minute keys share one bucket, and all its daily keys one day.
        BucketRows* t5 = n5 > 0 ? &by5_.For(s.keys[0].bucket) : nullptr;
        BucketRows* t1d = s.n > n5 ? &by1d_.For(s.keys[n5].bucket) : nullptr;
        for (int k = 0; k < s.n; ++k) {
          s.table[k] = k < n5 ? t5 : t1d;
          s.hash[k] = RowKeyHash()(s.keys[k]);
          __builtin_prefetch(s.table[k]->SlotFor(s.hash[k]));
        }
        s.hs = HashAddress(e.src);
        s.hd = HashAddress(e.dst);
      },
      [](size_t, Staged& s) ISDAS_INLINE {
        for (int k = 0; k < s.n; ++k) {
          s.row[k] = s.table[k]->FindOrAdd(s.keys[k], s.hash[k]);
          s.table[k]->PrefetchValue(s.row[k]);
        }
      },
      [](size_t, Staged& s) ISDAS_INLINE {
        for (int k = 0; k < s.n; ++k) {
          const RowValue& v = s.table[k]->row(s.row[k]).value;
          v.sources.Prefetch(s.hs);
          if (CountsDestinations(s.keys[k].family)) v.destinations.Prefetch(s.hd);
        }
      },
      [&](size_t i, Staged& s) ISDAS_INLINE {
        const int64_t ts = event(i).ts_us;
        for (int k = 0; k < s.n; ++k) {
          RowValue& v = s.table[k]->row(s.row[k]).value;
          ++v.packets;
          v.first_us = std::min(v.first_us, ts);
          v.last_us = std::max(v.last_us, ts);
          v.sources.Add(s.hs);
          if (CountsDestinations(s.keys[k].family)) v.destinations.Add(s.hd);
        }
      });
}

void Aggregator::Add(std::span<const model::Event> events,
                     std::span<const model::SourceInfo> sources, uint32_t sensor) {
  AddStaged(
      events.size(), [events](size_t i) -> const model::Event& { return events[i]; },
      [sources](size_t i) { return sources.empty() ? nullptr : &sources[i]; },
      [sensor](size_t) { return sensor; });
}

void Aggregator::Add(std::span<const model::Event> events) { Add(events, {}); }

void Aggregator::Add(std::span<const model::Event> events,
                     std::span<const model::SourceInfo> sources) {
  AddStaged(
      events.size(), [events](size_t i) -> const model::Event& { return events[i]; },
      [sources](size_t i) { return sources.empty() ? nullptr : &sources[i]; },
      [events](size_t i) { return events[i].sensor_id; });
}

size_t Aggregator::size() const { return by5_.size() + by1d_.size(); }

std::vector<RowVector> Aggregator::TakeBefore(int64_t before5, int64_t before1d) {
  std::vector<RowVector> out;
  by5_.TakeBefore(before5, &out);
  by1d_.TakeBefore(before1d, &out);
  return out;
}

namespace {
// The rows of `tables` in one vector, in no particular order; the tables are left empty.
std::vector<Row> Unsorted(std::vector<RowVector>&& tables) {
  std::vector<Row> out;
  size_t n = 0;
  for (const auto& t : tables) n += t.size();
  out.reserve(n);
  for (auto& t : tables) {
    for (Row& r : t) out.push_back(std::move(r));
    t = {};
  }
  return out;
}

// Rows in key order (the order of SQLite's rollup packs: each pack's rows come together). Sorts the
// keys in one array (comparing keys spread over the heap was a cache miss each), then moves each
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

std::vector<Row> Coarsen(std::vector<Row>&& rows, Resolution to, bool sorted) {
  RowTables coarse;
  FoldInto(std::span(rows), &coarse, Seconds(to), [](const Row&) {});
  rows.clear();
  std::vector<RowVector> tables;
  coarse.TakeBefore(INT64_MAX, &tables);
  std::vector<Row> out = Unsorted(std::move(tables));
  return sorted ? SortRows(std::move(out)) : out;
}

}  // namespace isdas::rollup
