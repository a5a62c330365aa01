#include "pki/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "model/batch_codec.h"

namespace isdas::pki {
namespace {

std::string OpensslErrorIn(const std::string& what) {
  const std::string e = OpensslErrors();
  return e.empty() ? what : what + ": " + e;
}

constexpr const char* kSanPrefix = "urn:isdas:sensor:";

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

Status MakeDir(const std::string& p, mode_t mode) {
  if (mkdir(p.c_str(), mode) != 0 && errno != EEXIST) return ErrnoError("create " + p, errno);
  return Status::Ok();
}

// Writes a file atomically (tmp + rename) with the given mode.
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("create " + tmp, errno);
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return ErrnoError("write " + tmp, err);
    }
    off += static_cast<size_t>(w);
  }
  if (fsync(fd) != 0 || close(fd) != 0) return ErrnoError("write " + tmp, errno);
  if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp, errno);
  return Status::Ok();
}

std::string BioString(BIO* b) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  return std::string(p, static_cast<size_t>(n));
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr)) {
    return Internal(OpensslErrorIn("PEM_write_bio_PrivateKey"));
  }
  return BioString(b.get());
}

Result<std::string> CertPem(X509* x) {
  BioPtr b(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(b.get(), x)) return Internal(OpensslErrorIn("PEM_write_bio_X509"));
  return BioString(b.get());
}

Result<PkeyPtr> NewKey() {
  PkeyPtr k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!k) return Internal(OpensslErrorIn("EC key generation"));
  return k;
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return InvalidArgument(OpensslErrorIn("certificate extension " + value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return Status::Ok();
}

// A new certificate for `key`, signed by `issuer_key` (self-signed when issuer is null).
Result<X509Ptr> MakeCert(EVP_PKEY* key, const std::string& cn, uint32_t days, X509* issuer,
                         EVP_PKEY* issuer_key,
                         const std::vector<std::pair<int, std::string>>& exts) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  // 127-bit random serial (RFC 5280 §4.1.2.2: positive, at most 20 octets).
  BIGNUM* bn = BN_new();
  BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -300);  // tolerate small clock skew
  X509_time_adj_ex(X509_getm_notAfter(x.get()), static_cast<int>(days), 0, nullptr);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("isdas"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : x.get();
  for (const auto& [nid, v] : exts) ISDAS_RETURN_IF_ERROR(AddExt(x.get(), iss, nid, v));
  ISDAS_RETURN_IF_ERROR(AddExt(x.get(), iss, NID_subject_key_identifier, "hash"));
  if (issuer) ISDAS_RETURN_IF_ERROR(AddExt(x.get(), iss, NID_authority_key_identifier, "keyid"));
  if (!X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256())) {
    return Internal(OpensslErrorIn("X509_sign"));
  }
  return x;
}

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
};

Result<Ca> LoadCa(const std::string& dir) {
  const std::string crt = dir + "/ca.crt", key = dir + "/ca.key";
  if (!Exists(crt) || !Exists(key)) {
    return NotFound("no CA in " + dir + " (create one with 'isdas keys init')");
  }
  Ca ca;
  FILE* f = std::fopen(crt.c_str(), "r");
  if (!f) return ErrnoError("open " + crt, errno);
  ca.cert.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  f = std::fopen(key.c_str(), "r");
  if (!f) return ErrnoError("open " + key, errno);
  ca.key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!ca.cert || !ca.key) return Corruption(OpensslErrorIn("cannot read the CA in " + dir));
  return ca;
}

int64_t NotAfter(X509* x) {
  struct tm t {};
  ASN1_TIME_to_tm(X509_get0_notAfter(x), &t);
  return static_cast<int64_t>(timegm(&t));
}

Status WriteIndex(const std::string& dir, const std::vector<IndexEntry>& idx) {
  std::string s = "# serial\tkind\tname\tnot_after\trevoked_at\n";
  for (const auto& e : idx) {
    s += e.serial_hex + "\t" + e.kind + "\t" + e.name + "\t" + std::to_string(e.not_after) + "\t" +
         std::to_string(e.revoked_at) + "\n";
  }
  return WriteFileAtomic(dir + "/index.tsv", s, 0644);
}

