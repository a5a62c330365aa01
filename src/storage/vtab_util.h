#pragma once

// Pieces shared by the SQLite store's virtual tables (events_table.cc, rollup_packs.cc).

#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <new>
#include <string>

namespace isdas::storage {

// A bound from a constraint as an integer: the columns are integers, so a real or text bound
// is taken at its widest (SQLite's own comparison still decides the rows).
inline int64_t IntegerBound(sqlite3_value* v, bool lower) {
  if (sqlite3_value_numeric_type(v) == SQLITE_INTEGER) return sqlite3_value_int64(v);
  if (sqlite3_value_numeric_type(v) == SQLITE_FLOAT) {
    const double d = sqlite3_value_double(v);
    if (d >= -9.2e18 && d <= 9.2e18) return static_cast<int64_t>(lower ? d - 1 : d + 1);
  }
  return lower ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

// Sets the message SQLite reports for a failed call of the table's cursor; returns `rc`.
inline int VtabError(sqlite3_vtab* table, int rc, const std::string& message) {
  sqlite3_free(table->zErrMsg);
  table->zErrMsg = sqlite3_mprintf("%s", message.c_str());
  return rc;
}

// xOpen of a table whose cursor type C holds its sqlite3_vtab_cursor as `base`.
template <typename C>
int OpenCursor(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* c = new (std::nothrow) C;
  if (!c) return SQLITE_NOMEM;
  *out = &c->base;
  return SQLITE_OK;
}

// The module of an eponymous, read-only virtual table (no xCreate: the table exists on every
// connection that registers the module, under the module's name).
template <typename C>
sqlite3_module ReadOnlyModule(
    decltype(sqlite3_module::xConnect) connect, decltype(sqlite3_module::xBestIndex) best_index,
    decltype(sqlite3_module::xDisconnect) disconnect, decltype(sqlite3_module::xClose) close,
    decltype(sqlite3_module::xFilter) filter, decltype(sqlite3_module::xNext) next,
    decltype(sqlite3_module::xEof) eof, decltype(sqlite3_module::xColumn) column,
    decltype(sqlite3_module::xRowid) rowid) {
  sqlite3_module m{};
  m.iVersion = 1;
  m.xConnect = connect;
  m.xBestIndex = best_index;
  m.xDisconnect = disconnect;
  m.xDestroy = disconnect;
  m.xOpen = OpenCursor<C>;
  m.xClose = close;
  m.xFilter = filter;
  m.xNext = next;
  m.xEof = eof;
  m.xColumn = column;
  m.xRowid = rowid;
  return m;
}

}  // namespace isdas::storage
