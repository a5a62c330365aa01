#include "pki/pki.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>

namespace isdas::pki {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/isdas_pki_XXXXXX";
  return std::string(mkdtemp(tmpl)) + "/ca";
}

// Runs the openssl command-line tool: an independent check of what we wrote.
std::string Verify(const std::string& dir, const std::string& cert, const std::string& extra = "") {
  const std::string cmd = "openssl verify -CAfile " + dir + "/ca.crt -crl_check -CRLfile " + dir +
                          "/crl.pem " + extra + " " + cert + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

X509* ReadCert(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  return x;
}

TEST(Pki, WithoutCaNothingIsIssued) {
  const std::string dir = TempDir();
  EXPECT_EQ(IssueSensor(dir, "s1", 30).status().kind(), ErrorKind::kNotFound);
  EXPECT_EQ(RevokeSensor(dir, "s1").kind(), ErrorKind::kNotFound);
}

TEST(Pki, BadSensorIdsAreRefused) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  for (const char* id : {"", "-x", ".x", "a/b", "a b", "ü", "x\n"}) {
    EXPECT_EQ(IssueSensor(dir, id, 30).status().kind(), ErrorKind::kInvalidArgument) << id;
  }
  EXPECT_EQ(IssueSensor(dir, std::string(65, 'a'), 30).status().kind(),
            ErrorKind::kInvalidArgument);
}

TEST(Pki, CaIsNeverOverwritten) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  EXPECT_EQ(CreateCa(dir, "again", 30).kind(), ErrorKind::kInvalidArgument);
  struct stat st;
  ASSERT_EQ(stat((dir + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Pki, IssuedSensorVerifiesUntilRevoked) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  auto s = IssueSensor(dir, "tokyo-1", 30);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(Verify(dir, s->cert_path, "-purpose sslclient").find(": OK"), std::string::npos)
      << Verify(dir, s->cert_path);
  X509* x = ReadCert(s->cert_path);
  EXPECT_EQ(SensorIdOf(x), "tokyo-1");
  X509_free(x);
  struct stat st;
  ASSERT_EQ(stat(s->key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A second valid certificate for the same sensor is refused.
  EXPECT_EQ(IssueSensor(dir, "tokyo-1", 30).status().kind(), ErrorKind::kInvalidArgument);

  ASSERT_TRUE(RevokeSensor(dir, "tokyo-1").ok());
  EXPECT_NE(Verify(dir, s->cert_path).find("certificate revoked"), std::string::npos)
      << Verify(dir, s->cert_path);
  auto idx = ReadIndex(dir);
  ASSERT_TRUE(idx.ok());
  ASSERT_EQ(idx->size(), 1u);
  EXPECT_GT(idx->at(0).revoked_at, 0);
  // After revocation the sensor may be issued a new one, which verifies.
  auto again = IssueSensor(dir, "tokyo-1", 30);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->serial_hex, s->serial_hex);
  EXPECT_NE(Verify(dir, again->cert_path).find(": OK"), std::string::npos);
  EXPECT_EQ(RevokeSensor(dir, "osaka-9").kind(), ErrorKind::kNotFound);
}

TEST(Pki, ServerCertificateCarriesNamesAndServerPurpose) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  auto s = IssueServer(dir, {"localhost", "127.0.0.1", "::1"}, 30);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(Verify(dir, s->cert_path, "-purpose sslserver -verify_ip 127.0.0.1").find(": OK"),
            std::string::npos);
  EXPECT_NE(Verify(dir, s->cert_path, "-purpose sslserver -verify_hostname localhost").find(": OK"),
            std::string::npos);
  EXPECT_EQ(Verify(dir, s->cert_path, "-verify_hostname example.org").find(": OK"),
            std::string::npos);
  X509* x = ReadCert(s->cert_path);
  EXPECT_EQ(SensorIdOf(x), "");  // a server certificate names no sensor
  X509_free(x);
}

TEST(Pki, AnotherCasCertificateDoesNotVerify) {
  const std::string a = TempDir(), b = TempDir();
  ASSERT_TRUE(CreateCa(a, "A", 30).ok());
  ASSERT_TRUE(CreateCa(b, "B", 30).ok());
  auto s = IssueSensor(b, "tokyo-1", 30);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(Verify(a, s->cert_path).find(": OK"), std::string::npos);
}

TEST(Pki, ServerNamesMustBeAddressesOrDnsNames) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  // "a b" used to be accepted into the certificate, which no sensor could then match.
  for (const char* bad : {"a b", "", "-a.example", "a..b", "x_y.example", "é.example", "a/b"}) {
    auto s = IssueServer(dir, {"127.0.0.1", bad}, 30);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("neither an IP address nor a DNS name"), std::string::npos)
        << s.status().message();
  }
  struct stat st;
  EXPECT_NE(stat((dir + "/server.crt").c_str(), &st), 0);  // nothing issued
  EXPECT_TRUE(
      IssueServer(dir, {"collector-1.example.org", "*.isdas.example", "2001:db8::1"}, 30).ok());
}