Status WriteCrl(const std::string& dir, const Ca& ca, const std::vector<IndexEntry>& idx) {
  CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);  // v2
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get()));
  ASN1_TIME* now = ASN1_TIME_adj(nullptr, time(nullptr), 0, 0);
  ASN1_TIME* next = ASN1_TIME_adj(nullptr, time(nullptr), 3650, 0);
  X509_CRL_set1_lastUpdate(crl.get(), now);
  X509_CRL_set1_nextUpdate(crl.get(), next);
  ASN1_TIME_free(next);
  for (const auto& e : idx) {
    if (!e.revoked_at) continue;
    X509_REVOKED* r = X509_REVOKED_new();
    BIGNUM* bn = nullptr;
    BN_hex2bn(&bn, e.serial_hex.c_str());
    ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, nullptr);
    X509_REVOKED_set_serialNumber(r, serial);
    ASN1_TIME* when = ASN1_TIME_adj(nullptr, static_cast<time_t>(e.revoked_at), 0, 0);
    X509_REVOKED_set_revocationDate(r, when);
    X509_CRL_add0_revoked(crl.get(), r);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
  }
  ASN1_TIME_free(now);
  X509_CRL_sort(crl.get());
  if (!X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256())) {
    return Internal(OpensslErrorIn("X509_CRL_sign"));
  }
  BioPtr b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(b.get(), crl.get());
  return WriteFileAtomic(dir + "/crl.pem", BioString(b.get()), 0644);
}

Result<Issued> Issue(const std::string& dir, const std::string& kind, const std::string& name,
                     const std::string& cert_path, const std::string& key_path, uint32_t days,
                     const std::vector<std::pair<int, std::string>>& exts) {
  auto ca = LoadCa(dir);
  if (!ca.ok()) return ca.status();
  auto key = NewKey();
  if (!key.ok()) return key.status();
  auto cert = MakeCert(key->get(), name, days, ca->cert.get(), ca->key.get(), exts);
  if (!cert.ok()) return cert.status();
  auto kp = KeyPem(key->get());
  auto cp = CertPem(cert->get());
  if (!kp.ok()) return kp.status();
  if (!cp.ok()) return cp.status();
  ISDAS_RETURN_IF_ERROR(WriteFileAtomic(key_path, kp.value(), 0600));
  ISDAS_RETURN_IF_ERROR(WriteFileAtomic(cert_path, cp.value(), 0644));
  auto idx = ReadIndex(dir);
  if (!idx.ok()) return idx.status();
  idx->push_back(IndexEntry{SerialHex(X509_get0_serialNumber(cert->get())), kind, name,
                            NotAfter(cert->get()), 0});
  ISDAS_RETURN_IF_ERROR(WriteIndex(dir, idx.value()));
  return Issued{cert_path, key_path, SerialHex(X509_get0_serialNumber(cert->get()))};
}

}  // namespace

std::string OpensslErrors() {
  std::string m;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    m += m.empty() ? "" : "; ";
    m += buf;
  }
  return m;
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  char* hex = BN_bn2hex(bn);
  std::string s(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  return s;
}

Status CreateCa(const std::string& dir, const std::string& name, uint32_t days) {
  ISDAS_RETURN_IF_ERROR(MakeDir(dir, 0700));
  if (Exists(dir + "/ca.key") || Exists(dir + "/ca.crt")) {
    return InvalidArgument("a CA already exists in " + dir + "; it is never overwritten");
  }
  auto key = NewKey();
  if (!key.ok()) return key.status();
  auto cert = MakeCert(key->get(), name, days, nullptr, nullptr,
                       {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                        {NID_key_usage, "critical,keyCertSign,cRLSign"}});
  if (!cert.ok()) return cert.status();
  auto kp = KeyPem(key->get());
  auto cp = CertPem(cert->get());
  if (!kp.ok()) return kp.status();
  if (!cp.ok()) return cp.status();
  ISDAS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca.key", kp.value(), 0600));
  ISDAS_RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca.crt", cp.value(), 0644));
  ISDAS_RETURN_IF_ERROR(MakeDir(dir + "/sensors", 0700));
  ISDAS_RETURN_IF_ERROR(WriteIndex(dir, {}));
  Ca ca{std::move(cert.value()), std::move(key.value())};
  return WriteCrl(dir, ca, {});
}

