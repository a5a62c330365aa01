#!/usr/bin/env bash
# Two builds side by side on the store-ingest path (BENCHMARKS.md, "Store ingest"): the
# sustained SQLite ingest (bench/store_ingest) and the rollup counting and folding alone
# (bench/count_bench), this checkout's release build and OTHER's alternating run by run, so a
# refactor is compared on the same machine in the same hour.
# Usage: bench/store_ingest_ab.sh OTHER_BUILD_DIR [EVENTS] [RUNS]
#   OTHER_BUILD_DIR: another checkout's build/release (with bench/store_ingest, bench/count_bench)
#   EVENTS: store_ingest events a run (default 100,000,000); RUNS: pairs of runs (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
other=${1:?usage: bench/store_ingest_ab.sh OTHER_BUILD_DIR [EVENTS] [RUNS]}
events=${2:-100000000}
runs=${3:-2}
cmake --preset release >/dev/null
cmake --build --preset release --target store_ingest count_bench >/dev/null
this=$PWD/build/release
work=$(mktemp -d /tmp/isdas_ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
for i in $(seq "$runs"); do
  for b in "other:$other" "this:$this"; do
    label=${b%%:*}
    dir=${b#*:}
    rm -rf "$work/store"
    /usr/bin/time -f "%e %M" -o "$work/time" "$dir/bench/store_ingest" sqlite "$work/store" \
      "$events" >"$work/out"
    read -r s rss <"$work/time"
    rows=$(grep -o 'rollup_rows_written.*' "$work/out" | sed 's/ in [0-9.]* s//g')
    echo "store_ingest $label run $i: $s s, peak $((rss / 1024)) MB, $rows"
    echo "count_bench  $label run $i: $("$dir/bench/count_bench" 10000000 |
      grep -o 'half0 [0-9.]* s ([0-9]* ns/event)\|fold [0-9.]* s ([0-9]* ns/event)' | tr '\n' ' ')"
  done
done
