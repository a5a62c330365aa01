#!/usr/bin/env bash
# Runs tshark_crosscheck.py on 20,000 synthetic darknet packets and every well-formed golden
# capture (link types, protocols, fingerprints, formats).
#   tshark_crosscheck.sh ISDAS GOLDEN_DIR
set -euo pipefail
isdas=$1
golden=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$isdas" simulate --out "$tmp/sim.pcap" --packets 20000 --seed 5 >/dev/null
exec python3 "$(dirname "$0")/tshark_crosscheck.py" "$isdas" "$tmp/sim.pcap" \
  "$golden"/l*.pcap* "$golden"/p*.pcap* "$golden"/t*.pcap* "$golden"/x*.pcap*
