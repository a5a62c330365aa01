#include "storage/events_table.h"

#include <sqlite3.h>

#include <cstring>
#include <limits>
#include <new>
#include <string>

#include "model/event_fields.h"
#include "storage/event_blocks.h"
#include "storage/vtab_util.h"

namespace isdas::storage {
namespace {

// Columns: ts, sensor, proto, src, dst, sport, dport, then the event's number fields
// (model/event_fields.h) from kFirstNumber on, then the labels, the import and the enrichment.
constexpr int kTs = 0;
constexpr int kFirstNumber = 7;
constexpr int kAfterNumbers = kFirstNumber + static_cast<int>(model::kNumberFields.size());
enum Col { kKind = kAfterNumbers, kTool, kSpoof, kImportId, kSrcCountry, kSrcAsn, kSrcResearch };

const std::string& Declaration() {
  static const std::string sql = [] {
    std::string d =
        "CREATE TABLE x(ts INTEGER, sensor INTEGER, proto INTEGER, src BLOB, dst BLOB, "
        "sport INTEGER, dport INTEGER";
    for (const model::NumberField& f : model::kNumberFields)
      d += ", " + std::string(f.name) + " INTEGER";
    return d +
           ", kind INTEGER, tool INTEGER, spoof INTEGER, import_id INTEGER, src_country TEXT, "
           "src_asn INTEGER, src_research INTEGER)";
  }();
  return sql;
}

// idxNum bits: which bounds on ts xFilter receives, in this order.
constexpr int kLower = 1;
constexpr int kUpper = 2;
constexpr int kEqual = 4;  // ts = v: one argument for both bounds

struct Table {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
};

struct Cursor {
  sqlite3_vtab_cursor base{};
  sqlite3_stmt* blocks = nullptr;  // the chosen blocks, in id order
  EventBlock block;
  int64_t block_id = 0;
  int64_t import_id = 0;
  size_t i = 0;
  bool eof = true;
};

int Connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char** err) {
  if (int rc = sqlite3_declare_vtab(db, Declaration().c_str()); rc != SQLITE_OK) return rc;
  auto* t = new (std::nothrow) Table;
  if (!t) return SQLITE_NOMEM;
  t->db = db;
  *out = &t->base;
  (void)err;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* v) {
  delete reinterpret_cast<Table*>(v);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  int lower = -1, upper = -1;
  for (int c = 0; c < info->nConstraint; ++c) {
    const auto& k = info->aConstraint[c];
    if (!k.usable || k.iColumn != kTs) continue;
    switch (k.op) {
      case SQLITE_INDEX_CONSTRAINT_EQ:
        lower = upper = c;
        break;
      case SQLITE_INDEX_CONSTRAINT_GT:
      case SQLITE_INDEX_CONSTRAINT_GE:
        if (lower < 0) lower = c;
        break;
      case SQLITE_INDEX_CONSTRAINT_LT:
      case SQLITE_INDEX_CONSTRAINT_LE:
        if (upper < 0) upper = c;
        break;
      default:
        break;
    }
  }
  // Blocks are chosen by bounds that contain the condition's; SQLite still checks every row
  // (no `omit`), so a strict bound taken as inclusive only opens a block more.
  int arg = 0;
  info->idxNum = 0;
  if (lower >= 0) {
    info->idxNum |= kLower;
    info->aConstraintUsage[lower].argvIndex = ++arg;
  }
  if (upper >= 0 && upper == lower) {
    info->idxNum = kEqual;
  } else if (upper >= 0) {
    info->idxNum |= kUpper;
    info->aConstraintUsage[upper].argvIndex = ++arg;
  }
  const bool both = arg == 2 || info->idxNum == kEqual;
  info->estimatedCost = both ? 1e3 : arg == 1 ? 1e5 : 1e7;
  info->estimatedRows = both ? 1000 : arg == 1 ? 100000 : 10000000;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* v) {
  auto* c = reinterpret_cast<Cursor*>(v);
  sqlite3_finalize(c->blocks);
  delete c;
  return SQLITE_OK;
}

int Fail(Cursor* c, int rc, const std::string& message) {
  c->eof = true;
  return VtabError(c->base.pVtab, rc, "events: " + message);
}

// Opens blocks until one has events (or none is left).
int NextBlock(Cursor* c) {
  for (;;) {
    const int rc = sqlite3_step(c->blocks);
    if (rc == SQLITE_DONE) {
      c->eof = true;
      return SQLITE_OK;
    }
    if (rc != SQLITE_ROW) {
      c->eof = true;
      return rc;
    }
    c->block_id = sqlite3_column_int64(c->blocks, 0);
    c->import_id = sqlite3_column_int64(c->blocks, 1);
    Status s = DecodeBlockColumn(c->blocks, 0, 2, &c->block);
    if (!s.ok()) return Fail(c, SQLITE_CORRUPT, s.message());
    c->i = 0;
    if (!c->block.events.empty()) {
      c->eof = false;
      return SQLITE_OK;
    }
  }
}

int Filter(sqlite3_vtab_cursor* v, int idx, const char*, int argc, sqlite3_value** argv) {
  auto* c = reinterpret_cast<Cursor*>(v);
  auto* t = reinterpret_cast<Table*>(v->pVtab);
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  int a = 0;
  if ((idx & kEqual) && argc == 1) {
    lo = IntegerBound(argv[0], true);
    hi = IntegerBound(argv[0], false);
  }
  if ((idx & kLower) && a < argc) lo = IntegerBound(argv[a++], true);
  if ((idx & kUpper) && a < argc) hi = IntegerBound(argv[a++], false);
  if (!c->blocks && sqlite3_prepare_v2(t->db,
                                       "SELECT id, import_id, data FROM event_blocks "
                                       "WHERE ts_max >= ?1 AND ts_min <= ?2 ORDER BY id",
                                       -1, &c->blocks, nullptr) != SQLITE_OK) {
    return Fail(c, SQLITE_ERROR, sqlite3_errmsg(t->db));
  }
  sqlite3_reset(c->blocks);
  sqlite3_bind_int64(c->blocks, 1, lo);
  sqlite3_bind_int64(c->blocks, 2, hi);
  c->block.events.clear();
  return NextBlock(c);
}

int Next(sqlite3_vtab_cursor* v) {
  auto* c = reinterpret_cast<Cursor*>(v);
  if (++c->i < c->block.events.size()) return SQLITE_OK;
  return NextBlock(c);
}

int Eof(sqlite3_vtab_cursor* v) { return reinterpret_cast<Cursor*>(v)->eof; }

void Address(sqlite3_context* ctx, const model::IpAddr& a) {
  sqlite3_result_blob(ctx, a.bytes, static_cast<int>(a.size()), SQLITE_TRANSIENT);
}

int Column(sqlite3_vtab_cursor* v, sqlite3_context* ctx, int col) {
  auto* c = reinterpret_cast<Cursor*>(v);
  const model::Event& e = c->block.events[c->i];
  const model::SourceInfo& s = c->block.sources[c->i];
  switch (col) {
    case 0:
      sqlite3_result_int64(ctx, e.ts_us);
      break;
    case 1:
      sqlite3_result_int64(ctx, e.sensor_id);
      break;
    case 2:
      sqlite3_result_int(ctx, e.proto);
      break;
    case 3:
      Address(ctx, e.src);
      break;
    case 4:
      Address(ctx, e.dst);
      break;
    case 5:
      sqlite3_result_int(ctx, e.sport);
      break;
    case 6:
      sqlite3_result_int(ctx, e.dport);
      break;
    case kKind:
      sqlite3_result_int(ctx, static_cast<int>(e.labels.kind));
      break;
    case kTool:
      sqlite3_result_int(ctx, static_cast<int>(e.labels.tool));
      break;
    case kSpoof:
      sqlite3_result_int(ctx, e.labels.spoof);
      break;
    case kImportId:
      sqlite3_result_int64(ctx, c->import_id);
      break;
    case kSrcCountry:
      if (s.country[0] == 0) {
        sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
      } else {
        sqlite3_result_text(ctx, s.country, 2, SQLITE_TRANSIENT);
      }
      break;
    case kSrcAsn:
      sqlite3_result_int64(ctx, s.asn);
      break;
    case kSrcResearch:
      sqlite3_result_int(ctx, s.research);
      break;
    default:
      if (col >= kFirstNumber && col < kAfterNumbers) {
        sqlite3_result_int64(ctx,
                             model::kNumberFields[static_cast<size_t>(col - kFirstNumber)].get(e));
      } else {
        sqlite3_result_null(ctx);
      }
      break;
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* v, sqlite3_int64* out) {
  auto* c = reinterpret_cast<Cursor*>(v);
  *out = c->block_id << 20 | static_cast<int64_t>(c->i);
  return SQLITE_OK;
}

const sqlite3_module kModule =
    ReadOnlyModule<Cursor>(Connect, BestIndex, Disconnect, Close, Filter, Next, Eof, Column, Rowid);

}  // namespace

Status DecodeBlockColumn(sqlite3_stmt* st, int id_col, int data_col, EventBlock* out) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(st, data_col));
  const size_t n = static_cast<size_t>(sqlite3_column_bytes(st, data_col));
  Status s = DecodeEventBlock(std::string_view(data ? data : "", n), out);
  if (s.ok()) return s;
  return Corruption("event block " + std::to_string(sqlite3_column_int64(st, id_col)) + ": " +
                    s.message());
}

bool RegisterEventsTable(sqlite3* db) {
  return sqlite3_create_module_v2(db, "events", &kModule, nullptr, nullptr) == SQLITE_OK;
}

}  // namespace isdas::storage
