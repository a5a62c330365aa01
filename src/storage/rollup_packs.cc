#include "storage/rollup_packs.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <new>
#include <tuple>

#include "common/byte_reader.h"
#include "storage/vtab_util.h"

namespace isdas::storage {
namespace {

constexpr uint8_t kPackVersion = 1;
constexpr size_t kHeader = 5;  // version, u32 row count (little-endian)

void PutVarint(std::string* out, uint64_t v) {
  char buf[10];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, static_cast<size_t>(n));
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

// Times are stored as differences that wrap (two's complement both ways), so any int64
// round-trips.
int64_t Minus(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t Plus(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t BucketUs(int64_t bucket) {
  return static_cast<int64_t>(static_cast<uint64_t>(bucket) * 1000000u);
}

// An unsigned LEB128 varint of at most 64 bits.
bool ReadVarint(ByteReader* rd, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!rd->ReadU8(&b)) return false;
    if (shift == 63 && b > 1) return false;  // more than 64 bits
    r |= uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

// A varint length and that many bytes, viewed where they are.
bool ReadBytes(ByteReader* rd, std::string_view* v) {
  uint64_t len;
  if (!ReadVarint(rd, &len) || len > rd->remaining()) return false;
  *v = std::string_view(reinterpret_cast<const char*>(rd->current()), len);
  return rd->Skip(len);
}

auto Tie(const PackRow& r) {
  return std::tie(r.key, r.sensor, r.proto, r.kind, r.tool, r.research, r.spoof);
}

// Merges serialized counter `b` into `a`, the result kept in `scratch`.
Status MergeCounter(std::string_view* a, std::string_view b, std::string* scratch) {
  ISDAS_RETURN_IF_ERROR(rollup::DistinctCounter::MergeBytes(*a, b, scratch));
  *a = *scratch;
  return Status::Ok();
}

}  // namespace

int PartShift(rollup::Family f) {
  switch (f) {
    case rollup::Family::kTotal:
      return 0;
    case rollup::Family::kPort:
      return 4;  // 16 ports
    case rollup::Family::kCountry:
      return 8;  // the countries of one first letter
    case rollup::Family::kAsn:
      return 10;
    case rollup::Family::kPortCountry:
      return 16;  // port << 16 | country: one port's countries
    case rollup::Family::kPortAsn:
      return 32;  // retired (port << 32 | AS)
    case rollup::Family::kPortFlags:
      return 8;  // port << 8 | flags: one port's
  }
  return 63;
}

bool PackOrder(const PackRow& a, const PackRow& b) { return Tie(a) < Tie(b); }
bool SameRow(const PackRow& a, const PackRow& b) { return Tie(a) == Tie(b); }

void EncodePack(int64_t bucket, std::span<const PackRow> rows, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kPackVersion));
  const auto count = static_cast<uint32_t>(rows.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(count >> (8 * i)));
  uint64_t prev = 0;  // the first key whole: a pack read as another part's is refused
  const int64_t base = BucketUs(bucket);
  for (const PackRow& r : rows) {
    PutVarint(out, r.key - prev);
    prev = r.key;
    PutVarint(out, r.sensor);
    const char dims[4] = {static_cast<char>(r.proto), static_cast<char>(r.kind),
                          static_cast<char>(r.tool), static_cast<char>(r.research | r.spoof << 1)};
    out->append(dims, 4);
    PutVarint(out, r.packets);
    PutVarint(out, ZigZag(Minus(r.first_us, base)));
    PutVarint(out, ZigZag(Minus(r.last_us, r.first_us)));
    PutVarint(out, r.sources.size());
    out->append(r.sources);
    PutVarint(out, r.destinations.size());
    out->append(r.destinations);
  }
}

Status DecodePack(std::string_view data, rollup::Family f, int64_t bucket, int64_t part,
                  std::vector<PackRow>* out) {
  out->clear();
  ByteReader rd(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  auto bad = [&](const std::string& what) {
    return Corruption("rollup pack (family " + std::to_string(static_cast<int>(f)) + ", bucket " +
                      std::to_string(bucket) + ", part " + std::to_string(part) + "): " + what +
                      " at byte " + std::to_string(rd.position()) + " of " +
                      std::to_string(data.size()));
  };
  if (data.size() < kHeader) return bad("header cut short");
  if (static_cast<uint8_t>(data[0]) != kPackVersion) {
    return bad("unknown version " + std::to_string(static_cast<uint8_t>(data[0])));
  }
  uint32_t count = 0;
  for (int i = 0; i < 4; ++i) count |= uint32_t{static_cast<uint8_t>(data[1 + i])} << (8 * i);
  rd.Skip(kHeader);
  // A row takes at least 11 bytes (five varints, four bytes, two lengths): a larger count
  // cannot be true.
  if (count > (data.size() - kHeader) / 11) {
    return bad(std::to_string(count) + " rows claimed");
  }
  out->reserve(count);
  const int shift = PartShift(f);
  uint64_t prev = 0;
  const int64_t base = BucketUs(bucket);
  for (uint32_t i = 0; i < count; ++i) {
    PackRow r;
    uint64_t delta, sensor, first, span;
    uint8_t flags;  // bit 0 the research flag, bits 1-4 the spoof bits (before: 0 or 1)
    if (!ReadVarint(&rd, &delta) || !ReadVarint(&rd, &sensor) || !rd.ReadU8(&r.proto) ||
        !rd.ReadU8(&r.kind) || !rd.ReadU8(&r.tool) || !rd.ReadU8(&flags) ||
        !ReadVarint(&rd, &r.packets) || !ReadVarint(&rd, &first) || !ReadVarint(&rd, &span) ||
        !ReadBytes(&rd, &r.sources) || !ReadBytes(&rd, &r.destinations)) {
      return bad("row " + std::to_string(i) + " cut short");
    }
    if (flags >> 5) return bad("row " + std::to_string(i) + ": unknown flag bits");
    r.research = flags & 1;
    r.spoof = flags >> 1;
    r.key = prev + delta;
    if (r.key < prev || static_cast<int64_t>(r.key >> shift) != part) {
      return bad("row " + std::to_string(i) + ": key outside the part");
    }
    if (sensor > UINT32_MAX) return bad("row " + std::to_string(i) + ": sensor out of range");
    r.sensor = static_cast<uint32_t>(sensor);
    r.first_us = Plus(base, UnZigZag(first));
    r.last_us = Plus(r.first_us, UnZigZag(span));
    if (!out->empty() && !PackOrder(out->back(), r)) {
      return bad("row " + std::to_string(i) + " out of order");
    }
    prev = r.key;
    out->push_back(r);
  }
  if (rd.remaining() != 0) return bad(std::to_string(rd.remaining()) + " bytes left over");
  return Status::Ok();
}

std::string PacksTable(rollup::Resolution r) {
  return "rollup_" + std::string(rollup::Name(r)) + "_packs";
}

std::string DeltasTable(rollup::Resolution r) {
  return "rollup_" + std::string(rollup::Name(r)) + "_deltas";
}

Status MergePackRows(std::span<const PackRow> a, std::span<const PackRow> b,
                     std::vector<PackRow>* out, std::deque<std::string>* scratch, size_t* used) {
  out->clear();
  out->reserve(a.size() + b.size());
  Status failed;
  auto push = [&](const PackRow& r) {
    if (out->empty() || !SameRow(out->back(), r)) {
      out->push_back(r);
      return;
    }
    PackRow& m = out->back();
    m.packets += r.packets;
    m.first_us = std::min(m.first_us, r.first_us);
    m.last_us = std::max(m.last_us, r.last_us);
    while (scratch->size() < *used + 2) scratch->emplace_back();
    Status st = MergeCounter(&m.sources, r.sources, &(*scratch)[(*used)++]);
    if (st.ok()) st = MergeCounter(&m.destinations, r.destinations, &(*scratch)[(*used)++]);
    if (!st.ok() && failed.ok()) failed = st;
  };
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && !PackOrder(b[j], a[i]))) {
      push(a[i++]);
    } else {
      push(b[j++]);
    }
  }
  return failed;
}

