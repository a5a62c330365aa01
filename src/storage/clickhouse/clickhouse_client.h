#pragma once

// A small client for ClickHouse's HTTP interface (the only code that talks to ClickHouse):
// queries return their text output, inserts stream RowBinary. Written against 18.16 (Debian)
// and current releases alike: plain `POST /?query=…` requests, no newer settings.
// Errors carry ClickHouse's own message and code ("Code: 60 …" → kNotFound for unknown
// tables, others kUnavailable/kInvalidArgument). Not thread-safe: one client per thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace isdas::storage::clickhouse {

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 8123;
  std::string database = "default";
  int timeout_s = 60;
  // Scale-out: the name of a <remote_servers> cluster, and the HTTP endpoints ("host:port") of
  // its shards, where the local tables are created. Empty: a single server.
  std::string cluster;
  std::vector<std::string> shards;
};

class Client {
 public:
  explicit Client(const Endpoint& e);
  // Sends `name=value` with every request (e.g. insert_distributed_sync=1).
  void AddSetting(const std::string& name, const std::string& value);
  ~Client();
  // Runs a statement and returns its output (TabSeparated unless the SQL says otherwise).
  Result<std::string> Query(const std::string& sql);
  // INSERT INTO `table` FORMAT RowBinary with the given encoded rows.
  Status InsertRowBinary(const std::string& table, std::string_view rows);
  // "18.16.1" etc.
  Result<std::string> Version();
  // The ClickHouse error code of the last failed request (0 if none or not from ClickHouse).
  int last_code() const { return last_code_; }

 private:
  Status Post(const std::string& query, std::string_view body, std::string* out);
  struct Http;
  std::unique_ptr<Http> http_;
  Endpoint e_;
  std::vector<std::pair<std::string, std::string>> settings_;
  int last_code_ = 0;
};

// Appends values in ClickHouse's RowBinary encoding (little-endian fixed-width integers,
// strings as LEB128 length + bytes).
class RowBinary {
 public:
  void U8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  void String(std::string_view s);
  void FixedString(std::string_view s, size_t n);  // zero-padded / cut to n bytes
  void Append(const RowBinary& o) { buf_ += o.buf_; }
  const std::string& data() const { return buf_; }
  void clear() { buf_.clear(); }  // keeps the memory: reused buffers are not faulted in again

 private:
  void Le(uint64_t v, int n) {
    char b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<char>(v >> (8 * i));
    buf_.append(b, static_cast<size_t>(n));
  }
  std::string buf_;
};

}  // namespace isdas::storage::clickhouse
