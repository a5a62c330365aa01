#include "spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/byte_reader.h"
#include "common/clock.h"
#include "common/crc32c.h"

namespace isdas::spool {
namespace {

// docs/spool-format.md
constexpr char kSegmentMagic[8] = {'I', 'S', 'D', 'S', 'P', 'O', 'O', 'L'};
constexpr char kStateMagic[8] = {'I', 'S', 'D', 'S', 'T', 'A', 'T', 'E'};
constexpr uint32_t kVersion = 2;  // written; version 1 segments and state are read too
constexpr size_t kSegmentHeader = 48;
constexpr size_t kRecordHeader = 24;
constexpr size_t kStateV1Size = 32;
constexpr size_t kStateFixed = 168;  // version 2: before the meta and the CRC
constexpr uint32_t kMaxPayload = 16u << 20;
constexpr uint32_t kMaxMeta = 1024;
constexpr size_t kMaxOwner = 64;
// Dropped records remembered in case they were in flight (far more than any shipping window).
constexpr size_t kMaxRecentlyDropped = 65536;
constexpr const char* kSegmentSuffix = ".seg";

void PutLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t LoadLe64(const uint8_t* p) { return LoadLe32(p) | (uint64_t{LoadLe32(p + 4)} << 32); }
uint32_t LoadLe16(const uint8_t* p) { return p[0] | (uint32_t{p[1]} << 8); }
void PutLe16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

std::string SegmentName(uint64_t first_seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu%s", static_cast<unsigned long long>(first_seq),
                kSegmentSuffix);
  return buf;
}

// Parses "<20 digits>.seg"; false for any other name.
bool ParseSegmentName(const std::string& name, uint64_t* first_seq) {
  if (name.size() != 24 || name.compare(20, 4, kSegmentSuffix) != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 20; ++i) {
    if (name[static_cast<size_t>(i)] < '0' || name[static_cast<size_t>(i)] > '9') return false;
    v = v * 10 + static_cast<uint64_t>(name[static_cast<size_t>(i)] - '0');
  }
  *first_seq = v;
  return true;
}

Status WriteAll(int fd, const uint8_t* p, size_t n, uint64_t off, const std::string& what) {
  while (n > 0) {
    const ssize_t w = pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + what, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

// Reads exactly n bytes at off; returns how many were read (less at end of file).
Result<size_t> ReadAt(int fd, uint8_t* p, size_t n, uint64_t off, const std::string& what) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = pread(fd, p + got, n - got, static_cast<off_t>(off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + what, errno);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open " + dir, errno);
  const int rc = fsync(fd);
  close(fd);
  return rc == 0 ? Status::Ok() : ErrnoError("fsync " + dir, errno);
}

uint32_t RecordCrc(const uint8_t* header, const uint8_t* payload, size_t n) {
  // Covers seq, events, reserved (header bytes 8..23) and the payload.
  return Crc32c(payload, n, Crc32c(header + 8, 16));
}

}  // namespace

struct Spool::Segment {
  struct Entry {
    uint64_t seq;
    uint64_t offset;
    uint32_t events;
    uint32_t length;  // of the payload
    bool bad;         // failed its checksum when read for shipping; counted once
    uint32_t meta;    // length of the appender's metadata after the payload
  };
  std::string path;
  int fd = -1;
  uint64_t first_seq = 0;
  uint64_t size = 0;
  std::vector<Entry> entries;
  std::vector<uint8_t> last_meta;  // of the last record, read at recovery

  uint64_t last_seq() const { return entries.empty() ? 0 : entries.back().seq; }
  ~Segment() {
    if (fd >= 0) close(fd);
  }
};

std::string FsyncPolicyName(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kInterval:
      return "interval";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "?";
}

Spool::~Spool() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

Result<std::unique_ptr<Spool>> Spool::Open(const std::string& dir, const Options& options) {
  if (options.segment_bytes < 64 * 1024) {
    return InvalidArgument("spool segment_bytes must be at least 65536");
  }
  if (options.max_bytes < 2 * options.segment_bytes) {
    return InvalidArgument("spool max_bytes must be at least twice segment_bytes");
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("create spool directory " + dir, errno);
  }
  if (options.owner.size() > kMaxOwner) {
    return InvalidArgument("spool owner '" + options.owner + "' is longer than 64 characters");
  }
  std::unique_ptr<Spool> s(new Spool());
  s->dir_ = dir;
  s->opt_ = options;
  // One process at a time: two appenders would interleave records.
  s->lock_fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->lock_fd_ < 0) return ErrnoError("open spool directory " + dir, errno);
  if (flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status(ErrorKind::kUnavailable,
                  "spool directory " + dir +
                      " is in use by another process (a sensor running with it, or `isdas "
                      "spool requeue`); stop it first");
  }
  // Not shared yet; locked for the annotations' sake (and it costs nothing).
  MutexLock lock(&s->mu_);
  ISDAS_RETURN_IF_ERROR(s->Recover());
  if (!options.owner.empty()) {
    if (s->owner_.empty()) {
      s->owner_ = options.owner;
      ISDAS_RETURN_IF_ERROR(s->WriteState());
    } else if (s->owner_ != options.owner) {
      return InvalidArgument(
          "spool directory " + dir + " belongs to sensor '" + s->owner_ +
          "': its batches say so and the collector refuses them from any other sensor. Give "
          "sensor '" +
          options.owner + "' its own spool.dir; to keep '" + s->owner_ +
          "''s batches, run it as '" + s->owner_ +
          "' until spool_unshipped is 0, then remove the directory");
    }
  }
  return s;
}

Status Spool::Recover() {
  DIR* d = opendir(dir_.c_str());
  if (!d) return ErrnoError("open spool directory " + dir_, errno);
  std::vector<uint64_t> firsts;
  bool have_state = false;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    uint64_t first;
    if (name == "." || name == "..") continue;
    if (ParseSegmentName(name, &first)) {
      firsts.push_back(first);
    } else if (name == "state") {
      have_state = true;
    } else if (name == "quarantine" || name == "replayed" || name == "replayed.tmp") {
      continue;  // refused batches (Quarantine) and a replay sensor's finished files
    } else if (name == "state.tmp") {
      unlink((dir_ + "/" + name).c_str());  // an interrupted state update: the old one stands
    } else {
      closedir(d);
      return InvalidArgument("spool directory " + dir_ +
                             " holds a file that is not the spool's: " + name);
    }
  }
  closedir(d);
  std::sort(firsts.begin(), firsts.end());

