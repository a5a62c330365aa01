#pragma once

// Reads a capture file, decodes and classifies every packet, and hands events to a sink in
// batches. Used by `isdas import` and `isdas decode` (and the sensor's replay mode later).

#include <functional>
#include <span>
#include <string>

#include "capture/file_reader.h"
#include "common/status.h"
#include "decode/outcome.h"
#include "model/event.h"

namespace isdas::app {

struct FileResult {
  capture::FileFormat format = capture::FileFormat::kUnknown;
  uint32_t linktype = 0;
  capture::ReaderCounts reader;
  decode::OutcomeCounts outcomes;
  uint64_t kinds[3] = {};  // by TrafficKind
  uint64_t tools[5] = {};  // by Tool
  Status damage;           // not ok: the file is damaged at damage_offset; earlier events stand
  uint64_t damage_offset = 0;
};

using EventSink = std::function<Status(std::span<const model::Event>)>;

// Runs the whole file through decode and classify. Returns a non-OK status only when the
// sink fails (the file's own damage is reported in FileResult::damage).
Status ProcessFile(capture::FileReader* reader, const EventSink& sink, FileResult* result);

}  // namespace isdas::app
