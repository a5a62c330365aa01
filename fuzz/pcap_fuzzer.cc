// libFuzzer target: the pcap/pcapng file reader, followed by the decoder on every packet.

#include <cstddef>
#include <cstdint>
#include <span>

#include "capture/file_reader.h"
#include "classify/classifier.h"
#include "decode/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = isdas::capture::FileReader::FromMemory(std::span<const uint8_t>(data, size), true);
  if (!r.ok()) return 0;
  isdas::capture::Packet p;
  uint64_t last_offset = 0;
  while ((*r)->Next(&p)) {
    // Every packet lies inside the input, and the reader moves forward.
    if (p.data < data || p.data + p.caplen > data + size) __builtin_trap();
    if ((*r)->offset() <= last_offset) __builtin_trap();
    last_offset = (*r)->offset();
    isdas::model::Event ev;
    if (isdas::decode::DecodePacket(p.linktype, p.data, p.caplen, p.wire_len, &ev) ==
        isdas::decode::Outcome::kEvent) {
      isdas::classify::Classify(&ev);
    }
  }
  (void)(*r)->FinishSha256();
  return 0;
}
