#!/usr/bin/env bash
# The query API's questions asked of both engines over the same traffic (issue #16.2): the
# store-ingest generator (bench/store_ingest.cc) writes the same N events into a SQLite store
# and into a ClickHouse server this script starts; `isdas api` serves the SQLite store and
# `isdas collector` (storage.engine = clickhouse) serves ClickHouse, both with the answer cache
# off, and each question is asked RUNS times of each, one at a time, alternating. Prints the
# median and the slowest time of each.
# Usage: bench/engines_query_bench.sh [EVENTS] [RUNS]   (defaults 10,000,000 and 5)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
runs=${2:-5}
scripts/setup.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target store_ingest isdas >/dev/null
tool=$PWD/build/release/bench/store_ingest
isdas=$PWD/build/release/apps/isdas/isdas
work=$(mktemp -d /tmp/isdas_engines_bench.XXXXXX)
ch=$work/ch
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  tests/clickhouse/clickhouse_server.sh stop "$ch" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== $n events into SQLite"
"$tool" sqlite "$work/sq" "$n" | grep "^engine\|^sqlite " || true
echo "== the same into ClickHouse"
read -r http _ < <(tests/clickhouse/clickhouse_server.sh start "$ch")
"$tool" clickhouse "$http" isdas_q "$n" | tail -1

# The collector needs its TLS files to start, though no sensor connects here.
"$isdas" keys init --dir "$work/keys" >/dev/null
"$isdas" keys server localhost --dir "$work/keys" >/dev/null
cat >"$work/ch.toml" <<EOF
[collector]
listen = "127.0.0.1:0"
[storage]
engine = "clickhouse"
clickhouse_port = $http
clickhouse_database = "isdas_q"
[api]
listen = "127.0.0.1:0"
port_file = "$work/ch.port"
cache_mb = 0
[tls]
cert = "$work/keys/server.crt"
key = "$work/keys/server.key"
ca = "$work/keys/ca.crt"
crl = "$work/keys/crl.pem"
EOF
"$isdas" collector --config "$work/ch.toml" >"$work/ch.log" 2>&1 &
pids+=($!)
"$isdas" api --data-dir "$work/sq" --listen 127.0.0.1:18091 --cache-mb 0 >"$work/sq.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/ch.port" ] && break; sleep 0.1; done
chp=$(cat "$work/ch.port")
for p in 18091 "$chp"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/api/v1/meta" >/dev/null && break; sleep 0.1; done
done

# The window: the generated traffic (2,000 events a second from 2026-11-26T00:00:00Z).
span=$((n / 2000))
from=2026-11-26T00:00:00Z
to=$(date -u -d "@$((1795651200 + span))" +%Y-%m-%dT%H:%M:%SZ)
w="from=$from&to=$to"
declare -a names=(top10_ports top1000_ports top100_countries top100_asns traffic_by_kind
  port_23_page port_23_5m_series top10_ports_tcp)
declare -A qs=(
  [top10_ports]="ports/top?$w&limit=10"
  [top1000_ports]="ports/top?$w&limit=1000"
  [top100_countries]="countries/top?$w&limit=100"
  [top100_asns]="asns/top?$w&limit=100"
  [traffic_by_kind]="traffic/top?$w&by=kind"
  [port_23_page]="ports/23?$w"
  [port_23_5m_series]="ports/series?ports=23&step=5m&$w"
  [top10_ports_tcp]="ports/top?$w&limit=10&proto=tcp"
)
ask() {  # ask PORT PATH -> seconds; the answers of both engines must be 200
  local out
  out=$(curl -s -o "$work/body" -w '%{http_code} %{time_total}' "http://127.0.0.1:$1/api/v1/$2")
  [ "${out%% *}" = 200 ] || { echo "FAIL: $2 on port $1: $(head -c 300 "$work/body")" >&2; exit 1; }
  echo "${out#* }"
}
echo "window $from .. $to, $runs asks each, one at a time (seconds: median, slowest)"
printf '| question | SQLite median | SQLite max | ClickHouse median | ClickHouse max | ratio |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for name in "${names[@]}"; do
  sq=() chs=()
  for _ in $(seq "$runs"); do
    sq+=("$(ask 18091 "${qs[$name]}")")
    chs+=("$(ask "$chp" "${qs[$name]}")")
  done
  python3 - "$name" "${sq[*]}" "${chs[*]}" <<'EOF'
import statistics, sys
name, a, b = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"| {name} | {ma:.4f} | {max(a):.4f} | {mb:.4f} | {max(b):.4f} | {mb / ma:.1f}x |")
EOF
done
