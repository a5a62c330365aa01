#pragma once

// Reads a capture file, decodes and classifies every packet (DecodeAndClassify, the step the
// sensor's pipeline takes too), and hands events to a sink in batches, counting outcomes,
// kinds and tools. Used by `isdas import` and `isdas decode`; a sensor's replay spools them
// through its Pipeline instead.

#include <functional>
#include <span>
#include <string>

#include "capture/file_reader.h"
#include "common/status.h"
#include "decode/outcome.h"
#include "model/event.h"

namespace isdas::sensor {

struct FileResult {
  capture::FileFormat format = capture::FileFormat::kUnknown;
  uint32_t linktype = 0;
  capture::ReaderCounts reader;
  decode::OutcomeCounts outcomes;
  uint64_t kinds[model::kTrafficKinds] = {};  // by TrafficKind
  uint64_t tools[model::kTools] = {};         // by Tool
  Status damage;  // not ok: the file is damaged at damage_offset; earlier events stand
  uint64_t damage_offset = 0;
};

using EventSink = std::function<Status(std::span<const model::Event>)>;

// The one per-packet step of every path (live capture, replay, import, decode): decodes the
// packet into `ev` (its time from the packet) and, when it is an event, classifies it.
decode::Outcome DecodeAndClassify(const capture::Packet& p, model::Event* ev);

// Runs the whole file through decode and classify. Returns a non-OK status only when the
// sink fails (the file's own damage is reported in FileResult::damage).
Status ProcessFile(capture::FileReader* reader, const EventSink& sink, FileResult* result);

}  // namespace isdas::sensor