  bool state_ok = false;
  if (have_state) {
    const std::string path = dir_ + "/state";
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open " + path, errno);
    uint8_t b[kStateFixed + kMaxMeta + 4];
    auto got = ReadAt(fd, b, sizeof b, 0, path);
    close(fd);
    if (!got.ok()) return got.status();
    const size_t n = got.value();
    const bool magic = n >= kStateV1Size && std::memcmp(b, kStateMagic, 8) == 0;
    if (magic && LoadLe32(b + 8) == 1 && n == kStateV1Size && Crc32c(b, 28) == LoadLe32(b + 28)) {
      epoch_ = LoadLe64(b + 12);
      acked_ = LoadLe64(b + 20);
      state_ok = true;
    } else if (magic && LoadLe32(b + 8) == 2 && n >= kStateFixed + 4) {
      const uint32_t meta = LoadLe16(b + 165);
      const size_t owner = b[100];
      if (meta <= kMaxMeta && owner <= kMaxOwner && n == kStateFixed + meta + 4 &&
          Crc32c(b, kStateFixed + meta) == LoadLe32(b + kStateFixed + meta)) {
        epoch_ = LoadLe64(b + 12);
        acked_ = LoadLe64(b + 20);
        // What was lost before is never forgotten: the counts go on from the last state.
        c_.dropped_records = LoadLe64(b + 28);
        c_.dropped_events = LoadLe64(b + 36);
        c_.write_failed_events = LoadLe64(b + 44);
        c_.recovered_cut_bytes = LoadLe64(b + 52);
        c_.recovered_cut_records = LoadLe64(b + 60);
        c_.recovered_cut_events = LoadLe64(b + 68);
        c_.corrupt_records_skipped = LoadLe64(b + 76);
        c_.corrupt_events_skipped = LoadLe64(b + 84);
        c_.delivered_after_drop = LoadLe64(b + 92);
        owner_.assign(reinterpret_cast<const char*>(b + 101), owner);
        last_meta_.assign(b + kStateFixed, b + kStateFixed + meta);
        state_ok = true;
      }
    }
  }

