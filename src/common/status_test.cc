#include "common/status.h"

#include <gtest/gtest.h>

namespace isdas {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Status Chain(int x) {
  ISDAS_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(Status, KindIsCarriedThroughResultAndMacro) {
  EXPECT_TRUE(Half(4).ok());
  EXPECT_EQ(Half(4).value(), 2);
  EXPECT_EQ(Half(3).status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(Chain(3).kind(), ErrorKind::kInvalidArgument);
  EXPECT_TRUE(Chain(2).ok());
  EXPECT_EQ(Corruption("x").ToString(), "corruption: x");
  EXPECT_EQ(ErrnoError("open /nope", ENOENT).kind(), ErrorKind::kIo);
}

}  // namespace
}  // namespace isdas
