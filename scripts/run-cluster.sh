#!/usr/bin/env bash
# scripts/run-cluster.sh — the whole statsync cluster on one machine, in the
# foreground: 3 NATS nodes (one cluster, JetStream on), 2 stats-service
# partition owners, 2 presence-services, 2 gateways and the edge (nginx) in
# front of both gateways, on loopback ports from STATSYNC_PORT_BASE. It first
# installs what is missing and builds, as run-local.sh (README command one)
# does (scripts/local-common.sh), then prints the App URL. Any process that
# dies is started again, as a container restart policy would, so anyone can
# `kill -9` a part and watch the rest carry on. Ctrl-C or SIGTERM stops
# everything.
#
# Settings (environment; every other STATSYNC_* variable reaches every
# process, as with run-local.sh):
#   STATSYNC_PORT_BASE        first port of the map below (default 7100)
#   STATSYNC_RUN_DIR          logs, NATS config and stores, data, the processes
#                             file (default ./.run/cluster-<port base>)
#   STATSYNC_BUILD_DIR        build directory (default ./build)
#   STATSYNC_JWT_SECRET       HS256 secret of the tokens (default: a fresh
#                             development secret, printed)
#   STATSYNC_DATA_DIR         where the stats instances' data dirs are:
#                             <it>/stats0, <it>/stats1 (default <run dir>/data)
#   STATSYNC_PARTITION_COUNT  partitions of the cluster (default 64): stats0
#                             owns the first half, stats1 the second
#
# Ports (B = STATSYNC_PORT_BASE), all on 127.0.0.1:
#   B              edge: the App URL (REST and Socket.IO)
#   B+1, B+2       gateway0 REST, Socket.IO (route tag g0)
#   B+3, B+4       gateway1 REST, Socket.IO (route tag g1)
#   B+5, B+6       stats0, stats1 admin (/livez /readyz /health /metrics)
#   B+7, B+8       presence0, presence1 admin
#   B+10 .. B+12   nats0 .. nats2 clients
#   B+20 .. B+22   nats0 .. nats2 cluster routes
#   B+30 .. B+32   nats0 .. nats2 monitoring (/healthz /routez /jsz ...)
#
# <run dir>/processes holds one "name pid" line per running process (nats0
# nats1 nats2 stats0 stats1 presence0 presence1 gateway0 gateway1 edge),
# replaced atomically (a new file renamed over it) whenever one starts or
# dies; <run dir>/<name>.log is each one's output, appended across restarts.
# A process that dies is started again after 0.2 s; one that keeps dying
# within 10 s of its start waits twice as long each time, up to 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/local-common.sh
source scripts/local-common.sh

say() { printf '== %s\n' "$*"; }
die() { printf 'run-cluster.sh: %s\n' "$*" >&2; exit 2; }

B=${STATSYNC_PORT_BASE:-7100}
if ! [[ $B =~ ^[1-9][0-9]{0,4}$ ]] || [ "$B" -lt 1024 ] || [ "$B" -gt 65495 ]; then
  die "STATSYNC_PORT_BASE must be a port from 1024 to 65495 (it takes 40 ports), not '$B'"
fi
PARTS=${STATSYNC_PARTITION_COUNT:-64}
if ! [[ $PARTS =~ ^[1-9][0-9]{0,4}$ ]] || [ "$PARTS" -lt 2 ]; then
  die "STATSYNC_PARTITION_COUNT must be a number of at least 2 (two stats instances), not '$PARTS'"
fi
RUN=${STATSYNC_RUN_DIR:-$ROOT/.run/cluster-$B}
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)
DATA=${STATSYNC_DATA_DIR:-$RUN/data}

# Nothing of ours may be listening yet: a second cluster needs another base.
# (The processes outlive a run-cluster.sh that was itself killed -9: its
# processes file still names them.)
for off in 0 1 2 3 4 5 6 7 8 10 11 12 20 21 22 30 31 32; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$((B + off))") 2>/dev/null; then
    hint="is a cluster running there? Pick another STATSYNC_PORT_BASE"
    [ ! -s "$RUN/processes" ] || hint="$hint, or stop what $RUN/processes lists: kill \$(awk '{print \$2}' $RUN/processes)"
    die "port $((B + off)) (STATSYNC_PORT_BASE $B + $off) is in use: $hint"
  fi
