#include "model/batch_codec.h"

#include <google/protobuf/stubs/logging.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "model/batch.pb.h"

namespace isdas::model {
namespace {

// 2000-01-01 and 2100-01-01 in µs: a timestamp outside is a sender's bug, not a scan.
constexpr int64_t kMinTsUs = 946684800LL * 1000000;
constexpr int64_t kMaxTsUs = 4102444800LL * 1000000;

Status Bad(const std::string& what) { return InvalidArgument("batch: " + what); }

}  // namespace

bool ValidSensorId(std::string_view id) {
  if (id.empty() || id.size() > 64 || id[0] == '.' || id[0] == '-') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

Result<std::vector<uint8_t>> EncodeBatch(const BatchHeader& header, std::span<const Event> events) {
  wire::v1::Batch b;
  b.set_sensor_id(header.sensor_id);
  b.set_epoch(header.epoch);
  b.set_seq(header.seq);
  b.set_rules_version(header.rules_version);
  b.set_count(static_cast<uint32_t>(events.size()));
  const int n = static_cast<int>(events.size());
  for (auto* col :
       {b.mutable_proto(), b.mutable_sport(), b.mutable_dport(), b.mutable_icmp(),
        b.mutable_tcp_flags(), b.mutable_ttl(), b.mutable_ip_id(), b.mutable_ip_len(),
        b.mutable_tcp_win(), b.mutable_tcp_opt(), b.mutable_flags(), b.mutable_labels()}) {
    col->Reserve(n);
  }
  b.mutable_ts_delta_us()->Reserve(n);
  b.mutable_tcp_seq()->Reserve(n);
  std::string* family = b.mutable_family();
  std::string* src = b.mutable_src();
  std::string* dst = b.mutable_dst();
  family->reserve(events.size());
  src->reserve(events.size() * 4);
  dst->reserve(events.size() * 4);
  int64_t prev = 0;
  for (const Event& e : events) {
    b.add_ts_delta_us(e.ts_us - prev);
    prev = e.ts_us;
    family->push_back(static_cast<char>(e.src.family));
    src->append(reinterpret_cast<const char*>(e.src.bytes), e.src.size());
    dst->append(reinterpret_cast<const char*>(e.dst.bytes), e.dst.size());
    b.add_proto(e.proto);
    b.add_sport(e.sport);
    b.add_dport(e.dport);
    b.add_icmp(static_cast<uint32_t>(e.icmp_type) << 8 | e.icmp_code);
    b.add_tcp_flags(e.tcp_flags);
    b.add_ttl(e.ttl);
    b.add_ip_id(e.ip_id);
    b.add_ip_len(e.ip_len);
    b.add_tcp_seq(e.tcp_seq);
    b.add_tcp_win(e.tcp_win);
    b.add_tcp_opt(static_cast<uint32_t>(e.tcp_mss) << 8 | e.tcp_optlen);
    b.add_flags(e.flags);
    b.add_labels(static_cast<uint32_t>(e.labels.spoof) << 16 |
                 static_cast<uint32_t>(e.labels.tool) << 8 | static_cast<uint32_t>(e.labels.kind));
  }
  const std::string raw = b.SerializeAsString();
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  const size_t z = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  if (ZSTD_isError(z)) return Internal(std::string("zstd: ") + ZSTD_getErrorName(z));
  out.resize(z);
  return out;
}

Result<DecodedBatch> DecodeBatch(std::span<const uint8_t> compressed, const BatchLimits& limits) {
  if (compressed.size() > limits.max_compressed_bytes) {
    return Bad("body of " + std::to_string(compressed.size()) + " bytes exceeds " +
               std::to_string(limits.max_compressed_bytes));
  }
  // Stream into a capped buffer: the frame's declared size is the sender's word, not ours.
  std::string raw;
  {
    // One allocation of the size the frame declares (within the limit), not a doubling series
    // that briefly holds twice as much: the collector budgets decompression memory by it.
    const unsigned long long declared =
        ZSTD_getFrameContentSize(compressed.data(), compressed.size());
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
      raw.reserve(static_cast<size_t>(
          std::min<unsigned long long>(declared, limits.max_decompressed_bytes)));
    }
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
    std::vector<char> chunk(ZSTD_DStreamOutSize());
    Status bad;
    for (;;) {
      ZSTD_outBuffer out{chunk.data(), chunk.size(), 0};
      const size_t ret = ZSTD_decompressStream(dctx, &out, &in);
      if (ZSTD_isError(ret)) {
        bad = Bad(std::string("not valid zstd: ") + ZSTD_getErrorName(ret));
        break;
      }
      if (raw.size() + out.pos > limits.max_decompressed_bytes) {
        bad = Bad("decompresses to more than " + std::to_string(limits.max_decompressed_bytes) +
                  " bytes");
        break;
      }
      raw.append(chunk.data(), out.pos);
      if (ret == 0) {  // the frame is complete
        if (in.pos < in.size) bad = Bad("trailing bytes after the zstd frame");
        break;
      }
      if (in.pos == in.size && out.pos < out.size) {
        bad = Bad("truncated zstd frame");
        break;
      }
    }
    ZSTD_freeDCtx(dctx);
    if (!bad.ok()) return bad;
  }
  // Protobuf logs every string field that is not UTF-8 to stderr as it parses: a sender could
  // fill the collector's log with one line per batch. Our own checks name what is wrong.
  static std::once_flag quiet;
  std::call_once(quiet, [] { google::protobuf::SetLogHandler(nullptr); });
  wire::v1::Batch b;
  if (!b.ParseFromString(raw)) return Bad("not a valid protobuf Batch");
  if (!ValidSensorId(b.sensor_id())) {
    return Bad("sensor_id must be 1-64 characters of [A-Za-z0-9._-], not starting with . or -");
  }
  if (b.seq() == 0) return Bad("seq must be at least 1");
  const size_t n = b.count();
  if (n > limits.max_events) {
    return Bad("count " + std::to_string(n) + " exceeds " + std::to_string(limits.max_events));
  }
  struct Col {
    const char* name;
    size_t size;
  };
  const Col cols[] = {
      {"ts_delta_us", static_cast<size_t>(b.ts_delta_us_size())},
      {"family", b.family().size()},
      {"proto", static_cast<size_t>(b.proto_size())},
      {"sport", static_cast<size_t>(b.sport_size())},
      {"dport", static_cast<size_t>(b.dport_size())},
      {"icmp", static_cast<size_t>(b.icmp_size())},
      {"tcp_flags", static_cast<size_t>(b.tcp_flags_size())},
      {"ttl", static_cast<size_t>(b.ttl_size())},
      {"ip_id", static_cast<size_t>(b.ip_id_size())},
      {"ip_len", static_cast<size_t>(b.ip_len_size())},
      {"tcp_seq", static_cast<size_t>(b.tcp_seq_size())},
      {"tcp_win", static_cast<size_t>(b.tcp_win_size())},
      {"tcp_opt", static_cast<size_t>(b.tcp_opt_size())},
      {"flags", static_cast<size_t>(b.flags_size())},
      {"labels", static_cast<size_t>(b.labels_size())},
  };
  for (const Col& c : cols) {
    if (c.size != n) {
      return Bad(std::string("column '") + c.name + "' has " + std::to_string(c.size) +
                 " entries, count is " + std::to_string(n));
    }
  }
  DecodedBatch out;
  out.header = BatchHeader{b.sensor_id(), b.epoch(), b.seq(), b.rules_version()};
  out.events.resize(n);
  size_t src_off = 0, dst_off = 0;
  int64_t ts = 0;
  auto range = [](const char* field, size_t i, uint64_t v, uint64_t max) -> Status {
    if (v <= max) return Status::Ok();
    return Bad(std::string("field '") + field + "' of event " + std::to_string(i) + " is " +
               std::to_string(v) + ", above " + std::to_string(max));
  };
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(i);
    Event& e = out.events[i];
    const int64_t d = b.ts_delta_us(k);
    if (__builtin_add_overflow(ts, d, &ts) || ts < kMinTsUs || ts > kMaxTsUs) {
      return Bad("timestamp of event " + std::to_string(i) + " is outside 2000-2100");
    }
    e.ts_us = ts;
    const auto fam = static_cast<uint8_t>(b.family()[i]);
    if (fam != 4 && fam != 6) {
      return Bad("family of event " + std::to_string(i) + " is " + std::to_string(fam));
    }
    const size_t len = fam == 4 ? 4 : 16;
    if (src_off + len > b.src().size() || dst_off + len > b.dst().size()) {
      return Bad("address columns shorter than the families say, at event " + std::to_string(i));
    }
    e.src.family = e.dst.family = fam;
    std::memcpy(e.src.bytes, b.src().data() + src_off, len);
    std::memcpy(e.dst.bytes, b.dst().data() + dst_off, len);
    src_off += len;
    dst_off += len;
    ISDAS_RETURN_IF_ERROR(range("proto", i, b.proto(k), 255));
    ISDAS_RETURN_IF_ERROR(range("sport", i, b.sport(k), 65535));
    ISDAS_RETURN_IF_ERROR(range("dport", i, b.dport(k), 65535));
    ISDAS_RETURN_IF_ERROR(range("icmp", i, b.icmp(k), 0xffff));
    ISDAS_RETURN_IF_ERROR(range("tcp_flags", i, b.tcp_flags(k), 255));
    ISDAS_RETURN_IF_ERROR(range("ttl", i, b.ttl(k), 255));
    ISDAS_RETURN_IF_ERROR(range("tcp_win", i, b.tcp_win(k), 65535));
    ISDAS_RETURN_IF_ERROR(range("tcp_opt", i, b.tcp_opt(k), 0xffffff));
    ISDAS_RETURN_IF_ERROR(range("tcp_optlen", i, b.tcp_opt(k) & 0xff, 40));
    ISDAS_RETURN_IF_ERROR(range("flags", i, b.flags(k), 7));
    const uint32_t lab = b.labels(k);
    ISDAS_RETURN_IF_ERROR(range("labels", i, lab, 0x0fffff));
    ISDAS_RETURN_IF_ERROR(range("kind", i, lab & 0xff, 2));
    ISDAS_RETURN_IF_ERROR(range("tool", i, (lab >> 8) & 0xff, 4));
    ISDAS_RETURN_IF_ERROR(range("spoof", i, lab >> 16, 15));
    e.proto = static_cast<uint8_t>(b.proto(k));
    e.sport = static_cast<uint16_t>(b.sport(k));
    e.dport = static_cast<uint16_t>(b.dport(k));
    e.icmp_type = static_cast<uint8_t>(b.icmp(k) >> 8);
    e.icmp_code = static_cast<uint8_t>(b.icmp(k));
    e.tcp_flags = static_cast<uint8_t>(b.tcp_flags(k));
    e.ttl = static_cast<uint8_t>(b.ttl(k));
    e.ip_id = b.ip_id(k);
    e.ip_len = b.ip_len(k);
    e.tcp_seq = b.tcp_seq(k);
    e.tcp_win = static_cast<uint16_t>(b.tcp_win(k));
    e.tcp_optlen = static_cast<uint8_t>(b.tcp_opt(k));
    e.tcp_mss = static_cast<uint16_t>(b.tcp_opt(k) >> 8);
    e.flags = static_cast<uint8_t>(b.flags(k));
    e.labels.kind = static_cast<TrafficKind>(lab & 0xff);
    e.labels.tool = static_cast<Tool>((lab >> 8) & 0xff);
    e.labels.spoof = static_cast<uint8_t>(lab >> 16);
  }
  if (src_off != b.src().size() || dst_off != b.dst().size()) {
    return Bad("address columns longer than the families say");
  }
  return out;
}

}  // namespace isdas::model
