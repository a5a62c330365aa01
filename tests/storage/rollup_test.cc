// Rollups against brute force, on every engine: generated events (many on or next to 5-minute,
// hour and day boundaries, three sensors, IPv4 and IPv6, research scanners among them) are
// stored as sensor batches; then every answer of the read side — top keys of each family over
// windows that cross boundaries, series in several time zones, one source address — is
// compared with counts computed here, directly from the events. Then retention cuts the raw
// events and the 5-minute rows, and the same comparisons run over what the plan says it covers.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "query/plan.h"
#include "query/queries.h"
#include "storage/port_totals.h"
#include "storage/rollup_packs.h"
#include "tests/storage/engines.h"

namespace isdas::storage {
namespace {

using query::Filter;
using query::GroupBy;
using rollup::Family;

constexpr int64_t kDay0 = 1795651200;  // 2026-11-26T00:00:00Z
constexpr int kDays = 3;
const char* kSensors[] = {"s-a", "s-b", "s-c"};
const char* kCountries[] = {"JP", "CN", "US", "XP", "ZZ", "KR"};

struct Stored {
  model::Event e;
  SourceInfo si;
  int sensor;  // index into kSensors
};

std::vector<Stored> Generate(uint32_t seed, int n, int64_t day0 = kDay0, int days = kDays) {
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t k) { return static_cast<int>(rng() % k); };
  const uint16_t hot[] = {23, 22, 80, 445, 3389, 8080, 5060, 53, 123};
  std::vector<Stored> out;
  for (int i = 0; i < n; ++i) {
    Stored s;
    model::Event& e = s.e;
    int64_t t = day0 * 1000000 + static_cast<int64_t>(rng() % (uint64_t(days) * 86400000000));
    if (pick(10) < 3) {  // on or beside a boundary
      const int64_t w = (pick(3) == 0 ? 300 : pick(2) == 0 ? 3600 : 86400) * int64_t{1000000};
      t = rollup::BucketStart(t, w) + (pick(3) - 1);
      if (t < day0 * 1000000) t = day0 * 1000000;
    }
    e.ts_us = t;
    const int r = pick(10);
    e.proto = r < 6 ? model::kProtoTcp : r < 9 ? model::kProtoUdp : model::kProtoIcmp;
    const uint32_t src = static_cast<uint32_t>(pick(1500));
    if (src % 7 == 0) {
      uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
      b[14] = static_cast<uint8_t>(src >> 8);
      b[15] = static_cast<uint8_t>(src);
      e.src = model::IpAddr::V6(b);
      e.dst = model::IpAddr::V6(b);
      e.dst.bytes[13] = static_cast<uint8_t>(pick(4));
    } else {
      e.src = model::IpAddr::V4(0x0a000000 + src * 2654435761u % 0x00ffffff);
      e.dst = model::IpAddr::V4(0xc6120000 + static_cast<uint32_t>(pick(600)));
    }
    if (e.proto != model::kProtoIcmp) {
      e.dport = pick(3) == 0 ? static_cast<uint16_t>(pick(65536)) : hot[pick(9)];
      e.sport = static_cast<uint16_t>(pick(65536));
      if (e.proto == model::kProtoUdp && src % 23 == 5) {
        // A non-first fragment: no transport header, so no port (0 in the event, not port 0).
        e.flags = model::kFlagFragment | model::kFlagNonFirstFragment;
        e.dport = e.sport = 0;
      }
    } else {
      e.icmp_type = 8;
    }
    if (e.proto == model::kProtoTcp) e.tcp_flags = pick(5) == 0 ? 0x12 : 0x02;
    e.labels.kind = static_cast<model::TrafficKind>(pick(3));
    e.labels.tool = static_cast<model::Tool>(pick(5));
    // Spoof suspicion on about one event in eight, one or two reasons.
    if (pick(8) == 0) e.labels.spoof = static_cast<uint8_t>(1 << pick(4) | (pick(3) == 0 ? 4 : 0));
    const char* cc = kCountries[src % 6];
    s.si.country[0] = cc[0];
    s.si.country[1] = cc[1];
    s.si.asn = src % 11 == 0 ? 0 : 64500 + src % 13;
    s.si.research = src % 20 == 0;
    s.sensor = pick(3);
    out.push_back(s);
  }
  return out;
}

bool Matches(const Stored& s, const Filter& f) {
  if (f.proto >= 0 && s.e.proto != f.proto) return false;
  if (f.kind >= 0 && static_cast<int>(s.e.labels.kind) != f.kind) return false;
  if (f.tool >= 0 && static_cast<int>(s.e.labels.tool) != f.tool) return false;
  if (f.exclude_research && s.si.research) return false;
  if (f.spoof == 0 && s.e.labels.spoof != 0) return false;
  if (f.spoof == query::kSpoofSuspected && s.e.labels.spoof == 0) return false;
  if (f.spoof > 0 && f.spoof != query::kSpoofSuspected && !(s.e.labels.spoof & f.spoof)) {
    return false;
  }
  if (!f.sensors.empty() &&
      std::find(f.sensors.begin(), f.sensors.end(), kSensors[s.sensor]) == f.sensors.end())
    return false;
  return true;
}

// The family's key of an event, written out plainly; false when the family does not count it.
bool KeyOf(const Stored& s, Family f, uint64_t* key) {
  const bool ports = model::HasPorts(s.e);
  const uint64_t cc = static_cast<uint64_t>(s.si.country[0]) * 256 + s.si.country[1];
  switch (f) {
    case Family::kTotal:
      *key = 0;
      return true;
    case Family::kPort:
      *key = s.e.dport;
      return ports;
    case Family::kCountry:
      *key = cc;
      return true;
    case Family::kAsn:
      *key = s.si.asn;
      return true;
    case Family::kPortCountry:
      *key = uint64_t{s.e.dport} * 65536 + cc;
      return ports;
    case Family::kPortAsn:  // retired: never written
      *key = 0;
      return false;
    case Family::kPortFlags:
      *key = uint64_t{s.e.dport} * 256 + s.e.tcp_flags;
      return s.e.proto == model::kProtoTcp;
  }
  return false;
}

struct Truth {
  uint64_t packets = 0;
  std::set<std::string> srcs, dsts;
  int64_t first = INT64_MAX, last = INT64_MIN;
  void Add(const Stored& s) {
    ++packets;
    srcs.insert(s.e.src.ToString());
    dsts.insert(s.e.dst.ToString());
    first = std::min(first, s.e.ts_us);
    last = std::max(last, s.e.ts_us);
  }
};

// Exact up to 256 distinct values; beyond, HyperLogLog within 5 % (over 3 standard errors).
void ExpectDistinct(uint64_t got, size_t truth, const std::string& what) {
  if (truth <= rollup::DistinctCounter::kExactLimit) {
    EXPECT_EQ(got, truth) << what;
  } else {
    EXPECT_NEAR(static_cast<double>(got), static_cast<double>(truth), 0.05 * truth) << what;
  }
}

class Rollups : public ::testing::TestWithParam<Engine> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    ASSERT_TRUE(store_);
    events_ = Generate(20261127, 24000);
    // Batches of up to 400 events per sensor, in generation (not time) order.
    StoreEvents(400);
  }

  // Stores events_ as sensor batches of up to `per_batch` events each (one sensor a batch, in
  // the order of events_), committed 7 batches at a time, then writes every rollup.
  void StoreEvents(size_t per_batch) {
    std::vector<SensorBatch> batches;
    std::vector<SensorBatch> open(3);
    uint64_t seq = 0;
    for (const Stored& s : events_) {
      SensorBatch& b = open[s.sensor];
      b.events.push_back(s.e);
      b.sources.push_back(s.si);
      if (b.events.size() == per_batch) {
        b.sensor_id = kSensors[s.sensor];
        b.epoch = 1;
        b.seq = ++seq;
        batches.push_back(std::move(b));
        b = SensorBatch();
      }
    }
    for (int i = 0; i < 3; ++i) {
      if (open[i].events.empty()) continue;
      open[i].sensor_id = kSensors[i];
      open[i].epoch = 1;
      open[i].seq = ++seq;
      batches.push_back(std::move(open[i]));
    }
    for (size_t i = 0; i < batches.size(); i += 7) {  // group commits of 7
      std::vector<SensorBatch*> group;
      for (size_t j = i; j < std::min(batches.size(), i + 7); ++j) group.push_back(&batches[j]);
      auto r = store_->CommitBatches(group, 1);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    ASSERT_TRUE(store_->FlushRollups(true).ok());
    one_bucket_batches_ = 0;
    for (const SensorBatch& b : batches) {
      int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (const model::Event& e : b.events) {
        lo = std::min(lo, rollup::BucketStart(e.ts_us, 300000000));
        hi = std::max(hi, rollup::BucketStart(e.ts_us, 300000000));
      }
      one_bucket_batches_ += lo == hi;
    }
    batches_ = batches.size();
  }

  std::map<uint64_t, Truth> BruteTop(Family fam, int64_t from_s, int64_t to_s, const Filter& f,
                                     uint64_t lo = 0, uint64_t hi = UINT64_MAX) {
    std::map<uint64_t, Truth> m;
    for (const Stored& s : events_) {
      const int64_t t = rollup::BucketStart(s.e.ts_us, 1000000) / 1000000;
      uint64_t key;
      if (t < from_s || t >= to_s || !Matches(s, f) || !KeyOf(s, fam, &key)) continue;
      if (key < lo || key > hi) continue;
      m[key].Add(s);
    }
    return m;
  }

  // Compares the store's top `limit` (after `offset`) with brute force over the plan's window.
  void CheckTop(Family fam, int64_t from_s, int64_t to_s, const Filter& f, size_t limit,
                size_t offset, const query::Availability& avail, uint64_t lo = 0,
                uint64_t hi = UINT64_MAX >> 1) {
    const query::TopPlan plan = query::PlanTop(from_s, to_s, avail, rollup::Finest(fam));
    query::TopQuery q;
    q.family = fam;
    q.segments = plan.segments;
    q.filter = f;
    q.limit = limit;
    q.offset = offset;
    q.key_lo = lo;
    q.key_hi = hi;
    // Top ports from port-total blobs (SQLite) read heads of 256 ports, then whole blobs;
    // heads of 1 and 3 ports make every way through it happen with this much data.
    for (size_t head : {size_t{256}, size_t{3}, size_t{1}}) {
      q.head = head;
      CheckTopAnswer(q, plan, f, lo, hi);
      if (fam != Family::kPort) break;
    }
  }

  void CheckTopAnswer(const query::TopQuery& q, const query::TopPlan& plan, const Filter& f,
                      uint64_t lo, uint64_t hi) {
    const Family fam = q.family;
    const size_t limit = q.limit, offset = q.offset;
    query::Queries qs(store_.get());
    auto got = qs.Top(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    auto truth = BruteTop(fam, plan.from_s, plan.to_s, f, lo, hi);
    std::vector<std::pair<uint64_t, const Truth*>> ranked;
    for (auto& [k, t] : truth) ranked.emplace_back(k, &t);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second->packets != b.second->packets ? a.second->packets > b.second->packets
                                                    : a.first < b.first;
    });
    const std::string what = std::string(rollup::Name(fam)) + " [" +
                             std::to_string(plan.from_s - kDay0) + ", " +
                             std::to_string(plan.to_s - kDay0) + ") head " + std::to_string(q.head);
    const size_t expect = offset >= ranked.size() ? 0 : std::min(limit, ranked.size() - offset);
    ASSERT_EQ(got->rows.size(), expect) << what;
    EXPECT_EQ(got->more, offset + limit < ranked.size()) << what;
    for (size_t i = 0; i < expect; ++i) {
      const auto& [key, t] = ranked[offset + i];
      const query::TopRow& row = got->rows[i];
      const std::string at = what + " row " + std::to_string(i) + " key " + std::to_string(key);
      EXPECT_EQ(row.group, key) << at;
      EXPECT_EQ(row.packets, t->packets) << at;
      EXPECT_EQ(row.first_us, t->first) << at;
      EXPECT_EQ(row.last_us, t->last) << at;
      ExpectDistinct(row.sources, t->srcs.size(), at + " sources");
      // The port pairs count no destinations (docs/rollups.md).
      const bool pair = fam == Family::kPortCountry || fam == Family::kPortFlags;
      ExpectDistinct(row.destinations, pair ? 0 : t->dsts.size(), at + " destinations");
    }
  }

  void CheckSeries(Family fam, std::vector<uint64_t> keys, int64_t from_s, int64_t to_s,
                   int64_t step, int64_t tz, const Filter& f, const query::Availability& avail) {
    auto plan = query::PlanSeries(from_s, to_s, step, tz, avail);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    query::SeriesQuery q;
    q.family = fam;
    q.res = plan->res;
    q.from_s = plan->from_s;
    q.to_s = plan->to_s;
    q.step_s = step;
    q.tz_s = tz;
    q.filter = f;
    q.keys = keys;
    query::Queries qs(store_.get());
    auto got = qs.Series(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    std::map<std::pair<uint64_t, int64_t>, Truth> truth;
    for (const Stored& s : events_) {
      const int64_t t = rollup::BucketStart(s.e.ts_us, 1000000) / 1000000;
      uint64_t key;
      if (t < plan->from_s || t >= plan->to_s || !Matches(s, f) || !KeyOf(s, fam, &key)) continue;
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
      truth[{key, rollup::BucketStart(t + tz, step) - tz}].Add(s);
    }
    const size_t buckets = static_cast<size_t>((plan->to_s - plan->from_s) / step);
    ASSERT_EQ(got->size(), keys.size() * buckets) << "tz " << tz << " step " << step;
    for (const query::SeriesPoint& p : got.value()) {
      const std::string at = "key " + std::to_string(p.key) + " bucket " +
                             std::to_string(p.bucket_s - kDay0) + " tz " + std::to_string(tz) +
                             " step " + std::to_string(step);
      EXPECT_EQ((p.bucket_s + tz) % step, 0) << at;
      auto it = truth.find({p.key, p.bucket_s});
      if (it == truth.end()) {
        EXPECT_EQ(p.packets, 0u) << at;
        continue;
      }
      EXPECT_EQ(p.packets, it->second.packets) << at;
      ExpectDistinct(p.sources, it->second.srcs.size(), at + " sources");
      ExpectDistinct(p.destinations, it->second.dsts.size(), at + " destinations");
      truth.erase(it);
    }
    EXPECT_TRUE(truth.empty()) << truth.size() << " buckets with events are missing";
  }

  std::unique_ptr<IngestStore> store_;
  std::vector<Stored> events_;
  size_t batches_ = 0, one_bucket_batches_ = 0;  // of the last StoreEvents
};