Result<Issued> IssueSensor(const std::string& dir, const std::string& sensor_id, uint32_t days) {
  if (!model::ValidSensorId(sensor_id)) {
    return InvalidArgument("sensor id '" + sensor_id +
                           "': use 1-64 characters of [A-Za-z0-9._-], not starting with . or -");
  }
  auto idx = ReadIndex(dir);
  if (!idx.ok()) return idx.status();
  for (const auto& e : idx.value()) {
    if (e.kind == "sensor" && e.name == sensor_id && !e.revoked_at) {
      return InvalidArgument("sensor '" + sensor_id + "' already has a valid certificate (serial " +
                             e.serial_hex + "); revoke it first");
    }
  }
  ISDAS_RETURN_IF_ERROR(MakeDir(dir + "/sensors", 0700));
  const std::string base = dir + "/sensors/" + sensor_id;
  return Issue(dir, "sensor", sensor_id, base + ".crt", base + ".key", days,
               {{NID_basic_constraints, "critical,CA:FALSE"},
                {NID_key_usage, "critical,digitalSignature"},
                {NID_ext_key_usage, "clientAuth"},
                {NID_subject_alt_name, std::string("URI:") + kSanPrefix + sensor_id}});
}

// A DNS name a certificate can carry: dot-separated labels of letters, digits and hyphens
// (not first or last), 1-63 characters each, 253 in all; the first label may be "*".
bool ValidDnsName(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  size_t start = 0;
  for (size_t label = 0;; ++label) {
    const size_t dot = n.find('.', start);
    const std::string l =
        n.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool wildcard = label == 0 && l == "*" && dot != std::string::npos;
    if (!wildcard) {
      if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
      for (char ch : l) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') return false;
      }
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

Result<Issued> IssueServer(const std::string& dir, const std::vector<std::string>& names,
                           uint32_t days, bool replace) {
  if (names.empty()) return InvalidArgument("the server certificate needs a host name or address");
  std::string san;
  for (const auto& n : names) {
    unsigned char buf[16];
    const bool ip =
        inet_pton(AF_INET, n.c_str(), buf) == 1 || inet_pton(AF_INET6, n.c_str(), buf) == 1;
    if (!ip && !ValidDnsName(n)) {
      return InvalidArgument("'" + n + "' is neither an IP address nor a DNS name (letters, " +
                             "digits, hyphens and dots): sensors could never match it");
    }
    if (!san.empty()) san += ',';  // appended, not `"," + …` (GCC 12's false -Wrestrict)
    san += ip ? "IP:" : "DNS:";
    san += n;
  }
  const std::string crt = dir + "/server.crt", key = dir + "/server.key";
  struct stat st;
  const bool have_crt = stat(crt.c_str(), &st) == 0, have_key = stat(key.c_str(), &st) == 0;
  if ((have_crt || have_key) && !replace) {
    return InvalidArgument((have_crt ? crt : key) +
                           " already exists: the collector's certificate is never overwritten "
                           "by mistake; pass --replace to issue a new one (the old pair is kept "
                           "as server.crt.old and server.key.old)");
  }
  for (const std::string* f : {&crt, &key}) {
    if (stat(f->c_str(), &st) == 0 && std::rename(f->c_str(), (*f + ".old").c_str()) != 0) {
      return ErrnoError("keep the old " + *f + " as " + *f + ".old", errno);
    }
  }
  return Issue(dir, "server", names[0], crt, key, days,
               {{NID_basic_constraints, "critical,CA:FALSE"},
                {NID_key_usage, "critical,digitalSignature"},
                {NID_ext_key_usage, "serverAuth"},
                {NID_subject_alt_name, san}});
}

Status RevokeSensor(const std::string& dir, const std::string& sensor_id) {
  auto ca = LoadCa(dir);
  if (!ca.ok()) return ca.status();
  auto idx = ReadIndex(dir);
  if (!idx.ok()) return idx.status();
  bool found = false;
  for (auto& e : idx.value()) {
    if (e.kind == "sensor" && e.name == sensor_id) {
      found = true;
      if (!e.revoked_at) e.revoked_at = static_cast<int64_t>(time(nullptr));
    }
  }
  if (!found) return NotFound("no certificate was issued to sensor '" + sensor_id + "'");
  ISDAS_RETURN_IF_ERROR(WriteIndex(dir, idx.value()));
  return WriteCrl(dir, ca.value(), idx.value());
}

Result<std::vector<IndexEntry>> ReadIndex(const std::string& dir) {
  const std::string path = dir + "/index.tsv";
  std::ifstream in(path);
  if (!in) return NotFound("no CA index in " + dir + " (create one with 'isdas keys init')");
  std::vector<IndexEntry> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    IndexEntry e;
    std::string na, ra;
    if (!std::getline(ls, e.serial_hex, '\t') || !std::getline(ls, e.kind, '\t') ||
        !std::getline(ls, e.name, '\t') || !std::getline(ls, na, '\t') ||
        !std::getline(ls, ra, '\t')) {
      return Corruption(path + ":" + std::to_string(n) + ": not 5 tab-separated fields");
    }
    char* end = nullptr;
    e.not_after = std::strtoll(na.c_str(), &end, 10);
    e.revoked_at = std::strtoll(ra.c_str(), &end, 10);
    out.push_back(e);
  }
  return out;
}

std::string SensorIdOf(X509* cert) {
  if (!cert) return "";
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string id;
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_URI) continue;
    const auto* s =
        reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
    const std::string uri(s,
                          static_cast<size_t>(ASN1_STRING_length(g->d.uniformResourceIdentifier)));
    if (uri.rfind(kSanPrefix, 0) == 0) {
      id = uri.substr(std::string(kSanPrefix).size());
      break;
    }
  }
  GENERAL_NAMES_free(sans);
  return model::ValidSensorId(id) ? id : "";
}