done

statsync_local_build # sets BUILD
statsync_dev_secret  # a fresh one, printed below, unless STATSYNC_JWT_SECRET is set

APP_URL=http://127.0.0.1:$B
NATS_URLS=nats://127.0.0.1:$((B + 10)),nats://127.0.0.1:$((B + 11)),nats://127.0.0.1:$((B + 12))
export STATSYNC_NATS_URL=$NATS_URLS
export STATSYNC_LOG_LEVEL=${STATSYNC_LOG_LEVEL:-info}
export STATSYNC_ADMIN_BIND=${STATSYNC_ADMIN_BIND:-127.0.0.1}
# Nothing probes a gateway's /readyz here: no drain delay, no spread.
export STATSYNC_SHUTDOWN_DRAIN_MS=${STATSYNC_SHUTDOWN_DRAIN_MS:-0}
export STATSYNC_SHUTDOWN_SPREAD_MS=${STATSYNC_SHUTDOWN_SPREAD_MS:-0}
export STATSYNC_PARTITION_COUNT=$PARTS
# The partition leases' KV bucket on all three nodes: losing one loses no lease.
export STATSYNC_LEASE_REPLICAS=${STATSYNC_LEASE_REPLICAS:-3}
HALF=$((PARTS / 2))
PARTITIONS=("0-$((HALF - 1))" "$HALF-$((PARTS - 1))")

# NATS: users and permissions from the one place (scripts/nats-config.sh),
# fresh passwords every run; one config file per node beside them.
NATS_AUTH=$RUN/nats
rm -rf "$NATS_AUTH"
bash scripts/nats-config.sh render "$NATS_AUTH" --jetstream "$RUN/nats-jetstream" --cluster statsync \
  --node "nats0=127.0.0.1:$((B + 20))" --node "nats1=127.0.0.1:$((B + 21))" --node "nats2=127.0.0.1:$((B + 22))"
mkdir -p "$DATA/stats0" "$DATA/stats1" "$RUN/edge"

NAMES=(nats0 nats1 nats2 stats0 stats1 presence0 presence1 gateway0 gateway1 edge)
declare -A PID=() STARTED=() DELAY=() DUE=() QUICK=()
for n in "${NAMES[@]}"; do PID[$n]='' DELAY[$n]=200 DUE[$n]=0 QUICK[$n]=0; done
STOPPING=0
TICK=''

now_ms() { local t=${EPOCHREALTIME/./}; NOW=$((t / 1000)); }

# The command line of each process (its environment: env VAR=value ... prog).
command_of() {
  local n=$1 k=${1//[!0-9]/} nats=()
  case "$n" in
    stats* | presence* | gateway*)
      local user=${n//[0-9]/}
      nats=(STATSYNC_NATS_USER="$user" STATSYNC_NATS_PASSWORD_FILE="$NATS_AUTH/$user/password") ;;
  esac
  case "$n" in
    nats*) CMD=(nats-server -c "$NATS_AUTH/$n.conf" -a 127.0.0.1 -p "$((B + 10 + k))" -m "$((B + 30 + k))") ;;
    stats*) CMD=(env "${nats[@]}" STATSYNC_ADMIN_PORT="$((B + 5 + k))" STATSYNC_INSTANCE_ID="$n"
      STATSYNC_DATA_DIR="$DATA/$n" STATSYNC_PARTITIONS="${PARTITIONS[$k]}" "$BUILD/stats-service/statsync-stats") ;;
    presence*) CMD=(env "${nats[@]}" STATSYNC_ADMIN_PORT="$((B + 7 + k))" STATSYNC_INSTANCE_ID="$n"
      "$BUILD/presence-service/statsync-presence") ;;
    gateway*) CMD=(env "${nats[@]}" STATSYNC_API_PORT="$((B + 1 + 2 * k))" STATSYNC_SOCKET_PORT="$((B + 2 + 2 * k))"
      STATSYNC_GATEWAY_ID="$n" STATSYNC_ROUTE_TAG="g$k" STATSYNC_TRUSTED_PROXIES=loopback
      "$BUILD/gateway/statsync-gateway") ;;
    edge) CMD=(env STATSYNC_APP_PORT="$B" STATSYNC_EDGE_BIND=127.0.0.1 STATSYNC_EDGE_PREFIX="$RUN/edge"
      STATSYNC_EDGE_GATEWAYS="g0=127.0.0.1:$((B + 1)):$((B + 2)),g1=127.0.0.1:$((B + 3)):$((B + 4))"
      "$ROOT/edge/run-edge.sh") ;;
  esac
}

