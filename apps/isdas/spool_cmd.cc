// `isdas spool list|show|requeue --dir DIR`: what a sensor's spool holds in quarantine (batches
// the collector refused as malformed), and sending one again (docs/spool-format.md#quarantine).

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "common/time_format.h"
#include "model/batch_codec.h"
#include "spool/spool.h"

namespace isdas::app {
namespace {

constexpr const char* kUsage =
    "usage: isdas spool list --dir SPOOL_DIR\n"
    "       isdas spool show --dir SPOOL_DIR SEQ\n"
    "       isdas spool requeue --dir SPOOL_DIR SEQ|all   (with the sensor stopped)\n";

bool ParseSeq(const std::string& s, uint64_t* seq) {
  if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  *seq = std::strtoull(s.c_str(), nullptr, 10);
  return *seq > 0;
}

}  // namespace

int CmdSpool(const std::vector<std::string>& args) {
  if (args.size() < 3 || args[1] != "--dir") {
    std::fputs(kUsage, stderr);
    return 64;
  }
  const std::string& verb = args[0];
  const std::string& dir = args[2];
  if (verb == "list" && args.size() == 3) {
    auto q = spool::Spool::ListQuarantine(dir);
    if (!q.ok()) {
      std::fprintf(stderr, "isdas spool: %s\n", q.status().message().c_str());
      return 1;
    }
    std::printf("seq,events,quarantined,reason\n");
    for (const auto& e : q.value()) {
      std::printf("%llu,%u,%s,%s\n", static_cast<unsigned long long>(e.seq), e.events,
                  FormatTimestampUs(e.time_us).c_str(), e.reason.c_str());
    }
    return 0;
  }
  uint64_t seq = 0;
  if (verb == "show" && args.size() == 4 && ParseSeq(args[3], &seq)) {
    auto q = spool::Spool::ListQuarantine(dir);
    auto payload = spool::Spool::QuarantinedPayload(dir, seq);
    if (!q.ok() || !payload.ok()) {
      std::fprintf(stderr, "isdas spool: %s\n",
                   (!q.ok() ? q.status() : payload.status()).message().c_str());
      return 1;
    }
    for (const auto& e : q.value()) {
      if (e.seq != seq) continue;
      std::printf("seq: %llu\nevents: %u\nquarantined: %s\nreason: %s\nbytes: %zu\n",
                  static_cast<unsigned long long>(e.seq), e.events,
                  FormatTimestampUs(e.time_us).c_str(), e.reason.c_str(), payload->size());
    }
    // What this sensor's own decoder, with the default limits, makes of it.
    auto d = model::DecodeBatch(*payload, model::BatchLimits{});
    if (d.ok()) {
      std::printf("decodes here: sensor %s, epoch %016llx, batch seq %llu, %zu events\n",
                  d->header.sensor_id.c_str(), static_cast<unsigned long long>(d->header.epoch),
                  static_cast<unsigned long long>(d->header.seq), d->events.size());
    } else {
      std::printf("does not decode here either: %s\n", d.status().message().c_str());
    }
    return 0;
  }
  if (verb == "requeue" && args.size() == 4 && (args[3] == "all" || ParseSeq(args[3], &seq))) {
    auto sp = spool::Spool::Open(dir, spool::Options{});
    if (!sp.ok()) {
      std::fprintf(stderr, "isdas spool: %s\n", sp.status().message().c_str());
      return 1;
    }
    std::vector<uint64_t> seqs;
    if (args[3] == "all") {
      auto q = spool::Spool::ListQuarantine(dir);
      if (!q.ok()) {
        std::fprintf(stderr, "isdas spool: %s\n", q.status().message().c_str());
        return 1;
      }
      for (const auto& e : q.value()) seqs.push_back(e.seq);
    } else {
      seqs.push_back(seq);
    }
    for (uint64_t s : seqs) {
      auto r = (*sp)->Requeue(s);
      if (!r.ok()) {
        std::fprintf(stderr, "isdas spool: requeue %llu: %s\n", static_cast<unsigned long long>(s),
                     r.status().message().c_str());
        return 1;
      }
      std::printf("requeued %llu as spool record %llu\n", static_cast<unsigned long long>(s),
                  static_cast<unsigned long long>(r.value()));
    }
    return 0;
  }
  std::fputs(kUsage, stderr);
  return 64;
}

}  // namespace isdas::app
