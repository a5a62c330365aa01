#pragma once

// ByteReader: bounds-checked, big-endian (network order) reads over a byte span.
// Every read checks the remaining length first; a failed read returns false and leaves the
// reader where it was, so protocol code never reads past the captured bytes.
// Not thread-safe; cheap to copy (a pointer and two sizes).

#include <cstddef>
#include <cstdint>
#include <span>

namespace isdas {

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const uint8_t> data) : data_(data.data()), size_(data.size()) {}
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t remaining() const { return size_ - pos_; }
  size_t position() const { return pos_; }
  const uint8_t* current() const { return data_ + pos_; }
  bool Has(size_t n) const { return n <= size_ - pos_; }

  bool Skip(size_t n) {
    if (!Has(n)) return false;
    pos_ += n;
    return true;
  }
  bool ReadU8(uint8_t* v) {
    if (!Has(1)) return false;
    *v = data_[pos_++];
    return true;
  }
  bool ReadU16(uint16_t* v) {
    if (!Has(2)) return false;
    *v = PeekU16Unchecked(0);
    pos_ += 2;
    return true;
  }
  bool ReadU32(uint32_t* v) {
    if (!Has(4)) return false;
    *v = PeekU32Unchecked(0);
    pos_ += 4;
    return true;
  }
  // Reads at an offset from the current position without moving.
  bool PeekU8(size_t off, uint8_t* v) const {
    if (off >= remaining()) return false;
    *v = data_[pos_ + off];
    return true;
  }
  bool PeekU16(size_t off, uint16_t* v) const {
    if (off > remaining() || !Has(off + 2)) return false;
    *v = PeekU16Unchecked(off);
    return true;
  }
  bool PeekU32(size_t off, uint32_t* v) const {
    if (off > remaining() || !Has(off + 4)) return false;
    *v = PeekU32Unchecked(off);
    return true;
  }
  // Narrows the reader to the next n bytes (n is clamped to what remains).
  ByteReader Sub(size_t n) const {
    return ByteReader(data_ + pos_, n < remaining() ? n : remaining());
  }
  // Drops bytes past `n` from the end (used to cut link-layer padding).
  void Truncate(size_t n) {
    if (n < remaining()) size_ = pos_ + n;
  }

 private:
  uint16_t PeekU16Unchecked(size_t off) const {
    const uint8_t* p = data_ + pos_ + off;
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
  }
  uint32_t PeekU32Unchecked(size_t off) const {
    const uint8_t* p = data_ + pos_ + off;
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  }

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
};

// Little-endian loads for file formats written in host order (pcap, pcapng).
inline uint16_t LoadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
inline uint16_t LoadBe16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace isdas
