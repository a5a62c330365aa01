// `isdas sensor --config sensor.toml`: capture (live or replayed files) → decode → classify →
// batch → spool → ship to the collector, with heartbeats (src/sensor). Config keys:
// docs/config.md; exit statuses: docs/cli.md.

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "common/stop_signal.h"
#include "sensor/sensor.h"

namespace isdas::app {

int CmdSensor(const std::vector<std::string>& args) {
  if (args.size() != 2 || args[0] != "--config") {
    std::fprintf(stderr, "usage: isdas sensor --config sensor.toml\n");
    return 64;
  }
  auto cfg = sensor::LoadConfig(args[1]);
  if (!cfg.ok()) {
    std::fprintf(stderr, "isdas sensor: %s\n", cfg.status().message().c_str());
    return 1;
  }
  const std::string id = cfg->id;
  auto s = sensor::Sensor::Open(
      std::move(cfg.value()),
      [](const std::string& m) { std::printf("isdas sensor: %s\n", m.c_str()); },
      [](const std::string& m) { std::fprintf(stderr, "isdas sensor: %s\n", m.c_str()); });
  if (!s.ok()) {
    std::fprintf(stderr, "isdas sensor: %s\n", s.status().message().c_str());
    return 1;
  }
  StopFlag& stop = StopSignal::Install();
  std::printf("isdas sensor %s: %s\n", id.c_str(), (*s)->Describe().c_str());
  std::fflush(stdout);
  const int rc = (*s)->Run(&stop);
  for (const auto& [k, v] : (*s)->Counters()) {
    std::printf("%s: %llu\n", k.c_str(), static_cast<unsigned long long>(v));
  }
  return rc;
}

}  // namespace isdas::app
