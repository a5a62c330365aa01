#pragma once

// Which rollup rows answer a window (docs/rollups.md#reading): whole coarse buckets (512, 64
// and 8 days) where the engine keeps them, whole UTC days from the daily table, whole hours
// from the hourly one, the rest from 5-minute rows. Windows are widened
// outward to 5 minutes; where a resolution is past its retention, the piece is widened to the
// next coarser one; before the coarsest kept data the window is cut. The plan says the window
// it really covers, and the API reports it.

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "query/queries.h"
#include "storage/event_store.h"

namespace isdas::query {

// The first bucket start of each resolution that retention still keeps whole (INT64_MIN:
// all of them; INT64_MAX: none, a coarse resolution the engine does not keep).
struct Availability {
  int64_t from_s[rollup::kResolutionCount];
  // Coarse buckets that end by this hold all their days (ReadStore::CoarseThrough).
  int64_t coarse_to_s = INT64_MIN;
  // `coarse_through`: ReadStore::CoarseThrough() (INT64_MIN: no coarse buckets). Retention
  // deletes a coarse bucket once its first day is past the daily rows' cut-off.
  static Availability Of(const storage::Retention& r, int64_t now_us, int64_t coarse_through);
};

struct TopPlan {
  std::vector<Segment> segments;
  int64_t from_s = 0;  // the window covered
  int64_t to_s = 0;
};

// `finest`: the finest resolution the family is stored at (rollup::Finest); the window is
// widened to its buckets first.
TopPlan PlanTop(int64_t from_s, int64_t to_s, const Availability& a,
                rollup::Resolution finest = rollup::Resolution::k5m);

struct SeriesPlan {
  rollup::Resolution res;
  int64_t from_s;  // the output covers [from_s, to_s); from_s is cut to the kept data
  int64_t to_s;
};

// Errors: kInvalidArgument when step or tz cannot be built from any resolution (the step must
// be a multiple of 5 minutes, the UTC offset a multiple of 5 minutes too).
Result<SeriesPlan> PlanSeries(int64_t from_s, int64_t to_s, int64_t step_s, int64_t tz_s,
                              const Availability& a);

}  // namespace isdas::query
