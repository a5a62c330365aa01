#!/usr/bin/env bash
# The main job, for now: builds isdas (release) and runs the whole path on this machine —
# a collector on localhost with its own CA, and a sensor replaying a sample darknet capture
# (the last day's worth of synthetic /16 traffic) into it over mutual TLS — then asks the
# collector's query API what it saw, and leaves the API serving on
# http://127.0.0.1:8080/api/v1/ until Ctrl-C (ISDAS_DEMO_EXIT=1: stop after the answers;
# ISDAS_API_PORT: another port). Everything lives under ./isdas-data (ISDAS_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-geo.sh  # country/AS data for enrichment at the collector
geo=$PWD/third_party/geo
cmake --preset release >/dev/null
cmake --build --preset release --target isdas
isdas=$PWD/build/release/apps/isdas/isdas
source scripts/lab.sh
data=${ISDAS_DATA_DIR:-isdas-data}
api_port=${ISDAS_API_PORT:-8080}
mkdir -p "$data"
cd "$data"
# 200,000 packets over the last ~18 hours (3 a second on average), so "the last 24 hours" has
# something in every hour.
start=$(( $(date +%s) / 3600 * 3600 - 19 * 3600 ))
echo "== making a sample capture: 200,000 packets of synthetic /16 darknet traffic"
"$isdas" simulate --out sample-darknet.pcap --packets 200000 --seed 7 --pps 3 --start "$start" \
  | grep -E '^(packets|kind)'
if [ ! -f ca/ca.crt ]; then
  echo "== creating the collector CA, its server certificate and sensor demo-1's certificate"
  lab_keys demo-1
fi
rm -rf collector spool  # each demo run starts from an empty store and spool
LAB_API_LISTEN=127.0.0.1:$api_port lab_collector_conf collector.toml 127.0.0.1:0 collector "[geo]
dir = \"$geo\""
rm -f collector.port api.port
"$isdas" collector --config collector.toml >collector.log 2>&1 &
collector=$!
trap 'kill $collector 2>/dev/null || true' EXIT
port=$(lab_wait_port) || { cat collector.log; exit 1; }
echo "== collector listening on https://127.0.0.1:$port (log: $data/collector.log)"
cat >sensor.toml <<EOS
[sensor]
id = "demo-1"
replay = ["sample-darknet.pcap"]
heartbeat_s = 1
[spool]
dir = "spool"
$(lab_sensor_collector demo-1 "https://127.0.0.1:$port")
EOS
echo "== sensor demo-1 replays the capture, spools and ships it"
"$isdas" sensor --config sensor.toml | grep -E '^(captured|decoded|spooled|shipped|spool_drops|refused):'
sleep 3  # the collector writes the last rollups once it has been idle for 2 seconds
api=http://127.0.0.1:$api_port/api/v1
# CSV answers, shown as aligned columns.
show() {
  echo "== GET /api/v1/$1"
  curl -sf "$api/$1" | python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows: print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))'
}
show "sensors?format=csv"
show "ports/top?format=csv&limit=10"
show "countries/top?format=csv&limit=8"
show "asns/top?format=csv&limit=8&exclude_research=true"
show "traffic/top?by=tool&format=csv"
top=$(curl -sf "$api/ports/top?format=csv&limit=1" | sed -n 2p | cut -d, -f1)
show "ports/series?ports=$top&step=3h&tz=%2B09:00&format=csv"
echo "== GET /api/v1/ports/$top (JSON, abridged)"
curl -sf "$api/ports/$top" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("  totals:", j["totals"])
print("  countries:", ", ".join("%s %d" % (c["country"], c["packets"]) for c in j["countries"][:5]))
print("  tcp flags:", ", ".join("%s %d" % (c["tcp_flags"], c["packets"]) for c in j["tcp_flags"][:5]))'
if [ "${ISDAS_DEMO_EXIT:-0}" = 1 ]; then
  exit 0
fi
echo
echo "The query API is serving on $api/ (docs/api.md), e.g."
echo "  curl '$api/ports/top?limit=20'"
echo "  curl '$api/countries/series?countries=JP,CN,US&step=1h&tz=%2B09:00'"
echo "Ctrl-C stops the collector."
wait $collector
