#!/usr/bin/env bash
# End-to-end checks of `isdas simulate`, `decode` and `import` against a real SQLite file:
# - the classifier reproduces the generator's ground truth exactly;
# - import stores every event once, with a summary whose counters add up;
# - importing the same capture again stores nothing new;
# - a damaged capture keeps the events before the damage and records the error and offset;
# - an unreadable file or a bad option changes nothing.
#   import_test.sh ISDAS
set -euo pipefail
isdas=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { "$isdas" sql --data-dir "$tmp/data" "$1"; }

# Bad input first: nothing may be created or stored.
set +e
"$isdas" import --data-dir "$tmp/data" "$tmp/missing.pcap" 2>"$tmp/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "missing file: exit $rc, want 1"
grep -q "missing.pcap" "$tmp/err" || fail "missing file: error does not name the file"
[ "$(q 'SELECT COUNT(*) FROM events')" = 0 ] || fail "missing file stored events"
set +e
"$isdas" import --bogus x.pcap 2>/dev/null; rc=$?
set -e
[ "$rc" = 64 ] || fail "unknown option: exit $rc, want 64"

"$isdas" simulate --out "$tmp/sim.pcap" --packets 30000 --seed 11 >"$tmp/truth"
"$isdas" decode "$tmp/sim.pcap" --format summary >"$tmp/summary"
for key in kind.scan kind.backscatter tool.mirai tool.zmap tool.masscan tool.nmap_syn tool.unknown; do
  want=$(grep "^$key:" "$tmp/truth" | cut -d' ' -f2)
  got=$(grep "^$key:" "$tmp/summary" | cut -d' ' -f2)
  [ "$want" = "$got" ] || fail "$key: classifier says $got, generator made $want"
done

"$isdas" import --data-dir "$tmp/data" "$tmp/sim.pcap" >/dev/null
[ "$(q 'SELECT COUNT(*) FROM events')" = 30000 ] || fail "event count after import"
# `isdas sql` refuses writes, bad SQL and a missing store, with the reason, and changes nothing.
sql_fails() {  # sql_fails DATA_DIR QUERY EXPECTED_MESSAGE
  set +e
  "$isdas" sql --data-dir "$1" "$2" >"$tmp/out" 2>"$tmp/err"; rc=$?
  set -e
  [ "$rc" = 1 ] || fail "isdas sql '$2': exit $rc, want 1"
  grep -q "$3" "$tmp/err" || fail "isdas sql '$2': said '$(cat "$tmp/err")', want '$3'"
}
sql_fails "$tmp/data" "DELETE FROM event_blocks" "not a read-only statement"
sql_fails "$tmp/data" "DROP TABLE imports" "not a read-only statement"
sql_fails "$tmp/data" "SELECT nope FROM events" "no such column: nope"
sql_fails "$tmp/nowhere" "SELECT 1" "no store at $tmp/nowhere"
[ ! -e "$tmp/nowhere" ] || fail "isdas sql created a store"
[ "$(q 'SELECT COUNT(*) FROM events')" = 30000 ] || fail "event count after refused writes"
# The events table read from blocks agrees with the capture, packet for packet.
q "SELECT dport || ' ' || ttl || ' ' || ip_id || ' ' || tcp_seq FROM events" | sort >"$tmp/stored"
"$isdas" decode "$tmp/sim.pcap" --format csv | python3 -c '
import csv, sys
for r in csv.DictReader(sys.stdin):
    print(r["dport"] or 0, r["ttl"], r["ip_id"], r["tcp_seq"] or 0)' | sort >"$tmp/decoded"
[ "$(wc -l <"$tmp/stored")" = 30000 ] || fail "events table: $(wc -l <"$tmp/stored") rows"
cmp -s "$tmp/stored" "$tmp/decoded" || fail "events table differs from the decoded capture: $(diff "$tmp/stored" "$tmp/decoded" | head -3)"
[ "$(q 'SELECT packets, events, anomalies, error IS NULL FROM imports')" = "30000|30000|0|1" ] \
  || fail "import summary: $(q 'SELECT * FROM imports')"
sha=$(sha256sum "$tmp/sim.pcap" | cut -d' ' -f1)
[ "$(q 'SELECT sha256 FROM imports')" = "$sha" ] || fail "stored SHA-256 differs from sha256sum"
mirai=$(grep '^tool.mirai:' "$tmp/truth" | cut -d' ' -f2)
[ "$(q 'SELECT COUNT(*) FROM events WHERE tool = 1')" = "$mirai" ] || fail "mirai rows"
# Same file again: skipped, nothing added.
"$isdas" import --data-dir "$tmp/data" "$tmp/sim.pcap" >"$tmp/again"
grep -q "already imported" "$tmp/again" || fail "re-import not reported"
[ "$(q 'SELECT COUNT(*) FROM events')" = 30000 ] || fail "re-import added events"

# Damaged copy: cut inside the last record.
size=$(stat -c %s "$tmp/sim.pcap")
head -c $((size - 20)) "$tmp/sim.pcap" >"$tmp/cut.pcap"
set +e
"$isdas" import --data-dir "$tmp/data" "$tmp/cut.pcap" >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "damaged file: exit $rc, want 2"
grep -q "cut.pcap: truncated packet record" "$tmp/err" || fail "damage message: $(cat "$tmp/err")"
[ "$(q "SELECT events FROM imports WHERE path LIKE '%cut.pcap'")" = 29999 ] || fail "damaged events"
off=$(q "SELECT error_offset FROM imports WHERE path LIKE '%cut.pcap'")
[ "$off" -gt 0 ] && [ "$off" -lt "$size" ] || fail "error offset $off"
[ "$(q 'SELECT COUNT(*) FROM events')" = 59999 ] || fail "total after damaged import"
echo "import_test: all checks passed"
