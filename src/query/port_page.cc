#include "query/port_page.h"

#include <algorithm>

namespace isdas::query {

using rollup::Family;

Result<PortPage> BuildPortPage(Queries& q, const PortPageQuery& pq) {
  PortPage page;
  page.plan = PlanTop(pq.from_s, pq.to_s, pq.avail);
  // Totals of the port in the window, then its breakdowns.
  TopQuery tq;
  tq.family = Family::kPort;
  tq.segments = page.plan.segments;
  tq.filter = pq.filter;
  tq.key_lo = tq.key_hi = pq.port;
  tq.limit = 1;
  auto total = q.Top(tq);
  if (!total.ok()) return total.status();
  if (!total->rows.empty()) page.totals = total->rows[0];
  // First seen ever: the daily rows (kept longest) plus the recent edge, unfiltered.
  TopQuery ever = tq;
  ever.segments = PlanTop(0, pq.to_s, pq.avail).segments;
  ever.distinct = false;
  ever.filter = Filter{};
  auto all = q.Top(ever);
  if (!all.ok()) return all.status();
  if (!all->rows.empty()) page.first_seen_ever_us = all->rows[0].first_us;
  struct {
    GroupBy by;
    size_t limit;
    std::vector<TopRow>* out;
  } const groups[] = {{GroupBy::kProto, 10, &page.protocols},
                      {GroupBy::kKind, 10, &page.kinds},
                      {GroupBy::kTool, 10, &page.tools},
                      {GroupBy::kSensor, 100, &page.sensors}};
  for (const auto& g : groups) {
    TopQuery b = tq;
    b.by = g.by;
    b.limit = g.limit;
    auto r = q.Top(b);
    if (!r.ok()) return r.status();
    *g.out = std::move(r->rows);
  }
  // The port × country/flags lists are kept daily only: their window is whole days.
  page.lists = PlanTop(pq.from_s, pq.to_s, pq.avail, rollup::Finest(Family::kPortCountry));
  auto list = [&](Family fam, size_t limit) -> Result<std::vector<TopRow>> {
    const rollup::KeyRange kr = rollup::PortPairs(fam, pq.port);
    TopQuery lq = tq;
    lq.segments = page.lists.segments;
    lq.family = fam;
    lq.key_lo = kr.lo;
    lq.key_hi = kr.hi;
    lq.limit = limit;
    auto r = q.Top(lq);
    if (!r.ok()) return r.status();
    for (TopRow& row : r->rows) row.group -= kr.lo;  // the pair's second half
    return std::move(r->rows);
  };
  auto countries = list(Family::kPortCountry, 10);
  if (!countries.ok()) return countries.status();
  for (const TopRow& row : countries.value()) {
    page.countries.push_back({rollup::CountryFromKey(row.group), row});
  }
  auto flags = list(Family::kPortFlags, 20);
  if (!flags.ok()) return flags.status();
  page.tcp_flags = std::move(flags.value());
  // Its ASes from the events: the window, cut to the events kept.
  const int64_t asn_from =
      pq.events_from_s == INT64_MIN ? pq.from_s : std::max(pq.from_s, pq.events_from_s);
  page.asns_from_s = std::min(asn_from, pq.to_s);
  auto pa = q.PortAsns(pq.port, asn_from * 1000000, pq.to_s * 1000000, pq.filter, 10);
  if (!pa.ok()) return pa.status();
  std::vector<uint32_t> numbers;
  for (const TopRow& row : pa.value()) numbers.push_back(static_cast<uint32_t>(row.group));
  auto names = q.AsNames(numbers);
  if (!names.ok()) return names.status();
  for (const TopRow& row : pa.value()) {
    const auto asn = static_cast<uint32_t>(row.group);
    const auto n = names->find(asn);
    page.asns.push_back({asn, n == names->end() ? "" : n->second, row.packets, row.sources});
  }
  return page;
}

}  // namespace isdas::query
