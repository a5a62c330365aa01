#include "storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "model/event_fields.h"
#include "storage/events_table.h"
#include "storage/rollup_packs.h"

namespace isdas::storage {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/isdas_store_XXXXXX";
  return mkdtemp(tmpl);
}

model::Event Ev(int64_t ts, uint16_t dport) {
  model::Event e;
  e.ts_us = ts;
  e.proto = 6;
  e.src = model::IpAddr::V4(0xcb007107);
  e.dst = model::IpAddr::V4(0xc6130414);
  e.dport = dport;
  e.tcp_seq = 0xfffffffe;  // above INT32_MAX: must survive as a 64-bit integer
  return e;
}

ImportSummary Sum(const std::string& sha) {
  ImportSummary s;
  s.path = "x.pcap";
  s.sha256 = sha;
  s.format = "pcap";
  s.events = 2;
  s.counters = {{"non_ip", 3}};
  return s;
}

TEST(SqliteStore, NotADatabaseIsCorruption) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/isdas.sqlite") << std::string(5000, 'x');
  auto s = SqliteStore::Open(dir);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().kind() == ErrorKind::kCorruption || s.status().kind() == ErrorKind::kIo)
      << s.status().ToString();
}

TEST(SqliteStore, DataDirThatIsAFileIsIoError) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/plainfile") << "x";
  auto s = SqliteStore::Open(dir + "/plainfile");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().kind(), ErrorKind::kIo);
}

TEST(SqliteStore, AReaderOpensNothingItCannotReadAndWritesNothing) {
  const std::string dir = TempDir();
  EXPECT_EQ(SqliteStore::OpenForReading(dir + "/none").status().kind(), ErrorKind::kIo);
  {
    auto w = SqliteStore::Open(dir);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
  }
  auto r = SqliteStore::OpenForReading(dir);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->CountEvents().value(), 0u);
  auto rows = (*r)->Select("SELECT count(*) FROM rollup_1d");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  // The connection itself is read-only: even SQL that would write fails.
  EXPECT_FALSE((*r)->Select("CREATE TABLE x(a)").ok());
  r->reset();
  // An older schema is refused (the writer upgrades it), and stays as it was.
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=6", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto old = SqliteStore::OpenForReading(dir);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(old.status().message().find("schema version 6"), std::string::npos);
}

TEST(SqliteStore, AbandonedImportLeavesNothing) {
  const std::string dir = TempDir();
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->BeginImport().ok());
  std::vector<model::Event> evs{Ev(1, 22), Ev(2, 23)};
  ASSERT_TRUE((*s)->Append(evs).ok());
  (*s)->Abandon();
  EXPECT_EQ((*s)->CountEvents().value(), 0u);
  EXPECT_EQ((*s)->FindImport("abc").value(), 0);
}

TEST(SqliteStore, CommittedImportIsDurableAndFindable) {
  const std::string dir = TempDir();
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->BeginImport().ok());
    std::vector<model::Event> evs{Ev(1, 22), Ev(2, 23)};
    ASSERT_TRUE((*s)->Append(evs).ok());
    auto id = (*s)->Commit(Sum("abc"));
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id.value(), 1);
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->CountEvents().value(), 2u);
  EXPECT_EQ((*s)->FindImport("abc").value(), 1);
  // Read back with the plain SQLite API (and the events table registered): addresses as
  // 4-byte blobs, seq as unsigned 32-bit.
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(RegisterEventsTable(db));
  sqlite3_stmt* st;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT length(src), hex(dst), tcp_seq, import_id FROM events "
                               "ORDER BY ts",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 4);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), "C6130414");
  EXPECT_EQ(sqlite3_column_int64(st, 2), 0xfffffffe);
  EXPECT_EQ(sqlite3_column_int64(st, 3), 1);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT name, count FROM import_counters", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "non_ip");
  EXPECT_EQ(sqlite3_column_int(st, 1), 3);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(SqliteStore, SameShaTwiceIsRefusedByTheSchema) {
  const std::string dir = TempDir();
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->BeginImport().ok());
  ASSERT_TRUE((*s)->Commit(Sum("dup")).ok());
  ASSERT_TRUE((*s)->BeginImport().ok());
  std::vector<model::Event> evs{Ev(1, 22)};
  ASSERT_TRUE((*s)->Append(evs).ok());
  auto again = (*s)->Commit(Sum("dup"));
  EXPECT_FALSE(again.ok());
  EXPECT_EQ((*s)->CountEvents().value(), 0u);  // the second import's event went with it
}

