#include "geo/scanners.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace isdas::geo {
namespace {

void Mask(model::IpAddr* a, int len) {
  const int bits = static_cast<int>(a->size()) * 8;
  for (int b = len; b < bits; ++b) a->bytes[b / 8] &= static_cast<uint8_t>(~(0x80 >> (b % 8)));
}

}  // namespace

Result<ScannerList> ScannerList::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoError("open research-scanner list " + path, errno);
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str(), path);
}

Result<ScannerList> ScannerList::Parse(const std::string& text, const std::string& where) {
  ScannerList l;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string entry;
    if (!(ls >> entry)) continue;
    std::string name;
    std::getline(ls >> std::ws, name);
    const std::string at = where + ":" + std::to_string(n) + ": ";
    if (name.empty()) return InvalidArgument(at + "'" + entry + "' has no name after it");
    if (entry.size() > 2 && (entry[0] == 'A' || entry[0] == 'a') &&
        (entry[1] == 'S' || entry[1] == 's')) {
      char* end = nullptr;
      errno = 0;
      const unsigned long v = std::strtoul(entry.c_str() + 2, &end, 10);
      if (*end != '\0' || errno != 0 || v == 0 || v > UINT32_MAX) {
        return InvalidArgument(at + "'" + entry + "' is not an AS number (AS1 to AS4294967295)");
      }
      l.asns_.insert(static_cast<uint32_t>(v));
      continue;
    }
    const size_t slash = entry.find('/');
    Prefix p;
    if (slash == std::string::npos || !model::IpAddr::Parse(entry.substr(0, slash), &p.net)) {
      return InvalidArgument(at + "'" + entry + "' is neither AS<number> nor address/length");
    }
    char* end = nullptr;
    const long len = std::strtol(entry.c_str() + slash + 1, &end, 10);
    const long max = static_cast<long>(p.net.size()) * 8;
    if (slash + 1 == entry.size() || *end != '\0' || len < 0 || len > max) {
      return InvalidArgument(at + "'" + entry + "': prefix length must be 0 to " +
                             std::to_string(max));
    }
    p.len = static_cast<int>(len);
    Mask(&p.net, p.len);
    l.prefixes_.push_back(p);
  }
  return l;
}

bool ScannerList::Contains(const model::IpAddr& a, uint32_t asn) const {
  if (asn != 0 && asns_.count(asn)) return true;
  for (const Prefix& p : prefixes_) {
    if (p.net.family != a.family) continue;
    model::IpAddr m = a;
    Mask(&m, p.len);
    if (m == p.net) return true;
  }
  return false;
}

}  // namespace isdas::geo
