#include "sensor/pipeline.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>

#include "classify/classifier.h"
#include "common/clock.h"
#include "model/batch_codec.h"
#include "sensor/file_pipeline.h"

namespace isdas::sensor {

Pipeline::Pipeline(PipelineOptions options, spool::Spool* spool)
    : opt_(std::move(options)), spool_(spool) {
  pending_.reserve(opt_.batch_max_events);
}

void Pipeline::OnPacket(const capture::Packet& p) {
  captured_.fetch_add(1, std::memory_order_relaxed);
  model::Event& ev = scratch_;
  const decode::Outcome o = DecodeAndClassify(p, &ev);
  outcomes_[static_cast<size_t>(o)].fetch_add(1, std::memory_order_relaxed);
  if (o != decode::Outcome::kEvent) return;
  if (pending_.empty()) first_pending_us_ = NowUs();
  pending_.push_back(ev);
  if (pending_.size() >= opt_.batch_max_events) Flush();
}

void Pipeline::MaybeFlush() {
  if (!pending_.empty() &&
      NowUs() - first_pending_us_ >= static_cast<int64_t>(opt_.batch_max_delay_ms) * 1000) {
    Flush();
  }
}

void Pipeline::Flush() {
  if (pending_.empty()) return;
  // One appender: the next sequence number is the one Append will give.
  const model::BatchHeader h{opt_.id, spool_->epoch(), spool_->next_seq(), classify::kRulesVersion};
  auto payload = model::EncodeBatch(h, pending_);
  const auto n = static_cast<uint32_t>(pending_.size());
  pending_.clear();
  if (!payload.ok()) {
    (void)spool_->CountWriteFailure(n);
    if (opt_.on_error) opt_.on_error("batch encoding: " + payload.status().message());
    return;
  }
  auto seq = spool_->Append(
      payload.value(), n,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(note_.data()), note_.size()));
  if (!seq.ok() && seq.status().kind() != ErrorKind::kResourceExhausted) {
    // Full-policy drops are counted by the spool; anything else is counted here, durably.
    (void)spool_->CountWriteFailure(n);
    if (opt_.on_error) opt_.on_error("spool: " + seq.status().message());
  }
  if (opt_.on_batch) opt_.on_batch();
}

decode::OutcomeCounts Pipeline::outcomes() const {
  decode::OutcomeCounts oc;
  for (size_t i = 0; i < decode::kOutcomeCount; ++i) {
    oc.by[i] = outcomes_[i].load(std::memory_order_relaxed);
  }
  return oc;
}

std::vector<std::string> ReplayFiles(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& it : items) {
    struct stat st;
    if (stat(it.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::vector<std::string> names;
      if (DIR* d = opendir(it.c_str())) {
        while (dirent* e = readdir(d)) {
          const std::string n = e->d_name;
          if (n.find(".pcap") != std::string::npos) names.push_back(it + "/" + n);
        }
        closedir(d);
      }
      std::sort(names.begin(), names.end());
      out.insert(out.end(), names.begin(), names.end());
    } else {
      out.push_back(it);
    }
  }
  return out;
}

bool ReplayPosition::SameFile(const ReplayPosition& o) const {
  return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
}

std::string ReplayPosition::Text() const {
  return "replay " + std::to_string(dev) + " " + std::to_string(ino) + " " + std::to_string(size) +
         " " + std::to_string(mtime_ns) + " " + std::to_string(packets);
}

bool ReplayPosition::Parse(const std::string& t, ReplayPosition* p) {
  unsigned long long d, i, sz, pk;
  long long mt;
  if (std::sscanf(t.c_str(), "replay %llu %llu %llu %lld %llu", &d, &i, &sz, &mt, &pk) != 5) {
    return false;
  }
  *p = ReplayPosition{d, i, sz, mt, pk};
  return true;
}

bool ReplayPosition::Of(const std::string& path, ReplayPosition* p) {
  struct stat st;
  if (path == "-" || stat(path.c_str(), &st) != 0) return false;
  *p = ReplayPosition{st.st_dev, st.st_ino, static_cast<uint64_t>(st.st_size),
                      int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec, 0};
  return true;
}

namespace {

// The files a replay sensor has finished, one line each (`<spool>/replayed`).
std::vector<ReplayPosition> ReadReplayed(const std::string& spool_dir) {
  std::vector<ReplayPosition> out;
  std::ifstream f(spool_dir + "/replayed");
  std::string line;
  while (std::getline(f, line)) {
    ReplayPosition p;
    if (ReplayPosition::Parse(line, &p)) out.push_back(p);
  }
  return out;
}

Status MarkReplayed(const std::string& spool_dir, const ReplayPosition& p,
                    const std::string& path) {
  const std::string file = spool_dir + "/replayed";
  FILE* f = std::fopen(file.c_str(), "a");
  if (!f) return ErrnoError("open " + file, errno);
  std::fprintf(f, "%s %s\n", p.Text().c_str(), path.c_str());
  const bool ok = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  std::fclose(f);
  return ok ? Status::Ok() : ErrnoError("write " + file, errno);
}

}  // namespace

int Replay(const ReplayOptions& o, spool::Spool* spool, Pipeline* pipeline) {
  auto say = [&](const std::string& s) {
    if (o.say) o.say(s);
  };
  auto error = [&](const std::string& s) {
    if (o.error) o.error(s);
  };
  auto stopped = [&] { return o.stop && o.stop(); };
  int rc = 0;
  // Where an earlier run of this spool stopped: files it finished, and the position the last
  // spooled batch reached.
  const std::vector<ReplayPosition> done = ReadReplayed(o.spool_dir);
  ReplayPosition resume;
  const std::vector<uint8_t> meta = spool->last_meta();
  const bool have_resume = ReplayPosition::Parse(std::string(meta.begin(), meta.end()), &resume);
  for (const std::string& f : o.files) {
    if (stopped()) break;
    ReplayPosition pos;
    const bool known = ReplayPosition::Of(f, &pos);
    if (known && std::any_of(done.begin(), done.end(),
                             [&](const ReplayPosition& d) { return d.SameFile(pos); })) {
      say(f + " was replayed completely before; skipped");
      continue;
    }
    auto r = capture::FileReader::Open(f);
    if (!r.ok()) {
      error(r.status().message());
      rc = 1;
      continue;
    }
    capture::Packet p;
    if (known && have_resume && resume.SameFile(pos) && resume.packets > 0) {
      // Packets already in spooled batches are read past, not decoded again.
      while (pos.packets < resume.packets && (*r)->Next(&p)) ++pos.packets;
      say(f + ": resuming after packet " + std::to_string(pos.packets) +
          ", where the last spooled batch ended");
    }
    bool interrupted = false;
    while ((*r)->Next(&p)) {
      ++pos.packets;
      if (known) pipeline->SetNote(pos.Text());
      pipeline->OnPacket(p);
      pipeline->MaybeFlush();
      if (stopped()) {
        interrupted = true;
        break;
      }
    }
    if (!(*r)->status().ok()) {
      error((*r)->status().message());
      rc = 2;
    }
    if (interrupted) break;
    pipeline->Flush();
    if (known) {
      Status m = MarkReplayed(o.spool_dir, pos, f);
      if (!m.ok()) error(m.message());
    }
  }
  return rc;
}

}  // namespace isdas::sensor
