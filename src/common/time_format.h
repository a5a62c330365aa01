#pragma once

#include <cstdint>
#include <string>

namespace isdas {

// Formats microseconds since the Unix epoch as RFC 3339 UTC with six fractional digits,
// e.g. "2026-11-26T23:40:12.123456Z". Valid for years 0000-9999; outside that range the
// number of microseconds is printed instead, so output is never wrong, only plain.
std::string FormatTimestampUs(int64_t ts_us);
// Appends the same text to `out` without allocating a new string.
void AppendTimestampUs(int64_t ts_us, std::string* out);

}  // namespace isdas
