// The sensor pipeline and replay against real files and a real spool: a replay interrupted
// as by kill -9 (pending events lost, nothing flushed) and started again spools every event of
// the file exactly once, the same events an uninterrupted replay spools.

#include "sensor/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "model/batch_codec.h"
#include "synth/darknet_traffic.h"

namespace isdas::sensor {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/isdas_sensor_XXXXXX";
  return mkdtemp(tmpl);
}

std::string Capture(const std::string& dir, uint64_t packets, uint32_t seed) {
  const std::string path = dir + "/sim-" + std::to_string(seed) + ".pcap";
  FILE* f = std::fopen(path.c_str(), "wb");
  synth::TrafficSpec spec;
  spec.packets = packets;
  spec.seed = seed;
  synth::TrafficTruth truth;
  EXPECT_TRUE(synth::WriteDarknetPcap(spec, f, &truth).ok());
  std::fclose(f);
  return path;
}

spool::Options SpoolOptions() {
  spool::Options o;
  o.segment_bytes = 1 << 20;
  o.max_bytes = 64 << 20;
  o.fsync = spool::FsyncPolicy::kNever;
  o.owner = "tokyo-1";
  return o;
}

using Key = std::tuple<int64_t, std::string, std::string, uint16_t, uint16_t, uint8_t>;

// Every event in the spool's unacknowledged records.
std::vector<Key> SpooledEvents(spool::Spool* s) {
  std::vector<Key> out;
  auto recs = s->Read(s->acked() + 1, 1 << 20, size_t{1} << 32);
  EXPECT_TRUE(recs.ok());
  for (const auto& r : recs.value()) {
    auto b = model::DecodeBatch(r.payload, model::BatchLimits{});
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->events.size(), r.events);
    for (const auto& e : b->events) {
      out.emplace_back(e.ts_us, e.src.ToString(), e.dst.ToString(), e.sport, e.dport, e.proto);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

int ReplayRun(const std::string& spool_dir, const std::vector<std::string>& files,
              uint64_t stop_after, bool flush_at_end, std::vector<std::string>* said = nullptr) {
  auto sp = spool::Spool::Open(spool_dir, SpoolOptions());
  EXPECT_TRUE(sp.ok()) << sp.status().ToString();
  PipelineOptions po;
  po.id = "tokyo-1";
  po.batch_max_events = 100;
  po.batch_max_delay_ms = 3600000;
  Pipeline pipe(po, sp->get());
  uint64_t seen = 0;
  ReplayOptions ro;
  ro.files = files;
  ro.spool_dir = spool_dir;
  ro.stop = [&] { return stop_after && ++seen >= stop_after; };
  ro.say = [&](const std::string& s) {
    if (said) said->push_back(s);
  };
  const int rc = Replay(ro, sp->get(), &pipe);
  if (flush_at_end) pipe.Flush();  // a crash (kill -9) flushes nothing
  return rc;
}

TEST(Replay, ARestartAfterACrashSpoolsEveryEventOnce) {
  const std::string dir = TempDir();
  const std::vector<std::string> files = {Capture(dir, 3000, 7), Capture(dir, 2000, 8)};
  // Reference: one uninterrupted replay.
  const std::string ref_dir = dir + "/ref";
  ASSERT_EQ(ReplayRun(ref_dir, files, 0, true), 0);
  auto ref = spool::Spool::Open(ref_dir, SpoolOptions());
  const std::vector<Key> want = SpooledEvents(ref->get());
  ASSERT_GT(want.size(), 4000u);
  ref->reset();
  // Crashes at packets 1,234 (mid first file, mid batch), then 2,000 more (into the second
  // file), then the rest.
  const std::string sd = dir + "/spool";
  ASSERT_EQ(ReplayRun(sd, files, 1234, false), 0);
  std::vector<std::string> said;
  ASSERT_EQ(ReplayRun(sd, files, 2000, false, &said), 0);
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said[0].find("resuming after packet 1200"), std::string::npos) << said[0];
  said.clear();
  ASSERT_EQ(ReplayRun(sd, files, 0, true, &said), 0);
  ASSERT_EQ(said.size(), 2u);
  EXPECT_NE(said[0].find("replayed completely before; skipped"), std::string::npos) << said[0];
  EXPECT_NE(said[1].find("resuming after packet"), std::string::npos) << said[1];
  auto sp = spool::Spool::Open(sd, SpoolOptions());
  EXPECT_EQ(SpooledEvents(sp->get()), want);  // every event once: none lost, none twice
  // Once more: both files are finished, nothing is added.
  const uint64_t next = (*sp)->next_seq();
  sp->reset();
  said.clear();
  ASSERT_EQ(ReplayRun(sd, files, 0, true, &said), 0);
  EXPECT_EQ(said.size(), 2u);
  sp = spool::Spool::Open(sd, SpoolOptions());
  EXPECT_EQ((*sp)->next_seq(), next);
}

TEST(Replay, AFileThatCannotBeReadIsReportedAndTheOthersGoOn) {
  const std::string dir = TempDir();
  const std::string good = Capture(dir, 500, 9);
  const std::string bad = dir + "/not-a-capture.pcap";
  FILE* f = std::fopen(bad.c_str(), "wb");
  std::fputs("this is not a pcap file at all", f);
  std::fclose(f);
  std::vector<std::string> errors;
  auto sp = spool::Spool::Open(dir + "/spool", SpoolOptions());
  PipelineOptions po;
  po.id = "tokyo-1";
  Pipeline pipe(po, sp->get());
  ReplayOptions ro;
  ro.files = {bad, good, dir + "/missing.pcap"};
  ro.spool_dir = dir + "/spool";
  ro.error = [&](const std::string& e) { errors.push_back(e); };
  EXPECT_EQ(Replay(ro, sp->get(), &pipe), 1);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("not-a-capture.pcap"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("missing.pcap"), std::string::npos) << errors[1];
  EXPECT_EQ(pipe.captured(), 500u);
  EXPECT_GT((*sp)->counters().appended_events, 0u);
}

TEST(ReplayPosition, TextRoundTripsAndJunkIsRefused) {
  ReplayPosition p{1, 2, 3, -4, 5}, q;
  ASSERT_TRUE(ReplayPosition::Parse(p.Text(), &q));
  EXPECT_TRUE(q.SameFile(p));
  EXPECT_EQ(q.packets, 5u);
  for (const char* bad : {"", "replay", "replay 1 2 3", "playback 1 2 3 4 5", "replay a b c d e"}) {
    EXPECT_FALSE(ReplayPosition::Parse(bad, &q)) << bad;
  }
  EXPECT_FALSE(ReplayPosition::Of("-", &q));
  EXPECT_FALSE(ReplayPosition::Of("/nonexistent/file.pcap", &q));
}

}  // namespace
}  // namespace isdas::sensor
