// `isdas sensor --config sensor.toml`: capture (live or replayed files) → decode → classify →
// batch → spool → ship to the collector, with heartbeats. Config keys: docs/config.md.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture/live_capture.h"
#include "commands.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/stop_signal.h"
#include "decode/outcome.h"
#include "model/batch_codec.h"
#include "model/heartbeat_codec.h"
#include "sensor/pipeline.h"
#include "ship/shipper.h"
#include "spool/spool.h"

namespace isdas::app {
namespace {

struct SensorConfig {
  std::string id;
  std::string interface;
  std::vector<std::string> replay;
  std::vector<std::string> prefixes;
  uint64_t snaplen = 256;
  uint64_t buffer_mb = 64;
  uint64_t heartbeat_s = 30;
  uint64_t replay_wait_s = 600;
  uint64_t drain_on_exit_s = 10;
  uint64_t batch_max_events = 8192;
  uint64_t batch_max_delay_ms = 1000;
  std::string spool_dir = "spool";
  spool::Options spool;
  ship::Options ship;
};

Result<SensorConfig> LoadConfig(const std::string& path) {
  auto c = Config::Load(path);
  if (!c.ok()) return c.status();
  SensorConfig s;
  ISDAS_RETURN_IF_ERROR(c->Require("sensor.id"));
  ISDAS_RETURN_IF_ERROR(c->GetString("sensor.id", &s.id));
  if (!model::ValidSensorId(s.id)) {
    return c->Invalid("sensor.id",
                      "use 1-64 characters of [A-Za-z0-9._-], not starting with . or -");
  }
  ISDAS_RETURN_IF_ERROR(c->GetString("sensor.interface", &s.interface));
  ISDAS_RETURN_IF_ERROR(c->GetStringList("sensor.replay", &s.replay));
  if (s.interface.empty() == s.replay.empty()) {
    return c->Invalid(s.interface.empty() ? "sensor.interface" : "sensor.replay",
                      "set exactly one of sensor.interface and sensor.replay");
  }
  ISDAS_RETURN_IF_ERROR(c->GetStringList("sensor.prefixes", &s.prefixes));
  auto filter = capture::FilterForPrefixes(s.prefixes);
  if (!filter.ok()) return c->Invalid("sensor.prefixes", filter.status().message());
  ISDAS_RETURN_IF_ERROR(c->GetUint("sensor.snaplen", 96, 65535, &s.snaplen));
  ISDAS_RETURN_IF_ERROR(c->GetUint("sensor.buffer_mb", 1, 4096, &s.buffer_mb));
  ISDAS_RETURN_IF_ERROR(c->GetUint("sensor.heartbeat_s", 1, 86400, &s.heartbeat_s));
  ISDAS_RETURN_IF_ERROR(c->GetUint("sensor.replay_wait_s", 0, 86400 * 7, &s.replay_wait_s));
  ISDAS_RETURN_IF_ERROR(c->GetUint("sensor.drain_on_exit_s", 0, 3600, &s.drain_on_exit_s));
  ISDAS_RETURN_IF_ERROR(c->GetUint("batch.max_events", 1, 1000000, &s.batch_max_events));
  ISDAS_RETURN_IF_ERROR(c->GetUint("batch.max_delay_ms", 1, 3600000, &s.batch_max_delay_ms));
  ISDAS_RETURN_IF_ERROR(c->GetString("spool.dir", &s.spool_dir));
  ISDAS_RETURN_IF_ERROR(c->GetUint("spool.max_bytes", 128 * 1024, 1ull << 44, &s.spool.max_bytes));
  ISDAS_RETURN_IF_ERROR(
      c->GetUint("spool.segment_bytes", 64 * 1024, 1ull << 32, &s.spool.segment_bytes));
  if (s.spool.max_bytes < 2 * s.spool.segment_bytes) {
    return c->Invalid("spool.max_bytes", "must be at least twice spool.segment_bytes");
  }
  std::string fsync = "interval", full = "drop_oldest";
  ISDAS_RETURN_IF_ERROR(c->GetEnum("spool.fsync", {"always", "interval", "never"}, &fsync));
  s.spool.fsync = fsync == "always"     ? spool::FsyncPolicy::kAlways
                  : fsync == "interval" ? spool::FsyncPolicy::kInterval
                                        : spool::FsyncPolicy::kNever;
  uint64_t v = s.spool.fsync_interval_ms;
  ISDAS_RETURN_IF_ERROR(c->GetUint("spool.fsync_interval_ms", 1, 3600000, &v));
  s.spool.fsync_interval_ms = static_cast<uint32_t>(v);
  ISDAS_RETURN_IF_ERROR(c->GetEnum("spool.when_full", {"drop_oldest", "drop_newest"}, &full));
  s.spool.when_full =
      full == "drop_oldest" ? spool::FullPolicy::kDropOldest : spool::FullPolicy::kDropNewest;
  for (const char* k : {"collector.urls", "collector.ca", "collector.cert", "collector.key"}) {
    ISDAS_RETURN_IF_ERROR(c->Require(k));
  }
  ISDAS_RETURN_IF_ERROR(c->GetStringList("collector.urls", &s.ship.urls));
  for (const auto& u : s.ship.urls) {
    auto e = ship::ParseUrl(u);
    if (!e.ok()) return c->Invalid("collector.urls", e.status().message());
  }
  if (s.ship.urls.empty()) return c->Invalid("collector.urls", "needs at least one URL");
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.ca", &s.ship.ca_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.cert", &s.ship.cert_file));
  ISDAS_RETURN_IF_ERROR(c->GetString("collector.key", &s.ship.key_file));
  v = s.ship.initial_backoff_ms;
  ISDAS_RETURN_IF_ERROR(c->GetUint("collector.initial_backoff_ms", 1, 600000, &v));
  s.ship.initial_backoff_ms = static_cast<uint32_t>(v);
  v = s.ship.max_backoff_ms;
  ISDAS_RETURN_IF_ERROR(c->GetUint("collector.max_backoff_ms", 1, 3600000, &v));
  s.ship.max_backoff_ms = static_cast<uint32_t>(v);
  v = s.ship.window;
  ISDAS_RETURN_IF_ERROR(c->GetUint("collector.window", 1, 64, &v));
  s.ship.window = static_cast<uint32_t>(v);
  ISDAS_RETURN_IF_ERROR(c->CheckAllKeysUsed());
  return s;
}

