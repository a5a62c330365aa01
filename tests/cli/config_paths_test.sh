#!/usr/bin/env bash
# Relative paths in a config file are taken from the file's folder: a sensor started from
# another folder finds its certificates there and makes its spool there (it made ./spool in the
# working directory, then failed on a missing certificate). A directory given as the config
# file is named as such, and a private key others may read is refused at start-up.
#   config_paths_test.sh ISDAS CAPTURE
set -euo pipefail
isdas=$1
cap=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "config_paths_test: $*" >&2; exit 1; }
source "$(dirname "$0")/../../scripts/lab.sh"
mkdir -p "$tmp/etc" "$tmp/elsewhere"
cd "$tmp/etc"
lab_keys tokyo-1
cp "$cap" capture.pcap
cat >sensor.toml <<EOS
[sensor]
id = "tokyo-1"
replay = ["capture.pcap"]
replay_wait_s = 3
$(lab_sensor_collector tokyo-1 "https://127.0.0.1:9")
EOS
cd "$tmp/elsewhere"
set +e
"$isdas" sensor --config ../etc/sensor.toml >out 2>err
rc=$?
set -e
# Nothing listens on port 9: the replay is spooled and not shipped (exit 3 after 3 s, by
# which time the first delivery has failed and said so).
[ "$rc" = 3 ] || fail "sensor exit $rc: $(cat err)"
[ -d "$tmp/etc/spool" ] || fail "no spool beside the config file"
[ ! -e "$tmp/elsewhere/spool" ] || fail "a spool in the working directory"
grep -q "cannot connect to 127.0.0.1:9: refused or unreachable" err || fail "said: $(cat err)"
set +e
"$isdas" sensor --config ../etc >out 2>err
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "config file ../etc is a directory" err || fail "a directory: $rc $(cat err)"
chmod 644 "$tmp/etc/ca/sensors/tokyo-1.key"
set +e
"$isdas" sensor --config ../etc/sensor.toml >out 2>err
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "group or others may read (mode 0644)" err || fail "key 0644: $rc $(cat err)"
echo "config_paths_test: paths from the config's folder, mistakes named"