TEST(Pki, AServerCertificateIsReplacedOnlyWhenAsked) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  auto first = IssueServer(dir, {"127.0.0.1"}, 30);
  ASSERT_TRUE(first.ok());
  auto again = IssueServer(dir, {"127.0.0.1"}, 30);  // silently overwrote it before
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("already exists"), std::string::npos);
  X509* x = ReadCert(dir + "/server.crt");
  EXPECT_EQ(SerialHex(X509_get0_serialNumber(x)), first->serial_hex);
  X509_free(x);
  auto replaced = IssueServer(dir, {"127.0.0.1"}, 30, /*replace=*/true);
  ASSERT_TRUE(replaced.ok()) << replaced.status().message();
  x = ReadCert(dir + "/server.crt.old");
  EXPECT_EQ(SerialHex(X509_get0_serialNumber(x)), first->serial_hex);
  X509_free(x);
  x = ReadCert(dir + "/server.crt");
  EXPECT_EQ(SerialHex(X509_get0_serialNumber(x)), replaced->serial_hex);
  X509_free(x);
}

TEST(Pki, CredentialsAreCheckedWithTheirLikelyCause) {
  const std::string dir = TempDir();
  ASSERT_TRUE(CreateCa(dir, "test CA", 30).ok());
  auto a = IssueSensor(dir, "tokyo-1", 30);
  auto b = IssueSensor(dir, "osaka-2", 30);
  auto srv = IssueServer(dir, {"127.0.0.1"}, 30);
  ASSERT_TRUE(a.ok() && b.ok() && srv.ok());
  auto check = [](const std::string& cert, const std::string& key, const std::string& id) {
    return CheckCredentials({cert, "collector.cert", key, "collector.key", id}).message();
  };
  EXPECT_EQ(check(a->cert_path, a->key_path, "tokyo-1"), "");
  EXPECT_EQ(check(srv->cert_path, srv->key_path, ""), "");
  // Another sensor's key ("127.0.0.1:42450: Success" from the handshake before).
  EXPECT_NE(check(a->cert_path, b->key_path, "tokyo-1").find("is not the key of collector.cert"),
            std::string::npos);
  // Another sensor's certificate (refused by the collector only, before).
  EXPECT_NE(check(b->cert_path, b->key_path, "tokyo-1")
                .find("was issued to sensor 'osaka-2', but sensor.id is 'tokyo-1'"),
            std::string::npos);
  EXPECT_NE(check(srv->cert_path, srv->key_path, "tokyo-1").find("names no isdas sensor"),
            std::string::npos);
  EXPECT_NE(check(a->key_path, a->key_path, "tokyo-1").find("is not a PEM certificate"),
            std::string::npos);
  EXPECT_NE(check(a->cert_path, a->cert_path, "tokyo-1").find("collector.key ("),
            std::string::npos);
  // A key others may read is refused, as ssh refuses it; 0600 and 0400 are fine.
  ASSERT_EQ(chmod(a->key_path.c_str(), 0644), 0);
  EXPECT_NE(
      check(a->cert_path, a->key_path, "tokyo-1").find("group or others may read (mode 0644)"),
      std::string::npos);
  ASSERT_EQ(chmod(a->key_path.c_str(), 0640), 0);
  EXPECT_NE(check(a->cert_path, a->key_path, "tokyo-1").find("mode 0640"), std::string::npos);
  ASSERT_EQ(chmod(a->key_path.c_str(), 0400), 0);
  EXPECT_EQ(check(a->cert_path, a->key_path, "tokyo-1"), "");
  EXPECT_NE(check(a->cert_path, dir + "/missing.key", "tokyo-1").find("cannot read it"),
            std::string::npos);
}

}  // namespace
}  // namespace isdas::pki
