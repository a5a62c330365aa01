#!/usr/bin/env bash
# Exactly once on a ClickHouse cluster through server and collector kills: two shards, two
# collectors (one talking to each server), two sensors replaying 500,000 packets each. During
# ingest shard 2 is killed (-9), then shard 1, then collector 1, each restarted once the kill
# has been seen; every kill comes when more events have arrived (a readiness condition, not a
# delay). In the end ClickHouse holds exactly 1,000,000 events, and the query API answers the
# same over ClickHouse as over SQLite fed the same traffic. First, the same with one server
# (no cluster) killed during a 300,000-event ingest.
#   clickhouse_faults_test.sh ISDAS CLICKHOUSE_SERVER_SH GEO_DIR
set -euo pipefail
isdas=$1
chsh=$2
geo=$3
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  "$chsh" stop "$tmp/ch" >/dev/null 2>&1 || true
  "$chsh" stop "$tmp/ch/one" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
source "$(dirname "$0")/../../scripts/lab.sh"
cd "$tmp"
N=500000
lab_keys s1 s2
"$isdas" simulate --out a.pcap --packets $N --seed 31 >/dev/null
"$isdas" simulate --out b.pcap --packets $N --seed 32 >/dev/null
"$isdas" simulate --out one.pcap --packets 300000 --seed 33 >/dev/null
mkdir -p ch
"$chsh" start "$tmp/ch/one" >/dev/null
"$chsh" cluster "$tmp/ch" >/dev/null
h1=$(cat ch/s1/http_port)
h2=$(cat ch/s2/http_port)
ch() { curl -sf "http://127.0.0.1:$h1/?database=isdas" --data-binary "$1"; }
stored() { ch "SELECT count() FROM events" 2>/dev/null || echo 0; }

