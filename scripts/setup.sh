#!/usr/bin/env bash
# Installs the Debian packages isdas needs, when they are missing. Idempotent.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh bench      also the tools the benchmarks compare against
#   scripts/setup.sh fuzz       (clang/libFuzzer: part of the build dependencies now)
set -euo pipefail

pkgs=(
  cmake ninja-build g++ pkg-config make clang-format  # build (and the format check)
  clang libclang-rt-dev  # ThreadSanitizer and the thread-safety analysis (scripts/tsan.sh)
  libpcap-dev        # packet capture (live interfaces; tests compare our file reader with it)
  libsqlite3-dev sqlite3  # the embedded event store (and its shell, used by the demo and tests)
  libssl-dev         # SHA-256 of imported files; TLS for sensor/collector
  libprotobuf-dev protobuf-compiler  # the wire batch schema
  libzstd-dev        # batch compression, the SQLite store's event blocks
  libtomlplusplus-dev  # TOML config files
  libabsl-dev        # Abseil: flat_hash_map (rollup tables), Mutex with thread-safety annotations
  libboost-dev       # Asio/Beast: the collector's event-driven HTTP(S) server
  libcpp-httplib-dev zlib1g-dev  # HTTPS client of the sensor and the tests (zlib: gzip test)
  nlohmann-json3-dev  # JSON of the query API
  libmaxminddb-dev mmdb-bin      # country lookups (MMDB); mmdblookup cross-checks them in tests
  clickhouse-server clickhouse-client curl  # the scale-out store; tests start their own server
  libgtest-dev libgmock-dev  # unit tests
  python3 tshark      # tshark cross-checks the decoder in tests; python3 runs that check
  openssl            # the CLI verifies, in tests, the certificates `isdas keys` issues
  iproute2 tcpdump masscan zmap nmap hping3  # live tests: real scanners in network namespaces
)
case "${1:-}" in
  bench) pkgs+=(libbenchmark-dev tcpdump nfdump time wrk) ;;
  fuzz) ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [bench|fuzz]" >&2; exit 64 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; the default (no) is what we want.
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
