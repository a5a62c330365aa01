#pragma once

// Classifier: labels a decoded event with its traffic kind, the scanning tool whose
// fingerprint it carries, and reasons to suspect a spoofed source. The rules are versioned;
// kRulesVersion is stored with every import and batch so labels can be traced to the rules
// that made them. Every rule is documented in docs/classifier.md. Stateless, thread-safe.

#include <cstdint>

#include "model/event.h"

namespace isdas::classify {

// Bump when any rule's outcome changes for some input (and update docs/classifier.md).
inline constexpr uint32_t kRulesVersion = 2;

model::TrafficKind ClassifyKind(const model::Event& ev);
model::Tool ClassifyTool(const model::Event& ev);
uint8_t ClassifySpoof(const model::Event& ev);

// UDP source ports of the services abused as amplifiers in reflection attacks
// (docs/classifier.md lists them with their sources): a datagram from one of them to an
// unprivileged port answers a request that carried our address as its source.
bool IsAmplifierPort(uint16_t port);

// Sets ev->labels from the three rules above.
inline void Classify(model::Event* ev) {
  ev->labels.kind = ClassifyKind(*ev);
  ev->labels.tool = ClassifyTool(*ev);
  ev->labels.spoof = ClassifySpoof(*ev);
}

}  // namespace isdas::classify