# collector NAME SERVER_HTTP_PORT: config and start (its port in NAME.port, its API's in
# NAME.api).
collector() {
  cat >"$1.toml" <<EOC
[collector]
listen = "127.0.0.1:${3:-0}"
port_file = "$1.port"
[tls]
cert = "ca/server.crt"
key = "ca/server.key"
ca = "ca/ca.crt"
crl = "ca/crl.pem"
[api]
listen = "127.0.0.1:0"
port_file = "$1.api"
[geo]
dir = "$geo"
[storage]
engine = "clickhouse"
clickhouse_port = $2
EOC
  [ "$2" = "$(cat ch/one/http_port)" ] ||
    printf 'clickhouse_cluster = "isdas"\nclickhouse_shards = ["127.0.0.1:%s", "127.0.0.1:%s"]\n' \
      "$h1" "$h2" >>"$1.toml"
  rm -f "$1.port"
  "$isdas" collector --config "$1.toml" >>"$1.log" 2>&1 &
  echo $! >"$1.pid"
  pids+=("$(cat "$1.pid")")
  for _ in $(seq 600); do [ -s "$1.port" ] && return 0; sleep 0.05; done
  fail "collector $1 did not start: $(tail -3 "$1.log")"
}
sensor_conf() {  # sensor_conf ID PCAP COLLECTOR_PORT SPOOL_DIR: writes ID.toml
  cat >"$1.toml" <<EOS
[sensor]
id = "$1"
replay = ["$2"]
replay_wait_s = 600
heartbeat_s = 1
[batch]
max_events = 8192
[spool]
dir = "$4"
$(lab_sensor_collector "$1" "https://127.0.0.1:$3")
initial_backoff_ms = 100
max_backoff_ms = 2000
EOS
}
sensor() {  # sensor ID PCAP COLLECTOR_PORT: started in the background
  sensor_conf "$1" "$2" "$3" "spool-$1"
  "$isdas" sensor --config "$1.toml" >"$1.out" 2>&1 &
  echo $! >"$1.pid"
}
# restart_server sN: a clickhouse-server killed with -9 comes back on its own config and ports.
restart_server() {
  (cd "ch/$1" && exec clickhouse-server --config-file="$tmp/ch/$1/config.xml" >>log/stdout.log 2>&1) &
  echo $! >"ch/$1/pid"
  local port
  port=$(cat "ch/$1/http_port")
  for _ in $(seq 900); do
    [ "$(curl -s "http://127.0.0.1:$port/ping" 2>/dev/null)" = "Ok." ] && return 0
    sleep 0.1
  done
  fail "clickhouse $1 did not come back"
}
wait_more() {  # wait_more COUNT: until ClickHouse has more than COUNT events (up to 120 s)
  for _ in $(seq 1200); do
    [ "$(stored)" -gt "$1" ] && return 0
    sleep 0.1
  done
  fail "no progress past $1 events"
}

# One server, killed (-9) once events arrive, and restarted.
ho=$(cat ch/one/http_port)
one() { curl -sf "http://127.0.0.1:$ho/?database=isdas" --data-binary "$1" 2>/dev/null || echo 0; }
collector c0 "$ho"
sensor s1 one.pcap "$(cat c0.port)"
for _ in $(seq 1200); do [ "$(one 'SELECT count() FROM events')" -gt 50000 ] && break; sleep 0.1; done
at=$(one 'SELECT count() FROM events')
kill -9 "$(cat ch/one/pid)"
echo "single server killed with $at events stored"
sleep 1
restart_server one
wait "$(cat s1.pid)" || fail "sensor s1 (one server) exit $?: $(tail -3 s1.out)"
n=$(one 'SELECT count() FROM events')
d=$(one 'SELECT count() FROM (SELECT DISTINCT ts, src, dst, sport, dport FROM events)')
[ "$n" = 300000 ] && [ "$d" = 300000 ] || fail "one server: $n events ($d distinct), want 300000"
echo "one server: 300000 of 300000 events, none twice; $(grep -c 'removed and stored again' c0.log || true) part-stored batches repaired"
kill "$(cat c0.pid)"
"$chsh" stop "$tmp/ch/one" >/dev/null
rm -rf spool-s1

collector c1 "$h1"
collector c2 "$h2"
sensor s1 a.pcap "$(cat c1.port)"
sensor s2 b.pcap "$(cat c2.port)"

wait_more 100000
at=$(stored)
kill -9 "$(cat ch/s2/pid)"
echo "shard 2 killed with $at events stored"
sleep 1
restart_server s2
wait_more "$(stored)"
at=$(stored)
kill -9 "$(cat ch/s1/pid)"
echo "shard 1 killed with $at events stored"
sleep 1
restart_server s1
wait_more "$(stored)"
c1port=$(cat c1.port)
kill -9 "$(cat c1.pid)"
echo "collector 1 killed with $(stored) events stored"
collector c1 "$h1" "$c1port"  # on its port again: the sensor's URL does not change

for s in s1 s2; do
  wait "$(cat $s.pid)" || fail "sensor $s exit $?: $(tail -3 $s.out)"
done
n=$(stored)
d=$(ch "SELECT count() FROM (SELECT DISTINCT sensor, ts, src, dst, sport, dport FROM events)")
[ "$n" = $((2 * N)) ] || fail "ClickHouse has $n events, want $((2 * N))"
[ "$d" = "$n" ] || fail "$n events but $d distinct: duplicates"
repaired=$(cat c1.log c2.log | grep -c "removed and stored again" || true)
echo "ClickHouse: $n of $((2 * N)) events, none twice; $repaired part-stored batches repaired"

# The same traffic into SQLite: the API must answer the same.
lab_collector_conf sq.toml 127.0.0.1:0 "$tmp/sqdata" "[geo]
dir = \"$geo\""
sed -i 's/port_file = "api.port"/port_file = "sq.api"/; s/port_file = "collector.port"/port_file = "sq.port"/' sq.toml
"$isdas" collector --config sq.toml >sq.log 2>&1 &
pids+=($!)
for _ in $(seq 600); do [ -s sq.port ] && [ -s sq.api ] && break; sleep 0.05; done
sensor_conf s1 a.pcap "$(cat sq.port)" spool-sq-s1
"$isdas" sensor --config s1.toml >sq-s1.out 2>&1 || fail "sensor s1 into SQLite: $(tail -3 sq-s1.out)"
sensor_conf s2 b.pcap "$(cat sq.port)" spool-sq-s2
"$isdas" sensor --config s2.toml >sq-s2.out 2>&1 || fail "sensor s2 into SQLite: $(tail -3 sq-s2.out)"
# Stopped, the SQLite collector writes the rollups it holds; the API alone then reads them.
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
sapi=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$isdas" api --data-dir "$tmp/sqdata" --listen "127.0.0.1:$sapi" >sqapi.log 2>&1 &
pids+=($!)
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$sapi/api/v1/meta" >/dev/null && break; sleep 0.05; done
capi=$(cat c2.api)
checked=0
w="from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z"
for q in "ports/top?limit=50&$w&format=csv" "countries/top?limit=30&$w&format=csv" \
  "asns/top?limit=30&$w&format=csv" "ports/series?ports=23,445,80&step=1h&$w&format=csv" \
  "traffic/top?by=tool&$w&format=csv" "ports/23?$w" "ports/445?$w"; do
  a=$(curl -sf "http://127.0.0.1:$capi/api/v1/$q") || fail "ClickHouse API: $q"
  b=$(curl -sf "http://127.0.0.1:$sapi/api/v1/$q") || fail "SQLite API: $q"
  [ -n "$a" ] || fail "empty answer: $q"
  [ "$a" = "$b" ] || fail "ClickHouse and SQLite differ for $q:
$(diff <(echo "$a") <(echo "$b") | head -10)"
  checked=$((checked + 1))
done
echo "clickhouse_faults_test: 1,000,000 of 1,000,000 through two shard kills and a collector kill; $checked API answers equal to SQLite's: all checks passed"
