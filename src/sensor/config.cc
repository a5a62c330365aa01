#include "sensor/config.h"

#include "capture/live_capture.h"
#include "common/config.h"
#include "model/batch_codec.h"

namespace isdas::sensor {

Result<Options> LoadConfig(const std::string& path) {
  auto c = Config::Load(path);
  if (!c.ok()) return c.status();
  Options s;
  ISDAS_RETURN_IF_ERROR(c->Require("sensor.id"));
  ISDAS_RETURN_IF_ERROR(c->GetString("sensor.id", &s.id));
  if (!model::ValidSensorId(s.id)) {
    return c->Invalid("sensor.id",
                      "use 1-64 characters of [A-Za-z0-9._-], not starting with . or -");
  }
  ISDAS_RETURN_IF_ERROR(c->GetString("sensor.interface", &s.interface));
  ISDAS_RETURN_IF_ERROR(c->GetPathList("sensor.replay", &s.replay));
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
  ISDAS_RETURN_IF_ERROR(c->GetPath("spool.dir", &s.spool_dir));
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
  ISDAS_RETURN_IF_ERROR(c->GetPath("collector.ca", &s.ship.ca_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("collector.cert", &s.ship.cert_file));
  ISDAS_RETURN_IF_ERROR(c->GetPath("collector.key", &s.ship.key_file));
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

}  // namespace isdas::sensor