  for (size_t i = 0; i < firsts.size(); ++i) {
    auto seg = std::make_unique<Segment>();
    seg->path = dir_ + "/" + SegmentName(firsts[i]);
    seg->first_seq = firsts[i];
    seg->fd = open(seg->path.c_str(), O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) return ErrnoError("open " + seg->path, errno);
    Status st = RecoverSegment(seg.get());
    if (!st.ok()) return st;
    if (seg->size == 0) {  // header itself was torn or foreign: nothing of it is usable
      unlink(seg->path.c_str());
      continue;
    }
    segments_.push_back(std::move(seg));
  }

  if (!state_ok) {
    // No (valid) state: the segments are the truth. Without any, start a new epoch — a new
    // epoch can never be mistaken by the collector for batches it has already stored.
    if (!segments_.empty()) {
      acked_ = segments_.front()->first_seq - 1;
    } else {
      acked_ = 0;
      if (getrandom(&epoch_, sizeof epoch_, 0) != sizeof epoch_) {
        return ErrnoError("getrandom", errno);
      }
    }
  }
  uint64_t last = acked_;
  for (const auto& seg : segments_) last = std::max(last, seg->last_seq());
  // The newest record's metadata is the appender's latest word (the state has it from before
  // its segment was deleted).
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (!(*it)->entries.empty()) {
      last_meta_ = (*it)->last_meta;
      break;
    }
  }
  next_seq_ = last + 1;
  // Drop segments that are wholly delivered.
  for (size_t i = 0; i < segments_.size();) {
    if (segments_[i]->last_seq() <= acked_) {
      DeleteSegment(i);
    } else {
      ++i;
    }
  }
  for (const auto& seg : segments_) {
    c_.bytes += seg->size;
    for (const auto& e : seg->entries) {
      if (e.seq > acked_) {
        ++c_.unacked_records;
        c_.unacked_events += e.events;
      }
    }
  }
  ISDAS_RETURN_IF_ERROR(WriteState());
  auto q = ListQuarantine(dir_);
  if (!q.ok()) return q.status();
  for (const auto& e : q.value()) {
    ++c_.quarantined_records;
    c_.quarantined_events += e.events;
  }
  return SyncDir(dir_);
}

namespace {

std::string QuarantineName(uint64_t seq) {
  char b[32];
  std::snprintf(b, sizeof b, "%020llu", static_cast<unsigned long long>(seq));
  return b;
}

// Writes `data` to path durably: a temporary file, fsync, rename.
Status WriteFileDurably(const std::string& path, const void* data, size_t n) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("create " + tmp, errno);
  Status s = WriteAll(fd, static_cast<const uint8_t*>(data), n, 0, tmp);
  if (s.ok() && fdatasync(fd) != 0) s = ErrnoError("fsync " + tmp, errno);
  close(fd);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoError("rename " + tmp, errno);
  if (!s.ok()) unlink(tmp.c_str());
  return s;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open " + path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoError("read " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace

Status Spool::Quarantine(const Record& rec, const std::string& reason) {
  const std::string qdir = dir_ + "/quarantine";
  if (mkdir(qdir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("create " + qdir, errno);
  }
  const std::string base = qdir + "/" + QuarantineName(rec.seq);
  ISDAS_RETURN_IF_ERROR(WriteFileDurably(base + ".batch", rec.payload.data(), rec.payload.size()));
  // The reason file is written last: a listing shows only complete entries.
  std::string one_line = reason;
  for (char& c : one_line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const std::string meta = "seq " + std::to_string(rec.seq) + "\nevents " +
                           std::to_string(rec.events) + "\ntime_us " + std::to_string(NowUs()) +
                           "\nreason " + one_line + "\n";
  ISDAS_RETURN_IF_ERROR(WriteFileDurably(base + ".reason", meta.data(), meta.size()));
  ISDAS_RETURN_IF_ERROR(SyncDir(qdir));
  {
    MutexLock lock(&mu_);
    ++c_.quarantined_records;
    c_.quarantined_events += rec.events;
  }
  return Ack(rec.seq);
}

Result<std::vector<Quarantined>> Spool::ListQuarantine(const std::string& dir) {
  std::vector<Quarantined> out;
  const std::string qdir = dir + "/quarantine";
  DIR* d = opendir(qdir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return ErrnoError("open " + qdir, errno);
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() == 27 && n.compare(20, 7, ".reason") == 0) names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    auto text = ReadWholeFile(qdir + "/" + n);
    if (!text.ok()) return text.status();
    Quarantined q;
    bool have_seq = false, have_events = false;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      const std::string line = text->substr(pos, nl - pos);
      pos = nl + 1;
      const size_t sp = line.find(' ');
      if (sp == std::string::npos) continue;
      const std::string k = line.substr(0, sp), v = line.substr(sp + 1);
      char* end = nullptr;
      if (k == "seq") {
        q.seq = std::strtoull(v.c_str(), &end, 10);
        have_seq = end && *end == '\0';
      } else if (k == "events") {
        q.events = static_cast<uint32_t>(std::strtoul(v.c_str(), &end, 10));
        have_events = end && *end == '\0';
      } else if (k == "time_us") {
        q.time_us = std::strtoll(v.c_str(), nullptr, 10);
      } else if (k == "reason") {
        q.reason = v;
      }
    }
    if (!have_seq || !have_events || QuarantineName(q.seq) + ".reason" != n) {
      return Status(ErrorKind::kCorruption,
                    qdir + "/" + n + ": damaged quarantine entry (no valid seq/events lines)");
    }
    out.push_back(std::move(q));
  }
  return out;
}

Result<std::vector<uint8_t>> Spool::QuarantinedPayload(const std::string& dir, uint64_t seq) {
  const std::string path = dir + "/quarantine/" + QuarantineName(seq) + ".batch";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return InvalidArgument("no quarantined batch " + std::to_string(seq) + " in " + dir);
  }
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  return std::vector<uint8_t>(text->begin(), text->end());
}

