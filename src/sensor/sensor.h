#pragma once

// The sensor as one object (docs/life-of-a-packet.md): live capture or replayed files → the
// pipeline (decode, classify, batch, spool) → the shipper, with heartbeats carrying its
// counters. `isdas sensor` parses its arguments, opens one and runs it until a stop signal.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "capture/live_capture.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/stop_signal.h"
#include "sensor/config.h"
#include "sensor/pipeline.h"
#include "ship/shipper.h"
#include "spool/spool.h"

namespace isdas::sensor {

// Exit statuses of Run (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;       // a capture or file could not be read
constexpr int kExitDamaged = 2;     // a replayed file was damaged part-way
constexpr int kExitNotShipped = 3;  // events stay spooled (collector away, or refusing us)
constexpr int kExitNotStored = 4;   // events of this run quarantined, dropped or not written

class Sensor {
 public:
  using Say = std::function<void(const std::string&)>;
  // Opens the spool (reporting damage found in it through `warn`), the shipper and, for live
  // capture, the interface. `say` gets progress, `warn` problems. Ignores SIGPIPE for the
  // process (a write to a connection the collector closed is an error to retry).
  static Result<std::unique_ptr<Sensor>> Open(Options options, Say say, Say warn);
  ~Sensor();
  Sensor(const Sensor&) = delete;
  Sensor& operator=(const Sensor&) = delete;

  // "capturing on IF, spool DIR (epoch …, next seq …)"
  std::string Describe() const;
  // Captures until `stop`, or replays the files; then gives the shipper up to drain_on_exit_s
  // (live) or replay_wait_s (replay) to deliver, and sends a last heartbeat. Returns one of
  // the exit statuses above: not everything this run captured is stored unless it is 0.
  int Run(StopFlag* stop);
  // The heartbeat's counters: the pipeline's, the capture's, the spool's (cumulative across
  // restarts) and the shipper's.
  std::vector<std::pair<std::string, uint64_t>> Counters() const;

 private:
  Sensor(Options o, Say say, Say warn);
  void HeartbeatLoop();
  Status SendHeartbeat();
  void CaptureLive(StopFlag* stop, int* rc);
  void ReplayFiles(StopFlag* stop, int* rc);

  Options opt_;
  Say say_, warn_;
  std::unique_ptr<spool::Spool> spool_;
  spool::Counters at_open_;  // the spool's counts when opened: this run's losses are the rest
  std::unique_ptr<ship::Shipper> shipper_;
  std::unique_ptr<capture::LiveCapture> live_;
  std::unique_ptr<Pipeline> pipeline_;
  mutable Mutex live_mu_;
  capture::LiveStats live_stats_ ABSL_GUARDED_BY(live_mu_);
  StopFlag heartbeat_stop_;
};

}  // namespace isdas::sensor
