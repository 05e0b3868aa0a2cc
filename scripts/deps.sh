#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages statsync needs, only those missing.
# Sourced by run-local.sh, run-cluster.sh and test.sh; `scripts/deps.sh [run|test]`
# works on its own.
#
#   run   what building and running needs: compiler, cmake, the -dev packages,
#         nats-server, nginx (the edge), curl. No Node.js: nothing that runs
#         needs it (the browser demo is static files).
#   test  run, plus what the tests need: Node.js and npm (the real
#         socket.io-client), cmocka, clang (fuzzing), docker-compose (checks
#         the compose file), chromium (the demo's test), openssl (throwaway
#         certificates), prometheus (the observability pack's test).
#
# It says what it installs, and shows apt's progress one line per package.
# While it installs, Debian's nats-server and nginx packages are kept from
# starting their own services (policy-rc.d, the mechanism Debian provides for
# this): those would take port 4222 or 80 behind statsync's back. They stay
# installed and enabled for the next boot; the runners detect a port in use
# and say what to do.
#
# STATSYNC_DEPS_DRY_RUN=1 prints the packages that would be installed, one a
# line, and installs nothing (a test reads it).
set -euo pipefail

STATSYNC_DEPS_BUILD=(build-essential cmake pkg-config protobuf-c-compiler libprotobuf-c-dev
  libnats-dev libmicrohttpd-dev libwebsockets-dev libwebsockets-evlib-ev libev-dev liblmdb-dev libjansson-dev libjwt-dev
  nats-server curl ca-certificates
  nginx) # nginx: the edge (edge/, one origin for REST + Socket.IO)
STATSYNC_DEPS_TEST=(libcmocka-dev clang libclang-rt-14-dev docker-compose
  openssl    # throwaway certificates (edge TLS, NATS TLS tests)
  chromium   # the browser demo's test (tests/compat/demo_browser.test.js), headless
  prometheus) # prometheus (with promtool): the observability pack's test (tests/integration/observability.test.js)

# statsync_missing_deps run|test: the packages of that set not installed, one a line.
statsync_missing_deps() {
  local want=("${STATSYNC_DEPS_BUILD[@]}")
  if [ "${1:-run}" = test ]; then
    want+=("${STATSYNC_DEPS_TEST[@]}")
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
      want+=(nodejs npm)
    fi
  fi
  local p
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

# Keeps package services from starting during the install; undone by
# statsync__allow_services. Leaves an existing policy-rc.d alone.
STATSYNC__POLICY=
statsync__hold_services() {
  local policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] && return 0
  printf '#!/bin/sh\n# statsync scripts/deps.sh: no service starts during its install\nexit 101\n' |
    $1 tee "$policy" >/dev/null && $1 chmod 755 "$policy" && STATSYNC__POLICY=$policy
}
statsync__allow_services() {
  if [ -n "$STATSYNC__POLICY" ]; then $1 rm -f "$STATSYNC__POLICY"; STATSYNC__POLICY=; fi
}

# apt-get's output on stdin: "set up N: <package>" per package, all of it into $1.
statsync__apt_progress() {
  local n=0 line
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$1"
    if [[ $line == "Setting up "* ]]; then
      n=$((n + 1))
      printf '   set up %d: %s\n' "$n" "${line#Setting up }"
    fi
  done
}

statsync_install_deps() {
  local missing
  mapfile -t missing < <(statsync_missing_deps "${1:-run}")
  if [ -n "${STATSYNC_DEPS_DRY_RUN:-}" ]; then
    [ "${#missing[@]}" -eq 0 ] || printf '%s\n' "${missing[@]}"
    return 0
  fi
  [ "${#missing[@]}" -gt 0 ] || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "== installing ${#missing[@]} Debian packages (apt-get; a few minutes on a fresh machine):"
  echo "   ${missing[*]}"
  echo "   apt-get update …"
  $sudo apt-get update -qq
  statsync__hold_services "$sudo"
  local rc=0 log
  log=$(mktemp)
  # one line per package set up; the rest of apt's output kept for a failure
  # (pipefail: the pipeline fails when apt-get does)
  if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" 2>&1 |
    statsync__apt_progress "$log"; then
    rc=1
  fi
  statsync__allow_services "$sudo"
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    echo "deps.sh: apt-get install failed (its last lines above)" >&2
    return 1
  fi
  rm -f "$log"
  echo "== installed"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  statsync_install_deps "${1:-run}"
fi
