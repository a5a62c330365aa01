#pragma once

// The page of one destination port (GET /api/v1/ports/{port}; docs/api.md), composed here so
// the API, and next the dashboard's port page, only format it: the port's totals over the
// window and its first sighting ever, its breakdowns by protocol, traffic kind, tool and
// sensor, and its lists by source country and TCP flags (kept daily: whole days) and by source
// AS (from the events, over the part of the window whose events are kept).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "query/plan.h"
#include "query/queries.h"

namespace isdas::query {

struct PortPageQuery {
  uint16_t port = 0;
  int64_t from_s = 0;  // the window asked for, [from_s, to_s)
  int64_t to_s = 0;
  Filter filter;
  Availability avail;
  // Events are kept from here on (storage::RetentionCutoff of the events' days; INT64_MIN: all).
  int64_t events_from_s = INT64_MIN;
};

struct PortPage {
  TopPlan plan;                  // the window answered (whole buckets)
  std::optional<TopRow> totals;  // none: no packet to the port in the window
  std::optional<int64_t> first_seen_ever_us;
  // Breakdowns over the window: `group` is the protocol number, TrafficKind, Tool; sensors by
  // name in `sensor`.
  std::vector<TopRow> protocols, kinds, tools, sensors;
  TopPlan lists;  // the window of the lists kept daily
  struct Named {
    std::string name;  // country code
    TopRow row;
  };
  std::vector<Named> countries;   // top 10
  std::vector<TopRow> tcp_flags;  // top 20; `group` is the flags byte
  int64_t asns_from_s = 0;        // the AS list covers [asns_from_s, the window's end)
  struct As {
    uint32_t asn = 0;
    std::string name;  // "" when unknown
    uint64_t packets = 0;
    uint64_t sources = 0;
  };
  std::vector<As> asns;  // top 10
};

Result<PortPage> BuildPortPage(Queries& q, const PortPageQuery& pq);

}  // namespace isdas::query
