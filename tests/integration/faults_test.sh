#!/usr/bin/env bash
# Fault tests of the sensor → collector path, with real processes on loopback:
#   A. the collector is killed (-9) three times while batches arrive (300,000 packets)
#   B. the collector is down while the sensor works, then comes back
#   C. the sensor is killed (-9) while shipping, then restarted
#   D. the spool's tail is cut (a torn last record), then shipped; D2. it is corrupted
#   E. the spool fills up (drop_oldest) while the collector is down
#   G. the sensor's certificate is revoked: its batches stay spooled until a new one is issued
#   H. the collector refuses every batch as malformed: they go to the spool's quarantine and,
#      requeued, are stored once
#   I. a replay sensor is killed (-9) mid-replay and started again with the same config
#   J. another sensor id over the same spool directory is refused, and losses survive restarts
# After each: stored events + counted drops == packets sent, and no event is stored twice.
#   faults_test.sh ISDAS
set -euo pipefail
isdas=$1
tmp=$(mktemp -d)
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill -9 "$cpid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/../../scripts/lab.sh"
cd "$tmp"
N=60000

lab_keys s1
"$isdas" simulate --out sim.pcap --packets $N --seed 21 >/dev/null
"$isdas" simulate --out empty.pcap --packets 0 >/dev/null
"$isdas" simulate --out big.pcap --packets 300000 --seed 22 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

