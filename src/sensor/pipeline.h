#pragma once

// The sensor's pipeline (docs/life-of-a-packet.md): each captured packet is decoded, classified
// and batched; a batch is cut at `batch_max_events` or after `batch_max_delay_ms` and appended
// to the spool, with the appender's note (a replay position) as its metadata. The same pipeline
// serves live capture and replayed files (Replay below).
//
// One thread calls OnPacket/MaybeFlush/Flush; Counters() may be called from another (the
// per-packet counts are relaxed atomics, no lock on the packet path).

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "capture/file_reader.h"
#include "common/status.h"
#include "decode/outcome.h"
#include "model/event.h"
#include "spool/spool.h"

namespace isdas::sensor {

struct PipelineOptions {
  std::string id;  // the sensor id batches carry
  uint64_t batch_max_events = 8192;
  uint64_t batch_max_delay_ms = 1000;
  // Called after each batch is appended (the shipper's Notify), and on a spool error, with it.
  std::function<void()> on_batch;
  std::function<void(const std::string&)> on_error;
};

class Pipeline {
 public:
  Pipeline(PipelineOptions options, spool::Spool* spool);

  void OnPacket(const capture::Packet& p);
  // Cuts the pending batch when it is older than batch_max_delay_ms.
  void MaybeFlush();
  // Appends the pending events (if any) as one batch.
  void Flush();
  // The note the next batch carries (where a replay stands once its events are in).
  void SetNote(std::string note) { note_ = std::move(note); }

  uint64_t captured() const { return captured_.load(std::memory_order_relaxed); }
  decode::OutcomeCounts outcomes() const;

 private:
  PipelineOptions opt_;
  spool::Spool* spool_;
  model::Event scratch_;
  std::vector<model::Event> pending_;
  int64_t first_pending_us_ = 0;
  std::string note_;
  std::atomic<uint64_t> captured_{0};
  std::array<std::atomic<uint64_t>, decode::kOutcomeCount> outcomes_{};
};

// Files of a replay list: files as given, directories' capture files in name order.
std::vector<std::string> ReplayFiles(const std::vector<std::string>& items);

// Where a replay stands, written with every spooled batch (its metadata), so a restarted replay
// resumes after the last batch it spooled instead of storing a file's events again: the file's
// identity and the packets of it consumed so far.
struct ReplayPosition {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  uint64_t packets = 0;

  bool SameFile(const ReplayPosition& o) const;
  std::string Text() const;  // "replay DEV INODE SIZE MTIME_NS PACKETS"
  static bool Parse(const std::string& text, ReplayPosition* p);
  // The identity of the file at `path` (packets 0); false for "-" or a file that is not there.
  static bool Of(const std::string& path, ReplayPosition* p);
};

struct ReplayOptions {
  std::vector<std::string> files;  // as ReplayFiles gives them
  std::string spool_dir;           // where `replayed`, the list of finished files, is kept
  std::function<bool()> stop;      // asked before each packet
  std::function<void(const std::string&)> say;    // progress (skipped, resumed)
  std::function<void(const std::string&)> error;  // a file that cannot be read
};

// Replays the files through the pipeline, resuming where the spool's newest batch says the
// last run stopped, and skipping files it finished. Returns 0, 1 (a file could not be opened)
// or 2 (a file damaged part-way: what came before was replayed), as `isdas sensor` exits.
int Replay(const ReplayOptions& options, spool::Spool* spool, Pipeline* pipeline);

}  // namespace isdas::sensor
