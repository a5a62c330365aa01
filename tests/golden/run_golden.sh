#!/usr/bin/env bash
# Golden test for one capture: decodes it as CSV and as a summary and compares both with the
# checked-in expectations beside it. With UPDATE_GOLDEN=1 it rewrites them instead (then read
# the diff before committing: docs/testing.md).
#   run_golden.sh ISDAS CAPTURE
set -euo pipefail
isdas=$1
cap=$2
base=${cap%.*}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$cap")
# Run from the capture's directory so file names in messages do not depend on the checkout.
cd "$(dirname "$cap")"
set +e
"$isdas" decode "$name" --format csv >"$tmp/csv" 2>"$tmp/csv.err"
rc_csv=$?
"$isdas" decode "$name" --format summary >"$tmp/summary" 2>"$tmp/summary.err"
rc_sum=$?
set -e
{ echo "exit: $rc_sum"; cat "$tmp/summary"; sed 's/^/stderr: /' "$tmp/summary.err"; } >"$tmp/summary.out"
if [ "$rc_csv" != "$rc_sum" ] || ! cmp -s "$tmp/csv.err" "$tmp/summary.err"; then
  echo "csv and summary runs disagree: exit $rc_csv vs $rc_sum" >&2
  diff "$tmp/csv.err" "$tmp/summary.err" >&2 || true
  exit 1
fi
if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
  cp "$tmp/csv" "$base.csv"
  cp "$tmp/summary.out" "$base.summary"
  exit 0
fi
status=0
diff -u "$base.csv" "$tmp/csv" || status=1
diff -u "$base.summary" "$tmp/summary.out" || status=1
exit $status
