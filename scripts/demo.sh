#!/usr/bin/env bash
# The main job, for now: builds isdas (release) and runs the whole path on this machine —
# a collector on localhost with its own CA, and a sensor replaying a sample darknet capture
# into it over mutual TLS — then prints what the collector stored. Everything lives under
# ./isdas-data (ISDAS_DATA_DIR to change).
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
mkdir -p "$data"
cd "$data"
if [ ! -f sample-darknet.pcap ]; then
  echo "== making a sample capture: 200,000 packets of synthetic /16 darknet traffic"
  "$isdas" simulate --out sample-darknet.pcap --packets 200000 --seed 7
fi
if [ ! -f ca/ca.crt ]; then
  echo "== creating the collector CA, its server certificate and sensor demo-1's certificate"
  lab_keys demo-1
fi
rm -rf collector spool  # each demo run starts from an empty store and spool
lab_collector_conf collector.toml 127.0.0.1:0 collector "[geo]
dir = \"$geo\""
rm -f collector.port
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
kill $collector
wait $collector 2>/dev/null || true
db=collector/isdas.sqlite
echo "== the collector's sensor registry"
sqlite3 -header -column "$db" "SELECT name, batches, events FROM sensors"
echo "== top destination ports (TCP) in the collector's store"
sqlite3 -header -column "$db" \
  "SELECT dport, COUNT(*) AS packets, COUNT(DISTINCT src) AS sources FROM events
   WHERE proto = 6 GROUP BY dport ORDER BY packets DESC LIMIT 10;"
echo "== top source countries and ASes (enriched at the collector)"
sqlite3 -header -column "$db" \
  "SELECT src_country AS country, COUNT(*) AS packets, COUNT(DISTINCT src) AS sources FROM events
   GROUP BY src_country ORDER BY packets DESC LIMIT 8;"
sqlite3 -header -column "$db" \
  "SELECT src_asn AS asn, substr(COALESCE(n.name, ''), 1, 40) AS name, COUNT(*) AS packets
   FROM events LEFT JOIN as_names n ON n.asn = src_asn
   GROUP BY src_asn ORDER BY packets DESC LIMIT 8;"
echo "== by tool fingerprint"
sqlite3 -header -column "$db" \
  "SELECT CASE tool WHEN 0 THEN 'unknown' WHEN 1 THEN 'mirai' WHEN 2 THEN 'zmap'
     WHEN 3 THEN 'masscan' WHEN 4 THEN 'nmap_syn' END AS tool, COUNT(*) AS packets
   FROM events GROUP BY tool ORDER BY packets DESC;"