const int64_t kNowUs = (kDay0 + (kDays + 1) * 86400) * 1000000;  // a day after the data ends

TEST_P(Rollups, TopKeysOfEveryFamilyMatchBruteForce) {
  const auto avail =
      query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, store_->CoarseThrough());  // keep all
  const int64_t all_from = kDay0, all_to = kDay0 + kDays * 86400;
  // Windows: everything; a day plus ragged edges; within one hour; one 5-minute bucket; a
  // request not on 5-minute boundaries (widened to them).
  const std::pair<int64_t, int64_t> windows[] = {
      {all_from, all_to},
      {kDay0 + 86400 - 3 * 3600 - 600, kDay0 + 2 * 86400 + 3600 + 300},
      {kDay0 + 7200 + 900, kDay0 + 7200 + 2700},
      {kDay0 + 86400, kDay0 + 86400 + 300},
      {kDay0 + 3600 + 7, kDay0 + 3 * 3600 - 13},
  };
  for (auto [from, to] : windows) {
    for (int f = 0; f < rollup::kFamilies; ++f) {
      CheckTop(static_cast<Family>(f), from, to, Filter{}, 10, 0, avail);
    }
  }
}

// Batches as a live sensor sends them: in time order, a few minutes of traffic each, so some
// lie in one 5-minute bucket and others straddle two. (ClickHouse writes the hourly and daily
// rows of a one-bucket batch from its 5-minute rows, and coarsens the others; SQLite closes
// buckets as it would live.) Every family over windows across boundaries, against brute force.
TEST_P(Rollups, TimeOrderedBatchesMatchBruteForce) {
  store_ = GetParam().make();
  ASSERT_TRUE(store_);
  events_ = Generate(11, 6000);
  std::sort(events_.begin(), events_.end(),
            [](const Stored& a, const Stored& b) { return a.e.ts_us < b.e.ts_us; });
  StoreEvents(6);
  // Both kinds of batch happened (about a fifth lie in one bucket).
  EXPECT_GT(one_bucket_batches_, batches_ / 10);
  EXPECT_LT(one_bucket_batches_, batches_);
  const auto avail =
      query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, store_->CoarseThrough());
  for (auto [from, to] : {std::pair{kDay0, kDay0 + kDays * 86400},
                          {kDay0 + 86400 - 3 * 3600 - 600, kDay0 + 2 * 86400 + 3600 + 300},
                          {kDay0 + 7200 + 900, kDay0 + 7200 + 2700}}) {
    for (int f = 0; f < rollup::kFamilies; ++f) {
      CheckTop(static_cast<Family>(f), from, to, Filter{}, 10, 0, avail);
    }
  }
}

