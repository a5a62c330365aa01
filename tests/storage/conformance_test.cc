// One storage conformance suite, run against every engine: SQLite (a temp file) and ClickHouse
// (a fresh database on the server the ctest fixture started). An engine passes only what it
// really does; behaviour that differs on purpose is not tested here.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>

#include "storage/clickhouse/clickhouse_store.h"
#include "storage/sqlite_store.h"
#include "tests/storage/engines.h"

namespace isdas::storage {
namespace {

class Conformance : public ::testing::TestWithParam<Engine> {};

model::Event Ev(int64_t ts, uint16_t dport, uint32_t src) {
  model::Event e;
  e.ts_us = 1795651200LL * 1000000 + ts;
  e.proto = 6;
  e.src = model::IpAddr::V4(src);
  e.dst = model::IpAddr::V4(0xc6130414);
  e.dport = dport;
  e.tcp_seq = 0xfffffffe;
  return e;
}

SensorBatch Batch(const std::string& sensor, uint64_t epoch, uint64_t seq, int n) {
  SensorBatch b;
  b.sensor_id = sensor;
  b.epoch = epoch;
  b.seq = seq;
  b.rules_version = 1;
  for (int i = 0; i < n; ++i)
    b.events.push_back(Ev(static_cast<int64_t>(seq) * 1000 + i, 23, 0x08080404));
  return b;
}

TEST_P(Conformance, EmptyStoreHasNothing) {
  auto s = GetParam().make();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->CountEvents().value(), 0u);
  EXPECT_TRUE(s->Sensors()->empty());
}

TEST_P(Conformance, BatchesAreStoredOncePerSensorEpochAndSeq) {
  auto s = GetParam().make();
  ASSERT_TRUE(s);
  SensorBatch a = Batch("tokyo-1", 7, 1, 2), b = Batch("osaka-2", 7, 1, 1);
  std::vector<SensorBatch*> first{&a, &b};
  auto r = s->CommitBatches(first, 1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), (std::vector<BatchOutcome>{BatchOutcome::kStored, BatchOutcome::kStored}));
  SensorBatch again = Batch("tokyo-1", 7, 1, 2), new_epoch = Batch("tokyo-1", 8, 1, 1);
  std::vector<SensorBatch*> second{&again, &new_epoch, &again};
  r = s->CommitBatches(second, 2000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(), (std::vector<BatchOutcome>{BatchOutcome::kDuplicate, BatchOutcome::kStored,
                                                  BatchOutcome::kDuplicate}));
  EXPECT_EQ(s->CountEvents().value(), 4u);
  auto sensors = s->Sensors();
  ASSERT_TRUE(sensors.ok()) << sensors.status().ToString();
  ASSERT_EQ(sensors->size(), 2u);
  EXPECT_EQ(sensors->at(1).name, "tokyo-1");
  EXPECT_EQ(sensors->at(1).batches, 2u);
  EXPECT_EQ(sensors->at(1).events, 3u);
  EXPECT_EQ(sensors->at(1).first_seen_us, 1000);
  EXPECT_EQ(sensors->at(1).last_seen_us, 2000);
}

TEST_P(Conformance, HeartbeatCountersAreTheLatest) {
  auto s = GetParam().make();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->RecordHeartbeat("tokyo-1", 5, {{"captured", 10}, {"kernel_drops", 1}}).ok());
  ASSERT_TRUE(s->RecordHeartbeat("tokyo-1", 9, {{"captured", 20}}).ok());
  auto sensors = s->Sensors();
  ASSERT_TRUE(sensors.ok()) << sensors.status().ToString();
  ASSERT_EQ(sensors->size(), 1u);
  EXPECT_EQ(sensors->at(0).last_heartbeat_us, 9);
  ASSERT_EQ(sensors->at(0).counters.size(), 1u);
  EXPECT_EQ(sensors->at(0).counters[0].first, "captured");
  EXPECT_EQ(sensors->at(0).counters[0].second, 20u);
}

