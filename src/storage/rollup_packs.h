#pragma once

// Rollup rows of a SQLite store, kept in packs (docs/storage-sqlite.md#rollup-packs): the rows
// of one (family, bucket, part of the key space) encoded together in one blob of
// `rollup_<res>_packs`, sorted by key and filter dimensions. A SQLite row a rollup row cost
// ~2-3 µs to upsert, and the collector writes ~0.4 rollup rows an event; a pack of a few hundred
// rows is one insert (BENCHMARKS.md).
//
// Reading: `rollup_5m`, `rollup_1h` and `rollup_1d` are eponymous virtual tables with the
// columns of a rollup row (family, key, bucket, sensor, proto, kind, tool, research, packets,
// first_us, last_us, srcs, dsts), so SQL over rollups works as on plain tables. Conditions on
// family, bucket and key choose the packs to open; SQLite checks every condition on the rows.
// SqliteStore registers them; any other connection calls RegisterRollupTables first.
//
// Writing: PackWriter writes rows for a pack that exists as a delta pack of the same id
// (`rollup_<res>_deltas`), without reading the pack, up to kMaxDeltas of them; the next write
// merges the pack, its deltas and the new rows into the pack (a row in both has packets summed,
// first/last widened, distinct counters merged) and deletes the deltas. Reading merges a pack's
// deltas into it, so the tables show each key once however often its bucket is written (the
// day's rows, written at every bound on the collector's memory, were read, merged and written
// back whole each time: BENCHMARKS.md).

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "rollup/rollup.h"
#include "storage/rollup_buffer.h"

struct sqlite3;
struct sqlite3_stmt;

namespace isdas::storage {

// How many low bits of a family's key the part leaves out: a part holds the keys k with
// k >> PartShift(f) equal (16 ports; the countries of one first letter; 1,024 AS numbers; one
// port's pairs). Small, because reading one key decodes its whole pack (a busy port's row
// holds two 4 KiB sketches; with 256 ports a pack, a year's series of one port read 26 MB).
// Fixed by the format: every write of a bucket puts a key into the same part.
int PartShift(rollup::Family f);
inline int64_t PartOf(rollup::Family f, uint64_t key) {
  return static_cast<int64_t>(key >> PartShift(f));
}

// One row of a pack; the counters' bytes are views (into the pack, or the writer's buffers).
struct PackRow {
  uint64_t key = 0;
  uint32_t sensor = 0;
  uint8_t proto = 0, kind = 0, tool = 0, research = 0, spoof = 0;
  uint64_t packets = 0;
  int64_t first_us = 0, last_us = 0;
  std::string_view sources, destinations;
};
// Order of rows in a pack: by key, then the filter dimensions.
bool PackOrder(const PackRow& a, const PackRow& b);
bool SameRow(const PackRow& a, const PackRow& b);  // the same key and dimensions

// Encodes rows of one bucket in PackOrder, each key and dimensions once, all in one part of
// one family (DecodePack checks both).
void EncodePack(int64_t bucket, std::span<const PackRow> rows, std::string* out);
// Decodes a pack (rows viewing `data`). A damaged pack — bytes missing or left over, an
// unknown version, rows out of order or outside the part, times that overflow — is
// kCorruption saying what and at which byte; `out` is then unspecified.
Status DecodePack(std::string_view data, rollup::Family f, int64_t bucket, int64_t part,
                  std::vector<PackRow>* out);

// Merges two lists of rows, each in PackOrder (a key may repeat), into `out` in PackOrder with
// each key once: equal rows become one, their counters merged into strings of `scratch` from
// index *used on (kept there, as the rows view them). On a damaged counter, kCorruption.
Status MergePackRows(std::span<const PackRow> a, std::span<const PackRow> b,
                     std::vector<PackRow>* out, std::deque<std::string>* scratch, size_t* used);

// Moves meta.rollup_generation on, in the transaction that changes rollups (a write of rows,
// retention, recovery): a reader that saw the same generation before knows no rollup changed
// since (the query API's answer cache, docs/api.md#answer-cache).
inline constexpr const char* kBumpRollupGeneration =
    "INSERT INTO meta(key, value) VALUES('rollup_generation', '1') ON CONFLICT(key) DO UPDATE "
    "SET value = CAST(value AS INTEGER) + 1";

// Delta packs a pack may have before a write merges them into it: a read decodes at most
// kMaxDeltas + 1 blobs a pack, and a pack is rewritten at most every kMaxDeltas + 1 writes.
inline constexpr int kMaxDeltas = 3;

// Reads packs whole: a pack's bytes decoded and its deltas merged in. Prepare once per
// connection and resolution.
class PackReader {
 public:
  PackReader() = default;
  PackReader(const PackReader&) = delete;
  PackReader& operator=(const PackReader&) = delete;
  ~PackReader();
  Status Prepare(sqlite3* db, rollup::Resolution r);
  // The rows of pack `id` (of family f, bucket, part), whose stored bytes are `pack`, with its
  // deltas merged in, into `rows` in PackOrder. Rows view `pack` and this reader's buffers
  // (until the next call). A damaged pack or delta is kCorruption naming its table and id.
  Status Read(std::string_view pack, int64_t id, rollup::Family f, int64_t bucket, int64_t part,
              std::vector<PackRow>* rows);