# The processes file, replaced in one rename: running processes only.
write_processes() {
  local n out=''
  for n in "${NAMES[@]}"; do [ -z "${PID[$n]}" ] || out+="$n ${PID[$n]}"$'\n'; done
  printf '%s' "$out" >"$RUN/.processes.tmp"
  mv -f "$RUN/.processes.tmp" "$RUN/processes"
}

# Each process leads a session of its own (setsid execs it: the pid stays):
# Ctrl-C reaches only this script, which stops them in order, and whatever a
# process leaves behind (nginx's workers) goes with its group.
start() {
  local n=$1
  command_of "$n"
  setsid "${CMD[@]}" >>"$RUN/$n.log" 2>&1 </dev/null &
  PID[$n]=$!
  now_ms
  STARTED[$n]=$NOW
}

# A process exited (status rc): plan its restart.
died() {
  local n=$1 rc=$2 pid=${PID[$1]} how ran
  kill -KILL -- "-$pid" 2>/dev/null || true # its group: e.g. nginx workers of a killed master
  PID[$n]=''
  now_ms
  ran=$((NOW - STARTED[$n]))
  if [ "$rc" -gt 128 ]; then how="killed by SIG$(kill -l "$((rc - 128))" 2>/dev/null || echo "$((rc - 128))")"
  elif [ "$rc" -lt 0 ]; then how="exited"
  else how="exited with status $rc"; fi
  if [ "$ran" -lt 10000 ]; then
    QUICK[$n]=$((QUICK[$n] + 1))
    [ "${QUICK[$n]}" -le 1 ] || DELAY[$n]=$((DELAY[$n] * 2 > 10000 ? 10000 : DELAY[$n] * 2))
  else
    QUICK[$n]=1 DELAY[$n]=200
  fi
  DUE[$n]=$((NOW + DELAY[$n]))
  local secs
  printf -v secs '%d.%01d' $((DELAY[$n] / 1000)) $((DELAY[$n] % 1000 / 100))
  if [ "${QUICK[$n]}" -ge 3 ]; then
    say "$n (pid $pid) $how, ${QUICK[$n]} times in a row within 10 s of starting; next start in $secs s (log: $RUN/$n.log)"
  else
    say "$n (pid $pid) $how; starting it again in $secs s"
  fi
  write_processes
}

# reap PID: waits for a child that has ended (or is ending) and sets RC to its
# status; RC=-1 when bash reaped it already. A `wait -n` that a signal's trap
# interrupts can have reaped a child without reporting it, and `wait PID` for
# such a pid then blocks until some other child exits (bash 5.2: seen as a
# stop that hung at "stopping" with every process still running, 1 in 12
# tries of a small reproduction) — so a pid that is gone is never waited for.
reap() {
  RC=-1
  [ -e "/proc/$1" ] || return 0
  RC=0
  wait "$1" 2>/dev/null || RC=$?
}

# Stops the named processes: SIGTERM (nats: SIGINT), then SIGKILL for what is left after
# 20 s (a gateway's drain + spread + grace, with room), then their groups.
stop_some() {
  local n pid left sig
  for n in "$@"; do
    sig=TERM
    [[ $n != nats* ]] || sig=INT # nats-server's clean stop (SIGTERM exits 1)
    [ -z "${PID[$n]}" ] || kill "-$sig" "${PID[$n]}" 2>/dev/null || true
  done
  for _ in $(seq 1 400); do
    left=0
    for n in "$@"; do
      pid=${PID[$n]}
      [ -n "$pid" ] || continue
      if kill -0 "$pid" 2>/dev/null && ! grep -q '^[^ ]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then left=1
      else reap "$pid"; PID[$n]=''; fi
    done
    [ "$left" = 1 ] || break
    sleep 0.05
  done
  for n in "$@"; do
    pid=${PID[$n]}
    if [ -n "$pid" ]; then
      say "$n (pid $pid) did not stop within 20 s of SIGTERM: killed"
      kill -KILL "$pid" 2>/dev/null || true
      reap "$pid"
      PID[$n]=''
    fi
  done
  for n in "$@"; do [ -z "${GROUP[$n]:-}" ] || kill -KILL -- "-${GROUP[$n]}" 2>/dev/null || true; done
}

