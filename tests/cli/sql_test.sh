#!/usr/bin/env bash
# `isdas sql` prints for people: a sensor's name where events and rollups store its number, and
# events' addresses as text where they are stored as bytes; `--raw` prints what is stored, and
# expressions (hex(src), sensor + 0) are left as they are. A sensor named "tokyo-1" replays the
# golden capture l01_ethernet (one IPv4 and one IPv6 SYN) to a collector on loopback, and the
# same capture is imported (sensor "local").
#   sql_test.sh ISDAS CAPTURE
set -euo pipefail
isdas=$1
cap=$2
tmp=$(mktemp -d)
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "sql_test: $*" >&2; exit 1; }
source "$(dirname "$0")/../../scripts/lab.sh"
cd "$tmp"
lab_keys tokyo-1
lab_collector_conf collector.toml 127.0.0.1:0 data
"$isdas" collector --config collector.toml >collector.log 2>&1 &
cpid=$!
port=$(lab_wait_port) || fail "collector did not start: $(cat collector.log)"
cat >sensor.toml <<EOS
[sensor]
id = "tokyo-1"
replay = ["$cap"]
[spool]
dir = "spool"
$(lab_sensor_collector tokyo-1 "https://127.0.0.1:$port")
EOS
timeout 60 "$isdas" sensor --config sensor.toml >sensor.out 2>&1 || fail "sensor: $(tail -3 sensor.out)"
kill "$cpid"
wait "$cpid" || fail "collector exit $?: $(tail -3 collector.log)"
cpid=""
"$isdas" import "$cap" --data-dir data --no-enrich >/dev/null
q() { "$isdas" sql --data-dir data "$@"; }
got=$(q "SELECT sensor, src, dst, dport FROM events ORDER BY sensor DESC, length(src)")
want="tokyo-1|203.0.113.7|198.19.4.20|80
tokyo-1|2001:db8:ff::7|2001:db8:2::20|80
local|203.0.113.7|198.19.4.20|80
local|2001:db8:ff::7|2001:db8:2::20|80"
[ "$got" = "$want" ] || fail "events printed as
$got
instead of
$want"
got=$(q "SELECT DISTINCT sensor FROM rollup_1d WHERE family = 0 ORDER BY sensor")
[ "$got" = "local
tokyo-1" ] || fail "rollup sensors printed as: $got"
# Expressions and --raw print what is stored.
got=$(q "SELECT hex(src), sensor + 0 FROM events WHERE sensor > 0 ORDER BY length(src) LIMIT 1")
[ "$got" = "CB007107|1" ] || fail "expressions printed as: $got"
got=$(q --raw "SELECT sensor, hex(CAST(src AS BLOB)) FROM events WHERE sensor > 0 ORDER BY length(src) LIMIT 1")
[ "$got" = "1|CB007107" ] || fail "--raw printed: $got"
[ "$(q --raw "SELECT src FROM events WHERE sensor > 0 ORDER BY length(src) LIMIT 1" | od -An -tx1 | tr -d ' \n')" = cb0071070a ] ||
  fail "--raw did not print the stored bytes"
echo "sql_test: names and addresses printed"
