// libFuzzer target: the packet decoder and classifier. The first two bytes pick the link
// type (an index into the supported set), the rest is one captured packet; the wire length is
// taken from the next two bytes so length checks against the wire are exercised too.

#include <cstddef>
#include <cstdint>

#include "classify/classifier.h"
#include "decode/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr uint32_t kLinkTypes[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 105};
  if (size < 3) return 0;
  const uint32_t linktype = kLinkTypes[data[0] % (sizeof kLinkTypes / sizeof kLinkTypes[0])];
  const size_t extra = data[1] | (size_t{data[2]} << 8);
  data += 3;
  size -= 3;
  isdas::model::Event ev;
  const auto o = isdas::decode::DecodePacket(linktype, data, size, size + (extra & 0x3ff), &ev);
  if (o == isdas::decode::Outcome::kEvent) {
    isdas::classify::Classify(&ev);
    // Invariants the rest of the system relies on.
    if (ev.src.family != 4 && ev.src.family != 6) __builtin_trap();
    if (ev.src.family != ev.dst.family) __builtin_trap();
    if ((ev.flags & isdas::model::kFlagNonFirstFragment) && (ev.sport || ev.dport))
      __builtin_trap();
    if (ev.tcp_optlen > 40) __builtin_trap();
  } else if (static_cast<size_t>(o) >= isdas::decode::kOutcomeCount) {
    __builtin_trap();
  }
  return 0;
}
