#!/usr/bin/env bash
# scripts/run-local.sh — README command one: install what is missing, build,
# and run nats-server + stats-service + presence-service + gateway + the edge
# (nginx: REST and Socket.IO on one App URL, http://127.0.0.1:$STATSYNC_APP_PORT)
# in the foreground. Honours every STATSYNC_* variable (so a second copy can
# run on other ports). Its files live in the run directory, STATSYNC_RUN_DIR
# (default ./.run): data in <run>/data unless STATSYNC_DATA_DIR says
# otherwise, the edge's prefix <run>/edge-<app port>, nats-server's log
# <run>/nats-<port>.log. Ctrl-C stops every process this script started.
#
# NATS runs with JetStream (store in <run>/nats-<port>-jetstream) and
# authentication: scripts/nats-config.sh renders a fresh
# configuration (one user per service, each allowed only its subjects; new
# random passwords, files mode 0600) into <run>/nats-<port>/ at every start,
# and each service connects as its own user. With STATSYNC_NATS_URL_EXTERNAL
# set no nats-server is started, and the STATSYNC_NATS_* credentials you
# export (if any) are used by every service alike.
#
# Honest about what it does: it says what it installs (scripts/deps.sh: no
# Node.js, nothing that running does not need) and that it builds; it
# refuses to start when one of its ports is taken — Debian's own nats-server
# or nginx service included — naming who holds it and what to do, instead of
# quietly using someone else's server. Each process leads a session of its
# own, so Ctrl-C reaches only this script, which stops them in order (edge,
# gateway, presence, stats, NATS) and says which stopped and how. When one of
# them dies by itself, it names that one, stops the others and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=${STATSYNC_RUN_DIR:-$ROOT/.run} # NATS config and store, the edge's prefix, logs, data
# shellcheck source=scripts/local-common.sh
source scripts/local-common.sh

say() { printf '== %s\n' "$*"; }

export STATSYNC_API_PORT=${STATSYNC_API_PORT:-3000}
export STATSYNC_SOCKET_PORT=${STATSYNC_SOCKET_PORT:-3001}
APP_PORT=${STATSYNC_APP_PORT:-8080}
APP_URL=http://127.0.0.1:$APP_PORT
CURL_TLS=()
if [ -n "${STATSYNC_EDGE_TLS_CERT:-}" ]; then
  # HTTPS/WSS at the edge (edge/README.md); the probe below trusts any certificate.
  APP_URL=https://127.0.0.1:$APP_PORT
  CURL_TLS=(-k)
fi
# The gateway's sids start with "<tag>." so the edge keeps a polling session
# on it; it believes X-Forwarded-For only from the edge (on loopback here).
ROUTE_TAG=${STATSYNC_ROUTE_TAG:-g0}
TRUSTED_PROXIES=${STATSYNC_TRUSTED_PROXIES:-loopback}
EDGE_PREFIX=${STATSYNC_EDGE_PREFIX:-$RUN/edge-$APP_PORT}
STATS_ADMIN=${STATSYNC_STATS_ADMIN_PORT:-3002}
PRESENCE_ADMIN=${STATSYNC_PRESENCE_ADMIN_PORT:-3003}
NATS_PORT=${STATSYNC_NATS_PORT:-4222}

# Every port this run listens on, with what to set to move it.
PORTS=("$APP_PORT|the App URL: the edge, STATSYNC_APP_PORT|STATSYNC_APP_PORT=9080 ./scripts/run-local.sh"
  "$STATSYNC_API_PORT|the gateway's REST port, STATSYNC_API_PORT|STATSYNC_API_PORT=4000 ./scripts/run-local.sh"
  "$STATSYNC_SOCKET_PORT|the gateway's Socket.IO port, STATSYNC_SOCKET_PORT|STATSYNC_SOCKET_PORT=4001 ./scripts/run-local.sh"
  "$STATS_ADMIN|the stats-service's admin port, STATSYNC_STATS_ADMIN_PORT|STATSYNC_STATS_ADMIN_PORT=4002 ./scripts/run-local.sh"
  "$PRESENCE_ADMIN|the presence-service's admin port, STATSYNC_PRESENCE_ADMIN_PORT|STATSYNC_PRESENCE_ADMIN_PORT=4003 ./scripts/run-local.sh")
