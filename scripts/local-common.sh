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
#                          It says that it builds, and shows progress.
#   statsync_dev_secret    when STATSYNC_JWT_SECRET is unset: a fresh
#                          development secret for this run, exported, and
#                          DEV_SECRET=1 so the runner prints it.
#   statsync_port_holder   PORT: true when something listens on PORT (any
#                          address, IPv4 or IPv6); prints who: its name and
#                          pid, and its systemd unit when it has one.
#   statsync_ports_free    SCRIPT "PORT|WHAT|HOW TO MOVE IT" ...: true when no
#                          port is in use; otherwise says, for each one taken,
#                          who holds it and what to do instead, and is false.
#                          Nobody else's server is ever used quietly.
set -euo pipefail

statsync_local_build() {
  # shellcheck source=scripts/deps.sh
  source scripts/deps.sh
  statsync_install_deps run
  BUILD=${STATSYNC_BUILD_DIR:-$PWD/build}
  local log
  mkdir -p "$BUILD"
  log=$BUILD/statsync-build.log
  echo "== building statsync in $BUILD (only what changed; a first build takes a few minutes; log: $log)"
  if [ ! -f "$BUILD/CMakeCache.txt" ] &&
    ! cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTATSYNC_TESTS=OFF >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "cmake could not configure the build (its last lines above)" >&2
    exit 1
  fi
  if ! cmake --build "$BUILD" -j"$(nproc)" --target statsync-gateway statsync-token statsync-stats \
    statsync-presence 2>&1 | statsync__build_progress "$log"; then
    tail -n 40 "$log" >&2
    echo "the build failed (its last lines above)" >&2
    exit 1
  fi
}

# cmake --build's output on stdin: a line at every tenth of the way, all of
# it appended to $1.
statsync__build_progress() {
  local line pct next=10 compiled=0
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$1"
    [[ $line =~ ^\[\ *([0-9]+)%\]\ (Building|Linking) ]] || continue
    compiled=1
    pct=${BASH_REMATCH[1]}
    if [ "$pct" -ge "$next" ]; then
      printf '   %3d %%\n' "$pct"
      next=$(((pct / 10 + 1) * 10))
    fi
  done
  [ "$compiled" -eq 1 ] || echo "   up to date"
}

statsync_port_holder() {
  local hex inode pid='' name unit=''
  hex=$(printf '%04X' "$1")
  # LISTEN sockets (state 0A) on that port, any local address
  inode=$(awk -v h="$hex" '$4 == "0A" { n = split($2, a, ":"); if (a[n] == h) { print $10; exit } }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  [ -n "$inode" ] || return 1
  local fd
  for fd in /proc/[0-9]*/fd/*; do
    if [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ]; then
      pid=${fd#/proc/}
      pid=${pid%%/*}
      break
    fi
  done
  if [ -z "$pid" ]; then
    echo "a process this user cannot see (another user's; try as root: ss -ltnp 'sport = :$1')"
    return 0
  fi
  name=$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')
  unit=$(grep -o '[^/]*\.service' "/proc/$pid/cgroup" 2>/dev/null | tail -n1 || true)
  case "$unit" in user@*.service | session-*.scope | '') unit='' ;; esac
  echo "$name (pid $pid${unit:+, systemd service $unit})"
}

statsync_ports_free() {
  local script=$1 spec port what how holder unit bad=0
  shift
  for spec in "$@"; do
    IFS='|' read -r port what how <<<"$spec"
    holder=$(statsync_port_holder "$port") || continue
    bad=1
    echo "$script: port $port ($what) is already in use by $holder." >&2
    case "$holder" in
      *"systemd service "*)
        unit=${holder##*systemd service }
        unit=${unit%)}
        echo "   A system service (Debian's ${unit%.service} package starts one); statsync will not use a server it did not start." >&2
        echo "   Stop it:          systemctl disable --now ${unit%.service}" >&2
        echo "   or move statsync: $how" >&2 ;;
      *)
        echo "   statsync will not use a server it did not start: stop that process, or move statsync:" >&2
        echo "      $how" >&2 ;;
    esac
  done
  return "$bad"
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
