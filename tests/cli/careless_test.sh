#!/usr/bin/env bash
# Careless use is refused and changes nothing: `isdas api` over a directory with no store (a
# typo) does not make and serve an empty one; `isdas sql` makes no file (ATTACH of a new one)
# and writes nothing.
#   careless_test.sh ISDAS CAPTURE
set -euo pipefail
isdas=$1
cap=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "careless_test: $*" >&2; exit 1; }
set +e
timeout 10 "$isdas" api --data-dir "$tmp/typo" --listen 127.0.0.1:0 >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "isdas api over no store exited $rc"
grep -q "no store at $tmp/typo/isdas.sqlite" "$tmp/err" || fail "api said: $(cat "$tmp/err")"
[ ! -e "$tmp/typo" ] || fail "isdas api made $tmp/typo"
"$isdas" import "$cap" --data-dir "$tmp/data" --no-enrich >/dev/null
before=$("$isdas" sql --data-dir "$tmp/data" "SELECT count(*) FROM events")
for q in "ATTACH '$tmp/new.db' AS a" "DELETE FROM imports" "CREATE TABLE t(x)"; do
  if "$isdas" sql --data-dir "$tmp/data" "$q" >/dev/null 2>&1; then fail "isdas sql ran: $q"; fi
done
[ ! -e "$tmp/new.db" ] || fail "isdas sql made $tmp/new.db"
after=$("$isdas" sql --data-dir "$tmp/data" "SELECT count(*) FROM events")
[ "$before" = "$after" ] || fail "events $before before, $after after"
[ "$("$isdas" sql --data-dir "$tmp/data" "SELECT count(*) FROM imports")" = 1 ] || fail "imports changed"
echo "careless_test: refused and unchanged"