if [ -z "${STATSYNC_NATS_URL_EXTERNAL:-}" ]; then
  PORTS+=("$NATS_PORT|NATS, STATSYNC_NATS_PORT|STATSYNC_NATS_PORT=4223 ./scripts/run-local.sh  (or STATSYNC_NATS_URL_EXTERNAL=1 STATSYNC_NATS_URL=nats://… to use a NATS of yours on purpose)")
fi
# Before the build (no minutes lost) and again just before the start.
statsync_ports_free run-local.sh "${PORTS[@]}" || exit 2

statsync_local_build # sets BUILD

export STATSYNC_NATS_URL=${STATSYNC_NATS_URL:-nats://127.0.0.1:$NATS_PORT}
export STATSYNC_DATA_DIR=${STATSYNC_DATA_DIR:-$RUN/data}
export STATSYNC_LOG_LEVEL=${STATSYNC_LOG_LEVEL:-info}
# The services' admin ports (/livez, /readyz, /health, /metrics) on this
# machine only; containers keep the default (every interface).
export STATSYNC_ADMIN_BIND=${STATSYNC_ADMIN_BIND:-127.0.0.1}
# No load balancer probes this gateway's /readyz here: Ctrl-C need not wait
# for a drain delay nor spread the socket closes (README "Guarantees").
export STATSYNC_SHUTDOWN_DRAIN_MS=${STATSYNC_SHUTDOWN_DRAIN_MS:-0}
export STATSYNC_SHUTDOWN_SPREAD_MS=${STATSYNC_SHUTDOWN_SPREAD_MS:-0}
statsync_dev_secret # a fresh one, printed below, unless STATSYNC_JWT_SECRET is set
mkdir -p "$STATSYNC_DATA_DIR" "$RUN"
statsync_ports_free run-local.sh "${PORTS[@]}" || exit 2

# --- the processes --------------------------------------------------------
NAMES=() # in start order
declare -A PID=() LOG=() STOPSIG=()
# start NAME LOG|- CMD...: in a session of its own (setsid execs it: the pid
# stays), so a terminal's Ctrl-C reaches only this script; output to LOG, or
# to this terminal with "-".
start() {
  local n=$1 log=$2
  shift 2
  if [ "$log" = - ]; then
    setsid "$@" </dev/null &
  else
    setsid "$@" >"$log" 2>&1 </dev/null &
  fi
  PID[$n]=$!
  LOG[$n]=$log
  NAMES+=("$n")
}

# how PID: "exit code N" / "killed by SIGX" of a child that ended.
how() {
  local rc=0
  wait "$1" 2>/dev/null || rc=$?
  if [ "$rc" -gt 128 ]; then echo "killed by SIG$(kill -l $((rc - 128)))"; else echo "exit code $rc"; fi
}

# Stops every process in the reverse order of their start, each with its
# stop signal — SIGTERM; nats-server SIGINT, which it answers with a clean
# exit 0 (SIGTERM: exit 1) — SIGKILL after 20 s, and says how each one ended.
stop_all() {
  trap - INT TERM HUP EXIT
  local i n pid t ended=() unclean=0 h
  for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
    n=${NAMES[$i]}
    pid=${PID[$n]}
    [ -n "$pid" ] || continue
    kill -"${STOPSIG[$n]:-TERM}" "$pid" 2>/dev/null || true
    for ((t = 0; t < 200; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      h="did not stop within 20 s of SIGTERM: killed"
    else
      h=$(how "$pid")
    fi
    PID[$n]=''
    case "$h" in "exit code 0") ended+=("$n") ;; *) ended+=("$n ($h)"); unclean=1 ;; esac
  done
  [ "${#ended[@]}" -eq 0 ] || say "stopped: $(IFS=,; echo "${ended[*]}" | sed 's/,/, /g')"
  return "$unclean"
}

# A process died by itself: name it, show its log's end, stop the others.
died() {
  local n=$1 h
  h=$(how "${PID[$n]}")
  PID[$n]=''
  echo
  say "$n exited by itself ($h); stopping the others"
  if [ "${LOG[$n]}" != - ]; then
    echo "   the end of its log (${LOG[$n]}):"
    tail -n 15 "${LOG[$n]}" | sed 's/^/   | /'
  fi
  stop_all || true
  exit 1
}

on_signal() { # SIG
  echo
  say "$1: stopping everything"
  if stop_all; then exit 0; fi
  exit 1
}
trap 'on_signal Ctrl-C' INT
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGHUP' HUP
trap 'stop_all || true' EXIT

# waits until URL answers; fails naming NAME when it exits meanwhile or
# does not come up within 30 s.
wait_http() { # url name
  local i
  for ((i = 0; i < 300; i++)); do
    curl -fsS "${CURL_TLS[@]}" -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "${PID[$2]}" 2>/dev/null || died "$2"
    sleep 0.1
  done
  echo "run-local.sh: $2 did not come up within 30 s ($1); see its log lines above" >&2
  stop_all || true
  exit 1
}

NATS_AUTH=
# as_nats_user USER: the environment that makes a service connect as USER.
as_nats_user() {
  [ -n "$NATS_AUTH" ] || return 0
  printf '%s\n' "STATSYNC_NATS_USER=$1" "STATSYNC_NATS_PASSWORD_FILE=$NATS_AUTH/$1/password"
}
say "starting nats-server, stats-service, presence-service, gateway and the edge"
if [ -z "${STATSYNC_NATS_URL_EXTERNAL:-}" ]; then
  NATS_AUTH=$RUN/nats-$NATS_PORT
  # JetStream's store (the stats-service's partition leases) is kept across
  # runs, as a server's disk is; the credentials are new every run.
  NATS_STORE=$RUN/nats-$NATS_PORT-jetstream
  rm -rf "$NATS_AUTH"
  bash scripts/nats-config.sh render "$NATS_AUTH" --jetstream "$NATS_STORE" >/dev/null
  start nats-server "$RUN/nats-$NATS_PORT.log" nats-server -c "$NATS_AUTH/nats-server.conf" -a 127.0.0.1 -p "$NATS_PORT"
  STOPSIG[nats-server]=INT
  # ours, and only ours: the port was free, and its process must still be there
  for ((i = 0; i < 100; i++)); do
    kill -0 "${PID[nats-server]}" 2>/dev/null || died nats-server
    (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break
    sleep 0.1
  done
fi
mapfile -t STATS_NATS < <(as_nats_user stats)
mapfile -t PRESENCE_NATS < <(as_nats_user presence)
mapfile -t GATEWAY_NATS < <(as_nats_user gateway)
start stats-service - env "${STATS_NATS[@]}" STATSYNC_ADMIN_PORT="$STATS_ADMIN" "$BUILD/stats-service/statsync-stats"
wait_http "http://127.0.0.1:$STATS_ADMIN/health" stats-service
start presence-service - env "${PRESENCE_NATS[@]}" STATSYNC_ADMIN_PORT="$PRESENCE_ADMIN" "$BUILD/presence-service/statsync-presence"
wait_http "http://127.0.0.1:$PRESENCE_ADMIN/health" presence-service
start gateway - env "${GATEWAY_NATS[@]}" STATSYNC_ROUTE_TAG="$ROUTE_TAG" STATSYNC_TRUSTED_PROXIES="$TRUSTED_PROXIES" "$BUILD/gateway/statsync-gateway"
wait_http "http://127.0.0.1:$STATSYNC_API_PORT/health" gateway
# The edge: nginx in the foreground (edge/run-edge.sh execs it), its config
# rendered by edge/render-nginx.sh, pid/temp files and access log in its prefix.
start edge - env STATSYNC_APP_PORT="$APP_PORT" STATSYNC_EDGE_BIND="${STATSYNC_EDGE_BIND:-127.0.0.1}" \
  STATSYNC_EDGE_GATEWAYS="$ROUTE_TAG=127.0.0.1:$STATSYNC_API_PORT:$STATSYNC_SOCKET_PORT" \
  STATSYNC_EDGE_PREFIX="$EDGE_PREFIX" "$ROOT/edge/run-edge.sh"
wait_http "$APP_URL/health" edge

TOKEN=$("$BUILD/gateway/statsync-token" alice --secret "$STATSYNC_JWT_SECRET")
DEMO_TOKEN=$("$BUILD/gateway/statsync-token" demo-user --secret "$STATSYNC_JWT_SECRET")
if command -v node >/dev/null 2>&1; then
  NODE_HINT="   TOKEN=\$TOKEN node -e \"require('socket.io-client').io('$APP_URL', {auth: {token: process.env.TOKEN}}).on('user:data:updated', (d) => console.log('push', d))\""
  [ -d "$ROOT/tests/node_modules/socket.io-client" ] || NODE_HINT="   (first: npm ci --prefix tests, which installs the pinned client)
$NODE_HINT"
else
  NODE_HINT="   (needs Node.js, which running statsync does not: apt-get install nodejs npm && npm ci --prefix tests;
    the Demo link above shows the same pushes in a browser)"
fi
cat <<MSG

==============================================================================
 statsync is running
App URL: $APP_URL
   (REST and Socket.IO on this one URL: EXPO_PUBLIC_API_URL for the app)
Demo: $APP_URL/demo/#token=$DEMO_TOKEN
   (two devices of one user in your browser: pushes, offline queue, presence)
   edge       nginx, config + access log in $EDGE_PREFIX
   gateway    REST http://127.0.0.1:$STATSYNC_API_PORT, Socket.IO http://127.0.0.1:$STATSYNC_SOCKET_PORT (direct)
   NATS       $STATSYNC_NATS_URL${NATS_AUTH:+  (one user per service; config and passwords in $NATS_AUTH, log $RUN/nats-$NATS_PORT.log)
   NATS admin user admin, password file $NATS_AUTH/admin/password, e.g.
              nats sub --server $STATSYNC_NATS_URL --user admin --password \"\$(cat $NATS_AUTH/admin/password)\" 'statsync.>'}
   data       $STATSYNC_DATA_DIR
${DEV_SECRET:+   JWT secret $STATSYNC_JWT_SECRET  (dev secret, new each run)
}
 Try it (token for user "alice", valid 24 h):
   TOKEN=$TOKEN
   curl -s -X POST $APP_URL/api/users/data/patch \\
        -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
        -d '{"xp":10,"hearts":-1,"__set":{"streak":3}}'
   curl -s $APP_URL/api/users/alice/stats -H "Authorization: Bearer \$TOKEN"
   curl -s $APP_URL/health
 Socket.IO pushes in a terminal (the app's own socket.io-client, from the repository root's tests/):
$NODE_HINT
 More tokens: $BUILD/gateway/statsync-token <userId> --secret \$STATSYNC_JWT_SECRET
 Ctrl-C stops everything.
==============================================================================

MSG
# Until a process exits by itself (died names it) or a signal comes (on_signal).
while :; do
  wait -n "${PID[@]}" 2>/dev/null || true
  for n in "${NAMES[@]}"; do
    if [ -n "${PID[$n]}" ] && ! kill -0 "${PID[$n]}" 2>/dev/null; then died "$n"; fi
  done
done
