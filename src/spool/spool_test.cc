#include "spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/crc32c.h"

namespace isdas::spool {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/isdas_spool_XXXXXX";
  return mkdtemp(tmpl);
}

std::vector<uint8_t> Payload(uint64_t i, size_t n = 100) {
  std::vector<uint8_t> p(n);
  for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(i * 31 + k);
  return p;
}

Options Small() {
  Options o;
  o.segment_bytes = 64 * 1024;
  o.max_bytes = 1 << 20;
  o.fsync = FsyncPolicy::kNever;
  return o;
}

std::vector<std::string> Segments(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.substr(n.size() - 4) == ".seg") out.push_back(dir + "/" + n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

off_t FileSize(const std::string& p) {
  struct stat st;
  stat(p.c_str(), &st);
  return st.st_size;
}

// ---- bad input and damage first ----

TEST(Spool, RejectsBadOptionsAndForeignFiles) {
  Options o = Small();
  o.max_bytes = o.segment_bytes;
  EXPECT_EQ(Spool::Open(TempDir(), o).status().kind(), ErrorKind::kInvalidArgument);
  o = Small();
  o.segment_bytes = 100;
  EXPECT_EQ(Spool::Open(TempDir(), o).status().kind(), ErrorKind::kInvalidArgument);
  const std::string dir = TempDir();
  std::ofstream(dir + "/notes.txt") << "hello";
  auto s = Spool::Open(dir, Small());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(s.status().message().find("notes.txt"), std::string::npos);
}

TEST(Spool, OversizedRecordIsRefusedAndNothingWritten) {
  auto s = Spool::Open(TempDir(), Small());
  ASSERT_TRUE(s.ok());
  auto r = (*s)->Append(Payload(1, 70 * 1024), 5);
  EXPECT_EQ(r.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ((*s)->next_seq(), 1u);
  EXPECT_EQ((*s)->counters().appended_records, 0u);
}

TEST(Spool, TornTailAtEveryByteIsCutAndEarlierRecordsSurvive) {
  // Write 3 records, then cut the file at every offset inside the third: recovery must keep
  // exactly the first two, count the cut bytes, and continue the sequence after them.
  const std::string master = TempDir();
  {
    auto s = Spool::Open(master, Small());
    ASSERT_TRUE(s.ok());
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 10).ok());
  }
  const std::string seg = Segments(master).at(0);
  const off_t full = FileSize(seg);
  const off_t third = full - (24 + 100);
  for (off_t cut = third; cut < full; ++cut) {
    const std::string dir = TempDir();
    ASSERT_EQ(system(("cp " + master + "/* " + dir + "/").c_str()), 0);
    const std::string copy = Segments(dir).at(0);
    ASSERT_EQ(truncate(copy.c_str(), cut), 0);
    auto s = Spool::Open(dir, Small());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ((*s)->counters().recovered_cut_bytes, static_cast<uint64_t>(cut - third)) << cut;
    // With the record header (24 bytes) still there, its 10 events are counted as cut.
    EXPECT_EQ((*s)->counters().recovered_cut_events, cut - third >= 24 ? 10u : 0u) << cut;
    EXPECT_EQ((*s)->counters().unacked_records, 2u);
    EXPECT_EQ((*s)->counters().unacked_events, 20u);
    EXPECT_EQ((*s)->next_seq(), 3u);
    auto recs = (*s)->Read(1, 10, 1 << 20);
    ASSERT_TRUE(recs.ok());
    ASSERT_EQ(recs->size(), 2u);
    EXPECT_EQ((*recs)[1].payload, Payload(2));
    // Appending continues with seq 3, in a new segment, and survives another reopen.
    ASSERT_EQ((*s)->Append(Payload(33), 7).value(), 3u);
    s->reset();  // one process at a time: close before reopening
    s = Spool::Open(dir, Small());
    ASSERT_TRUE(s.ok());
    auto again = (*s)->Read(1, 10, 1 << 20);
    ASSERT_EQ(again->size(), 3u);
    EXPECT_EQ((*again)[2].payload, Payload(33));
    // The loss is remembered, not counted again.
    EXPECT_EQ((*s)->counters().recovered_cut_bytes, static_cast<uint64_t>(cut - third)) << cut;
    EXPECT_EQ((*s)->counters().recovered_cut_events, cut - third >= 24 ? 10u : 0u) << cut;
  }
}