 private:
  sqlite3* db_ = nullptr;
  rollup::Resolution res_ = rollup::Resolution::k5m;
  sqlite3_stmt* deltas_ = nullptr;
  std::deque<std::string> blobs_, scratch_;
  std::vector<PackRow> decoded_, merged_;
};

// Writes rows into the packs of one resolution, inside the caller's transaction: a new pack,
// a delta of one, or the pack merged with its deltas and the rows (above). Rows of families
// not kept at this resolution (rollup::Finest) are skipped.
class PackWriter {
 public:
  PackWriter() = default;
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;
  ~PackWriter();
  Status Prepare(sqlite3* db, rollup::Resolution r);
  // Rows may come in any order (sorted here when not in the packs' order already) and hold a
  // key more than once. `written` counts the rows taken.
  Status Write(const StoredRows& rows, uint64_t* written);
  // Rows [begin, end) only.
  Status Write(const StoredRows& rows, size_t begin, size_t end, uint64_t* written);
  // Where rows sorted in the packs' order, cut at `i`, may be cut without splitting a pack
  // between two writes (each would write it: a delta more, or a merge): `i`, or past the rows
  // of the pack that row i - 1 is in.
  static size_t PackEnd(const StoredRows& rows, size_t i);
  // Buckets that end at or before `t` (seconds) are closed: a write to a pack of one merges
  // into it at once, deltas and all, so history reads one blob a pack (a collector's closed
  // mark; INT64_MIN, the default: none).
  void set_closed_before(int64_t t) { closed_before_ = t; }

 private:
  Status Error(const char* what);
  // Writes `rows` (sorted) to the pack of (f, bucket, part).
  Status WritePart(rollup::Family f, int64_t bucket, int64_t part, std::span<const PackRow> rows);
  Status Step(sqlite3_stmt* st, const char* what);  // runs and resets a write

  sqlite3* db_ = nullptr;
  rollup::Resolution res_ = rollup::Resolution::k5m;
  int64_t closed_before_ = INT64_MIN;
  sqlite3_stmt* state_ = nullptr;  // whether the pack exists, and its deltas
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* update_ = nullptr;
  sqlite3_stmt* add_delta_ = nullptr;
  sqlite3_stmt* drop_deltas_ = nullptr;
  sqlite3_stmt* bump_ = nullptr;  // kBumpRollupGeneration
  PackReader reader_;
  // Reused between writes.
  std::vector<uint32_t> order_;  // the rows kept at this resolution, in the packs' order
  std::vector<PackRow> stored_, merged_, group_;
  std::deque<std::string> scratch_;  // counters merged while writing one pack (views stay)
  std::string old_, blob_;
};

// The packs table of a resolution: "rollup_5m_packs".
std::string PacksTable(rollup::Resolution r);
// Its deltas table: "rollup_5m_deltas" (id, rows, data; indexed by id).
std::string DeltasTable(rollup::Resolution r);
// Packs the rollup tables' cursors have decoded in this process (tests check that an IN list
// reads each pack it needs once).
uint64_t PacksDecodedByReads();

// SQL creating the packs and deltas tables (and the deltas' index), and meta, if missing.
std::string PacksSchema();

// The rowid of a pack: its family, bucket number (bucket / width, offset to stay positive)
// and part in one integer, in that order — family << 58 | (bucket / width + 2^33) << 24 |
// part — so a pack is one seek of the table's own B-tree, and a family's buckets one range
// of it (there is no other index). kInvalidArgument for an unknown family, a bucket not at a
// multiple of the resolution's width, or a bucket or part out of range.
Result<int64_t> PackId(rollup::Resolution r, rollup::Family f, int64_t bucket, int64_t part);
// The range of ids holding every pack with family, bucket (seconds, any values) and part in
// the given inclusive ranges (with others: check the columns); false when none can.
bool PackIdRange(rollup::Resolution r, int64_t family_lo, int64_t family_hi, int64_t bucket_lo,
                 int64_t bucket_hi, int64_t part_lo, int64_t part_hi, int64_t* lo, int64_t* hi);
// The statement the virtual tables choose packs with. Parameters: ?1-?2 the id range, ?3-?4
// family, ?5-?6 bucket, ?7-?8 part, each inclusive (tests check its plan).
std::string PackSelectSql(rollup::Resolution r);

// Makes rollup_5m, rollup_1h and rollup_1d readable on `db`; false (with SQLite's message in
// `db`) if it cannot. A real table of one of those names (a store before schema version 6)
// hides the virtual one until it is dropped.
bool RegisterRollupTables(sqlite3* db);

}  // namespace isdas::storage
