#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] — the longer fuzz run, in one command: builds the
# clang libFuzzer build (build-fuzz: CC=clang, -DSTATSYNC_FUZZ=ON, ASan+UBSan)
# and runs every tests/fuzz/fuzz_*.c target, one after the other, for SECONDS
# each (default 300) over its seed corpus tests/fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh             # 300 s per target
#   scripts/fuzz.sh 30          # a quick pass
#   STATSYNC_FUZZ_ONLY=auth scripts/fuzz.sh 600   # only targets matching a regex
#   STATSYNC_FUZZ_BUILD=build-x scripts/fuzz.sh   # another build directory
#
# Inputs that found new coverage go to <build>/tests/fuzz/corpus-<target>/
# (the same scratch dir ctest uses, so runs build on each other; the seeds in
# the repo stay untouched). A crash, leak, UB report or violated invariant
# is saved as <build>/tests/fuzz/artifacts/<target>-crash-<sha1>; reproduce
# it with <build>/tests/fuzz/<target> <file>. The script ends with a table of
# executions and exec/s per target and exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-300}
BUILD=${STATSYNC_FUZZ_BUILD:-build-fuzz}
ONLY=${STATSYNC_FUZZ_ONLY:-}
case "$SECS" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed" >&2; exit 2; }

echo "== building $BUILD (clang, libFuzzer, ASan+UBSan)"
CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSTATSYNC_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

# Every sanitizer report is a failure; leaks too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

FDIR=$BUILD/tests/fuzz
mkdir -p "$FDIR/artifacts"
ART=$(cd "$FDIR/artifacts" && pwd)
summary=()
status=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  if [ -n "$ONLY" ] && ! grep -Eq "$ONLY" <<<"$name"; then continue; fi
  scratch=$FDIR/corpus-$name
  mkdir -p "$scratch" "tests/fuzz/corpus/$name"
  log=$FDIR/$name.log
  echo "== $name: ${SECS} s (log: $log)"
  rc=0
  "$FDIR/$name" -max_total_time="$SECS" -rss_limit_mb=1024 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$ART/$name-" \
    "$scratch" "tests/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  corpus=$(find "$scratch" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (rc $rc)"
    status=1
    grep -E 'ERROR:|runtime error|invariant failed|Test unit written' "$log" | head -n 8 || true
  fi
  summary+=("$(printf '%-22s %14s %10s %8s  %s' "$name" "${execs:-?}" "${rate:-?}" "$corpus" "$result")")
done

echo
printf '%-22s %14s %10s %8s  %s\n' target executions exec/s corpus result
printf '%s\n' "${summary[@]}"
exit $status
