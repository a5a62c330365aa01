#pragma once

// Where an event's source is (docs/geo.md), filled in at ingest: ISO country or XP/XR/ZZ,
// AS number (0 unknown), and whether the source is a known research scanner
// (docs/research-scanners.md).

#include <cstdint>

namespace isdas::model {

struct SourceInfo {
  char country[2] = {0, 0};  // {0,0}: not looked up
  uint32_t asn = 0;
  uint8_t research = 0;  // 1: on the research-scanner list
};

}  // namespace isdas::model
