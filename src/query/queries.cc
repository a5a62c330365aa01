#include "query/queries.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <unordered_map>

namespace isdas::query {
namespace {

using storage::CellI64;
using storage::CellU64;

Result<std::string> FromHex(std::string_view hex);

// model::HasPorts as SQL over the events table, for both engines (no bit operators: flags bit
// 0x02 is the non-first fragment): TCP or UDP with its transport header.
#define ISDAS_HAS_PORTS "proto IN (6, 17) AND flags % 4 < 2"
constexpr const char* kHasPorts = ISDAS_HAS_PORTS;
// The destination port, or -1 for "no port".
constexpr const char* kPortOrNone = "CASE WHEN " ISDAS_HAS_PORTS " THEN dport ELSE -1 END";
#undef ISDAS_HAS_PORTS

// Merges a counter column as Select returned it (its bytes, or hex(…) of them) into `into`.
Status MergeCounter(const storage::SqlDialect& d, std::string_view cell,
                    rollup::DistinctCounter* into) {
  if (d.raw_blobs) return into->MergeSerialized(cell);
  auto bytes = FromHex(cell);
  if (!bytes.ok()) return bytes.status();
  return into->MergeSerialized(bytes.value());
}

// SELECT expression for a counter column.
std::string CounterColumn(const storage::SqlDialect& d, const char* col) {
  return d.raw_blobs ? std::string(col) : "hex(" + std::string(col) + ")";
}

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Corruption("distinct counter: odd hex length");
  std::string bytes(hex.size() / 2, '\0');
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int h = nib(hex[2 * i]), l = nib(hex[2 * i + 1]);
    if (h < 0 || l < 0) return Corruption("distinct counter: not hex");
    bytes[i] = static_cast<char>(h << 4 | l);
  }
  return bytes;
}

const char* GroupColumn(GroupBy g) {
  switch (g) {
    case GroupBy::kKey:
      return "key";
    case GroupBy::kSensor:
      return "sensor";
    case GroupBy::kProto:
      return "proto";
    case GroupBy::kKind:
      return "kind";
    case GroupBy::kTool:
      return "tool";
    case GroupBy::kSpoof:
      return "spoof";
  }
  return "key";
}

// The rows of every segment, each selecting `cols`, glued with UNION ALL.
std::string Union(const storage::SqlDialect& d, const std::vector<Segment>& segs,
                  const std::string& cols, const std::string& cond) {
  std::string sql;
  for (const Segment& s : segs) {
    if (!sql.empty()) sql += " UNION ALL ";
    sql += "SELECT " + cols + " FROM " + d.rollup_from(static_cast<int>(s.res));
    if (d.bucket_lists) {
      // Buckets start at multiples of their width (UTC).
      const int64_t w = rollup::Seconds(s.res);
      std::string in;
      for (int64_t b = rollup::BucketStart(s.from_s + w - 1, w); b < s.to_s; b += w) {
        if (!in.empty()) in += ',';
        in += std::to_string(b);
      }
      sql += " bucket IN (" + in + ")";
    } else {
      sql += " bucket >= " + std::to_string(s.from_s) + " AND bucket < " + std::to_string(s.to_s);
    }
    sql += cond;
  }
  return sql;
}

}  // namespace

std::string Queries::Where(const Filter& f, bool events) {
  std::string w;
  if (f.proto >= 0) w += " AND proto = " + std::to_string(f.proto);
  if (f.kind >= 0) w += " AND kind = " + std::to_string(f.kind);
  if (f.tool >= 0) w += " AND tool = " + std::to_string(f.tool);
  if (f.exclude_research) w += events ? " AND src_research = 0" : " AND research = 0";
  // (Events and rollups both have the column; no bit operators, as above.)
  if (f.spoof == 0) {
    w += " AND spoof = 0";
  } else if (f.spoof == kSpoofSuspected) {
    w += " AND spoof > 0";
  } else if (f.spoof > 0) {
    w += " AND spoof % " + std::to_string(2 * f.spoof) + " >= " + std::to_string(f.spoof);
  }
  if (!f.sensors.empty()) {
    std::string names;
    bool local = false;
    for (const std::string& s : f.sensors) {
      local = local || s == "local";
      names += (names.empty() ? "" : ", ") + store_->dialect().quote(s);
    }
    if (store_->dialect().sensor_is_name) {
      w += " AND sensor IN (" + names + ")";
    } else {
      w += " AND (sensor IN (SELECT id FROM sensors WHERE name IN (" + names + "))" +
           (local ? " OR sensor = 0)" : ")");
    }
  }
  return w;
}