TEST_P(Rollups, FiltersAndPagesMatchBruteForce) {
  const auto avail =
      query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, store_->CoarseThrough());
  const int64_t from = kDay0 + 5 * 3600 + 300, to = kDay0 + 2 * 86400 + 600;
  Filter tcp;
  tcp.proto = model::kProtoTcp;
  Filter scans_b;
  scans_b.kind = 1;
  scans_b.sensors = {"s-b"};
  Filter no_research;
  no_research.exclude_research = true;
  no_research.tool = 3;
  Filter two;
  two.sensors = {"s-a", "s-c"};
  two.proto = model::kProtoUdp;
  // Spoof suspicion: none, any, and one reason (bit 4 is on about half the suspected events,
  // alone or with another).
  Filter clean, suspected, high_ttl;
  clean.spoof = 0;
  suspected.spoof = query::kSpoofSuspected;
  high_ttl.spoof = model::kSpoofHighTtlNoOptions;
  high_ttl.proto = model::kProtoTcp;
  for (const Filter& f : {tcp, scans_b, no_research, two, clean, suspected, high_ttl}) {
    CheckTop(Family::kPort, from, to, f, 10, 0, avail);
    CheckTop(Family::kCountry, from, to, f, 5, 0, avail);
  }
  // Pages: 25 at a time through the whole ranking, and past its end.
  for (size_t off = 0; off < 150; off += 25) CheckTop(Family::kPort, from, to, tcp, 25, off, avail);
  CheckTop(Family::kPort, from, to, tcp, 25, 1000000, avail);
  // Unfiltered port pages (on SQLite: summed from the per-bucket port totals).
  for (size_t off = 0; off < 100; off += 30)
    CheckTop(Family::kPort, from, to, Filter{}, 30, off, avail);
  // One port's countries (the detail page): keys of port 23 only.
  CheckTop(Family::kPortCountry, from, to, Filter{}, 10, 0, avail, 23ull << 16, (24ull << 16) - 1);
  CheckTop(Family::kPortFlags, from, to, tcp, 10, 0, avail, 23ull << 8, (24ull << 8) - 1);
}

TEST_P(Rollups, GroupingByFilterDimensionsMatchesBruteForce) {
  const auto avail =
      query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, store_->CoarseThrough());
  const query::TopPlan plan = query::PlanTop(kDay0 + 600, kDay0 + 86400 + 1800, avail);
  query::Queries qs(store_.get());
  for (GroupBy by :
       {GroupBy::kSensor, GroupBy::kKind, GroupBy::kTool, GroupBy::kProto, GroupBy::kSpoof}) {
    query::TopQuery q;
    q.family = Family::kTotal;
    q.segments = plan.segments;
    q.by = by;
    q.limit = 20;
    auto got = qs.Top(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    std::map<std::string, uint64_t> truth;
    for (const Stored& s : events_) {
      const int64_t t = rollup::BucketStart(s.e.ts_us, 1000000) / 1000000;
      if (t < plan.from_s || t >= plan.to_s) continue;
      truth[by == GroupBy::kSensor  ? kSensors[s.sensor]
            : by == GroupBy::kKind  ? std::to_string(static_cast<int>(s.e.labels.kind))
            : by == GroupBy::kTool  ? std::to_string(static_cast<int>(s.e.labels.tool))
            : by == GroupBy::kSpoof ? std::to_string(static_cast<int>(s.e.labels.spoof))
                                    : std::to_string(s.e.proto)]++;
    }
    ASSERT_EQ(got->rows.size(), truth.size());
    for (const query::TopRow& r : got->rows) {
      const std::string g = by == GroupBy::kSensor ? r.sensor : std::to_string(r.group);
      EXPECT_EQ(r.packets, truth[g]) << g;
    }
  }
}

TEST_P(Rollups, SeriesInSeveralTimeZonesMatchBruteForce) {
  const auto avail =
      query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, store_->CoarseThrough());
  const int64_t from = kDay0, to = kDay0 + kDays * 86400;
  CheckSeries(Family::kPort, {23, 445, 9999}, from, to, 86400, 0, Filter{}, avail);  // UTC days
  CheckSeries(Family::kPort, {23, 80}, from, to, 86400, 9 * 3600, Filter{}, avail);  // JST days
  CheckSeries(Family::kCountry, {rollup::CountryKey("JP")}, from, to, 86400, 19800, Filter{},
              avail);  // India, +05:30: from 5-minute rows
  CheckSeries(Family::kTotal, {0}, from + 3600, from + 86400, 3600, -3 * 3600, Filter{},
              avail);  // hourly, UTC-3
  Filter f;
  f.sensors = {"s-c"};
  f.exclude_research = true;
  CheckSeries(Family::kPort, {22}, from + 86400 - 1800, from + 86400 + 1800, 300, 0, f, avail);
}

TEST_P(Rollups, SourceAddressMatchesBruteForce) {
  query::Queries qs(store_.get());
  // The busiest IPv4 source and one IPv6 source.
  std::map<std::string, int> counts;
  for (const Stored& s : events_) counts[s.e.src.ToString()]++;
  for (const std::string& addr : {std::string("2001:db8::7"), std::string()}) {
    std::string a = addr;
    if (a.empty()) {
      a = std::max_element(counts.begin(), counts.end(), [](auto& x, auto& y) {
            return x.second < y.second || (x.second == y.second && x.first > y.first);
          })->first;
    }
    query::SourceQuery q;
    ASSERT_TRUE(model::IpAddr::Parse(a, &q.addr)) << a;
    q.from_us = kDay0 * 1000000;
    q.to_us = (kDay0 + kDays * 86400) * 1000000;
    q.limit = 5;
    auto got = qs.Source(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    Truth t;
    std::map<std::pair<int, int>, uint64_t> ports;
    std::map<std::string, uint64_t> sensors;
    for (const Stored& s : events_) {
      if (s.e.src.ToString() != a) continue;
      t.Add(s);
      ports[{s.e.proto, model::HasPorts(s.e) ? s.e.dport : -1}]++;  // -1: no port
      sensors[kSensors[s.sensor]]++;
    }
    ASSERT_GT(t.packets, 0u) << a;
    EXPECT_EQ(got->packets, t.packets) << a;
    EXPECT_EQ(got->first_us, t.first);
    EXPECT_EQ(got->last_us, t.last);
    EXPECT_EQ(got->ports.size(), std::min<size_t>(5, ports.size()));
    EXPECT_EQ(got->more_ports, ports.size() > 5);
    for (const auto& p : got->ports) EXPECT_EQ(p.packets, (ports[{p.proto, p.port}])) << a;
    ASSERT_EQ(got->sensors.size(), sensors.size());
    for (const auto& [name, n] : got->sensors) EXPECT_EQ(n, sensors[name]) << name;
    EXPECT_EQ(got->country.size(), 2u);
  }
}

TEST_P(Rollups, PortAsnsFromEventsMatchBruteForce) {
  query::Queries qs(store_.get());
  Filter f;
  f.exclude_research = true;
  const int64_t from = (kDay0 + 3600) * 1000000, to = (kDay0 + 2 * 86400) * 1000000;
  auto got = qs.PortAsns(23, from, to, f, 5);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  std::map<uint32_t, Truth> truth;
  for (const Stored& s : events_) {
    if (s.e.dport != 23 || !model::HasPorts(s.e) || s.si.research) continue;
    if (s.e.ts_us < from || s.e.ts_us >= to) continue;
    truth[s.si.asn].Add(s);
  }
  std::vector<std::pair<uint64_t, uint32_t>> ranked;
  for (auto& [asn, t] : truth) ranked.emplace_back(t.packets, asn);
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  ASSERT_EQ(got->size(), std::min<size_t>(5, ranked.size()));
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_EQ(got->at(i).group, ranked[i].second);
    EXPECT_EQ(got->at(i).packets, ranked[i].first);
    EXPECT_EQ(got->at(i).sources, truth[ranked[i].second].srcs.size());
  }
}

