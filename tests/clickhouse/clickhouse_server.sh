#!/usr/bin/env bash
# Starts a throw-away ClickHouse server (Debian's clickhouse-server) on loopback for tests:
# its own config, data and logs in DIR, free ports, no other state. Prints "HTTP_PORT PID".
#   clickhouse_server.sh start DIR [REMOTE_SERVERS_XML]
#   clickhouse_server.sh cluster DIR   two servers DIR/s1 and DIR/s2 sharing a cluster "isdas"
#   clickhouse_server.sh stop DIR      (stops DIR, or both servers of a cluster)
# REMOTE_SERVERS_XML, if given, is inserted as <remote_servers> (for Distributed tables);
# TCP_PORT in the environment fixes the native port (else a free one).
set -euo pipefail
cmd=$1
dir=$(realpath -m "$2")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
case "$cmd" in
start)
  command -v clickhouse-server >/dev/null || { echo "clickhouse-server is not installed" >&2; exit 1; }
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  http=$(free_port)
  tcp=${TCP_PORT:-$(free_port)}
  inter=$(free_port)
  remote=${3:-}
  cat >"$dir/config.xml" <<EOC
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/server.log</log>
    <errorlog>$dir/log/server.err.log</errorlog>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <interserver_http_port>$inter</interserver_http_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <remote_servers>$remote</remote_servers>
</yandex>
EOC
  cat >"$dir/users.xml" <<'EOU'
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
EOU
  (cd "$dir" && exec clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1) &
  pid=$!
  echo "$pid" >"$dir/pid"
  echo "$http" >"$dir/http_port"
  echo "$tcp" >"$dir/tcp_port"
  # Up to 90 s: a server starting beside another one and heavy disk traffic took over 30 s.
  for _ in $(seq 900); do
    if [ "$(curl -s "http://127.0.0.1:$http/ping" 2>/dev/null)" = "Ok." ]; then
      echo "$http $pid"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "clickhouse-server did not start; last log lines:" >&2
  tail -n 20 "$dir/log/server.err.log" "$dir/log/stdout.log" >&2 || true
  exit 1
  ;;
cluster)
  # Both servers know the cluster: pick the native ports first, then start each.
  p1=$(free_port)
  p2=$(free_port)
  xml="<isdas>"
  for p in $p1 $p2; do
    xml="$xml<shard><replica><host>127.0.0.1</host><port>$p</port></replica></shard>"
  done
  xml="$xml</isdas>"
  TCP_PORT=$p1 "$0" start "$dir/s1" "$xml" >/dev/null
  TCP_PORT=$p2 "$0" start "$dir/s2" "$xml" >/dev/null
  echo "$(cat "$dir/s1/http_port") $(cat "$dir/s2/http_port")"
  ;;
stop)
  if [ -d "$dir/s1" ]; then "$0" stop "$dir/s1"; "$0" stop "$dir/s2"; exit 0; fi
  [ -f "$dir/pid" ] || exit 0
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  ;;
*)
  echo "usage: clickhouse_server.sh start|stop DIR" >&2
  exit 64
  ;;
esac