PackReader::~PackReader() { sqlite3_finalize(deltas_); }

Status PackReader::Prepare(sqlite3* db, rollup::Resolution r) {
  db_ = db;
  res_ = r;
  if (sqlite3_prepare_v2(db, ("SELECT data FROM " + DeltasTable(r) + " WHERE id = ?").c_str(), -1,
                         &deltas_, nullptr) != SQLITE_OK) {
    return IoError("prepare " + DeltasTable(r) + ": " + sqlite3_errmsg(db));
  }
  return Status::Ok();
}

Status PackReader::Read(std::string_view pack, int64_t id, rollup::Family f, int64_t bucket,
                        int64_t part, std::vector<PackRow>* rows) {
  if (Status s = DecodePack(pack, f, bucket, part, rows); !s.ok()) {
    return Corruption(PacksTable(res_) + " id " + std::to_string(id) + ": " + s.message());
  }
  // The deltas' bytes are copied out (the statement moves on), then each is merged in turn.
  size_t n = 0;
  sqlite3_bind_int64(deltas_, 1, id);
  int rc;
  while ((rc = sqlite3_step(deltas_)) == SQLITE_ROW) {
    if (blobs_.size() <= n) blobs_.emplace_back();
    const auto* p = static_cast<const char*>(sqlite3_column_blob(deltas_, 0));
    blobs_[n++].assign(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(deltas_, 0)));
  }
  sqlite3_reset(deltas_);
  if (rc != SQLITE_DONE) {
    return IoError("read " + DeltasTable(res_) + ": " + sqlite3_errmsg(db_));
  }
  size_t used = 0;
  for (size_t k = 0; k < n; ++k) {
    Status s = DecodePack(blobs_[k], f, bucket, part, &decoded_);
    if (s.ok()) s = MergePackRows(*rows, decoded_, &merged_, &scratch_, &used);
    if (!s.ok()) {
      return Corruption(DeltasTable(res_) + " id " + std::to_string(id) + ": " + s.message());
    }
    rows->swap(merged_);
  }
  return Status::Ok();
}