TEST(Spool, FlippedBytesCostOnlyTheDamagedRecord) {
  const std::string dir = TempDir();
  {
    auto s = Spool::Open(dir, Small());
    for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 1).ok());
  }
  const std::string seg = Segments(dir).at(0);
  // Record 4 starts at 48 + 3 * 124; flip 8 bytes of its payload.
  const int fd = open(seg.c_str(), O_RDWR);
  for (int k = 0; k < 8; ++k) {
    uint8_t b;
    ASSERT_EQ(pread(fd, &b, 1, 48 + 3 * 124 + 30 + k), 1);
    b ^= 0x40;
    ASSERT_EQ(pwrite(fd, &b, 1, 48 + 3 * 124 + 30 + k), 1);
  }
  close(fd);
  {
    auto s = Spool::Open(dir, Small());
    ASSERT_TRUE(s.ok());
    EXPECT_EQ((*s)->counters().recovered_cut_records, 1u);
    EXPECT_EQ((*s)->counters().recovered_cut_bytes, 124u);
    EXPECT_EQ((*s)->counters().recovered_cut_events, 1u);  // record 4's header still reads
    auto r = (*s)->Read(1, 10, 1 << 20);
    ASSERT_EQ(r->size(), 4u);  // 1, 2, 3 and 5: the record after the damage is kept
    EXPECT_EQ((*r)[3].seq, 5u);
    EXPECT_EQ((*r)[3].payload, Payload(5));
    EXPECT_EQ((*s)->counters().unacked_events, 4u);
    EXPECT_EQ((*s)->next_seq(), 6u);
  }
  // Reopened: the damage was counted once (the segment was rewritten without it).
  auto s = Spool::Open(dir, Small());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->counters().recovered_cut_bytes, 124u);
  EXPECT_EQ((*s)->counters().recovered_cut_records, 1u);
  EXPECT_EQ((*s)->Read(1, 10, 1 << 20)->size(), 4u);
}

TEST(Spool, DamageEverywhereInAManyRecordSegmentLosesOnlyTheRecordsHit) {
  const std::string dir = TempDir();
  {
    Options o = Small();
    o.segment_bytes = 4 << 20;
    o.max_bytes = 16 << 20;
    auto s = Spool::Open(dir, o);
    for (uint64_t i = 1; i <= 500; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 100).ok());
  }
  const std::string seg = Segments(dir).at(0);
  // Hit records 10, 200 and 499 (each 124 bytes from 48), one byte each, headers included.
  const int fd = open(seg.c_str(), O_RDWR);
  for (uint64_t rec : {10u, 200u, 499u}) {
    const off_t at = static_cast<off_t>(48 + (rec - 1) * 124 + (rec == 200 ? 9 : 60));
    uint8_t b;
    ASSERT_EQ(pread(fd, &b, 1, at), 1);
    b ^= 0xff;
    ASSERT_EQ(pwrite(fd, &b, 1, at), 1);
  }
  close(fd);
  Options o = Small();
  o.segment_bytes = 4 << 20;
  o.max_bytes = 16 << 20;
  auto s = Spool::Open(dir, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->counters().recovered_cut_records, 3u);
  EXPECT_EQ((*s)->counters().unacked_events, 497u * 100);
  // Record 200's sequence number was hit, so its events cannot be read: 10 and 499 are counted.
  EXPECT_EQ((*s)->counters().recovered_cut_events, 200u);
  auto r = (*s)->Read(1, 1000, 1 << 30);
  ASSERT_EQ(r->size(), 497u);
  EXPECT_EQ(r->back().seq, 500u);
}

TEST(Spool, CorruptionFoundWhenShippingIsSkippedAndCounted) {
  const std::string dir = TempDir();
  auto s = Spool::Open(dir, Small());
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 4).ok());
  const int fd = open(Segments(dir).at(0).c_str(), O_RDWR);
  uint8_t b = 0xff;
  ASSERT_EQ(pwrite(fd, &b, 1, 48 + 124 + 40), 1);  // inside record 2
  close(fd);
  auto recs = (*s)->Read(1, 10, 1 << 20);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0].seq, 1u);
  EXPECT_EQ((*recs)[1].seq, 3u);
  EXPECT_EQ((*s)->counters().corrupt_records_skipped, 1u);
  EXPECT_EQ((*s)->counters().corrupt_events_skipped, 4u);
  ASSERT_TRUE((*s)->Read(1, 10, 1 << 20).ok());  // counted once, not per read
  EXPECT_EQ((*s)->counters().corrupt_records_skipped, 1u);
}

