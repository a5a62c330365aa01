#pragma once

// The `events` table of a SQLite store, read from its blocks (event_blocks.h): a read-only,
// eponymous virtual table with the columns of docs/storage-sqlite.md, so SQL over events
// (`SELECT … FROM events WHERE ts >= …`) works as on a plain table. Conditions on `ts` choose
// the blocks to open (by their first and last times); every other condition is checked by
// SQLite on the rows. SqliteStore registers it on its connection; any other connection to an
// isdas database (tests, tools) calls RegisterEventsTable first. The sqlite3 shell does not
// know it: use `isdas sql` (docs/cli.md).

struct sqlite3;

namespace isdas::storage {

// Makes `events` readable on `db`; false (with SQLite's message in `db`) if it cannot.
bool RegisterEventsTable(sqlite3* db);

}  // namespace isdas::storage