declare -A GROUP=()
stop_all() {
  trap - INT TERM EXIT
  STOPPING=1
  echo
  say "stopping"
  [ -z "$TICK" ] || { kill "$TICK" 2>/dev/null || true; reap "$TICK"; }
  local n
  for n in "${NAMES[@]}"; do GROUP[$n]=${PID[$n]}; done
  # The order of a clean stop: the edge first, the gateways (their sockets
  # closed while the services still answer), the services, NATS last.
  stop_some edge
  stop_some gateway0 gateway1
  stop_some stats0 stats1 presence0 presence1
  stop_some nats0 nats1 nats2
  rm -f "$RUN/processes" "$RUN/.processes.tmp"
  say "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

fail_start() { # name what
  printf 'run-cluster.sh: %s %s within 60 s; its log (%s):\n' "$1" "$2" "$RUN/$1.log" >&2
  tail -n 20 "$RUN/$1.log" >&2
  exit 1
}

# While starting, a process that exits is started again too (with the same
# delays as later on), as a container would be; keep_up NAME does that.
keep_up() {
  local n=$1 rc
  if [ -n "${PID[$n]}" ] && ! kill -0 "${PID[$n]}" 2>/dev/null; then
    reap "${PID[$n]}"
    died "$n" "$RC"
  fi
  now_ms
  if [ -z "${PID[$n]}" ] && [ "${DUE[$n]}" -le "$NOW" ]; then
    start "$n"
    say "$n started again (pid ${PID[$n]})"
    write_processes
  fi
  [ -n "${PID[$n]}" ]
}

# Bounded wait (60 s) until url answers 200 (any status with "any"), n kept up.
wait_http() { # name url [any]
  local n=$1 url=$2 code deadline
  now_ms
  deadline=$((NOW + 60000))
  while now_ms && [ "$NOW" -lt "$deadline" ]; do
    if keep_up "$n"; then
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)
      if [ "$code" = 200 ] || { [ "${3:-}" = any ] && [ "${code:-000}" != 000 ]; }; then return 0; fi
    fi
    sleep 0.1
  done
  fail_start "$n" "did not answer $url"
}

# The JetStream cluster is whole: its meta leader sees both other nodes
# current (what creating the partition leases' 3-replica bucket needs).
jetstream_ready() {
  local deadline k j
  now_ms
  deadline=$((NOW + 60000))
  while now_ms && [ "$NOW" -lt "$deadline" ]; do
    for k in 0 1 2; do
      keep_up "nats$k" || continue
      j=$(curl -s --max-time 2 "http://127.0.0.1:$((B + 30 + k))/jsz" 2>/dev/null | tr -d ' \n' || true)
      if [[ $j == *"\"leader\":\"nats$k\""* ]] && [ "$(grep -o '"current":true' <<<"$j" | wc -l)" -ge 2 ]; then
        return 0
      fi
    done
    sleep 0.1
  done
  fail_start nats0 "(and nats1, nats2): no JetStream meta leader with both other nodes current"
}

say "starting 3 NATS nodes, 2 stats, 2 presence, 2 gateways and the edge (run dir $RUN)"
for n in nats0 nats1 nats2; do start "$n"; done
# /healthz is 200 once a node serves clients and JetStream knows its meta leader.
for k in 0 1 2; do wait_http "nats$k" "http://127.0.0.1:$((B + 30 + k))/healthz"; done
jetstream_ready
# One stats instance after the other, each ready (its partitions leased):
# the first creates the lease bucket.
for k in 0 1; do
  start "stats$k"
  wait_http "stats$k" "http://127.0.0.1:$((B + 5 + k))/readyz"
done
for n in presence0 presence1; do start "$n"; done
for k in 0 1; do wait_http "presence$k" "http://127.0.0.1:$((B + 7 + k))/livez"; done
for n in gateway0 gateway1; do start "$n"; done
for k in 0 1; do wait_http "gateway$k" "http://127.0.0.1:$((B + 1 + 2 * k))/livez"; done
start edge
write_processes
wait_http edge "$APP_URL/health"
# Every process still up (one may have died while the others started).
for n in "${NAMES[@]}"; do keep_up "$n" || true; done

