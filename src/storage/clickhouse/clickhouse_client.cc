#include "storage/clickhouse/clickhouse_client.h"

#include <httplib.h>

#include <cstdlib>

namespace isdas::storage::clickhouse {

struct Client::Http {
  httplib::Client cli;
  Http(const std::string& h, int p) : cli(h, p) {}
};

Client::Client(const Endpoint& e) : http_(std::make_unique<Http>(e.host, e.port)), e_(e) {
  http_->cli.set_connection_timeout(e.timeout_s, 0);
  http_->cli.set_read_timeout(e.timeout_s, 0);
  http_->cli.set_write_timeout(e.timeout_s, 0);
  http_->cli.set_keep_alive(true);
}

Client::~Client() = default;

void Client::AddSetting(const std::string& name, const std::string& value) {
  settings_.emplace_back(name, value);
}

Status Client::Post(const std::string& query, std::string_view body, std::string* out) {
  last_code_ = 0;
  httplib::Params params{{"database", e_.database}};
  for (const auto& [k, v] : settings_) params.emplace(k, v);
  if (!query.empty()) params.emplace("query", query);
  const std::string path = httplib::append_query_params("/", params);
  auto r = http_->cli.Post(path.c_str(), body.data(), body.size(), "application/octet-stream");
  if (!r) {
    return {ErrorKind::kUnavailable, "ClickHouse at " + e_.host + ":" + std::to_string(e_.port) +
                                         ": " + httplib::to_string(r.error())};
  }
  if (r->status == 200) {
    if (out) *out = std::move(r->body);
    return Status::Ok();
  }
  // "Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist., e.what() = …"
  std::string msg = r->body;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (msg.rfind("Code: ", 0) == 0) last_code_ = std::atoi(msg.c_str() + 6);
  const std::string m = "ClickHouse: " + msg.substr(0, 500);
  switch (last_code_) {
    case 60:  // UNKNOWN_TABLE
    case 81:  // UNKNOWN_DATABASE
      return NotFound(m);
    case 62:  // SYNTAX_ERROR
    case 27:  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    case 33:  // CANNOT_READ_ALL_DATA
    case 47:  // UNKNOWN_IDENTIFIER
    case 53:  // TYPE_MISMATCH
      return InvalidArgument(m);
    default:
      return {ErrorKind::kUnavailable, m};
  }
}

Result<std::string> Client::Query(const std::string& sql) {
  std::string out;
  ISDAS_RETURN_IF_ERROR(Post("", sql, &out));
  return out;
}

Status Client::InsertRowBinary(const std::string& table, std::string_view rows) {
  return Post("INSERT INTO " + table + " FORMAT RowBinary", rows, nullptr);
}

Result<std::string> Client::Version() {
  auto v = Query("SELECT version()");
  if (!v.ok()) return v.status();
  std::string s = v.value();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void RowBinary::String(std::string_view s) {
  uint64_t n = s.size();
  do {  // unsigned LEB128 length
    uint8_t b = n & 0x7f;
    n >>= 7;
    if (n) b |= 0x80;
    buf_.push_back(static_cast<char>(b));
  } while (n);
  buf_.append(s);
}

void RowBinary::FixedString(std::string_view s, size_t n) {
  const size_t k = s.size() < n ? s.size() : n;
  buf_.append(s.data(), k);
  buf_.append(n - k, '\0');
}

}  // namespace isdas::storage::clickhouse