Status CheckCredentials(const Credentials& c) {
  const std::string cert_is = c.cert_setting + " (" + c.cert_file + ")";
  const std::string key_is = c.key_setting + " (" + c.key_file + ")";
  struct stat st;
  if (stat(c.key_file.c_str(), &st) != 0) {
    return InvalidArgument(key_is + ": cannot read it: " + std::strerror(errno));
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return InvalidArgument(key_is + " is a private key that group or others may read (mode " +
                           mode + "): anyone who reads it can pose as this " +
                           (c.sensor_id.empty() ? "server" : "sensor") + "; `chmod 600 " +
                           c.key_file + "` (isdas keys makes keys 0600)");
  }
  std::unique_ptr<FILE, int (*)(FILE*)> cf(std::fopen(c.cert_file.c_str(), "r"), std::fclose);
  if (!cf) return InvalidArgument(cert_is + ": cannot read it: " + std::strerror(errno));
  std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr),
                                              X509_free);
  if (!cert) {
    (void)OpensslErrors();
    return InvalidArgument(cert_is + " is not a PEM certificate (is it the key, or another file?)");
  }
  std::unique_ptr<FILE, int (*)(FILE*)> kf(std::fopen(c.key_file.c_str(), "r"), std::fclose);
  if (!kf) return InvalidArgument(key_is + ": cannot read it: " + std::strerror(errno));
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(
      PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) {
    (void)OpensslErrors();
    return InvalidArgument(key_is + " is not a PEM private key (is it the certificate, or a key " +
                           "with a passphrase?)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    (void)OpensslErrors();
    return InvalidArgument(key_is + " is not the key of " + cert_is +
                           ": use the .key made together with that .crt by `isdas keys`");
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0) {
    return InvalidArgument(cert_is + " has expired: issue a new one with `isdas keys " +
                           (c.sensor_id.empty() ? std::string("server") : "sensor " + c.sensor_id) +
                           "` (docs/keys.md)");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) {
    return InvalidArgument(cert_is + " is not valid yet: is this host's clock right?");
  }
  if (!c.sensor_id.empty()) {
    const std::string id = SensorIdOf(cert.get());
    if (id.empty()) {
      return InvalidArgument(cert_is +
                             " names no isdas sensor: is it the collector's certificate? " +
                             "`isdas keys sensor " + c.sensor_id + "` makes this sensor's");
    }
    if (id != c.sensor_id) {
      return InvalidArgument(cert_is + " was issued to sensor '" + id + "', but sensor.id is '" +
                             c.sensor_id + "': the collector would refuse every batch; use " +
                             "that sensor's certificate or set sensor.id = \"" + id + "\"");
    }
  }
  return Status::Ok();
}

}  // namespace isdas::pki
