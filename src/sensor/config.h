#pragma once

// The sensor's configuration (sensor.toml; every key in docs/config.md), read and checked whole
// before anything starts: a bad key is refused with its name, its line and what to do.

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "ship/shipper.h"
#include "spool/spool.h"

namespace isdas::sensor {

struct Options {
  std::string id;
  std::string interface;            // live capture on this interface, or
  std::vector<std::string> replay;  // these capture files (directories: their files)
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

// Reads `path`. Errors: kIo (cannot read), kInvalidArgument (what is wrong, with key and line).
Result<Options> LoadConfig(const std::string& path);

}  // namespace isdas::sensor
