#!/usr/bin/env bash
# Builds isdas with AddressSanitizer/UBSan (the `dev` preset) and runs every test:
# unit tests, golden captures, fuzz-corpus replays, integration tests; then the threaded
# modules' tests under ThreadSanitizer, built with clang and its thread-safety analysis
# (scripts/tsan.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-geo.sh  # pinned GeoIP data from the npm registry (third_party/geo)
cmake --preset dev >/dev/null
cmake --build --preset dev
ctest --preset dev -j"$(nproc)"
scripts/tsan.sh
