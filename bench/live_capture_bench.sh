#!/usr/bin/env bash
# Live capture (issue #3): tcpreplay feeds a synthetic darknet capture into a veth at rising
# rates; on the other end, in its own network namespace, `isdas sensor` (live, shipping to a
# collector on that namespace's loopback) — and, separately on the same feed, `tcpdump -w
# /dev/null`. For each rate: packets sent, captured, kernel drops. Needs root.
# Usage: [RATES="50000 top"] bench/live_capture_bench.sh [PACKETS]   (default 500000)
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-500000}
scripts/setup.sh bench
command -v tcpreplay >/dev/null || apt-get install -y -q tcpreplay >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release --target isdas >/dev/null
isdas=$PWD/build/release/apps/isdas/isdas
tag=$$
src=isdas-feed-$tag
dst=isdas-sink-$tag
source scripts/lab.sh
work=$(mktemp -d)
cleanup() {
  pkill -f "isdas (sensor|collector) --config $work" 2>/dev/null || true
  ip netns del "$src" 2>/dev/null || true
  ip netns del "$dst" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$src"
ip netns add "$dst"
ip link add fa$tag netns "$src" type veth peer name fb$tag netns "$dst"
ip -n "$src" link set fa$tag up
ip -n "$dst" link set fb$tag up
ip -n "$dst" link set lo up
cd "$work"
"$isdas" simulate --out feed.pcap --packets "$packets" --seed 9 >/dev/null
lab_keys live-bench
lab_collector_conf "$work/collector.toml" 127.0.0.1:0 cdata
ip netns exec "$dst" "$isdas" collector --config "$work/collector.toml" >collector.log 2>&1 &
port=$(lab_wait_port)
cat >"$work/sensor.toml" <<EOS
[sensor]
id = "live-bench"
interface = "fb$tag"
prefixes = ["198.19.0.0/16", "2001:db8:2::/48"]
buffer_mb = 128
[spool]
dir = "spool"
$(lab_sensor_collector live-bench "https://127.0.0.1:$port")
EOS
feed() {  # feed RATE -> prints tcpreplay's achieved pps
  local opt
  if [ "$1" = top ]; then opt=--topspeed; else opt=--pps=$1; fi
  ip netns exec "$src" tcpreplay -q --preload-pcap $opt -i fa$tag feed.pcap 2>&1 |
    awk '/Rated:/ {for (i = 1; i <= NF; i++) if ($i ~ /pps/) print $(i-1)}' | head -1
}
echo "| feed (tcpreplay) | achieved pps | isdas sensor captured | sensor kernel drops | tcpdump captured | tcpdump kernel drops |"
echo "|---|---:|---:|---:|---:|---:|"
for rate in ${RATES:-50000 100000 150000 200000 top}; do
  rm -rf spool
  ip netns exec "$dst" "$isdas" sensor --config "$work/sensor.toml" >sensor.out 2>&1 &
  spid=$!
  sleep 1
  achieved=$(feed $rate)
  sleep 1
  kill -INT $spid
  wait $spid || true
  s_cap=$(grep '^captured: ' sensor.out | cut -d' ' -f2)
  s_drop=$(grep '^kernel_drops: ' sensor.out | cut -d' ' -f2)
  ip netns exec "$dst" tcpdump -i fb$tag -B 131072 -w /dev/null >/dev/null 2>tcpdump.err &
  tpid=$!
  sleep 1
  feed $rate >/dev/null
  sleep 1
  kill -INT $tpid
  wait $tpid || true
  t_cap=$(awk '/packets captured/ {print $1}' tcpdump.err)
  t_drop=$(awk '/dropped by kernel/ {print $1}' tcpdump.err)
  echo "| $rate | $achieved | $s_cap | $s_drop | $t_cap | $t_drop |"
done
echo "(each feed: $packets packets)"