Result<uint64_t> Spool::Requeue(uint64_t seq) {
  auto list = ListQuarantine(dir_);
  if (!list.ok()) return list.status();
  const Quarantined* q = nullptr;
  for (const auto& e : list.value()) {
    if (e.seq == seq) q = &e;
  }
  if (!q) return InvalidArgument("no quarantined batch " + std::to_string(seq) + " in " + dir_);
  auto payload = QuarantinedPayload(dir_, seq);
  if (!payload.ok()) return payload.status();
  auto appended = Append(payload.value(), q->events);
  if (!appended.ok()) return appended.status();
  ISDAS_RETURN_IF_ERROR(Sync());
  const std::string base = dir_ + "/quarantine/" + QuarantineName(seq);
  unlink((base + ".reason").c_str());
  unlink((base + ".batch").c_str());
  (void)SyncDir(dir_ + "/quarantine");
  MutexLock lock(&mu_);
  --c_.quarantined_records;
  c_.quarantined_events -= q->events;
  return appended;
}

Status Spool::RecoverSegment(Segment* seg) {
  struct stat st;
  if (fstat(seg->fd, &st) != 0) return ErrnoError("stat " + seg->path, errno);
  const auto file_size = static_cast<uint64_t>(st.st_size);
  uint8_t h[kSegmentHeader];
  auto got = ReadAt(seg->fd, h, kSegmentHeader, 0, seg->path);
  if (!got.ok()) return got.status();
  const uint32_t version = got.value() == kSegmentHeader ? LoadLe32(h + 8) : 0;
  const bool header_ok = got.value() == kSegmentHeader && std::memcmp(h, kSegmentMagic, 8) == 0 &&
                         (version == 1 || version == 2) && Crc32c(h, 40) == LoadLe32(h + 40) &&
                         LoadLe64(h + 24) == seg->first_seq;
  if (!header_ok) {
    c_.recovered_cut_bytes += file_size;
    seg->size = 0;
    return Status::Ok();
  }
  const uint64_t seg_epoch = LoadLe64(h + 16);
  if (epoch_ == 0) epoch_ = seg_epoch;
  // Records are checked in place, in a read-only mapping, so that damage in the middle can be
  // stepped over by searching for the next intact record.
  const uint8_t* m = nullptr;
  if (file_size > kSegmentHeader) {
    void* p = mmap(nullptr, file_size, PROT_READ, MAP_SHARED, seg->fd, 0);
    if (p == MAP_FAILED) return ErrnoError("map " + seg->path, errno);
    m = static_cast<const uint8_t*>(p);
  }
  // The size of an intact record at `o` whose sequence number is at least `min_seq`, or 0.
  // Intact: a plausible header and a CRC-32C that holds over it, the payload and the metadata.
  auto intact = [&](uint64_t o, uint64_t min_seq, uint64_t* seq) -> uint64_t {
    if (o + kRecordHeader > file_size) return 0;
    const uint8_t* rh = m + o;
    const uint32_t len = LoadLe32(rh);
    const uint32_t meta = LoadLe16(rh + 20);
    if (len > kMaxPayload || meta > kMaxMeta || LoadLe16(rh + 22) != 0) return 0;
    const uint64_t size = kRecordHeader + len + meta;
    const uint64_t sq = LoadLe64(rh + 8);
    if (o + size > file_size || sq < min_seq || sq - min_seq > (1u << 30)) return 0;
    if (RecordCrc(rh, rh + kRecordHeader, len + meta) != LoadLe32(rh + 4)) return 0;
    *seq = sq;
    return size;
  };
  struct Kept {
    uint64_t offset, size;
  };
  std::vector<Kept> kept;
  uint64_t off = kSegmentHeader;
  uint64_t expect = seg->first_seq;
  bool damaged_middle = false;
  while (off < file_size) {
    uint64_t sq = 0;
    uint64_t size = seg_epoch == epoch_ ? intact(off, expect, &sq) : 0;
    if (size) {
      // A forward gap is the trace of damage stepped over at an earlier recovery.
      const uint8_t* rh = m + off;
      seg->entries.push_back(
          Segment::Entry{sq, off, LoadLe32(rh + 16), LoadLe32(rh), false, LoadLe16(rh + 20)});
      kept.push_back({off, size});
      off += size;
      expect = sq + 1;
      continue;
    }
    // Torn (a crash mid-write) or damaged: find the next intact record, if any.
    uint64_t next = off + 1, next_seq = 0, next_size = 0;
    if (seg_epoch == epoch_) {
      for (; next + kRecordHeader <= file_size; ++next) {
        next_size = intact(next, expect, &next_seq);
        if (next_size) break;
      }
    }
    const uint64_t end = next_size ? next : file_size;
    c_.recovered_cut_bytes += end - off;
    // Count the events of the records lost, as far as their headers can still be read and look
    // like ours (right sequence number, sane count): nothing goes uncounted that can be counted.
    uint64_t walked = 0;
    for (uint64_t o = off, e = expect; o + kRecordHeader <= end; ++e) {
      const uint8_t* rh = m + o;
      const uint64_t size_o = kRecordHeader + uint64_t{LoadLe32(rh)} + LoadLe16(rh + 20);
      if (LoadLe64(rh + 8) != e || LoadLe32(rh + 16) > (1u << 20) || LoadLe32(rh) > kMaxPayload ||
          LoadLe16(rh + 20) > kMaxMeta) {
        break;
      }
      c_.recovered_cut_events += LoadLe32(rh + 16);  // a torn record's header still counts
      ++walked;
      o += size_o;
    }
    c_.recovered_cut_records += next_size ? std::max<uint64_t>(walked, next_seq - expect) : walked;
    if (!next_size) break;
    damaged_middle = true;
    off = next;
  }
  if (damaged_middle) {
    // Rewrite the segment with the intact records only, so that the damage is counted once
    // and the next recovery finds a clean file (with a gap in its sequence numbers).
    const std::string tmp = seg->path + ".tmp";
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      munmap(const_cast<uint8_t*>(m), file_size);
      return ErrnoError("create " + tmp, errno);
    }
    Status w = WriteAll(fd, m, kSegmentHeader, 0, tmp);
    uint64_t pos = kSegmentHeader;
    for (size_t i = 0; i < kept.size() && w.ok(); ++i) {
      w = WriteAll(fd, m + kept[i].offset, kept[i].size, pos, tmp);
      seg->entries[i].offset = pos;
      pos += kept[i].size;
    }
    if (w.ok() && fdatasync(fd) != 0) w = ErrnoError("fsync " + tmp, errno);
    close(fd);
    if (w.ok() && rename(tmp.c_str(), seg->path.c_str()) != 0)
      w = ErrnoError("rename " + tmp, errno);
    if (!w.ok()) {
      unlink(tmp.c_str());
      munmap(const_cast<uint8_t*>(m), file_size);
      return w;
    }
    close(seg->fd);
    seg->fd = open(seg->path.c_str(), O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) {
      munmap(const_cast<uint8_t*>(m), file_size);
      return ErrnoError("open " + seg->path, errno);
    }
    off = pos;
  } else if (off < file_size) {
    if (ftruncate(seg->fd, static_cast<off_t>(off)) != 0) {
      munmap(const_cast<uint8_t*>(m), file_size);
      return ErrnoError("truncate " + seg->path, errno);
    }
    if (fdatasync(seg->fd) != 0) {
      munmap(const_cast<uint8_t*>(m), file_size);
      return ErrnoError("fsync " + seg->path, errno);
    }
  }
  if (!kept.empty()) {
    const uint8_t* rh = m + kept.back().offset;
    const uint32_t len = LoadLe32(rh), meta = LoadLe16(rh + 20);
    seg->last_meta.assign(rh + kRecordHeader + len, rh + kRecordHeader + len + meta);
  }
  if (m) munmap(const_cast<uint8_t*>(m), file_size);
  seg->size = std::max<uint64_t>(off, kSegmentHeader);
  return Status::Ok();
}

