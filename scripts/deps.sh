#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages statsync needs, only those missing.
# Sourced by run-local.sh and test.sh; `scripts/deps.sh [run|test]` works on its own.
set -euo pipefail

STATSYNC_DEPS_BUILD=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev
  libnats-dev libmicrohttpd-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev liblmdb-dev libjansson-dev libjwt-dev
  nats-server curl ca-certificates
  nginx openssl) # nginx: the edge (edge/, one origin for REST + Socket.IO); openssl: test certificates
STATSYNC_DEPS_TEST=(libcmocka-dev clang libclang-rt-14-dev docker-compose
  chromium   # chromium: the browser demo's test (tests/compat/demo_browser.test.js), headless
  prometheus) # prometheus (with promtool): the observability pack's test (tests/integration/observability.test.js)

statsync_install_deps() {
  local want=("${STATSYNC_DEPS_BUILD[@]}")
  if [ "${1:-run}" = test ]; then want+=("${STATSYNC_DEPS_TEST[@]}"); fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    want+=(nodejs npm)
  fi
  local missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  statsync_install_deps "${1:-run}"
fi
