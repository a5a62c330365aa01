// isdas: one binary, subcommands. `isdas help` lists them; docs/cli.md describes each.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "capture/file_reader.h"
#include "classify/classifier.h"
#include "collector/collector.h"
#include "collector/import.h"
#include "commands.h"
#include "decode/decoder.h"
#include "output/event_format.h"
#include "sensor/file_pipeline.h"
#include "storage/sqlite_store.h"
#include "synth/darknet_traffic.h"

namespace isdas::app {
namespace {

// Exit codes (docs/cli.md).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;    // nothing (more) could be done: bad usage, unreadable file
constexpr int kExitDamaged = 2;  // a capture was damaged; the events before the damage stand
constexpr int kExitUsage = 64;

constexpr const char* kUsage = R"(usage: isdas <command> [options]

commands:
  sensor --config sensor.toml         capture (live or replay), spool, ship to the collector
  spool list|show|requeue --dir DIR [SEQ|all]
                                      batches the collector refused, kept in the spool's quarantine
  collector --config collector.toml   HTTPS ingest of sensor batches into the store
  keys init|sensor|server|revoke|list --dir DIR
                                      the collector's certificate authority
  import FILE... [--data-dir DIR] [--geo-dir DIR] [--research-list FILE] [--no-enrich]
                                      decode captures into the SQLite store (default ./isdas-data),
                                      their sources enriched as the collector's (country, AS,
                                      research flag)
  decode FILE [--format csv|json|summary]
                                      print the events of one capture (default csv)
  simulate --out FILE [--packets N] [--seed S] [--pps R] [--start UNIX_SECONDS]
                                      write synthetic /16 darknet traffic as a pcap and print
                                      its ground truth (packets per tool and traffic kind)
  api --data-dir DIR [--listen HOST:PORT] [--threads N] [--cache-mb N]
                                      serve the query API over a SQLite store
  sql [--data-dir DIR] [--raw] "SELECT ..."
                                      run one read-only query on a SQLite store (the events
                                      table included) and print its rows as "a|b|c"
  version                             print the version and the classifier rules version
  help                                this text

FILE is a pcap (µs or ns) or pcapng file; "-" reads standard input.
Exit status: 0 ok, 1 error, 2 a capture was damaged (events before the damage were kept),
64 usage error. See docs/cli.md.
)";

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "isdas: %s\n(see 'isdas help')\n", msg.c_str());
  return kExitUsage;
}

void PrintSummary(const std::string& path, const sensor::FileResult& r, FILE* f) {
  std::fprintf(f, "file: %s\n", path.c_str());
  std::fprintf(f, "format: %s\n", std::string(capture::FileFormatName(r.format)).c_str());
  std::fprintf(f, "linktype: %u\n", r.linktype);
  std::fprintf(f, "records: %llu\n", static_cast<unsigned long long>(r.reader.records));
  std::fprintf(f, "packets: %llu\n", static_cast<unsigned long long>(r.outcomes.packets()));
  std::fprintf(f, "events: %llu\n",
               static_cast<unsigned long long>(r.outcomes[decode::Outcome::kEvent]));
  std::fprintf(f, "anomalies: %llu\n", static_cast<unsigned long long>(r.outcomes.anomalies()));
  for (int k = 0; k < model::kTrafficKinds; ++k) {
    std::fprintf(f, "kind.%s: %llu\n",
                 std::string(model::TrafficKindName(static_cast<model::TrafficKind>(k))).c_str(),
                 static_cast<unsigned long long>(r.kinds[k]));
  }
  for (int t = 0; t < model::kTools; ++t) {
    if (!r.tools[t]) continue;
    std::fprintf(f, "tool.%s: %llu\n",
                 std::string(model::ToolName(static_cast<model::Tool>(t))).c_str(),
                 static_cast<unsigned long long>(r.tools[t]));
  }
  for (const auto& [name, n] : collector::NamedCounters(r)) {
    std::fprintf(f, "count.%s: %llu\n", name.c_str(), static_cast<unsigned long long>(n));
  }
  if (!r.damage.ok()) std::fprintf(f, "damage: %s\n", r.damage.message().c_str());
}

void ReportDamage(const sensor::FileResult& r, uint64_t events) {
  std::fprintf(stderr, "isdas: %s (the %llu events before it were kept)\n",
               r.damage.message().c_str(), static_cast<unsigned long long>(events));
}

class StdoutWriter {
 public:
  ~StdoutWriter() { Flush(); }
  std::string* buf() { return &buf_; }
  void MaybeFlush() {
    if (buf_.size() >= (1u << 20)) Flush();
  }
  void Flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
  }

 private:
  std::string buf_;
};

