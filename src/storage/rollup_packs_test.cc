#include "storage/rollup_packs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

namespace isdas::storage {
namespace {

using rollup::Family;
using rollup::Resolution;

std::string Counter(std::initializer_list<uint64_t> hashes) {
  rollup::DistinctCounter c;
  for (uint64_t h : hashes) c.Add(h);
  return c.Serialize();
}

// Three rows of port part 0 (ports 0-15) of one bucket, in order.
struct Sample {
  std::string a = Counter({1, 2}), b = Counter({3});
  std::vector<PackRow> rows{
      {2, 1, 6, 1, 0, 0, 0, 5, 1000, 2000, a, b},
      {2, 2, 6, 1, 0, 0, 9, 1, 1500, 1500, b, b},  // spoof bits 0x09
      {15, 1, 17, 0, 0, 1, 15, 9, -7, INT64_MAX, a, a},
  };
  std::string Encoded(int64_t bucket = 300) const {
    std::string out;
    EncodePack(bucket, rows, &out);
    return out;
  }
};

void ExpectCorrupt(std::string_view data, const std::string& what, Family f = Family::kPort,
                   int64_t part = 0) {
  std::vector<PackRow> out;
  Status s = DecodePack(data, f, 300, part, &out);
  EXPECT_EQ(s.kind(), ErrorKind::kCorruption) << what;
  EXPECT_NE(s.message().find(" at byte "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

// Malformed packs first: every prefix of a good pack, a byte too many, an unknown version, a
// count larger than the bytes, rows outside the part or out of order, a varint of 11 bytes.
TEST(RollupPacks, DamagedPacksAreRefusedSayingWhereAndWhat) {
  const Sample s;
  const std::string good = s.Encoded();
  ExpectCorrupt("", "header cut short");
  ExpectCorrupt(good.substr(0, 4), "header cut short");
  // (Short ones claim more rows than their bytes could hold; longer ones run out mid-row.)
  for (size_t n = 5; n < good.size(); ++n) ExpectCorrupt(good.substr(0, n), "");
  ExpectCorrupt(good + "x", "1 bytes left over");
  std::string v2 = good;
  v2[0] = 2;
  ExpectCorrupt(v2, "unknown version 2");
  std::string many = good;
  many[4] = 0x7f;  // 2^31 + 3 rows
  ExpectCorrupt(many, "rows claimed");
  // The same rows read as another part's, or another family's, are outside it.
  ExpectCorrupt(good, "row 0: key outside the part", Family::kPort, 1);
  ExpectCorrupt(good, "row 0: key outside the part", Family::kTotal, 0);
  std::string outside;
  std::vector<PackRow> big = s.rows;
  big.push_back(big.back());
  big.back().key = 16;  // port 16 is in part 1
  EncodePack(300, big, &outside);
  ExpectCorrupt(outside, "row 3: key outside the part");
  std::string unordered, twice;
  std::vector<PackRow> swapped = {s.rows[1], s.rows[0], s.rows[2]};
  EncodePack(300, swapped, &unordered);
  ExpectCorrupt(unordered, "row 1 out of order");
  std::vector<PackRow> same = {s.rows[0], s.rows[0]};
  EncodePack(300, same, &twice);
  ExpectCorrupt(twice, "row 1 out of order");
  std::string header = good.substr(0, 5);
  header[1] = 1, header[2] = header[3] = header[4] = 0;
  header.append(10, '\xff');  // a varint of more than 64 bits
  header.append(20, '\0');
  ExpectCorrupt(header, "row 0 cut short");
  // Row 0's flags byte (after the header, key, sensor, proto, kind and tool): bit 0 the
  // research flag, bits 1-4 the spoof bits; a higher bit is no flag isdas knows.
  std::string flags = good;
  ASSERT_EQ(flags[10], 0);
  flags[10] = 0x20;
  ExpectCorrupt(flags, "row 0: unknown flag bits");
}

TEST(RollupPacks, RowsRoundTripExactly) {
  const Sample s;
  for (int64_t bucket : {int64_t{-86400}, int64_t{0}, int64_t{1795651200}}) {
    std::string data;
    std::vector<PackRow> rows = s.rows;
    rows[0].first_us = INT64_MIN;  // any time round-trips, however far from its bucket
    rows[1].sensor = UINT32_MAX;
    EncodePack(bucket, rows, &data);
    std::vector<PackRow> back;
    ASSERT_TRUE(DecodePack(data, Family::kPort, bucket, 0, &back).ok());
    ASSERT_EQ(back.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_TRUE(SameRow(back[i], rows[i]));
      EXPECT_EQ(back[i].research, rows[i].research);
      EXPECT_EQ(back[i].spoof, rows[i].spoof);
      EXPECT_EQ(back[i].packets, rows[i].packets);
      EXPECT_EQ(back[i].first_us, rows[i].first_us);
      EXPECT_EQ(back[i].last_us, rows[i].last_us);
      EXPECT_EQ(back[i].sources, rows[i].sources);
      EXPECT_EQ(back[i].destinations, rows[i].destinations);
    }
  }
  // Keys at the ends of each family's parts.
  for (Family f : {Family::kTotal, Family::kPort, Family::kCountry, Family::kAsn,
                   Family::kPortCountry, Family::kPortFlags}) {
    for (uint64_t key : {uint64_t{0}, uint64_t{65535} << 16 | 0x5a5a, uint64_t{4294967295}}) {
      if (f == Family::kTotal && key) continue;
      std::vector<PackRow> one = {s.rows[0]};
      one[0].key = key;
      std::string data;
      EncodePack(0, one, &data);
      std::vector<PackRow> back;
      ASSERT_TRUE(DecodePack(data, f, 0, PartOf(f, key), &back).ok()) << key;
      EXPECT_EQ(back[0].key, key);
    }
  }
}

// A pack's id orders packs by family, bucket and part; a range of ids holds exactly the packs
// of one family and bucket range; what cannot be an id is refused.
TEST(RollupPacks, IdsAreFamilyBucketPartInOrder) {
  const Resolution r = Resolution::k1h;
  std::vector<std::tuple<int, int64_t, int64_t>> keys;
  for (int f : {0, 1, 6}) {
    for (int64_t b : {int64_t{-7200}, int64_t{0}, int64_t{3600}, int64_t{1795651200}}) {
      for (int64_t p : {int64_t{0}, int64_t{1}, int64_t{(1 << 24) - 1}}) keys.emplace_back(f, b, p);
    }
  }
  std::sort(keys.begin(), keys.end());
  int64_t prev = -1;
  for (auto [f, b, p] : keys) {
    auto id = PackId(r, static_cast<Family>(f), b, p);
    ASSERT_TRUE(id.ok()) << f << " " << b << " " << p;
    EXPECT_GT(id.value(), prev);
    prev = id.value();
    int64_t lo, hi;
    ASSERT_TRUE(PackIdRange(r, f, f, b, b, p, p, &lo, &hi));
    EXPECT_EQ(lo, id.value());
    EXPECT_EQ(hi, id.value());
    // Bounds between buckets round inwards.
    ASSERT_TRUE(PackIdRange(r, f, f, b - 3599, b + 3599, p, p, &lo, &hi));
    EXPECT_EQ(lo, id.value());
    EXPECT_EQ(hi, id.value());
  }
  int64_t lo, hi;
  EXPECT_FALSE(PackIdRange(r, 1, 1, 1, 3599, 0, INT64_MAX, &lo, &hi));  // no bucket starts there
  EXPECT_FALSE(PackIdRange(r, 7, 9, INT64_MIN, INT64_MAX, 0, INT64_MAX, &lo, &hi));
  ASSERT_TRUE(
      PackIdRange(r, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX, &lo, &hi));
  EXPECT_LE(lo, PackId(r, Family::kTotal, -7200, 0).value());
  EXPECT_GE(hi, PackId(r, Family::kPortFlags, 1795651200, 65535).value());
  EXPECT_EQ(PackId(r, Family::kPort, 1800, 0).status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(PackId(r, Family::kPort, 0, 1 << 24).status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(PackId(r, Family::kPort, 0, -1).status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(PackId(r, static_cast<Family>(9), 0, 0).status().kind(), ErrorKind::kInvalidArgument);
}

// A store-like database: the packs tables and the virtual ones over them.
struct Db {
  sqlite3* db = nullptr;
  Db() {
    EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, PacksSchema().c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    EXPECT_TRUE(RegisterRollupTables(db));
  }
  ~Db() { sqlite3_close_v2(db); }
  // The first column of every row of `sql` as text joined by ",", or "error: …".
  std::string Query(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      return std::string("error: ") + sqlite3_errmsg(db);
    }
    std::string out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(st, 0);
      if (!out.empty()) out += ',';
      out += t ? reinterpret_cast<const char*>(t) : "";
    }
    if (rc != SQLITE_DONE) out = std::string("error: ") + sqlite3_errmsg(db);
    sqlite3_finalize(st);
    return out;
  }
};

rollup::RowKey Key(Family f, uint64_t key, int64_t bucket, uint32_t sensor = 1) {
  rollup::RowKey k;
  k.family = f;
  k.key = key;
  k.bucket = bucket;
  k.sensor = sensor;
  k.proto = 6;
  return k;
}

// Writes merge into what is stored: rows in any order, a key given twice in one write, a key
// written again later — each stored once, packets summed, times widened, counters merged.
// Families not kept at the resolution are left out.
TEST(RollupPacks, WritesMergeIntoStoredRows) {
  Db d;
  PackWriter w;
  ASSERT_TRUE(w.Prepare(d.db, Resolution::k5m).ok());
  StoredRows first, second;
  first.Add(Key(Family::kPort, 443, 600), 2, 610, 620, Counter({1}), Counter({9}));
  first.Add(Key(Family::kPort, 22, 600), 1, 605, 605, Counter({2}), Counter({9}));
  first.Add(Key(Family::kPort, 443, 600), 3, 601, 615, Counter({3}), Counter({9}));
  first.Add(Key(Family::kPortCountry, 22 << 16, 600), 1, 605, 605, Counter({2}), Counter({}));
  uint64_t written = 0;
  ASSERT_TRUE(w.Write(first, &written).ok());
  EXPECT_EQ(written, 3u);  // the pair is daily only
  second.Add(Key(Family::kPort, 443, 600), 4, 630, 640, Counter({1, 4}), Counter({8}));
  second.Add(Key(Family::kPort, 300, 600), 1, 650, 650, Counter({5}), Counter({8}));
  ASSERT_TRUE(w.Write(second, &written).ok());
  EXPECT_EQ(d.Query("SELECT key || ':' || packets || ':' || first_us || ':' || last_us FROM "
                    "rollup_5m ORDER BY key"),
            "22:1:605:605,300:1:650:650,443:9:601:640");
  // 443's sources: hashes 1, 3, 4 (1 twice); destinations 9, 8.
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(d.db, "SELECT srcs, dsts FROM rollup_5m WHERE key = 443", -1, &st,
                               nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  for (auto [col, n] : {std::pair{0, 3u}, {1, 2u}}) {
    auto c = rollup::DistinctCounter::Parse(
        std::string_view(static_cast<const char*>(sqlite3_column_blob(st, col)),
                         static_cast<size_t>(sqlite3_column_bytes(st, col))));
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->Estimate(), n);
  }
  sqlite3_finalize(st);
  // Ports 22, 300 and 443 are in parts 1, 18 and 27 (the last written twice).
  EXPECT_EQ(d.Query("SELECT part || ':' || rows FROM rollup_5m_packs ORDER BY part"),
            "1:1,18:1,27:1");
  EXPECT_EQ(d.Query("SELECT count(*) FROM rollup_1d"), "0");
}

// Every kind of condition the virtual tables see, against the rows written: equalities, IN
// lists, open and closed ranges on family, bucket and key, bounds that are real or text, and
// none at all.
TEST(RollupPacks, ConditionsChooseExactlyTheRowsAsOnAPlainTable) {
  Db d;
  PackWriter w;
  ASSERT_TRUE(w.Prepare(d.db, Resolution::k1d).ok());
  StoredRows rows;
  std::vector<std::tuple<int, uint64_t, int64_t>> truth;  // family, key, bucket
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    const Family f = static_cast<Family>(std::vector<int>{0, 1, 2, 3, 4, 6}[rng() % 6]);
    uint64_t key = f == Family::kTotal       ? 0
                   : f == Family::kPort      ? rng() % 2000
                   : f == Family::kCountry   ? rollup::CountryKey("JP") + rng() % 3
                   : f == Family::kAsn       ? rng() % 100000
                   : f == Family::kPortFlags ? (rng() % 100) << 8 | (rng() % 4)
                                             : (rng() % 100) << 16 | (rng() % 5);
    const int64_t bucket = -86400 + 86400 * static_cast<int64_t>(rng() % 6);
    const auto t = std::make_tuple(static_cast<int>(f), key, bucket);
    if (std::find(truth.begin(), truth.end(), t) != truth.end()) continue;
    truth.push_back(t);
    rows.Add(Key(f, key, bucket), 1, bucket * 1000000, bucket * 1000000, Counter({1}),
             Counter({2}));
  }
  uint64_t written = 0;
  ASSERT_TRUE(w.Write(rows, &written).ok());
  ASSERT_EQ(written, truth.size());
  auto count = [&](auto pred) {
    return std::to_string(std::count_if(truth.begin(), truth.end(), [&](const auto& t) {
      return pred(std::get<0>(t), std::get<1>(t), std::get<2>(t));
    }));
  };
  auto ask = [&](const std::string& where) {
    return d.Query("SELECT count(*) FROM rollup_1d WHERE " + where);
  };
  EXPECT_EQ(d.Query("SELECT count(*) FROM rollup_1d"), std::to_string(truth.size()));
  EXPECT_EQ(ask("family = 1 AND key = 1000"),
            count([](int f, uint64_t k, int64_t) { return f == 1 && k == 1000; }));
  EXPECT_EQ(ask("family = 1 AND key IN (3, 255, 256, 1999) AND bucket IN (0, 86400)"),
            count([](int f, uint64_t k, int64_t b) {
              return f == 1 && (k == 3 || k == 255 || k == 256 || k == 1999) &&
                     (b == 0 || b == 86400);
            }));
  EXPECT_EQ(ask("family = 1 AND key > 255 AND key <= 767"),
            count([](int f, uint64_t k, int64_t) { return f == 1 && k > 255 && k <= 767; }));
  EXPECT_EQ(ask("family = 3 AND key >= 1023.5 AND key < 50000"),
            count([](int f, uint64_t k, int64_t) { return f == 3 && k >= 1024 && k < 50000; }));
  EXPECT_EQ(ask("family = 4 AND key BETWEEN " + std::to_string(23 << 16) + " AND " +
                std::to_string((24 << 16) - 1)),
            count([](int f, uint64_t k, int64_t) { return f == 4 && (k >> 16) == 23; }));
  EXPECT_EQ(
      ask("family IN (0, 6) AND bucket >= 0 AND bucket < 259200"),
      count([](int f, uint64_t, int64_t b) { return (f == 0 || f == 6) && b >= 0 && b < 259200; }));
  EXPECT_EQ(ask("family >= 2 AND key < 40000"),
            count([](int f, uint64_t k, int64_t) { return f >= 2 && k < 40000; }));
  EXPECT_EQ(ask("bucket = '-86400'"), count([](int, uint64_t, int64_t b) { return b == -86400; }));
  // IN lists are taken whole (sqlite3_vtab_in): values of every type, with ranges beside them.
  EXPECT_EQ(ask("family = 3 AND key IN (SELECT key FROM rollup_1d WHERE family = 3 LIMIT 40) "
                "AND key > 0"),
            ask("family = 3 AND key > 0 AND key IN (SELECT key FROM rollup_1d WHERE family = 3 "
                "LIMIT 40)"));
  EXPECT_EQ(ask("family = 1 AND key IN ('1000', 1000.0, 'abc', 23.5, -4, 1999)"),
            count([](int f, uint64_t k, int64_t) { return f == 1 && (k == 1000 || k == 1999); }));
  EXPECT_EQ(ask("family IN (1, 3) AND key IN (3, 255, 70000)"),
            count([](int f, uint64_t k, int64_t) {
              return (f == 1 || f == 3) && (k == 3 || k == 255 || k == 70000);
            }));
  EXPECT_EQ(ask("family = 1 AND key IN (3, 255, 256, 1999) AND key > 255 AND bucket IN "
                "(86400, -86400, 86400) AND bucket < 86400"),
            count([](int f, uint64_t k, int64_t b) {
              return f == 1 && (k == 256 || k == 1999) && b == -86400;
            }));
  EXPECT_EQ(ask("family = 1 AND key IN (-1, 'x')"), "0");
  EXPECT_EQ(ask("key < 0"), "0");
  EXPECT_EQ(ask("family = 1 AND key > 5 AND key < 5"), "0");
  EXPECT_EQ(ask("family = 9"), "0");
  // A list of 100 AS numbers over 6 days reads each (day, part) pack once: they were read once
  // for every number of the list before (600 reads, each a pack of up to 1,024 ASes).
  std::string ases;
  for (int a = 0; a < 100; ++a) ases += (a ? "," : "") + std::to_string(a * 7);
  const std::string packs_needed =
      d.Query("SELECT count(*) FROM rollup_1d_packs WHERE family = 3 AND part = 0");
  const uint64_t decoded = PacksDecodedByReads();
  EXPECT_EQ(ask("family = 3 AND key IN (" + ases +
                ") AND bucket IN (-86400, 0, 86400, 172800, "
                "259200, 345600)"),
            count([](int f, uint64_t k, int64_t) { return f == 3 && k < 700 && k % 7 == 0; }));
  EXPECT_EQ(std::to_string(PacksDecodedByReads() - decoded), packs_needed);
  // Read-only: the rows change only through the packs.
  EXPECT_NE(sqlite3_exec(d.db, "DELETE FROM rollup_1d", nullptr, nullptr, nullptr), SQLITE_OK);
  // A damaged pack fails the query that reads it, naming it; others still read.
  ASSERT_EQ(sqlite3_exec(d.db,
                         "UPDATE rollup_1d_packs SET data = substr(data, 1, 9) WHERE family = 1 "
                         "AND part = 0 AND bucket = 0",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  const std::string id =
      d.Query("SELECT id FROM rollup_1d_packs WHERE family = 1 AND part = 0 AND bucket = 0");
  ASSERT_FALSE(id.empty());
  const std::string bad = ask("family = 1 AND bucket = 0 AND key = 1");
  EXPECT_NE(bad.find("error: rollup_1d_packs id " + id + ": rollup pack"), std::string::npos)
      << bad;
  EXPECT_NE(bad.find("rows claimed at byte 5 of 9"), std::string::npos) << bad;
  EXPECT_EQ(ask("family = 1 AND bucket = 86400 AND key = 1000"),
            count([](int f, uint64_t k, int64_t b) { return f == 1 && k == 1000 && b == 86400; }));
  // Writes to a damaged pack go to its deltas, without reading it, until one would merge them
  // into it: that one fails and says so, rather than replacing what it cannot read, and
  // changes nothing.
  StoredRows more;
  more.Add(Key(Family::kPort, 1, 0), 1, 0, 0, Counter({1}), Counter({2}));
  const std::string deltas = "SELECT count(*) FROM rollup_1d_deltas WHERE id = " + id;
  for (int k = 0; k < kMaxDeltas; ++k) ASSERT_TRUE(w.Write(more, &written).ok());
  EXPECT_EQ(d.Query(deltas), std::to_string(kMaxDeltas));
  const std::string data = "SELECT hex(data) FROM rollup_1d_packs WHERE id = " + id;
  const std::string before = d.Query(data);
  Status s = w.Write(more, &written);
  EXPECT_EQ(s.kind(), ErrorKind::kCorruption);
  EXPECT_NE(s.message().find("rollup_1d_packs id " + id), std::string::npos) << s.message();
  EXPECT_EQ(d.Query(deltas), std::to_string(kMaxDeltas));
  EXPECT_EQ(d.Query(data), before);
}

// A bucket written many times: each write after the first goes to a delta of the pack, read
// merged with it, and every (kMaxDeltas + 1)th merges them into the pack. After every write
// the rows read are what one write of everything would store: packets summed, times widened,
// counters (exact lists and sketches) merged — compared byte for byte with counters built
// from all the values.
TEST(RollupPacks, DeltasAreMergedWhenReadAndIntoThePackEveryFewWrites) {
  Db d;
  PackWriter w;
  ASSERT_TRUE(w.Prepare(d.db, Resolution::k1d).ok());
  struct Want {
    uint64_t packets = 0;
    int64_t first = INT64_MAX, last = INT64_MIN;
    rollup::DistinctCounter srcs, dsts;
  };
  std::map<uint64_t, Want> want;  // port -> the row one write of everything would store
  constexpr int64_t kDay = 86400;
  const auto id = PackId(Resolution::k1d, Family::kPort, kDay, 1);
  ASSERT_TRUE(id.ok());
  const std::string deltas =
      "SELECT count(*) FROM rollup_1d_deltas WHERE id = " + std::to_string(id.value());
  for (int k = 0; k < 2 * (kMaxDeltas + 1) + 1; ++k) {
    StoredRows rows;
    // Ports 16-31 (one part): 22 in every write, with a sketch from the third on; another
    // port each time, some again.
    for (uint64_t port : {uint64_t{22}, static_cast<uint64_t>(16 + (k * 5) % 16)}) {
      rollup::DistinctCounter srcs, dsts;
      const uint64_t n = port == 22 && k >= 2 ? 300 : 3;
      for (uint64_t i = 0; i < n; ++i) srcs.Add((port * 1000 + k * 100 + i) * 0x9e3779b97f4a7c15);
      dsts.Add(port);
      const int64_t first = kDay * 1000000 + k * 1000 + static_cast<int64_t>(port);
      rows.Add(Key(Family::kPort, port, kDay), port + 1, first, first + 500, srcs.Serialize(),
               dsts.Serialize());
      Want& x = want[port];
      x.packets += port + 1;
      x.first = std::min(x.first, first);
      x.last = std::max(x.last, first + 500);
      x.srcs.Merge(srcs);
      x.dsts.Merge(dsts);
    }
    uint64_t written = 0;
    ASSERT_TRUE(w.Write(rows, &written).ok()) << "write " << k;
    EXPECT_EQ(d.Query(deltas), std::to_string(k % (kMaxDeltas + 1))) << "write " << k;
    std::string expect;
    for (const auto& [port, x] : want) {
      if (!expect.empty()) expect += ',';
      expect += std::to_string(port);
      for (int64_t v : {static_cast<int64_t>(x.packets), x.first, x.last}) {
        expect += ':';
        expect += std::to_string(v);
      }
    }
    EXPECT_EQ(d.Query("SELECT key || ':' || packets || ':' || first_us || ':' || last_us FROM "
                      "rollup_1d WHERE family = 1 ORDER BY key"),
              expect)
        << "write " << k;
    for (const auto& [port, x] : want) {
      const std::string cols = d.Query(
          "SELECT hex(srcs) || '/' || hex(dsts) FROM rollup_1d "
          "WHERE family = 1 AND key = " +
          std::to_string(port));
      std::string hex;
      for (const std::string& b : {x.srcs.Serialize(), std::string("/"), x.dsts.Serialize()}) {
        if (b == "/") {
          hex += b;
          continue;
        }
        static const char kHex[] = "0123456789ABCDEF";
        for (unsigned char c : b) hex += {kHex[c >> 4], kHex[c & 15]};
      }
      EXPECT_EQ(cols, hex) << "write " << k << " port " << port;
    }
  }
  ASSERT_FALSE(want[22].srcs.exact());  // the sketch path was taken
  // Once the bucket is closed, every write merges into the pack: deltas and all, then alone.
  auto rows_of = [](int k) {
    StoredRows r;
    const int64_t t = kDay * 1000000 + k;
    r.Add(Key(Family::kPort, 22, kDay), 23, t, t, Counter({static_cast<uint64_t>(k) + 1}),
          Counter({1}));
    return r;
  };
  uint64_t written = 0;
  EXPECT_EQ(d.Query(deltas), "0");
  for (int k = 0; k < 2; ++k) ASSERT_TRUE(w.Write(rows_of(k), &written).ok());
  EXPECT_EQ(d.Query(deltas), "2");
  w.set_closed_before(kDay + 86400 - 1);  // not quite
  ASSERT_TRUE(w.Write(rows_of(2), &written).ok());
  EXPECT_EQ(d.Query(deltas), "3");
  w.set_closed_before(kDay + 86400);
  for (int k = 3; k < 5; ++k) {
    ASSERT_TRUE(w.Write(rows_of(k), &written).ok());
    EXPECT_EQ(d.Query(deltas), "0") << k;
  }
  EXPECT_EQ(d.Query("SELECT sum(packets) FROM rollup_1d WHERE family = 1 AND key = 22"),
            std::to_string(want[22].packets + 5 * 23));
}

// A damaged delta fails the reads of its pack, naming it, and the write that would merge it,
// which then changes nothing. Deltas left behind by a pack deleted alone are not merged into a
// new pack of the same id: writing it drops them.
TEST(RollupPacks, DamagedOrStrayDeltasAreNeverMergedIn) {
  Db d;
  PackWriter w;
  ASSERT_TRUE(w.Prepare(d.db, Resolution::k1d).ok());
  StoredRows rows;
  rows.Add(Key(Family::kPort, 5, 0), 1, 10, 20, Counter({1}), Counter({2}));
  uint64_t written = 0;
  for (int k = 0; k < 2; ++k) ASSERT_TRUE(w.Write(rows, &written).ok());
  const std::string id = d.Query("SELECT id FROM rollup_1d_packs");
  ASSERT_EQ(d.Query("SELECT count(*) FROM rollup_1d_deltas WHERE id = " + id), "1");
  ASSERT_EQ(sqlite3_exec(d.db, "UPDATE rollup_1d_deltas SET data = substr(data, 1, 9)", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  const std::string bad = d.Query("SELECT packets FROM rollup_1d WHERE family = 1");
  EXPECT_NE(bad.find("error: rollup_1d_deltas id " + id + ": rollup pack"), std::string::npos)
      << bad;
  for (int k = 1; k < kMaxDeltas; ++k) ASSERT_TRUE(w.Write(rows, &written).ok());
  const std::string all =
      "SELECT hex(data) FROM rollup_1d_packs UNION ALL SELECT hex(data) FROM "
      "rollup_1d_deltas";
  const std::string before = d.Query(all);
  Status s = w.Write(rows, &written);
  EXPECT_EQ(s.kind(), ErrorKind::kCorruption);
  EXPECT_NE(s.message().find("rollup_1d_deltas id " + id), std::string::npos) << s.message();
  EXPECT_EQ(d.Query(all), before);
  // The pack deleted without its deltas: the next write makes a new pack, and only its rows
  // are read.
  ASSERT_EQ(sqlite3_exec(d.db, "DELETE FROM rollup_1d_packs", nullptr, nullptr, nullptr),
            SQLITE_OK);
  ASSERT_TRUE(w.Write(rows, &written).ok());
  EXPECT_EQ(d.Query("SELECT count(*) FROM rollup_1d_deltas"), "0");
  EXPECT_EQ(d.Query("SELECT key || ':' || packets FROM rollup_1d"), "5:1");
}

}  // namespace
}  // namespace isdas::storage
