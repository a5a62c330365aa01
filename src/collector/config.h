#pragma once

// The collector's configuration (collector.toml; every key in docs/config.md), read and checked
// whole before anything starts: a bad key is refused with its name, its line and what to do.

#include <cstdint>
#include <string>

#include "api/api.h"
#include "common/status.h"
#include "ingest/ingest_server.h"
#include "storage/clickhouse/clickhouse_client.h"

namespace isdas::collector {

struct Options {
  std::string data_dir = "isdas-data";
  std::string listen = "127.0.0.1:8443";
  std::string port_file;  // where the bound ingest port is written ("" none)
  std::string geo_dir;    // "" = no enrichment
  std::string engine = "sqlite";
  storage::clickhouse::Endpoint clickhouse{"127.0.0.1", 8123, "isdas", 60, "", {}};
  ingest::Options ingest;
  std::string research_scanners;              // "" = the list shipped in data/
  std::string api_listen = "127.0.0.1:8080";  // "off": no query API
  std::string api_port_file;
  api::Options api;
  uint64_t retention_interval_s = 3600;
};

// Reads `path`. Errors: kIo (cannot read), kInvalidArgument (what is wrong, with key and line).
Result<Options> LoadConfig(const std::string& path);

// "host:port" or "[v6]:port" (port 0: any free one). Errors say what is wrong with `v`.
Status SplitListen(const std::string& v, std::string* host, int* port);

}  // namespace isdas::collector
