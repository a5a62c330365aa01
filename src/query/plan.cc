#include "query/plan.h"

#include <algorithm>

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

std::vector<Segment> Decompose(int64_t from, int64_t to) {
  std::vector<Segment> out;
  const int64_t d0 = Ceil(from, 86400), d1 = Floor(to, 86400);
  if (d0 >= d1) {
    Hours(&out, from, to);
    return out;
  }
  Hours(&out, from, d0);
  Add(&out, Resolution::k1d, d0, d1);
  Hours(&out, d1, to);
  return out;
}

}  // namespace

Availability Availability::Of(const storage::Retention& r, int64_t now_us) {
  Availability a;
  for (Resolution res : rollup::kResolutions) {
    const int i = static_cast<int>(res);
    const int64_t cut = storage::RetentionCutoff(r.days(i), now_us);
    a.from_s[i] = cut == INT64_MIN ? INT64_MIN : BucketStart(cut, rollup::Seconds(res));
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
    p.segments = Decompose(from, to);
    bool widened = false;
    const int64_t f0 = from, t0 = to;
    for (const Segment& s : p.segments) {
      const int i = static_cast<int>(s.res);
      if (s.res == Resolution::k1d || s.from_s >= a.from_s[i]) continue;
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