Status Spool::NewSegment() {
  auto seg = std::make_unique<Segment>();
  seg->first_seq = next_seq_;
  seg->path = dir_ + "/" + SegmentName(next_seq_);
  seg->fd = open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (seg->fd < 0) return ErrnoError("create " + seg->path, errno);
  uint8_t h[kSegmentHeader] = {};
  std::memcpy(h, kSegmentMagic, 8);
  PutLe32(h + 8, kVersion);
  PutLe64(h + 16, epoch_);
  PutLe64(h + 24, seg->first_seq);
  PutLe64(h + 32, static_cast<uint64_t>(NowUs()));
  PutLe32(h + 40, Crc32c(h, 40));
  ISDAS_RETURN_IF_ERROR(WriteAll(seg->fd, h, kSegmentHeader, 0, seg->path));
  if (opt_.fsync != FsyncPolicy::kNever) {
    if (fdatasync(seg->fd) != 0) return ErrnoError("fsync " + seg->path, errno);
    ISDAS_RETURN_IF_ERROR(SyncDir(dir_));
  }
  seg->size = kSegmentHeader;
  c_.bytes += kSegmentHeader;
  segments_.push_back(std::move(seg));
  appending_ = true;
  return Status::Ok();
}

Status Spool::WriteState() {
  std::vector<uint8_t> buf(kStateFixed + last_meta_.size() + 4, 0);
  uint8_t* b = buf.data();
  std::memcpy(b, kStateMagic, 8);
  PutLe32(b + 8, kVersion);
  PutLe64(b + 12, epoch_);
  PutLe64(b + 20, acked_);
  PutLe64(b + 28, c_.dropped_records);
  PutLe64(b + 36, c_.dropped_events);
  PutLe64(b + 44, c_.write_failed_events);
  PutLe64(b + 52, c_.recovered_cut_bytes);
  PutLe64(b + 60, c_.recovered_cut_records);
  PutLe64(b + 68, c_.recovered_cut_events);
  PutLe64(b + 76, c_.corrupt_records_skipped);
  PutLe64(b + 84, c_.corrupt_events_skipped);
  PutLe64(b + 92, c_.delivered_after_drop);
  b[100] = static_cast<uint8_t>(owner_.size());
  std::memcpy(b + 101, owner_.data(), owner_.size());
  PutLe16(b + 165, static_cast<uint32_t>(last_meta_.size()));
  if (!last_meta_.empty()) std::memcpy(b + kStateFixed, last_meta_.data(), last_meta_.size());
  PutLe32(b + kStateFixed + last_meta_.size(), Crc32c(b, kStateFixed + last_meta_.size()));
  const size_t kStateSize = buf.size();
  const std::string tmp = dir_ + "/state.tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("create " + tmp, errno);
  Status s = WriteAll(fd, b, kStateSize, 0, tmp);
  if (s.ok() && opt_.fsync != FsyncPolicy::kNever && fdatasync(fd) != 0) {
    s = ErrnoError("fsync " + tmp, errno);
  }
  close(fd);
  ISDAS_RETURN_IF_ERROR(s);
  // rename() is atomic: a crash leaves the old state or the new, never a mix.
  if (rename(tmp.c_str(), (dir_ + "/state").c_str()) != 0) {
    return ErrnoError("rename " + tmp, errno);
  }
  return Status::Ok();
}

