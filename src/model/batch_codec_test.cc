#include "model/batch_codec.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include "model/batch.pb.h"

namespace isdas::model {
namespace {

Event Ev(int i, bool v6 = false) {
  Event e;
  e.ts_us = 1795651200LL * 1000000 + i * 1500;
  const uint8_t a16[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  if (v6) {
    e.src.SetV6(a16);
    e.dst.SetV6(a16);
    e.dst.bytes[15] = static_cast<uint8_t>(i);
  } else {
    e.src = IpAddr::V4(0xcb007107);
    e.dst = IpAddr::V4(0xc6130000u + static_cast<uint32_t>(i));
  }
  e.proto = 6;
  e.sport = static_cast<uint16_t>(40000 + i);
  e.dport = 23;
  e.tcp_flags = kTcpSyn;
  e.ttl = 52;
  e.ip_id = 54321;
  e.ip_len = 40;
  e.tcp_seq = 0xfffffff0u + static_cast<uint32_t>(i);
  e.tcp_win = 1024;
  e.tcp_optlen = 4;
  e.tcp_mss = 1460;
  e.flags = kFlagFragment;
  e.labels = Labels{TrafficKind::kScan, Tool::kZmap, kSpoofHighTtlNoOptions};
  return e;
}

BatchHeader Header() { return BatchHeader{"tokyo-1", 0x1122334455667788ull, 42, 1}; }

std::vector<uint8_t> Compress(const std::string& raw) {
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1));
  return out;
}

// A valid two-event batch as protobuf, for tests to break one field of.
wire::v1::Batch ValidProto() {
  std::vector<Event> evs{Ev(1), Ev(2)};
  auto z = EncodeBatch(Header(), evs);
  std::vector<char> raw(ZSTD_getFrameContentSize(z->data(), z->size()));
  ZSTD_decompress(raw.data(), raw.size(), z->data(), z->size());
  wire::v1::Batch b;
  b.ParseFromArray(raw.data(), static_cast<int>(raw.size()));
  return b;
}

ErrorKind DecodeKind(const wire::v1::Batch& b) {
  return DecodeBatch(Compress(b.SerializeAsString()), BatchLimits{}).status().kind();
}

// ---- hostile input first ----

TEST(BatchDecode, GarbageAndTruncatedFramesAreRefused) {
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'z', 's', 't', 'd'};
  EXPECT_EQ(DecodeBatch(junk, {}).status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(DecodeBatch({}, {}).status().kind(), ErrorKind::kInvalidArgument);
  std::vector<Event> evs{Ev(1), Ev(2), Ev(3)};
  auto z = EncodeBatch(Header(), evs);
  ASSERT_TRUE(z.ok());
  std::vector<uint8_t> cut(z->begin(), z->end() - 3);
  EXPECT_EQ(DecodeBatch(cut, {}).status().kind(), ErrorKind::kInvalidArgument);
  std::vector<uint8_t> extra = *z;
  extra.push_back(0);
  EXPECT_EQ(DecodeBatch(extra, {}).status().kind(), ErrorKind::kInvalidArgument);
  // Valid zstd of bytes that are not a protobuf.
  EXPECT_EQ(DecodeBatch(Compress(std::string(100, '\xff')), {}).status().kind(),
            ErrorKind::kInvalidArgument);
}

TEST(BatchDecode, ZstdBombStopsAtTheLimit) {
  // 200 MB of zeros compresses to a few kilobytes.
  ZSTD_CCtx* c = ZSTD_createCCtx();
  std::vector<uint8_t> out(1 << 20);
  std::vector<char> zeros(1 << 20, 0);
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  for (int i = 0; i < 200; ++i) {
    ZSTD_inBuffer ib{zeros.data(), zeros.size(), 0};
    ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue);
  }
  ZSTD_inBuffer end{nullptr, 0, 0};
  while (ZSTD_compressStream2(c, &ob, &end, ZSTD_e_end) != 0) {
  }
  ZSTD_freeCCtx(c);
  out.resize(ob.pos);
  ASSERT_LT(out.size(), 100000u);
  auto r = DecodeBatch(out, BatchLimits{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("decompresses to more than"), std::string::npos);
}

TEST(BatchDecode, OversizedBodyIsRefusedBeforeDecompressing) {
  BatchLimits lim;
  lim.max_compressed_bytes = 10;
  std::vector<Event> evs{Ev(1)};
  auto r = DecodeBatch(*EncodeBatch(Header(), evs), lim);
  EXPECT_EQ(r.status().kind(), ErrorKind::kInvalidArgument);
}

TEST(BatchDecode, EachOutOfRangeFieldIsNamed) {
  struct Case {
    const char* name;
    std::function<void(wire::v1::Batch*)> breakit;
  } cases[] = {
      {"sensor_id", [](wire::v1::Batch* b) { b->set_sensor_id("bad id/../x"); }},
      {"sensor_id", [](wire::v1::Batch* b) { b->set_sensor_id(""); }},
      {"seq", [](wire::v1::Batch* b) { b->set_seq(0); }},
      {"count", [](wire::v1::Batch* b) { b->set_count(3); }},
      {"sport", [](wire::v1::Batch* b) { b->set_sport(1, 70000); }},
      {"dport", [](wire::v1::Batch* b) { b->set_dport(0, 65536); }},
      {"proto", [](wire::v1::Batch* b) { b->set_proto(0, 256); }},
      {"ttl", [](wire::v1::Batch* b) { b->set_ttl(0, 300); }},
      {"tcp_optlen", [](wire::v1::Batch* b) { b->set_tcp_opt(0, (1460u << 8) | 41); }},
      {"tool", [](wire::v1::Batch* b) { b->set_labels(0, 9u << 8); }},
      {"kind", [](wire::v1::Batch* b) { b->set_labels(0, 3); }},
      {"timestamp", [](wire::v1::Batch* b) { b->set_ts_delta_us(0, -5); }},
      {"timestamp", [](wire::v1::Batch* b) { b->set_ts_delta_us(1, INT64_MAX); }},
      {"family", [](wire::v1::Batch* b) { (*b->mutable_family())[0] = 5; }},
      {"address", [](wire::v1::Batch* b) { b->mutable_src()->pop_back(); }},
      {"address", [](wire::v1::Batch* b) { b->mutable_dst()->push_back('x'); }},
      {"column 'ttl'", [](wire::v1::Batch* b) { b->add_ttl(1); }},
  };
  for (const Case& c : cases) {
    wire::v1::Batch b = ValidProto();
    ASSERT_EQ(DecodeKind(b), ErrorKind::kOk);
    c.breakit(&b);
    auto r = DecodeBatch(Compress(b.SerializeAsString()), BatchLimits{});
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.name), std::string::npos)
        << c.name << ": " << r.status().message();
  }
}

