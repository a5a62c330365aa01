#!/usr/bin/env bash
# ThreadSanitizer over the modules that run threads (storage, rollups, ingest, net, spool, ship,
# sensor, collector, the query API and its answer cache, common), built with clang (the `tsan`
# preset). The same build runs clang's thread-safety analysis (-Werror=thread-safety) over every
# library: `isdas` links them all, so an unlocked access to an ABSL_GUARDED_BY member anywhere
# fails here.
# Called by scripts/test.sh; alone: scripts/tsan.sh (after scripts/setup.sh and fetch-geo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset tsan >/dev/null
tests=(src/common/stop_signal_test src/rollup/rollup_test src/storage/storage_test
       src/storage/rollup_bruteforce_test src/spool/spool_test src/net/net_test
       src/ingest/ingest_test src/ship/ship_test src/sensor/sensor_test
       src/collector/collector_test tests/api_test)
targets=(isdas)
for t in "${tests[@]}"; do targets+=("$(basename "$t")"); done
cmake --build --preset tsan --target "${targets[@]}"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
for t in "${tests[@]}"; do
  filter='*'
  # The ClickHouse cases need the servers ctest's fixture starts: SQLite's run here.
  [[ $t == */rollup_bruteforce_test ]] && filter='*sqlite*:*Sqlite*'
  echo "== tsan: $t"
  "build/tsan/$t" --gtest_filter="$filter" --gtest_brief=1
done
echo "tsan: every test passed with no race reported"
