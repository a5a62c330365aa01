// Against a real ClickHouse server started for the test run (tests/clickhouse/clickhouse_server.sh,
// a ctest fixture); its HTTP port is read from ISDAS_CLICKHOUSE_DIR/http_port.

#include "storage/clickhouse/clickhouse_client.h"

#include <gtest/gtest.h>

#include <fstream>

namespace isdas::storage::clickhouse {
namespace {

Endpoint Server() {
  Endpoint e;
  std::ifstream(std::string(ISDAS_CLICKHOUSE_DIR) + "/http_port") >> e.port;
  return e;
}

TEST(ClickhouseClient, ErrorsCarryTheServersCodeAndKind) {
  Client c(Server());
  auto r = c.Query("SELECT * FROM no_such_table_isdas");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(c.last_code(), 60);
  r = c.Query("SELEC 1");
  EXPECT_EQ(r.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(c.last_code(), 62);
  Endpoint dead = Server();
  dead.port = 1;
  Client d(dead);
  EXPECT_EQ(d.Query("SELECT 1").status().kind(), ErrorKind::kUnavailable);
}

TEST(ClickhouseClient, RowBinaryRoundTripsEveryTypeWeUse) {
  Client c(Server());
  ASSERT_TRUE(c.Query("DROP TABLE IF EXISTS rb_test").ok());
  ASSERT_TRUE(c.Query("CREATE TABLE rb_test (a UInt8, b UInt16, c UInt32, d UInt64, e Int64, "
                      "f String, g FixedString(16)) ENGINE = MergeTree() ORDER BY a")
                  .ok());
  RowBinary rb;
  rb.U8(200);
  rb.U16(65535);
  rb.U32(4000000000u);
  rb.U64(18000000000000000000ull);
  rb.I64(-1795651200000000LL);
  rb.String(std::string(300, 'x'));  // a length that needs two LEB128 bytes
  rb.FixedString(std::string("\x20\x01\x0d\xb8", 4), 16);
  ASSERT_TRUE(c.InsertRowBinary("rb_test", rb.data()).ok());
  auto r = c.Query("SELECT a, b, c, d, e, length(f), hex(g) FROM rb_test");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r.value(),
            "200\t65535\t4000000000\t18000000000000000000\t-1795651200000000\t300\t"
            "20010DB8000000000000000000000000\n");
  // A truncated row is refused, and nothing of it is stored.
  std::string cut = rb.data().substr(0, rb.data().size() - 3);
  EXPECT_FALSE(c.InsertRowBinary("rb_test", cut).ok());
  EXPECT_EQ(c.Query("SELECT count() FROM rb_test").value(), "1\n");
  ASSERT_TRUE(c.Query("DROP TABLE rb_test").ok());
}

TEST(ClickhouseClient, VersionIsReported) {
  Client c(Server());
  auto v = c.Version();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->empty());
}

}  // namespace
}  // namespace isdas::storage::clickhouse
