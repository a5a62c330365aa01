#include "sensor/file_pipeline.h"

#include <vector>

#include "classify/classifier.h"
#include "decode/decoder.h"

namespace isdas::sensor {

decode::Outcome DecodeAndClassify(const capture::Packet& p, model::Event* ev) {
  ev->ts_us = p.ts_us;
  const decode::Outcome o = decode::DecodePacket(p.linktype, p.data, p.caplen, p.wire_len, ev);
  if (o == decode::Outcome::kEvent) classify::Classify(ev);
  return o;
}

Status ProcessFile(capture::FileReader* reader, const EventSink& sink, FileResult* result) {
  constexpr size_t kBatch = 4096;
  std::vector<model::Event> batch(kBatch);
  size_t n = 0;
  capture::Packet pkt;
  result->format = reader->format();
  while (reader->Next(&pkt)) {
    model::Event& ev = batch[n];
    ev.sensor_id = 0;
    const decode::Outcome o = DecodeAndClassify(pkt, &ev);
    result->outcomes.Add(o);
    if (o != decode::Outcome::kEvent) continue;
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

}  // namespace isdas::sensor
