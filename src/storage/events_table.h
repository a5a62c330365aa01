#pragma once

// The `events` table of a SQLite store, read from its blocks (event_blocks.h): a read-only,
// eponymous virtual table with the columns of docs/storage-sqlite.md, so SQL over events
// (`SELECT … FROM events WHERE ts >= …`) works as on a plain table. Conditions on `ts` choose
// the blocks to open (by their first and last times); every other condition is checked by
// SQLite on the rows. SqliteStore registers it on its connection; any other connection to an
// isdas database (tests, tools) calls RegisterEventsTable first. The sqlite3 shell does not
// know it: use `isdas sql` (docs/cli.md).

#include "common/status.h"
#include "storage/event_blocks.h"

struct sqlite3;
struct sqlite3_stmt;

namespace isdas::storage {

// Makes `events` readable on `db`; false (with SQLite's message in `db`) if it cannot.
bool RegisterEventsTable(sqlite3* db);

// Decodes the block in column `data_col` of `st`'s current row into `out`; a damaged block is
// kCorruption naming it by the id in column `id_col` ("event block 3: …").
Status DecodeBlockColumn(sqlite3_stmt* st, int id_col, int data_col, EventBlock* out);

}  // namespace isdas::storage