TEST(Spool, DamagedStateFileFallsBackToSegments) {
  const std::string dir = TempDir();
  uint64_t epoch;
  {
    auto s = Spool::Open(dir, Small());
    epoch = (*s)->epoch();
    for (uint64_t i = 1; i <= 4; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 1).ok());
  }
  std::ofstream(dir + "/state", std::ios::trunc) << "garbage";
  auto s = Spool::Open(dir, Small());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->epoch(), epoch);
  EXPECT_EQ((*s)->acked(), 0u);  // nothing known delivered: resend all, the collector de-dups
  EXPECT_EQ((*s)->next_seq(), 5u);
}

// ---- normal operation ----

TEST(Spool, SequenceAndAckSurviveRestartEvenWhenAllIsDelivered) {
  const std::string dir = TempDir();
  uint64_t epoch;
  {
    auto s = Spool::Open(dir, Small());
    ASSERT_TRUE(s.ok());
    epoch = (*s)->epoch();
    EXPECT_NE(epoch, 0u);
    for (uint64_t i = 1; i <= 10; ++i) EXPECT_EQ((*s)->Append(Payload(i), 2).value(), i);
    EXPECT_EQ((*s)->Ack(11).kind(), ErrorKind::kInvalidArgument);
    ASSERT_TRUE((*s)->Ack(10).ok());
    EXPECT_EQ((*s)->counters().unacked_events, 0u);
  }
  auto s = Spool::Open(dir, Small());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->epoch(), epoch);
  EXPECT_EQ((*s)->acked(), 10u);
  EXPECT_EQ((*s)->next_seq(), 11u);
  EXPECT_TRUE(Segments(dir).empty());  // delivered segments are gone
  EXPECT_EQ((*s)->Append(Payload(11), 1).value(), 11u);
}

TEST(Spool, ReadHonoursStartCountAndBytes) {
  auto s = Spool::Open(TempDir(), Small());
  for (uint64_t i = 1; i <= 20; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 1).ok());
  auto r = (*s)->Read(5, 3, 1 << 20);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].seq, 5u);
  EXPECT_EQ((*r)[2].seq, 7u);
  r = (*s)->Read(5, 100, 250);  // 100-byte payloads: two fit in 250
  EXPECT_EQ(r->size(), 2u);
  r = (*s)->Read(5, 100, 10);  // always at least one
  EXPECT_EQ(r->size(), 1u);
  r = (*s)->Read(21, 100, 1 << 20);
  EXPECT_TRUE(r->empty());
}

TEST(Spool, FullDropOldestCountsEveryDroppedEvent) {
  Options o = Small();
  o.max_bytes = 256 * 1024;  // 4 segments of 64 KiB
  auto s = Spool::Open(TempDir(), o);
  const size_t n = 1000;  // 1000 * 1024 bytes: far beyond the limit
  for (uint64_t i = 1; i <= n; ++i) ASSERT_TRUE((*s)->Append(Payload(i, 1000), 3).ok());
  const Counters c = (*s)->counters();
  EXPECT_LE(c.bytes, o.max_bytes);
  EXPECT_GT(c.dropped_records, 0u);
  // Nothing vanishes: every appended event is either still waiting or counted as dropped.
  EXPECT_EQ(c.unacked_events + c.dropped_events, 3 * n);
  EXPECT_EQ(c.unacked_records + c.dropped_records, n);
  // What is left is the newest, in order, and the shipper starts after the dropped ones.
  auto r = (*s)->Read((*s)->acked() + 1, n, 1 << 30);
  ASSERT_EQ(r->size(), c.unacked_records);
  EXPECT_EQ(r->back().seq, n);
  EXPECT_EQ(r->front().seq, n - c.unacked_records + 1);
}