// A store as isdas wrote it at schema version 1, with one event: `head` is its time, sensor,
// protocol, addresses and ports (SQL literals); the rest of its columns are fixed.
void MakeVersionOneStore(const std::string& dir, const std::string& head) {
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
  const std::string sql =
      "CREATE TABLE events(ts INTEGER NOT NULL, sensor INTEGER NOT NULL, proto INTEGER NOT NULL, "
      "src BLOB NOT NULL, dst BLOB NOT NULL, sport, dport, icmp_type, icmp_code, tcp_flags, ttl, "
      "ip_id, ip_len, tcp_seq, tcp_win, tcp_optlen, tcp_mss, flags, kind, tool, spoof, "
      "import_id);"
      "CREATE TABLE batches(sensor, epoch, seq, events, rules_version, received_us, "
      "PRIMARY KEY(sensor, epoch, seq)) WITHOUT ROWID;"
      "INSERT INTO events VALUES(" +
      head + ",0,0,2,64,1,40,1,1024,0,0,0,1,0,0,1); PRAGMA user_version=1;";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
}

// Batches, the registry and heartbeats are tested on every engine alike by the conformance
// suite (tests/storage/conformance_test.cc); here only what is SQLite's own.
TEST(SqliteStore, VersionOneDatabaseIsMigrated) {
  const std::string dir = TempDir();
  MakeVersionOneStore(dir, "1,0,6,x'01020304',x'05060708',1,2");
  sqlite3* db;
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  SensorBatch b{"tokyo-1", 1, 1, 1, {Ev(5, 80)}, {SourceInfo{{'J', 'P'}, 4730}}, "v", {}};
  std::vector<SensorBatch*> bs{&b};
  ASSERT_TRUE((*s)->CommitBatches(bs, 1).ok());
  EXPECT_EQ((*s)->CountEvents().value(), 2u);  // the old row survived
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(RegisterEventsTable(db));
  sqlite3_stmt* st;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT group_concat(src_country || src_asn, ',') FROM "
                               "(SELECT * FROM events ORDER BY ts)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "0,JP4730");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// Each migration step on its own (SqliteStore::UpgradeTo stops after it): a version 1 store
// gains the enrichment columns (2), the research flag and the request to make rollups from its
// events (3), has its events moved into blocks (4), gets the packs (6) and their deltas tables
// (7); opened, it has the rollups of its one old event, and the request is gone.
TEST(SqliteStore, EachMigrationStepDoesItsPart) {
  const std::string dir = TempDir();
  const std::string path = dir + "/isdas.sqlite";
  MakeVersionOneStore(dir, "3600000000,0,6,x'01020304',x'05060708',1,23");
  // One answer of a query on the file as it is, or "error: …".
  auto ask = [&path](const std::string& sql) {
    sqlite3* d;
    EXPECT_EQ(sqlite3_open(path.c_str(), &d), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(d, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      out = std::string("error: ") + sqlite3_errmsg(d);
    } else if (sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(st, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
    sqlite3_close(d);
    return out;
  };
  auto has_table = [&ask](const std::string& name) {
    return ask("SELECT count(*) FROM sqlite_master WHERE name = '" + name + "'") == "1";
  };
  EXPECT_EQ(SqliteStore::UpgradeTo(dir, 11).kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(ask("PRAGMA user_version"), "1");  // refused before any step ran

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 2).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "2");
  EXPECT_EQ(ask("SELECT src_country || '/' || src_asn FROM events"), "/0");
  EXPECT_EQ(ask("SELECT count(geo_version) FROM batches"), "0");

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 3).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "3");
  EXPECT_EQ(ask("SELECT src_research FROM events"), "0");
  EXPECT_EQ(ask("SELECT value FROM meta WHERE key = 'rollups_from_events'"), "1");

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 4).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "4");
  EXPECT_FALSE(has_table("events"));
  EXPECT_EQ(ask("SELECT count(*) || ' ' || sum(events) FROM event_blocks"), "1 1");

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 6).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "6");
  EXPECT_TRUE(has_table("rollup_5m_packs"));  // (with their deltas tables: the packs' writer
                                              // needs them; a store made at 6 gains them at 7)

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 7).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "7");
  EXPECT_TRUE(has_table("rollup_5m_deltas"));

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 8).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "8");
  EXPECT_EQ(ask("SELECT count(*) FROM pragma_table_info('imports') WHERE name = 'geo_version'"),
            "1");

  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 9).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "9");
  EXPECT_TRUE(has_table("rollup_512d_packs"));
  EXPECT_TRUE(has_table("port_totals_8d"));
  EXPECT_EQ(ask("SELECT value FROM meta WHERE key = 'coarse_from_daily'"), "1");

  // A port-totals table as version 9 kept it (no spoof column), with one blob.
  {
    sqlite3* d;
    ASSERT_EQ(sqlite3_open(path.c_str(), &d), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(d,
                           "CREATE TABLE port_totals_1d(bucket INTEGER NOT NULL, sensor INTEGER "
                           "NOT NULL, proto INTEGER NOT NULL, kind INTEGER NOT NULL, tool INTEGER "
                           "NOT NULL, research INTEGER NOT NULL, head BLOB NOT NULL, counts BLOB "
                           "NOT NULL, PRIMARY KEY(bucket, sensor, proto, kind, tool, research)) "
                           "WITHOUT ROWID; INSERT INTO port_totals_1d VALUES(86400, 1, 6, 1, 0, 0, "
                           "x'170001000000', x'170001000000')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(d);
    sqlite3_close(d);
  }
  ASSERT_TRUE(SqliteStore::UpgradeTo(dir, 10).ok());
  EXPECT_EQ(ask("PRAGMA user_version"), "10");
  for (const char* t : {"port_totals_1d", "port_totals_512d"}) {
    EXPECT_EQ(
        ask(std::string("SELECT pk FROM pragma_table_info('") + t + "') WHERE name = 'spoof'"), "7")
        << t;
  }
  EXPECT_EQ(ask("SELECT bucket || '/' || spoof || '/' || hex(counts) FROM port_totals_1d"),
            "86400/0/170001000000");
  EXPECT_FALSE(has_table("old_port_totals_1d"));

  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->CountEvents().value(), 1u);
  auto r = (*s)->Select("SELECT key, sum(packets) FROM rollup_1d WHERE family = 1 GROUP BY key");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), (Rows{{"23", "1"}}));
  auto asked = (*s)->Select("SELECT count(*) FROM meta WHERE key = 'rollups_from_events'");
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked.value()[0][0], "0");
  // The coarse buckets were made from the daily rows, once.
  for (const char* res : {"8d", "64d", "512d"}) {
    auto c = (*s)->Select(std::string("SELECT key, sum(packets) FROM rollup_") + res +
                          " WHERE family = 1 GROUP BY key");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c.value(), (Rows{{"23", "1"}})) << res;
  }
  asked = (*s)->Select("SELECT count(*) FROM meta WHERE key = 'coarse_from_daily'");
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked.value()[0][0], "0");
}

