#pragma once

// Encodes events into the compressed wire batch and back (docs/batch-format.md).
// Decode validates everything a sender controls — sizes, column lengths, value ranges — and
// returns kInvalidArgument naming the field, so the collector can answer 4xx with a reason.
// Stateless, thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/event.h"

namespace isdas::model {

// The one rule for sensor ids, wherever they appear (config, certificate, batch):
// 1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-' (64 is X.509's CN limit).
bool ValidSensorId(std::string_view id);

struct BatchHeader {
  std::string sensor_id;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  uint32_t rules_version = 0;
};

struct DecodedBatch {
  BatchHeader header;
  std::vector<Event> events;
};

struct BatchLimits {
  size_t max_compressed_bytes = 16u << 20;
  size_t max_decompressed_bytes = 64u << 20;  // a zstd bomb stops here
  size_t max_events = 1u << 20;
};

// Serializes and zstd-compresses (level 1) the events. sensor_id in events is ignored.
Result<std::vector<uint8_t>> EncodeBatch(const BatchHeader& header, std::span<const Event> events);

// Decompresses, parses and validates. Each event's sensor_id is left 0 (the collector maps
// header.sensor_id to its own numeric id). Errors: kInvalidArgument with the reason.
Result<DecodedBatch> DecodeBatch(std::span<const uint8_t> compressed, const BatchLimits& limits);

}  // namespace isdas::model
