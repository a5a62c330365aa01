#!/usr/bin/env bash
# Decode + classify speed, side by side in one run (issue #2), on synthetic /16 darknet traffic:
#   isdas decode --format summary   full decode + classification, counters only
#   bare_pcap_loop                  libpcap pcap_next_ex + IPv4 5-tuple + TCP flags (the floor)
#   nfpcapd -r                      nfdump's pcap-to-flow converter
#   tcpdump -nn -r / tshark -T fields, and isdas --format csv, on a slice (text output)
# Usage: bench/decode_bench.sh [PACKETS] [RUNS]   (defaults 20000000 and 5)
# Prints a Markdown report on stdout; BENCHMARKS.md holds the recorded one.
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-20000000}
runs=${2:-5}
slice=200000
scripts/setup.sh bench
cmake --preset release >/dev/null
cmake --build --preset release --target isdas bare_pcap_loop >/dev/null
isdas=build/release/apps/isdas/isdas
bare=build/release/bench/bare_pcap_loop
out=bench/out
mkdir -p "$out"
big=$out/darknet-$packets.pcap
small=$out/darknet-$slice.pcap
small2=$out/darknet-$((packets / 10)).pcap
[ -f "$big" ] || "$isdas" simulate --out "$big" --packets "$packets" --seed 42 >"$big.truth"
[ -f "$small" ] || "$isdas" simulate --out "$small" --packets "$slice" --seed 42 >/dev/null
[ -f "$small2" ] || "$isdas" simulate --out "$small2" --packets $((packets / 10)) --seed 42 >/dev/null

# time_cmd LABEL CMD...: appends "LABEL seconds maxrss_kb" to $out/times
time_cmd() {
  local label=$1
  shift
  /usr/bin/time -f "$label %e %M" -a -o "$out/times" "$@" >/dev/null 2>&1
}
: >"$out/times"
cat "$big" >/dev/null  # warm the page cache once, for every contender alike
for i in $(seq "$runs"); do
  time_cmd isdas "$isdas" decode "$big" --format summary
  time_cmd bare "$bare" "$big"
done
time_cmd isdas_small "$isdas" decode "$small2" --format summary
nfdir=$(mktemp -d)
time_cmd nfpcapd nfpcapd -r "$big" -w "$nfdir"
rm -rf "$nfdir"
for i in $(seq 3); do
  time_cmd tcpdump_slice tcpdump -nn -r "$small"
  time_cmd tshark_slice tshark -r "$small" -T fields -e frame.time_epoch -e ip.src -e ip.dst \
    -e ip.proto -e tcp.srcport -e tcp.dstport -e tcp.flags -e udp.srcport -e udp.dstport
  time_cmd isdas_csv_slice "$isdas" decode "$small" --format csv
done
time_cmd isdas_csv "$isdas" decode "$big" --format csv

python3 - "$out/times" "$packets" "$slice" "$((packets / 10))" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
packets, slice_, small2 = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
by = {}
for label, secs, rss in rows:
    by.setdefault(label, []).append((float(secs), int(rss)))
def med(label):
    return statistics.median(s for s, _ in by[label])
def rss(label):
    return max(r for _, r in by[label])
n = {'isdas': packets, 'bare': packets, 'nfpcapd': packets, 'isdas_csv': packets,
     'tcpdump_slice': slice_, 'tshark_slice': slice_, 'isdas_csv_slice': slice_,
     'isdas_small': small2}
names = {
    'isdas': 'isdas decode --format summary (full decode + classify)',
    'bare': 'bare libpcap pcap_next_ex loop, IPv4 5-tuple + flags',
    'nfpcapd': 'nfpcapd -r (flows to nfcapd files)',
    'isdas_csv': 'isdas decode --format csv > /dev/null',
    'tcpdump_slice': 'tcpdump -nn -r > /dev/null (slice)',
    'tshark_slice': 'tshark -T fields > /dev/null (slice)',
    'isdas_csv_slice': 'isdas decode --format csv > /dev/null (slice)',
    'isdas_small': 'isdas decode --format summary (file 1/10 the size)',
}
base = n['bare'] / med('bare')
print('| contender | packets | runs | median s | packets/s | vs bare loop | peak RSS |')
print('|---|---:|---:|---:|---:|---:|---:|')
for k in ['isdas', 'bare', 'nfpcapd', 'isdas_csv', 'tcpdump_slice', 'tshark_slice',
          'isdas_csv_slice', 'isdas_small']:
    if k not in by: continue
    pps = n[k] / med(k)
    print(f'| {names[k]} | {n[k]:,} | {len(by[k])} | {med(k):.2f} | {pps:,.0f} | '
          f'{pps/base:.3g}x | {rss(k)/1024:.1f} MB |')
PY