// Versions 3 and 4 kept rollup rows in tables keyed (family, key, bucket, …), version 5 in
// tables keyed (family, bucket, key, …); version 6 keeps them in packs. A store of each older
// layout (made here by copying a new store's rows into such tables) opens with every row intact,
// in packs, no old table left, and takes new rows.
TEST(SqliteStore, OlderRollupTablesAreMovedIntoPacks) {
  const char* tables[] = {"rollup_5m", "rollup_1h", "rollup_1d"};
  auto rows_of = [](SqliteStore* st, const char* table) {
    auto r = st->Select(std::string("SELECT family, key, bucket, sensor, proto, kind, tool, "
                                    "research, packets, first_us, last_us, hex(srcs), hex(dsts) "
                                    "FROM ") +
                        table + " ORDER BY family, key, bucket, sensor, proto, kind, tool");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : Rows{};
  };
  for (const char* key : {"key, bucket", "bucket, key"}) {  // versions 4 and 5
    SCOPED_TRACE(key);
    const std::string dir = TempDir();
    std::vector<Rows> before;
    {
      auto s = SqliteStore::Open(dir);
      ASSERT_TRUE(s.ok());
      SensorBatch b{"tokyo-1", 1, 1, 1, {}, {}, "v", {}};
      for (int i = 0; i < 40; ++i) {  // over two days, several ports and buckets
        b.events.push_back(Ev((int64_t{i} * 4000 + 7) * 1000000, static_cast<uint16_t>(i % 5)));
        b.sources.push_back(SourceInfo{{'J', 'P'}, 4730});
      }
      std::vector<SensorBatch*> bs{&b};
      ASSERT_TRUE((*s)->CommitBatches(bs, 1).ok());
      ASSERT_TRUE((*s)->FlushRollups(true).ok());
      for (const char* t : tables) before.push_back(rows_of(s->get(), t));
    }
    ASSERT_GT(before[0].size(), 40u);
    sqlite3* db;
    // The rows copied out through the virtual tables, then the packs emptied; the copies take
    // the old tables' names on a connection that does not know the virtual ones.
    ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
    ASSERT_TRUE(RegisterRollupTables(db));
    for (const std::string r : {"5m", "1h", "1d"}) {
      const std::string sql =
          "CREATE TABLE old_" + r +
          "(family INTEGER NOT NULL, key INTEGER NOT NULL, bucket INTEGER NOT NULL, "
          "sensor INTEGER NOT NULL, proto INTEGER NOT NULL, kind INTEGER NOT NULL, tool INTEGER "
          "NOT NULL, research INTEGER NOT NULL, packets INTEGER NOT NULL, first_us INTEGER NOT "
          "NULL, last_us INTEGER NOT NULL, srcs BLOB NOT NULL, dsts BLOB NOT NULL, PRIMARY "
          "KEY(family, " +
          key + ", sensor, proto, kind, tool, research)) WITHOUT ROWID; INSERT INTO old_" + r +
          " SELECT family, key, bucket, sensor, proto, kind, tool, research, packets, first_us, "
          "last_us, srcs, dsts FROM rollup_" +
          r + "; DELETE FROM rollup_" + r + "_packs;";
      ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
          << sqlite3_errmsg(db);
    }
    sqlite3_close(db);
    ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
    for (const std::string r : {"5m", "1h", "1d"}) {
      const std::string sql = "ALTER TABLE old_" + r + " RENAME TO rollup_" + r;
      ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
          << sqlite3_errmsg(db);
    }
    const std::string version = std::string("PRAGMA user_version=") + (key[0] == 'k' ? "4" : "5");
    ASSERT_EQ(sqlite3_exec(db, version.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);

    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(rows_of(s->get(), tables[i]), before[i]) << tables[i];
    auto left = (*s)->Select(
        "SELECT count(*) FROM sqlite_master WHERE name IN ('rollup_5m', 'rollup_1h', "
        "'rollup_1d')");
    ASSERT_TRUE(left.ok());
    EXPECT_EQ(left.value()[0][0], "0");
    auto packed = (*s)->Select("SELECT sum(rows) FROM rollup_5m_packs");
    ASSERT_TRUE(packed.ok());
    EXPECT_EQ(packed.value()[0][0], std::to_string(before[0].size()));
    auto v = (*s)->Select("PRAGMA user_version");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.value()[0][0], "10");
    // New rows merge into the moved ones.
    SensorBatch again{"tokyo-1", 1, 2, 1, {Ev(7 * 1000000, 0)}, {SourceInfo{{'J', 'P'}, 4730}},
                      "v",       {}};
    std::vector<SensorBatch*> bs{&again};
    ASSERT_TRUE((*s)->CommitBatches(bs, 1).ok());
    ASSERT_TRUE((*s)->FlushRollups(true).ok());
    auto total = (*s)->Select("SELECT sum(packets) FROM rollup_1d WHERE family = 0");
    ASSERT_TRUE(total.ok());
    EXPECT_EQ(total.value()[0][0], "41");
  }
}