TEST(Spool, ARecordDroppedInFlightAndThenDeliveredIsNotADrop) {
  Options o = Small();
  o.max_bytes = 256 * 1024;
  auto s = Spool::Open(TempDir(), o);
  ASSERT_TRUE((*s)->Append(Payload(1, 1000), 7).ok());
  auto inflight = (*s)->Read(1, 1, 1 << 20);  // the shipper takes record 1 …
  ASSERT_EQ(inflight->size(), 1u);
  for (uint64_t i = 2; i <= 400; ++i) ASSERT_TRUE((*s)->Append(Payload(i, 1000), 3).ok());
  const Counters before = (*s)->counters();
  ASSERT_GT(before.dropped_records, 0u);  // … record 1's segment is dropped meanwhile …
  ASSERT_TRUE((*s)->Ack(1).ok());         // … and the collector stores it after all.
  const Counters after = (*s)->counters();
  EXPECT_EQ(after.dropped_records, before.dropped_records - 1);
  EXPECT_EQ(after.dropped_events, before.dropped_events - 7);
  EXPECT_EQ(after.delivered_after_drop, 1u);
  ASSERT_TRUE((*s)->Ack(1).ok());  // a second ack changes nothing
  EXPECT_EQ((*s)->counters().dropped_events, after.dropped_events);
}

TEST(Spool, FullDropNewestRefusesAndCounts) {
  Options o = Small();
  o.max_bytes = 128 * 1024;
  o.when_full = FullPolicy::kDropNewest;
  auto s = Spool::Open(TempDir(), o);
  uint64_t refused = 0;
  for (uint64_t i = 1; i <= 300; ++i) {
    auto r = (*s)->Append(Payload(i, 1000), 2);
    if (!r.ok()) {
      EXPECT_EQ(r.status().kind(), ErrorKind::kResourceExhausted);
      ++refused;
    }
  }
  const Counters c = (*s)->counters();
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(c.dropped_records, refused);
  EXPECT_EQ(c.dropped_events, 2 * refused);
  EXPECT_EQ(c.unacked_events + c.dropped_events, 600u);
  // Delivering frees room again.
  ASSERT_TRUE((*s)->Ack((*s)->next_seq() - 1).ok());
  EXPECT_TRUE((*s)->Append(Payload(1, 1000), 2).ok());
}

TEST(Spool, FsyncAlwaysWorks) {
  Options o = Small();
  o.fsync = FsyncPolicy::kAlways;
  const std::string dir = TempDir();
  auto s = Spool::Open(dir, o);
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 1).ok());
  ASSERT_TRUE((*s)->Sync().ok());
  EXPECT_EQ((*s)->Read(1, 10, 1 << 20)->size(), 5u);
}

TEST(Spool, AnotherSensorsSpoolIsRefusedWithWhatToDo) {
  const std::string dir = TempDir();
  Options o = Small();
  o.owner = "tokyo-1";
  {
    auto s = Spool::Open(dir, o);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Append(Payload(1), 5).ok());
  }
  o.owner = "osaka-2";
  auto other = Spool::Open(dir, o);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_NE(other.status().message().find("belongs to sensor 'tokyo-1'"), std::string::npos)
      << other.status().message();
  EXPECT_NE(other.status().message().find("its own spool.dir"), std::string::npos);
  o.owner = "tokyo-1";
  auto mine = Spool::Open(dir, o);
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ((*mine)->Read(1, 10, 1 << 20)->size(), 1u);  // the refusal changed nothing
}

TEST(Spool, OneProcessAtATime) {
  const std::string dir = TempDir();
  auto a = Spool::Open(dir, Small());
  ASSERT_TRUE(a.ok());
  auto b = Spool::Open(dir, Small());
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().kind(), ErrorKind::kUnavailable);
  a->reset();
  EXPECT_TRUE(Spool::Open(dir, Small()).ok());
}

TEST(Spool, LossesSurviveARestart) {
  const std::string dir = TempDir();
  Options o = Small();
  o.max_bytes = 128 * 1024;
  o.when_full = FullPolicy::kDropNewest;
  Counters before;
  {
    auto s = Spool::Open(dir, o);
    for (uint64_t i = 1; i <= 300; ++i) (void)(*s)->Append(Payload(i, 1000), 2);
    ASSERT_TRUE((*s)->CountWriteFailure(17).ok());
    before = (*s)->counters();
    ASSERT_GT(before.dropped_events, 0u);
  }
  auto s = Spool::Open(dir, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->counters().dropped_events, before.dropped_events);
  EXPECT_EQ((*s)->counters().dropped_records, before.dropped_records);
  EXPECT_EQ((*s)->counters().write_failed_events, 17u);
}

