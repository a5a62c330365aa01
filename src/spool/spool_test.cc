#include "spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

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
    s = Spool::Open(dir, Small());
    ASSERT_TRUE(s.ok());
    auto again = (*s)->Read(1, 10, 1 << 20);
    ASSERT_EQ(again->size(), 3u);
    EXPECT_EQ((*again)[2].payload, Payload(33));
    EXPECT_EQ((*s)->counters().recovered_cut_bytes, 0u);
  }
}

TEST(Spool, FlippedByteInARecordCutsItAndWhatFollows) {
  const std::string dir = TempDir();
  {
    auto s = Spool::Open(dir, Small());
    for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE((*s)->Append(Payload(i), 1).ok());
  }
  const std::string seg = Segments(dir).at(0);
  // Record 4 starts at 48 + 3 * 124; flip a payload byte.
  const int fd = open(seg.c_str(), O_RDWR);
  uint8_t b;
  ASSERT_EQ(pread(fd, &b, 1, 48 + 3 * 124 + 30), 1);
  b ^= 0x40;
  ASSERT_EQ(pwrite(fd, &b, 1, 48 + 3 * 124 + 30), 1);
  close(fd);
  auto s = Spool::Open(dir, Small());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->counters().recovered_cut_records, 1u);
  EXPECT_EQ((*s)->counters().recovered_cut_bytes, 2u * 124);
  EXPECT_EQ((*s)->counters().recovered_cut_events, 2u);  // records 4 and 5, one event each
  EXPECT_EQ((*s)->Read(1, 10, 1 << 20)->size(), 3u);
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

}  // namespace
}  // namespace isdas::spool
