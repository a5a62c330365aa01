#include "sensor/sensor.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "common/clock.h"
#include "decode/outcome.h"
#include "model/heartbeat_codec.h"
#include "pki/pki.h"

namespace isdas::sensor {

Sensor::Sensor(Options o, Say say, Say warn)
    : opt_(std::move(o)), say_(std::move(say)), warn_(std::move(warn)) {}

Sensor::~Sensor() = default;

Result<std::unique_ptr<Sensor>> Sensor::Open(Options options, Say say, Say warn) {
  // A collector that closes a connection while a batch is being written must cost a retry,
  // not the process: TLS writes go through write(2), which raises SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<Sensor> s(new Sensor(std::move(options), std::move(say), std::move(warn)));
  Options& o = s->opt_;
  // Said at start-up, not by the collector's refusal later (docs/keys.md).
  ISDAS_RETURN_IF_ERROR(pki::CheckCredentials(
      {o.ship.cert_file, "collector.cert", o.ship.key_file, "collector.key", o.id}));
  if (!o.interface.empty() && o.prefixes.empty()) {
    s->warn_("sensor.prefixes is empty: capturing every packet on " + o.interface +
             ", the host's own traffic too; list the dark prefixes to capture only what reaches "
             "them (docs/config.md)");
  }
  o.spool.owner = o.id;
  auto sp = spool::Spool::Open(o.spool_dir, o.spool);
  if (!sp.ok()) return sp.status();
  s->spool_ = std::move(sp.value());
  s->at_open_ = s->spool_->counters();
  const spool::Counters& rc = s->at_open_;
  if (rc.recovered_cut_bytes) {
    s->warn_(
        "damage found in this spool since it was made: " + std::to_string(rc.recovered_cut_bytes) +
        " bytes, " + std::to_string(rc.recovered_cut_records) + " records, " +
        std::to_string(rc.recovered_cut_events) + " events (reported as spool_cut_*)");
  }
  Say warn_fn = s->warn_;
  o.ship.on_problem = [warn_fn](const std::string& what) { warn_fn(what); };
  o.ship.on_state = s->say_;
  auto sh = ship::Shipper::Create(o.ship, s->spool_.get());
  if (!sh.ok()) return sh.status();
  s->shipper_ = std::move(sh.value());
  if (!o.interface.empty()) {
    capture::LiveOptions lo;
    lo.interface = o.interface;
    lo.prefixes = o.prefixes;
    lo.snaplen = static_cast<int>(o.snaplen);
    lo.buffer_bytes = static_cast<int>(o.buffer_mb << 20);
    auto lc = capture::LiveCapture::Open(lo);
    if (!lc.ok()) return lc.status();
    s->live_ = std::move(lc.value());
  }
  ship::Shipper* shipper = s->shipper_.get();
  PipelineOptions po;
  po.id = o.id;
  po.batch_max_events = o.batch_max_events;
  po.batch_max_delay_ms = o.batch_max_delay_ms;
  po.on_batch = [shipper] { shipper->Notify(); };
  po.on_error = warn_fn;
  s->pipeline_ = std::make_unique<Pipeline>(po, s->spool_.get());
  return s;
}

std::string Sensor::Describe() const {
  char seq[64];
  std::snprintf(seq, sizeof seq, "epoch %016llx, next seq %llu",
                static_cast<unsigned long long>(spool_->epoch()),
                static_cast<unsigned long long>(spool_->next_seq()));
  return (live_ ? "capturing on " + opt_.interface : std::string("replaying files")) + ", spool " +
         opt_.spool_dir + " (" + seq + ")";
}

std::vector<std::pair<std::string, uint64_t>> Sensor::Counters() const {
  capture::LiveStats live;
  {
    MutexLock lock(&live_mu_);
    live = live_stats_;
  }
  std::vector<std::pair<std::string, uint64_t>> c;
  const decode::OutcomeCounts oc = pipeline_->outcomes();
  const spool::Counters sc = spool_->counters();
  const ship::Counters& sh = shipper_->counters();
  c.emplace_back("captured", pipeline_->captured());
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

Status Sensor::SendHeartbeat() {
  model::HeartbeatData hb{opt_.id, NowUs(), Counters()};
  return shipper_->SendHeartbeat(model::EncodeHeartbeat(hb));
}

// One at start and then every heartbeat_s, until heartbeat_stop_ wakes it.
void Sensor::HeartbeatLoop() {
  const auto interval = std::chrono::milliseconds(opt_.heartbeat_s * 1000);
  do {
    (void)SendHeartbeat();
  } while (!heartbeat_stop_.Wait(interval));
}

void Sensor::CaptureLive(StopFlag* stop, int* rc) {
  while (!stop->stop_requested()) {
    auto n = live_->Dispatch(4096, [this](const capture::Packet& p) { pipeline_->OnPacket(p); });
    if (!n.ok()) {
      warn_(n.status().message());
      *rc = kExitError;
      break;
    }
    pipeline_->MaybeFlush();
    MutexLock lock(&live_mu_);
    live_stats_ = live_->stats();
  }
  pipeline_->Flush();
  (void)spool_->Sync();
  // Stopping: give the shipper a moment to deliver what was just flushed. Whatever is not
  // delivered stays spooled for the next start.
  const int64_t deadline = NowUs() + static_cast<int64_t>(opt_.drain_on_exit_s) * 1000000;
  while (!shipper_->Drained() && NowUs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Sensor::ReplayFiles(StopFlag* stop, int* rc) {
  ReplayOptions ro;
  ro.files = sensor::ReplayFiles(opt_.replay);
  ro.spool_dir = opt_.spool_dir;
  ro.stop = [stop] { return stop->stop_requested(); };
  ro.say = say_;
  ro.error = warn_;
  *rc = Replay(ro, spool_.get(), pipeline_.get());
  pipeline_->Flush();
  (void)spool_->Sync();
  // Replay ends when everything is shipped (or the wait runs out, or a stop comes).
  const int64_t deadline = NowUs() + static_cast<int64_t>(opt_.replay_wait_s) * 1000000;
  while (!shipper_->Drained() && NowUs() < deadline && !stop->Wait(std::chrono::milliseconds(50))) {
  }
}

int Sensor::Run(StopFlag* stop) {
  ship::Shipper* shipper = shipper_.get();
  std::thread ship_thread([shipper] { shipper->Run(); });
  std::thread hb_thread([this] { HeartbeatLoop(); });
  int rc = kExitOk;
  if (live_) {
    CaptureLive(stop, &rc);
  } else {
    ReplayFiles(stop, &rc);
  }
  shipper_->Stop();
  ship_thread.join();
  heartbeat_stop_.Request();
  hb_thread.join();
  (void)SendHeartbeat();  // a last report with the final counters
  // Non-zero whenever this run did not get everything it captured stored.
  if (!shipper_->Drained()) {
    warn_("not everything was shipped (" + shipper_->last_error() + "); it stays spooled");
    if (rc == kExitOk) rc = kExitNotShipped;
  }
  if (!shipper_->auth_problem().empty()) {
    warn_("the collector refuses this sensor: " + shipper_->auth_problem());
    if (rc == kExitOk) rc = kExitNotShipped;
  }
  // Losses of this run (the spool's counts go on across restarts).
  const spool::Counters now = spool_->counters();
  const uint64_t dropped = now.dropped_events - at_open_.dropped_events;
  const uint64_t unwritten = now.write_failed_events - at_open_.write_failed_events;
  if (shipper_->counters().quarantined_batches > 0 || dropped > 0 || unwritten > 0) {
    warn_("events not stored: " + std::to_string(shipper_->counters().quarantined_events.load()) +
          " quarantined as malformed (isdas spool list --dir " + opt_.spool_dir + "), " +
          std::to_string(dropped) + " dropped by a full spool, " + std::to_string(unwritten) +
          " not written to it");
    if (rc == kExitOk) rc = kExitNotStored;
  }
  return rc;
}

}  // namespace isdas::sensor