TEST(Spool, TheNewestMetadataOutlivesItsRecordAndARestart) {
  const std::string dir = TempDir();
  const std::vector<uint8_t> m1 = {1, 2, 3}, m2 = {9, 8, 7, 6};
  {
    auto s = Spool::Open(dir, Small());
    EXPECT_TRUE((*s)->last_meta().empty());
    ASSERT_TRUE((*s)->Append(Payload(1), 1, m1).ok());
    ASSERT_TRUE((*s)->Append(Payload(2), 1, m2).ok());
    EXPECT_EQ((*s)->last_meta(), m2);
    EXPECT_EQ((*s)->Append(Payload(3), 1, std::vector<uint8_t>(1025)).status().kind(),
              ErrorKind::kInvalidArgument);
    auto r = (*s)->Read(1, 10, 1 << 20);
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[1].payload, Payload(2));  // the metadata is not part of the payload
  }
  {
    auto s = Spool::Open(dir, Small());
    EXPECT_EQ((*s)->last_meta(), m2);  // from the segment
    ASSERT_TRUE((*s)->Ack(2).ok());
    ASSERT_TRUE((*s)->Append(Payload(3), 1, m1).ok());
    ASSERT_TRUE((*s)->Ack(3).ok());  // every segment behind it goes
  }
  auto s = Spool::Open(dir, Small());
  EXPECT_EQ((*s)->last_meta(), m1);  // from the state
}

TEST(Spool, QuarantineKeepsARefusedBatchUntilRequeued) {
  const std::string dir = TempDir();
  auto s = Spool::Open(dir, Small());
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 10).ok());
  auto r = (*s)->Read(1, 10, 1 << 20);
  ASSERT_TRUE((*s)->Ack(1).ok());
  ASSERT_TRUE((*s)->Quarantine((*r)[1], "HTTP 400 {\"error\":\"count 10 exceeds 5\"}\n").ok());
  EXPECT_EQ((*s)->acked(), 2u);
  EXPECT_EQ((*s)->counters().quarantined_events, 10u);
  auto q = Spool::ListQuarantine(dir);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].seq, 2u);
  EXPECT_EQ((*q)[0].events, 10u);
  EXPECT_EQ((*q)[0].reason, "HTTP 400 {\"error\":\"count 10 exceeds 5\"} ");
  EXPECT_EQ(Spool::QuarantinedPayload(dir, 2).value(), Payload(2));
  EXPECT_EQ(Spool::QuarantinedPayload(dir, 3).status().kind(), ErrorKind::kInvalidArgument);
  s->reset();
  s = Spool::Open(dir, Small());  // counted again from the files at open
  EXPECT_EQ((*s)->counters().quarantined_events, 10u);
  EXPECT_EQ((*s)->Requeue(9).status().kind(), ErrorKind::kInvalidArgument);
  auto again = (*s)->Requeue(2);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again.value(), 4u);
  EXPECT_EQ((*s)->Read(4, 1, 1 << 20)->at(0).payload, Payload(2));
  EXPECT_TRUE(Spool::ListQuarantine(dir)->empty());
  EXPECT_EQ((*s)->counters().quarantined_events, 0u);
  // A damaged entry is named, not misread.
  ASSERT_EQ(mkdir((dir + "/quarantine").c_str(), 0700) == 0 || errno == EEXIST, true);
  std::ofstream(dir + "/quarantine/00000000000000000007.reason") << "seq x\n";
  EXPECT_EQ(Spool::ListQuarantine(dir).status().kind(), ErrorKind::kCorruption);
}

TEST(Spool, VersionOneStateIsRead) {
  const std::string dir = TempDir();
  uint64_t epoch;
  {
    auto s = Spool::Open(dir, Small());
    epoch = (*s)->epoch();
  }
  // A version 1 state (32 bytes): magic, version, epoch, acked 41, CRC-32C of bytes 0-27.
  uint8_t b[32] = {'I', 'S', 'D', 'S', 'T', 'A', 'T', 'E', 1, 0, 0, 0};
  for (int i = 0; i < 8; ++i) b[12 + i] = static_cast<uint8_t>(epoch >> (8 * i));
  b[20] = 41;
  const uint32_t crc = Crc32c(b, 28);
  for (int i = 0; i < 4; ++i) b[28 + i] = static_cast<uint8_t>(crc >> (8 * i));
  std::ofstream(dir + "/state", std::ios::binary).write(reinterpret_cast<char*>(b), 32);
  auto s = Spool::Open(dir, Small());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->epoch(), epoch);
  EXPECT_EQ((*s)->acked(), 41u);
  EXPECT_EQ((*s)->next_seq(), 42u);
}

}  // namespace
}  // namespace isdas::spool