Result<std::string> Queries::SensorName(const std::string& number) {
  if (store_->dialect().sensor_is_name) return number;
  if (number == "0") return std::string("local");
  auto it = sensor_names_.find(number);
  if (it == sensor_names_.end()) {
    auto rows = store_->Select("SELECT id, name FROM sensors");
    if (!rows.ok()) return rows.status();
    for (auto& r : rows.value()) sensor_names_[r[0]] = r[1];
    it = sensor_names_.find(number);
    if (it == sensor_names_.end()) return number;
  }
  return it->second;
}

Result<TopResult> Queries::Top(const TopQuery& q) {
  TopResult out;
  if (q.segments.empty() || q.limit == 0) return out;
  const storage::SqlDialect& d = store_->dialect();
  const std::string g = GroupColumn(q.by);
  const std::string family =
      " AND family = " + std::to_string(static_cast<int>(q.family)) + Where(q.filter, false);
  const std::string cond = family + " AND key >= " + std::to_string(q.key_lo) +
                           " AND key <= " + std::to_string(q.key_hi);
  std::vector<std::string> groups;  // the rows' groups as Select returns them, in rank order
  std::optional<storage::PortTotals> totals;
  if (q.family == rollup::Family::kPort && q.by == GroupBy::kKey && q.key_lo == 0 &&
      q.key_hi >= 65535) {
    // Engines that keep every port's packets per bucket and filter combination answer this
    // from those (SQLite's port totals).
    storage::PortTotalsQuery pq;
    for (const Segment& s : q.segments) {
      pq.ranges.push_back({static_cast<int>(s.res), s.from_s, s.to_s});
    }
    pq.filter_sql = Where(q.filter, false);
    pq.k = q.offset + q.limit + 1;
    pq.head = q.head;
    auto t = store_->TopPortTotals(pq);
    if (!t.ok()) return t.status();
    totals = std::move(t.value());
  }
  if (totals) {
    out.port_totals = {totals->heads, totals->wholes, totals->summed_all};
    std::vector<std::pair<uint32_t, uint64_t>>& ports = totals->ports;
    const size_t want = std::min(ports.size(), q.offset + q.limit + 1);
    std::partial_sort(ports.begin(), ports.begin() + static_cast<ptrdiff_t>(want), ports.end(),
                      [](const auto& a, const auto& b) {
                        return a.second != b.second ? a.second > b.second : a.first < b.first;
                      });
    for (size_t i = q.offset; i < want; ++i) {
      if (out.rows.size() == q.limit) {
        out.more = true;
        break;
      }
      TopRow t;
      t.group = ports[i].first;
      t.packets = ports[i].second;
      out.rows.push_back(t);
      groups.push_back(std::to_string(ports[i].first));
    }
  } else {
    // Ranked by packets, ties by group (a sensor by its name, on every engine: SQLite groups by
    // the sensor's number), so pages are stable and the same everywhere. Sensors are few: all
    // of them are read and ranked here.
    const bool by_sensor = q.by == GroupBy::kSensor;
    const std::string sql =
        "SELECT g, sum(p) AS pk FROM (" + Union(d, q.segments, g + " AS g, packets AS p", cond) +
        ") GROUP BY g ORDER BY pk DESC, g" +
        (by_sensor ? std::string()
                   : " LIMIT " + std::to_string(q.offset) + ", " + std::to_string(q.limit + 1));
    auto rows = store_->Select(sql);
    if (!rows.ok()) return rows.status();
    struct Ranked {
      TopRow row;
      std::string group;  // as Select returned it
    };
    std::vector<Ranked> ranked;
    for (const auto& r : rows.value()) {
      Ranked k;
      if (by_sensor) {
        auto name = SensorName(r[0]);
        if (!name.ok()) return name.status();
        k.row.sensor = name.value();
      } else {
        k.row.group = CellU64(r[0]);
      }
      k.row.packets = CellU64(r[1]);
      k.group = r[0];
      ranked.push_back(std::move(k));
    }
    size_t at = 0;
    if (by_sensor) {
      std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
        return a.row.packets != b.row.packets ? a.row.packets > b.row.packets
                                              : a.row.sensor < b.row.sensor;
      });
      at = std::min(q.offset, ranked.size());
    }
    for (; at < ranked.size(); ++at) {
      if (out.rows.size() == q.limit) {
        out.more = true;
        break;
      }
      out.rows.push_back(ranked[at].row);
      groups.push_back(ranked[at].group);
    }
  }
  if (out.rows.empty()) return out;
  // First/last seen and distinct counts of the rows shown: their rows merged across buckets
  // and dimensions (one lookup per group by the primary key).
  std::string in;  // the groups as SQL literals (sensor names are strings on ClickHouse)
  for (const std::string& gr : groups) {
    in += (in.empty() ? "" : ", ") +
          (d.sensor_is_name && q.by == GroupBy::kSensor ? d.quote(gr) : gr);
  }
  const std::string cols = q.distinct
                               ? g + " AS g, first_us AS f, last_us AS l, srcs AS s, dsts AS t"
                               : g + " AS g, first_us AS f, last_us AS l";
  struct Acc {
    int64_t first = INT64_MAX, last = INT64_MIN;
    rollup::DistinctCounter s, t;
  };
  std::unordered_map<std::string, Acc> m;
  // The shown groups' rows. Grouped by key, the list replaces the key range (the groups lie in
  // it): given both, SQLite seeks by the range and filters by the list — every key of the
  // family in each bucket read (BENCHMARKS.md, 0.6 s for 30 days). The list alone reaches the
  // rollup tables whole, and each pack holding some of its keys is read once (rollup_packs.cc).
  const std::string shown = q.by == GroupBy::kKey ? family + " AND key IN (" + in + ")"
                                                  : cond + " AND " + g + " IN (" + in + ")";
  ISDAS_RETURN_IF_ERROR(store_->SelectEach(
      std::string("SELECT g, f, l") +
          (q.distinct ? ", " + CounterColumn(d, "s") + ", " + CounterColumn(d, "t")
                      : std::string()) +
          " FROM (" + Union(d, q.segments, cols, shown) + ")",
      [&](std::span<const std::string_view> r) {
        Acc& acc = m[std::string(r[0])];
        acc.first = std::min(acc.first, CellI64(r[1]));
        acc.last = std::max(acc.last, CellI64(r[2]));
        if (!q.distinct) return Status::Ok();
        Status merged = MergeCounter(d, r[3], &acc.s);
        return merged.ok() ? MergeCounter(d, r[4], &acc.t) : merged;
      }));
  for (size_t i = 0; i < out.rows.size(); ++i) {
    auto it = m.find(groups[i]);
    if (it == m.end()) continue;
    out.rows[i].first_us = it->second.first;
    out.rows[i].last_us = it->second.last;
    // An estimate above the packet count is known to be high: each packet has one address.
    out.rows[i].sources = std::min(it->second.s.Estimate(), out.rows[i].packets);
    out.rows[i].destinations = std::min(it->second.t.Estimate(), out.rows[i].packets);
  }
  return out;
}

