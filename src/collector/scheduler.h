#pragma once

// The collector's periodic tasks (retention today; partner reports and detectors next): each
// runs at start and then every interval, one at a time, on the scheduler's own thread, in the
// order they fall due. Time comes from an injected clock, so tests drive it by hand (RunDue);
// Stop wakes the thread at once instead of waiting out an interval.
// Thread-safe: Add before Start; Stop (or the destructor) from any thread but a task's.

#include <absl/base/thread_annotations.h>

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace isdas::collector {

class Scheduler {
 public:
  using Clock = std::function<int64_t()>;  // µs since the epoch
  explicit Scheduler(Clock clock);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // `task` runs first when Start (or RunDue) first sees it, then every `interval_us`, counted
  // from when each run began; a run that takes longer than the interval is followed by the next
  // at once, never by several to catch up.
  void Add(std::string name, int64_t interval_us, std::function<void()> task)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs every task due at `now_us` (in due order) and returns when the next falls due.
  int64_t RunDue(int64_t now_us) ABSL_LOCKS_EXCLUDED(mu_, run_mu_);
  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    std::string name;
    uint64_t runs = 0;
    int64_t last_start_us = 0;
    int64_t last_duration_us = 0;
  };
  std::vector<Stats> stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Task {
    std::string name;
    int64_t interval_us;
    std::function<void()> fn;
    int64_t due_us = INT64_MIN;  // INT64_MIN: at once
    Stats stats;
  };
  Clock clock_;
  mutable Mutex mu_;
  CondVar cv_;  // stopping_ set
  std::vector<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Mutex run_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // one RunDue at a time
  std::thread thread_;
};

}  // namespace isdas::collector
