#!/usr/bin/env bash
# End to end (issue #3): sensor replay → spool → HTTPS (mTLS) → collector → SQLite committed
# (synchronous=FULL), on loopback, side by side with `isdas import` of the same capture (the
# same decode + SQLite insert, without spool, TLS or durable commits).
# Usage: bench/ingest_bench.sh [PACKETS] [RUNS]   (defaults 2000000 and 3)
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
for i in $(seq "$runs"); do
  rm -rf cdata spool collector.port
  lab_collector_conf "$work/collector.toml" 127.0.0.1:0 cdata
  /usr/bin/time -f "collector %e %M" -a -o times "$isdas" collector --config "$work/collector.toml" >/dev/null 2>&1 &
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
  /usr/bin/time -f "sensor %e %M" -a -o times "$isdas" sensor --config sensor.toml >sensor.out 2>&1
  grep -q "^shipped: $packets\$" sensor.out || { echo "not all shipped: $(tail -3 sensor.out)"; exit 1; }
  stored=$("$isdas" sql --data-dir cdata "SELECT COUNT(*) FROM events")
  [ "$stored" = "$packets" ] || { echo "stored $stored != $packets"; exit 1; }
  pkill -INT -f "isdas collector --config $work" || true
  wait "$cpid" 2>/dev/null || true
  rm -rf idata
  /usr/bin/time -f "import %e %M" -a -o times "$isdas" import sim.pcap --data-dir idata >/dev/null
done
python3 - "$packets" times <<'PY'
import statistics, sys
n = int(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2]) if l.strip() and l.split()[0] in ('sensor', 'collector', 'import')]
by = {}
for k, s, m in rows:
    by.setdefault(k, []).append((float(s), int(m)))
print('| path | events | runs | median s | events/s | peak RSS |')
print('|---|---:|---:|---:|---:|---:|')
for k, name in (('sensor', 'sensor → spool → HTTPS → collector → SQLite (FULL), wall time of the sensor'),
                ('import', 'isdas import (decode + SQLite, one transaction, NORMAL)')):
    med = statistics.median(s for s, _ in by[k])
    print(f'| {name} | {n:,} | {len(by[k])} | {med:.2f} | {n/med:,.0f} | {max(m for _, m in by[k])/1024:.1f} MB |')
print(f"| collector process (peak RSS over the runs) | | | | | {max(m for _, m in by['collector'])/1024:.1f} MB |")
print('runs:', '; '.join(f'{k} {float(s):.2f}s' for k, s, _ in rows))
PY