// ---- round trip ----

TEST(BatchCodec, RoundTripKeepsEveryFieldOfMixedFamilies) {
  std::vector<Event> evs;
  for (int i = 0; i < 1000; ++i) evs.push_back(Ev(i, i % 3 == 0));
  auto z = EncodeBatch(Header(), evs);
  ASSERT_TRUE(z.ok());
  auto d = DecodeBatch(*z, BatchLimits{});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->header.sensor_id, "tokyo-1");
  EXPECT_EQ(d->header.epoch, 0x1122334455667788ull);
  EXPECT_EQ(d->header.seq, 42u);
  ASSERT_EQ(d->events.size(), evs.size());
  for (size_t i = 0; i < evs.size(); ++i) {
    const Event& a = evs[i];
    const Event& b = d->events[i];
    EXPECT_EQ(a.ts_us, b.ts_us);
    EXPECT_TRUE(a.src == b.src);
    EXPECT_TRUE(a.dst == b.dst);
    EXPECT_EQ(a.sport, b.sport);
    EXPECT_EQ(a.tcp_seq, b.tcp_seq);
    EXPECT_EQ(a.tcp_mss, b.tcp_mss);
    EXPECT_EQ(a.tcp_optlen, b.tcp_optlen);
    EXPECT_EQ(a.ip_id, b.ip_id);
    EXPECT_EQ(a.flags, b.flags);
    EXPECT_EQ(a.labels.tool, b.labels.tool);
    EXPECT_EQ(a.labels.spoof, b.labels.spoof);
  }
  // Columnar + zstd: well under the 88-byte in-memory event.
  EXPECT_LT(z->size(), evs.size() * 20);
}

TEST(BatchCodec, EmptyBatchIsValid) {
  auto z = EncodeBatch(Header(), {});
  ASSERT_TRUE(z.ok());
  auto d = DecodeBatch(*z, BatchLimits{});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->events.empty());
}

}  // namespace
}  // namespace isdas::model