Result<std::vector<SeriesPoint>> Queries::Series(const SeriesQuery& q) {
  std::vector<SeriesPoint> out;
  if (q.keys.empty() || q.to_s <= q.from_s) return out;
  if (q.step_s <= 0 || q.step_s % rollup::Seconds(q.res) != 0) {
    return InvalidArgument("series step must be a multiple of the resolution");
  }
  std::string keys;
  for (uint64_t k : q.keys) keys += (keys.empty() ? "" : ", ") + std::to_string(k);
  const std::string cond = " AND family = " + std::to_string(static_cast<int>(q.family)) +
                           " AND key IN (" + keys + ")" + Where(q.filter, false);
  struct Acc {
    uint64_t packets = 0;
    rollup::DistinctCounter s, t;
  };
  std::map<std::pair<uint64_t, int64_t>, Acc> m;
  ISDAS_RETURN_IF_ERROR(store_->SelectEach(
      Union(store_->dialect(), {Segment{q.res, q.from_s, q.to_s}},
            "key, bucket, packets, " + CounterColumn(store_->dialect(), "srcs") + ", " +
                CounterColumn(store_->dialect(), "dsts"),
            cond),
      [&](std::span<const std::string_view> r) {
        const int64_t b = rollup::BucketStart(CellI64(r[1]) + q.tz_s, q.step_s) - q.tz_s;
        Acc& a = m[{CellU64(r[0]), b}];
        a.packets += CellU64(r[2]);
        Status merged = MergeCounter(store_->dialect(), r[3], &a.s);
        return merged.ok() ? MergeCounter(store_->dialect(), r[4], &a.t) : merged;
      }));
  // Every bucket of every key, zeros included: a graph must not join points across a gap.
  const int64_t first = rollup::BucketStart(q.from_s + q.tz_s, q.step_s) - q.tz_s;
  for (uint64_t k : q.keys) {
    for (int64_t b = first; b < q.to_s; b += q.step_s) {
      SeriesPoint p;
      p.key = k;
      p.bucket_s = b;
      auto it = m.find({k, b});
      if (it != m.end()) {
        p.packets = it->second.packets;
        p.sources = std::min(it->second.s.Estimate(), p.packets);
        p.destinations = std::min(it->second.t.Estimate(), p.packets);
      }
      out.push_back(p);
    }
  }
  return out;
}

