#include "output/event_format.h"

#include "common/time_format.h"
#include "model/event_fields.h"

namespace isdas::output {
namespace {

using model::kNumberFields;

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

const std::string& CsvHeader() {
  static const std::string header = [] {
    std::string h = "ts,sensor,proto,src,sport,dst,dport";
    for (const model::NumberField& f : model::kNumberFields) {
      if (f.text == model::FieldText::kIpFlags) {
        h += ",ip_options,fragment";
      } else {
        h += ',';
        h += f.name;
      }
    }
    return h + ",kind,tool,spoof";
  }();
  return header;
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
  const bool ports = model::HasPorts(e);  // none: empty, not 0
  if (ports) AppendUint(e.sport, out);
  out->push_back(',');
  e.dst.AppendTo(out);
  out->push_back(',');
  if (ports) AppendUint(e.dport, out);
  out->push_back(',');
  model::ForEachField<model::kAllFields>([&](auto k) {
    constexpr size_t idx = decltype(k)::value;
    if constexpr (kNumberFields[idx].text == model::FieldText::kDecimal) {
      AppendUint(kNumberFields[idx].get(e), out);
    } else if constexpr (kNumberFields[idx].text == model::FieldText::kTcpFlags) {
      model::AppendTcpFlags(static_cast<uint8_t>(kNumberFields[idx].get(e)), out);
    } else {
      out->push_back((kNumberFields[idx].get(e) & model::kFlagIpOptions) ? '1' : '0');
      out->push_back(',');
      out->append(FragmentName(static_cast<uint8_t>(kNumberFields[idx].get(e))));
    }
    out->push_back(',');
  });
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
  const bool ports = model::HasPorts(e);  // none: null, not 0
  out->append("\",\"sport\":");
  if (ports) {
    AppendUint(e.sport, out);
  } else {
    out->append("null");
  }
  out->append(",\"dst\":\"");
  e.dst.AppendTo(out);
  out->append("\",\"dport\":");
  if (ports) {
    AppendUint(e.dport, out);
  } else {
    out->append("null");
  }
  model::ForEachField<model::kAllFields>([&](auto k) {
    constexpr size_t idx = decltype(k)::value;
    if constexpr (kNumberFields[idx].text == model::FieldText::kDecimal) {
      out->append(",\"").append(kNumberFields[idx].name).append("\":");
      AppendUint(kNumberFields[idx].get(e), out);
    } else if constexpr (kNumberFields[idx].text == model::FieldText::kTcpFlags) {
      out->append(",\"").append(kNumberFields[idx].name).append("\":\"");
      model::AppendTcpFlags(static_cast<uint8_t>(kNumberFields[idx].get(e)), out);
      out->push_back('"');
    } else {
      out->append(",\"ip_options\":");
      out->append((kNumberFields[idx].get(e) & model::kFlagIpOptions) ? "true" : "false");
      out->append(",\"fragment\":\"");
      out->append(FragmentName(static_cast<uint8_t>(kNumberFields[idx].get(e))));
      out->push_back('"');
    }
  });
  out->append(",\"kind\":\"");
  out->append(model::TrafficKindName(e.labels.kind));
  out->append("\",\"tool\":\"");
  out->append(model::ToolName(e.labels.tool));
  out->append("\",\"spoof\":\"");
  model::AppendSpoofReasons(e.labels.spoof, out);
  out->append("\"}\n");
}

}  // namespace isdas::output