std::string PacksSchema() {
  // meta holds the rollup generation every write moves (kBumpRollupGeneration).
  std::string sql = "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);";
  for (rollup::Resolution r : rollup::kAllResolutions) {
    sql += "CREATE TABLE IF NOT EXISTS " + PacksTable(r) +
           "(id INTEGER PRIMARY KEY, family INTEGER NOT NULL, bucket INTEGER NOT NULL, "
           "part INTEGER NOT NULL, rows INTEGER NOT NULL, data BLOB NOT NULL);";
    sql += "CREATE TABLE IF NOT EXISTS " + DeltasTable(r) +
           "(id INTEGER NOT NULL, rows INTEGER NOT NULL, data BLOB NOT NULL);";
    sql += "CREATE INDEX IF NOT EXISTS " + DeltasTable(r) + "_id ON " + DeltasTable(r) + "(id);";
  }
  return sql;
}

namespace {
constexpr int kPartBits = 24, kBucketBits = 34;
constexpr int64_t kBucketOffset = int64_t{1} << 33;  // bucket numbers before 1970 too
constexpr int64_t kMaxNumber = (int64_t{1} << kBucketBits) - 1;
constexpr int64_t kMaxPart = (int64_t{1} << kPartBits) - 1;

int64_t Compose(int64_t family, int64_t number, int64_t part) {
  return family << (kPartBits + kBucketBits) | number << kPartBits | part;
}
// The number of the first bucket starting at or after `t`, and of the last at or before it.
int64_t FirstFrom(int64_t t, int64_t w) { return -(rollup::BucketStart(-t, w) / w); }
int64_t LastUpTo(int64_t t, int64_t w) { return rollup::BucketStart(t, w) / w; }
}  // namespace

Result<int64_t> PackId(rollup::Resolution r, rollup::Family f, int64_t bucket, int64_t part) {
  const int64_t w = rollup::Seconds(r);
  const int64_t number = bucket / w + kBucketOffset;
  if (static_cast<int>(f) >= rollup::kFamilies || bucket % w != 0 || number < 0 ||
      number > kMaxNumber || part < 0 || part > kMaxPart) {
    return InvalidArgument("rollup pack: bucket " + std::to_string(bucket) + " part " +
                           std::to_string(part) + " of family " +
                           std::to_string(static_cast<int>(f)) + " cannot be stored at " +
                           std::string(rollup::Name(r)));
  }
  return Compose(static_cast<int64_t>(f), number, part);
}

bool PackIdRange(rollup::Resolution r, int64_t family_lo, int64_t family_hi, int64_t bucket_lo,
                 int64_t bucket_hi, int64_t part_lo, int64_t part_hi, int64_t* lo, int64_t* hi) {
  const int64_t w = rollup::Seconds(r);
  family_lo = std::max<int64_t>(family_lo, 0);
  family_hi = std::min<int64_t>(family_hi, rollup::kFamilies - 1);
  // Bounds far outside any bucket number clamp before the offset could overflow.
  const int64_t far = kMaxNumber * 86400;
  const int64_t n_lo =
      std::max<int64_t>(FirstFrom(std::clamp(bucket_lo, -far, far), w) + kBucketOffset, 0);
  const int64_t n_hi =
      std::min(LastUpTo(std::clamp(bucket_hi, -far, far), w) + kBucketOffset, kMaxNumber);
  part_lo = std::max<int64_t>(part_lo, 0);
  part_hi = std::min(part_hi, kMaxPart);
  if (family_lo > family_hi || n_lo > n_hi || part_lo > part_hi) return false;
  *lo = Compose(family_lo, n_lo, part_lo);
  *hi = Compose(family_hi, n_hi, part_hi);
  return true;
}

PackWriter::~PackWriter() {
  for (sqlite3_stmt* st : {state_, get_, insert_, update_, add_delta_, drop_deltas_, bump_}) {
    sqlite3_finalize(st);
  }
}

Status PackWriter::Error(const char* what) {
  return IoError(std::string(what) + " " + PacksTable(res_) + ": " + sqlite3_errmsg(db_));
}

