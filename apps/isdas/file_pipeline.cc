#include "file_pipeline.h"

#include <vector>

#include "classify/classifier.h"
#include "decode/decoder.h"

namespace isdas::app {

Status ProcessFile(capture::FileReader* reader, const EventSink& sink, FileResult* result) {
  constexpr size_t kBatch = 4096;
  std::vector<model::Event> batch(kBatch);
  size_t n = 0;
  capture::Packet pkt;
  result->format = reader->format();
  while (reader->Next(&pkt)) {
    model::Event& ev = batch[n];
    ev.ts_us = pkt.ts_us;
    ev.sensor_id = 0;
    const decode::Outcome o =
        decode::DecodePacket(pkt.linktype, pkt.data, pkt.caplen, pkt.wire_len, &ev);
    result->outcomes.Add(o);
    if (o != decode::Outcome::kEvent) continue;
    classify::Classify(&ev);
    ++result->kinds[static_cast<size_t>(ev.labels.kind)];
    ++result->tools[static_cast<size_t>(ev.labels.tool)];
    if (++n == kBatch) {
      ISDAS_RETURN_IF_ERROR(sink(std::span<const model::Event>(batch.data(), n)));
      n = 0;
    }
  }
  if (n > 0) ISDAS_RETURN_IF_ERROR(sink(std::span<const model::Event>(batch.data(), n)));
  result->linktype = reader->first_linktype();
  result->reader = reader->counts();
  if (!reader->status().ok()) {
    result->damage = reader->status();
    result->damage_offset = reader->offset();
  }
  return Status::Ok();
}

}  // namespace isdas::app