// Rows written while their buckets are open, again and again (here: a flush after every
// commit), go to delta packs; retention removes a day's deltas with its packs (and counts their
// rows), and after a reopen (recovery recounts the open buckets) every event is counted once.
TEST(SqliteStore, DeltaPacksGoWithTheirPacks) {
  const std::string dir = TempDir();
  const int64_t d0 = 1795651200;  // a day's start (UTC)
  auto sum = [](SqliteStore* st, const std::string& sql) {
    auto r = st->Select(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && !r->empty() && !(*r)[0][0].empty() ? std::stoll((*r)[0][0]) : int64_t{0};
  };
  auto generation = [](SqliteStore* st) {
    auto g = st->RollupGeneration();
    EXPECT_TRUE(g.ok() && g->has_value());
    return g.ok() && g->has_value() ? **g : std::string("?");
  };
  {
    auto s = SqliteStore::Open(dir);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(generation(s->get()), "0");
    std::string gen = "0";
    // Six commits, each an hour later, on day 0 and then day 1; five events each. Every write
    // of rollups moves the generation the API's answer cache keys on.
    for (int c = 0; c < 6; ++c) {
      SensorBatch b{"tokyo-1", 1, static_cast<uint64_t>(c + 1), 1, {}, {}, "v", {}};
      const int64_t t = (c < 3 ? d0 + 3600 : d0 + 86400 + 3600) + (c % 3) * 3600;
      for (int i = 0; i < 5; ++i) {
        b.events.push_back(Ev((t + i) * 1000000, static_cast<uint16_t>(22 + i % 2)));
        b.sources.push_back(SourceInfo{{'J', 'P'}, 4730});
      }
      std::vector<SensorBatch*> bs{&b};
      ASSERT_TRUE((*s)->CommitBatches(bs, 1).ok());
      ASSERT_TRUE((*s)->FlushRollups(true).ok());
      EXPECT_NE(generation(s->get()), gen);
      gen = generation(s->get());
    }
    SqliteStore* st = s->get();
    const std::string day0 =
        "id IN (SELECT id FROM rollup_1d_packs WHERE bucket = " + std::to_string(d0) + ")";
    ASSERT_GT(sum(st, "SELECT count(*) FROM rollup_1d_deltas WHERE " + day0), 0);
    ASSERT_GT(sum(st, "SELECT count(*) FROM rollup_1d_deltas WHERE NOT " + day0), 0);
    EXPECT_EQ(sum(st, "SELECT sum(packets) FROM rollup_1d WHERE family = 0"), 30);
    const int64_t stored =
        sum(st, "SELECT sum(rows) FROM rollup_1d_packs WHERE bucket = " + std::to_string(d0)) +
        sum(st, "SELECT sum(rows) FROM rollup_1d_deltas WHERE " + day0);
    Retention ret;
    ret.r1d_days = 1;  // day 0 ends a second before the cut-off, day 1 after it
    auto rep = st->Expire(ret, (d0 + 2 * 86400 + 1) * 1000000);
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();
    EXPECT_EQ(static_cast<int64_t>(rep->rollup_rows[2]), stored);
    EXPECT_NE(generation(st), gen);  // rows went: answers read before are not current
    gen = generation(st);
    ASSERT_TRUE(st->Expire(ret, (d0 + 2 * 86400 + 1) * 1000000).ok());
    EXPECT_EQ(generation(st), gen);  // nothing more went
    EXPECT_EQ(sum(st,
                  "SELECT count(*) FROM rollup_1d_deltas WHERE id NOT IN (SELECT id FROM "
                  "rollup_1d_packs)"),
              0);
    EXPECT_GT(sum(st, "SELECT count(*) FROM rollup_1d_deltas"), 0);  // day 1's stay
    EXPECT_EQ(sum(st, "SELECT sum(packets) FROM rollup_1d WHERE family = 0"), 15);
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->FlushRollups(true).ok());
  EXPECT_EQ(sum(s->get(), "SELECT sum(packets) FROM rollup_1d WHERE family = 0"), 15);
  EXPECT_EQ(sum(s->get(), "SELECT sum(packets) FROM rollup_5m WHERE family = 0"), 30);
}

// The events table read from blocks: batches whose times interleave (so blocks overlap), then
// windows with every kind of bound on ts against brute force, a retention cut through the
// middle of blocks, a read-only table and a damaged block reported by its id.
// Checkpoints run on their own thread (the commit does not wait for them), with commits going
// on beside them and a reader holding a snapshot meanwhile; every event is there after a
// reopen.
TEST(SqliteStore, CheckpointsRunOnTheirOwnThreadBesideTheCommits) {
  const std::string dir = TempDir();
  uint64_t stored = 0;
  {
    auto s = SqliteStore::Open(dir, /*durable=*/true);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    // The commit that finds 2,000 pages (8 MB) in the WAL checkpoints itself too.
    (*s)->set_wal_hard_pages(2000);
    sqlite3* reader = nullptr;
    ASSERT_EQ(
        sqlite3_open_v2((dir + "/isdas.sqlite").c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
        SQLITE_OK);
    uint64_t x = 88172645463325252ull;  // xorshift: events that do not compress away
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    for (int c = 0; c < 80; ++c) {
      SensorBatch b{"s", 1, static_cast<uint64_t>(c + 1), 1, {}, {}, "v", {}};
      for (int i = 0; i < 16384; ++i) {
        model::Event e = Ev(1795651200000000LL + (c * 16384 + i) * 500LL, 0);
        e.src = model::IpAddr::V4(static_cast<uint32_t>(next()));
        e.dst = model::IpAddr::V4(0xc6120000u | static_cast<uint32_t>(next() & 0xffff));
        e.sport = static_cast<uint16_t>(next());
        e.dport = static_cast<uint16_t>(next() % 2000);
        e.tcp_seq = static_cast<uint32_t>(next());
        b.events.push_back(e);
      }
      stored += b.events.size();
      // A reader's snapshot held over two commits: checkpoints cannot pass it meanwhile.
      if (c == 10) {
        ASSERT_EQ(
            sqlite3_exec(reader, "BEGIN; SELECT COUNT(*) FROM batches;", nullptr, nullptr, nullptr),
            SQLITE_OK);
      }
      if (c == 12) {
        ASSERT_EQ(sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
      }
      std::vector<SensorBatch*> g{&b};
      ASSERT_TRUE((*s)->CommitBatches(g, 1).ok());
    }
    sqlite3_close(reader);
    for (int i = 0; i < 200 && (*s)->checkpoints() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // The thread copied pages (one that could not read the WAL copies none: the WAL then
    // grows by every commit).
    EXPECT_GE((*s)->checkpoints(), 1u);
    EXPECT_GT((*s)->checkpoint_seconds(), 0.0);
  }
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  auto n = (*s)->CountEvents();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), stored);
  std::filesystem::remove_all(dir);
}

// The events table has a column for every number field of the model (model/event_fields.h),
// by its name, holding the stored value.
TEST(SqliteStore, EventsTableHasEveryNumberFieldOfTheModel) {
  const std::string dir = TempDir();
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  SensorBatch b{"tokyo-1", 1, 1, 1, {}, {}, "v", {}};
  for (size_t i = 0; i < model::kNumberFields.size(); ++i) {
    model::Event e = Ev(1000000 * static_cast<int64_t>(i + 1), 80);
    const model::NumberField& f = model::kNumberFields[i];
    f.set(e, f.bytes == 4 ? UINT32_MAX - 3 : (1u << (8 * f.bytes)) - 3);
    b.events.push_back(e);
  }
  std::vector<SensorBatch*> bs{&b};
  ASSERT_TRUE((*s)->CommitBatches(bs, 1).ok());
  for (const model::NumberField& f : model::kNumberFields) {
    auto r = (*s)->Select("SELECT " + std::string(f.name) + " FROM events ORDER BY ts");
    ASSERT_TRUE(r.ok()) << f.name << ": " << r.status().ToString();
    ASSERT_EQ(r->size(), b.events.size());
    for (size_t i = 0; i < b.events.size(); ++i) {
      EXPECT_EQ(r.value()[i][0], std::to_string(f.get(b.events[i]))) << f.name << ", event " << i;
    }
  }
}

TEST(SqliteStore, EventsTableFromBlocksMatchesBruteForce) {
  const std::string dir = TempDir();
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok());
  std::vector<int64_t> all;
  std::vector<std::pair<int, uint16_t>> sensor_port;  // beside `all`: batch % 2, dport
  std::vector<SensorBatch> batches(6);
  for (int b = 0; b < 6; ++b) {
    batches[b] =
        SensorBatch{"s" + std::to_string(b % 2), 1, static_cast<uint64_t>(b), 1, {}, {}, "v", {}};
    for (int i = 0; i < 500; ++i) {
      const int64_t ts = 1000000 + (i * 6 + b) * 1000 + (b % 3) * 400000;  // overlapping ranges
      batches[b].events.push_back(Ev(ts, static_cast<uint16_t>(i % 7)));
      all.push_back(ts);
      sensor_port.emplace_back(b % 2, static_cast<uint16_t>(i % 7));
    }
  }
  std::vector<SensorBatch*> ptrs;
  for (auto& b : batches) ptrs.push_back(&b);
  ASSERT_TRUE((*s)->CommitBatches(ptrs, 1).ok());
  auto count = [&](const std::string& where) {
    auto r = (*s)->Select("SELECT COUNT(*) FROM events WHERE " + where);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::stoull(r.value()[0][0]) : ~0ull;
  };
  auto truth = [&](auto pred) {
    return static_cast<uint64_t>(std::count_if(all.begin(), all.end(), pred));
  };
  for (int64_t lo : {0LL, 1000000LL, 1400000LL, 2500000LL, 4400000LL, 9000000LL}) {
    for (int64_t hi : {1000000LL, 1500001LL, 2100000LL, 4000000LL, 5000000LL}) {
      const std::string l = std::to_string(lo), h = std::to_string(hi);
      EXPECT_EQ(count("ts >= " + l + " AND ts < " + h),
                truth([&](int64_t t) { return t >= lo && t < hi; }))
          << lo << " " << hi;
      EXPECT_EQ(count("ts > " + l + " AND ts <= " + h),
                truth([&](int64_t t) { return t > lo && t <= hi; }));
      EXPECT_EQ(count(h + " > ts AND ts BETWEEN " + l + " AND " + h),
                truth([&](int64_t t) { return t >= lo && t < hi; }));
    }
    EXPECT_EQ(count("ts = " + std::to_string(lo + 400000)),
              truth([&](int64_t t) { return t == lo + 400000; }));
    EXPECT_EQ(count("ts >= " + std::to_string(lo) + ".5"),
              truth([&](int64_t t) { return t > lo; }));
  }
  // Text is compared as a number (the column's INTEGER affinity), as on a plain table.
  EXPECT_EQ(count("ts >= '1400000'"), truth([](int64_t t) { return t >= 1400000; }));
  EXPECT_EQ(count("dport = 3 AND sensor = (SELECT id FROM sensors WHERE name = 's1')"),
            static_cast<uint64_t>(std::count(sensor_port.begin(), sensor_port.end(),
                                             std::pair<int, uint16_t>(1, 3))));
  // Retention through the middle of blocks keeps exactly the events at or after the cut.
  const int64_t cut_s = 2;  // 2,000,000 µs
  Retention ret;
  ret.raw_days = 1;
  auto rep = (*s)->Expire(ret, (cut_s + 86400) * 1000000);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  const uint64_t older = truth([](int64_t t) { return t < 2000000; });
  ASSERT_GT(older, 0u);
  ASSERT_LT(older, all.size());
  EXPECT_EQ(rep->events, older);
  EXPECT_EQ((*s)->CountEvents().value(), all.size() - older);
  EXPECT_EQ(count("ts >= 0"), all.size() - older);
  EXPECT_EQ(count("ts < 2000000"), 0u);
  auto again = (*s)->Expire(ret, (cut_s + 86400) * 1000000);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->events, 0u);
  // Read-only: writes through Select are refused, and the table takes no writes at all.
  auto w = (*s)->Select("DELETE FROM event_blocks");
  EXPECT_EQ(w.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ((*s)->CountEvents().value(), all.size() - older);
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(RegisterEventsTable(db));
  EXPECT_NE(sqlite3_exec(db, "DELETE FROM events", nullptr, nullptr, nullptr), SQLITE_OK);
  // A damaged block fails the query and names itself.
  ASSERT_EQ(sqlite3_exec(db, "UPDATE event_blocks SET data = x'28b52ffd00' WHERE id = 3", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto bad = (*s)->Select("SELECT COUNT(*) FROM events");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("block 3"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace isdas::storage
