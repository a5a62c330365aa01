// `isdas keys`: the collector's certificate authority (docs/keys.md).

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "commands.h"
#include "pki/pki.h"

namespace isdas::app {
namespace {

constexpr const char* kUsage = R"(usage: isdas keys <action> --dir DIR [options]

  init [--name NAME] [--days N]        create the CA (ca.key, ca.crt, crl.pem)
  sensor ID [--days N]                 issue sensors/ID.crt and sensors/ID.key
  server HOST... [--days N] [--replace]
                                       issue server.crt/server.key for the collector
                                       (--replace: a new pair, the old one kept as *.old)
  revoke ID                            revoke every certificate of sensor ID (rewrites crl.pem)
  list                                 list issued certificates
)";

int Usage(const std::string& m) {
  std::fprintf(stderr, "isdas keys: %s\n%s", m.c_str(), kUsage);
  return 64;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "isdas keys: %s\n", s.message().c_str());
  return 1;
}

}  // namespace

int CmdKeys(const std::vector<std::string>& args) {
  if (args.empty()) return Usage("no action given");
  const std::string action = args[0];
  std::string dir, name = "isdas collector CA";
  uint32_t days = 0;
  bool replace = false;
  std::vector<std::string> pos;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "--dir" || a == "--name" || a == "--days") && i + 1 == args.size()) {
      return Usage(a + " needs a value");
    }
    if (a == "--dir") {
      dir = args[++i];
    } else if (a == "--name") {
      name = args[++i];
    } else if (a == "--days") {
      const std::string& v = args[++i];
      if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(v) == 0) {
        return Usage("--days: want a number of days from 1 to 99999");
      }
      days = static_cast<uint32_t>(std::stoul(v));
    } else if (a == "--replace" && action == "server") {
      replace = true;
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option " + a);
    } else {
      pos.push_back(a);
    }
  }
  if (dir.empty()) return Usage("--dir is required");
  if (action == "init") {
    if (!pos.empty()) return Usage("init takes no arguments");
    Status s = pki::CreateCa(dir, name, days ? days : 3650);
    if (!s.ok()) return Fail(s);
    std::printf("CA created in %s (ca.crt, ca.key, crl.pem)\n", dir.c_str());
    return 0;
  }
  if (action == "sensor") {
    if (pos.size() != 1) return Usage("sensor takes one sensor id");
    auto r = pki::IssueSensor(dir, pos[0], days ? days : 825);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n%s\nserial %s\n", r->cert_path.c_str(), r->key_path.c_str(),
                r->serial_hex.c_str());
    return 0;
  }
  if (action == "server") {
    if (pos.empty()) return Usage("server takes one or more host names or addresses");
    auto r = pki::IssueServer(dir, pos, days ? days : 825, replace);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s\n%s\nserial %s\n", r->cert_path.c_str(), r->key_path.c_str(),
                r->serial_hex.c_str());
    return 0;
  }
  if (action == "revoke") {
    if (pos.size() != 1) return Usage("revoke takes one sensor id");
    Status s = pki::RevokeSensor(dir, pos[0]);
    if (!s.ok()) return Fail(s);
    std::printf("revoked %s; %s/crl.pem rewritten (the collector re-reads it within a second)\n",
                pos[0].c_str(), dir.c_str());
    return 0;
  }
  if (action == "list") {
    auto idx = pki::ReadIndex(dir);
    if (!idx.ok()) return Fail(idx.status());
    std::printf("%-8s %-24s %-34s %-12s %s\n", "kind", "name", "serial", "expires", "state");
    for (const auto& e : idx.value()) {
      char exp[16];
      const time_t t = static_cast<time_t>(e.not_after);
      std::strftime(exp, sizeof exp, "%Y-%m-%d", std::gmtime(&t));
      std::printf("%-8s %-24s %-34s %-12s %s\n", e.kind.c_str(), e.name.c_str(),
                  e.serial_hex.c_str(), exp, e.revoked_at ? "revoked" : "valid");
    }
    return 0;
  }
  return Usage("unknown action '" + action + "'");
}

}  // namespace isdas::app