void Spool::DeleteSegment(size_t i) {
  Segment& seg = *segments_[i];
  unlink(seg.path.c_str());
  if (c_.bytes >= seg.size) c_.bytes -= seg.size;
  segments_.erase(segments_.begin() + static_cast<long>(i));
}

Status Spool::MakeRoom(uint64_t need) {
  while (c_.bytes + need > opt_.max_bytes) {
    if (opt_.when_full == FullPolicy::kDropNewest) {
      return {ErrorKind::kResourceExhausted, "spool full (" + std::to_string(c_.bytes) + " of " +
                                                 std::to_string(opt_.max_bytes) + " bytes)"};
    }
    if (segments_.size() == 1 && appending_) ISDAS_RETURN_IF_ERROR(NewSegment());
    // The oldest segment goes, delivered or not; what was not delivered is counted.
    for (const auto& e : segments_.front()->entries) {
      if (e.seq > acked_ && !e.bad) {
        ++c_.dropped_records;
        c_.dropped_events += e.events;
        --c_.unacked_records;
        c_.unacked_events -= e.events;
        // The shipper may have this record in flight; if the collector stores it after all,
        // Ack() takes it back out of the drop count (see below).
        recently_dropped_[e.seq] = e.events;
      }
    }
    while (recently_dropped_.size() > kMaxRecentlyDropped) {
      recently_dropped_.erase(recently_dropped_.begin());
    }
    const uint64_t last = segments_.front()->last_seq();
    DeleteSegment(0);
    if (last > acked_) {
      acked_ = last;  // the shipper must not wait for records that are gone
      ISDAS_RETURN_IF_ERROR(WriteState());
    }
  }
  return Status::Ok();
}

