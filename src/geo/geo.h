#pragma once

// Source enrichment: the country of an address (from an MMDB country database, read with
// libmaxminddb) and its AS number and name (from range CSV files). Data: the npm packages
// @ip-location-db/geo-whois-asn-country-mmdb and @ip-location-db/asn, fetched by
// scripts/fetch-geo.sh (docs/geo.md). Behind this interface so another database can drop in.
//
// Addresses that no registry assigns to a country get explicit codes, never a wrong country:
//   "XP" private (RFC 1918, shared CGN space RFC 6598, IPv6 ULA)
//   "XR" reserved (loopback, link-local, multicast, documentation, benchmarking, "this
//        network", future use, IETF protocol assignments, and the like)
//   "ZZ" public but not in the database
// These are ISO 3166 user-assigned codes, so they cannot collide with a real country.
// Thread-safe after Open (lookups only read).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/event.h"

namespace isdas::geo {

struct Origin {
  char country[3] = {'Z', 'Z', '\0'};
  uint32_t asn = 0;          // 0 = unknown (and for private/reserved space)
  std::string_view as_name;  // "" when unknown; valid while the GeoDb lives
};

// "XP", "XR" or "" (an ordinary, possibly public, address): the database is not consulted.
std::string_view SpecialCode(const model::IpAddr& a);

class GeoDb {
 public:
  // Opens the country MMDB and the ASN CSVs ("start,end,asn,name" with inclusive ranges,
  // addresses as text). Errors: kIo / kCorruption naming the file (and line, for CSV).
  static Result<std::unique_ptr<GeoDb>> Open(const std::string& country_mmdb,
                                             const std::string& asn_ipv4_csv,
                                             const std::string& asn_ipv6_csv,
                                             const std::string& version);
  // Opens the data of ip-location-db as scripts/fetch-geo.sh lays it out in `dir`
  // (geo-whois-asn-country.mmdb, asn-ipv4.csv, asn-ipv6.csv, and VERSION naming the release).
  static Result<std::unique_ptr<GeoDb>> OpenDir(const std::string& dir);
  ~GeoDb();
  Origin Lookup(const model::IpAddr& a) const;
  // Recorded with every stored batch and shown in the API: which data made the labels.
  const std::string& version() const { return version_; }
  size_t asn_ranges() const { return v4_.size() + v6_.size(); }

 private:
  struct V4Range {
    uint32_t start, end, asn, name;
  };
  struct V6Range {
    unsigned __int128 start, end;
    uint32_t asn, name;
  };
  GeoDb() = default;
  Status LoadCsv(const std::string& path, bool v6);

  struct Mmdb;
  std::unique_ptr<Mmdb> mmdb_;
  std::vector<V4Range> v4_;  // sorted, non-overlapping
  std::vector<V6Range> v6_;
  std::vector<std::string> names_;
  std::string version_;
};

}  // namespace isdas::geo
