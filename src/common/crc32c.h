#pragma once

// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), as used by iSCSI (RFC 3720 §B.4)
// and leveldb's log format. Guards spool records against torn and corrupted writes.

#include <cstddef>
#include <cstdint>

namespace isdas {

// Extends `crc` (0 to start) over n bytes.
uint32_t Crc32c(const uint8_t* data, size_t n, uint32_t crc = 0);

}  // namespace isdas