Result<uint64_t> Spool::Append(std::span<const uint8_t> payload, uint32_t events,
                               std::span<const uint8_t> meta) {
  MutexLock lock(&mu_);
  const uint64_t need = kRecordHeader + payload.size() + meta.size();
  if (payload.size() > kMaxPayload || need > opt_.segment_bytes) {
    return InvalidArgument("spool record of " + std::to_string(payload.size()) +
                           " bytes exceeds the limit");
  }
  if (meta.size() > kMaxMeta) {
    return InvalidArgument("spool record metadata of " + std::to_string(meta.size()) +
                           " bytes exceeds 1024");
  }
  // Recovered segments are never appended to (their tail may have been cut, so their next
  // sequence number need not be ours): the first append after Open starts a segment.
  if (!appending_ || segments_.back()->size + need > opt_.segment_bytes) {
    ISDAS_RETURN_IF_ERROR(NewSegment());
  }
  Status room = MakeRoom(need);
  if (!room.ok()) {
    if (room.kind() == ErrorKind::kResourceExhausted) {
      ++c_.dropped_records;
      c_.dropped_events += events;
      (void)WriteState();  // the drop count survives a restart
    }
    return room;
  }
  Segment& seg = *segments_.back();
  std::vector<uint8_t> rec(need);
  PutLe32(rec.data(), static_cast<uint32_t>(payload.size()));
  PutLe64(rec.data() + 8, next_seq_);
  PutLe32(rec.data() + 16, events);
  PutLe16(rec.data() + 20, static_cast<uint32_t>(meta.size()));
  if (!payload.empty()) std::memcpy(rec.data() + kRecordHeader, payload.data(), payload.size());
  if (!meta.empty()) {
    std::memcpy(rec.data() + kRecordHeader + payload.size(), meta.data(), meta.size());
  }
  PutLe32(rec.data() + 4,
          RecordCrc(rec.data(), rec.data() + kRecordHeader, payload.size() + meta.size()));
  Status w = WriteAll(seg.fd, rec.data(), rec.size(), seg.size, seg.path);
  if (!w.ok()) {
    // Leave no partial record behind for the next append to follow.
    (void)!ftruncate(seg.fd, static_cast<off_t>(seg.size));
    return w;
  }
  seg.entries.push_back(Segment::Entry{next_seq_, seg.size, events,
                                       static_cast<uint32_t>(payload.size()), false,
                                       static_cast<uint32_t>(meta.size())});
  last_meta_.assign(meta.begin(), meta.end());
  seg.size += need;
  c_.bytes += need;
  ++c_.appended_records;
  c_.appended_events += events;
  ++c_.unacked_records;
  c_.unacked_events += events;
  dirty_ = true;
  const uint64_t seq = next_seq_++;
  if (opt_.fsync == FsyncPolicy::kAlways ||
      (opt_.fsync == FsyncPolicy::kInterval &&
       NowUs() - last_sync_us_ >= int64_t{opt_.fsync_interval_ms} * 1000)) {
    if (fdatasync(seg.fd) != 0) return ErrnoError("fsync " + seg.path, errno);
    last_sync_us_ = NowUs();
    dirty_ = false;
  }
  return seq;
}