// The heartbeat's counters: the pipeline's, the spool's (cumulative across restarts) and the
// shipper's.
std::vector<std::pair<std::string, uint64_t>> Counters(const sensor::Pipeline& pipe,
                                                       const spool::Spool& sp,
                                                       const ship::Shipper& shipper,
                                                       const capture::LiveStats& live) {
  std::vector<std::pair<std::string, uint64_t>> c;
  const decode::OutcomeCounts oc = pipe.outcomes();
  const spool::Counters sc = sp.counters();
  const ship::Counters& sh = shipper.counters();
  c.emplace_back("captured", pipe.captured());
  c.emplace_back("kernel_drops", live.kernel_drops);
  c.emplace_back("interface_drops", live.interface_drops);
  c.emplace_back("decoded", oc[decode::Outcome::kEvent]);
  c.emplace_back("anomalies", oc.anomalies());
  for (size_t i = 1; i < decode::kOutcomeCount; ++i) {
    const auto o = static_cast<decode::Outcome>(i);
    if (oc[o]) c.emplace_back("outcome." + std::string(decode::OutcomeName(o)), oc[o]);
  }
  c.emplace_back("spooled", sc.appended_events);
  c.emplace_back("spool_bytes", sc.bytes);
  c.emplace_back("spool_unshipped", sc.unacked_events);
  c.emplace_back("spool_drops", sc.dropped_events);
  c.emplace_back("spool_cut_bytes", sc.recovered_cut_bytes);
  c.emplace_back("spool_cut_events", sc.recovered_cut_events);
  c.emplace_back("spool_corrupt_events", sc.corrupt_events_skipped);
  c.emplace_back("spool_write_failed", sc.write_failed_events);
  c.emplace_back("spool_quarantined", sc.quarantined_events);
  c.emplace_back("shipped", sh.shipped_events.load());
  c.emplace_back("quarantined", sh.quarantined_events.load());
  c.emplace_back("auth_refusals", sh.auth_refusals.load());
  c.emplace_back("retries", sh.retries.load());
  c.emplace_back("reconnects", sh.reconnects.load());
  return c;
}

}  // namespace

