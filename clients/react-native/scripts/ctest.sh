#!/bin/sh
# ctest entry point (tests/CMakeLists.txt, test "client/react-native"):
# installs the locked dependencies when they are missing or stale, then runs
# every test of the package. STATSYNC_BIN_DIR (set by ctest) points the
# integration tests at the binaries of that build.
set -e
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec npm test --silent
