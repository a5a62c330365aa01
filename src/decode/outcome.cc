#include "decode/outcome.h"

namespace isdas::decode {
namespace {

constexpr std::string_view kNames[] = {
#define ISDAS_OUTCOME_NAME(e, name, anomaly) name,
    ISDAS_OUTCOMES(ISDAS_OUTCOME_NAME)
#undef ISDAS_OUTCOME_NAME
};
constexpr bool kAnomaly[] = {
#define ISDAS_OUTCOME_ANOMALY(e, name, anomaly) anomaly,
    ISDAS_OUTCOMES(ISDAS_OUTCOME_ANOMALY)
#undef ISDAS_OUTCOME_ANOMALY
};

}  // namespace

std::string_view OutcomeName(Outcome o) { return kNames[static_cast<size_t>(o)]; }
bool IsAnomaly(Outcome o) { return kAnomaly[static_cast<size_t>(o)]; }

uint64_t OutcomeCounts::packets() const {
  uint64_t n = 0;
  for (uint64_t v : by) n += v;
  return n;
}

uint64_t OutcomeCounts::anomalies() const {
  uint64_t n = 0;
  for (size_t i = 0; i < kOutcomeCount; ++i) {
    if (kAnomaly[i]) n += by[i];
  }
  return n;
}

}  // namespace isdas::decode