Status Spool::Sync() {
  MutexLock lock(&mu_);
  if (!dirty_ || segments_.empty()) return Status::Ok();
  if (fdatasync(segments_.back()->fd) != 0)
    return ErrnoError("fsync " + segments_.back()->path, errno);
  last_sync_us_ = NowUs();
  dirty_ = false;
  return Status::Ok();
}

Result<std::vector<Record>> Spool::Read(uint64_t first_seq, size_t max_records, size_t max_bytes) {
  MutexLock lock(&mu_);
  std::vector<Record> out;
  size_t bytes = 0;
  for (auto& seg : segments_) {
    if (seg->last_seq() < first_seq) continue;
    for (auto& e : seg->entries) {
      if (e.seq < first_seq || e.bad) continue;
      if (out.size() >= max_records || (!out.empty() && bytes + e.length > max_bytes)) return out;
      std::vector<uint8_t> buf(kRecordHeader + e.length + e.meta);
      auto n = ReadAt(seg->fd, buf.data(), buf.size(), e.offset, seg->path);
      if (!n.ok()) return n.status();
      if (n.value() != buf.size() || RecordCrc(buf.data(), buf.data() + kRecordHeader,
                                               e.length + e.meta) != LoadLe32(buf.data() + 4)) {
        // Damaged on disk since it was written: skip it, once, and say so in the counters.
        e.bad = true;
        ++c_.corrupt_records_skipped;
        c_.corrupt_events_skipped += e.events;
        if (e.seq > acked_) {
          --c_.unacked_records;
          c_.unacked_events -= e.events;
        }
        (void)WriteState();  // the count survives a restart
        continue;
      }
      Record r;
      r.seq = e.seq;
      r.events = e.events;
      r.payload.assign(buf.begin() + kRecordHeader,
                       buf.begin() + static_cast<long>(kRecordHeader + e.length));
      bytes += e.length;
      out.push_back(std::move(r));
    }
  }
  return out;
}

Status Spool::Ack(uint64_t seq) {
  MutexLock lock(&mu_);
  if (seq >= next_seq_) {
    return InvalidArgument("ack of sequence " + std::to_string(seq) + ", never appended (next " +
                           std::to_string(next_seq_) + ")");
  }
  if (seq <= acked_) {
    // A record dropped while it was in flight, then delivered: it is not lost after all.
    auto it = recently_dropped_.find(seq);
    if (it != recently_dropped_.end()) {
      --c_.dropped_records;
      c_.dropped_events -= it->second;
      ++c_.delivered_after_drop;
      recently_dropped_.erase(it);
    }
    return Status::Ok();
  }
  for (const auto& seg : segments_) {
    for (const auto& e : seg->entries) {
      if (e.seq > acked_ && e.seq <= seq && !e.bad) {
        --c_.unacked_records;
        c_.unacked_events -= e.events;
      }
    }
  }
  acked_ = seq;
  ISDAS_RETURN_IF_ERROR(WriteState());
  // Delivered segments go, but not the one being appended to.
  while (!segments_.empty() && segments_.front()->last_seq() <= acked_ &&
         !(appending_ && segments_.size() == 1)) {
    DeleteSegment(0);
  }
  return Status::Ok();
}

Status Spool::CountWriteFailure(uint64_t events) {
  MutexLock lock(&mu_);
  c_.write_failed_events += events;
  return WriteState();
}

std::vector<uint8_t> Spool::last_meta() const {
  MutexLock lock(&mu_);
  return last_meta_;
}

uint64_t Spool::acked() const {
  MutexLock lock(&mu_);
  return acked_;
}
uint64_t Spool::next_seq() const {
  MutexLock lock(&mu_);
  return next_seq_;
}
Counters Spool::counters() const {
  MutexLock lock(&mu_);
  return c_;
}

}  // namespace isdas::spool
