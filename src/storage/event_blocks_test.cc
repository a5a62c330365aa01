#include "storage/event_blocks.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstring>
#include <random>

#include "model/event_fields.h"

namespace isdas::storage {
namespace {

std::vector<model::Event> Random(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<model::Event> out(n);
  int64_t ts = 1795651200LL * 1000000;
  for (model::Event& e : out) {
    ts += static_cast<int64_t>(rng() % 2000) - 200;  // mostly forward, sometimes back
    e.ts_us = ts;
    e.sensor_id = static_cast<uint32_t>(rng() % 3);
    e.proto = rng() % 4 == 0 ? 17 : 6;
    e.tcp_flags = static_cast<uint8_t>(rng());
    e.icmp_type = static_cast<uint8_t>(rng());
    e.icmp_code = static_cast<uint8_t>(rng());
    if (rng() % 10 == 0) {
      uint8_t b[16];
      for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
      e.src = model::IpAddr::V6(b);
    } else {
      e.src = model::IpAddr::V4(static_cast<uint32_t>(rng()));
    }
    if (rng() % 50 != 0) e.dst = model::IpAddr::V4(0xc6130000u | (rng() & 0xffff));
    e.sport = static_cast<uint16_t>(rng());
    e.dport = static_cast<uint16_t>(rng());
    e.ttl = static_cast<uint8_t>(rng());
    e.flags = static_cast<uint8_t>(rng() & 7);
    e.tcp_optlen = static_cast<uint8_t>(rng() % 41);
    e.tcp_mss = static_cast<uint16_t>(rng());
    e.tcp_win = static_cast<uint16_t>(rng());
    e.tcp_seq = static_cast<uint32_t>(rng());
    e.ip_id = static_cast<uint32_t>(rng());
    e.ip_len = static_cast<uint32_t>(rng() % 65536);
    e.labels.kind = static_cast<model::TrafficKind>(rng() % 3);
    e.labels.tool = static_cast<model::Tool>(rng() % 5);
    e.labels.spoof = static_cast<uint8_t>(rng() & 15);
  }
  return out;
}

std::vector<model::SourceInfo> Sources(size_t n) {
  std::vector<model::SourceInfo> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 7 == 0) continue;  // not looked up
    out[i].country[0] = static_cast<char>('A' + i % 26);
    out[i].country[1] = static_cast<char>('Z' - i % 26);
    out[i].asn = static_cast<uint32_t>(i * 7919);
    out[i].research = i % 5 == 0;
  }
  return out;
}

std::string Compress(const std::string& raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1));
  return out;
}

std::string Raw(const std::string& block) {
  std::string raw(ZSTD_getFrameContentSize(block.data(), block.size()), '\0');
  raw.resize(ZSTD_decompress(raw.data(), raw.size(), block.data(), block.size()));
  return raw;
}

void ExpectCorrupt(const std::string& data, const std::string& says) {
  EventBlock b;
  b.events.resize(3);  // must come back empty
  Status s = DecodeEventBlock(data, &b);
  EXPECT_EQ(s.kind(), ErrorKind::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find(says), std::string::npos) << s.message();
  EXPECT_TRUE(b.events.empty());
  EXPECT_TRUE(b.sources.empty());
}

TEST(EventBlocks, NotZstdIsCorruption) {
  ExpectCorrupt("", "not a zstd frame");
  ExpectCorrupt("IEB1 plain bytes", "not a zstd frame");
}

TEST(EventBlocks, TruncatedFrameIsCorruption) {
  const auto ev = Random(1000, 1);
  const std::string block = EncodeEventBlock(ev, {}, -1);
  ExpectCorrupt(block.substr(0, block.size() - 5), "zstd");
}

TEST(EventBlocks, WrongMagicIsCorruption) {
  std::string raw = Raw(EncodeEventBlock(Random(10, 2), {}, -1));
  raw[3] = '9';
  ExpectCorrupt(Compress(raw), "magic");
}

TEST(EventBlocks, CountThatCannotFitIsCorruption) {
  std::string raw = Raw(EncodeEventBlock(Random(10, 3), {}, -1));
  // One more than stored: every column is read off by one, so which check fails first
  // depends on the data (here an address family); that one fails is what matters.
  const uint32_t one_more = 11;
  std::memcpy(raw.data() + 4, &one_more, 4);
  ExpectCorrupt(Compress(raw), "event block (");
  const uint32_t many = 1000;  // more than the bytes could hold even without addresses
  std::memcpy(raw.data() + 4, &many, 4);
  ExpectCorrupt(Compress(raw), "cannot hold 1000 events");
  const uint32_t huge = kMaxBlockEvents + 1;
  std::memcpy(raw.data() + 4, &huge, 4);
  ExpectCorrupt(Compress(raw), "above the maximum");
}

TEST(EventBlocks, CutShortOrTrailingBytesAreCorruption) {
  const std::string raw = Raw(EncodeEventBlock(Random(100, 4), Sources(100), -1));
  ExpectCorrupt(Compress(raw.substr(0, raw.size() - 1)), "cut short");
  ExpectCorrupt(Compress(raw + "x"), "after the last column");
}

