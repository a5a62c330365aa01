#include "query/plan.h"

#include <algorithm>
#include <iterator>

namespace isdas::query {
namespace {

using rollup::BucketStart;
using rollup::Resolution;

int64_t Floor(int64_t t, int64_t w) { return BucketStart(t, w); }
int64_t Ceil(int64_t t, int64_t w) { return -BucketStart(-t, w); }

void Add(std::vector<Segment>* out, Resolution r, int64_t a, int64_t b) {
  if (a < b) out->push_back(Segment{r, a, b});
}

// [a, b), both on 5-minute boundaries, as whole hours plus 5-minute edges.
void Hours(std::vector<Segment>* out, int64_t a, int64_t b) {
  const int64_t h0 = Ceil(a, 3600), h1 = Floor(b, 3600);
  if (h0 >= h1) {
    Add(out, Resolution::k5m, a, b);
    return;
  }
  Add(out, Resolution::k5m, a, h0);
  Add(out, Resolution::k1h, h0, h1);
  Add(out, Resolution::k5m, h1, b);
}

// [a, b), both on day boundaries, as whole coarse buckets of rollup::kCoarse[level] and
// coarser ones below it where available, the rest in days.
void Days(std::vector<Segment>* out, int64_t a, int64_t b, const Availability& av, int level) {
  if (level < 0) {
    Add(out, Resolution::k1d, a, b);
    return;
  }
  const Resolution r = rollup::kCoarse[level];
  const int64_t w = rollup::Seconds(r), avail = av.from_s[static_cast<int>(r)];
  if (avail == INT64_MAX || av.coarse_to_s == INT64_MIN) {
    Days(out, a, b, av, level - 1);
    return;
  }
  const int64_t c0 = Ceil(avail == INT64_MIN ? a : std::max(a, avail), w);
  const int64_t c1 = Floor(std::min(b, av.coarse_to_s), w);
  if (c0 >= c1) {
    Days(out, a, b, av, level - 1);
    return;
  }
  Days(out, a, c0, av, level - 1);
  Add(out, r, c0, c1);
  Days(out, c1, b, av, level - 1);
}

std::vector<Segment> Decompose(int64_t from, int64_t to, const Availability& av) {
  std::vector<Segment> out;
  const int64_t d0 = Ceil(from, 86400), d1 = Floor(to, 86400);
  if (d0 >= d1) {
    Hours(&out, from, to);
    return out;
  }
  Hours(&out, from, d0);
  Days(&out, d0, d1, av, static_cast<int>(std::size(rollup::kCoarse)) - 1);
  Hours(&out, d1, to);
  return out;
}

}  // namespace

Availability Availability::Of(const storage::Retention& r, int64_t now_us, int64_t coarse_through) {
  Availability a;
  const bool coarse = coarse_through != INT64_MIN;
  a.coarse_to_s = coarse_through;
  for (Resolution res : rollup::kAllResolutions) {
    const int i = static_cast<int>(res);
    const int64_t cut = storage::RetentionCutoff(r.days(i), now_us);
    if (rollup::IsCoarse(res)) {
      // The first bucket that starts at or after the cut-off (storage::Expire).
      a.from_s[i] = !coarse            ? INT64_MAX
                    : cut == INT64_MIN ? INT64_MIN
                                       : Ceil(cut, rollup::Seconds(res));
    } else {
      a.from_s[i] = cut == INT64_MIN ? INT64_MIN : BucketStart(cut, rollup::Seconds(res));
    }
  }
  return a;
}

TopPlan PlanTop(int64_t from_s, int64_t to_s, const Availability& a, Resolution finest) {
  TopPlan p;
  const int64_t w0 = rollup::Seconds(finest);
  int64_t from = Floor(from_s, w0), to = Ceil(to_s, w0);
  // Widen whatever piece is past its resolution's retention, then plan again (at most twice).
  for (int round = 0; round < 3; ++round) {
    from = std::max(from, a.from_s[2] == INT64_MIN ? from : Ceil(a.from_s[2], 86400));
    if (from >= to) break;
    p.segments = Decompose(from, to, a);
    bool widened = false;
    const int64_t f0 = from, t0 = to;
    for (const Segment& s : p.segments) {
      const int i = static_cast<int>(s.res);
      if (s.res >= Resolution::k1d || s.from_s >= a.from_s[i]) continue;
      const int64_t w =
          rollup::Seconds(s.res == Resolution::k5m ? Resolution::k1h : Resolution::k1d);
      if (s.from_s == f0) from = Floor(from, w);
      if (s.to_s == t0) to = Ceil(to, w);
      if (s.from_s != f0 && s.to_s != t0) {  // an inner piece: both sides
        from = Floor(from, w);
        to = Ceil(to, w);
      }
      widened = true;
    }
    if (!widened) break;
  }
  if (from >= to) {
    p.segments.clear();
    from = to;
  }
  p.from_s = from;
  p.to_s = to;
  return p;
}

Result<SeriesPlan> PlanSeries(int64_t from_s, int64_t to_s, int64_t step_s, int64_t tz_s,
                              const Availability& a) {
  if (step_s <= 0 || step_s % 300 != 0) {
    return InvalidArgument("step must be a whole number of 5-minute buckets");
  }
  if (tz_s % 300 != 0) return InvalidArgument("tz must be a whole number of 5 minutes");
  SeriesPlan p{Resolution::k5m, from_s, to_s};
  for (Resolution r : rollup::kResolutions) {  // the coarsest that builds the buckets
    const int64_t w = rollup::Seconds(r);
    if (step_s % w == 0 && tz_s % w == 0) p.res = r;
  }
  // Output buckets: aligned to local time; cut where this resolution's data ends.
  p.from_s = Floor(from_s + tz_s, step_s) - tz_s;
  const int64_t avail = a.from_s[static_cast<int>(p.res)];
  if (avail != INT64_MIN && p.from_s < avail) p.from_s = Ceil(avail + tz_s, step_s) - tz_s;
  p.to_s = Ceil(to_s + tz_s, step_s) - tz_s;
  if (p.from_s > p.to_s) p.from_s = p.to_s;
  return p;
}

}  // namespace isdas::query
