// Top ports from SQLite's port totals (storage/port_totals.h; docs/rollups.md#top-ports).

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/port_totals.h"
#include "storage/sqlite_store.h"

namespace isdas::storage {
// Top ports without reading every blob whole (a threshold algorithm, Fagin et al. 2003): each
// blob lists its ports by count, highest first, so its first `head` pairs are its top ports and
// the next pair's count bounds every port it does not list. Summing the heads gives each port a
// lower bound, and the bounds of the blobs that do not list it an upper one. Only ports whose
// upper bound reaches the k-th best lower bound can rank within k; their exact counts come from
// reading whole just the blobs that leave one of them out. When that would not settle it (a
// port listed nowhere could still rank, too many candidates or blobs), every blob is summed.
Result<std::optional<PortTotals>> SqliteStore::TopPortTotals(const PortTotalsQuery& q) {
  constexpr size_t kMaxCandidates = 1000;
  const size_t k = std::max<size_t>(q.k, 1);
  const size_t head = std::clamp<size_t>(q.head, 1, kPortTotalsHead);
  auto table = [](const PortTotalsQuery::Range& s) {
    return "port_totals_" +
           std::string(rollup::Name(static_cast<rollup::Resolution>(s.resolution)));
  };
  // "port_totals_<res> WHERE <the range's buckets and the filter>"
  auto from = [&](const PortTotalsQuery::Range& s) {
    return table(s) + " WHERE bucket >= " + std::to_string(s.from_s) + " AND bucket < " +
           std::to_string(s.to_s) + q.filter_sql;
  };
  PortTotals result;
  PortTotals* how = &result;
  std::vector<std::pair<uint32_t, uint64_t>>& out = result.ports;
  auto sum_all = [&]() -> Status {
    how->summed_all = true;
    std::vector<uint64_t> sum(65536, 0);
    for (const PortTotalsQuery::Range& s : q.ranges) {
      ISDAS_RETURN_IF_ERROR(
          SelectEach("SELECT counts FROM " + from(s), [&sum](std::span<const std::string_view> r) {
            ForEachPortCount(r[0].data(), r[0].size(),
                             [&sum](uint16_t port, uint32_t n) { sum[port] += n; });
            return Status::Ok();
          }));
    }
    out.clear();
    for (uint32_t p = 0; p < 65536; ++p)
      if (sum[p]) out.emplace_back(p, sum[p]);
    return Status::Ok();
  };
  struct Partial {    // a blob with ports beyond its head
    std::string key;  // "port_totals_<res> WHERE <its primary key>"
    std::vector<uint16_t> listed;
    uint64_t bound;  // no port it leaves out has more
  };
  std::vector<Partial> partial;
  std::vector<uint64_t> low(65536, 0), listed_bounds(65536, 0);
  uint64_t bounds = 0;
  bool ordered = true;
  for (const PortTotalsQuery::Range& s : q.ranges) {
    auto rows =
        Select("SELECT bucket, sensor, proto, kind, tool, research, spoof, substr(head, 1, " +
               std::to_string(6 * (head + 1)) + "), length(counts) / 6 FROM " + from(s));
    if (!rows.ok()) return rows.status();
    for (const auto& r : rows.value()) {
      ++how->heads;
      Partial b{"", {}, 0};
      uint32_t prev = UINT32_MAX;
      size_t i = 0;
      ForEachPortCount(r[7].data(), r[7].size(), [&](uint16_t port, uint32_t n) {
        ordered = ordered && n <= prev;
        prev = n;
        if (i++ < head) {
          low[port] += n;
          b.listed.push_back(port);
        } else {
          b.bound = n;
        }
      });
      if (CellU64(r[8]) <= head) continue;  // the head is the whole blob
      b.key = table(s) + " WHERE bucket = " + std::string(r[0]) + " AND sensor = " + r[1] +
              " AND proto = " + r[2] + " AND kind = " + r[3] + " AND tool = " + r[4] +
              " AND research = " + r[5] + " AND spoof = " + r[6];
      bounds += b.bound;
      for (uint16_t p : b.listed) listed_bounds[p] += b.bound;
      partial.push_back(std::move(b));
    }
  }
  // Heads out of order cannot bound anything (a damaged or hand-edited store): sum them all.
  if (!ordered) {
    ISDAS_RETURN_IF_ERROR(sum_all());
    return std::optional<PortTotals>(std::move(result));
  }
  std::vector<uint32_t> seen;
  for (uint32_t p = 0; p < 65536; ++p)
    if (low[p]) seen.push_back(p);
  uint64_t low_k = 0;
  if (seen.size() >= k) {
    std::nth_element(seen.begin(), seen.begin() + static_cast<ptrdiff_t>(k - 1), seen.end(),
                     [&](uint32_t a, uint32_t b) { return low[a] > low[b]; });
    low_k = low[seen[k - 1]];
  }
  // Ports listed nowhere are bounded by `bounds`: they cannot rank if it is below low_k.
  bool settled = bounds == 0 || bounds < low_k;
  std::vector<uint32_t> cands;
  if (settled) {
    for (uint32_t p : seen)
      if (low[p] + bounds - listed_bounds[p] >= low_k) cands.push_back(p);
    settled = cands.size() <= kMaxCandidates;
  }
  std::vector<const Partial*> whole;  // blobs leaving out a candidate
  if (settled) {
    std::vector<uint8_t> listed(65536, 0);
    for (const Partial& b : partial) {
      for (uint16_t p : b.listed) listed[p] = 1;
      bool leaves_one_out = false;
      for (uint32_t p : cands) leaves_one_out = leaves_one_out || !listed[p];
      for (uint16_t p : b.listed) listed[p] = 0;
      if (leaves_one_out) whole.push_back(&b);
    }
    settled = whole.size() <= partial.size() / 2 + 8;
  }
  if (!settled) {
    ISDAS_RETURN_IF_ERROR(sum_all());
    return std::optional<PortTotals>(std::move(result));
  }
  std::vector<uint8_t> cand(65536, 0);
  for (uint32_t p : cands) cand[p] = 1;
  for (const Partial* b : whole) {
    ++how->wholes;
    ISDAS_RETURN_IF_ERROR(
        SelectEach("SELECT counts FROM " + b->key, [&](std::span<const std::string_view> r) {
          size_t i = 0;
          ForEachPortCount(r[0].data(), r[0].size(), [&](uint16_t port, uint32_t n) {
            if (i++ >= head && cand[port]) low[port] += n;
          });
          return Status::Ok();
        }));
  }
  for (uint32_t p : cands) out.emplace_back(p, low[p]);
  return std::optional<PortTotals>(std::move(result));
}

}  // namespace isdas::storage