TEST_P(Rollups, RetentionCutsWholeBucketsAndPlansStayExact) {
  // Raw events 2 days, 5-minute rows 3 days, hourly rows 3.5 days (in days: 4 → cut at
  // kDay0), daily for ever. "Now" is a day after the data ends.
  Retention ret;
  ret.raw_days = 2;
  ret.r5m_days = 3;
  ret.r1h_days = 4;
  ret.r1d_days = 0;
  auto rep = store_->Expire(ret, kNowUs);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  const int64_t raw_cut = kNowUs - 2 * 86400 * int64_t{1000000};
  uint64_t older = 0;
  for (const Stored& s : events_) older += s.e.ts_us < raw_cut;
  EXPECT_EQ(rep->events, older);
  EXPECT_GT(rep->rollup_rows[0], 0u);
  EXPECT_EQ(rep->rollup_rows[1], 0u);  // nothing before kDay0
  EXPECT_EQ(rep->rollup_rows[2], 0u);
  // ClickHouse deletes in the background: wait (bounded) until the events are gone.
  for (int i = 0; i < 300 && store_->CountEvents().value() != events_.size() - older; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(store_->CountEvents().value(), events_.size() - older);

  const auto avail = query::Availability::Of(ret, kNowUs, store_->CoarseThrough());
  EXPECT_EQ(avail.from_s[0], kDay0 + 86400);
  // A window starting inside expired 5-minute data is widened to the hour, and is exact.
  const query::TopPlan p = query::PlanTop(kDay0 + 600, kDay0 + 2 * 86400 + 2100, avail);
  EXPECT_EQ(p.from_s, kDay0);
  EXPECT_EQ(p.to_s, kDay0 + 2 * 86400 + 2100);
  for (const query::Segment& s : p.segments) {
    EXPECT_GE(s.from_s, avail.from_s[static_cast<int>(s.res)]) << rollup::Name(s.res);
  }
  CheckTop(Family::kPort, kDay0 + 600, kDay0 + 2 * 86400 + 2100, Filter{}, 10, 0, avail);
  CheckTop(Family::kCountry, kDay0 + 3 * 3600 + 600, kDay0 + 3 * 3600 + 1200, Filter{}, 10, 0,
           avail);
  // 5-minute series over expired time start where the 5-minute rows do.
  CheckSeries(Family::kPort, {23}, kDay0, kDay0 + 2 * 86400, 300, 0, Filter{}, avail);
  CheckSeries(Family::kPort, {23}, kDay0, kDay0 + 3 * 86400, 86400, 9 * 3600, Filter{}, avail);
  // A second pass finds nothing more to delete (whole buckets, same cut-off).
  auto again = store_->Expire(ret, kNowUs);
  ASSERT_TRUE(again.ok());
  if (std::string(GetParam().name) == "sqlite") {
    EXPECT_EQ(again->events, 0u);
    EXPECT_EQ(again->rollup_rows[0], 0u);
  }
}

// Top ports from the heads of SQLite's port-total blobs (docs/rollups.md, "Top ports"): traffic
// skewed as a darknet's is, with each day ranking the hot ports differently, so a small head
// leaves candidates out of some blobs. Every answer — heads alone, heads plus whole blobs, every
// blob summed — must equal brute force, and each of those ways must occur.
TEST(SqliteRollups, TopPortsFromBlobHeadsMatchBruteForce) {
  char tmpl[] = "/tmp/isdas_heads_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::mt19937_64 rng(99);
  std::vector<model::Event> events;
  for (int day = 0; day < 4; ++day) {
    uint16_t hot[12];  // this day's ranking of the hot ports
    for (int i = 0; i < 12; ++i) hot[i] = static_cast<uint16_t>(20 + i);
    std::shuffle(std::begin(hot), std::end(hot), rng);
    for (int i = 0; i < 9000; ++i) {
      model::Event e;
      e.ts_us = (kDay0 + day * 86400 + static_cast<int64_t>(rng() % 86400)) * 1000000;
      e.proto = model::kProtoTcp;
      e.tcp_flags = 0x02;
      e.src = model::IpAddr::V4(0x0a000000u + static_cast<uint32_t>(rng() % 5000));
      e.dst = model::IpAddr::V4(0xc6120000u + static_cast<uint32_t>(rng() % 256));
      // Half the packets to the hot ports, the k-th of them ~1/(k+1) as often; the rest spread.
      const uint64_t r = rng() % 1000;
      int k = 0;
      for (uint64_t acc = 0; k < 11 && acc + 160 / (k + 1) <= r; ++k) acc += 160 / (k + 1);
      e.dport = r < 500 ? hot[k] : static_cast<uint16_t>(1000 + rng() % 3000);
      e.labels.kind = model::TrafficKind::kScan;
      events.push_back(e);
    }
  }
  std::sort(events.begin(), events.end(),
            [](const model::Event& a, const model::Event& b) { return a.ts_us < b.ts_us; });
  {
    auto st = SqliteStore::Open(dir, false);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    for (size_t i = 0; i < events.size(); i += 1000) {
      SensorBatch b;
      b.sensor_id = "s-a";
      b.epoch = 1;
      b.seq = i / 1000 + 1;
      b.events.assign(events.begin() + static_cast<ptrdiff_t>(i),
                      events.begin() + static_cast<ptrdiff_t>(std::min(i + 1000, events.size())));
      b.sources.assign(b.events.size(), SourceInfo{});
      std::vector<SensorBatch*> g{&b};
      ASSERT_TRUE((*st)->CommitBatches(g, 1).ok());
    }
    ASSERT_TRUE((*st)->FlushRollups(true).ok());
  }
  const auto avail = query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, INT64_MAX);
  int heads_only = 0, some_wholes = 0, summed_all = 0;
  auto check = [&](query::Queries& qs, int64_t from, int64_t to, size_t head, size_t limit,
                   size_t offset) {
    const query::TopPlan plan = query::PlanTop(from, to, avail);
    query::TopQuery q;
    q.segments = plan.segments;
    q.head = head;
    q.limit = limit;
    q.offset = offset;
    q.distinct = false;
    auto got = qs.Top(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    std::map<uint64_t, uint64_t> truth;
    for (const model::Event& e : events) {
      const int64_t t = e.ts_us / 1000000;
      if (t >= plan.from_s && t < plan.to_s) truth[e.dport]++;
    }
    std::vector<std::pair<uint64_t, uint64_t>> ranked(truth.begin(), truth.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    const std::string at = "window [" + std::to_string(from - kDay0) + ", " +
                           std::to_string(to - kDay0) + ") head " + std::to_string(head) +
                           " limit " + std::to_string(limit) + " offset " + std::to_string(offset);
    const size_t expect = std::min(limit, ranked.size() - std::min(offset, ranked.size()));
    ASSERT_EQ(got->rows.size(), expect) << at;
    EXPECT_EQ(got->more, offset + limit < ranked.size()) << at;
    for (size_t i = 0; i < expect; ++i) {
      EXPECT_EQ(got->rows[i].group, ranked[offset + i].first) << at << " row " << i;
      EXPECT_EQ(got->rows[i].packets, ranked[offset + i].second) << at << " row " << i;
    }
    const auto& how = got->port_totals;
    EXPECT_GT(how.heads, 0u) << at;
    ++(how.summed_all ? summed_all : how.wholes > 0 ? some_wholes : heads_only);
  };
  {
    auto st = SqliteStore::Open(dir, false);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    query::Queries qs(st->get());
    for (auto [from, to] : {std::pair{kDay0, kDay0 + 4 * 86400},
                            {kDay0 + 86400 - 5400, kDay0 + 3 * 86400 + 7500},
                            {kDay0 + 2 * 86400, kDay0 + 2 * 86400 + 3600}}) {
      for (size_t head : {1, 2, 3, 5, 8, 256})
        for (size_t limit : {1, 3, 10})
          for (size_t offset : {0, 2}) check(qs, from, to, head, limit, offset);
    }
  }
  EXPECT_GT(heads_only, 0);
  EXPECT_GT(some_wholes, 0);
  EXPECT_GT(summed_all, 0);
  // Blobs put in port order by hand (damage a reader must not trust): the heads bound nothing,
  // so every blob is summed, and answers stay exact.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
    std::vector<std::pair<std::string, std::string>> blobs;  // (table WHERE key, blob)
    for (const char* r : {"5m", "1h", "1d"}) {
      const std::string t = std::string("port_totals_") + r;
      sqlite3_stmt* sel = nullptr;
      ASSERT_EQ(
          sqlite3_prepare_v2(db, ("SELECT bucket, counts FROM " + t).c_str(), -1, &sel, nullptr),
          SQLITE_OK);
      while (sqlite3_step(sel) == SQLITE_ROW) {
        PortCounts pc;
        ForEachPortCount(sqlite3_column_blob(sel, 1),
                         static_cast<size_t>(sqlite3_column_bytes(sel, 1)),
                         [&pc](uint16_t port, uint32_t n) { pc.emplace_back(port, n); });
        std::sort(pc.begin(), pc.end());
        std::string bytes;
        for (auto [port, n] : pc) {
          const uint8_t b[6] = {static_cast<uint8_t>(port),    static_cast<uint8_t>(port >> 8),
                                static_cast<uint8_t>(n),       static_cast<uint8_t>(n >> 8),
                                static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 24)};
          bytes.append(reinterpret_cast<const char*>(b), 6);
        }
        blobs.emplace_back(t + " WHERE bucket = " + std::to_string(sqlite3_column_int64(sel, 0)),
                           bytes);
      }
      sqlite3_finalize(sel);
    }
    ASSERT_FALSE(blobs.empty());
    for (const auto& [where, bytes] : blobs) {
      const size_t sp = where.find(' ');
      sqlite3_stmt* up = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db,
                                   ("UPDATE " + where.substr(0, sp) +
                                    " SET head = ?1, counts = ?1" + where.substr(sp))
                                       .c_str(),
                                   -1, &up, nullptr),
                SQLITE_OK);
      sqlite3_bind_blob(up, 1, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
      ASSERT_EQ(sqlite3_step(up), SQLITE_DONE);
      sqlite3_finalize(up);
    }
    sqlite3_close(db);
    heads_only = some_wholes = summed_all = 0;
    auto st = SqliteStore::Open(dir, false);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    query::Queries qs(st->get());
    for (size_t head : {1, 3, 8, 256}) check(qs, kDay0, kDay0 + 4 * 86400, head, 10, 0);
    EXPECT_EQ(summed_all, 4);
  }
  std::filesystem::remove_all(dir);
}

