#pragma once

// A stop request as something to wait on. StopFlag is the flag itself: loops that must check
// per packet read stop_requested() (a relaxed atomic load), a thread with nothing else to do
// blocks in Wait() instead of polling, and Request() wakes it. StopSignal::Install() makes
// SIGINT/SIGTERM request the process's flag: the handler only writes a byte to a pipe
// (async-signal-safe) and a watcher thread turns that into Request().

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <chrono>
#include <optional>

#include "common/mutex.h"

namespace isdas {

class StopFlag {
 public:
  bool stop_requested() const { return requested_.load(std::memory_order_relaxed); }
  // Blocks until a stop is requested; with `timeout`, at most that long. True once requested.
  bool Wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Request() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::atomic<bool> requested_{false};
  // Set under it, so a Request cannot slip between a waiter's check and its wait.
  Mutex mu_;
  CondVar cv_;
};

class StopSignal {
 public:
  // Installs the handlers (and ignores SIGPIPE); later calls return the same flag.
  static StopFlag& Install();
};

}  // namespace isdas