Status PackWriter::Prepare(sqlite3* db, rollup::Resolution r) {
  db_ = db;
  res_ = r;
  const std::string t = PacksTable(r), d = DeltasTable(r);
  ISDAS_RETURN_IF_ERROR(reader_.Prepare(db, r));
  auto prepare = [db](const std::string& sql, sqlite3_stmt** st) {
    return sqlite3_prepare_v2(db, sql.c_str(), -1, st, nullptr) == SQLITE_OK;
  };
  // Whether the pack exists (its `rows` only: the data's overflow pages are not read), and its
  // deltas.
  if (!prepare("SELECT (SELECT rows FROM " + t + " WHERE id = ?1), (SELECT count(*) FROM " + d +
                   " WHERE id = ?1)",
               &state_) ||
      !prepare("INSERT INTO " + d + "(id, rows, data) VALUES(?, ?, ?)", &add_delta_) ||
      !prepare("DELETE FROM " + d + " WHERE id = ?", &drop_deltas_) ||
      !prepare(kBumpRollupGeneration, &bump_)) {
    return Error("prepare");
  }
  if (sqlite3_prepare_v2(db, ("SELECT data FROM " + t + " WHERE id = ?").c_str(), -1, &get_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(
          db,
          ("INSERT INTO " + t + "(id, family, bucket, part, rows, data) VALUES(?, ?, ?, ?, ?, ?)")
              .c_str(),
          -1, &insert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, ("UPDATE " + t + " SET rows = ?, data = ? WHERE id = ?").c_str(), -1,
                         &update_, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  return Status::Ok();
}

size_t PackWriter::PackEnd(const StoredRows& rows, size_t i) {
  const auto& all = rows.rows();
  if (i == 0 || i >= all.size()) return std::min(i, all.size());
  const rollup::RowKey& k = all[i - 1].key;
  const int64_t part = PartOf(k.family, k.key);
  while (i < all.size() && all[i].key.family == k.family && all[i].key.bucket == k.bucket &&
         PartOf(k.family, all[i].key.key) == part) {
    ++i;
  }
  return i;
}

Status PackWriter::Write(const StoredRows& rows, uint64_t* written) {
  return Write(rows, 0, rows.size(), written);
}

Status PackWriter::Write(const StoredRows& rows, size_t begin, size_t end, uint64_t* written) {
  const auto& all = rows.rows();
  std::vector<uint32_t>& order = order_;
  order.clear();
  for (uint32_t i = static_cast<uint32_t>(begin); i < end; ++i) {
    if (res_ >= rollup::Finest(all[i].key.family)) order.push_back(i);
  }
  auto less = [&all](uint32_t a, uint32_t b) { return all[a].key < all[b].key; };
  if (!std::is_sorted(order.begin(), order.end(), less)) {
    std::stable_sort(order.begin(), order.end(), less);
  }
  if (!order.empty()) ISDAS_RETURN_IF_ERROR(Step(bump_, "move the rollup generation of"));
  for (size_t i = 0; i < order.size();) {
    const rollup::RowKey& k = all[order[i]].key;
    const int64_t part = PartOf(k.family, k.key);
    group_.clear();
    size_t j = i;
    for (; j < order.size(); ++j) {
      const StoredRows::Row& r = all[order[j]];
      if (r.key.family != k.family || r.key.bucket != k.bucket ||
          PartOf(r.key.family, r.key.key) != part) {
        break;
      }
      group_.push_back(PackRow{r.key.key, r.key.sensor, r.key.proto, r.key.kind, r.key.tool,
                               r.key.research, r.key.spoof, r.packets, r.first_us, r.last_us,
                               rows.sources(r), rows.destinations(r)});
    }
    ISDAS_RETURN_IF_ERROR(WritePart(k.family, k.bucket, part, group_));
    *written += j - i;
    i = j;
  }
  return Status::Ok();
}

Status PackWriter::Step(sqlite3_stmt* st, const char* what) {
  const int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? Status::Ok() : Error(what);
}

Status PackWriter::WritePart(rollup::Family f, int64_t bucket, int64_t part,
                             std::span<const PackRow> rows) {
  auto pack_id = PackId(res_, f, bucket, part);
  if (!pack_id.ok()) return pack_id.status();
  const int64_t id = pack_id.value();
  sqlite3_bind_int64(state_, 1, id);
  bool exists = false;
  int64_t deltas = 0;
  int rc = sqlite3_step(state_);
  if (rc == SQLITE_ROW) {
    exists = sqlite3_column_type(state_, 0) != SQLITE_NULL;
    deltas = sqlite3_column_int64(state_, 1);
    rc = SQLITE_DONE;
  }
  sqlite3_reset(state_);
  if (rc != SQLITE_DONE) return Error("read a pack of");
  const bool closed =
      closed_before_ != INT64_MIN && bucket + rollup::Seconds(res_) <= closed_before_;
  const bool merge = exists && (deltas >= kMaxDeltas || closed);
  stored_.clear();
  if (merge) {
    // The pack and its deltas, merged with the rows below into the pack.
    sqlite3_bind_int64(get_, 1, id);
    rc = sqlite3_step(get_);
    if (rc == SQLITE_ROW) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(get_, 0));
      old_.assign(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(get_, 0)));
      rc = SQLITE_DONE;
    }
    sqlite3_reset(get_);
    if (rc != SQLITE_DONE) return Error("read a pack of");
    ISDAS_RETURN_IF_ERROR(reader_.Read(old_, id, f, bucket, part, &stored_));
  }
  // Both lists in order; equal rows (stored and new, or new twice) become one.
  size_t used = 0;
  if (Status s = MergePackRows(stored_, rows, &merged_, &scratch_, &used); !s.ok()) {
    return Corruption(PacksTable(res_) + " (family " + std::to_string(static_cast<int>(f)) +
                      ", bucket " + std::to_string(bucket) + "): " + s.message());
  }
  EncodePack(bucket, merged_, &blob_);
  const auto n = static_cast<int64_t>(merged_.size());
  const int len = static_cast<int>(blob_.size());
  if (exists && !merge) {
    sqlite3_bind_int64(add_delta_, 1, id);
    sqlite3_bind_int64(add_delta_, 2, n);
    sqlite3_bind_blob(add_delta_, 3, blob_.data(), len, SQLITE_STATIC);
    return Step(add_delta_, "write a delta pack of");
  }
  // A new pack has no deltas (any left by a pack deleted without them go), a merged one none
  // any more.
  if (deltas > 0) {
    sqlite3_bind_int64(drop_deltas_, 1, id);
    ISDAS_RETURN_IF_ERROR(Step(drop_deltas_, "delete delta packs of"));
  }
  sqlite3_stmt* st = exists ? update_ : insert_;
  if (exists) {
    sqlite3_bind_int64(st, 1, n);
    sqlite3_bind_blob(st, 2, blob_.data(), len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, id);
  } else {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, static_cast<int>(f));
    sqlite3_bind_int64(st, 3, bucket);
    sqlite3_bind_int64(st, 4, part);
    sqlite3_bind_int64(st, 5, n);
    sqlite3_bind_blob(st, 6, blob_.data(), len, SQLITE_STATIC);
  }
  return Step(st, "write a pack of");
}

