#!/usr/bin/env bash
# scripts/test.sh — README command two: install what is missing, build, and run
# every test: unit (cmocka), integration and compatibility (node + the real
# socket.io-client against the real binaries and a real nats-server), the
# client SDK's tests, then the same unit/integration/compat tests again in an
# ASan+UBSan build, the threaded parts in a TSan build, and each libFuzzer
# target for a short fixed time. A Release build is compiled too (no tests run
# in it): its optimiser finds warnings the others do not.
#
#   STATSYNC_TEST_QUICK=1  skip the sanitizer and fuzz passes
#   STATSYNC_FUZZ_SECONDS  seconds per fuzz target (default 10)
#   CTEST_ARGS             extra arguments for every ctest run (e.g. "-R rest")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/deps.sh
statsync_install_deps test

JOBS=$(nproc)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== npm packages (from lock files)"
npm ci --prefix tests --no-audit --no-fund --loglevel=error
npm ci --prefix tests/load/baseline --no-audit --no-fund --loglevel=error # the benchmark's Node.js baseline (load/baseline)
if [ -f clients/react-native/package-lock.json ]; then
  npm ci --prefix clients/react-native --no-audit --no-fund --loglevel=error
fi

passed=0
failed=0
run_ctest() { # build-dir label-regex-or-empty
  local dir=$1 labels=$2 log rc=0
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" ${labels:+-L "$labels"} ${CTEST_ARGS:-}) 2>&1 | tee "$log" || rc=$?
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)
  if [ -n "$line" ]; then
    local total bad
    bad=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1))
  fi
  rm -f "$log"
  return "$rc"
}

status=0
echo "== build (RelWithDebInfo) + all tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTATSYNC_TESTS=ON >/dev/null
cmake --build build -j"$JOBS"
run_ctest build "" || status=1

# Release (-O3) sees warnings RelWithDebInfo does not (-Werror=maybe-uninitialized
# once broke it): build it, every target, and run nothing — the suite above ran.
echo "== build (Release): compile only"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSTATSYNC_TESTS=ON >/dev/null
if ! cmake --build build-release -j"$JOBS"; then
  failed=$((failed + 1))
  status=1
fi

if [ -z "${STATSYNC_TEST_QUICK:-}" ]; then
  echo "== ASan+UBSan build: unit, integration and compat tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTATSYNC_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$JOBS"
  run_ctest build-asan 'unit|integration|compat' || status=1

  echo "== ThreadSanitizer build: the threaded parts (writer, NATS loop + mux, REST suspend/resume, fan-out, partition keeper)"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DSTATSYNC_TSAN=ON >/dev/null
  cmake --build build-tsan -j"$JOBS"
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
    CTEST_ARGS="-R (test_writer|test_commit_pool|test_stats_nats|test_nats_loop|rest_consistency|sio_fanout|shutdown_under_load|handover_bound|integration/partitions$) ${CTEST_ARGS:-}" \
    run_ctest build-tsan '' || status=1

  echo "== libFuzzer targets (${STATSYNC_FUZZ_SECONDS:-10} s each)"
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSTATSYNC_FUZZ=ON \
    -DSTATSYNC_FUZZ_SECONDS="${STATSYNC_FUZZ_SECONDS:-10}" >/dev/null
  cmake --build build-fuzz -j"$JOBS"
  run_ctest build-fuzz fuzz || status=1
fi

echo
echo "statsync tests: $passed passed, $failed failed"
exit $status
