#include "output/event_format.h"

#include "common/time_format.h"

namespace isdas::output {
namespace {

using model::Event;

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  out->append(p, static_cast<size_t>(buf + sizeof buf - p));
}

const char* FragmentName(uint8_t flags) {
  if (flags & model::kFlagNonFirstFragment) return "non_first";
  if (flags & model::kFlagFragment) return "first";
  return "";
}

}  // namespace

const char* CsvHeader() {
  return "ts,sensor,proto,src,sport,dst,dport,icmp_type,icmp_code,tcp_flags,ttl,ip_id,ip_len,"
         "tcp_seq,tcp_win,tcp_optlen,tcp_mss,ip_options,fragment,kind,tool,spoof";
}

void AppendCsv(const Event& e, std::string* out) {
  // No field can hold a comma, quote or newline, so none needs quoting (RFC 4180 §2).
  AppendTimestampUs(e.ts_us, out);
  out->push_back(',');
  AppendUint(e.sensor_id, out);
  out->push_back(',');
  model::AppendProtoName(e.proto, out);
  out->push_back(',');
  e.src.AppendTo(out);
  out->push_back(',');
  AppendUint(e.sport, out);
  out->push_back(',');
  e.dst.AppendTo(out);
  out->push_back(',');
  AppendUint(e.dport, out);
  out->push_back(',');
  AppendUint(e.icmp_type, out);
  out->push_back(',');
  AppendUint(e.icmp_code, out);
  out->push_back(',');
  model::AppendTcpFlags(e.tcp_flags, out);
  out->push_back(',');
  AppendUint(e.ttl, out);
  out->push_back(',');
  AppendUint(e.ip_id, out);
  out->push_back(',');
  AppendUint(e.ip_len, out);
  out->push_back(',');
  AppendUint(e.tcp_seq, out);
  out->push_back(',');
  AppendUint(e.tcp_win, out);
  out->push_back(',');
  AppendUint(e.tcp_optlen, out);
  out->push_back(',');
  AppendUint(e.tcp_mss, out);
  out->push_back(',');
  out->push_back((e.flags & model::kFlagIpOptions) ? '1' : '0');
  out->push_back(',');
  out->append(FragmentName(e.flags));
  out->push_back(',');
  out->append(model::TrafficKindName(e.labels.kind));
  out->push_back(',');
  out->append(model::ToolName(e.labels.tool));
  out->push_back(',');
  model::AppendSpoofReasons(e.labels.spoof, out);
  out->push_back('\n');
}

void AppendJson(const Event& e, std::string* out) {
  // Every string value below is made of characters that need no JSON escaping.
  out->append("{\"ts\":\"");
  AppendTimestampUs(e.ts_us, out);
  out->append("\",\"sensor\":");
  AppendUint(e.sensor_id, out);
  out->append(",\"proto\":\"");
  model::AppendProtoName(e.proto, out);
  out->append("\",\"src\":\"");
  e.src.AppendTo(out);
  out->append("\",\"sport\":");
  AppendUint(e.sport, out);
  out->append(",\"dst\":\"");
  e.dst.AppendTo(out);
  out->append("\",\"dport\":");
  AppendUint(e.dport, out);
  out->append(",\"icmp_type\":");
  AppendUint(e.icmp_type, out);
  out->append(",\"icmp_code\":");
  AppendUint(e.icmp_code, out);
  out->append(",\"tcp_flags\":\"");
  model::AppendTcpFlags(e.tcp_flags, out);
  out->append("\",\"ttl\":");
  AppendUint(e.ttl, out);
  out->append(",\"ip_id\":");
  AppendUint(e.ip_id, out);
  out->append(",\"ip_len\":");
  AppendUint(e.ip_len, out);
  out->append(",\"tcp_seq\":");
  AppendUint(e.tcp_seq, out);
  out->append(",\"tcp_win\":");
  AppendUint(e.tcp_win, out);
  out->append(",\"tcp_optlen\":");
  AppendUint(e.tcp_optlen, out);
  out->append(",\"tcp_mss\":");
  AppendUint(e.tcp_mss, out);
  out->append(",\"ip_options\":");
  out->append((e.flags & model::kFlagIpOptions) ? "true" : "false");
  out->append(",\"fragment\":\"");
  out->append(FragmentName(e.flags));
  out->append("\",\"kind\":\"");
  out->append(model::TrafficKindName(e.labels.kind));
  out->append("\",\"tool\":\"");
  out->append(model::ToolName(e.labels.tool));
  out->append("\",\"spoof\":\"");
  model::AppendSpoofReasons(e.labels.spoof, out);
  out->append("\"}\n");
}

}  // namespace isdas::output
