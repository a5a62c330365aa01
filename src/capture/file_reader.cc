#include "capture/file_reader.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/byte_reader.h"

namespace isdas::capture {
namespace {

constexpr size_t kBufferSize = 4u << 20;
// How far the cursor moves in a mapped file before the pages behind it are released.
constexpr size_t kReleaseStep = 8u << 20;
// libpcap's MAXIMUM_SNAPLEN: no record of a supported link type is larger.
constexpr uint32_t kMaxRecord = 262144;

constexpr uint32_t kPcapMagicUs = 0xa1b2c3d4;
constexpr uint32_t kPcapMagicNs = 0xa1b23c4d;
constexpr uint32_t kPcapMagicModified = 0xa1b2cd34;
constexpr uint32_t kPcapngShb = 0x0a0d0d0a;
constexpr uint32_t kPcapngByteOrder = 0x1a2b3c4d;

// pcapng block types (draft-ietf-opsawg-pcapng §4).
constexpr uint32_t kBlockIdb = 1;
constexpr uint32_t kBlockObsoletePacket = 2;
constexpr uint32_t kBlockSimplePacket = 3;
constexpr uint32_t kBlockEnhancedPacket = 6;

uint32_t Bswap32(uint32_t v) { return __builtin_bswap32(v); }

std::string At(uint64_t off) { return " at offset " + std::to_string(off); }

}  // namespace

std::string_view FileFormatName(FileFormat f) {
  switch (f) {
    case FileFormat::kPcap:
      return "pcap";
    case FileFormat::kPcapNs:
      return "pcap-ns";
    case FileFormat::kPcapng:
      return "pcapng";
    case FileFormat::kUnknown:
      break;
  }
  return "unknown";
}

struct FileReader::HashState {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  HashState() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~HashState() { EVP_MD_CTX_free(ctx); }
  void Update(const uint8_t* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
};

FileReader::~FileReader() {
  if (map_) munmap(map_, map_len_);
  if (fd_ > 0) close(fd_);
}

Result<std::string> FileReader::FinishSha256() {
  if (!hash_) return Internal("FinishSha256 on a reader opened without hashing");
  if (fd_ >= 0 && !storage_.empty()) {
    // Hash the part of the file after a damaged record too: the digest names the file.
    while (!eof_) {
      pos_ = len_;
      Ensure(1);
    }
    if (!status_.ok() && status_.kind() == ErrorKind::kIo) return status_;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(hash_->ctx, md, &n);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < n; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return hex;
}

Result<std::unique_ptr<FileReader>> FileReader::Open(const std::string& path, bool sha256) {
  std::unique_ptr<FileReader> r(new FileReader());
  r->name_ = path;
  if (path == "-") {
    r->fd_ = 0;
  } else {
    r->fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (r->fd_ < 0) return ErrnoError("open " + path, errno);
    posix_fadvise(r->fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  if (sha256) r->hash_ = std::make_unique<HashState>();
  struct stat st;
  if (!sha256 && fstat(r->fd_, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    // A regular file is mapped rather than read: no copy through a buffer. Pages behind the
    // cursor are released as it moves (ReleaseBehind), so resident memory stays bounded.
    void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, r->fd_, 0);
    if (m != MAP_FAILED) {
      madvise(m, static_cast<size_t>(st.st_size), MADV_SEQUENTIAL);
      r->map_ = static_cast<uint8_t*>(m);
      r->map_len_ = static_cast<size_t>(st.st_size);
      r->buf_ = r->map_;
      r->len_ = r->map_len_;
      r->eof_ = true;
    }
  }
  if (!r->map_) {
    r->storage_.resize(kBufferSize);
    r->buf_ = r->storage_.data();
  }
  Status s = r->ReadHeader();
  if (!s.ok()) return s;
  return r;
}

Result<std::unique_ptr<FileReader>> FileReader::FromMemory(std::span<const uint8_t> bytes,
                                                           bool sha256) {
  std::unique_ptr<FileReader> r(new FileReader());
  r->name_ = "<memory>";
  r->buf_ = bytes.data();
  r->len_ = bytes.size();
  r->eof_ = true;
  if (sha256) {
    r->hash_ = std::make_unique<HashState>();
    r->hash_->Update(bytes.data(), bytes.size());
  }
  Status s = r->ReadHeader();
  if (!s.ok()) return s;
  return r;
}

void FileReader::ReleaseBehind() {
  const size_t upto = pos_ & ~(size_t{4095});
  if (upto >= released_ + kReleaseStep) {
    madvise(map_ + released_, upto - released_, MADV_DONTNEED);
    released_ = upto;
  }
}

bool FileReader::Ensure(size_t n) {
  if (map_ && pos_ >= released_ + kReleaseStep) ReleaseBehind();
  while (len_ - pos_ < n) {
    if (eof_) return false;
    // Move the unread tail to the front, then fill the rest.
    const size_t tail = len_ - pos_;
    std::memmove(storage_.data(), storage_.data() + pos_, tail);
    consumed_ += pos_;
    pos_ = 0;
    len_ = tail;
    ssize_t got;
    do {
      got = read(fd_, storage_.data() + len_, storage_.size() - len_);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      status_ = ErrnoError("read " + name_ + At(consumed_ + len_), errno);
      eof_ = true;
      return false;
    }
    if (got == 0) {
      eof_ = true;
      return false;
    }
    if (hash_) hash_->Update(storage_.data() + len_, static_cast<size_t>(got));
    len_ += static_cast<size_t>(got);
  }
  return true;
}

bool FileReader::Fail(Status s) {
  if (status_.ok()) status_ = std::move(s);
  done_ = true;
  return false;
}

uint16_t FileReader::U16(const uint8_t* p) const {
  uint16_t v = LoadLe16(p);
  return swapped_ ? __builtin_bswap16(v) : v;
}
uint32_t FileReader::U32(const uint8_t* p) const {
  uint32_t v = LoadLe32(p);
  return swapped_ ? Bswap32(v) : v;
}

uint32_t FileReader::first_linktype() const {
  if (format_ == FileFormat::kPcapng) return interfaces_.empty() ? 0 : interfaces_[0].linktype;
  return linktype_;
}

Status FileReader::ReadHeader() {
  if (!Ensure(4)) {
    if (!status_.ok()) return status_;
    return Corruption(name_ + ": file too short for a capture header (" +
                      std::to_string(len_ - pos_) + " bytes)");
  }
  const uint32_t magic = LoadLe32(buf_ + pos_);
  if (magic == kPcapngShb) {
    format_ = FileFormat::kPcapng;
    return Status::Ok();  // the section header block is read as the first block
  }
  if (magic == kPcapMagicUs || magic == kPcapMagicNs) {
    swapped_ = false;
  } else if (Bswap32(magic) == kPcapMagicUs || Bswap32(magic) == kPcapMagicNs) {
    swapped_ = true;
  } else if (magic == kPcapMagicModified || Bswap32(magic) == kPcapMagicModified) {
    return InvalidArgument(name_ + ": the 'modified' (Kuznetzov) pcap format is not supported");
  } else {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08x", magic);
    return Corruption(name_ + ": not a pcap or pcapng file (magic 0x" + hex + " at offset 0)");
  }
  if (!Ensure(24)) {
    if (!status_.ok()) return status_;
    return Corruption(name_ + ": truncated pcap file header (" + std::to_string(len_ - pos_) +
                      " of 24 bytes)");
  }
  const uint8_t* h = buf_ + pos_;
  const uint32_t m = U32(h);
  format_ = m == kPcapMagicNs ? FileFormat::kPcapNs : FileFormat::kPcap;
  const uint16_t major = U16(h + 4);
  if (major != 2) {
    return Corruption(name_ + ": unsupported pcap version " + std::to_string(major) + At(4));
  }
  snaplen_ = U32(h + 16);
  // Bits 16-31 of the link-type field carry FCS information (pcap file format §LinkType).
  linktype_ = U32(h + 20) & 0xffffu;
  pos_ += 24;
  return Status::Ok();
}

bool FileReader::Next(Packet* out) {
  if (done_) return false;
  return format_ == FileFormat::kPcapng ? NextPcapng(out) : NextPcap(out);
}

bool FileReader::NextPcap(Packet* out) {
  for (;;) {
    if (!Ensure(16)) {
      if (len_ - pos_ == 0 && status_.ok()) {
        done_ = true;
        return false;  // clean end
      }
      return Fail(Corruption(name_ + ": truncated packet record header (" +
                             std::to_string(len_ - pos_) + " of 16 bytes)" + At(offset())));
    }
    const uint8_t* h = buf_ + pos_;
    const uint32_t caplen = U32(h + 8);
    uint32_t wire_len = U32(h + 12);
    const uint32_t limit = snaplen_ > kMaxRecord ? snaplen_ : kMaxRecord;
    if (caplen > limit) {
      return Fail(Corruption(name_ + ": packet record length " + std::to_string(caplen) +
                             " exceeds " + std::to_string(limit) + At(offset())));
    }
    if (!Ensure(16 + size_t{caplen})) {
      return Fail(Corruption(name_ + ": truncated packet record: " + std::to_string(caplen) +
                             " bytes announced, " + std::to_string(len_ - pos_ - 16) + " present" +
                             At(offset())));
    }
    h = buf_ + pos_;  // Ensure() may have moved the buffer
    ++counts_.records;
    if (caplen > wire_len) {
      ++counts_.caplen_exceeds_len;
      wire_len = caplen;
    }
    const int64_t sec = U32(h);
    const int64_t frac = U32(h + 4);
    out->ts_us = sec * 1000000 + (format_ == FileFormat::kPcapNs ? frac / 1000 : frac);
    out->data = h + 16;
    out->caplen = caplen;
    out->wire_len = wire_len;
    out->linktype = linktype_;
    pos_ += 16 + size_t{caplen};
    return true;
  }
}

int64_t FileReader::ToMicros(const Interface& itf, uint64_t ts) const {
  __int128 us;
  if (itf.resol_pow2) {
    us = (static_cast<__int128>(ts) * 1000000) >> itf.resol_exp;
  } else if (itf.resol_exp == 6) {
    us = ts;
  } else if (itf.resol_exp < 6) {
    __int128 mul = 1;
    for (int i = itf.resol_exp; i < 6; ++i) mul *= 10;
    us = static_cast<__int128>(ts) * mul;
  } else {
    __int128 div = 1;
    for (int i = 6; i < itf.resol_exp; ++i) div *= 10;
    us = static_cast<__int128>(ts) / div;
  }
  us += static_cast<__int128>(itf.offset_s) * 1000000;
  if (us > INT64_MAX) return INT64_MAX;
  if (us < INT64_MIN) return INT64_MIN;
  return static_cast<int64_t>(us);
}

Status FileReader::ParseSectionHeader(const uint8_t* block, uint32_t len) {
  if (len < 28) return Corruption(name_ + ": section header block too short" + At(offset()));
  const uint16_t major = U16(block + 12);
  if (major != 1) {
    return Corruption(name_ + ": unsupported pcapng version " + std::to_string(major) +
                      At(offset()));
  }
  interfaces_.clear();  // interface ids are per section
  return Status::Ok();
}

Status FileReader::ParseInterface(const uint8_t* block, uint32_t len) {
  if (len < 20) {
    return Corruption(name_ + ": interface description block too short" + At(offset()));
  }
  Interface itf{U16(block + 8), U32(block + 12), false, 6, 0};
  // Options: code(2) length(2) value padded to 4 bytes, up to the trailing length field.
  size_t i = 16;
  const size_t end = len - 4;
  while (i + 4 <= end) {
    const uint16_t code = U16(block + i);
    const uint16_t olen = U16(block + i + 2);
    if (code == 0) break;  // opt_endofopt
    const size_t padded = (size_t{olen} + 3) & ~size_t{3};
    if (i + 4 + padded > end) {
      return Corruption(name_ + ": interface option overruns its block" + At(offset() + i));
    }
    const uint8_t* v = block + i + 4;
    if (code == 9 && olen == 1) {  // if_tsresol
      itf.resol_pow2 = v[0] & 0x80;
      itf.resol_exp = v[0] & 0x7f;
      if ((itf.resol_pow2 && itf.resol_exp > 63) || (!itf.resol_pow2 && itf.resol_exp > 18)) {
        return Corruption(name_ + ": if_tsresol out of range" + At(offset() + i));
      }
    } else if (code == 14 && olen == 8) {  // if_tsoffset, seconds
      const uint64_t lo = U32(v), hi = U32(v + 4);
      itf.offset_s = static_cast<int64_t>(swapped_ ? (lo << 32) | hi : (hi << 32) | lo);
    }
    i += 4 + padded;
  }
  interfaces_.push_back(itf);
  return Status::Ok();
}

bool FileReader::NextPcapng(Packet* out) {
  for (;;) {
    if (!Ensure(12)) {
      if (len_ - pos_ == 0 && status_.ok()) {
        done_ = true;
        return false;
      }
      return Fail(Corruption(name_ + ": truncated pcapng block header (" +
                             std::to_string(len_ - pos_) + " bytes)" + At(offset())));
    }
    const uint8_t* b = buf_ + pos_;
    const uint32_t raw_type = LoadLe32(b);
    if (raw_type == kPcapngShb) {
      const uint32_t bom = LoadLe32(b + 8);
      if (bom == kPcapngByteOrder) {
        swapped_ = false;
      } else if (Bswap32(bom) == kPcapngByteOrder) {
        swapped_ = true;
      } else {
        return Fail(Corruption(name_ + ": bad pcapng byte-order magic" + At(offset() + 8)));
      }
    } else if (interfaces_.empty() && offset() == 0) {
      return Fail(Corruption(name_ + ": pcapng file does not start with a section header"));
    }
    const uint32_t type = U32(b);
    const uint32_t len = U32(b + 4);
    if (len < 12 || len % 4 != 0 || len > kMaxRecord + 4096) {
      return Fail(
          Corruption(name_ + ": bad pcapng block length " + std::to_string(len) + At(offset())));
    }
    if (!Ensure(len)) {
      return Fail(Corruption(name_ + ": truncated pcapng block: " + std::to_string(len) +
                             " bytes announced, " + std::to_string(len_ - pos_) + " present" +
                             At(offset())));
    }
    b = buf_ + pos_;
    if (U32(b + len - 4) != len) {
      return Fail(Corruption(name_ + ": pcapng block trailer length mismatch" + At(offset())));
    }
    Status st;
    switch (type) {
      case kPcapngShb:
        st = ParseSectionHeader(b, len);
        break;
      case kBlockIdb:
        st = ParseInterface(b, len);
        break;
      case kBlockEnhancedPacket:
      case kBlockObsoletePacket: {
        const bool epb = type == kBlockEnhancedPacket;
        if (len < 32) {
          return Fail(Corruption(name_ + ": packet block too short" + At(offset())));
        }
        const uint32_t ifid = epb ? U32(b + 8) : U16(b + 8);
        if (ifid >= interfaces_.size()) {
          return Fail(Corruption(name_ + ": packet block names interface " + std::to_string(ifid) +
                                 ", which was not described" + At(offset())));
        }
        const uint32_t caplen = U32(b + 20);
        uint32_t wire_len = U32(b + 24);
        if (caplen > len - 32) {
          return Fail(Corruption(name_ + ": packet data length " + std::to_string(caplen) +
                                 " overruns its block" + At(offset())));
        }
        ++counts_.records;
        if (caplen > wire_len) {
          ++counts_.caplen_exceeds_len;
          wire_len = caplen;
        }
        const Interface& itf = interfaces_[ifid];
        const uint64_t ts = (uint64_t{U32(b + 12)} << 32) | U32(b + 16);
        out->ts_us = ToMicros(itf, ts);
        out->data = b + 28;
        out->caplen = caplen;
        out->wire_len = wire_len;
        out->linktype = itf.linktype;
        pos_ += len;
        return true;
      }
      case kBlockSimplePacket:
        ++counts_.records;
        ++counts_.simple_packet_no_timestamp;
        break;
      default:
        break;  // name resolution, statistics, custom …: nothing for us
    }
    if (!st.ok()) return Fail(std::move(st));
    pos_ += len;
  }
}

}  // namespace isdas::capture
