#!/usr/bin/env bash
# `isdas COMMAND --help` (and -h) prints that command's usage on standard output and exits 0,
# for every command `isdas help` lists; an unknown option still exits 64.
#   help_test.sh ISDAS
set -euo pipefail
isdas=$1
cmds=$("$isdas" help | sed -n 's/^  \([a-z]*\) .*/\1/p' | sort -u)
[ -n "$cmds" ] || { echo "no commands in 'isdas help'" >&2; exit 1; }
for c in $cmds; do
  for flag in --help -h; do
    out=$("$isdas" "$c" "$flag") || { echo "isdas $c $flag exited $?" >&2; exit 1; }
    case "$out" in
      "usage: isdas $c "*) ;;
      *) echo "isdas $c $flag printed: $out" >&2; exit 1 ;;
    esac
  done
done
set +e
"$isdas" sensor --bogus >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 64 ] || { echo "isdas sensor --bogus exited $rc, not 64" >&2; exit 1; }
echo "help_test: $(echo $cmds | wc -w) commands"