int CmdSensor(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "--config") {
    std::fprintf(stderr, "usage: isdas sensor --config sensor.toml\n");
    return 64;
  }
  auto cfg = LoadConfig(args[1]);
  if (!cfg.ok()) {
    std::fprintf(stderr, "isdas sensor: %s\n", cfg.status().message().c_str());
    return 1;
  }
  cfg->spool.owner = cfg->id;
  auto sp = spool::Spool::Open(cfg->spool_dir, cfg->spool);
  if (!sp.ok()) {
    std::fprintf(stderr, "isdas sensor: %s\n", sp.status().message().c_str());
    return 1;
  }
  const spool::Counters rc = (*sp)->counters();
  if (rc.recovered_cut_bytes) {
    std::fprintf(stderr,
                 "isdas sensor: damage found in this spool since it was made: %llu bytes, %llu "
                 "records, %llu events (reported as spool_cut_*)\n",
                 static_cast<unsigned long long>(rc.recovered_cut_bytes),
                 static_cast<unsigned long long>(rc.recovered_cut_records),
                 static_cast<unsigned long long>(rc.recovered_cut_events));
  }
  cfg->ship.on_problem = [](const std::string& what) {
    std::fprintf(stderr, "isdas sensor: %s\n", what.c_str());
  };
  auto sh = ship::Shipper::Create(cfg->ship, sp->get());
  if (!sh.ok()) {
    std::fprintf(stderr, "isdas sensor: %s\n", sh.status().message().c_str());
    return 1;
  }
  std::unique_ptr<capture::LiveCapture> live;
  if (!cfg->interface.empty()) {
    capture::LiveOptions lo;
    lo.interface = cfg->interface;
    lo.prefixes = cfg->prefixes;
    lo.snaplen = static_cast<int>(cfg->snaplen);
    lo.buffer_bytes = static_cast<int>(cfg->buffer_mb << 20);
    auto lc = capture::LiveCapture::Open(lo);
    if (!lc.ok()) {
      std::fprintf(stderr, "isdas sensor: %s\n", lc.status().message().c_str());
      return 1;
    }
    live = std::move(lc.value());
  }
  StopSignal& stop = StopSignal::Install();
  ship::Shipper* shipper = sh->get();
  sensor::PipelineOptions po;
  po.id = cfg->id;
  po.batch_max_events = cfg->batch_max_events;
  po.batch_max_delay_ms = cfg->batch_max_delay_ms;
  po.on_batch = [shipper] { shipper->Notify(); };
  po.on_error = [](const std::string& e) { std::fprintf(stderr, "isdas sensor: %s\n", e.c_str()); };
  sensor::Pipeline pipe(po, sp->get());
  std::thread ship_thread([shipper] { shipper->Run(); });
  std::atomic<bool> hb_stop{false};
  std::mutex live_mu;
  capture::LiveStats live_stats;
  auto heartbeat = [&] {
    capture::LiveStats ls;
    {
      std::lock_guard<std::mutex> lock(live_mu);
      ls = live_stats;
    }
    model::HeartbeatData hb{cfg->id, NowUs(), Counters(pipe, **sp, *shipper, ls)};
    return shipper->SendHeartbeat(model::EncodeHeartbeat(hb));
  };
  std::thread hb_thread([&] {
    int64_t last = 0;
    while (!hb_stop) {
      if (NowUs() - last >= static_cast<int64_t>(cfg->heartbeat_s) * 1000000) {
        last = NowUs();
        (void)heartbeat();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::printf("isdas sensor %s: %s, spool %s (epoch %016llx, next seq %llu)\n", cfg->id.c_str(),
              live ? ("capturing on " + cfg->interface).c_str() : "replaying files",
              cfg->spool_dir.c_str(), static_cast<unsigned long long>((*sp)->epoch()),
              static_cast<unsigned long long>((*sp)->next_seq()));
  std::fflush(stdout);
  int rc_exit = 0;
  if (live) {
    while (!stop.stop_requested()) {
      auto n = live->Dispatch(4096, [&](const capture::Packet& p) { pipe.OnPacket(p); });
      if (!n.ok()) {
        std::fprintf(stderr, "isdas sensor: %s\n", n.status().message().c_str());
        rc_exit = 1;
        break;
      }
      pipe.MaybeFlush();
      std::lock_guard<std::mutex> lock(live_mu);
      live_stats = live->stats();
    }
  } else {
    sensor::ReplayOptions ro;
    ro.files = sensor::ReplayFiles(cfg->replay);
    ro.spool_dir = cfg->spool_dir;
    ro.stop = [&stop] { return stop.stop_requested(); };
    ro.say = [](const std::string& m) { std::printf("isdas sensor: %s\n", m.c_str()); };
    ro.error = [](const std::string& m) { std::fprintf(stderr, "isdas sensor: %s\n", m.c_str()); };
    rc_exit = sensor::Replay(ro, sp->get(), &pipe);
    pipe.Flush();
    // Replay ends when everything is shipped (or the wait runs out, or a signal comes).
    const int64_t deadline = NowUs() + static_cast<int64_t>(cfg->replay_wait_s) * 1000000;
    while (!shipper->Drained() && NowUs() < deadline && !stop.Wait(std::chrono::milliseconds(50))) {
    }
    if (!shipper->Drained()) {
      std::fprintf(stderr, "isdas sensor: not everything was shipped (%s); it stays spooled\n",
                   shipper->last_error().c_str());
      if (rc_exit == 0) rc_exit = 3;
    }
  }
  pipe.Flush();
  (void)(*sp)->Sync();
  if (live) {
    // Stopping: give the shipper a moment to deliver what was just flushed. Whatever is not
    // delivered stays spooled for the next start.
    const int64_t deadline = NowUs() + static_cast<int64_t>(cfg->drain_on_exit_s) * 1000000;
    while (!shipper->Drained() && NowUs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  shipper->Stop();
  ship_thread.join();
  hb_stop = true;
  hb_thread.join();
  (void)heartbeat();  // a last report with the final counters
  for (const auto& [k, v] : Counters(pipe, **sp, *shipper, live_stats)) {
    std::printf("%s: %llu\n", k.c_str(), static_cast<unsigned long long>(v));
  }
  // Exit non-zero whenever this run did not get everything it captured stored.
  const spool::Counters fc = (*sp)->counters();
  if (rc_exit == 0 && live && !shipper->Drained()) {
    std::fprintf(stderr, "isdas sensor: not everything was shipped (%s); it stays spooled\n",
                 shipper->last_error().c_str());
    rc_exit = 3;
  }
  if (!shipper->auth_problem().empty()) {
    std::fprintf(stderr, "isdas sensor: the collector refuses this sensor: %s\n",
                 shipper->auth_problem().c_str());
    if (rc_exit == 0) rc_exit = 3;
  }
  // Losses of this run (the spool's counts go on across restarts).
  const uint64_t dropped = fc.dropped_events - rc.dropped_events;
  const uint64_t unwritten = fc.write_failed_events - rc.write_failed_events;
  if (shipper->counters().quarantined_batches > 0 || dropped > 0 || unwritten > 0) {
    std::fprintf(stderr,
                 "isdas sensor: events not stored: %llu quarantined as malformed (isdas spool "
                 "list --dir %s), %llu dropped by a full spool, %llu not written to it\n",
                 static_cast<unsigned long long>(shipper->counters().quarantined_events.load()),
                 cfg->spool_dir.c_str(), static_cast<unsigned long long>(dropped),
                 static_cast<unsigned long long>(unwritten));
    if (rc_exit == 0) rc_exit = 4;
  }
  return rc_exit;
}

}  // namespace isdas::app
