#include "common/time_format.h"

#include <cstdio>

namespace isdas {
namespace {

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, proleptic Gregorian).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

}  // namespace

void AppendTimestampUs(int64_t ts_us, std::string* out) {
  constexpr int64_t kUsPerDay = 86400LL * 1000000LL;
  int64_t days = ts_us / kUsPerDay;
  int64_t rem = ts_us % kUsPerDay;
  if (rem < 0) {
    rem += kUsPerDay;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[40];
  int n;
  if (y < 0 || y > 9999) {
    n = std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(ts_us));
  } else {
    const int64_t secs = rem / 1000000;
    n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                      static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                      static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                      static_cast<long long>(rem % 1000000));
  }
  out->append(buf, static_cast<size_t>(n));
}

std::string FormatTimestampUs(int64_t ts_us) {
  std::string s;
  AppendTimestampUs(ts_us, &s);
  return s;
}

}  // namespace isdas
