#include "common/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace isdas {
namespace {

TEST(Config, SyntaxErrorNamesFileLineAndColumn) {
  auto c = Config::Parse("a = 1\nb = \"unterminated\n", "s.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(c.status().message().rfind("s.toml:2:", 0), 0u) << c.status().message();
}

TEST(Config, MissingFileIsIoError) {
  EXPECT_EQ(Config::Load("/nonexistent/isdas.toml").status().kind(), ErrorKind::kIo);
}

TEST(Config, ADirectoryIsNotAConfigFile) {
  // It used to read as an empty file: "tls.cert: required setting is missing".
  auto c = Config::Load("/tmp");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "config file /tmp is a directory: give the path of the .toml file itself");
}

TEST(Config, RelativePathsAreTakenFromTheConfigFilesFolder) {
  char tmpl[] = "/tmp/isdas-config-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/sensor.toml";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(
      "dir = \"spool\"\nabs = \"/var/x\"\nup = \"../ca/ca.crt\"\n"
      "files = [\"a.pcap\", \"/b.pcap\"]\nempty = \"\"\n",
      f);
  std::fclose(f);
  auto c = Config::Load(path);
  ASSERT_TRUE(c.ok()) << c.status().message();
  std::string v, def = "isdas-data", empty = "x";
  ASSERT_TRUE(c->GetPath("dir", &v).ok());
  EXPECT_EQ(v, dir + "/spool");  // not ./spool in whatever folder it was started from
  ASSERT_TRUE(c->GetPath("abs", &v).ok());
  EXPECT_EQ(v, "/var/x");
  ASSERT_TRUE(c->GetPath("up", &v).ok());
  EXPECT_EQ(v, dir + "/../ca/ca.crt");
  ASSERT_TRUE(c->GetPath("absent", &def).ok());  // a default is taken from there too
  EXPECT_EQ(def, dir + "/isdas-data");
  ASSERT_TRUE(c->GetPath("empty", &empty).ok());  // "" stays unset
  EXPECT_EQ(empty, "");
  std::vector<std::string> files;
  ASSERT_TRUE(c->GetPathList("files", &files).ok());
  EXPECT_EQ(files, (std::vector<std::string>{dir + "/a.pcap", "/b.pcap"}));
  // A file named without a folder: its paths are the working directory's, as written.
  auto p = Config::Parse("dir = \"spool\"\n", "sensor.toml");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->GetPath("dir", &v).ok());
  EXPECT_EQ(v, "spool");
  std::remove(path.c_str());
  rmdir(dir.c_str());
}

TEST(Config, UnknownKeyIsReportedWithItsLine) {
  auto c = Config::Parse("[spool]\nmax_bytes = 5\nmax_byte = 6\n", "s.toml");
  ASSERT_TRUE(c.ok());
  uint64_t v = 0;
  ASSERT_TRUE(c->GetUint("spool.max_bytes", 0, 10, &v).ok());
  EXPECT_EQ(v, 5u);
  Status s = c->CheckAllKeysUsed();
  EXPECT_EQ(s.kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(s.message(), "s.toml:3: spool.max_byte: unknown setting");
}

TEST(Config, WrongTypeAndRangeAreReportedWithLineAndKey) {
  auto c = Config::Parse("n = -1\ns = 3\nb = \"yes\"\ne = \"sometimes\"\nl = [1]\n", "x.toml");
  ASSERT_TRUE(c.ok());
  uint64_t v = 7;
  Status s = c->GetUint("n", 0, 10, &v);
  EXPECT_EQ(s.message(), "x.toml:1: n: -1 is outside 0..10");
  EXPECT_EQ(v, 7u);  // untouched on error
  std::string str;
  EXPECT_EQ(c->GetString("s", &str).message(), "x.toml:2: s: must be a string");
  bool b;
  EXPECT_EQ(c->GetBool("b", &b).message(), "x.toml:3: b: must be true or false");
  std::string e = "always";
  EXPECT_EQ(c->GetEnum("e", {"always", "never"}, &e).message(),
            "x.toml:4: e: 'sometimes' is not one of always, never");
  std::vector<std::string> l;
  EXPECT_EQ(c->GetStringList("l", &l).message(), "x.toml:5: l: must be a list of strings");
}

TEST(Config, AbsentKeysKeepDefaultsAndRequireNamesThem) {
  auto c = Config::Parse("[collector]\nurls = [\"https://a\", \"https://b\"]\n", "s.toml");
  ASSERT_TRUE(c.ok());
  uint64_t v = 42;
  ASSERT_TRUE(c->GetUint("spool.max_bytes", 0, 100, &v).ok());
  EXPECT_EQ(v, 42u);
  std::vector<std::string> urls;
  ASSERT_TRUE(c->GetStringList("collector.urls", &urls).ok());
  EXPECT_EQ(urls.size(), 2u);
  EXPECT_EQ(c->Require("sensor.id").message(), "s.toml: sensor.id: required setting is missing");
  EXPECT_TRUE(c->CheckAllKeysUsed().ok());
}

}  // namespace
}  // namespace isdas
