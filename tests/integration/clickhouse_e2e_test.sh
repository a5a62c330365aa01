#!/usr/bin/env bash
# Sensor → collector → ClickHouse: a sensor replays 30,000 synthetic packets into a collector
# whose store is the ClickHouse server of the ctest fixture; every event arrives once,
# enriched when the GeoIP data is there, and the registry has the sensor's heartbeat.
#   clickhouse_e2e_test.sh ISDAS CLICKHOUSE_DIR GEO_DIR
set -euo pipefail
isdas=$1
chport=$(cat "$2/http_port")
geo=$3
tmp=$(mktemp -d)
cpid=""
trap '[ -n "$cpid" ] && kill "$cpid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/../../scripts/lab.sh"
cd "$tmp"
db=isdas_e2e_$$
ch() { curl -sf "http://127.0.0.1:$chport/?database=$db" --data-binary "$1"; }
lab_keys ch-1
"$isdas" simulate --out sim.pcap --packets 30000 --seed 4 >/dev/null
lab_collector_conf collector.toml 127.0.0.1:0 unused "[storage]
engine = \"clickhouse\"
clickhouse_port = $chport
clickhouse_database = \"$db\"
[geo]
dir = \"$geo\""
"$isdas" collector --config collector.toml >collector.log 2>&1 &
cpid=$!
port=$(lab_wait_port) || fail "collector: $(cat collector.log)"
grep -q "clickhouse" collector.log || fail "collector did not use ClickHouse: $(cat collector.log)"
cat >sensor.toml <<EOS
[sensor]
id = "ch-1"
replay = ["sim.pcap"]
heartbeat_s = 1
[batch]
max_events = 2000
[spool]
dir = "spool"
$(lab_sensor_collector ch-1 "https://127.0.0.1:$port")
EOS
"$isdas" sensor --config sensor.toml >sensor.out 2>&1 || fail "sensor exit $?: $(tail -3 sensor.out)"
n=$(ch "SELECT count() FROM events")
d=$(ch "SELECT count() FROM (SELECT DISTINCT ts, src, dst, sport, dport FROM events)")
[ "$n" = 30000 ] || fail "ClickHouse has $n events, want 30000"
[ "$d" = 30000 ] || fail "only $d distinct events"
b=$(ch "SELECT count() FROM batches")
[ "$b" = 15 ] || fail "$b batches, want 15"
c=$(ch "SELECT count() FROM events WHERE src_country = 'US'")
[ "$c" -gt 0 ] || fail "no source was enriched"
h=$(ch "SELECT count() FROM heartbeats WHERE sensor = 'ch-1' AND name = 'shipped'")
[ "$h" -gt 0 ] || fail "no heartbeat"
ch "DROP DATABASE $db" >/dev/null || true
echo "clickhouse_e2e_test: 30000 events, 15 batches, enriched, heartbeats: all checks passed"
