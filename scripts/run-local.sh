#!/usr/bin/env bash
# scripts/run-local.sh — README command one: install what is missing, build,
# and run nats-server + stats-service + presence-service + gateway + the edge
# (nginx: REST and Socket.IO on one App URL, http://127.0.0.1:$STATSYNC_APP_PORT)
# in the foreground. Honours every STATSYNC_* variable (so a second copy can
# run on other ports); data lives in ./.run/data unless STATSYNC_DATA_DIR says
# otherwise. Ctrl-C stops every process this script started.
#
# NATS runs with JetStream (store in ./.run/nats-<port>-jetstream) and
# authentication: scripts/nats-config.sh renders a fresh
# configuration (one user per service, each allowed only its subjects; new
# random passwords, files mode 0600) into ./.run/nats-<port>/ at every start,
# and each service connects as its own user. With STATSYNC_NATS_URL_EXTERNAL
# set no nats-server is started, and the STATSYNC_NATS_* credentials you
# export (if any) are used by every service alike.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/local-common.sh
source scripts/local-common.sh
statsync_local_build # sets BUILD

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
EDGE_PREFIX=${STATSYNC_EDGE_PREFIX:-$ROOT/.run/edge-$APP_PORT}
STATS_ADMIN=${STATSYNC_STATS_ADMIN_PORT:-3002}
PRESENCE_ADMIN=${STATSYNC_PRESENCE_ADMIN_PORT:-3003}
NATS_PORT=${STATSYNC_NATS_PORT:-4222}
export STATSYNC_NATS_URL=${STATSYNC_NATS_URL:-nats://127.0.0.1:$NATS_PORT}
export STATSYNC_DATA_DIR=${STATSYNC_DATA_DIR:-$ROOT/.run/data}
export STATSYNC_LOG_LEVEL=${STATSYNC_LOG_LEVEL:-info}
# The services' admin ports (/livez, /readyz, /health, /metrics) on this
# machine only; containers keep the default (every interface).
export STATSYNC_ADMIN_BIND=${STATSYNC_ADMIN_BIND:-127.0.0.1}
# No load balancer probes this gateway's /readyz here: Ctrl-C need not wait
# for a drain delay nor spread the socket closes (README "Guarantees").
export STATSYNC_SHUTDOWN_DRAIN_MS=${STATSYNC_SHUTDOWN_DRAIN_MS:-0}
export STATSYNC_SHUTDOWN_SPREAD_MS=${STATSYNC_SHUTDOWN_SPREAD_MS:-0}
statsync_dev_secret # a fresh one, printed below, unless STATSYNC_JWT_SECRET is set
mkdir -p "$STATSYNC_DATA_DIR" "$ROOT/.run"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "== stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# Ctrl-C or SIGTERM: a clean stop, and nothing after it.
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

wait_http() { # url name
  for _ in $(seq 1 100); do
    curl -fsS "${CURL_TLS[@]}" -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not come up ($1); see its log lines above" >&2
  exit 1
}

NATS_AUTH=
# as_nats_user USER: the environment that makes a service connect as USER.
as_nats_user() {
  [ -n "$NATS_AUTH" ] || return 0
  printf '%s\n' "STATSYNC_NATS_USER=$1" "STATSYNC_NATS_PASSWORD_FILE=$NATS_AUTH/$1/password"
}
if [ -z "${STATSYNC_NATS_URL_EXTERNAL:-}" ]; then
  NATS_AUTH=$ROOT/.run/nats-$NATS_PORT
  # JetStream's store (the stats-service's partition leases) is kept across
  # runs, as a server's disk is; the credentials are new every run.
  NATS_STORE=$ROOT/.run/nats-$NATS_PORT-jetstream
  rm -rf "$NATS_AUTH"
  bash scripts/nats-config.sh render "$NATS_AUTH" --jetstream "$NATS_STORE"
  nats-server -c "$NATS_AUTH/nats-server.conf" -a 127.0.0.1 -p "$NATS_PORT" >"$ROOT/.run/nats.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
fi
mapfile -t STATS_NATS < <(as_nats_user stats)
mapfile -t PRESENCE_NATS < <(as_nats_user presence)
mapfile -t GATEWAY_NATS < <(as_nats_user gateway)
env "${STATS_NATS[@]}" STATSYNC_ADMIN_PORT="$STATS_ADMIN" "$BUILD/stats-service/statsync-stats" &
pids+=($!)
wait_http "http://127.0.0.1:$STATS_ADMIN/health" stats-service
env "${PRESENCE_NATS[@]}" STATSYNC_ADMIN_PORT="$PRESENCE_ADMIN" "$BUILD/presence-service/statsync-presence" &
pids+=($!)
wait_http "http://127.0.0.1:$PRESENCE_ADMIN/health" presence-service
env "${GATEWAY_NATS[@]}" STATSYNC_ROUTE_TAG="$ROUTE_TAG" STATSYNC_TRUSTED_PROXIES="$TRUSTED_PROXIES" "$BUILD/gateway/statsync-gateway" &
pids+=($!)
wait_http "http://127.0.0.1:$STATSYNC_API_PORT/health" gateway
# The edge: nginx in the foreground (edge/run-edge.sh execs it), its config
# rendered by edge/render-nginx.sh, pid/temp files and access log in its prefix.
STATSYNC_APP_PORT=$APP_PORT STATSYNC_EDGE_BIND=${STATSYNC_EDGE_BIND:-127.0.0.1} \
  STATSYNC_EDGE_GATEWAYS="$ROUTE_TAG=127.0.0.1:$STATSYNC_API_PORT:$STATSYNC_SOCKET_PORT" \
  STATSYNC_EDGE_PREFIX=$EDGE_PREFIX "$ROOT/edge/run-edge.sh" &
pids+=($!)
wait_http "$APP_URL/health" edge

TOKEN=$("$BUILD/gateway/statsync-token" alice --secret "$STATSYNC_JWT_SECRET")
DEMO_TOKEN=$("$BUILD/gateway/statsync-token" demo-user --secret "$STATSYNC_JWT_SECRET")
cat <<MSG

==============================================================================
 statsync is running
App URL: $APP_URL
   (REST and Socket.IO on this one URL: EXPO_PUBLIC_API_URL for the app)
Demo: $APP_URL/demo/#token=$DEMO_TOKEN
   edge       nginx, config + access log in $EDGE_PREFIX
   gateway    REST http://127.0.0.1:$STATSYNC_API_PORT, Socket.IO http://127.0.0.1:$STATSYNC_SOCKET_PORT (direct)
   NATS       $STATSYNC_NATS_URL${NATS_AUTH:+  (one user per service; config and passwords in $NATS_AUTH)
   NATS admin user admin, password file $NATS_AUTH/admin/password, e.g.
              nats sub --server $STATSYNC_NATS_URL --user admin --password "\$(cat $NATS_AUTH/admin/password)" 'statsync.>'}
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
 Socket.IO (from tests/, where socket.io-client is installed):
   TOKEN=\$TOKEN node -e "require('socket.io-client').io('$APP_URL', {auth: {token: process.env.TOKEN}}).on('user:data:updated', (d) => console.log('push', d))"
 More tokens: $BUILD/gateway/statsync-token <userId> --secret \$STATSYNC_JWT_SECRET
 Ctrl-C stops everything.
==============================================================================

MSG
# Wait until any process exits (or Ctrl-C), then stop the rest.
wait -n "${pids[@]}" || true
echo "== a process exited; stopping the others"
