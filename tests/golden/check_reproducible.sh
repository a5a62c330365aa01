#!/usr/bin/env bash
# The checked-in golden captures must be exactly what make_captures writes today, so each
# capture's bytes trace back to the code that made them.
set -euo pipefail
gen=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" "$tmp" >/dev/null
status=0
for f in "$tmp"/*; do
  n=$(basename "$f")
  if ! cmp -s "$f" "$dir/$n"; then echo "differs or missing: $n" >&2; status=1; fi
done
for f in "$dir"/*.pcap "$dir"/*.pcapng; do
  [ -e "$tmp/$(basename "$f")" ] || { echo "not made by make_captures: $(basename "$f")" >&2; status=1; }
done
exit $status
