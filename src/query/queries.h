#pragma once

// The read side of the store (docs/api.md, docs/rollups.md): top keys over a window, series of
// keys, one source address, built once as SQL for both engines (ReadStore::Select + its
// SqlDialect). Sums and orderings run in the database; distinct counts are merged here, from
// the rows' DistinctCounters, so both engines give the same numbers.
//
// Windows come as Segments of whole buckets, possibly of several resolutions (Plan in
// plan.h decides which); segments must not overlap. One Queries object per thread.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/event.h"
#include "rollup/rollup.h"
#include "storage/event_store.h"
#include "storage/port_totals.h"

namespace isdas::query {

struct Filter {
  int proto = -1;  // -1: any
  int kind = -1;
  int tool = -1;
  std::vector<std::string> sensors;  // names ("local" = file imports); empty: all
  bool exclude_research = false;
  // Spoof suspicion (model::kSpoof* bits): -1 any; 0 none suspected; one reason bit: events
  // with that reason (among others); kSpoofSuspected: with any reason.
  int spoof = -1;
};
inline constexpr int kSpoofSuspected = 0x100;

struct Segment {
  rollup::Resolution res;
  int64_t from_s;  // bucket starts in [from_s, to_s)
  int64_t to_s;
};

enum class GroupBy : uint8_t { kKey, kSensor, kProto, kKind, kTool, kSpoof };

struct TopQuery {
  rollup::Family family = rollup::Family::kPort;
  std::vector<Segment> segments;
  Filter filter;
  uint64_t key_lo = 0;  // keys in [key_lo, key_hi]
  uint64_t key_hi = UINT64_MAX >> 1;
  GroupBy by = GroupBy::kKey;
  size_t limit = 10;
  size_t offset = 0;
  bool distinct = true;  // also merge unique sources/destinations
  // Top ports from port-total blobs (SQLite): ports read from the head of each blob before
  // whole blobs are read (docs/rollups.md, "Top ports"), at most storage::kPortTotalsHead.
  // Tests make it small.
  size_t head = storage::kPortTotalsHead;
};

struct TopRow {
  uint64_t group = 0;  // key, proto, kind or tool
  std::string sensor;  // GroupBy::kSensor: the sensor's name
  uint64_t packets = 0;
  uint64_t sources = 0;
  uint64_t destinations = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
};

struct TopResult {
  std::vector<TopRow> rows;
  bool more = false;  // rows beyond offset + limit exist
  // How top ports were found from port-total blobs: heads read, whole blobs read to settle
  // candidates, and whether every blob had to be summed whole instead.
  struct PortTotals {
    size_t heads = 0;
    size_t wholes = 0;
    bool summed_all = false;
  } port_totals;
};

struct SeriesQuery {
  rollup::Family family = rollup::Family::kPort;
  rollup::Resolution res = rollup::Resolution::k1h;
  int64_t from_s = 0;  // output buckets cover [from_s, to_s)
  int64_t to_s = 0;
  int64_t step_s = 3600;  // a multiple of the resolution
  int64_t tz_s = 0;       // buckets start at local midnight/hour of this UTC offset
  Filter filter;
  std::vector<uint64_t> keys;
};

struct SeriesPoint {
  uint64_t key = 0;
  int64_t bucket_s = 0;  // start, UTC seconds
  uint64_t packets = 0;
  uint64_t sources = 0;
  uint64_t destinations = 0;
};

struct SourceQuery {
  model::IpAddr addr;
  int64_t from_us = 0;
  int64_t to_us = 0;
  Filter filter;
  size_t limit = 100;  // ports listed
};

struct SourceReport {
  uint64_t packets = 0;
  int64_t first_us = 0;
  int64_t last_us = 0;
  std::string country;
  uint32_t asn = 0;
  bool research = false;
  struct Port {
    int proto;
    int port;  // -1: none (ICMP, other protocols, non-first fragments)
    uint64_t packets;
  };
  std::vector<Port> ports;
  bool more_ports = false;
  std::vector<std::pair<std::string, uint64_t>> sensors;
  struct Label {
    int kind;
    int tool;
    uint64_t packets;
  };
  std::vector<Label> labels;
};

class Queries {
 public:
  explicit Queries(storage::ReadStore* store) : store_(store) {}
  Result<TopResult> Top(const TopQuery& q);
  Result<std::vector<SeriesPoint>> Series(const SeriesQuery& q);
  Result<SourceReport> Source(const SourceQuery& q);
  // The source ASes of one TCP/UDP port from the events (exact counts; `group` is the AS).
  Result<std::vector<TopRow>> PortAsns(int port, int64_t from_us, int64_t to_us, const Filter& f,
                                       size_t limit);
  // AS names for the numbers given (those known).
  Result<std::map<uint32_t, std::string>> AsNames(const std::vector<uint32_t>& asns);
  // Every geo data version batches were enriched with, newest first.
  Result<std::vector<std::string>> GeoVersions();

 private:
  std::string Where(const Filter& f, bool events);
  Result<std::string> SensorName(const std::string& number);

  storage::ReadStore* store_;
  std::map<std::string, std::string> sensor_names_;  // SQLite: id -> name
};

}  // namespace isdas::query