int CmdDecode(const std::vector<std::string>& args) {
  std::string format = "csv";
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--format") {
      if (++i == args.size()) return UsageError("--format needs a value: csv, json or summary");
      format = args[i];
    } else if (args[i].rfind("--format=", 0) == 0) {
      format = args[i].substr(9);
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      return UsageError("decode: unknown option '" + args[i] + "'");
    } else if (path.empty()) {
      path = args[i];
    } else {
      return UsageError("decode takes one FILE (use 'isdas import' for several)");
    }
  }
  if (path.empty()) return UsageError("decode: no FILE given");
  if (format != "csv" && format != "json" && format != "summary") {
    return UsageError("--format '" + format + "' is not one of csv, json, summary");
  }
  auto reader = capture::FileReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "isdas: %s\n", reader.status().message().c_str());
    return kExitError;
  }
  StdoutWriter out;
  if (format == "csv") {
    out.buf()->append(output::CsvHeader());
    out.buf()->push_back('\n');
  }
  sensor::EventSink sink;
  if (format == "csv") {
    sink = [&out](std::span<const model::Event> evs) {
      for (const auto& e : evs) output::AppendCsv(e, out.buf());
      out.MaybeFlush();
      return Status::Ok();
    };
  } else if (format == "json") {
    sink = [&out](std::span<const model::Event> evs) {
      for (const auto& e : evs) output::AppendJson(e, out.buf());
      out.MaybeFlush();
      return Status::Ok();
    };
  } else {
    sink = [](std::span<const model::Event>) { return Status::Ok(); };
  }
  sensor::FileResult r;
  Status s = sensor::ProcessFile(reader->get(), sink, &r);
  out.Flush();
  if (format == "summary") PrintSummary(path, r, stdout);
  std::fflush(stdout);
  if (!s.ok()) {
    std::fprintf(stderr, "isdas: %s\n", s.ToString().c_str());
    return kExitError;
  }
  if (!r.damage.ok()) {
    ReportDamage(r, r.outcomes[decode::Outcome::kEvent]);
    return kExitDamaged;
  }
  return kExitOk;
}

int CmdImport(const std::vector<std::string>& args) {
  std::string data_dir = "isdas-data", geo_dir, research_list;
  bool enrich = true;
  std::vector<std::string> files;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--data-dir") {
      if (++i == args.size()) return UsageError("--data-dir needs a directory");
      data_dir = args[i];
    } else if (args[i].rfind("--data-dir=", 0) == 0) {
      data_dir = args[i].substr(11);
    } else if (args[i] == "--geo-dir") {
      if (++i == args.size()) return UsageError("--geo-dir needs a directory");
      geo_dir = args[i];
    } else if (args[i] == "--research-list") {
      if (++i == args.size()) return UsageError("--research-list needs a file");
      research_list = args[i];
    } else if (args[i] == "--no-enrich") {
      enrich = false;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      return UsageError("import: unknown option '" + args[i] + "'");
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) return UsageError("import: no FILE given");
  auto store = storage::SqliteStore::Open(data_dir);
  if (!store.ok()) {
    std::fprintf(stderr, "isdas: %s\n", store.status().message().c_str());
    return kExitError;
  }
  // Enriched like a sensor's batches at the collector: the GeoIP data (--geo-dir, else where
  // scripts/fetch-geo.sh puts it) and the research list (--research-list, else the one shipped).
  std::unique_ptr<geo::GeoDb> geodb;
  std::unique_ptr<geo::ScannerList> scanners;
  if (enrich) {
    const bool given = !geo_dir.empty();
    if (!given) geo_dir = collector::DefaultGeoDir();
    auto g = geo::GeoDb::OpenDir(geo_dir);
    if (g.ok()) {
      geodb = std::move(g.value());
    } else if (given) {
      std::fprintf(stderr, "isdas: --geo-dir: %s\n", g.status().message().c_str());
      return kExitError;
    } else {
      std::fprintf(stderr,
                   "isdas: no GeoIP data in %s (scripts/fetch-geo.sh fetches it; or give "
                   "--geo-dir DIR): the imported events get no country or AS\n",
                   geo_dir.c_str());
    }
    std::string used;
    auto l = collector::LoadResearchList(research_list, &used);
    if (!l.ok()) {
      std::fprintf(stderr, "isdas: --research-list: %s\n", l.status().message().c_str());
      return kExitError;
    }
    scanners = std::move(l.value());
  }
  int rc = kExitOk;
  for (const std::string& path : files) {
    auto r = collector::ImportFile(path, store->get(), geodb.get(), scanners.get());
    if (!r.ok()) {
      std::fprintf(stderr, "isdas: %s: %s (nothing of this file was stored)\n", path.c_str(),
                   r.status().ToString().c_str());
      rc = kExitError;
      continue;
    }
    if (r->earlier != 0) {
      std::printf("%s: already imported (import #%lld, same SHA-256); skipped\n", path.c_str(),
                  static_cast<long long>(r->earlier));
      continue;
    }
    std::printf("import #%lld\n", static_cast<long long>(r->id));
    PrintSummary(path, r->file, stdout);
    std::printf("enrichment: %s\n", r->summary.geo_version.empty()
                                        ? (scanners ? "research list only" : "none")
                                        : r->summary.geo_version.c_str());
    if (!r->file.damage.ok()) {
      ReportDamage(r->file, r->summary.events);
      if (rc == kExitOk) rc = kExitDamaged;
    }
  }
  return rc;
}

