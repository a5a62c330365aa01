#include "geo/geo.h"

#include <arpa/inet.h>
#include <maxminddb.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "common/byte_reader.h"

namespace isdas::geo {
namespace {

struct Net4 {
  uint32_t base;
  int len;
};
struct Net6 {
  uint8_t base[16];
  int len;
};

// IANA special-purpose registries (RFC 6890 and updates) split by what we call them.
constexpr Net4 kPrivate4[] = {
    {0x0a000000, 8}, {0xac100000, 12}, {0xc0a80000, 16}, {0x64400000, 10},  // RFC 1918, 6598
};
constexpr Net4 kReserved4[] = {
    {0x00000000, 8},   // "this network"
    {0x7f000000, 8},   // loopback
    {0xa9fe0000, 16},  // link-local
    {0xc0000000, 24},  // IETF protocol assignments
    {0xc0000200, 24},  // TEST-NET-1
    {0xc0586300, 24},  // 6to4 relay anycast (deprecated)
    {0xc6120000, 15},  // benchmarking (RFC 2544)
    {0xc6336400, 24},  // TEST-NET-2
    {0xcb007100, 24},  // TEST-NET-3
    {0xe0000000, 4},   // multicast
    {0xf0000000, 4},   // future use, and limited broadcast
};

bool In4(uint32_t a, const Net4& n) {
  const uint32_t mask = n.len == 0 ? 0 : ~uint32_t{0} << (32 - n.len);
  return (a & mask) == (n.base & mask);
}

bool In6(const uint8_t* a, const uint8_t* base, int len) {
  int full = len / 8;
  if (std::memcmp(a, base, static_cast<size_t>(full)) != 0) return false;
  if (len % 8 == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - len % 8));
  return (a[full] & mask) == (base[full] & mask);
}

unsigned __int128 U128(const uint8_t* b) {
  unsigned __int128 v = 0;
  for (int i = 0; i < 16; ++i) v = (v << 8) | b[i];
  return v;
}

// Splits one CSV line of "start,end,asn,name" where name may be "quoted, with commas".
bool SplitCsv(const std::string& line, std::string f[4]) {
  size_t pos = 0;
  for (int k = 0; k < 3; ++k) {
    const size_t c = line.find(',', pos);
    if (c == std::string::npos) return false;
    f[k] = line.substr(pos, c - pos);
    pos = c + 1;
  }
  std::string name = line.substr(pos);
  if (!name.empty() && name.back() == '\r') name.pop_back();
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    std::string un;
    for (size_t i = 1; i + 1 < name.size(); ++i) {
      if (name[i] == '"' && i + 2 < name.size() && name[i + 1] == '"') ++i;  // "" -> "
      un.push_back(name[i]);
    }
    name = un;
  }
  f[3] = name;
  return true;
}

}  // namespace

struct GeoDb::Mmdb {
  MMDB_s db{};
  bool open = false;
  ~Mmdb() {
    if (open) MMDB_close(&db);
  }
};

std::string_view SpecialCode(const model::IpAddr& a) {
  if (a.is_v4()) {
    const uint32_t v = a.v4();
    for (const Net4& n : kPrivate4) {
      if (In4(v, n)) return "XP";
    }
    for (const Net4& n : kReserved4) {
      if (In4(v, n)) return "XR";
    }
    return "";
  }
  if (!a.is_v6()) return "XR";
  const uint8_t* b = a.bytes;
  static const uint8_t kUla[16] = {0xfc};
  if (In6(b, kUla, 7)) return "XP";
  static const uint8_t kZero[16] = {};
  static const uint8_t kLinkLocal[16] = {0xfe, 0x80};
  static const uint8_t kMulticast[16] = {0xff};
  static const uint8_t kDoc[16] = {0x20, 0x01, 0x0d, 0xb8};
  static const uint8_t kBench[16] = {0x20, 0x01, 0x00, 0x02};
  static const uint8_t kV4Mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (In6(b, kZero, 96) || In6(b, kLinkLocal, 10) || In6(b, kMulticast, 8) || In6(b, kDoc, 32) ||
      In6(b, kBench, 48) || In6(b, kV4Mapped, 96)) {
    return "XR";  // includes ::, ::1, IPv4-compatible/mapped (never on the wire as sources)
  }
  return "";
}

GeoDb::~GeoDb() = default;