// ---- the virtual tables -------------------------------------------------------------------

namespace {

constexpr const char* kDeclare =
    "CREATE TABLE x(family INTEGER, key INTEGER, bucket INTEGER, sensor INTEGER, proto INTEGER, "
    "kind INTEGER, tool INTEGER, research INTEGER, packets INTEGER, first_us INTEGER, "
    "last_us INTEGER, srcs BLOB, dsts BLOB, spoof INTEGER)";
// The columns that choose packs, and the idxNum bits of each (3 bits a column, in this order):
// which bounds xFilter receives.
constexpr int kChoosing = 3;  // the first three columns
constexpr const char* kChoosingName[kChoosing] = {"family", "key", "bucket"};
constexpr int kLower = 1, kUpper = 2, kEqual = 4;
// An IN list on key or bucket taken all at once (sqlite3_vtab_in): the packs it needs are read
// once each, not once for every value of the list (a pack holds up to 1,024 AS numbers: a list
// of 100 of them read it 100 times).
constexpr int kKeyList = 1 << 9, kBucketList = 1 << 10;

std::atomic<uint64_t> g_packs_decoded{0};

struct Table {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
  rollup::Resolution res = rollup::Resolution::k5m;
};

struct Cursor {
  sqlite3_vtab_cursor base{};
  // The packs chosen (PackSelectSql), in id order: made when first needed.
  sqlite3_stmt* packs = nullptr;
  // The current pack's rows, viewing its bytes where SQLite holds them (valid until `packs`
  // steps again, which it does only once they are all read).
  std::vector<PackRow> rows;
  std::unique_ptr<PackReader> reader;  // decodes packs, their deltas merged in (made when needed)
  int family = 0;
  int64_t bucket = 0, pack_id = 0;
  int64_t key_lo = 0, key_hi = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> keys;  // a key IN list, sorted (empty: none; key_lo/hi bound it)
  // The packs to read, as ranges of the statement's parameters, in id order; `range` is the one
  // `packs` is bound to.
  struct Range {
    int64_t binds[8];
  };
  std::vector<Range> ranges;
  size_t range = 0;
  size_t i = 0;
  bool eof = true;
};

int Connect(sqlite3* db, void* aux, int, const char* const*, sqlite3_vtab** out, char**) {
  if (int rc = sqlite3_declare_vtab(db, kDeclare); rc != SQLITE_OK) return rc;
  auto* t = new (std::nothrow) Table;
  if (!t) return SQLITE_NOMEM;
  t->db = db;
  t->res = *static_cast<const rollup::Resolution*>(aux);
  *out = &t->base;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* v) {
  delete reinterpret_cast<Table*>(v);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  int use[kChoosing][3];  // [column][lower, upper, equal]: constraint index or -1
  for (auto& u : use) std::fill(u, u + 3, -1);
  for (int c = 0; c < info->nConstraint; ++c) {
    const auto& k = info->aConstraint[c];
    const int col = k.iColumn >= 0 && k.iColumn < kChoosing ? k.iColumn : -1;
    if (!k.usable || col < 0) continue;
    switch (k.op) {
      case SQLITE_INDEX_CONSTRAINT_EQ:
        use[col][2] = c;
        break;
      case SQLITE_INDEX_CONSTRAINT_GT:
      case SQLITE_INDEX_CONSTRAINT_GE:
        if (use[col][0] < 0) use[col][0] = c;
        break;
      case SQLITE_INDEX_CONSTRAINT_LT:
      case SQLITE_INDEX_CONSTRAINT_LE:
        if (use[col][1] < 0) use[col][1] = c;
        break;
      default:
        break;
    }
  }
  // Packs are chosen by bounds that contain the condition's; SQLite still checks every row (no
  // `omit`), so a strict bound taken as inclusive only reads a row more.
  int arg = 0;
  int idx = 0;
  double rows = 1e9;
  std::string how;
  for (int col = 0; col < kChoosing; ++col) {
    const int bits = 3 * col;
    if (use[col][2] >= 0) {
      idx |= kEqual << bits;
      info->aConstraintUsage[use[col][2]].argvIndex = ++arg;
      if (col == 1 && sqlite3_vtab_in(info, use[col][2], 1)) idx |= kKeyList;
      if (col == 2 && sqlite3_vtab_in(info, use[col][2], 1)) idx |= kBucketList;
      rows /= col == 0 ? 7 : col == 1 ? 1e3 : 1e4;
      how += std::string(how.empty() ? "" : " ") + kChoosingName[col] + "=";
      continue;
    }
    for (int side : {0, 1}) {
      if (use[col][side] < 0) continue;
      idx |= (side == 0 ? kLower : kUpper) << bits;
      info->aConstraintUsage[use[col][side]].argvIndex = ++arg;
      rows /= 3;
      how += std::string(how.empty() ? "" : " ") + kChoosingName[col] + (side == 0 ? ">" : "<");
    }
  }
  info->idxNum = idx;
  info->idxStr = sqlite3_mprintf("%s", how.empty() ? "every pack" : how.c_str());
  info->needToFreeIdxStr = 1;
  info->estimatedRows = static_cast<sqlite3_int64>(std::max(rows, 1.0));
  info->estimatedCost = std::max(rows, 1.0) + 10;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* v) {
  auto* c = reinterpret_cast<Cursor*>(v);
  sqlite3_finalize(c->packs);
  delete c;
  return SQLITE_OK;
}

int Fail(Cursor* c, int rc, const std::string& message) {
  c->eof = true;
  return VtabError(c->base.pVtab, rc, message);
}

bool InRange(const Cursor* c, const PackRow& r) {
  if (r.key > static_cast<uint64_t>(c->key_hi) ||
      (c->key_lo > 0 && r.key < static_cast<uint64_t>(c->key_lo))) {
    return false;
  }
  return c->keys.empty() ||
         std::binary_search(c->keys.begin(), c->keys.end(), static_cast<int64_t>(r.key));
}

// The integers an IN list's values can equal (SQLite checks each row against the list again).
// Errors: SQLite's code.
int InListValues(sqlite3_value* list, std::vector<int64_t>* out) {
  out->clear();
  sqlite3_value* v = nullptr;
  int rc;
  for (rc = sqlite3_vtab_in_first(list, &v); rc == SQLITE_OK && v;
       rc = sqlite3_vtab_in_next(list, &v)) {
    const int type = sqlite3_value_numeric_type(v);
    if (type == SQLITE_INTEGER) {
      out->push_back(sqlite3_value_int64(v));
    } else if (type == SQLITE_FLOAT) {
      const double d = sqlite3_value_double(v);
      if (d >= -9.2e18 && d <= 9.2e18) {
        out->push_back(static_cast<int64_t>(std::floor(d)));
        out->push_back(static_cast<int64_t>(std::ceil(d)));
      }
    }
  }
  if (rc != SQLITE_OK && rc != SQLITE_DONE) return rc;
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return SQLITE_OK;
}

// Binds `packs` to the cursor's current range.
void BindRange(Cursor* c) {
  sqlite3_reset(c->packs);
  for (int i = 0; i < 8; ++i) sqlite3_bind_int64(c->packs, i + 1, c->ranges[c->range].binds[i]);
}

// Moves to the next row within the key bounds, opening packs as needed.
int Advance(Cursor* c) {
  auto* t = reinterpret_cast<Table*>(c->base.pVtab);
  for (;;) {
    while (c->i < c->rows.size()) {
      if (InRange(c, c->rows[c->i])) {
        c->eof = false;
        return SQLITE_OK;
      }
      ++c->i;
    }
    const int rc = sqlite3_step(c->packs);
    if (rc == SQLITE_DONE) {
      if (++c->range < c->ranges.size()) {
        c->rows.clear();
        c->i = 0;
        BindRange(c);
        continue;
      }
      c->eof = true;
      return SQLITE_OK;
    }
    if (rc != SQLITE_ROW) return Fail(c, rc, sqlite3_errmsg(t->db));
    g_packs_decoded.fetch_add(1, std::memory_order_relaxed);
    c->pack_id = sqlite3_column_int64(c->packs, 0);
    c->family = sqlite3_column_int(c->packs, 1);
    c->bucket = sqlite3_column_int64(c->packs, 2);
    const int64_t part = sqlite3_column_int64(c->packs, 3);
    const auto* p = static_cast<const char*>(sqlite3_column_blob(c->packs, 4));
    const std::string_view data(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(c->packs, 4)));
    c->i = 0;
    if (!c->reader) {
      c->reader = std::make_unique<PackReader>();
      if (Status st = c->reader->Prepare(t->db, t->res); !st.ok()) {
        c->reader.reset();
        c->rows.clear();
        return Fail(c, SQLITE_ERROR, st.message());
      }
    }
    Status s = c->family >= 0 && c->family < rollup::kFamilies
                   ? c->reader->Read(data, c->pack_id, static_cast<rollup::Family>(c->family),
                                     c->bucket, part, &c->rows)
                   : Corruption(PacksTable(t->res) + " id " + std::to_string(c->pack_id) +
                                ": unknown family " + std::to_string(c->family));
    if (!s.ok()) {
      c->rows.clear();
      return Fail(c, s.kind() == ErrorKind::kCorruption ? SQLITE_CORRUPT : SQLITE_ERROR,
                  s.message());
    }
  }
}

