#include "api/api.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "api/answer_cache.h"
#include "common/time_format.h"
#include "model/batch_codec.h"
#include "query/plan.h"
#include "query/port_page.h"
#include "query/queries.h"

namespace isdas::api {
namespace {

using Json = nlohmann::ordered_json;
using rollup::Family;

constexpr size_t kMaxLimit = 1000;
constexpr size_t kMaxOffset = 1000000;
constexpr int64_t kMaxWindow = 3660LL * 86400;  // ten years
constexpr size_t kMaxPoints = 20000;            // per series response
constexpr size_t kMaxKeys = 20;                 // ports/countries per series request
constexpr const char* kUniqueNote =
    "sources and destinations are exact up to 256, then HyperLogLog estimates (1.6% standard "
    "error); see docs/rollups.md";

std::string Iso(int64_t us) { return FormatTimestampUs(us); }
std::string IsoS(int64_t s) { return FormatTimestampUs(s * 1000000); }

// Query parameters with their checks. The first problem is kept; every later call is a no-op.
class Args {
 public:
  Args(const Params& p, std::set<std::string> allowed) : p_(p) {
    for (const auto& [k, v] : p) {
      if (!allowed.count(k)) Fail(k, "unknown parameter");
      if (p.count(k) > 1) Fail(k, "given more than once");
    }
  }
  bool ok() const { return param_.empty(); }
  const std::string& param() const { return param_; }
  const std::string& message() const { return message_; }
  void Fail(const std::string& name, const std::string& msg) {
    if (!ok()) return;
    param_ = name;
    message_ = msg;
  }
  bool Has(const std::string& name) const { return p_.count(name) > 0; }
  std::string Str(const std::string& name, const std::string& def = "") const {
    auto it = p_.find(name);
    return it == p_.end() ? def : it->second;
  }
  int64_t Int(const std::string& name, int64_t def, int64_t lo, int64_t hi) {
    if (!Has(name)) return def;
    const std::string v = Str(name);
    // Digits only, a '-' first when negatives are allowed: no '+', no spaces (strtoll takes both).
    const size_t first = lo < 0 && !v.empty() && v[0] == '-' ? 1 : 0;
    const bool digits = v.size() > first && v.size() <= first + 19 &&
                        v.find_first_not_of("0123456789", first) == std::string::npos;
    char* end = nullptr;
    errno = 0;
    const long long n = digits ? std::strtoll(v.c_str(), &end, 10) : 0;
    if (!digits || errno != 0 || n < lo || n > hi) {
      Fail(name, "'" + v + "' is not a whole number from " + std::to_string(lo) + " to " +
                     std::to_string(hi));
      return def;
    }
    return n;
  }
  // The comma-separated items of a parameter; an empty parameter or item is refused.
  std::vector<std::string> List(const std::string& name) {
    std::vector<std::string> out;
    const std::string v = Str(name);
    if (Has(name) &&
        (v.empty() || v.front() == ',' || v.back() == ',' || v.find(",,") != std::string::npos)) {
      Fail(name, v.empty() ? "is empty: give one value or several, separated by commas"
                           : "has an empty item ('" + v + "')");
    }
    size_t at = 0;
    while (at <= v.size() && !v.empty()) {
      const size_t comma = v.find(',', at);
      out.push_back(v.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    return out;
  }

 private:
  const Params& p_;
  std::string param_, message_;
};

// RFC 3339 ("2026-11-27T09:00:00+09:00", "…Z", fractions allowed), a date ("2026-11-27",
// midnight UTC), or seconds since 1970.
// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points
// above U+10FFFF) with no control characters but tab.
bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = cp << 6 | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// `count` ASCII digits of `v` from `at` (no sign, no space), as a number; false otherwise.
bool Digits(const std::string& v, size_t at, size_t count, int* out) {
  if (at + count > v.size()) return false;
  int n = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
    n = n * 10 + (v[i] - '0');
  }
  *out = n;
  return true;
}

// The latest time the API takes or prints: 9999-12-31T23:59:59Z.
constexpr int64_t kMaxTimeS = 253402300799;

// RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)), a date YYYY-MM-DD (UTC midnight), or seconds
// since 1970; years 0001 to 9999, every field its exact digits (no signs, no spaces).
bool ParseTime(const std::string& v, int64_t* out_s) {
  if (!v.empty() && v.size() <= 12 && v.find_first_not_of("0123456789") == std::string::npos) {
    const int64_t t = std::strtoll(v.c_str(), nullptr, 10);
    if (t > kMaxTimeS) return false;
    *out_s = t;
    return true;
  }
  int y, mo, d, h = 0, mi = 0, s = 0;
  if (!Digits(v, 0, 4, &y) || v.size() < 10 || v[4] != '-' || !Digits(v, 5, 2, &mo) ||
      v[7] != '-' || !Digits(v, 8, 2, &d) || y < 1) {
    return false;
  }
  size_t at = 10;
  int64_t offset = 0;
  if (at < v.size()) {
    if (v[at] != 'T' && v[at] != 't') return false;
    if (!Digits(v, at + 1, 2, &h) || at + 9 > v.size() || v[at + 3] != ':' ||
        !Digits(v, at + 4, 2, &mi) || v[at + 6] != ':' || !Digits(v, at + 7, 2, &s)) {
      return false;
    }
    at += 9;
    if (at < v.size() && v[at] == '.') {
      ++at;
      const size_t digits = at;
      while (at < v.size() && v[at] >= '0' && v[at] <= '9') ++at;
      if (at == digits) return false;  // fractions of a second are dropped (5-minute buckets)
    }
    if (at == v.size()) return false;  // a time needs its offset
    if (v[at] == 'Z' || v[at] == 'z') {
      if (at + 1 != v.size()) return false;
    } else {
      int oh, om;
      if ((v[at] != '+' && v[at] != '-') || at + 6 != v.size() || !Digits(v, at + 1, 2, &oh) ||
          v[at + 3] != ':' || !Digits(v, at + 4, 2, &om) || oh > 23 || om > 59) {
        return false;
      }
      offset = (v[at] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const time_t t = timegm(&tm);
  if (tm.tm_mday != d) return false;  // 31 November and the like
  const int64_t r = static_cast<int64_t>(t) - offset;
  if (r > kMaxTimeS) return false;
  *out_s = r;
  return true;
}

// "+09:00", "-03:30", "Z"/"UTC"/"+00:00".
bool ParseTz(const std::string& v, int64_t* out_s) {
  if (v == "Z" || v == "UTC" || v.empty()) {
    *out_s = 0;
    return true;
  }
  int h, m, n = 0;
  if (v.size() != 6 || (v[0] != '+' && v[0] != '-') ||
      std::sscanf(v.c_str() + 1, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || h > 14 || m > 59) {
    return false;
  }
  *out_s = (v[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
  return true;
}

// "5m", "1h", "1d", "7d" … (minutes, hours, days).
bool ParseStep(const std::string& v, int64_t* out_s) {
  if (v.size() < 2) return false;
  const char unit = v.back();
  const std::string num = v.substr(0, v.size() - 1);
  if (num.find_first_not_of("0123456789") != std::string::npos || num.size() > 4) return false;
  const int64_t n = std::strtoll(num.c_str(), nullptr, 10);
  const int64_t mult = unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (n <= 0 || mult == 0) return false;
  *out_s = n * mult;
  return *out_s % 300 == 0;
}

int ProtoNumber(const std::string& v) {
  if (v == "tcp") return model::kProtoTcp;
  if (v == "udp") return model::kProtoUdp;
  if (v == "icmp") return model::kProtoIcmp;
  if (v == "icmp6" || v == "icmpv6") return model::kProtoIcmpv6;
  if (!v.empty() && v.size() <= 3 && v.find_first_not_of("0123456789") == std::string::npos) {
    const int n = std::atoi(v.c_str());
    return n <= 255 ? n : -1;
  }
  return -1;
}

std::string ProtoName(int p) {
  std::string s;
  model::AppendProtoName(static_cast<uint8_t>(p), &s);
  return s;
}

int KindNumber(const std::string& v) {
  for (int k = 0; k < model::kTrafficKinds; ++k) {
    if (v == model::TrafficKindName(static_cast<model::TrafficKind>(k))) return k;
  }
  return -1;
}

int ToolNumber(const std::string& v) {
  for (int t = 0; t < model::kTools; ++t) {
    if (v == model::ToolName(static_cast<model::Tool>(t))) return t;
  }
  return -1;
}

std::string KindName(int k) {
  return std::string(model::TrafficKindName(static_cast<model::TrafficKind>(k)));
}
std::string ToolNameOf(int t) { return std::string(model::ToolName(static_cast<model::Tool>(t))); }

std::string FlagsName(int f) {
  std::string s;
  model::AppendTcpFlags(static_cast<uint8_t>(f), &s);
  return s.empty() ? "none" : s;
}

// The window and filters every endpoint takes.
struct Common {
  int64_t from_s = 0, to_s = 0;
  query::Filter filter;
  bool csv = false;
  Json filters = Json::object();
};

const std::set<std::string> kCommon = {
    "from", "to", "proto", "sensor", "kind", "tool", "exclude_research", "spoof", "format"};

// The spoof-suspicion reasons by name (model::AppendSpoofReasons) and their bits.
constexpr std::pair<const char*, int> kSpoofReasons[] = {
    {"src_eq_dst", model::kSpoofSrcEqualsDst},
    {"src_net_or_bcast", model::kSpoofSrcNetworkOrBroadcast},
    {"high_ttl_no_options", model::kSpoofHighTtlNoOptions},
    {"port_zero", model::kSpoofPortZero}};

// A spoof filter value: none, any, or one reason; -2 for anything else.
int SpoofFilter(const std::string& v) {
  if (v == "none") return 0;
  if (v == "any") return query::kSpoofSuspected;
  for (const auto& [name, bit] : kSpoofReasons) {
    if (v == name) return bit;
  }
  return -2;
}

// A row's spoof bits as the API names them: reasons joined by '+', or "none".
std::string SpoofName(uint64_t bits) {
  std::string out;
  model::AppendSpoofReasons(static_cast<uint8_t>(bits), &out);
  return out.empty() ? "none" : out;
}

std::set<std::string> With(std::initializer_list<const char*> extra) {
  std::set<std::string> s = kCommon;
  for (const char* e : extra) s.insert(e);
  return s;
}

Common ParseCommon(Args& a, int64_t now_us, int64_t default_span_s) {
  Common c;
  const int64_t now_s = rollup::BucketStart(now_us, 1000000) / 1000000;
  c.to_s = -rollup::BucketStart(-now_s, 300);
  if (a.Has("to") && !ParseTime(a.Str("to"), &c.to_s)) {
    a.Fail("to", "'" + a.Str("to") +
                     "' is not a time (RFC 3339 such as 2026-11-27T09:00:00+09:00, a date, or "
                     "seconds since 1970)");
  }
  c.from_s = c.to_s - default_span_s;
  if (a.Has("from") && !ParseTime(a.Str("from"), &c.from_s)) {
    a.Fail("from", "'" + a.Str("from") +
                       "' is not a time (RFC 3339 such as 2026-11-27T00:00:00Z, a date, or "
                       "seconds since 1970)");
  }
  if (a.ok() && c.from_s >= c.to_s) a.Fail("from", "must be before 'to'");
  if (a.ok() && c.to_s - c.from_s > kMaxWindow) a.Fail("from", "window longer than ten years");
  if (a.Has("proto")) {
    c.filter.proto = ProtoNumber(a.Str("proto"));
    if (c.filter.proto < 0) a.Fail("proto", "use tcp, udp, icmp, icmp6 or a number 0-255");
    c.filters["proto"] = a.Str("proto");
  }
  if (a.Has("kind")) {
    c.filter.kind = KindNumber(a.Str("kind"));
    if (c.filter.kind < 0) a.Fail("kind", "use scan, backscatter or other");
    c.filters["kind"] = a.Str("kind");
  }
  if (a.Has("tool")) {
    c.filter.tool = ToolNumber(a.Str("tool"));
    if (c.filter.tool < 0) a.Fail("tool", "use mirai, zmap, masscan, nmap_syn or unknown");
    c.filters["tool"] = a.Str("tool");
  }
  if (a.Has("sensor")) {
    for (const std::string& s : a.List("sensor")) {
      if (s != "local" && !model::ValidSensorId(s)) {
        a.Fail("sensor", "'" + s + "' is not a sensor name (1-64 of A-Z a-z 0-9 . _ -)");
      }
      c.filter.sensors.push_back(s);
    }
    c.filters["sensor"] = c.filter.sensors;
  }
  if (a.Has("exclude_research")) {
    const std::string v = a.Str("exclude_research");
    if (v == "true" || v == "1" || v == "yes") {
      c.filter.exclude_research = true;
    } else if (v != "false" && v != "0" && v != "no") {
      a.Fail("exclude_research", "use true or false");
    }
    c.filters["exclude_research"] = c.filter.exclude_research;
  }
  if (a.Has("spoof")) {
    c.filter.spoof = SpoofFilter(a.Str("spoof"));
    if (c.filter.spoof < -1) {
      a.Fail("spoof",
             "use none, any, src_eq_dst, src_net_or_bcast, high_ttl_no_options or port_zero");
    }
    c.filters["spoof"] = a.Str("spoof");
  }
  const std::string fmt = a.Str("format", "json");
  if (fmt != "json" && fmt != "csv") a.Fail("format", "use json or csv");
  c.csv = fmt == "csv";
  return c;
}

// JSON text that cannot throw: bytes that are not UTF-8 (from the store, say) become U+FFFD.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Response BadRequest(const Args& a) {
  Response r;
  r.status = 400;
  r.body = Dump(Json{{"error", {{"parameter", a.param()}, {"message", a.message()}}}});
  return r;
}

Response ErrorResponse(int status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = Dump(Json{{"error", {{"message", message}}}});
  return r;
}

Response Fail(const Status& s) {
  return ErrorResponse(s.kind() == ErrorKind::kInvalidArgument ? 400 : 500, s.ToString());
}

// CSV (RFC 4180): fields with a comma, quote or line break are quoted.
void CsvField(const std::string& f, std::string* out) {
  if (f.find_first_of(",\"\r\n") == std::string::npos) {
    *out += f;
    return;
  }
  out->push_back('"');
  for (char c : f) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

std::string Csv(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::string out;
  for (size_t i = 0; i < header.size(); ++i) {
    if (i) out.push_back(',');
    CsvField(header[i], &out);
  }
  out += "\r\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) out.push_back(',');
      CsvField(r[i], &out);
    }
    out += "\r\n";
  }
  return out;
}

Response JsonResponse(const Json& j) {
  Response r;
  r.body = Dump(j);
  return r;
}

Response CsvResponse(std::string body) {
  Response r;
  r.content_type = "text/csv; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Json Window(int64_t from_s, int64_t to_s, const Common& c) {
  Json w{{"from", IsoS(from_s)}, {"to", IsoS(to_s)}};
  if (from_s != c.from_s || to_s != c.to_s) {
    w["requested_from"] = IsoS(c.from_s);
    w["requested_to"] = IsoS(c.to_s);
    w["note"] = "widened to whole buckets of the data kept (docs/api.md#windows)";
  }
  return w;
}

// How a family's key reads in answers.
struct KeyKind {
  const char* column;                         // "port", "country", "asn"
  std::function<Json(uint64_t)> json;         // its JSON value
  std::function<std::string(uint64_t)> text;  // its CSV text
};

const KeyKind kPortKey{"port", [](uint64_t k) { return Json(k); },
                       [](uint64_t k) { return std::to_string(k); }};
const KeyKind kCountryKey{"country", [](uint64_t k) { return Json(rollup::CountryFromKey(k)); },
                          [](uint64_t k) { return rollup::CountryFromKey(k); }};
const KeyKind kAsnKey{"asn", [](uint64_t k) { return Json(k); },
                      [](uint64_t k) { return std::to_string(k); }};

}  // namespace

struct Api::Lease {
  Api* api;
  std::unique_ptr<storage::ReadStore> store;
  std::unique_ptr<query::Queries> q;
  ~Lease() {
    q.reset();
    api->Release(std::move(store));
  }
};

Api::Api(Options o, StoreFactory factory, std::function<int64_t()> now_us)
    : opt_(std::move(o)), factory_(std::move(factory)), now_us_(std::move(now_us)) {
  if (opt_.cache_bytes) cache_ = std::make_unique<AnswerCache>(opt_.cache_bytes);
}

Api::~Api() = default;

std::unique_ptr<Api::Lease> Api::Acquire(Status* error) {
  std::unique_ptr<storage::ReadStore> s;
  {
    MutexLock l(&mu_);
    if (!idle_.empty()) {
      s = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!s) {
    auto made = factory_();
    if (!made.ok()) {
      *error = made.status();
      return nullptr;
    }
    s = std::move(made.value());
  }
  auto lease = std::make_unique<Lease>();
  lease->api = this;
  lease->store = std::move(s);
  lease->q = std::make_unique<query::Queries>(lease->store.get());
  return lease;
}

void Api::Release(std::unique_ptr<storage::ReadStore> s) {
  if (!s) return;
  MutexLock l(&mu_);
  idle_.push_back(std::move(s));
}

namespace {

// GET …/top for one family: ranked rows, pages.
Response Top(query::Queries& q, Args& a, const Common& c, Family fam, const KeyKind& kk,
             const query::Availability& avail, std::map<uint32_t, std::string>* as_names_out,
             bool asn_names) {
  const size_t limit = static_cast<size_t>(a.Int("limit", 10, 1, kMaxLimit));
  const size_t offset = static_cast<size_t>(a.Int("offset", 0, 0, kMaxOffset));
  if (!a.ok()) return BadRequest(a);
  const query::TopPlan plan = query::PlanTop(c.from_s, c.to_s, avail);
  query::TopQuery tq;
  tq.family = fam;
  tq.segments = plan.segments;
  tq.filter = c.filter;
  tq.limit = limit;
  tq.offset = offset;
  auto r = q.Top(tq);
  if (!r.ok()) return Fail(r.status());
  std::map<uint32_t, std::string> names;
  if (asn_names) {
    std::vector<uint32_t> asns;
    for (const auto& row : r->rows) asns.push_back(static_cast<uint32_t>(row.group));
    auto n = q.AsNames(asns);
    if (!n.ok()) return Fail(n.status());
    names = n.value();
  }
  if (as_names_out) *as_names_out = names;
  if (c.csv) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : r->rows) {
      std::vector<std::string> cells{kk.text(row.group)};
      if (asn_names) cells.push_back(names[static_cast<uint32_t>(row.group)]);
      for (uint64_t v : {row.packets, row.sources, row.destinations})
        cells.push_back(std::to_string(v));
      cells.push_back(Iso(row.first_us));
      cells.push_back(Iso(row.last_us));
      rows.push_back(std::move(cells));
    }
    std::vector<std::string> header{kk.column};
    if (asn_names) header.push_back("as_name");
    for (const char* h : {"packets", "sources", "destinations", "first_seen", "last_seen"})
      header.push_back(h);
    return CsvResponse(Csv(header, rows));
  }
  Json rows = Json::array();
  for (const auto& row : r->rows) {
    Json j{{kk.column, kk.json(row.group)}};
    if (asn_names) j["as_name"] = names[static_cast<uint32_t>(row.group)];
    j["packets"] = row.packets;
    j["sources"] = row.sources;
    j["destinations"] = row.destinations;
    j["first_seen"] = Iso(row.first_us);
    j["last_seen"] = Iso(row.last_us);
    rows.push_back(std::move(j));
  }
  Json out{{"window", Window(plan.from_s, plan.to_s, c)},
           {"filters", c.filters},
           {"offset", offset},
           {"limit", limit},
           {"next_offset", r->more ? Json(offset + limit) : Json(nullptr)},
           {"unique_counts", kUniqueNote},
           {"rows", std::move(rows)}};
  return JsonResponse(out);
}

// GET …/series for keys of one family.
Response Series(query::Queries& q, Args& a, const Common& c, Family fam, const KeyKind& kk,
                const std::vector<uint64_t>& keys, const query::Availability& avail) {
  int64_t step = 3600, tz = 0;
  if (a.Has("step") && !ParseStep(a.Str("step"), &step)) {
    a.Fail("step", "'" + a.Str("step") + "' is not a step such as 5m, 15m, 1h, 6h, 1d or 7d");
  }
  if (a.Has("tz") && !ParseTz(a.Str("tz"), &tz)) {
    a.Fail("tz", "'" + a.Str("tz") + "' is not a UTC offset such as +09:00, -03:30 or Z");
  }
  if (a.ok() && tz % 300 != 0) a.Fail("tz", "offsets are whole multiples of 5 minutes");
  if (!a.ok()) return BadRequest(a);
  auto plan = query::PlanSeries(c.from_s, c.to_s, step, tz, avail);
  if (!plan.ok()) return Fail(plan.status());
  // Whole steps widen the window: never beyond ten years, nor past year 9999.
  if (plan->to_s - plan->from_s > kMaxWindow || plan->to_s > kMaxTimeS + 1) {
    a.Fail("step", "a step of " + a.Str("step", "1h") +
                       " widens the window beyond ten years or year 9999: use a shorter step "
                       "or window");
    return BadRequest(a);
  }
  const size_t points = static_cast<size_t>((plan->to_s - plan->from_s) / step) * keys.size();
  if (points > kMaxPoints) {
    a.Fail("step", std::to_string(points) + " points; at most " + std::to_string(kMaxPoints) +
                       " per request: use a longer step or a shorter window");
    return BadRequest(a);
  }
  query::SeriesQuery sq;
  sq.family = fam;
  sq.res = plan->res;
  sq.from_s = plan->from_s;
  sq.to_s = plan->to_s;
  sq.step_s = step;
  sq.tz_s = tz;
  sq.filter = c.filter;
  sq.keys = keys;
  auto r = q.Series(sq);
  if (!r.ok()) return Fail(r.status());
  if (c.csv) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : r.value()) {
      rows.push_back({IsoS(p.bucket_s), kk.text(p.key), std::to_string(p.packets),
                      std::to_string(p.sources), std::to_string(p.destinations)});
    }
    return CsvResponse(Csv({"time", kk.column, "packets", "sources", "destinations"}, rows));
  }
  Json series = Json::array();
  for (uint64_t k : keys) {
    Json pts = Json::array();
    for (const auto& p : r.value()) {
      if (p.key != k) continue;
      pts.push_back(Json{{"time", IsoS(p.bucket_s)},
                         {"packets", p.packets},
                         {"sources", p.sources},
                         {"destinations", p.destinations}});
    }
    series.push_back(Json{{kk.column, kk.json(k)}, {"points", std::move(pts)}});
  }
  char tzs[16];
  std::snprintf(tzs, sizeof tzs, "%c%02d:%02d", tz < 0 ? '-' : '+',
                static_cast<int>(std::abs(tz) / 3600), static_cast<int>(std::abs(tz) % 3600 / 60));
  Json out{{"window", Window(plan->from_s, plan->to_s, c)},
           {"filters", c.filters},
           {"step_seconds", step},
           {"tz", tzs},
           {"resolution", rollup::Name(plan->res)},
           {"unique_counts", kUniqueNote},
           {"series", std::move(series)}};
  return JsonResponse(out);
}

// Rows of a group-by as the API answers them.
Json BreakdownJson(const std::vector<query::TopRow>& rows_in, query::GroupBy by) {
  Json rows = Json::array();
  for (const auto& row : rows_in) {
    Json j;
    switch (by) {
      case query::GroupBy::kSensor:
        j["sensor"] = row.sensor;
        break;
      case query::GroupBy::kProto:
        j["proto"] = ProtoName(static_cast<int>(row.group));
        break;
      case query::GroupBy::kKind:
        j["kind"] = KindName(static_cast<int>(row.group));
        break;
      case query::GroupBy::kTool:
        j["tool"] = ToolNameOf(static_cast<int>(row.group));
        break;
      case query::GroupBy::kSpoof:
        j["spoof"] = SpoofName(row.group);
        break;
      case query::GroupBy::kKey:
        j["key"] = row.group;
        break;
    }
    j["packets"] = row.packets;
    j["sources"] = row.sources;
    j["destinations"] = row.destinations;
    rows.push_back(std::move(j));
  }
  return rows;
}

// One group-by over the total family (…/traffic/top?by=).
Result<Json> Breakdown(query::Queries& q, const std::vector<query::Segment>& segs,
                       const query::Filter& f, Family fam, uint64_t lo, uint64_t hi,
                       query::GroupBy by, size_t limit) {
  query::TopQuery tq;
  tq.family = fam;
  tq.segments = segs;
  tq.filter = f;
  tq.key_lo = lo;
  tq.key_hi = hi;
  tq.by = by;
  tq.limit = limit;
  auto r = q.Top(tq);
  if (!r.ok()) return r.status();
  return BreakdownJson(r->rows, by);
}

}  // namespace

// One request, as the endpoint that answers it sees it.
struct Api::Request {
  const std::vector<std::string>& parts;  // the path after /api/v1/, split at '/'
  const Params& params;
  int64_t now;
  query::Availability avail;
  query::Queries& q;
  storage::ReadStore& store;
};

Response Api::AnswerTop(const Request& req) {
  Args a(req.params, With({"limit", "offset"}));
  Common c = ParseCommon(a, req.now, 86400);
  if (!a.ok()) return BadRequest(a);
  if (req.parts[0] == "ports")
    return Top(req.q, a, c, Family::kPort, kPortKey, req.avail, nullptr, false);
  if (req.parts[0] == "countries")
    return Top(req.q, a, c, Family::kCountry, kCountryKey, req.avail, nullptr, false);
  return Top(req.q, a, c, Family::kAsn, kAsnKey, req.avail, nullptr, true);
}

Response Api::AnswerSeries(const Request& req) {
  const bool ports = req.parts[0] == "ports", countries = req.parts[0] == "countries";
  Args a(req.params, With({"step", "tz", ports ? "ports" : countries ? "countries" : "step"}));
  Common c = ParseCommon(a, req.now, 86400);
  std::vector<uint64_t> keys;
  const char* list = ports ? "ports" : "countries";
  if (ports || countries) {
    if (!a.Has(list)) a.Fail(list, ports ? "required: ports=23,445" : "required: countries=JP,CN");
    for (const std::string& v : a.List(list)) {
      if (ports) {
        if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos ||
            std::atoi(v.c_str()) > 65535) {
          a.Fail(list, "'" + v + "' is not a port (0-65535)");
        } else {
          keys.push_back(static_cast<uint64_t>(std::atoi(v.c_str())));
        }
      } else if (v.size() != 2 || !std::isupper(static_cast<unsigned char>(v[0])) ||
                 !std::isupper(static_cast<unsigned char>(v[1]))) {
        a.Fail(list, "'" + v + "' is not a two-letter country code (JP, XP, ZZ …)");
      } else {
        keys.push_back(rollup::CountryKey(v.c_str()));
      }
    }
    if (keys.size() > kMaxKeys) a.Fail(list, "at most 20 per request");
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  } else {
    keys = {0};
  }
  if (!a.ok()) return BadRequest(a);
  if (ports) return Series(req.q, a, c, Family::kPort, kPortKey, keys, req.avail);
  if (countries) return Series(req.q, a, c, Family::kCountry, kCountryKey, keys, req.avail);
  static const KeyKind kTotalKey{"total", [](uint64_t) { return Json("all"); },
                                 [](uint64_t) { return std::string("all"); }};
  return Series(req.q, a, c, Family::kTotal, kTotalKey, keys, req.avail);
}

Response Api::AnswerTrafficTop(const Request& req) {
  Args a(req.params, With({"by", "limit"}));
  Common c = ParseCommon(a, req.now, 86400);
  const std::string by = a.Str("by", "kind");
  query::GroupBy g = query::GroupBy::kKind;
  if (by == "sensor") {
    g = query::GroupBy::kSensor;
  } else if (by == "proto") {
    g = query::GroupBy::kProto;
  } else if (by == "tool") {
    g = query::GroupBy::kTool;
  } else if (by == "spoof") {
    g = query::GroupBy::kSpoof;
  } else if (by != "kind") {
    a.Fail("by", "use sensor, proto, kind, tool or spoof");
  }
  const size_t limit = static_cast<size_t>(a.Int("limit", 100, 1, kMaxLimit));
  if (!a.ok()) return BadRequest(a);
  const query::TopPlan plan = query::PlanTop(c.from_s, c.to_s, req.avail);
  auto found = Breakdown(req.q, plan.segments, c.filter, Family::kTotal, 0, 0, g, limit);
  if (!found.ok()) return Fail(found.status());
  const Json& rows = found.value();
  if (c.csv) {
    std::vector<std::vector<std::string>> out;
    for (const auto& r : rows) {
      out.push_back({r[by].get<std::string>(), std::to_string(r["packets"].get<uint64_t>()),
                     std::to_string(r["sources"].get<uint64_t>()),
                     std::to_string(r["destinations"].get<uint64_t>())});
    }
    return CsvResponse(Csv({by, "packets", "sources", "destinations"}, out));
  }
  return JsonResponse(Json{{"window", Window(plan.from_s, plan.to_s, c)},
                           {"filters", c.filters},
                           {"by", by},
                           {"unique_counts", kUniqueNote},
                           {"rows", std::move(rows)}});
}

Response Api::AnswerPort(const Request& req) {
  Args a(req.params, kCommon);
  const std::string& p = req.parts[1];
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::atoi(p.c_str()) > 65535) {
    a.Fail("port", "'" + p + "' is not a port (0-65535)");
  }
  Common c = ParseCommon(a, req.now, 86400);
  if (a.ok() && c.csv)
    a.Fail("format",
           "the port page is JSON only; its lists have CSV "
           "endpoints of their own");
  if (!a.ok()) return BadRequest(a);
  query::PortPageQuery pq;
  pq.port = static_cast<uint16_t>(std::atoi(p.c_str()));
  pq.from_s = c.from_s;
  pq.to_s = c.to_s;
  pq.filter = c.filter;
  pq.avail = req.avail;
  pq.events_from_s = storage::RetentionCutoff(opt_.retention.raw_days, req.now);
  auto page = query::BuildPortPage(req.q, pq);
  if (!page.ok()) return Fail(page.status());
  const query::PortPage& pg = page.value();
  Json totals{{"packets", 0}, {"sources", 0}, {"destinations", 0}};
  if (pg.totals) {
    totals = Json{{"packets", pg.totals->packets},
                  {"sources", pg.totals->sources},
                  {"destinations", pg.totals->destinations},
                  {"first_seen", Iso(pg.totals->first_us)},
                  {"last_seen", Iso(pg.totals->last_us)}};
  }
  Json countries = Json::array(), flags = Json::array(), asns = Json::array();
  for (const auto& n : pg.countries) {
    countries.push_back(
        Json{{"country", n.name}, {"packets", n.row.packets}, {"sources", n.row.sources}});
  }
  for (const auto& row : pg.tcp_flags) {
    flags.push_back(Json{{"tcp_flags", FlagsName(static_cast<int>(row.group))},
                         {"packets", row.packets},
                         {"sources", row.sources}});
  }
  for (const auto& as : pg.asns) {
    asns.push_back(Json{
        {"asn", as.asn}, {"packets", as.packets}, {"sources", as.sources}, {"as_name", as.name}});
  }
  Json out{{"port", pq.port},
           {"window", Window(pg.plan.from_s, pg.plan.to_s, c)},
           {"filters", c.filters},
           {"first_seen_ever",
            pg.first_seen_ever_us ? Json(Iso(*pg.first_seen_ever_us)) : Json(nullptr)},
           {"totals", totals},
           {"protocols", BreakdownJson(pg.protocols, query::GroupBy::kProto)},
           {"lists_window", Window(pg.lists.from_s, pg.lists.to_s, c)},
           {"countries", countries},
           {"asns_window", Window(pg.asns_from_s, c.to_s, c)},
           {"asns", asns},
           {"kinds", BreakdownJson(pg.kinds, query::GroupBy::kKind)},
           {"tools", BreakdownJson(pg.tools, query::GroupBy::kTool)},
           {"tcp_flags", flags},
           {"sensors", BreakdownJson(pg.sensors, query::GroupBy::kSensor)},
           {"unique_counts", kUniqueNote}};
  return JsonResponse(out);
}

Response Api::AnswerSource(const Request& req) {
  Args a(req.params, With({"limit"}));
  model::IpAddr addr;
  if (!model::IpAddr::Parse(req.parts[1], &addr)) {
    a.Fail("address", "'" + req.parts[1] + "' is not an IPv4 or IPv6 address");
  }
  Common c = ParseCommon(a, req.now, 30 * 86400);
  const size_t limit = static_cast<size_t>(a.Int("limit", 100, 1, kMaxLimit));
  if (a.ok() && c.csv) a.Fail("format", "the source page is JSON only");
  if (!a.ok()) return BadRequest(a);
  query::SourceQuery sq;
  sq.addr = addr;
  sq.from_us = c.from_s * 1000000;
  sq.to_us = c.to_s * 1000000;
  sq.filter = c.filter;
  sq.limit = limit;
  auto r = req.q.Source(sq);
  if (!r.ok()) return Fail(r.status());
  const int64_t raw_from = storage::RetentionCutoff(opt_.retention.raw_days, req.now);
  Json out{{"address", addr.ToString()},
           {"window", Window(c.from_s, c.to_s, c)},
           {"filters", c.filters},
           {"packets", r->packets}};
  if (raw_from != INT64_MIN && c.from_s < raw_from) {
    out["note"] = "events are kept " + std::to_string(opt_.retention.raw_days) +
                  " days: nothing before " + IsoS(raw_from) + " is listed";
  }
  if (r->packets > 0) {
    out["first_seen"] = Iso(r->first_us);
    out["last_seen"] = Iso(r->last_us);
    out["country"] = r->country;
    out["asn"] = r->asn;
    auto names = req.q.AsNames({r->asn});
    if (!names.ok()) return Fail(names.status());
    out["as_name"] = (*names)[r->asn];
    out["research_scanner"] = r->research;
    Json ports = Json::array();
    for (const auto& p : r->ports) {
      ports.push_back(Json{{"proto", ProtoName(p.proto)},
                           {"port", p.port < 0 ? Json(nullptr) : Json(p.port)},
                           {"packets", p.packets}});
    }
    out["ports"] = std::move(ports);
    out["more_ports"] = r->more_ports;
    Json sensors = Json::array();
    for (const auto& [name, n] : r->sensors)
      sensors.push_back(Json{{"sensor", name}, {"packets", n}});
    out["sensors"] = std::move(sensors);
    Json labels = Json::array();
    for (const auto& l : r->labels) {
      labels.push_back(
          Json{{"kind", KindName(l.kind)}, {"tool", ToolNameOf(l.tool)}, {"packets", l.packets}});
    }
    out["labels"] = std::move(labels);
  }
  return JsonResponse(out);
}

Response Api::AnswerSensors(const Request& req) {
  Args a(req.params, {"format", "stale_after"});
  const std::string fmt = a.Str("format", "json");
  if (fmt != "json" && fmt != "csv") a.Fail("format", "use json or csv");
  const int64_t stale = a.Int("stale_after", 300, 10, 86400 * 30);
  if (!a.ok()) return BadRequest(a);
  auto s = req.store.Sensors();
  if (!s.ok()) return Fail(s.status());
  auto health = [&](const storage::SensorInfo& si) {
    const int64_t last = std::max(si.last_seen_us, si.last_heartbeat_us);
    return req.now - last <= stale * 1000000 ? "ok" : "silent";
  };
  if (fmt == "csv") {
    std::vector<std::vector<std::string>> rows;
    for (const auto& si : s.value()) {
      rows.push_back({si.name, health(si), Iso(si.first_seen_us), Iso(si.last_seen_us),
                      si.last_heartbeat_us ? Iso(si.last_heartbeat_us) : "",
                      std::to_string(si.batches), std::to_string(si.events)});
    }
    return CsvResponse(
        Csv({"sensor", "health", "first_seen", "last_seen", "last_heartbeat", "batches", "events"},
            rows));
  }
  Json rows = Json::array();
  for (const auto& si : s.value()) {
    Json counters = Json::object();
    for (const auto& [k, v] : si.counters) counters[k] = v;
    rows.push_back(Json{
        {"sensor", si.name},
        {"health", health(si)},
        {"first_seen", Iso(si.first_seen_us)},
        {"last_seen", Iso(si.last_seen_us)},
        {"last_heartbeat", si.last_heartbeat_us ? Json(Iso(si.last_heartbeat_us)) : Json(nullptr)},
        {"batches", si.batches},
        {"events", si.events},
        {"counters", std::move(counters)}});
  }
  return JsonResponse(Json{{"stale_after_seconds", stale}, {"sensors", std::move(rows)}});
}

Response Api::AnswerMeta(const Request& req) {
  Args a(req.params, {});
  if (!a.ok()) return BadRequest(a);
  auto geo = req.q.GeoVersions();
  if (!geo.ok()) return Fail(geo.status());
  Json avail_j = Json::object();
  for (rollup::Resolution r : rollup::kResolutions) {
    const int64_t f = req.avail.from_s[static_cast<int>(r)];
    avail_j[std::string(rollup::Name(r))] = f == INT64_MIN ? Json(nullptr) : Json(IsoS(f));
  }
  const auto& ret = opt_.retention;
  Json cache_json = nullptr;  // kept answers (docs/api.md#answer-cache); null: none kept
  if (cache_) {
    const AnswerCache::Stats st = cache_->stats();
    cache_json = Json{{"max_bytes", opt_.cache_bytes}, {"bytes", st.bytes},
                      {"entries", st.entries},         {"hits", st.hits},
                      {"misses", st.misses},           {"waited", st.waited},
                      {"evicted", st.evicted}};
  }
  return JsonResponse(Json{
      {"api", "v1"},
      {"now", Iso(req.now)},
      {"geo_versions", geo.value()},
      {"retention_days",
       {{"events", ret.raw_days},
        {"5m", ret.r5m_days},
        {"1h", ret.r1h_days},
        {"1d", ret.r1d_days}}},
      {"rollups_from", avail_j},
      {"research_scanners", {{"list", opt_.research_list}, {"entries", opt_.research_entries}}},
      {"unique_counts", kUniqueNote},
      {"answer_cache", cache_json}});
}

// The endpoints (docs/api.md), first match wins: a path of one or two parts ("*" matches any
// one part), its answer, and whether that is read from rollups only — such answers are kept
// (answer_cache.h); the port page and the source page read events too, and sensors and meta
// say how things are now.
struct Api::Route {
  const char* path[2];  // the second null for a one-part path
  Response (Api::*answer)(const Request&);
  bool from_rollups;
};

const Api::Route* Api::FindRoute(const std::vector<std::string>& parts) {
  static const Route kRoutes[] = {
      {{"ports", "top"}, &Api::AnswerTop, true},
      {{"countries", "top"}, &Api::AnswerTop, true},
      {{"asns", "top"}, &Api::AnswerTop, true},
      {{"ports", "series"}, &Api::AnswerSeries, true},
      {{"countries", "series"}, &Api::AnswerSeries, true},
      {{"traffic", "series"}, &Api::AnswerSeries, true},
      {{"traffic", "top"}, &Api::AnswerTrafficTop, true},
      {{"ports", "*"}, &Api::AnswerPort, false},
      {{"sources", "*"}, &Api::AnswerSource, false},
      {{"sensors", nullptr}, &Api::AnswerSensors, false},
      {{"meta", nullptr}, &Api::AnswerMeta, false},
  };
  for (const Route& r : kRoutes) {
    const size_t n = r.path[1] ? 2 : 1;
    if (parts.size() != n) continue;
    bool match = true;
    for (size_t i = 0; i < n; ++i) {
      match = match && (std::string_view(r.path[i]) == "*" || parts[i] == r.path[i]);
    }
    if (match) return &r;
  }
  return nullptr;
}

Response Api::Get(const std::string& path, const Params& params) {
  // Text that is not UTF-8 is refused before anything reads it (an answer is JSON, and JSON
  // is UTF-8: such a value once ended the process), and named without repeating its bytes.
  if (!ValidUtf8(path)) return ErrorResponse(400, "the path is not valid UTF-8 text");
  for (const auto& [k, v] : params) {
    if (!ValidUtf8(k)) return ErrorResponse(400, "a parameter name is not valid UTF-8 text");
    if (k.empty()) return ErrorResponse(400, "a parameter has an empty name ('=value')");
    if (!ValidUtf8(v)) return ErrorResponse(400, "parameter '" + k + "': not valid UTF-8 text");
  }
  const int64_t now = now_us_();
  std::vector<std::string> parts;
  {
    const std::string prefix = "/api/v1/";
    if (path.compare(0, prefix.size(), prefix) != 0) return ErrorResponse(404, "not found");
    size_t at = prefix.size();
    while (at < path.size()) {
      const size_t slash = path.find('/', at);
      parts.push_back(path.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
      if (slash == std::string::npos) break;
      at = slash + 1;
    }
  }
  const Route* route = FindRoute(parts);
  if (!route) return ErrorResponse(404, "no such endpoint: " + path + " (see docs/api.md)");
  Status err;
  auto lease = Acquire(&err);
  if (!lease) return ErrorResponse(503, "store unavailable: " + err.ToString());
  // What the store keeps is read only when an answer is made (not for a kept one).
  auto answer = [&] {
    const query::Availability avail =
        query::Availability::Of(opt_.retention, now, lease->store->CoarseThrough());
    const Request req{parts, params, now, avail, *lease->q, *lease->store};
    return (this->*route->answer)(req);
  };
  if (cache_ && route->from_rollups) {
    auto gen = lease->store->RollupGeneration();
    if (gen.ok() && gen->has_value()) {
      // Every byte that shapes the answer: the path, each parameter, and the 5-minute mark the
      // default window ends at (with the retention cut-offs, which move by the day).
      std::string key;
      AnswerCache::AddToKey(&key, path);
      for (const auto& [k, v] : params) {
        AnswerCache::AddToKey(&key, k);
        AnswerCache::AddToKey(&key, v);
      }
      AnswerCache::AddToKey(&key, std::to_string(rollup::BucketStart(now / 1000000, 300)));
      return cache_->Get(key, **gen, answer);
    }
  }
  return answer();
}

}  // namespace isdas::api
