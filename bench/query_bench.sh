#!/usr/bin/env bash
# Query API under concurrent load (issue #4): a SQLite store holding DAYS days of generated
# rollups of a /16 darknet at 2.74 M events a day (1 billion a year; bench/make_rollups.cc says
# what is generated), served by `isdas api`; wrk drives each question for DURATION seconds with
# CONNECTIONS connections and reports latency percentiles. Also the API process's peak RSS.
# Usage: bench/query_bench.sh [DAYS] [DURATION] [CONNECTIONS]   (defaults 365, 20, 4)
# The store is kept in $ISDAS_BENCH_DIR (default /tmp/isdas-query-bench-DAYS) for reruns.
# EVENTS_PER_DAY=N generates N events' worth a day instead (sparse data: e.g. 3650 days at
# 20000; the store is then /tmp/isdas-query-bench-DAYS-N).
# With ISDAS_OTHER=/path/to/another/isdas, every question is also asked of that binary's
# `isdas api` over the same store, alternating, so two builds are compared in one run; answers
# are computed for every request there (the answer cache off). A second table asks the heavy
# questions once with the cache off, then again and again with it on (the dashboard's case).
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-365}
dur=${2:-20}
conns=${3:-4}
scripts/setup.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target make_rollups isdas >/dev/null
per_day=${EVENTS_PER_DAY:-2740000}
dir=${ISDAS_BENCH_DIR:-/tmp/isdas-query-bench-$days${EVENTS_PER_DAY:+-$EVENTS_PER_DAY}}
if [ ! -f "$dir/isdas.sqlite" ]; then
  echo "== generating $days days of rollups at $per_day events a day in $dir"
  /usr/bin/time -f "generated in %e s" build/release/bench/make_rollups "$dir" "$days" "$per_day"
fi
echo "store: $(du -sh "$dir/isdas.sqlite" | cut -f1), $(sqlite3 "$dir/isdas.sqlite" \
  "SELECT (SELECT sum(rows) FROM rollup_1d_packs) + (SELECT sum(rows) FROM rollup_1h_packs) + (SELECT sum(rows) FROM rollup_5m_packs)") rollup rows, $(sqlite3 "$dir/isdas.sqlite" \
  "SELECT (SELECT sum(rows) FROM rollup_8d_packs) + (SELECT sum(rows) FROM rollup_64d_packs) + (SELECT sum(rows) FROM rollup_512d_packs)") in coarse buckets"
port=18089
start_api() {  # start_api BINARY [CACHE_MB]
  # Answers are computed for every request (the cache off) unless CACHE_MB is given: the
  # table compares computing them; the answer cache has its own table below.
  local cache=()
  local help
  help=$("$1" api --help 2>&1 || true)  # (grep -q in a pipe would stop it early: pipefail)
  if [[ $help == *--cache-mb* ]]; then cache=(--cache-mb "${2:-0}"); fi
  "$1" api --data-dir "$dir" --listen 127.0.0.1:$port --threads 8 "${cache[@]}" >/dev/null &
  api=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/v1/meta" >/dev/null && break; sleep 0.1; done
  # Another process on the port would answer in its place.
  kill -0 "$api" 2>/dev/null || { echo "isdas api ($1) did not start" >&2; exit 1; }
}
stop_api() {
  echo "isdas api ($1) peak RSS: $(grep VmHWM /proc/$api/status | awk '{print $2/1024 " MB"}')" >>rss.$$
  kill $api 2>/dev/null || true
  wait $api 2>/dev/null || true
}
api=""
# row NAME LABEL WRK_OUTPUT: one table row from wrk's report.
row() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
name, label, out = sys.argv[1], sys.argv[2], sys.argv[3]
def ms(v):
    n, u = re.match(r'([\d.]+)(\w+)', v).groups()
    return float(n) * {'us': 0.001, 'ms': 1, 's': 1000, 'm': 60000}[u]
