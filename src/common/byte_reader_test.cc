#include "common/byte_reader.h"

#include <gtest/gtest.h>

namespace isdas {
namespace {

TEST(ByteReader, ReadPastEndFailsAndDoesNotMove) {
  const uint8_t data[] = {0x01, 0x02, 0x03};
  ByteReader r(data, sizeof data);
  uint32_t v32 = 0xdeadbeef;
  EXPECT_FALSE(r.ReadU32(&v32));
  EXPECT_EQ(v32, 0xdeadbeefu);
  EXPECT_EQ(r.position(), 0u);
  uint16_t v16;
  ASSERT_TRUE(r.ReadU16(&v16));
  EXPECT_EQ(v16, 0x0102);
  EXPECT_FALSE(r.ReadU16(&v16));
  EXPECT_FALSE(r.Skip(2));
  uint8_t v8;
  ASSERT_TRUE(r.ReadU8(&v8));
  EXPECT_EQ(v8, 3);
  EXPECT_FALSE(r.ReadU8(&v8));
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(ByteReader, PeekWithHugeOffsetDoesNotOverflow) {
  const uint8_t data[] = {1, 2, 3, 4};
  ByteReader r(data, sizeof data);
  uint32_t v;
  EXPECT_FALSE(r.PeekU32(SIZE_MAX - 1, &v));
  uint16_t v16;
  EXPECT_FALSE(r.PeekU16(SIZE_MAX, &v16));
  EXPECT_FALSE(r.Skip(SIZE_MAX));
  ASSERT_TRUE(r.PeekU32(0, &v));
  EXPECT_EQ(v, 0x01020304u);
}

TEST(ByteReader, SubAndTruncateNeverGrow) {
  const uint8_t data[] = {1, 2, 3, 4, 5, 6};
  ByteReader r(data, sizeof data);
  ASSERT_TRUE(r.Skip(2));
  ByteReader s = r.Sub(100);
  EXPECT_EQ(s.remaining(), 4u);
  r.Truncate(2);
  EXPECT_EQ(r.remaining(), 2u);
  r.Truncate(10);
  EXPECT_EQ(r.remaining(), 2u);
}

TEST(ByteOrder, LittleAndBigEndianLoads) {
  const uint8_t d[] = {0xd4, 0xc3, 0xb2, 0xa1};
  EXPECT_EQ(LoadLe32(d), 0xa1b2c3d4u);
  EXPECT_EQ(LoadBe32(d), 0xd4c3b2a1u);
  EXPECT_EQ(LoadLe16(d), 0xc3d4);
  EXPECT_EQ(LoadBe16(d), 0xd4c3);
}

}  // namespace
}  // namespace isdas
