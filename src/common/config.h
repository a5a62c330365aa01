#pragma once

// Reads a TOML config file (https://toml.io, via toml++) and hands out typed values while
// remembering which keys were read, so that an unknown key — a typo — stops start-up.
// Every error names the file, the line and the key: "sensor.toml:12: spool.max_bytes: …".
// Dotted key paths ("spool.max_bytes") address nested tables. Not thread-safe.

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace isdas {

class Config {
 public:
  ~Config();
  Config(Config&&) noexcept;
  // Errors: kIo (cannot read), kInvalidArgument (not a regular file, TOML syntax with line
  // and column).
  static Result<Config> Load(const std::string& path);
  // Text named `name`; relative paths are taken from `base_dir` ("": the working directory).
  static Result<Config> Parse(const std::string& text, const std::string& name,
                              const std::string& base_dir = "");

  // Each getter leaves *out untouched when the key is absent, so callers set defaults first.
  // A present key of the wrong type or out of range is kInvalidArgument.
  Status GetString(const std::string& key, std::string* out);
  Status GetBool(const std::string& key, bool* out);
  Status GetUint(const std::string& key, uint64_t min, uint64_t max, uint64_t* out);
  Status GetStringList(const std::string& key, std::vector<std::string>* out);
  // A file or directory setting: as GetString(List), then a relative path — read, or the
  // default already in *out — is taken from the config file's folder, not the working
  // directory (docs/config.md). "" stays "" (unset).
  Status GetPath(const std::string& key, std::string* out);
  Status GetPathList(const std::string& key, std::vector<std::string>* out);
  // One of `choices`.
  Status GetEnum(const std::string& key, const std::vector<std::string>& choices, std::string* out);
  bool Has(const std::string& key) const;
  // kInvalidArgument when `key` is absent (for required settings).
  Status Require(const std::string& key) const;
  // kInvalidArgument naming the first key (in file order) no getter asked for.
  Status CheckAllKeysUsed() const;
  // "file:line: key: message" for a caller's own validation of a value it read.
  Status Invalid(const std::string& key, const std::string& message) const;

 private:
  struct Impl;
  explicit Config(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace isdas
