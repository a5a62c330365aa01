#!/usr/bin/env bash
# End to end (issue #3): sensor replay → spool → HTTPS (mTLS) → collector → SQLite committed
# (synchronous=FULL), on loopback, side by side with `isdas import` of the same capture (the
# same decode + SQLite insert, without spool, TLS or durable commits).
# Usage: bench/ingest_bench.sh [PACKETS] [RUNS]   (defaults 2000000 and 3)
# With ISDAS_OTHER=/path/to/another/isdas, each run is made with that binary too, alternating
# (its sensor and collector), so two builds are compared in one run on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-2000000}
runs=${2:-3}
scripts/setup.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target isdas >/dev/null
isdas=$PWD/build/release/apps/isdas/isdas
source scripts/lab.sh
work=$(mktemp -d)
trap 'pkill -f "isdas collector --config $work" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
"$isdas" simulate --out sim.pcap --packets "$packets" --seed 42 >/dev/null
lab_keys bench-1
: >times
bins=("this:$isdas")
[ -n "${ISDAS_OTHER:-}" ] && bins+=("other:$ISDAS_OTHER")
for i in $(seq "$runs"); do
  for b in "${bins[@]}"; do
  label=${b%%:*}
  bin=${b#*:}
  rm -rf cdata spool collector.port
  lab_collector_conf "$work/collector.toml" 127.0.0.1:0 cdata
  /usr/bin/time -f "$label-collector %e %M" -a -o times "$bin" collector --config "$work/collector.toml" >/dev/null 2>&1 &
  cpid=$!
  port=$(lab_wait_port)
  cat >sensor.toml <<EOS
[sensor]
id = "bench-1"
replay = ["sim.pcap"]
[batch]
max_events = 16384
[spool]
dir = "spool"
$(lab_sensor_collector bench-1 "https://127.0.0.1:$port")
EOS
  /usr/bin/time -f "$label-sensor %e %M" -a -o times "$bin" sensor --config sensor.toml >sensor.out 2>&1
  grep -q "^shipped: $packets\$" sensor.out || { echo "not all shipped: $(tail -3 sensor.out)"; exit 1; }
  stored=$("$isdas" sql --data-dir cdata "SELECT COUNT(*) FROM events")
  [ "$stored" = "$packets" ] || { echo "stored $stored != $packets"; exit 1; }
  pkill -INT -f "isdas collector --config $work" || true
  wait "$cpid" 2>/dev/null || true
  done
  rm -rf idata
  /usr/bin/time -f "import %e %M" -a -o times "$isdas" import sim.pcap --data-dir idata >/dev/null
done
python3 - "$packets" times <<'PY'
import statistics, sys
n = int(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2]) if l.strip() and l.split()[0].endswith(('sensor', 'collector', 'import'))]
by = {}
for k, s, m in rows:
    by.setdefault(k, []).append((float(s), int(m)))
print('| path | events | runs | median s | events/s | peak RSS |')
print('|---|---:|---:|---:|---:|---:|')
for label in ('this', 'other'):
    k = label + '-sensor'
    if k not in by:
        continue
    med = statistics.median(s for s, _ in by[k])
    name = 'sensor → spool → HTTPS → collector → SQLite (FULL), wall time of the sensor'
    if 'other-sensor' in by:
        name += ' — ' + ('this build' if label == 'this' else 'ISDAS_OTHER')
    print(f'| {name} | {n:,} | {len(by[k])} | {med:.2f} | {n/med:,.0f} | {max(m for _, m in by[k])/1024:.1f} MB |')
    c = by[label + '-collector']
    print(f"| collector process{'' if label == 'this' else ' (ISDAS_OTHER)'} (peak RSS over the runs) | | | | | {max(m for _, m in c)/1024:.1f} MB |")
med = statistics.median(s for s, _ in by['import'])
print(f"| isdas import (decode + SQLite, one transaction, NORMAL) | {n:,} | {len(by['import'])} | {med:.2f} | {n/med:,.0f} | {max(m for _, m in by['import'])/1024:.1f} MB |")
print('runs:', '; '.join(f'{k} {float(s):.2f}s' for k, s, _ in rows))
PY