// SQLite holds open buckets' rows in memory: a store dropped without flushing (a crash) must
// lose none of them and double none — the next store rebuilds them from the events.
// SQLite's rollup tables have only their (family, bucket, key, …) key (docs/storage-sqlite.md):
// every read the query layer makes of them must seek by family and bucket, and by key where it
// names keys. A read that names keys but seeks by a key range instead read every key of the
// family in each bucket (BENCHMARKS.md: 1.2 s for a top list); a scan reads the whole table.
// The answers stay right either way, so only the plans show it.
TEST(SqliteRollups, ReadsSeekByBucketAndByTheKeysTheyName) {
  char tmpl[] = "/tmp/isdas_plans_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto st = SqliteStore::Open(dir, false);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const std::vector<Stored> events = Generate(31, 6000);
  for (size_t i = 0; i < events.size(); i += 500) {
    SensorBatch b;
    b.sensor_id = "s-a";
    b.epoch = 1;
    b.seq = i / 500 + 1;
    for (size_t j = i; j < std::min(i + 500, events.size()); ++j) {
      b.events.push_back(events[j].e);
      b.sources.push_back(events[j].si);
    }
    std::vector<SensorBatch*> g{&b};
    ASSERT_TRUE((*st)->CommitBatches(g, 1).ok());
  }
  ASSERT_TRUE((*st)->FlushRollups(true).ok());
  std::vector<std::string> asked;
  (*st)->set_select_trace([&](const std::string& sql) { asked.push_back(sql); });
  query::Queries qs(st->get());
  const auto avail = query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, INT64_MAX);
  // A window with 5-minute and hourly edges, so every resolution is read.
  const query::TopPlan plan = query::PlanTop(kDay0 + 86400 - 5400, kDay0 + 2 * 86400 + 7500, avail);
  ASSERT_EQ(plan.segments.size(), 5u);
  for (Family f : {Family::kPort, Family::kCountry, Family::kAsn}) {
    query::TopQuery q;
    q.family = f;
    q.segments = plan.segments;
    auto r = qs.Top(q);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(r->rows.empty());
  }
  query::TopQuery pc;  // one port's countries (its detail page)
  pc.family = Family::kPortCountry;
  pc.segments = query::PlanTop(kDay0, kDay0 + 3 * 86400, avail, rollup::Resolution::k1d).segments;
  pc.key_lo = uint64_t{23} << 16;
  pc.key_hi = (uint64_t{24} << 16) - 1;
  auto pcr = qs.Top(pc);
  ASSERT_TRUE(pcr.ok()) << pcr.status().ToString();
  ASSERT_FALSE(pcr->rows.empty());
  for (auto [res, step] : {std::pair{rollup::Resolution::k1d, 86400},
                           {rollup::Resolution::k1h, 3600},
                           {rollup::Resolution::k5m, 300}}) {
    query::SeriesQuery sq;
    sq.res = res;
    sq.from_s = kDay0;
    sq.to_s = kDay0 + 2 * 86400;
    sq.step_s = step;
    sq.keys = {23, 80};
    auto r = qs.Series(sq);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  (*st)->set_select_trace(nullptr);
  int rollup_reads = 0, keyed = 0;
  for (const std::string& sql : asked) {
    if (sql.find("FROM rollup_") == std::string::npos) continue;
    ++rollup_reads;
    const bool names_keys = sql.find("key IN (") != std::string::npos;
    keyed += names_keys;
    auto p = (*st)->Select("EXPLAIN QUERY PLAN " + sql);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const auto& row : p.value()) {
      const std::string& detail = row.back();
      if (detail.find("rollup_") == std::string::npos) continue;
      // The virtual tables' plan names the conditions that choose packs (its idxStr).
      EXPECT_NE(detail.find("VIRTUAL TABLE INDEX"), std::string::npos) << detail;
      EXPECT_NE(detail.find("family="), std::string::npos) << detail << "\n" << sql;
      EXPECT_NE(detail.find("bucket="), std::string::npos) << detail << "\n" << sql;
      if (names_keys) {
        EXPECT_NE(detail.find("key="), std::string::npos) << detail << "\n" << sql;
      }
    }
  }
  // The packs themselves are found as a range of the packs table's rowid (which is family,
  // bucket and part: rollup_packs.h).
  for (rollup::Resolution r : rollup::kResolutions) {
    auto p = (*st)->Select("EXPLAIN QUERY PLAN " + storage::PackSelectSql(r));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    const std::string detail = p->empty() ? "" : p->back().back();
    EXPECT_NE(detail.find("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"), std::string::npos)
        << detail;
  }
  // Each top list reads its ranks (ports: from their blobs) and then its shown keys; each
  // series names its keys.
  EXPECT_GE(rollup_reads, 8);
  EXPECT_GE(keyed, 7);
}

// One sensor's batch (sequence number `seq`) of n TCP events: event i at ts_s(i) seconds (plus
// 17 µs), from one of `sources` addresses, to its own address and one of 25 ports.
template <typename TsOf>
SensorBatch TcpBatch(uint64_t seq, int n, TsOf ts_s, uint32_t sources) {
  SensorBatch b;
  b.sensor_id = "s-a";
  b.epoch = 1;
  b.seq = seq;
  for (int i = 0; i < n; ++i) {
    model::Event e;
    e.ts_us = ts_s(i) * 1000000 + 17;
    e.proto = model::kProtoTcp;
    e.src = model::IpAddr::V4(0xc6120000u + static_cast<uint32_t>(i) % sources);
    e.dst = model::IpAddr::V4(0xc6130000u + static_cast<uint32_t>(i));
    e.dport = static_cast<uint16_t>(1 + i % 25);
    b.events.push_back(e);
  }
  return b;
}

