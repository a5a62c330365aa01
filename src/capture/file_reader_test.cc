#include "capture/file_reader.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <random>

#include "synth/packet_builder.h"

namespace isdas::capture {
namespace {

using namespace synth;  // NOLINT

std::vector<Record> RandomRecords(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Record> out;
  int64_t t = 1795651200LL * 1000000;
  for (int i = 0; i < n; ++i) {
    Record r;
    t += rng() % 5000;
    r.ts_us = t;
    r.data.resize(rng() % 200);
    for (auto& b : r.data) b = static_cast<uint8_t>(rng());
    r.wire_len = static_cast<int64_t>(r.data.size() + rng() % 3);
    out.push_back(r);
  }
  return out;
}

std::string TempFile(const Bytes& b) {
  char name[] = "/tmp/isdas_reader_XXXXXX";
  int fd = mkstemp(name);
  close(fd);
  EXPECT_TRUE(WriteFile(name, b));
  return name;
}

// ---- damaged input first ----

TEST(FileReader, NotACaptureIsCorruptionAtOffsetZero) {
  const Bytes text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  auto r = FileReader::FromMemory(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kCorruption);
  EXPECT_NE(r.status().message().find("offset 0"), std::string::npos);
  EXPECT_EQ(FileReader::FromMemory(Bytes{}).status().kind(), ErrorKind::kCorruption);
  Bytes hdr = PcapFile(1, {});
  hdr.resize(20);
  EXPECT_EQ(FileReader::FromMemory(hdr).status().kind(), ErrorKind::kCorruption);
}

TEST(FileReader, MissingFileIsIoError) {
  auto r = FileReader::Open("/nonexistent/isdas/x.pcap");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kIo);
}

TEST(FileReader, TruncatedRecordKeepsEarlierPacketsAndNamesOffset) {
  const std::vector<Record> recs = RandomRecords(5, 1);
  Bytes f = PcapFile(1, recs);
  size_t off4 = 24;
  for (int i = 0; i < 4; ++i) off4 += 16 + recs[i].data.size();
  f.resize(off4 + 16 + recs[4].data.size() / 2);
  auto r = FileReader::FromMemory(f);
  ASSERT_TRUE(r.ok());
  Packet p;
  int n = 0;
  while ((*r)->Next(&p)) ++n;
  EXPECT_EQ(n, 4);
  EXPECT_EQ((*r)->status().kind(), ErrorKind::kCorruption);
  EXPECT_NE((*r)->status().message().find("offset " + std::to_string(off4)), std::string::npos)
      << (*r)->status().message();
  EXPECT_FALSE((*r)->Next(&p));  // stays failed
}

TEST(FileReader, ModifiedPcapIsRefusedByName) {
  Bytes f = PcapFile(1, {});
  f[0] = 0x34;
  f[1] = 0xcd;
  auto r = FileReader::FromMemory(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kInvalidArgument);
}

TEST(FileReader, PcapngPacketForUndescribedInterfaceIsCorruption) {
  Bytes f = PcapngFile({1}, RandomRecords(2, 2), {0, 1});
  auto r = FileReader::FromMemory(f);
  ASSERT_TRUE(r.ok());
  Packet p;
  EXPECT_TRUE((*r)->Next(&p));
  EXPECT_FALSE((*r)->Next(&p));
  EXPECT_EQ((*r)->status().kind(), ErrorKind::kCorruption);
}

// ---- agreement with libpcap on valid files ----

void ExpectSameAsLibpcap(const Bytes& file, const std::vector<Record>& recs, uint32_t linktype) {
  const std::string path = TempFile(file);
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* pc =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, err);
  ASSERT_NE(pc, nullptr) << err;
  auto r = FileReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  size_t i = 0;
  pcap_pkthdr* h;
  const u_char* d;
  Packet p;
  while (pcap_next_ex(pc, &h, &d) == 1) {
    ASSERT_TRUE((*r)->Next(&p)) << i;
    EXPECT_EQ(p.caplen, h->caplen);
    EXPECT_EQ(p.wire_len, h->len);
    EXPECT_EQ(p.ts_us, int64_t{h->ts.tv_sec} * 1000000 + h->ts.tv_usec);
    EXPECT_EQ(p.ts_us, recs[i].ts_us);
    EXPECT_EQ(0, memcmp(p.data, d, h->caplen));
    EXPECT_EQ(p.linktype, linktype);  // LINKTYPE_ value as stored, not the host DLT_
    ++i;
  }
  EXPECT_EQ(i, recs.size());
  EXPECT_FALSE((*r)->Next(&p));
  EXPECT_TRUE((*r)->status().ok()) << (*r)->status().ToString();
  pcap_close(pc);
  std::remove(path.c_str());
}

TEST(FileReader, AgreesWithLibpcapOnMicroNanoBigEndianAndPcapng) {
  const std::vector<Record> recs = RandomRecords(300, 3);
  ExpectSameAsLibpcap(PcapFile(1, recs, PcapFlavor::kMicro), recs, 1);
  ExpectSameAsLibpcap(PcapFile(113, recs, PcapFlavor::kNano), recs, 113);
  ExpectSameAsLibpcap(PcapFile(101, recs, PcapFlavor::kMicroBigEndian), recs, 101);
  ExpectSameAsLibpcap(PcapngFile({1}, recs), recs, 1);
  ExpectSameAsLibpcap(PcapngFile({276}, recs, {}, 9), recs, 276);
}

TEST(FileReader, LargeFileCrossesBufferRefillsAndHashes) {
  // > 4 MiB so records straddle buffer refills.
  const std::vector<Record> recs = RandomRecords(60000, 4);
  const Bytes f = PcapFile(1, recs);
  ASSERT_GT(f.size(), 5u << 20);
  const std::string path = TempFile(f);
  auto r = FileReader::Open(path, /*sha256=*/true);
  ASSERT_TRUE(r.ok());
  Packet p;
  size_t n = 0;
  while ((*r)->Next(&p)) {
    ASSERT_EQ(p.caplen, recs[n].data.size());
    if (p.caplen) {
      ASSERT_EQ(0, memcmp(p.data, recs[n].data.data(), p.caplen));
    }
    ++n;
  }
  EXPECT_EQ(n, recs.size());
  EXPECT_EQ((*r)->offset(), f.size());
  auto sha = (*r)->FinishSha256();
  ASSERT_TRUE(sha.ok());
  auto m = FileReader::FromMemory(f, true);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(sha.value(), (*m)->FinishSha256().value());
  EXPECT_EQ(sha.value().size(), 64u);
  std::remove(path.c_str());
}

TEST(FileReader, KnownSha256OfEmptyPcapHeader) {
  // sha256 of the 24-byte header written by PcapFile(1, {}) computed with sha256sum.
  auto r = FileReader::FromMemory(PcapFile(1, {}), true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FileReader::FromMemory(PcapFile(1, {}))->get()->FinishSha256().status().kind(),
            ErrorKind::kInternal);
  const std::string path = TempFile(PcapFile(1, {}));
  std::string cmd = "sha256sum " + path;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65] = {};
  ASSERT_EQ(fread(buf, 1, 64, p), 64u);
  pclose(p);
  EXPECT_EQ((*r)->FinishSha256().value(), std::string(buf));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace isdas::capture
