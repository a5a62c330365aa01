#pragma once

// Reads packet records from pcap (µs and ns, either byte order) and pcapng files, from a
// file, standard input ("-") or memory. Formats: docs/capture-files.md.
//
// The reader maps regular files (releasing pages behind the cursor) and reads pipes through a
// bounded buffer, so memory does not grow with file size. A mapped file must not shrink while
// it is read (the kernel would raise SIGBUS); live rotation writes new files, never truncates.
// Next() returns false at the end of the file or at the first damage; status() then tells
// which (ok = clean end) with the byte offset of the damaged record. Packets returned before
// the damage are valid. A Packet's data points into the reader's buffer and is valid until the
// next call to Next(). Not thread-safe.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace isdas::capture {

struct Packet {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;
  uint32_t wire_len = 0;
  uint32_t linktype = 0;
  int64_t ts_us = 0;  // microseconds since the epoch, UTC
};

// Records the reader saw but did not return as packets, or returned with a repair.
struct ReaderCounts {
  uint64_t records = 0;                     // packet records seen (returned or not)
  uint64_t caplen_exceeds_len = 0;          // returned, wire length raised to the captured length
  uint64_t simple_packet_no_timestamp = 0;  // pcapng SPB: skipped, it has no time
};

enum class FileFormat { kUnknown, kPcap, kPcapNs, kPcapng };

class FileReader {
 public:
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // Opens a file ("-" = standard input) and reads its header. Errors: kIo (cannot open or
  // read), kCorruption (not a capture file, or a damaged header), kInvalidArgument
  // (unsupported variant such as the "modified" pcap format).
  // With `sha256`, the reader also hashes every byte it reads (see FinishSha256); it costs
  // about as much as decoding, so only importers ask for it.
  static Result<std::unique_ptr<FileReader>> Open(const std::string& path, bool sha256 = false);
  // Reads from memory the caller keeps alive for the reader's lifetime.
  static Result<std::unique_ptr<FileReader>> FromMemory(std::span<const uint8_t> bytes,
                                                        bool sha256 = false);

  bool Next(Packet* out);
  const Status& status() const { return status_; }
  // Byte offset just past the last record returned (or of the damage, after a failure).
  uint64_t offset() const { return consumed_ + pos_; }
  FileFormat format() const { return format_; }
  // Link type of a pcap file, or of the first pcapng interface (0 if none yet).
  uint32_t first_linktype() const;
  const ReaderCounts& counts() const { return counts_; }
  const std::string& name() const { return name_; }
  // Reads whatever Next() has not, and returns the SHA-256 of the whole input as 64 hex
  // digits. Call once, after the last Next(), on a reader opened with sha256 = true
  // (otherwise: kInternal).
  Result<std::string> FinishSha256();

 private:
  struct Interface {
    uint32_t linktype;
    uint32_t snaplen;
    bool resol_pow2;  // if_tsresol high bit: 2^-n instead of 10^-n
    uint8_t resol_exp;
    int64_t offset_s;  // if_tsoffset
  };

  FileReader() = default;
  // Makes at least n unread bytes available; false when the input ends first.
  bool Ensure(size_t n);
  Status ReadHeader();
  bool NextPcap(Packet* out);
  bool NextPcapng(Packet* out);
  Status ParseSectionHeader(const uint8_t* block, uint32_t len);
  Status ParseInterface(const uint8_t* block, uint32_t len);
  bool Fail(Status s);
  uint16_t U16(const uint8_t* p) const;
  uint32_t U32(const uint8_t* p) const;
  int64_t ToMicros(const Interface& itf, uint64_t ts) const;

  std::string name_;
  struct HashState;
  std::unique_ptr<HashState> hash_;
  int fd_ = -1;
  bool eof_ = false;
  void ReleaseBehind();

  std::vector<uint8_t> storage_;  // read() mode (pipes, stdin, hashing) only
  uint8_t* map_ = nullptr;        // mmap() mode (regular files) only
  size_t map_len_ = 0;
  size_t released_ = 0;  // map_ bytes before this were given back with MADV_DONTNEED
  const uint8_t* buf_ = nullptr;
  size_t len_ = 0;         // valid bytes at buf_
  size_t pos_ = 0;         // next unread byte at buf_
  uint64_t consumed_ = 0;  // file offset of buf_[0]

  FileFormat format_ = FileFormat::kUnknown;
  bool swapped_ = false;  // file written in the other byte order
  uint32_t linktype_ = 0;
  uint32_t snaplen_ = 0;
  std::vector<Interface> interfaces_;
  ReaderCounts counts_;
  Status status_;
  bool done_ = false;
};

std::string_view FileFormatName(FileFormat f);

}  // namespace isdas::capture