// Open buckets are written before they close (merged again later) only while the traffic is
// live: its newest event within an hour of the clock. A backlog's open rows wait for their
// bucket to close (docs/rollups.md: a spool replayed after an outage had its open day merged
// again every minute).
TEST(SqliteRollups, OpenBucketsAreWrittenEarlyOnlyWhileLive) {
  const int64_t bucket = kDay0 + 3600;  // three commits of events, all in this 5-minute bucket
  auto run = [&](int64_t now_us, uint64_t* early_packets, uint64_t* fresh_flushes,
                 uint64_t* all_packets) {
    char tmpl[] = "/tmp/isdas_live_XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    auto st = SqliteStore::Open(dir, false);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    (*st)->set_partial_flush_seconds(0);  // due at every commit, if live
    auto packets = [&]() -> uint64_t {
      auto r = (*st)->Select(
          "SELECT COALESCE(SUM(packets), 0) FROM rollup_5m WHERE family = 0 "
          "AND bucket = " +
          std::to_string(bucket));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      return r.ok() ? std::strtoull((*r)[0][0].c_str(), nullptr, 10) : 0;
    };
    for (int c = 0; c < 3; ++c) {
      SensorBatch b = TcpBatch(
          static_cast<uint64_t>(c + 1), 60, [&](int i) { return bucket + 10 + c * 60 + i; }, 7);
      std::vector<SensorBatch*> g{&b};
      ASSERT_TRUE((*st)->CommitBatches(g, now_us).ok());
      (*st)->WaitForFolds();  // else a fold may finish after the next commit: written later
    }
    // Commit 2 took out the rows commit 1 counted (when due), commit 3 wrote them.
    *early_packets = packets();
    *fresh_flushes = (*st)->commit_times().flushes_fresh;
    ASSERT_TRUE((*st)->FlushRollups(true).ok());
    *all_packets = packets();
    st->reset();
    std::filesystem::remove_all(dir);
  };
  uint64_t early = 0, fresh = 0, all = 0;
  // Live: the newest event 4 minutes before the clock.
  run((bucket + 250 + 240) * 1000000, &early, &fresh, &all);
  EXPECT_GE(fresh, 1u);
  EXPECT_GE(early, 60u);  // at least the first commit's events, before their bucket closed
  EXPECT_LT(early, 180u);
  EXPECT_EQ(all, 180u);  // merged with what came after: nothing doubled, nothing lost
  // A backlog: the same events two hours before the clock.
  run((bucket + 250 + 7200) * 1000000, &early, &fresh, &all);
  EXPECT_EQ(fresh, 0u);
  EXPECT_EQ(early, 0u);  // nothing written while the bucket is open
  EXPECT_EQ(all, 180u);
}

// The closed mark says which buckets' rows are complete in the tables (recovery counts only
// the buckets after it again): it must follow the rows as they are written — one commit after
// their bucket closes when the fold is done by then, and at most seven commits after when the
// fold lanes are behind (docs/rollups.md) — and every 5-minute row before it must be whole.
TEST(SqliteRollups, ClosedMarkFollowsTheWrittenRows) {
  char tmpl[] = "/tmp/isdas_mark_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto st = SqliteStore::Open(dir, false);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto mark = [&]() -> int64_t {
    auto r = (*st)->Select("SELECT value FROM meta WHERE key = 'rollup_closed_5m'");
    EXPECT_TRUE(r.ok());
    return r.ok() && !r->empty() ? std::strtoll((*r)[0][0].c_str(), nullptr, 10) : INT64_MIN;
  };
  // Three hours, an event every 2 s, a commit of one batch every 10 minutes of event time.
  std::map<int64_t, uint64_t> per_bucket;  // 5-minute bucket -> events
  std::vector<int64_t> newest;             // newest event time (s) of each commit
  int64_t last_mark = INT64_MIN;
  // Every other commit waits for the folds first: one commit behind, exactly; the others may
  // find them still running.
  for (int c = 0; c < 18; ++c) {
    auto ts_s = [c](int i) { return kDay0 + c * 600 + i * 2; };
    SensorBatch b = TcpBatch(static_cast<uint64_t>(c + 1), 300, ts_s, 40);
    for (int i = 0; i < 300; ++i) per_bucket[rollup::BucketStart(ts_s(i), 300)]++;
    newest.push_back(kDay0 + c * 600 + 598);
    std::vector<SensorBatch*> g{&b};
    const bool waited = c % 2 == 0;
    if (waited) (*st)->WaitForFolds();
    ASSERT_TRUE((*st)->CommitBatches(g, kNowUs).ok());
    const int64_t m = mark();
    EXPECT_GE(m, last_mark) << "commit " << c;  // never back
    last_mark = m;
    if (waited && c >= 2) {
      // Commit c-1 took out the buckets closed by the events through commit c-2; commit c
      // wrote them, and the mark with them.
      EXPECT_GE(m, rollup::BucketStart(newest[c - 2] - 120, 300)) << "commit " << c;
    } else if (c >= 8) {
      // A lane holds at most six folds queued and one running when a seventh is queued.
      EXPECT_GE(m, rollup::BucketStart(newest[c - 8] - 120, 300)) << "commit " << c;
    }
    EXPECT_LE(m, rollup::BucketStart(newest[c] - 120, 300)) << "commit " << c;
  }
  ASSERT_GT(last_mark, kDay0 + 3600);
  auto rows = (*st)->Select(
      "SELECT bucket, SUM(packets) FROM rollup_5m WHERE family = 0 AND "
      "bucket < " +
      std::to_string(last_mark) + " GROUP BY bucket ORDER BY bucket");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  size_t whole = 0;
  for (const auto& [bucket, n] : per_bucket) {
    if (bucket >= last_mark) continue;
    ASSERT_LT(whole, rows->size()) << "bucket " << bucket << " has no row";
    EXPECT_EQ((*rows)[whole][0], std::to_string(bucket));
    EXPECT_EQ((*rows)[whole][1], std::to_string(n)) << "bucket " << bucket;
    ++whole;
  }
  EXPECT_EQ(whole, rows->size());
  st->reset();
  std::filesystem::remove_all(dir);
}

// Folded rows a commit cannot all write wait for the next commits, and the closed mark waits
// for them: at every commit, each 5-minute bucket before the mark is whole in the table.
TEST(SqliteRollups, TheMarkWaitsForRowsLeftToWrite) {
  char tmpl[] = "/tmp/isdas_budget_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  auto st = SqliteStore::Open(dir, false);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  (*st)->set_pending_rows_per_commit(4);
  std::map<int64_t, uint64_t> per_bucket;  // 5-minute bucket -> events
  auto written = [&]() {
    std::map<int64_t, uint64_t> out;
    auto r = (*st)->Select(
        "SELECT bucket, SUM(packets) FROM rollup_5m WHERE family = 0 GROUP BY bucket");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) {
      for (const auto& row : r.value())
        out[std::strtoll(row[0].c_str(), nullptr, 10)] = std::strtoull(row[1].c_str(), nullptr, 10);
    }
    return out;
  };
  int64_t last_mark = INT64_MIN;
  bool behind = false;  // the mark lagged the closed buckets at some commit
  for (int c = 0; c < 12; ++c) {
    auto ts_s = [c](int i) { return kDay0 + c * 600 + i * 2; };
    SensorBatch b = TcpBatch(static_cast<uint64_t>(c + 1), 300, ts_s, 40);
    for (int i = 0; i < 300; ++i) per_bucket[rollup::BucketStart(ts_s(i), 300)]++;
    (*st)->WaitForFolds();
    std::vector<SensorBatch*> g{&b};
    ASSERT_TRUE((*st)->CommitBatches(g, kNowUs).ok());
    auto r = (*st)->Select("SELECT value FROM meta WHERE key = 'rollup_closed_5m'");
    ASSERT_TRUE(r.ok());
    const int64_t m = r->empty() ? INT64_MIN : std::strtoll((*r)[0][0].c_str(), nullptr, 10);
    EXPECT_GE(m, last_mark) << "commit " << c;
    last_mark = m;
    if (c >= 2 && m < rollup::BucketStart(kDay0 + (c - 2) * 600 + 598 - 120, 300)) behind = true;
    const auto rows = written();
    for (const auto& [bucket, n] : per_bucket) {
      if (bucket >= m) break;
      auto it = rows.find(bucket);
      EXPECT_EQ(it == rows.end() ? 0 : it->second, n) << "commit " << c << ", bucket " << bucket;
    }
  }
  EXPECT_TRUE(behind);  // four rows a commit could not keep up
  ASSERT_TRUE((*st)->FlushRollups(true).ok());
  EXPECT_EQ(written(), per_bucket);
  st->reset();
  std::filesystem::remove_all(dir);
}