// Parses a whole unsigned decimal number; false on anything else.
bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

int CmdSimulate(const std::vector<std::string>& args) {
  synth::TrafficSpec spec;
  std::string out_path;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 == args.size() && a.rfind("--", 0) == 0) return UsageError(a + " needs a value");
    uint64_t v = 0;
    if (a == "--out") {
      out_path = args[++i];
    } else if (a == "--packets") {
      if (!ParseU64(args[++i], &v)) return UsageError("--packets: not a number: " + args[i]);
      spec.packets = v;
    } else if (a == "--seed") {
      if (!ParseU64(args[++i], &v) || v > UINT32_MAX) {
        return UsageError("--seed: not a number below 2^32: " + args[i]);
      }
      spec.seed = static_cast<uint32_t>(v);
    } else if (a == "--pps") {
      if (!ParseU64(args[++i], &v) || v == 0 || v > 100000000) {
        return UsageError("--pps: want a rate from 1 to 100000000: " + args[i]);
      }
      spec.pps = static_cast<double>(v);
    } else if (a == "--start") {
      if (!ParseU64(args[++i], &v) || v > 253402300799ULL) {
        return UsageError("--start: want seconds since 1970 (UTC): " + args[i]);
      }
      spec.start_us = static_cast<int64_t>(v) * 1000000;
    } else {
      return UsageError("simulate: unknown option '" + a + "'");
    }
  }
  if (out_path.empty()) return UsageError("simulate: --out FILE is required");
  FILE* f = out_path == "-" ? stdout : std::fopen(out_path.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "isdas: cannot create %s: %s\n", out_path.c_str(), std::strerror(errno));
    return kExitError;
  }
  static char buf[1 << 20];
  std::setvbuf(f, buf, _IOFBF, sizeof buf);
  synth::TrafficTruth truth;
  Status s = synth::WriteDarknetPcap(spec, f, &truth);
  if (f != stdout && std::fclose(f) != 0 && s.ok()) s = ErrnoError("close " + out_path, errno);
  if (!s.ok()) {
    std::fprintf(stderr, "isdas: %s: %s\n", out_path.c_str(), s.message().c_str());
    return kExitError;
  }
  FILE* info = f == stdout ? stderr : stdout;
  std::fprintf(info, "packets: %llu\n", static_cast<unsigned long long>(truth.packets));
  std::fprintf(info, "bytes: %llu\n", static_cast<unsigned long long>(truth.bytes + 24));
  std::fprintf(info, "ipv6: %llu\n", static_cast<unsigned long long>(truth.ipv6));
  for (int k = 0; k < model::kTrafficKinds; ++k) {
    std::fprintf(info, "kind.%s: %llu\n",
                 std::string(model::TrafficKindName(static_cast<model::TrafficKind>(k))).c_str(),
                 static_cast<unsigned long long>(truth.by_kind[k]));
  }
  for (int t = 0; t < model::kTools; ++t) {
    std::fprintf(info, "tool.%s: %llu\n",
                 std::string(model::ToolName(static_cast<model::Tool>(t))).c_str(),
                 static_cast<unsigned long long>(truth.by_tool[t]));
  }
  return kExitOk;
}

// The lines of kUsage that describe `cmd` ("" when it has none).
std::string UsageOf(std::string_view cmd) {
  std::string out;
  bool in = false;
  const std::string_view text = kUsage;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    const std::string_view line = text.substr(at, nl == std::string_view::npos ? nl : nl - at + 1);
    at = nl == std::string_view::npos ? text.size() : nl + 1;
    const bool starts = line.size() > cmd.size() + 2 && line.substr(0, 2) == "  " &&
                        line.substr(2, cmd.size()) == cmd && line[2 + cmd.size()] == ' ';
    const bool continued = in && line.size() > 3 && line.substr(0, 3) == "   ";
    in = starts || continued;
    if (in) out += starts ? "usage: isdas " + std::string(line.substr(2)) : std::string(line);
  }
  return out;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string_view cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  // `isdas COMMAND --help`: that command's usage, on standard output, status 0.
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    const std::string u = UsageOf(cmd);
    if (!u.empty()) {
      std::printf("%s(docs/cli.md)\n", u.c_str());
      return kExitOk;
    }
  }
  if (cmd == "decode") return CmdDecode(args);
  if (cmd == "import") return CmdImport(args);
  if (cmd == "simulate") return CmdSimulate(args);
  if (cmd == "keys") return CmdKeys(args);
  if (cmd == "collector") return CmdCollector(args);
  if (cmd == "api") return CmdApi(args);
  if (cmd == "sql") return CmdSql(args);
  if (cmd == "sensor") return CmdSensor(args);
  if (cmd == "spool") return CmdSpool(args);
  if (cmd == "version" || cmd == "--version") {
    std::printf("isdas 0.1.0 (classifier rules v%u)\n", classify::kRulesVersion);
    return kExitOk;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  return UsageError("unknown command '" + std::string(cmd) + "'");
}

}  // namespace
}  // namespace isdas::app

int main(int argc, char** argv) { return isdas::app::Main(argc, argv); }
