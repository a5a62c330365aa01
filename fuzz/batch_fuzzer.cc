// libFuzzer target: the wire batch a collector receives from the Internet (DecodeBatch:
// zstd, protobuf, every column checked). Byte 0 even: the rest is the body as received; odd:
// the rest is the protobuf, compressed here, so mutations reach the column checks. A batch
// that decodes must survive a round trip: encoding its events again and decoding that gives
// the same bytes once more.

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "model/batch_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  isdas::model::BatchLimits limits;
  limits.max_compressed_bytes = 1 << 20;
  limits.max_decompressed_bytes = 4 << 20;
  limits.max_events = 1 << 16;
  if (size < 1) return 0;
  const bool raw = (data[0] & 1) == 0;
  std::string body;
  if (raw) {
    body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  } else {
    body.resize(ZSTD_compressBound(size - 1));
    body.resize(ZSTD_compress(body.data(), body.size(), data + 1, size - 1, 1));
  }
  auto d = isdas::model::DecodeBatch({reinterpret_cast<const uint8_t*>(body.data()), body.size()},
                                     limits);
  if (!d.ok()) {
    if (d.status().kind() != isdas::ErrorKind::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (d->events.size() > limits.max_events || d->header.seq == 0) __builtin_trap();
  for (const auto& e : d->events) {
    if (e.src.family != e.dst.family || (e.src.family != 4 && e.src.family != 6)) {
      __builtin_trap();
    }
  }
  auto again = isdas::model::EncodeBatch(d->header, d->events);
  if (!again.ok()) __builtin_trap();
  auto d2 = isdas::model::DecodeBatch(again.value(), limits);
  if (!d2.ok() || d2->events.size() != d->events.size()) __builtin_trap();
  auto third = isdas::model::EncodeBatch(d2->header, d2->events);
  if (!third.ok() || third.value() != again.value()) __builtin_trap();
  return 0;
}
