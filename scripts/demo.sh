#!/usr/bin/env bash
# The main job, for now: builds isdas (release), makes a sample darknet capture, imports it
# into the embedded SQLite store under ./isdas-data and prints what it found.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target isdas
bin=build/release/apps/isdas/isdas
data=${ISDAS_DATA_DIR:-isdas-data}
mkdir -p "$data"
sample="$data/sample-darknet.pcap"
if [ ! -f "$sample" ]; then
  echo "== making a sample capture: 200,000 packets of synthetic /16 darknet traffic"
  "$bin" simulate --out "$sample" --packets 200000 --seed 7
fi
echo "== importing $sample into $data/isdas.sqlite"
"$bin" import "$sample" --data-dir "$data"
echo "== top destination ports in the store"
if command -v sqlite3 >/dev/null; then
  sqlite3 -header -column "$data/isdas.sqlite" \
    "SELECT dport, COUNT(*) AS packets, COUNT(DISTINCT src) AS sources FROM events
     WHERE proto = 6 GROUP BY dport ORDER BY packets DESC LIMIT 10;"
else
  echo "(install the sqlite3 command to see them: apt-get install sqlite3)"
fi