int Filter(sqlite3_vtab_cursor* v, int idx, const char*, int argc, sqlite3_value** argv) {
  auto* c = reinterpret_cast<Cursor*>(v);
  auto* t = reinterpret_cast<Table*>(v->pVtab);
  int64_t lo[3], hi[3];
  std::vector<int64_t> buckets;  // a bucket IN list (empty: none)
  c->keys.clear();
  c->ranges.clear();
  c->range = 0;
  c->rows.clear();
  c->i = 0;
  int a = 0;
  for (int col = 0; col < kChoosing; ++col) {
    lo[col] = std::numeric_limits<int64_t>::min();
    hi[col] = std::numeric_limits<int64_t>::max();
    const int bits = idx >> (3 * col);
    const bool list = (col == 1 && (idx & kKeyList)) || (col == 2 && (idx & kBucketList));
    if ((bits & kEqual) && a < argc && list) {
      std::vector<int64_t>& values = col == 1 ? c->keys : buckets;
      if (int rc = InListValues(argv[a++], &values); rc != SQLITE_OK) {
        return Fail(c, rc, "an IN list of rollup_" + std::string(rollup::Name(t->res)));
      }
      if (values.empty()) {  // IN () or nothing an integer could equal
        c->eof = true;
        return SQLITE_OK;
      }
      lo[col] = values.front();
      hi[col] = values.back();
    } else if ((bits & kEqual) && a < argc) {
      lo[col] = IntegerBound(argv[a], true);
      hi[col] = IntegerBound(argv[a++], false);
    }
    if ((bits & kLower) && a < argc) lo[col] = std::max(lo[col], IntegerBound(argv[a++], true));
    if ((bits & kUpper) && a < argc) hi[col] = std::min(hi[col], IntegerBound(argv[a++], false));
  }
  c->key_lo = lo[1];
  c->key_hi = hi[1];
  // Parts are known from the key bounds only within one family (each has its own width).
  int64_t part_lo = std::numeric_limits<int64_t>::min(),
          part_hi = std::numeric_limits<int64_t>::max();
  if (hi[1] < 0 || lo[1] > hi[1]) {  // keys are never negative
    c->eof = true;
    return SQLITE_OK;
  }
  if (lo[0] == hi[0] && lo[0] >= 0 && lo[0] < rollup::kFamilies) {
    const auto f = static_cast<rollup::Family>(lo[0]);
    part_lo = lo[1] <= 0 ? 0 : PartOf(f, static_cast<uint64_t>(lo[1]));
    part_hi = PartOf(f, static_cast<uint64_t>(hi[1]));
  }
  // The parts a key list needs (within one family), else the bounds' parts.
  std::vector<std::pair<int64_t, int64_t>> parts;
  if (!c->keys.empty() && lo[0] == hi[0] && lo[0] >= 0 && lo[0] < rollup::kFamilies) {
    const auto f = static_cast<rollup::Family>(lo[0]);
    for (int64_t k : c->keys) {
      if (k < 0 || k < lo[1] || k > hi[1]) continue;
      const int64_t p = PartOf(f, static_cast<uint64_t>(k));
      if (parts.empty() || parts.back().first != p) parts.emplace_back(p, p);
    }
  } else {
    parts.emplace_back(part_lo, part_hi);
  }
  std::vector<std::pair<int64_t, int64_t>> bucket_ranges;
  if (buckets.empty()) {
    bucket_ranges.emplace_back(lo[2], hi[2]);
  } else {
    for (int64_t b : buckets) {
      if (b >= lo[2] && b <= hi[2]) bucket_ranges.emplace_back(b, b);
    }
  }
  // With the family and the bucket fixed, as a window's list of buckets asks, each range is a
  // range of ids (one seek); otherwise the range's rows are checked by their columns.
  for (const auto& [b_lo, b_hi] : bucket_ranges) {
    for (const auto& [p_lo, p_hi] : parts) {
      int64_t id_lo, id_hi;
      if (!PackIdRange(t->res, lo[0], hi[0], b_lo, b_hi, p_lo, p_hi, &id_lo, &id_hi)) continue;
      c->ranges.push_back({{id_lo, id_hi, lo[0], hi[0], b_lo, b_hi, p_lo, p_hi}});
    }
  }
  if (c->ranges.empty()) {
    c->eof = true;
    return SQLITE_OK;
  }
  std::sort(c->ranges.begin(), c->ranges.end(),
            [](const Cursor::Range& x, const Cursor::Range& y) { return x.binds[0] < y.binds[0]; });
  if (!c->packs && sqlite3_prepare_v2(t->db, PackSelectSql(t->res).c_str(), -1, &c->packs,
                                      nullptr) != SQLITE_OK) {
    return Fail(c, SQLITE_ERROR, sqlite3_errmsg(t->db));
  }
  BindRange(c);
  return Advance(c);
}