p = dict(re.findall(r'^\s+(50|99)%\s+(\S+)', out, re.M))
reqs = re.search(r'(\d+) requests in', out).group(1)
rps = re.search(r'Requests/sec:\s+(\S+)', out).group(1)
errs = re.search(r'Non-2xx.*?(\d+)', out)
print(f"| {name} | {label} | {reqs}{' (%s non-2xx)' % errs.group(1) if errs else ''} | {ms(p['50']):.1f} | {ms(p['99']):.1f} | {float(rps):.0f} |")
PY
}
# (The kill of an API already stopped fails: under set -e that ended the trap before the rm, and
# the script with status 1.)
trap '{ [ -n "$api" ] && kill $api 2>/dev/null; } || true; rm -f rss.$$' EXIT
# The data ends 2026-11-26T23:59:59Z.
declare -A q=(
  [top10_ports_30_days]="ports/top?from=2026-10-28&to=2026-11-27&limit=10"
  [top10_ports_30_days_ragged]="ports/top?from=2026-10-27T13:35:00Z&to=2026-11-26T13:35:00Z&limit=10"
  [port_23_daily_series_year]="ports/series?ports=23&step=1d&from=2025-11-27&to=2026-11-27"
  [top10_ports_30_days_tcp_only]="ports/top?from=2026-10-28&to=2026-11-27&limit=10&proto=tcp"
)
bins=("this:$PWD/build/release/apps/isdas/isdas")
[ -n "${ISDAS_OTHER:-}" ] && bins+=("other:$ISDAS_OTHER")
printf '| question | build | requests | p50 ms | p99 ms | req/s |\n|---|---|---:|---:|---:|---:|\n'
for name in top10_ports_30_days top10_ports_30_days_ragged port_23_daily_series_year top10_ports_30_days_tcp_only; do
  for b in "${bins[@]}"; do
    start_api "${b#*:}"
    # Each question must have a real answer before it is timed.
    curl -sf "http://127.0.0.1:$port/api/v1/${q[$name]}" | python3 -c '
import json, sys
j = json.load(sys.stdin)
n = len(j["rows"]) if "rows" in j else sum(p["packets"] > 0 for s in j["series"] for p in s["points"])
assert n >= 10, "%s: only %d answers" % (sys.argv[1], n)' "$name"
    out=$(wrk -t2 -c"$conns" -d"${dur}s" --latency "http://127.0.0.1:$port/api/v1/${q[$name]}")
    row "$name" "${b%%:*}" "$out"
    stop_api "${b%%:*}"
  done
done
sort rss.$$ | uniq
# The heavy questions, each asked once of this build with the cache off (what the first asker
# waits), then the dashboard's case: the same question asked again and again by 4 clients with
# the answer cache on (docs/api.md#answer-cache), rollups unchanged meanwhile.
declare -A heavy=(
  [top1000_ports_year]="ports/top?from=2025-11-27&to=2026-11-27&limit=1000"
  [top100_asns_30_days]="asns/top?from=2026-10-28&to=2026-11-27&limit=100"
  [top100_asns_year]="asns/top?from=2025-11-27&to=2026-11-27&limit=100"
  [top100_countries_year]="countries/top?from=2025-11-27&to=2026-11-27&limit=100"
  [top10_ports_year]="ports/top?from=2025-11-27&to=2026-11-27&limit=10"
  [top1000_ports_ten_years]="ports/top?from=2016-11-27&to=2026-11-27&limit=1000"
  [top100_asns_ten_years]="asns/top?from=2016-11-27&to=2026-11-27&limit=100"
)
printf '\n| question | computed once, s | cached: requests | p50 ms | p99 ms | req/s |\n|---|---:|---:|---:|---:|---:|\n'
for name in top10_ports_year top1000_ports_year top100_countries_year top100_asns_30_days \
  top100_asns_year top1000_ports_ten_years top100_asns_ten_years; do
  start_api "$PWD/build/release/apps/isdas/isdas" 0
  once=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/api/v1/${heavy[$name]}")
  stop_api this
  start_api "$PWD/build/release/apps/isdas/isdas" 64
  curl -sf -o /dev/null "http://127.0.0.1:$port/api/v1/${heavy[$name]}"
  out=$(wrk -t2 -c"$conns" -d"${dur}s" --latency "http://127.0.0.1:$port/api/v1/${heavy[$name]}")
  row "$name" "$once" "$out"
  curl -s "http://127.0.0.1:$port/api/v1/meta" | python3 -c '
import json, sys
c = json.load(sys.stdin)["answer_cache"]
# Computed once, every other answer the kept one (twice if the run crossed a 5-minute mark,
# which is part of the key).
assert c["misses"] <= 2 and c["hits"] > 100 * c["misses"], c' ||
    echo "FAIL: $name was computed again and again with the cache on"
  stop_api this
done