TEST(ClickhouseCluster, RowsAreSpreadOverBothShards) {
  auto s = MakeClickhouseCluster();
  ASSERT_TRUE(s);
  std::vector<SensorBatch> bs;
  for (uint64_t q = 1; q <= 40; ++q) bs.push_back(Batch("spread", 1, q, 50));
  std::vector<SensorBatch*> ptrs;
  for (auto& b : bs) ptrs.push_back(&b);
  ASSERT_TRUE(s->CommitBatches(ptrs, 1).ok());
  EXPECT_EQ(s->CountEvents().value(), 2000u);
  const std::string dir = std::string(ISDAS_CLICKHOUSE_DIR) + "-cluster";
  uint64_t total = 0;
  for (const char* srv : {"/s1", "/s2"}) {
    clickhouse::Endpoint e;
    std::ifstream(dir + srv + "/http_port") >> e.port;
    e.database = g_last_database;
    clickhouse::Client c(e);
    const uint64_t n = std::stoull(c.Query("SELECT count() FROM events_local").value());
    EXPECT_GT(n, 0u) << srv;  // rand() sharding puts rows on both
    total += n;
  }
  EXPECT_EQ(total, 2000u);
}

TEST_P(Conformance, ManyBatchesKeepEveryEvent) {
  auto s = GetParam().make();
  ASSERT_TRUE(s);
  std::vector<SensorBatch> bs;
  for (uint64_t q = 1; q <= 20; ++q) bs.push_back(Batch("s", 1, q, 500));
  std::vector<SensorBatch*> ptrs;
  for (auto& b : bs) ptrs.push_back(&b);
  ASSERT_TRUE(s->CommitBatches(ptrs, 1).ok());
  EXPECT_EQ(s->CountEvents().value(), 10000u);
}

// A database made before the rollups had their spoof column (2026-12-08) gains it when isdas
// opens it, and the rows written then carry their spoof bits.
TEST(ClickhouseStore, TablesMadeBeforeGainTheirNewColumns) {
  auto s = MakeClickhouse();
  ASSERT_TRUE(s);
  clickhouse::Endpoint e;
  std::ifstream(std::string(ISDAS_CLICKHOUSE_DIR) + "/http_port") >> e.port;
  e.database = g_last_database;
  clickhouse::Client c(e);
  ASSERT_TRUE(c.Query("ALTER TABLE rollups DROP COLUMN spoof").ok());  // as made before
  auto cols = [&c] {
    auto r = c.Query(
        "SELECT count() FROM system.columns WHERE database = currentDatabase() "
        "AND table = 'rollups' AND name = 'spoof'");
    return r.ok() ? *r : r.status().ToString();
  };
  ASSERT_EQ(cols(), "0\n");
  auto reopened = ClickhouseStore::Open(e);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(cols(), "1\n");
  ASSERT_TRUE(ClickhouseStore::Open(e).ok());  // and again: nothing left to add
  SensorBatch b = Batch("tokyo-1", 1, 1, 10);
  for (auto& ev : b.events) ev.labels.spoof = model::kSpoofPortZero;
  std::vector<SensorBatch*> one{&b};
  ASSERT_TRUE((*reopened)->CommitBatches(one, 1).ok());
  auto r = c.Query("SELECT sum(packets) FROM rollups WHERE res = 0 AND family = 0 AND spoof = 8");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "10\n");
}

// A crash between the event insert and the batch mark leaves the events without the mark:
// the retry must find them and not insert them again. (ClickHouse only: SQLite has one
// transaction for both.)
TEST(ClickhouseExactlyOnce, EventsWithoutTheirMarkAreNotInsertedTwice) {
  auto s = MakeClickhouse();
  ASSERT_TRUE(s);
  SensorBatch b = Batch("tokyo-1", 3, 9, 50);
  std::vector<SensorBatch*> one{&b};
  ASSERT_TRUE(s->CommitBatches(one, 1).ok());
  // Remove the mark only, as if the collector had died right after inserting the events.
  clickhouse::Endpoint e;
  std::ifstream(std::string(ISDAS_CLICKHOUSE_DIR) + "/http_port") >> e.port;
  e.database = g_last_database;
  clickhouse::Client c(e);
  ASSERT_TRUE(c.Query("DROP TABLE batches").ok());
  auto reopened = ClickhouseStore::Open(e);  // re-creates the empty batches table
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  s = std::move(reopened.value());
  auto r = s->CommitBatches(one, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value()[0], BatchOutcome::kStored);
  EXPECT_EQ(s->CountEvents().value(), 50u);
  // Its rollup rows were there too: not written again (every event counted once per
  // resolution in the totals).
  auto totals = c.Query(
      "SELECT res, sum(packets) FROM rollups WHERE family = 0 GROUP BY res "
      "ORDER BY res FORMAT CSV");
  ASSERT_TRUE(totals.ok()) << totals.status().ToString();
  EXPECT_EQ(totals.value(), "0,50\n1,50\n2,50\n");
  r = s->CommitBatches(one, 3);
  EXPECT_EQ(r.value()[0], BatchOutcome::kDuplicate);
}