int Next(sqlite3_vtab_cursor* v) {
  auto* c = reinterpret_cast<Cursor*>(v);
  ++c->i;
  return Advance(c);
}

int Eof(sqlite3_vtab_cursor* v) { return reinterpret_cast<Cursor*>(v)->eof; }

int Column(sqlite3_vtab_cursor* v, sqlite3_context* ctx, int col) {
  auto* c = reinterpret_cast<Cursor*>(v);
  const PackRow& r = c->rows[c->i];
  switch (col) {
    case 0:
      sqlite3_result_int(ctx, c->family);
      break;
    case 1:
      sqlite3_result_int64(ctx, static_cast<int64_t>(r.key));
      break;
    case 2:
      sqlite3_result_int64(ctx, c->bucket);
      break;
    case 3:
      sqlite3_result_int64(ctx, r.sensor);
      break;
    case 4:
      sqlite3_result_int(ctx, r.proto);
      break;
    case 5:
      sqlite3_result_int(ctx, r.kind);
      break;
    case 6:
      sqlite3_result_int(ctx, r.tool);
      break;
    case 7:
      sqlite3_result_int(ctx, r.research);
      break;
    case 8:
      sqlite3_result_int64(ctx, static_cast<int64_t>(r.packets));
      break;
    case 9:
      sqlite3_result_int64(ctx, r.first_us);
      break;
    case 10:
      sqlite3_result_int64(ctx, r.last_us);
      break;
    case 11:
      sqlite3_result_blob(ctx, r.sources.data(), static_cast<int>(r.sources.size()),
                          SQLITE_TRANSIENT);
      break;
    case 12:
      sqlite3_result_blob(ctx, r.destinations.data(), static_cast<int>(r.destinations.size()),
                          SQLITE_TRANSIENT);
      break;
    case 13:
      sqlite3_result_int(ctx, r.spoof);
      break;
    default:
      sqlite3_result_null(ctx);
      break;
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* v, sqlite3_int64* out) {
  auto* c = reinterpret_cast<Cursor*>(v);
  *out = c->pack_id << 24 | static_cast<int64_t>(c->i);
  return SQLITE_OK;
}

const sqlite3_module kModule =
    ReadOnlyModule<Cursor>(Connect, BestIndex, Disconnect, Close, Filter, Next, Eof, Column, Rowid);

}  // namespace

uint64_t PacksDecodedByReads() { return g_packs_decoded.load(std::memory_order_relaxed); }

std::string PackSelectSql(rollup::Resolution r) {
  return "SELECT id, family, bucket, part, data FROM " + PacksTable(r) +
         " WHERE id BETWEEN ?1 AND ?2 AND family BETWEEN ?3 AND ?4 AND bucket BETWEEN ?5 AND ?6"
         " AND part BETWEEN ?7 AND ?8 ORDER BY id";
}

bool RegisterRollupTables(sqlite3* db) {
  for (const rollup::Resolution& r : rollup::kAllResolutions) {
    const std::string name = "rollup_" + std::string(rollup::Name(r));
    if (sqlite3_create_module_v2(db, name.c_str(), &kModule, const_cast<rollup::Resolution*>(&r),
                                 nullptr) != SQLITE_OK) {
      return false;
    }
  }
  return true;
}

}  // namespace isdas::storage