TOKEN=$("$BUILD/gateway/statsync-token" alice --secret "$STATSYNC_JWT_SECRET")
DEMO_TOKEN=$("$BUILD/gateway/statsync-token" demo-user --secret "$STATSYNC_JWT_SECRET")
cat <<MSG

==============================================================================
 statsync cluster is running
App URL: $APP_URL
   (REST and Socket.IO on this one URL, through the edge to both gateways)
Demo: $APP_URL/demo/#token=$DEMO_TOKEN
   (two devices of one user in your browser; kill -9 parts and watch them carry on)
   processes  $RUN/processes (name pid; rewritten whenever one is restarted)
   logs       $RUN/<name>.log
   gateways   gateway0 http://127.0.0.1:$((B + 1)) (Socket.IO :$((B + 2)), tag g0), gateway1 http://127.0.0.1:$((B + 3)) (:$((B + 4)), tag g1)
   stats      stats0 partitions ${PARTITIONS[0]} (admin :$((B + 5))), stats1 ${PARTITIONS[1]} (admin :$((B + 6))) of $PARTS; data in $DATA
   presence   presence0 admin :$((B + 7)), presence1 admin :$((B + 8))
   NATS       $NATS_URLS
              (cluster "statsync", JetStream; monitoring :$((B + 30)) :$((B + 31)) :$((B + 32)); users and passwords in $NATS_AUTH)
${DEV_SECRET:+   JWT secret $STATSYNC_JWT_SECRET  (dev secret, new each run)
}
 Try it (token for user "alice", valid 24 h):
   TOKEN=$TOKEN
   curl -s -X POST $APP_URL/api/users/data/patch \\
        -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' -d '{"xp":10}'
   curl -s $APP_URL/health
 Kill any part and watch it come back (README "Try the cluster"):
   kill -9 \$(awk '\$1 == "stats0" {print \$2}' $RUN/processes)
 Ctrl-C stops everything.
==============================================================================

MSG

# Supervise: a process that exits is started again when its delay is up.
while :; do
  now_ms
  next=''
  changed=0
  for n in "${NAMES[@]}"; do
    [ -z "${PID[$n]}" ] || continue
    if [ "${DUE[$n]}" -le "$NOW" ]; then
      start "$n"
      say "$n started again (pid ${PID[$n]})"
      changed=1
    elif [ -z "$next" ] || [ "${DUE[$n]}" -lt "$next" ]; then
      next=${DUE[$n]}
    fi
  done
  [ "$changed" = 0 ] || write_processes
  if [ -z "$TICK" ]; then
    # Wake up when the next restart is due (or every second: the sweep below).
    ms=1000
    [ -z "$next" ] || ms=$((next - NOW < 20 ? 20 : next - NOW))
    printf -v secs '%d.%03d' $((ms / 1000)) $((ms % 1000))
    sleep "$secs" &
    TICK=$!
  fi
  pids=("$TICK")
  for n in "${NAMES[@]}"; do [ -z "${PID[$n]}" ] || pids+=("${PID[$n]}"); done
  who='' rc=0
  wait -n -p who "${pids[@]}" 2>/dev/null || rc=$?
  [ "$STOPPING" = 0 ] || break
  if [ "$who" = "$TICK" ]; then
    TICK=''
  fi
  # A child bash already reaped (its "Killed" notice printed while another
  # death was being handled) is never reported by wait -n: look for every
  # pid that is gone.
  for n in "${NAMES[@]}"; do
    pid=${PID[$n]}
    if [ -n "$pid" ] && [ "$pid" != "$who" ] && ! kill -0 "$pid" 2>/dev/null; then
      reap "$pid"
      died "$n" "$RC"
    fi
  done
  [ -n "$TICK" ] || continue
  for n in "${NAMES[@]}"; do
    if [ -z "$who" ] || [ "${PID[$n]}" != "$who" ]; then continue; fi
    died "$n" "$rc"
    # A restart is now due sooner than the tick may come: a new tick.
    if [ -n "$TICK" ]; then
      kill "$TICK" 2>/dev/null || true
      reap "$TICK"
      TICK=''
    fi
  done
done
