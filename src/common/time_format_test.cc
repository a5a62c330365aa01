#include "common/time_format.h"

#include <gtest/gtest.h>

namespace isdas {
namespace {

TEST(TimeFormat, EpochLeapDayAndNegative) {
  EXPECT_EQ(FormatTimestampUs(0), "1970-01-01T00:00:00.000000Z");
  // 2024-02-29T12:34:56.000789Z
  EXPECT_EQ(FormatTimestampUs(1709210096000789LL), "2024-02-29T12:34:56.000789Z");
  EXPECT_EQ(FormatTimestampUs(-1), "1969-12-31T23:59:59.999999Z");
  // Far outside 0000-9999: printed as a number, never a wrong date.
  EXPECT_EQ(FormatTimestampUs(INT64_MAX), "9223372036854775807");
}

}  // namespace
}  // namespace isdas
