# Shared by the demo, the integration tests and the benchmarks (sourced, not run): a CA, a
# collector config and a sensor's [collector] block, all in the current directory, so each
# script says only what is particular to it. Expects $isdas to name the isdas binary.

# lab_keys SENSOR...: ca/ with a CA, the collector's certificate for 127.0.0.1 and localhost,
# and a certificate for each sensor.
lab_keys() {
  "$isdas" keys init --dir ca >/dev/null
  "$isdas" keys server --dir ca 127.0.0.1 localhost >/dev/null
  local s
  for s in "$@"; do "$isdas" keys sensor --dir ca "$s" >/dev/null; done
}

# lab_collector_conf FILE LISTEN DATA_DIR [EXTRA_TOML]: a collector config using ca/, writing
# its bound port to collector.port and its query API's (LAB_API_LISTEN, default any free
# port on 127.0.0.1) to api.port;
# EXTRA_TOML (whole tables, e.g. [storage]) is appended.
lab_collector_conf() {
  cat >"$1" <<EOC
[collector]
data_dir = "$3"
listen = "$2"
port_file = "collector.port"
[tls]
cert = "ca/server.crt"
key = "ca/server.key"
ca = "ca/ca.crt"
crl = "ca/crl.pem"
[api]
listen = "${LAB_API_LISTEN:-127.0.0.1:0}"
port_file = "api.port"
${4:-}
EOC
}

# lab_wait_port: waits (up to 10 s) for collector.port and prints it.
lab_wait_port() {
  local _
  for _ in $(seq 200); do
    [ -s collector.port ] && { cat collector.port; return 0; }
    sleep 0.05
  done
  echo "collector did not write collector.port" >&2
  return 1
}

# lab_sensor_collector SENSOR URL... : the [collector] table of a sensor config.
lab_sensor_collector() {
  local id=$1 urls="" u
  shift
  for u in "$@"; do urls="$urls${urls:+, }\"$u\""; done
  cat <<EOS
[collector]
urls = [$urls]
ca = "ca/ca.crt"
cert = "ca/sensors/$id.crt"
key = "ca/sensors/$id.key"
EOS
}
