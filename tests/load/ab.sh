#!/usr/bin/env bash
# tests/load/ab.sh — before/after runs for one change (issue 19): starts the
# system of one build as bench.sh does (nats-server, statsync-stats on a fresh
# LMDB directory, statsync-presence, one statsync-gateway, free loopback
# ports), drives it with statsync-load --op-ids at 1 000 sockets x RATE for
# each RATE, and prints one line per rate: p50 / p99 send -> own push and the
# CPU per update of each process (jiffies from the end of the connect phase to
# the end of the run, over the updates sent meanwhile), with the load average.
#
#   tests/load/ab.sh BUILD_DIR [RATE ...]     (default rates: 2000 15000)
#
# Alternate two builds (A B A B ...) on a shared machine; the numbers of one
# run alone say little. Bounded: about 40 s per rate; every process it starts
# is stopped on exit.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
shift
RATES=${*:-"2000 15000"}
CONNS=${AB_CONNS:-1000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/statsync-ab.XXXXXX")
PIDS=()
cleanup() {
  for ((k = ${#PIDS[@]} - 1; k >= 0; k--)); do kill -TERM "${PIDS[k]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}
wait_http() { # url
  for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "ab.sh: $1 did not answer" >&2
  exit 2
}
jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NATS_PORT=$(free_port); API_PORT=$(free_port); SOCKET_PORT=$(free_port)
STATS_ADMIN=$(free_port); PRESENCE_ADMIN=$(free_port)
export STATSYNC_NATS_URL=nats://127.0.0.1:$NATS_PORT STATSYNC_LOG_LEVEL=warn
export STATSYNC_JWT_SECRET=ab-$RANDOM$RANDOM$RANDOM
nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/js" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!; PIDS+=("$NATS_PID")
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC2086 # AB_*_ENV are VAR=value words on purpose
env STATSYNC_DATA_DIR="$WORK/data" STATSYNC_ADMIN_PORT="$STATS_ADMIN" ${AB_STATS_ENV:-} \
  "$BUILD/stats-service/statsync-stats" >"$WORK/stats.log" 2>&1 &
STATS_PID=$!; PIDS+=("$STATS_PID")
wait_http "http://127.0.0.1:$STATS_ADMIN/health"
env STATSYNC_ADMIN_PORT="$PRESENCE_ADMIN" "$BUILD/presence-service/statsync-presence" \
  >"$WORK/presence.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PRESENCE_ADMIN/health"
# shellcheck disable=SC2086
env STATSYNC_API_PORT="$API_PORT" STATSYNC_SOCKET_PORT="$SOCKET_PORT" STATSYNC_RATE_MUTATIONS_PER_S=0 \
  STATSYNC_SHUTDOWN_DRAIN_MS=0 STATSYNC_SHUTDOWN_SPREAD_MS=0 ${AB_GATEWAY_ENV:-} \
  "$BUILD/gateway/statsync-gateway" >"$WORK/gateway.log" 2>&1 &
GW_PID=$!; PIDS+=("$GW_PID")
wait_http "http://127.0.0.1:$API_PORT/health"
LOAD=$BUILD/tests/load/statsync-load
"$LOAD" --port "$SOCKET_PORT" --conns 50 --rate 500 --warmup 0 --duration 1 >/dev/null 2>&1 || true
for rate in $RATES; do
  warm=2; dur=10
  [ "$rate" -gt 5000 ] && { warm=1; dur=5; }
  "$LOAD" --port "$SOCKET_PORT" --conns "$CONNS" --rate "$rate" --warmup "$warm" --duration "$dur" \
    --drain 3 --op-ids --report "$WORK/r.json" >/dev/null 2>"$WORK/r.err" &
  lpid=$!
  while kill -0 "$lpid" 2>/dev/null && ! grep -q '"phase":"connected"' "$WORK/r.err"; do sleep 0.02; done
  g0=$(jiffies "$GW_PID"); s0=$(jiffies "$STATS_PID"); n0=$(jiffies "$NATS_PID"); l0=$(jiffies "$lpid")
  l1=$l0
  while kill -0 "$lpid" 2>/dev/null; do v=$(jiffies "$lpid"); [ "$v" = 0 ] || l1=$v; sleep 0.1; done
  wait "$lpid" || true
  g=$(($(jiffies "$GW_PID") - g0)); s=$(($(jiffies "$STATS_PID") - s0)); n=$(($(jiffies "$NATS_PID") - n0))
  l=$((l1 - l0))
  jq -r --arg b "${AB_LABEL:-$BUILD}" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --argjson g "$g" --argjson s "$s" --argjson n "$n" --argjson l "$l" --argjson rate "$rate" \
    --argjson t $((warm + dur)) --argjson hz "$(getconf CLK_TCK)" '
    (1e6 / $hz / ($rate * $t)) as $k |
    "\($b) \($rate)/s: p50 \(.latency_us.p50 / 1000) ms, p99 \(.latency_us.p99 / 1000) ms, matched \(.matched)/\(.sent), errors \(.error_total); CPU us/update: gateway \($g * $k | round), stats \($s * $k | round), nats \($n * $k | round), generator \($l * $k | round), total \(($g + $s + $n + $l) * $k | round); load \($load)"' \
    "$WORK/r.json"
done