// Twice: as the collector runs, and with each commit writing only a few rows of those folded
// (so the crashes also drop rows taken out of the buffer and half written, the mark behind).
// Ties are ranked the same on every engine: two sensors with equal packets are listed by name,
// although SQLite numbers them in the order they were first seen (here the other way round).
class RollupTies : public ::testing::TestWithParam<Engine> {};

TEST_P(RollupTies, SensorsWithEqualPacketsAreListedByName) {
  auto store = GetParam().make();
  ASSERT_TRUE(store);
  const int64_t t0 = (kDay0 + 3600) * 1000000;
  std::vector<SensorBatch> batches;
  uint64_t seq = 0;
  for (const char* name : {"z-last", "m-middle", "a-first"}) {  // registered in this order
    SensorBatch b;
    b.sensor_id = name;
    b.epoch = 1;
    b.seq = ++seq;
    for (int i = 0; i < 5; ++i) {
      model::Event e;
      e.ts_us = t0 + i;
      e.proto = model::kProtoTcp;
      e.dport = 23;
      e.src = model::IpAddr::V4(0x0a000001u + static_cast<uint32_t>(i));
      e.dst = model::IpAddr::V4(0xc6120001u);
      b.events.push_back(e);
      b.sources.push_back(SourceInfo{{'J', 'P'}, 64500});
    }
    batches.push_back(std::move(b));
  }
  for (SensorBatch& b : batches) {
    std::vector<SensorBatch*> one{&b};
    ASSERT_TRUE(store->CommitBatches(one, 1).ok());
  }
  ASSERT_TRUE(store->FlushRollups(true).ok());
  query::Queries qs(store.get());
  query::TopQuery q;
  q.family = Family::kTotal;
  q.by = query::GroupBy::kSensor;
  q.segments =
      query::PlanTop(kDay0, kDay0 + 86400,
                     query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, store->CoarseThrough()))
          .segments;
  q.limit = 2;
  auto got = qs.Top(q);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->rows.size(), 2u);
  EXPECT_EQ(got->rows[0].sensor, "a-first");
  EXPECT_EQ(got->rows[1].sensor, "m-middle");
  EXPECT_TRUE(got->more);
  q.offset = 2;
  got = qs.Top(q);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->rows.size(), 1u);
  EXPECT_EQ(got->rows[0].sensor, "z-last");
  EXPECT_EQ(got->rows[0].packets, 5u);
}

INSTANTIATE_TEST_SUITE_P(Engines, RollupTies, kAllEngines,
                         [](const auto& p) { return std::string(p.param.name); });

class SqliteRollupsCrash : public ::testing::TestWithParam<size_t> {};

TEST_P(SqliteRollupsCrash, OpenBucketsSurviveACrashExactly) {
  char tmpl[] = "/tmp/isdas_crash_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::vector<Stored> events = Generate(7, 6000);
  // In time order, so buckets close as they would live; every crash leaves open buckets.
  std::sort(events.begin(), events.end(),
            [](const Stored& a, const Stored& b) { return a.e.ts_us < b.e.ts_us; });
  uint64_t seq = 0;
  for (size_t round = 0; round < 3; ++round) {
    auto st = SqliteStore::Open(dir, true);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    if (GetParam() != 0) (*st)->set_pending_rows_per_commit(GetParam());
    for (size_t i = round * 2000; i < (round + 1) * 2000; i += 250) {
      SensorBatch b;
      b.sensor_id = "s-a";
      b.epoch = 1;
      b.seq = ++seq;
      for (size_t j = i; j < i + 250; ++j) {
        b.events.push_back(events[j].e);
        b.sources.push_back(events[j].si);
      }
      std::vector<SensorBatch*> g{&b};
      ASSERT_TRUE((*st)->CommitBatches(g, 1).ok());
    }
    if (round == 2) {
      ASSERT_TRUE((*st)->FlushRollups(true).ok());
    }
    // rounds 0 and 1: dropped with rows in memory
  }
  auto st = SqliteStore::Open(dir, false);
  ASSERT_TRUE(st.ok());
  query::Queries qs(st->get());
  const auto avail = query::Availability::Of(Retention{0, 0, 0, 0}, kNowUs, INT64_MAX);
  for (int64_t from : {kDay0, kDay0 + 86400 + 3600}) {
    const query::TopPlan plan = query::PlanTop(from, kDay0 + kDays * 86400, avail);
    query::TopQuery q;
    q.family = Family::kPort;
    q.segments = plan.segments;
    q.limit = 20;
    q.distinct = false;
    auto got = qs.Top(q);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    std::map<uint64_t, uint64_t> truth;
    for (const Stored& s : events) {
      const int64_t t = s.e.ts_us / 1000000;
      if (t >= plan.from_s && t < plan.to_s && model::HasPorts(s.e)) truth[s.e.dport]++;
    }
    ASSERT_EQ(got->rows.size(), 20u);
    for (const auto& row : got->rows) EXPECT_EQ(row.packets, truth[row.group]) << row.group;
    uint64_t total = 0, expect = 0;
    for (const auto& row : got->rows) total += row.packets;
    std::vector<uint64_t> counts;
    for (auto& [k, n] : truth) counts.push_back(n);
    std::sort(counts.rbegin(), counts.rend());
    for (size_t i = 0; i < std::min<size_t>(20, counts.size()); ++i) expect += counts[i];
    EXPECT_EQ(total, expect);
  }
  // The hourly and daily totals too.
  query::SeriesQuery sq;
  sq.family = Family::kTotal;
  sq.keys = {0};
  sq.from_s = kDay0;
  sq.to_s = kDay0 + kDays * 86400;
  for (auto [res, step] : {std::pair{rollup::Resolution::k1h, 3600},
                           {rollup::Resolution::k1d, 86400},
                           {rollup::Resolution::k5m, 300}}) {
    sq.res = res;
    sq.step_s = step;
    auto pts = qs.Series(sq);
    ASSERT_TRUE(pts.ok());
    ASSERT_EQ(pts->size(), static_cast<size_t>(kDays * 86400 / step));
    std::map<int64_t, uint64_t> truth;
    for (const Stored& s : events) truth[rollup::BucketStart(s.e.ts_us / 1000000, step)]++;
    for (const auto& p : pts.value())
      EXPECT_EQ(p.packets, truth[p.bucket_s]) << step << " " << p.bucket_s;
  }
  std::system(("rm -rf " + dir).c_str());
}

INSTANTIATE_TEST_SUITE_P(RowsPerCommit, SqliteRollupsCrash, ::testing::Values(0, 3),
                         [](const auto& p) {
                           return p.param == 0 ? std::string("Default")
                                               : "Only" + std::to_string(p.param);
                         });

INSTANTIATE_TEST_SUITE_P(Engines, Rollups, kAllEngines,
                         [](const auto& p) { return std::string(p.param.name); });

// Three years of sparse traffic (docs/rollups.md#coarse-buckets): windows of months to ten
// years, which SQLite reads from whole 8-, 64- and 512-day buckets where it can, equal brute
// force — as on ClickHouse, which reads the days. The events are stored in generation order,
// so most arrive after their days closed and were folded (written into the coarse buckets
// directly), and in time order, so days close and fold one after another.
constexpr int64_t kLongDay0 = kDay0 - 1100 * 86400;  // 2023-11-22
constexpr int kLongDays = 1104;
const int64_t kLongNowUs = (kLongDay0 + (kLongDays + 1) * 86400) * 1000000;