collector_conf() { lab_collector_conf collector.toml "127.0.0.1:$port" "$1"; }
start_collector() {
  "$isdas" collector --config collector.toml >>collector.log 2>&1 &
  cpid=$!
  for _ in $(seq 100); do
    grep -q "listening on" collector.log 2>/dev/null && [ "$(grep -c 'listening on' collector.log)" -ge "$starts" ] && return
    sleep 0.05
  done
  fail "collector did not start: $(tail -3 collector.log)"
}
starts=0
collector_up() { starts=$((starts + 1)); start_collector; }
collector_kill() { kill -9 "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""; }
sensor_conf() {  # sensor_conf SPOOL_DIR REPLAY_FILE WAIT_S [MAX_BYTES]
  cat >sensor.toml <<EOS
[sensor]
id = "s1"
replay = ["$2"]
replay_wait_s = $3
heartbeat_s = 1
[batch]
max_events = 1000
[spool]
dir = "$1"
fsync = "always"
segment_bytes = 65536
max_bytes = ${4:-1073741824}
$(lab_sensor_collector s1 "https://127.0.0.1:$port")
initial_backoff_ms = 50
max_backoff_ms = 400
EOS
}
stored() { "$isdas" sql --data-dir "$1" "SELECT COUNT(*) FROM events"; }
distinct() { "$isdas" sql --data-dir "$1" "SELECT COUNT(*) FROM (SELECT DISTINCT ts, src, dst, sport, dport FROM events)"; }
counter() { grep "^$1: " "$2" | tail -1 | cut -d' ' -f2; }
check() {  # check LABEL DATA_DIR DROPS
  local s d
  s=$(stored "$2")
  d=$(distinct "$2")
  [ "$s" = "$d" ] || fail "$1: $s events stored but only $d distinct: duplicates"
  [ $((s + $3)) = $N ] || fail "$1: stored $s + dropped $3 != sent $N"
  echo "$1: stored $s + dropped $3 == sent $N, no duplicates"
}

# 0. Bad configuration stops start-up with file, line and key, and touches nothing.
# collector_refused WHAT PATTERN: the collector must exit 1 with PATTERN in its message.
collector_refused() {
  set +e
  "$isdas" collector --config collector.toml >bad.out 2>&1
  local rc=$?
  set -e
  [ "$rc" = 1 ] || fail "0: collector with $1: exit $rc"
  grep -q "$2" bad.out || fail "0: message: $(cat bad.out)"
}
collector_conf data0
printf '[limits]\nmax_batch = 5\n' >>collector.toml
line=$(grep -n '^max_batch' collector.toml | cut -d: -f1)
collector_refused "an unknown key" "collector.toml:$line: limits.max_batch: unknown setting"
# Bad values of the query API's and retention's settings, likewise.
for bad in 'listen = "localhost"|api.listen' 'threads = 0|api.threads'; do
  collector_conf data0
  sed -i "s/^listen = \"127.0.0.1:0\"\$/${bad%|*}/" collector.toml
  collector_refused "a bad ${bad#*|}" "collector.toml:[0-9]*: ${bad#*|}"
done
collector_conf data0
printf '[retention]\nevents_days = -3\n' >>collector.toml
collector_refused "negative retention" "collector.toml:[0-9]*: retention.events_days"
# `isdas api` alone: the same listen check as the collector's [api] listen.
for bad in "localhost|is not host:port" "127.0.0.1:99999|has no valid port" "127.0.0.1:8x|has no valid port"; do
  set +e
  "$isdas" api --data-dir data0 --listen "${bad%|*}" >bad.out 2>&1
  rc=$?
  set -e
  [ "$rc" = 64 ] || fail "0: isdas api --listen ${bad%|*}: exit $rc"
  grep -q -- "--listen: '${bad%|*}' ${bad#*|}" bad.out || fail "0: message: $(cat bad.out)"
done
sensor_conf spool0 sim.pcap 1
sed -i 's/^fsync = "always"/fsync = "sometimes"/' sensor.toml
set +e
"$isdas" sensor --config sensor.toml >bad.out 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "0: sensor with a bad value: exit $rc"
line=$(grep -n '^fsync' sensor.toml | cut -d: -f1)
grep -q "sensor.toml:$line: spool.fsync: 'sometimes' is not one of always, interval, never" bad.out ||
  fail "0: message: $(cat bad.out)"
[ ! -e spool0 ] && [ ! -e data0 ] || fail "0: a refused start created files"
echo "0: bad configurations refused with file, line and key"

# A. Collector killed three times during ingest: each time as soon as more events were stored
# (a readiness condition, not a fixed delay), with the sensor shipping a 300,000-packet replay.
collector_conf dataA
sensor_conf spoolA big.pcap 120
"$isdas" sensor --config sensor.toml >sensorA.out 2>&1 &
spid=$!
before=0
for _ in 1 2 3; do
  collector_up
  for _ in $(seq 500); do
    now=$(stored dataA 2>/dev/null || echo 0)
    [ "${now:-0}" -gt "$before" ] && break
    sleep 0.01
  done
  collector_kill
  before=$(stored dataA)
  echo "A: collector killed with $before events stored"
done
collector_up
wait "$spid" || fail "A: sensor exit $?: $(tail -3 sensorA.out)"
[ "$(counter retries sensorA.out)" -gt 0 ] || fail "A: the sensor never had to retry"
N=300000 check A dataA 0
collector_kill

# B. Collector down for a while; the sensor keeps working and catches up.
collector_conf dataB
sensor_conf spoolB sim.pcap 120
"$isdas" sensor --config sensor.toml >sensorB.out 2>&1 &
spid=$!
sleep 3
collector_up
wait "$spid" || fail "B: sensor exit $?"
[ "$(counter retries sensorB.out)" -gt 0 ] || fail "B: the sensor never had to retry"
check B dataB 0
collector_kill

# C. Sensor killed while shipping. First spool everything with the collector down…
collector_conf dataC
sensor_conf spoolC sim.pcap 1
set +e
"$isdas" sensor --config sensor.toml >sensorC1.out 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || fail "C: first run should end unshipped (3), got $rc"
[ "$(counter spooled sensorC1.out)" = $N ] || fail "C: not all spooled"
collector_up
sensor_conf spoolC empty.pcap 120
"$isdas" sensor --config sensor.toml >sensorC2.out 2>&1 &
spid=$!
for _ in $(seq 500); do  # killed as soon as the first events are in
  [ "$(stored dataC 2>/dev/null || echo 0)" -gt 0 ] && break
  sleep 0.01
done
kill -9 "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
partial=$(stored dataC)
"$isdas" sensor --config sensor.toml >sensorC3.out 2>&1 || fail "C: restart exit $?"
echo "C: $partial events were in before the kill"
check C dataC 0
collector_kill

# D. Torn spool tail: cut the last segment inside its last record.
collector_conf dataD
sensor_conf spoolD sim.pcap 1
"$isdas" sensor --config sensor.toml >sensorD1.out 2>&1 || true
last=$(ls spoolD/*.seg | sort | tail -1)
truncate -s -37 "$last"
collector_up
sensor_conf spoolD empty.pcap 120
"$isdas" sensor --config sensor.toml >sensorD2.out 2>&1 || fail "D: sensor exit $?"
cut=$(counter spool_cut_events sensorD2.out)
[ "$cut" -gt 0 ] || fail "D: nothing reported cut"
check D dataD "$cut"
collector_kill

# D2. Corrupt spool tail: flip a byte inside the last record's payload.
collector_conf dataD2
sensor_conf spoolD2 sim.pcap 1
"$isdas" sensor --config sensor.toml >sensorD2a.out 2>&1 || true
last=$(ls spoolD2/*.seg | sort | tail -1)
size=$(stat -c %s "$last")
printf '\xff' | dd of="$last" bs=1 seek=$((size - 10)) conv=notrunc status=none
collector_up
sensor_conf spoolD2 empty.pcap 120
"$isdas" sensor --config sensor.toml >sensorD2b.out 2>&1 || fail "D2: sensor exit $?"
cut=$(counter spool_cut_events sensorD2b.out)
[ "$cut" -gt 0 ] || fail "D2: nothing reported cut"
check D2 dataD2 "$cut"
collector_kill

# E. Spool full (256 KiB, drop_oldest) while the collector is down.
collector_conf dataE
sensor_conf spoolE sim.pcap 1 262144
"$isdas" sensor --config sensor.toml >sensorE1.out 2>&1 || true
drops=$(counter spool_drops sensorE1.out)
[ "$drops" -gt 0 ] || fail "E: the spool never filled"
collector_up
sensor_conf spoolE empty.pcap 120 262144
"$isdas" sensor --config sensor.toml >sensorE2.out 2>&1 || fail "E: sensor exit $?"
check E dataE "$drops"
collector_kill

# F. Fail-over: the first collector URL is dead, the second is up.
collector_conf dataF
collector_up
sensor_conf spoolF sim.pcap 120
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s|^urls = .*|urls = [\"https://127.0.0.1:$dead\", \"https://127.0.0.1:$port\"]|" sensor.toml
"$isdas" sensor --config sensor.toml >sensorF.out 2>&1 || fail "F: sensor exit $?"
[ "$(counter retries sensorF.out)" -gt 0 ] || fail "F: the dead collector was never tried"
check F dataF 0
collector_kill

# G. A revoked certificate: the collector refuses the sensor, never the batches. They stay
# spooled (nothing acknowledged, exit non-zero, the reason said once), and once a new
# certificate is issued everything arrives.
"$isdas" keys sensor --dir ca s2 >/dev/null
"$isdas" keys revoke --dir ca s2 >/dev/null
collector_conf dataG
collector_up
sensor_conf spoolG sim.pcap 3
sed -i 's/^id = "s1"/id = "s2"/; s|sensors/s1|sensors/s2|g' sensor.toml
set +e
"$isdas" sensor --config sensor.toml >sensorG1.out 2>sensorG1.err
rc=$?
set -e
[ "$rc" != 0 ] || fail "G: a sensor whose every batch was refused exited 0"
[ "$(counter spool_unshipped sensorG1.out)" = $N ] || fail "G: batches left the spool: $(grep -E 'spool_unshipped|shipped' sensorG1.out)"
[ "$(stored dataG)" = 0 ] || fail "G: a revoked sensor's events were stored"
grep -q "refuses this sensor" sensorG1.err || fail "G: no reason given: $(tail -3 sensorG1.err)"
[ "$(grep -c 'refuses this sensor (batches stay spooled)' sensorG1.err)" = 1 ] ||
  fail "G: the reason should be said once per change: $(cat sensorG1.err)"
"$isdas" keys sensor --dir ca s2 >/dev/null
sensor_conf spoolG empty.pcap 120
sed -i 's/^id = "s1"/id = "s2"/; s|sensors/s1|sensors/s2|g' sensor.toml
"$isdas" sensor --config sensor.toml >sensorG2.out 2>&1 || fail "G: sensor with a new certificate: exit $?"
check G dataG 0
collector_kill

# H. A collector that finds every batch malformed (at most 500 events; the sensor sends 1000):
# each batch goes to the spool's quarantine with the collector's reason, the run exits
# non-zero, and `isdas spool requeue` sends them again once the collector takes them.
collector_conf dataH
printf '[limits]\nmax_events = 500\n' >>collector.toml
collector_up
sensor_conf spoolH sim.pcap 30
set +e
"$isdas" sensor --config sensor.toml >sensorH1.out 2>sensorH1.err
rc=$?
set -e
[ "$rc" = 4 ] || fail "H: exit $rc with every batch refused (want 4): $(tail -3 sensorH1.err)"
[ "$(stored dataH)" = 0 ] || fail "H: refused batches were stored"
[ "$(counter quarantined sensorH1.out)" = $N ] || fail "H: quarantined $(counter quarantined sensorH1.out) of $N"
"$isdas" spool list --dir spoolH >listH.out
[ "$(($(wc -l <listH.out) - 1))" = $((N / 1000)) ] || fail "H: spool list: $(head -3 listH.out)"
grep -q "count 1000 exceeds 500" listH.out || fail "H: the collector's reason is not kept: $(head -2 listH.out)"
first=$(sed -n 2p listH.out | cut -d, -f1)
"$isdas" spool show --dir spoolH "$first" | grep -q "^events: 1000" || fail "H: spool show"
collector_kill
collector_conf dataH
collector_up
"$isdas" spool requeue --dir spoolH all >requeueH.out || fail "H: requeue exit $?"
sensor_conf spoolH empty.pcap 120
"$isdas" sensor --config sensor.toml >sensorH2.out 2>&1 || fail "H: sensor after requeue: exit $?"
"$isdas" spool list --dir spoolH >listH2.out
[ "$(wc -l <listH2.out)" = 1 ] || fail "H: the quarantine is not empty after requeue"
check H dataH 0
collector_kill

# I. A replay sensor killed (-9) while replaying, then started again with the same config: it
# resumes after its last spooled batch (or skips the file it had finished), never storing an
# event twice.
collector_conf dataI
collector_up
sensor_conf spoolI big.pcap 120
"$isdas" sensor --config sensor.toml >sensorI1.out 2>&1 &
spid=$!
for _ in $(seq 400); do
  [ "$(ls spoolI 2>/dev/null | grep -c '\.seg$')" -ge 3 ] && break
  sleep 0.01
done
kill -9 "$spid"
wait "$spid" 2>/dev/null || true
"$isdas" sensor --config sensor.toml >sensorI2.out 2>&1 || fail "I: restarted sensor exit $?: $(tail -3 sensorI2.out)"
grep -qE "resuming after packet|replayed completely before" sensorI2.out ||
  fail "I: the restart neither resumed nor skipped: $(head -3 sensorI2.out)"
grep -E "resuming after packet|replayed completely before" sensorI2.out | sed 's/^/I: /'
N=300000 check I dataI 0
# Started once more: the file is skipped, nothing more is stored.
"$isdas" sensor --config sensor.toml >sensorI3.out 2>&1 || fail "I: third run exit $?"
grep -q "replayed completely before" sensorI3.out || fail "I: a finished file was not skipped"
N=300000 check I dataI 0
collector_kill

# J. The spool knows its sensor: s2 over s1's spool is refused and changes nothing. And what a
# full spool dropped is still reported after a restart.
sensor_conf spoolE empty.pcap 1 262144
sed -i 's/^id = "s1"/id = "s2"/; s|sensors/s1|sensors/s2|g' sensor.toml
set +e
"$isdas" sensor --config sensor.toml >sensorJ.out 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "J: another sensor's spool: exit $rc"
grep -q "belongs to sensor 's1'" sensorJ.out || fail "J: message: $(cat sensorJ.out)"
collector_conf dataE
collector_up
sensor_conf spoolE empty.pcap 10 262144
"$isdas" sensor --config sensor.toml >sensorJ2.out 2>&1 || fail "J: s1 on its own spool: exit $?"
[ "$(counter spool_drops sensorJ2.out)" = "$drops" ] ||
  fail "J: drops forgotten at restart: $(counter spool_drops sensorJ2.out), were $drops"
echo "J: another sensor's spool refused; $drops dropped events still reported after restarts"
collector_kill

# The registry saw the heartbeats.
hb=$(sqlite3 dataE/isdas.sqlite "SELECT value FROM sensor_counters WHERE name = 'spool_drops'")
[ -n "$hb" ] || fail "no heartbeat counters in the registry"
echo "faults_test: all checks passed"