// Part of a batch present (a server killed inside one INSERT, on one server or on one shard of
// a cluster): the next attempt removes what there is of it and stores it whole, once.
void PartlyStoredBatchIsRepaired(bool cluster) {
  auto s = cluster ? MakeClickhouseCluster() : MakeClickhouse();
  ASSERT_TRUE(s);
  std::vector<clickhouse::Endpoint> servers;
  const std::string dir = std::string(ISDAS_CLICKHOUSE_DIR) + (cluster ? "-cluster" : "");
  for (const char* sub :
       cluster ? std::vector<const char*>{"/s1", "/s2"} : std::vector<const char*>{""}) {
    clickhouse::Endpoint e;
    std::ifstream(dir + sub + "/http_port") >> e.port;
    e.database = g_last_database;
    servers.push_back(e);
  }
  const char* batches = cluster ? "batches_local" : "batches";
  SensorBatch partial = Batch("tokyo-1", 3, 10, 400);
  SensorBatch half = partial;
  half.events.resize(150);  // its first 150 events, and their rollup rows, but no mark
  std::vector<SensorBatch*> h{&half};
  ASSERT_TRUE(s->CommitBatches(h, 4).ok());
  for (const auto& e : servers) {
    clickhouse::Client c(e);
    ASSERT_TRUE(c.Query(std::string("ALTER TABLE ") + batches + " DELETE WHERE seq = 10").ok());
    for (int i = 0; i < 100; ++i) {  // mutations apply in the background
      if (c.Query(std::string("SELECT count() FROM ") + batches + " WHERE seq = 10").value() ==
          "0\n")
        break;
      usleep(50000);
    }
  }
  ASSERT_EQ(s->CountEvents().value(), 150u);
  std::vector<SensorBatch*> p{&partial};
  auto pr = s->CommitBatches(p, 5);
  ASSERT_TRUE(pr.ok()) << pr.status().ToString();
  EXPECT_EQ(pr.value()[0], BatchOutcome::kStored);
  EXPECT_EQ(s->CountEvents().value(), 400u);
  EXPECT_EQ(static_cast<ClickhouseStore*>(s.get())->repaired_batches(), 1u);
  // Every event counted once per resolution in the rollups, none of the partial rows left.
  clickhouse::Client c(servers[0]);
  auto totals = c.Query(
      "SELECT res, sum(packets) FROM rollups WHERE family = 0 GROUP BY res "
      "ORDER BY res FORMAT CSV");
  ASSERT_TRUE(totals.ok()) << totals.status().ToString();
  EXPECT_EQ(totals.value(), "0,400\n1,400\n2,400\n");
  pr = s->CommitBatches(p, 6);
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(pr.value()[0], BatchOutcome::kDuplicate);
  EXPECT_EQ(s->CountEvents().value(), 400u);
}

TEST(ClickhouseExactlyOnce, PartlyStoredBatchIsRemovedAndStoredWhole) {
  PartlyStoredBatchIsRepaired(false);
}

TEST(ClickhouseExactlyOnce, PartlyStoredBatchAcrossShardsIsRemovedAndStoredWhole) {
  PartlyStoredBatchIsRepaired(true);
}

INSTANTIATE_TEST_SUITE_P(Engines, Conformance,
                         ::testing::Values(Engine{"sqlite", MakeSqlite},
                                           Engine{"clickhouse", MakeClickhouse},
                                           Engine{"clickhouse_cluster", MakeClickhouseCluster}),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace isdas::storage
