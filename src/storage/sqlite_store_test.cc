#include "storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <fstream>

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
  // Read back with the plain SQLite API: addresses as 4-byte blobs, seq as unsigned 32-bit.
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
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

// Batches, the registry and heartbeats are tested on every engine alike by the conformance
// suite (tests/storage/conformance_test.cc); here only what is SQLite's own.
TEST(SqliteStore, VersionOneDatabaseIsMigrated) {
  const std::string dir = TempDir();
  sqlite3* db;
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE events(ts INTEGER NOT NULL, sensor INTEGER NOT NULL, "
                         "proto INTEGER NOT NULL, src BLOB NOT NULL, dst BLOB NOT NULL, sport, "
                         "dport, icmp_type, icmp_code, tcp_flags, ttl, ip_id, ip_len, tcp_seq, "
                         "tcp_win, tcp_optlen, tcp_mss, flags, kind, tool, spoof, import_id);"
                         "CREATE TABLE batches(sensor, epoch, seq, events, rules_version, "
                         "received_us, PRIMARY KEY(sensor, epoch, seq)) WITHOUT ROWID;"
                         "INSERT INTO events VALUES(1,0,6,x'01020304',x'05060708',1,2,0,0,2,64,"
                         "1,40,1,1024,0,0,0,1,0,0,1);"
                         "PRAGMA user_version=1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = SqliteStore::Open(dir);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  SensorBatch b{"tokyo-1", 1, 1, 1, {Ev(5, 80)}, {SourceInfo{{'J', 'P'}, 4730}}, "v", {}};
  std::vector<SensorBatch*> bs{&b};
  ASSERT_TRUE((*s)->CommitBatches(bs, 1).ok());
  EXPECT_EQ((*s)->CountEvents().value(), 2u);  // the old row survived
  ASSERT_EQ(sqlite3_open((dir + "/isdas.sqlite").c_str(), &db), SQLITE_OK);
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

}  // namespace
}  // namespace isdas::storage
