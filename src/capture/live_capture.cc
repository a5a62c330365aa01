#include "capture/live_capture.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

namespace isdas::capture {

Result<std::string> FilterForPrefixes(const std::vector<std::string>& prefixes) {
  std::string f;
  for (const std::string& p : prefixes) {
    const size_t slash = p.find('/');
    const std::string addr = p.substr(0, slash);
    uint8_t buf[16];
    int len = -1;
    const bool v6 = inet_pton(AF_INET6, addr.c_str(), buf) == 1;
    const bool v4 = !v6 && inet_pton(AF_INET, addr.c_str(), buf) == 1;
    if (slash != std::string::npos) {
      const std::string l = p.substr(slash + 1);
      if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos) {
        len = -1;
      } else {
        len = std::stoi(l);
      }
    } else {
      len = v6 ? 128 : 32;
    }
    if ((!v4 && !v6) || len < 0 || len > (v6 ? 128 : 32)) {
      return InvalidArgument("prefix '" + p + "' is not an IPv4 or IPv6 address/length");
    }
    if (!f.empty()) f += " or ";
    f += "(dst net " + addr + "/" + std::to_string(len) + ")";
  }
  return f;
}

LiveCapture::~LiveCapture() {
  if (pcap_) pcap_close(pcap_);
}

Result<std::unique_ptr<LiveCapture>> LiveCapture::Open(const LiveOptions& o) {
  auto filter = FilterForPrefixes(o.prefixes);
  if (!filter.ok()) return filter.status();
  char err[PCAP_ERRBUF_SIZE] = {};
  std::unique_ptr<LiveCapture> c(new LiveCapture());
  c->pcap_ = pcap_create(o.interface.c_str(), err);
  if (!c->pcap_) return InvalidArgument("capture on " + o.interface + ": " + err);
  pcap_set_snaplen(c->pcap_, o.snaplen);
  pcap_set_promisc(c->pcap_, o.promiscuous ? 1 : 0);
  pcap_set_timeout(c->pcap_, o.timeout_ms);
  pcap_set_buffer_size(c->pcap_, o.buffer_bytes);
  const int rc = pcap_activate(c->pcap_);
  if (rc < 0) {
    const std::string m = "capture on " + o.interface + ": " + pcap_geterr(c->pcap_);
    if (rc == PCAP_ERROR_PERM_DENIED) return Status(ErrorKind::kUnauthenticated, m);
    if (rc == PCAP_ERROR_NO_SUCH_DEVICE) return InvalidArgument(m);
    return IoError(m);
  }
  // Non-blocking, with our own poll() in Dispatch: a stop request (signal) then ends the wait
  // within timeout_ms whatever libpcap's ring does when no packet comes.
  if (pcap_setnonblock(c->pcap_, 1, err) != 0) {
    return IoError("capture on " + o.interface + ": " + err);
  }
  c->fd_ = pcap_get_selectable_fd(c->pcap_);
  c->timeout_ms_ = o.timeout_ms;
  // Only what arrives: the sensor's own packets (it should send none to the dark space, but
  // management traffic and answers of a misconfigured host would pollute the data).
  if (pcap_setdirection(c->pcap_, PCAP_D_IN) != 0) {
    return IoError("capture on " + o.interface +
                   ": cannot restrict to incoming packets: " + pcap_geterr(c->pcap_));
  }
  if (!filter->empty()) {
    bpf_program prog;
    if (pcap_compile(c->pcap_, &prog, filter->c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return InvalidArgument("filter '" + *filter + "': " + pcap_geterr(c->pcap_));
    }
    const int set = pcap_setfilter(c->pcap_, &prog);
    pcap_freecode(&prog);
    if (set != 0) return IoError("install filter: " + std::string(pcap_geterr(c->pcap_)));
  }
  // pcap_datalink gives DLT_ values; the decoder wants LINKTYPE_ values. They differ only
  // for a few types; the ones a sensor sees are covered here.
  const int dlt = pcap_datalink(c->pcap_);
  c->linktype_ = dlt == DLT_RAW ? 101u : static_cast<uint32_t>(dlt);
  return c;
}

Result<int> LiveCapture::Dispatch(int max_packets, const std::function<void(const Packet&)>& fn) {
  struct Ctx {
    const std::function<void(const Packet&)>* fn;
    uint32_t linktype;
  } ctx{&fn, linktype_};
  if (fd_ >= 0) {
    pollfd pfd{fd_, POLLIN, 0};
    const int pr = poll(&pfd, 1, timeout_ms_);
    if (pr < 0 && errno != EINTR) return IoError(std::string("capture: poll: ") + strerror(errno));
    if (pr <= 0) return 0;
  }
  const int n = pcap_dispatch(
      pcap_, max_packets <= 0 ? -1 : max_packets,
      [](u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
        auto* c = reinterpret_cast<Ctx*>(user);
        Packet p;
        p.data = bytes;
        p.caplen = h->caplen;
        p.wire_len = h->len;
        p.linktype = c->linktype;
        p.ts_us = int64_t{h->ts.tv_sec} * 1000000 + h->ts.tv_usec;
        (*c->fn)(p);
      },
      reinterpret_cast<u_char*>(&ctx));
  if (n == PCAP_ERROR) return IoError(std::string("capture: ") + pcap_geterr(pcap_));
  if (n > 0) received_ += static_cast<uint64_t>(n);
  return n < 0 ? 0 : n;
}

void LiveCapture::BreakLoop() { pcap_breakloop(pcap_); }

LiveStats LiveCapture::stats() {
  LiveStats s;
  s.received = received_;
  pcap_stat ps{};
  if (pcap_stats(pcap_, &ps) == 0) {
    s.kernel_drops = ps.ps_drop;
    s.interface_drops = ps.ps_ifdrop;
  }
  return s;
}

}  // namespace isdas::capture
