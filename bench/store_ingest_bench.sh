#!/usr/bin/env bash
# Store ingest (issue #4): generated, enriched events committed as sensor batches straight into
# each engine (bench/store_ingest.cc: events + rollups + batch marks, the collector's writer
# without the network), side by side with what a user would use instead on the same rows:
#   SQLite     — the sqlite3 shell's .import of the events as CSV into a bare events table
#   ClickHouse — clickhouse-client INSERT … FORMAT RowBinary of the very rows isdas inserted
#                (events alone, and events + rollup rows)
# Usage: bench/store_ingest_bench.sh [EVENTS] (default 4,000,000; 100,000,000 for the long run)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4000000}
scripts/setup.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target store_ingest >/dev/null
tool=$PWD/build/release/bench/store_ingest
work=$(mktemp -d /tmp/isdas_store_bench.XXXXXX)
ch=$work/ch
trap 'tests/clickhouse/clickhouse_server.sh stop "$ch" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# t CMD…: runs CMD under /usr/bin/time; "seconds peak_rss_kb" land in $work/time.
t() { /usr/bin/time -f "%e %M" -o "$work/time" "$@"; }

echo "== SQLite: isdas store (events + rollups + marks, synchronous=FULL)"
"$tool" sqlite "$work/sq" "$n" --dump-csv "$work/events.csv" | tee "$work/sqlite.out" | grep "^engine\|^sqlite "
echo "== SQLite: sqlite3 .import of the same events (CSV, one transaction, no rollups)"
sqlite3 "$work/bare.sqlite" "CREATE TABLE events(ts, sensor, proto, src, dst, sport, dport, icmp_type,
  icmp_code, tcp_flags, ttl, ip_id, ip_len, tcp_seq, tcp_win, tcp_optlen, tcp_mss, flags, kind,
  tool, spoof, import_id, src_country, src_asn, src_research);"
t sqlite3 "$work/bare.sqlite" -cmd "PRAGMA journal_mode=WAL" -cmd ".mode csv" \
  ".import $work/events.csv events" >/dev/null
read -r s rss <"$work/time"
rows=$(sqlite3 "$work/bare.sqlite" "SELECT COUNT(*) FROM events")
echo "sqlite3 .import: $rows events in $s s = $(python3 -c "print(round($rows/$s))") events/s, peak RSS $((rss/1024)) MB"
rm -f "$work/events.csv"

echo "== ClickHouse: isdas store"
read -r port _ < <(tests/clickhouse/clickhouse_server.sh start "$ch")
tcp=$(grep -o '<tcp_port>[0-9]*' "$ch/config.xml" | cut -d'>' -f2)
"$tool" clickhouse "$port" isdas_bench "$n" --dump-rowbinary "$work/ev.bin" "$work/ro.bin" \
  | tee "$work/ch.out" | tail -1
q() { clickhouse-client --port "$tcp" --query "$1"; }
q "CREATE TABLE isdas_bench.events_client AS isdas_bench.events"
q "CREATE TABLE isdas_bench.rollups_client AS isdas_bench.rollups"
t clickhouse-client --port "$tcp" --query "INSERT INTO isdas_bench.events_client FORMAT RowBinary" <"$work/ev.bin"
read -r se _ <"$work/time"
t clickhouse-client --port "$tcp" --query "INSERT INTO isdas_bench.rollups_client FORMAT RowBinary" <"$work/ro.bin"
read -r sr _ <"$work/time"
echo "clickhouse-client events: $(q 'SELECT count() FROM isdas_bench.events_client') in $se s; rollup rows ($(q 'SELECT count() FROM isdas_bench.rollups_client')) in $sr s"
python3 - "$se" "$sr" "$work/ch.out" <<'PY'
import sys
se, sr = float(sys.argv[1]), float(sys.argv[2])
last = open(sys.argv[3]).read().split()
n = int(last[last.index('events') + 1])
ours = float(last[last.index('store_seconds') + 1])
print(f"| clickhouse-client, events only | {n/se:,.0f} events/s |")
print(f"| clickhouse-client, events + rollup rows | {n/(se+sr):,.0f} events/s |")
print(f"| isdas ClickhouseStore (rollups computed, duplicate checks, marks) | {n/ours:,.0f} events/s | {ours/(se+sr):.2f}x the client's time for the same rows |")
PY
