#pragma once

// The list of known research scanners (docs/research-scanners.md): sources whose traffic an
// analyst may want left out ("exclude known research scanners"). A text file, one entry a
// line: "AS<number> <name>" or "<address>/<prefix length> <name>"; '#' starts a comment.
// Bad lines are refused with file:line. Thread-safe after Load (lookups only read).

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "model/event.h"

namespace isdas::geo {

class ScannerList {
 public:
  static Result<ScannerList> Load(const std::string& path);
  // Parses the text of such a file; `where` names it in errors.
  static Result<ScannerList> Parse(const std::string& text, const std::string& where);
  bool Contains(const model::IpAddr& a, uint32_t asn) const;
  size_t asns() const { return asns_.size(); }
  size_t prefixes() const { return prefixes_.size(); }

 private:
  struct Prefix {
    model::IpAddr net;  // masked
    int len;
  };
  std::unordered_set<uint32_t> asns_;
  std::vector<Prefix> prefixes_;
};

}  // namespace isdas::geo
