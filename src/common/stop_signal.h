#pragma once

// SIGINT/SIGTERM as something to wait on. The handler only sets a flag and writes a byte to a
// pipe (both async-signal-safe); a watcher thread turns that into a condition-variable wake-up,
// so a main thread blocks in Wait() instead of polling, and loops that must check per packet
// read stop_requested() (a relaxed atomic load). Install once per process.

#include <chrono>
#include <optional>

namespace isdas {

class StopSignal {
 public:
  // Installs the handlers (and ignores SIGPIPE); later calls return the same object.
  static StopSignal& Install();
  bool stop_requested() const;
  // Blocks until a stop is requested; with `timeout`, at most that long. True once requested.
  bool Wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Requests a stop as the signal would (tests, fatal errors).
  void Request();

 private:
  StopSignal() = default;
};

}  // namespace isdas
