#pragma once

// Text forms of an event: CSV (header line first) and JSON Lines. Columns and their
// meanings: docs/decode-output.md. Appends to a caller-owned string so a writer can batch.

#include <string>

#include "model/event.h"

namespace isdas::output {

// The CSV header line, without the newline.
const std::string& CsvHeader();
void AppendCsv(const model::Event& ev, std::string* out);   // one line, with '\n'
void AppendJson(const model::Event& ev, std::string* out);  // one object, with '\n'

}  // namespace isdas::output