Status GeoDb::LoadCsv(const std::string& path, bool v6) {
  std::ifstream in(path);
  if (!in) return ErrnoError("open " + path, errno);
  std::unordered_map<std::string, uint32_t> name_ids;
  for (size_t i = 0; i < names_.size(); ++i) name_ids.emplace(names_[i], static_cast<uint32_t>(i));
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    std::string f[4];
    uint8_t s[16], e[16];
    const int af = v6 ? AF_INET6 : AF_INET;
    char* end = nullptr;
    if (!SplitCsv(line, f) || inet_pton(af, f[0].c_str(), s) != 1 ||
        inet_pton(af, f[1].c_str(), e) != 1) {
      return Corruption(path + ":" + std::to_string(n) + ": not \"start,end,asn,name\"");
    }
    const unsigned long asn = std::strtoul(f[2].c_str(), &end, 10);
    if (end == f[2].c_str() || *end != '\0' || asn > UINT32_MAX) {
      return Corruption(path + ":" + std::to_string(n) + ": bad AS number '" + f[2] + "'");
    }
    auto [it, fresh] = name_ids.emplace(f[3], static_cast<uint32_t>(names_.size()));
    if (fresh) names_.push_back(f[3]);
    if (v6) {
      v6_.push_back(V6Range{U128(s), U128(e), static_cast<uint32_t>(asn), it->second});
    } else {
      v4_.push_back(V4Range{LoadBe32(s), LoadBe32(e), static_cast<uint32_t>(asn), it->second});
    }
  }
  // Sorted by start; binary search finds the last range starting at or before an address.
  if (v6) {
    std::sort(v6_.begin(), v6_.end(), [](auto& a, auto& b) { return a.start < b.start; });
  } else {
    std::sort(v4_.begin(), v4_.end(), [](auto& a, auto& b) { return a.start < b.start; });
  }
  return Status::Ok();
}

Result<std::unique_ptr<GeoDb>> GeoDb::OpenDir(const std::string& dir) {
  std::string version = "unknown";
  if (FILE* vf = std::fopen((dir + "/VERSION").c_str(), "r")) {
    char buf[128] = {};
    if (std::fgets(buf, sizeof buf, vf)) version = std::string(buf, std::strcspn(buf, "\r\n"));
    std::fclose(vf);
  }
  return Open(dir + "/geo-whois-asn-country.mmdb", dir + "/asn-ipv4.csv", dir + "/asn-ipv6.csv",
              "ip-location-db " + version);
}

Result<std::unique_ptr<GeoDb>> GeoDb::Open(const std::string& country_mmdb,
                                           const std::string& asn_ipv4_csv,
                                           const std::string& asn_ipv6_csv,
                                           const std::string& version) {
  std::unique_ptr<GeoDb> g(new GeoDb());
  g->version_ = version;
  g->mmdb_ = std::make_unique<Mmdb>();
  const int rc = MMDB_open(country_mmdb.c_str(), MMDB_MODE_MMAP, &g->mmdb_->db);
  if (rc != MMDB_SUCCESS) {
    return Corruption(country_mmdb + ": " + MMDB_strerror(rc));
  }
  g->mmdb_->open = true;
  g->names_.emplace_back("");  // id 0: unknown
  ISDAS_RETURN_IF_ERROR(g->LoadCsv(asn_ipv4_csv, false));
  ISDAS_RETURN_IF_ERROR(g->LoadCsv(asn_ipv6_csv, true));
  return g;
}

Origin GeoDb::Lookup(const model::IpAddr& a) const {
  Origin o;
  const std::string_view special = SpecialCode(a);
  if (!special.empty()) {
    o.country[0] = special[0];
    o.country[1] = special[1];
    return o;
  }
  // Country.
  sockaddr_storage ss{};
  if (a.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, a.bytes, 4);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, a.bytes, 16);
  }
  int err = 0;
  MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&mmdb_->db, reinterpret_cast<sockaddr*>(&ss), &err);
  if (err == MMDB_SUCCESS && r.found_entry) {
    MMDB_entry_data_s d;
    if (MMDB_get_value(&r.entry, &d, "country_code", nullptr) == MMDB_SUCCESS && d.has_data &&
        d.type == MMDB_DATA_TYPE_UTF8_STRING && d.data_size == 2) {
      o.country[0] = d.utf8_string[0];
      o.country[1] = d.utf8_string[1];
    }
  }
  // AS.
  if (a.is_v4()) {
    const uint32_t v = a.v4();
    auto it = std::upper_bound(v4_.begin(), v4_.end(), v,
                               [](uint32_t x, const V4Range& range) { return x < range.start; });
    if (it != v4_.begin() && v <= std::prev(it)->end) {
      o.asn = std::prev(it)->asn;
      o.as_name = names_[std::prev(it)->name];
    }
  } else {
    const unsigned __int128 v = U128(a.bytes);
    auto it =
        std::upper_bound(v6_.begin(), v6_.end(), v,
                         [](unsigned __int128 x, const V6Range& range) { return x < range.start; });
    if (it != v6_.begin() && v <= std::prev(it)->end) {
      o.asn = std::prev(it)->asn;
      o.as_name = names_[std::prev(it)->name];
    }
  }
  return o;
}

}  // namespace isdas::geo
