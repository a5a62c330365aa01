// libFuzzer target: a damaged spool as a restarted sensor finds it. Bytes 0-1 give the length
// of a `state` file, then come the state's bytes and a segment file's (the rest). Opening it
// must not crash, whatever the bytes; what it keeps must read back intact and add up.

#include <dirent.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "spool/spool.h"

namespace {

void Write(const std::string& path, const uint8_t* p, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (n) std::fwrite(p, 1, n, f);
  std::fclose(f);
}

void Clear(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") unlink((dir + "/" + n).c_str());
    }
    closedir(d);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/isdas_spool_fuzz_XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  if (size < 2) return 0;
  size_t state = data[0] | (size_t{data[1]} << 8);
  data += 2;
  size -= 2;
  if (state > size) state = size;
  Clear(dir);
  if (state) Write(dir + "/state", data, state);
  Write(dir + "/00000000000000000001.seg", data + state, size - state);
  isdas::spool::Options o;
  o.segment_bytes = 64 * 1024;
  o.max_bytes = 1 << 20;
  o.fsync = isdas::spool::FsyncPolicy::kNever;
  auto s = isdas::spool::Spool::Open(dir, o);
  if (!s.ok()) return 0;
  const isdas::spool::Counters c = (*s)->counters();
  auto recs = (*s)->Read((*s)->acked() + 1, 1 << 20, size_t{1} << 30);
  if (!recs.ok()) return 0;
  uint64_t events = 0, last = (*s)->acked();
  for (const auto& r : recs.value()) {
    if (r.seq <= last || r.seq >= (*s)->next_seq()) __builtin_trap();  // in order, in range
    last = r.seq;
    events += r.events;
  }
  // Everything kept and unacknowledged is readable, and counted as waiting.
  if (recs->size() != c.unacked_records || events != c.unacked_events) __builtin_trap();
  return 0;
}
