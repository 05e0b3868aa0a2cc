#!/usr/bin/env bash
# scripts/local-common.sh — what the two local runners share, sourced by
# scripts/run-local.sh (README command one) and scripts/run-cluster.sh from
# the repository root:
#
#   statsync_local_build   install the Debian packages that are missing
#                          (scripts/deps.sh run: nothing is installed when
#                          everything is there), then build the binaries into
#                          BUILD (STATSYNC_BUILD_DIR, default ./build). A new
#                          build directory is configured RelWithDebInfo
#                          without tests; one that exists keeps its
#                          configuration (a test build stays a test build).
#                          Only the programs the runners start are built, and
#                          only what is out of date in them is compiled.
#   statsync_dev_secret    when STATSYNC_JWT_SECRET is unset: a fresh
#                          development secret for this run, exported, and
#                          DEV_SECRET=1 so the runner prints it.
set -euo pipefail

statsync_local_build() {
  # shellcheck source=scripts/deps.sh
  source scripts/deps.sh
  statsync_install_deps run
  BUILD=${STATSYNC_BUILD_DIR:-$PWD/build}
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTATSYNC_TESTS=OFF >/dev/null
  fi
  cmake --build "$BUILD" -j"$(nproc)" --target statsync-gateway statsync-token statsync-stats \
    statsync-presence >/dev/null
}

# shellcheck disable=SC2034 # DEV_SECRET is read by the runner that sourced this
statsync_dev_secret() {
  DEV_SECRET=
  if [ -z "${STATSYNC_JWT_SECRET:-}" ]; then
    # Local development only: a fresh secret per run, printed by the runner.
    STATSYNC_JWT_SECRET=dev-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    export STATSYNC_JWT_SECRET
    DEV_SECRET=1
  fi
}
