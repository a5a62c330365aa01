#pragma once

// The sensor's durable spool: append-only segment files of checksummed records, each record
// one batch (an opaque payload — the compressed wire batch — with a sequence number and an
// event count). The shipper reads unacknowledged records in order and acknowledges them once
// the collector has committed them; whole segments behind the acknowledged point are deleted.
//
// Format: docs/spool-format.md (every field and its size).
// Guarantees:
// - A record is either wholly readable after a crash or cut: Open() checks every record's
//   CRC-32C, cuts a torn tail, and steps over damage in the middle to the next intact record,
//   counting the bytes, records and events lost (and only those).
// - Losses (full-policy drops, damage, write failures) are counted in the state: they
//   survive restarts. The spool knows its owner (the sensor id) and refuses another.
// - One process at a time: the directory is locked while open.
// - Sequence numbers only grow, across restarts and even after every segment is deleted;
//   `epoch` (random, fixed when the spool is created) tells a re-created spool apart.
// - The total size stays under max_bytes; when full, the configured policy drops the oldest
//   segment or refuses the new record, and counts the events dropped.
// Thread-safe: one appender and one shipper may call concurrently.

#include <absl/base/thread_annotations.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"

namespace isdas::spool {

enum class FsyncPolicy { kAlways, kInterval, kNever };
enum class FullPolicy { kDropOldest, kDropNewest };

struct Options {
  uint64_t max_bytes = 1ull << 30;
  uint64_t segment_bytes = 64ull << 20;
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  uint32_t fsync_interval_ms = 1000;
  FullPolicy when_full = FullPolicy::kDropOldest;
  // The sensor id the spool belongs to. Set: a spool that belongs to another is refused
  // (its batches name that sensor); one that belongs to none is claimed.
  std::string owner;
};

struct Record {
  uint64_t seq = 0;
  uint32_t events = 0;
  std::vector<uint8_t> payload;
};

// A batch the collector refused as malformed, kept in `<dir>/quarantine/` with its reason
// (docs/spool-format.md#quarantine) until an operator requeues or deletes it.
struct Quarantined {
  uint64_t seq = 0;
  uint32_t events = 0;
  int64_t time_us = 0;  // when it was quarantined
  std::string reason;   // what the collector said
};

struct Counters {
  uint64_t quarantined_records = 0;  // in quarantine now (read at Open, so across restarts)
  uint64_t quarantined_events = 0;
  uint64_t appended_records = 0;
  uint64_t appended_events = 0;
  uint64_t bytes = 0;  // on disk now, headers included
  uint64_t unacked_records = 0;
  uint64_t unacked_events = 0;
  // The losses below survive restarts: they are kept in the spool's state.
  uint64_t dropped_records = 0;  // by the full policy
  uint64_t dropped_events = 0;
  uint64_t recovered_cut_bytes = 0;      // torn/corrupt tails cut by Open()
  uint64_t recovered_cut_records = 0;    // complete-looking records among them (bad checksum)
  uint64_t recovered_cut_events = 0;     // events in cut records whose header was still readable
  uint64_t corrupt_records_skipped = 0;  // found bad when read for shipping
  uint64_t corrupt_events_skipped = 0;
  uint64_t delivered_after_drop = 0;  // dropped while in flight, then stored: not counted as drops
  uint64_t write_failed_events = 0;   // the appender could not spool them (CountWriteFailure)
};

class Spool {
 public:
  // Opens (creating if needed) the spool in `dir`, recovering from any crash.
  // Errors: kInvalidArgument (bad options), kIo, kCorruption (a file in dir that is not a
  // spool segment, or a damaged state file with no segment to recover from).
  static Result<std::unique_ptr<Spool>> Open(const std::string& dir, const Options& options);
  ~Spool();

  // Appends a record with the next sequence number and returns that number. `meta` (at most
  // 1 KiB) is the appender's own note, written in the same record (a replay sensor's position
  // in its files): last_meta() gives back the newest one after a restart.
  // Errors: kResourceExhausted (full, policy kDropNewest: the events are counted as dropped),
  // kInvalidArgument (payload over 16 MiB, meta over 1 KiB), kIo.
  Result<uint64_t> Append(std::span<const uint8_t> payload, uint32_t events,
                          std::span<const uint8_t> meta = {});
  // The metadata of the newest record ever appended (kept in the state once its segment goes).
  std::vector<uint8_t> last_meta() const;
  // Counts events the appender could not spool (an encoding or write failure), durably.
  Status CountWriteFailure(uint64_t events);
  // Forces appended records to stable storage.
  Status Sync();
  // Up to max_records records with seq >= first_seq, in order, at most about max_bytes of
  // payload (always at least one record if any is there).
  Result<std::vector<Record>> Read(uint64_t first_seq, size_t max_records, size_t max_bytes);
  // Everything up to and including `seq` is delivered. Errors: kInvalidArgument if seq was
  // never appended.
  Status Ack(uint64_t seq);

  // Moves an unacknowledged record the collector will never take into the quarantine, durably,
  // then acknowledges it. Errors: kIo (nothing is acknowledged then).
  Status Quarantine(const Record& rec, const std::string& reason);
  // What the quarantine of the spool in `dir` holds, oldest first; its payloads; and putting
  // one back: appended again as a new record (same payload, so the collector still stores its
  // batch once) and removed from the quarantine. Errors: kNotFound-like kInvalidArgument
  // naming the sequence number, kIo, kCorruption (a damaged quarantine file).
  static Result<std::vector<Quarantined>> ListQuarantine(const std::string& dir);
  static Result<std::vector<uint8_t>> QuarantinedPayload(const std::string& dir, uint64_t seq);
  Result<uint64_t> Requeue(uint64_t seq);

  uint64_t epoch() const { return epoch_; }
  uint64_t acked() const;
  uint64_t next_seq() const;
  Counters counters() const;

 private:
  struct Segment;
  Spool() = default;
  Status Recover() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status RecoverSegment(Segment* seg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status NewSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status WriteState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status MakeRoom(uint64_t need) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DeleteSegment(size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string dir_;
  Options opt_;
  uint64_t epoch_ = 0;
  // Everything below but lock_fd_; held across the file writes of Append, Ack and Sync (one
  // appender, one shipper: they take turns).
  mutable Mutex mu_;
  // Oldest first; the last is active.
  std::vector<std::unique_ptr<Segment>> segments_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_sync_us_ ABSL_GUARDED_BY(mu_) = 0;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  // segments_.back() was made by this process and takes appends.
  bool appending_ ABSL_GUARDED_BY(mu_) = false;
  // seq -> events, see Ack().
  std::map<uint64_t, uint32_t> recently_dropped_ ABSL_GUARDED_BY(mu_);
  std::string owner_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> last_meta_ ABSL_GUARDED_BY(mu_);
  int lock_fd_ = -1;  // the directory, flock()ed while open
  Counters c_ ABSL_GUARDED_BY(mu_);
};

std::string FsyncPolicyName(FsyncPolicy p);

}  // namespace isdas::spool