class LongRollups : public Rollups {
 protected:
  void SetUp() override {}
  void Store(bool time_order) {
    store_ = GetParam().make();
    ASSERT_TRUE(store_);
    events_ = Generate(20261208, 8000, kLongDay0, kLongDays);
    if (time_order) {
      std::sort(events_.begin(), events_.end(),
                [](const Stored& a, const Stored& b) { return a.e.ts_us < b.e.ts_us; });
    }
    StoreEvents(time_order ? 50 : 400);
  }
  void CheckLongWindows() {
    const bool sqlite = std::string(GetParam().name) == "sqlite";
    const auto avail =
        query::Availability::Of(Retention{0, 0, 0, 0}, kLongNowUs, store_->CoarseThrough());
    const int64_t end = kLongDay0 + kLongDays * 86400;
    std::map<rollup::Resolution, int> used;
    Filter tcp;
    tcp.proto = model::kProtoTcp;
    tcp.exclude_research = true;
    for (auto [from, to] : {std::pair{kLongDay0, end},
                            {end - 365 * 86400, end},
                            {end - 3650 * 86400, end + 86400},
                            {kLongDay0 + 37 * 86400 + 5 * 3600 + 1500, end - 100 * 86400 - 2100},
                            {kLongDay0 + 200 * 86400, kLongDay0 + 300 * 86400}}) {
      SCOPED_TRACE(std::to_string(from) + " " + std::to_string(to));
      for (const query::Segment& seg : query::PlanTop(from, to, avail).segments) used[seg.res]++;
      for (Family f : {Family::kTotal, Family::kPort, Family::kCountry, Family::kAsn,
                       Family::kPortCountry, Family::kPortFlags}) {
        CheckTop(f, from, to, Filter{}, 10, 0, avail);
      }
      CheckTop(Family::kPort, from, to, tcp, 20, 3, avail);
      const rollup::KeyRange r23 = rollup::PortPairs(Family::kPortCountry, 23);
      CheckTop(Family::kPortCountry, from, to, Filter{}, 5, 0, avail, r23.lo, r23.hi);
    }
    for (rollup::Resolution r : rollup::kCoarse) {
      if (sqlite) {
        EXPECT_GT(used[r], 0) << rollup::Name(r) << " buckets were never read";
      } else {
        EXPECT_EQ(used[r], 0) << rollup::Name(r) << " buckets planned on an engine without them";
      }
    }
  }
};

TEST_P(LongRollups, LateEventsOfFoldedDaysMatchBruteForce) {
  Store(false);
  CheckLongWindows();
}

TEST_P(LongRollups, DaysFoldedAsTheyCloseMatchBruteForce) {
  Store(true);
  CheckLongWindows();
  if (std::string(GetParam().name) != "sqlite") return;
  // The days are in the coarse buckets up to the collector's closed mark's day; the open one
  // is not (it is read from the daily rows until it closes).
  const int64_t through = store_->CoarseThrough();
  int64_t last = INT64_MIN;
  for (const Stored& e : events_) last = std::max(last, e.e.ts_us / 1000000);
  EXPECT_EQ(through, rollup::BucketStart(last - 120, 86400));
}

// Retention of the daily rows deletes each coarse bucket whose first day is past the cut-off;
// the days after the cut-off in it are read from the daily rows, so answers stay exact.
TEST_P(LongRollups, RetentionDropsCoarseBucketsWholeAndPlansStayExact) {
  Store(false);
  Retention ret{0, 0, 0, 400};
  auto rep = store_->Expire(ret, kLongNowUs);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  const bool sqlite = std::string(GetParam().name) == "sqlite";
  if (sqlite) {
    for (rollup::Resolution r : rollup::kCoarse) {
      EXPECT_GT(rep->rollup_rows[static_cast<int>(r)], 0u) << rollup::Name(r);
    }
  }
  for (int i = 0; i < 300 && !sqlite; ++i) {  // ClickHouse deletes in the background
    auto left = store_->Select("SELECT count() FROM rollups WHERE res = 2 AND bucket < " +
                               std::to_string(kLongNowUs / 1000000 - 401 * 86400));
    if (left.ok() && left.value()[0][0] == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto avail = query::Availability::Of(ret, kLongNowUs, store_->CoarseThrough());
  const int64_t end = kLongDay0 + kLongDays * 86400;
  for (auto [from, to] : {std::pair{kLongDay0, end}, {end - 390 * 86400, end - 3 * 86400}}) {
    const query::TopPlan plan = query::PlanTop(from, to, avail);
    EXPECT_GE(plan.from_s, avail.from_s[static_cast<int>(rollup::Resolution::k1d)]);
    for (const query::Segment& seg : plan.segments) {
      EXPECT_GE(seg.from_s, avail.from_s[static_cast<int>(seg.res)]) << rollup::Name(seg.res);
    }
    for (Family f : {Family::kPort, Family::kCountry, Family::kPortCountry}) {
      CheckTop(f, from, to, Filter{}, 10, 0, avail);
    }
  }
  if (sqlite) {
    auto again = store_->Expire(ret, kLongNowUs);
    ASSERT_TRUE(again.ok());
    for (rollup::Resolution r : rollup::kAllResolutions) {
      EXPECT_EQ(again->rollup_rows[static_cast<int>(r)], 0u) << rollup::Name(r);
    }
  }
}

// Retention deletes a coarse bucket once it starts before the daily rows' cut-off (Expire),
// while the day holding the cut-off stays whole in the daily rows: when that day starts a coarse
// bucket, the plan must read the day, not the deleted bucket.
TEST(Plans, CoarseBucketsThatStartBeforeTheCutAreNeverRead) {
  const int64_t day = 20784 * int64_t{86400};  // 2026-11-27, the start of an 8-day bucket
  ASSERT_EQ(day % rollup::Seconds(rollup::Resolution::k8d), 0);
  const int64_t cut = day + 3600;
  const int64_t now_us = (cut + 10 * 86400) * 1000000;
  const auto avail = query::Availability::Of(Retention{0, 0, 0, 10}, now_us, INT64_MAX);
  EXPECT_EQ(avail.from_s[static_cast<int>(rollup::Resolution::k1d)], day);
  EXPECT_EQ(avail.from_s[static_cast<int>(rollup::Resolution::k8d)], day + 8 * 86400);
  const query::TopPlan plan = query::PlanTop(day - 30 * 86400, day + 40 * 86400, avail);
  EXPECT_EQ(plan.from_s, day);
  int coarse = 0;
  for (const query::Segment& seg : plan.segments) {
    if (!rollup::IsCoarse(seg.res)) continue;
    ++coarse;
    EXPECT_GE(seg.from_s, cut) << rollup::Name(seg.res);
  }
  EXPECT_GT(coarse, 0);  // the later 8-day buckets are read
  // And none are read past what is folded into them.
  const auto folded = query::Availability::Of(Retention{0, 0, 0, 10}, now_us, day + 20 * 86400);
  for (const query::Segment& seg :
       query::PlanTop(day - 30 * 86400, day + 40 * 86400, folded).segments) {
    if (rollup::IsCoarse(seg.res)) {
      EXPECT_LE(seg.to_s, day + 20 * 86400);
    }
  }
}

// A store that imports wrote (every day in the coarse buckets at once: its days are complete)
// and a collector then started on: the collector counts the last imported day again as its
// open day, so that day leaves the coarse buckets until it closes — else it would be in them
// twice.
TEST_P(LongRollups, ImportedDaysThenACollectorMatchBruteForce) {
  if (std::string(GetParam().name) != "sqlite") GTEST_SKIP() << "imports are SQLite's";
  store_ = GetParam().make();
  ASSERT_TRUE(store_);
  std::vector<Stored> all = Generate(7, 6000, kLongDay0, kLongDays);
  std::sort(all.begin(), all.end(),
            [](const Stored& a, const Stored& b) { return a.e.ts_us < b.e.ts_us; });
  // The import ends in the middle of a day.
  const int64_t split = (kLongDay0 + 700 * 86400 + 10 * 3600) * int64_t{1000000};
  auto* sq = dynamic_cast<SqliteStore*>(store_.get());
  ASSERT_NE(sq, nullptr);
  ASSERT_TRUE(sq->BeginImport().ok());
  std::vector<model::Event> ev;
  std::vector<SourceInfo> src;
  std::vector<Stored> later;
  for (Stored s : all) {
    if (s.e.ts_us < split) {
      s.sensor = 0;  // imports are "local"; no test here filters by sensor
      ev.push_back(s.e);
      src.push_back(s.si);
    } else {
      later.push_back(s);
    }
  }
  ASSERT_TRUE(sq->Append(ev, src).ok());
  ImportSummary sum;
  sum.path = "old.pcap";
  sum.sha256 = "0123";
  sum.format = "pcap";
  ASSERT_TRUE(sq->Commit(sum).ok());
  EXPECT_EQ(store_->CoarseThrough(), INT64_MAX);  // no collector yet: every day is folded
  events_ = later;
  StoreEvents(50);
  events_ = all;
  EXPECT_LT(store_->CoarseThrough(), INT64_MAX);
  CheckLongWindows();
}

INSTANTIATE_TEST_SUITE_P(Engines, LongRollups, kAllEngines,
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace isdas::storage
