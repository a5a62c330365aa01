#pragma once

// Live capture from a network interface with libpcap (the only code that touches it).
// Packets the host itself sent are not captured (pcap_setdirection(PCAP_D_IN)), and only
// packets to the monitored prefixes pass the kernel filter (BPF), so the sensor never sees its
// own management traffic. Not thread-safe: one thread calls Dispatch().

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "capture/file_reader.h"
#include "common/status.h"

typedef struct pcap pcap_t;

namespace isdas::capture {

struct LiveOptions {
  std::string interface;
  std::vector<std::string> prefixes;  // "198.19.0.0/16", "2001:db8:2::/48"; empty = everything
  int snaplen = 256;                  // enough for every header the decoder reads
  int buffer_bytes = 64 << 20;        // kernel ring; large, so bursts do not drop
  int timeout_ms = 100;               // how long Dispatch may wait for a packet
  bool promiscuous = true;            // a dark prefix is routed to us, but not always to our MAC
};

struct LiveStats {
  uint64_t received = 0;      // handed to us
  uint64_t kernel_drops = 0;  // dropped by the kernel for lack of buffer space
  uint64_t interface_drops = 0;
};

// The BPF filter for the prefixes: "(dst net A) or (dst net B)"; "" for none.
// Errors: kInvalidArgument naming a prefix that is not an address/length.
Result<std::string> FilterForPrefixes(const std::vector<std::string>& prefixes);

class LiveCapture {
 public:
  // Opens and activates the interface and installs the filter. Errors: kInvalidArgument
  // (bad prefix, unknown interface), kUnauthenticated (no permission), kIo.
  static Result<std::unique_ptr<LiveCapture>> Open(const LiveOptions& options);
  ~LiveCapture();

  // Hands up to max_packets packets to `fn` (0 = all that are ready), waiting at most
  // timeout_ms for the first. Returns how many were handed over.
  Result<int> Dispatch(int max_packets, const std::function<void(const Packet&)>& fn);
  // Makes a Dispatch() in another thread return soon (signal-safe).
  void BreakLoop();
  LiveStats stats();
  uint32_t linktype() const { return linktype_; }

 private:
  LiveCapture() = default;
  pcap_t* pcap_ = nullptr;
  uint32_t linktype_ = 0;
  uint64_t received_ = 0;
  int fd_ = -1;
  int timeout_ms_ = 100;
};

}  // namespace isdas::capture