TEST(EventBlocks, BadAddressFamilyOrLabelIsCorruption) {
  const size_t n = 20;
  auto ev = Random(n, 5);
  for (auto& e : ev) e.src = model::IpAddr::V4(1);  // v4 everywhere: columns at fixed places
  for (auto& e : ev) e.dst = model::IpAddr::V4(2);
  std::string raw = Raw(EncodeEventBlock(ev, {}, -1));
  const size_t families = 8 + n * (8 + 4 + 4);
  raw[families + 3] = 5;
  ExpectCorrupt(Compress(raw), "event 3: address family 5");
  raw = Raw(EncodeEventBlock(ev, {}, -1));
  const size_t kind = families + 2 * n + 8 * n + n * (2 + 2 + 1 + 1 + 1 + 2 + 2 + 4 + 4 + 4);
  raw[kind + 7] = 3;
  ExpectCorrupt(Compress(raw), "event 7: kind 3");
  raw = Raw(EncodeEventBlock(ev, {}, -1));
  raw[kind + n + 2] = 9;
  ExpectCorrupt(Compress(raw), "event 2: tool 9");
}

TEST(EventBlocks, EveryFieldSurvives) {
  const auto ev = Random(20000, 6);
  const auto src = Sources(ev.size());
  EventBlock b;
  ASSERT_TRUE(DecodeEventBlock(EncodeEventBlock(ev, src, -1), &b).ok());
  ASSERT_EQ(b.events.size(), ev.size());
  ASSERT_EQ(b.sources.size(), ev.size());
  for (size_t i = 0; i < ev.size(); ++i) {
    const model::Event &a = ev[i], &o = b.events[i];
    ASSERT_EQ(a.ts_us, o.ts_us) << i;
    ASSERT_EQ(a.sensor_id, o.sensor_id);
    ASSERT_EQ(a.proto, o.proto);
    ASSERT_EQ(a.tcp_flags, o.tcp_flags);
    ASSERT_EQ(a.icmp_type, o.icmp_type);
    ASSERT_EQ(a.icmp_code, o.icmp_code);
    ASSERT_TRUE(a.src == o.src) << i;
    ASSERT_TRUE(a.dst == o.dst) << i;
    ASSERT_EQ(a.sport, o.sport);
    ASSERT_EQ(a.dport, o.dport);
    ASSERT_EQ(a.ttl, o.ttl);
    ASSERT_EQ(a.flags, o.flags);
    ASSERT_EQ(a.tcp_optlen, o.tcp_optlen);
    ASSERT_EQ(a.tcp_mss, o.tcp_mss);
    ASSERT_EQ(a.tcp_win, o.tcp_win);
    ASSERT_EQ(a.tcp_seq, o.tcp_seq);
    ASSERT_EQ(a.ip_id, o.ip_id);
    ASSERT_EQ(a.ip_len, o.ip_len);
    ASSERT_EQ(a.labels.kind, o.labels.kind);
    ASSERT_EQ(a.labels.tool, o.labels.tool);
    ASSERT_EQ(a.labels.spoof, o.labels.spoof);
    ASSERT_EQ(std::memcmp(src[i].country, b.sources[i].country, 2), 0);
    ASSERT_EQ(src[i].asn, b.sources[i].asn);
    ASSERT_EQ(src[i].research, b.sources[i].research);
  }
}

// Every number field of the model (model/event_fields.h) has a column in the block: one event
// per field with that field at its widest value and every other at 0 comes back the same.
TEST(EventBlocks, EveryNumberFieldOfTheModelIsStored) {
  std::vector<model::Event> ev(model::kNumberFields.size());
  for (size_t i = 0; i < ev.size(); ++i) {
    const model::NumberField& f = model::kNumberFields[i];
    ev[i].src = model::IpAddr::V4(1);
    f.set(ev[i], f.bytes == 4 ? UINT32_MAX - 1 : (1u << (8 * f.bytes)) - 2);
  }
  EventBlock b;
  ASSERT_TRUE(DecodeEventBlock(EncodeEventBlock(ev, {}, 1), &b).ok());
  ASSERT_EQ(b.events.size(), ev.size());
  for (size_t i = 0; i < ev.size(); ++i) {
    for (const model::NumberField& f : model::kNumberFields) {
      EXPECT_EQ(f.get(b.events[i]), f.get(ev[i])) << "event " << i << ", field " << f.name;
    }
  }
}

TEST(EventBlocks, SensorOverrideAndNoSources) {
  const auto ev = Random(50, 7);
  EventBlock b;
  ASSERT_TRUE(DecodeEventBlock(EncodeEventBlock(ev, {}, 42), &b).ok());
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(b.events[i].sensor_id, 42u);
    EXPECT_EQ(b.sources[i].country[0], 0);
    EXPECT_EQ(b.sources[i].asn, 0u);
  }
  ASSERT_TRUE(DecodeEventBlock(EncodeEventBlock({}, {}, -1), &b).ok());
  EXPECT_TRUE(b.events.empty());
}

}  // namespace
}  // namespace isdas::storage