Result<SourceReport> Queries::Source(const SourceQuery& q) {
  SourceReport rep;
  const std::string where = " FROM events WHERE " + store_->dialect().source_is(q.addr) +
                            " AND ts >= " + std::to_string(q.from_us) + " AND ts < " +
                            std::to_string(q.to_us) + Where(q.filter, true);
  auto total = store_->Select("SELECT count(*), min(ts), max(ts)" + where);
  if (!total.ok()) return total.status();
  if (total->empty() || CellU64(total.value()[0][0]) == 0) return rep;
  rep.packets = CellU64(total.value()[0][0]);
  rep.first_us = CellI64(total.value()[0][1]);
  rep.last_us = CellI64(total.value()[0][2]);
  auto origin = store_->Select("SELECT src_country, src_asn, max(src_research), max(ts) AS m" +
                               where + " GROUP BY src_country, src_asn ORDER BY m DESC LIMIT 1");
  if (!origin.ok()) return origin.status();
  if (!origin->empty()) {
    rep.country = origin.value()[0][0];
    rep.country.erase(std::find(rep.country.begin(), rep.country.end(), '\0'), rep.country.end());
    rep.asn = static_cast<uint32_t>(CellU64(origin.value()[0][1]));
    rep.research = origin.value()[0][2] == "1";
  }
  // Packets without ports (ICMP, other protocols, non-first fragments) as -1: "no port".
  auto ports = store_->Select("SELECT proto, " + std::string(kPortOrNone) + " AS p, count(*) AS n" +
                              where + " GROUP BY proto, p ORDER BY n DESC, proto, p LIMIT " +
                              std::to_string(q.limit + 1));
  if (!ports.ok()) return ports.status();
  for (const auto& r : ports.value()) {
    if (rep.ports.size() == q.limit) {
      rep.more_ports = true;
      break;
    }
    rep.ports.push_back(
        {static_cast<int>(CellI64(r[0])), static_cast<int>(CellI64(r[1])), CellU64(r[2])});
  }
  auto sensors = store_->Select("SELECT sensor, count(*) AS n" + where +
                                " GROUP BY sensor ORDER BY n DESC, sensor");
  if (!sensors.ok()) return sensors.status();
  for (const auto& r : sensors.value()) {
    auto name = SensorName(r[0]);
    if (!name.ok()) return name.status();
    rep.sensors.emplace_back(name.value(), CellU64(r[1]));
  }
  auto labels = store_->Select("SELECT kind, tool, count(*) AS n" + where +
                               " GROUP BY kind, tool ORDER BY n DESC, kind, tool");
  if (!labels.ok()) return labels.status();
  for (const auto& r : labels.value()) {
    rep.labels.push_back(
        {static_cast<int>(CellI64(r[0])), static_cast<int>(CellI64(r[1])), CellU64(r[2])});
  }
  return rep;
}

Result<std::vector<TopRow>> Queries::PortAsns(int port, int64_t from_us, int64_t to_us,
                                              const Filter& f, size_t limit) {
  auto rows = store_->Select(
      "SELECT src_asn, count(*) AS n, count(DISTINCT src), min(ts), max(ts) FROM events "
      "WHERE dport = " +
      std::to_string(port) + " AND " + kHasPorts + " AND ts >= " + std::to_string(from_us) +
      " AND ts < " + std::to_string(to_us) + Where(f, true) +
      " GROUP BY src_asn ORDER BY n DESC, src_asn LIMIT " + std::to_string(limit));
  if (!rows.ok()) return rows.status();
  std::vector<TopRow> out;
  for (const auto& r : rows.value()) {
    TopRow t;
    t.group = CellU64(r[0]);
    t.packets = CellU64(r[1]);
    t.sources = CellU64(r[2]);
    t.first_us = CellI64(r[3]);
    t.last_us = CellI64(r[4]);
    out.push_back(t);
  }
  return out;
}

Result<std::map<uint32_t, std::string>> Queries::AsNames(const std::vector<uint32_t>& asns) {
  std::map<uint32_t, std::string> out;
  if (asns.empty()) return out;
  std::string list;
  for (uint32_t a : asns) list += (list.empty() ? "" : ", ") + std::to_string(a);
  auto rows = store_->Select(
      "SELECT asn, any_name FROM (SELECT asn, max(name) AS any_name FROM "
      "as_names WHERE asn IN (" +
      list + ") GROUP BY asn)");
  if (!rows.ok()) return rows.status();
  for (const auto& r : rows.value()) out[static_cast<uint32_t>(CellU64(r[0]))] = r[1];
  return out;
}

Result<std::vector<std::string>> Queries::GeoVersions() {
  auto rows = store_->Select(
      "SELECT geo_version, max(received_us) AS m FROM batches WHERE geo_version != '' "
      "GROUP BY geo_version ORDER BY m DESC");
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (const auto& r : rows.value()) out.push_back(r[0]);
  return out;
}

}  // namespace isdas::query
