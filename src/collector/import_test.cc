// `isdas import`'s unit against a real SQLite store and the golden captures: a file that is not
// a capture stores nothing, a damaged one keeps the events before the damage, and the same file
// twice is stored once.

#include "collector/import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "storage/sqlite_store.h"

namespace isdas::collector {
namespace {

const std::string kGolden = ISDAS_TESTDATA "/golden";

struct Store {
  std::string dir;
  std::unique_ptr<storage::SqliteStore> s;
  Store() {
    char tmpl[] = "/tmp/isdas_import_XXXXXX";
    dir = mkdtemp(tmpl);
    auto o = storage::SqliteStore::Open(dir);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    s = std::move(o.value());
  }
  ~Store() {
    s.reset();
    std::filesystem::remove_all(dir);
  }
  uint64_t Count(const std::string& sql) {
    auto r = s->Select(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && !r->empty() ? std::stoull(r.value()[0][0]) : 0;
  }
};

TEST(ImportFile, NotACaptureStoresNothingAndSaysWhy) {
  Store st;
  auto r = ImportFile(kGolden + "/f03_not_a_capture.pcap", st.s.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("f03_not_a_capture.pcap"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(st.Count("SELECT count(*) FROM imports"), 0u);
  EXPECT_EQ(st.s->CountEvents().value(), 0u);
  r = ImportFile("/nonexistent.pcap", st.s.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent.pcap"), std::string::npos);
}

TEST(ImportFile, DamagedFileKeepsTheEventsBeforeTheDamage) {
  Store st;
  auto r = ImportFile(kGolden + "/f01_truncated_record.pcap", st.s.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->id, 0);
  EXPECT_FALSE(r->file.damage.ok());
  EXPECT_NE(r->summary.error.find("truncated packet record"), std::string::npos);
  EXPECT_EQ(r->summary.events, 2u);
  EXPECT_EQ(st.s->CountEvents().value(), 2u);
  EXPECT_EQ(st.Count("SELECT count(*) FROM imports WHERE coalesce(error, '') != ''"), 1u);
}

TEST(ImportFile, TheSameFileTwiceIsStoredOnce) {
  Store st;
  auto a = ImportFile(kGolden + "/l01_ethernet.pcap", st.s.get());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const uint64_t events = st.s->CountEvents().value();
  EXPECT_GT(events, 0u);
  EXPECT_EQ(a->summary.events, events);
  EXPECT_EQ(a->summary.sha256.size(), 64u);
  auto b = ImportFile(kGolden + "/l01_ethernet.pcap", st.s.get());
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->id, 0);
  EXPECT_EQ(b->earlier, a->id);
  EXPECT_EQ(st.s->CountEvents().value(), events);
  EXPECT_EQ(st.Count("SELECT count(*) FROM imports"), 1u);
}

}  // namespace
}  // namespace isdas::collector
