#!/usr/bin/env bash
# tests/load/bench.sh — the statsync benchmark (issues 6 and 19), one command:
#
#   tests/load/bench.sh [--quick] [--no-op-ids] [--no-baseline] [--build DIR] [--no-build]
#                       [--keep] [--out FILE]
#
# Builds (RelWithDebInfo) and starts the whole system on free loopback ports — a real
# nats-server, statsync-stats on a fresh LMDB directory on disk, statsync-presence
# and one statsync-gateway, with a throwaway JWT secret — and beside it the
# Node.js baseline (tests/load/baseline/: express + socket.io, everything in
# memory), waits for /health, drives both with statsync-load on the same
# machine, the same flags and the same stop rules, step by step in the same
# run (statsync, then the baseline, in every step: machine noise hits both),
# and prints ONE markdown table whose rows give statsync, the baseline and
# their ratio:
#
#   RSS per idle connection at 10 000 and 100 000 connections (or the most
#   the fd limit allows) — the gateway's, the node process's
#   latency at 1 000 connections x 2 000 updates/s, send -> own push
#   devices: 1 000 users x 3 sockets, 2 000 updates/s, send -> own push and
#   send -> every device of the user has the push
#   the highest sustained update rate with p99 <= 20 ms (stepped up)
#   REST patches/s (statsync: each a durable LMDB commit), an Idempotency-Key each
#   the cluster (scripts/run-cluster.sh: 3 NATS nodes, 2 stats-service
#   partition owners, 2 presence, 2 gateways, the edge) at 1 000 sockets x
#   2 000 and x 10 000 updates/s, beside the single instance at the same
#   rates in the same run, CPU per update of every process of each
#
# Every socket step sends op ids and every REST patch an Idempotency-Key, as
# the SDK does (each is an idempotency record beside the change):
# --no-op-ids leaves both out, to compare.
#
# A step that cannot run on this machine (fd limits, ...) says why in the table
# instead of failing. Bounded: the full run takes about 10 minutes (hard stop at
# BENCH_DEADLINE_S, default 1200), --quick about 3 (hard stop 420 s).
# Every process it starts is stopped on exit, whatever the exit.
#
#   --quick        short steps, fewer rates, no 100 000-connection step
#   --no-op-ids    socket updates without opIds, REST patches without keys
#   --no-baseline  statsync only (the baseline columns say "not run")
#   --build DIR    build directory (default $STATSYNC_BUILD_DIR or ./build-bench)
#   --no-build     use the binaries already in DIR
#   --keep         keep the work directory (logs, LMDB, every JSON report)
#   --out FILE     also write the table to FILE
#
# Tunables (environment): BENCH_SOCKET_CONNS (1000), BENCH_LATENCY_RATE (2000),
# BENCH_DEVICE_USERS (1000), BENCH_DEVICES (3),
# BENCH_RATES ("5000 10000 15000 20000 25000 30000 40000 50000 60000 80000 100000"),
# BENCH_BUILD_TYPE (RelWithDebInfo), BENCH_DEADLINE_S,
# BENCH_REST_CONNS (64), BENCH_P99_US (20000), BENCH_GATEWAY_ENV /
# BENCH_STATS_ENV (extra VAR=value words for those services), BENCH_ONLY
# (the steps to run, default "rss latency devices rate rest cluster"),
# BENCH_CLUSTER_PORT_BASE (27100: the cluster takes 40 ports from it),
# BENCH_CLUSTER_RATES ("2000 10000").
#
# The gateway runs with STATSYNC_RATE_MUTATIONS_PER_S=0: 1 000 sockets at
# 50 000 updates/s are 50 writes/s per user, over the product's per-user limit
# (20/s), and the benchmark measures the pipeline, not the limiter (the
# baseline has none); and with no lame duck (STATSYNC_SHUTDOWN_DRAIN_MS /
# _SPREAD_MS 0): a restart between steps need not wait for a drain delay.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

QUICK=0
BUILD=${STATSYNC_BUILD_DIR:-$ROOT/build-bench}
DO_BUILD=1
KEEP=0
OUT=""
OPIDS=--op-ids # statsync-load: opIds on sockets, Idempotency-Keys on REST
BASELINE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-op-ids) OPIDS="" ;;
    --no-baseline) BASELINE=0 ;;
    --build) BUILD=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --keep) KEEP=1 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,60p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)

if [ "$QUICK" = 1 ]; then
  DEADLINE=${BENCH_DEADLINE_S:-420}
  WARMUP=1; DURATION=4; STEP_DURATION=2; REST_DURATION=3; HOLD=3
  RATES=${BENCH_RATES:-"5000 20000 50000"}
else
  DEADLINE=${BENCH_DEADLINE_S:-1200}
  WARMUP=2; DURATION=10; STEP_DURATION=5; REST_DURATION=10; HOLD=5
  RATES=${BENCH_RATES:-"5000 10000 15000 20000 25000 30000 40000 50000 60000 80000 100000"}
fi
# -O2 -g: the build the tests use, and one perf can put names on.
BUILD_TYPE=${BENCH_BUILD_TYPE:-RelWithDebInfo}
SOCKET_CONNS=${BENCH_SOCKET_CONNS:-1000}
LATENCY_RATE=${BENCH_LATENCY_RATE:-2000}
DEVICE_USERS=${BENCH_DEVICE_USERS:-1000}
DEVICES=${BENCH_DEVICES:-3}
REST_CONNS=${BENCH_REST_CONNS:-64}
P99_LIMIT_US=${BENCH_P99_US:-20000}
STEPS="rss latency devices rate rest cluster"
ONLY=${BENCH_ONLY:-$STEPS}
for step in $ONLY; do
  case " $STEPS " in *" $step "*) ;; *) echo "bench.sh: BENCH_ONLY: unknown step '$step' ($STEPS)" >&2; exit 2 ;; esac
done
CLUSTER_BASE=${BENCH_CLUSTER_PORT_BASE:-27100}
CLUSTER_RATES=${BENCH_CLUSTER_RATES:-"2000 10000"}
START_S=$SECONDS
LOADAVG0=$(cut -d" " -f1-3 /proc/loadavg)

say() { echo "bench: $*" >&2; }

for tool in nats-server curl jq cmake; do
  command -v "$tool" >/dev/null || { echo "bench.sh: '$tool' is missing (scripts/deps.sh test installs it)" >&2; exit 2; }
done

# ---- build ------------------------------------------------------------------
if [ "$DO_BUILD" = 1 ]; then
  say "building ($BUILD_TYPE) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >"$BUILD/bench-cmake.log" 2>&1 ||
    { cat "$BUILD/bench-cmake.log" >&2; exit 2; }
  cmake --build "$BUILD" -j"$(nproc)" --target statsync-gateway statsync-stats statsync-presence \
    statsync-load >"$BUILD/bench-build.log" 2>&1 || { tail -40 "$BUILD/bench-build.log" >&2; exit 2; }
fi
BASELINE_DIR=$ROOT/tests/load/baseline
BL_WHY=""
if [ "$BASELINE" = 0 ]; then
  BL_WHY="--no-baseline"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  BL_WHY="node/npm missing (scripts/deps.sh installs them)"
elif [ ! -d "$BASELINE_DIR/node_modules/socket.io" ]; then
  say "installing the baseline's pinned packages (npm ci --prefix tests/load/baseline)"
  npm ci --prefix "$BASELINE_DIR" --no-audit --no-fund --loglevel=error >"$BUILD/bench-npm.log" 2>&1 ||
    BL_WHY="npm ci --prefix tests/load/baseline failed: $(tail -c 200 "$BUILD/bench-npm.log" | tr '\n|' ' /')"
fi
GATEWAY=$BUILD/gateway/statsync-gateway
STATS=$BUILD/stats-service/statsync-stats
PRESENCE=$BUILD/presence-service/statsync-presence
LOAD=$BUILD/tests/load/statsync-load
for b in "$GATEWAY" "$STATS" "$PRESENCE" "$LOAD"; do
  [ -x "$b" ] || { echo "bench.sh: $b is missing (build it, or drop --no-build)" >&2; exit 2; }
done

# ---- processes: everything started here is stopped on exit --------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/statsync-bench.XXXXXX")
PIDS=()
WATCHDOG=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$WATCHDOG" ]; then kill "$WATCHDOG" 2>/dev/null || true; fi
  for ((k = ${#PIDS[@]} - 1; k >= 0; k--)); do kill -TERM "${PIDS[k]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM
# The hard stop: past DEADLINE seconds the script ends itself (and so cleans up).
(
  end=$((SECONDS + DEADLINE))
  while [ "$SECONDS" -lt "$end" ]; do
    sleep 1
    kill -0 $$ 2>/dev/null || exit 0
  done
  echo "bench: hard deadline of ${DEADLINE}s reached, stopping" >&2
  kill -TERM $$
) &
WATCHDOG=$!

# A port nothing listens on, below the ephemeral range the generator's
# sockets use (so it cannot be taken by one of them mid-run).
USED_PORTS=" "
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"
      return 0
    fi
  done
  echo "bench.sh: no free port found" >&2
  return 1
}

wait_http() { # url what pid
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "bench.sh: $2 exited; its log:" >&2; tail -30 "$WORK/$2.log" >&2; exit 2; }
    sleep 0.1
  done
  echo "bench.sh: $2 did not answer $1 in 20 s; its log:" >&2
  tail -30 "$WORK/$2.log" >&2
  exit 2
}

# File descriptors: as many as this shell may have, for every child.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)

NATS_PORT=$(free_port)
API_PORT=$(free_port)
SOCKET_PORT=$(free_port)
STATS_ADMIN=$(free_port)
PRESENCE_ADMIN=$(free_port)
BL_PORT=$(free_port) # the baseline: REST and Socket.IO on one port, as a node app serves them
SECRET=bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$WORK/data" "$WORK/reports"
export STATSYNC_NATS_URL=nats://127.0.0.1:$NATS_PORT
export STATSYNC_JWT_SECRET=$SECRET
export STATSYNC_LOG_LEVEL=${STATSYNC_LOG_LEVEL:-warn}

say "starting nats-server, stats, presence, gateway (work dir $WORK)"
nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/nats-jetstream" >"$WORK/nats.log" 2>&1 &
NATS_PID=$!
PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
# shellcheck disable=SC2086 # BENCH_*_ENV are VAR=value words on purpose
env STATSYNC_DATA_DIR="$WORK/data" STATSYNC_ADMIN_PORT="$STATS_ADMIN" ${BENCH_STATS_ENV:-} \
  "$STATS" >"$WORK/stats.log" 2>&1 &
STATS_PID=$!
PIDS+=($!)
wait_http "http://127.0.0.1:$STATS_ADMIN/health" stats $!
env STATSYNC_ADMIN_PORT="$PRESENCE_ADMIN" "$PRESENCE" >"$WORK/presence.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PRESENCE_ADMIN/health" presence $!

# Ends one process we started: SIGTERM, up to 15 s, then SIGKILL.
stop_pid() { # pid
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
GW_PID=""
start_gateway() {
  # shellcheck disable=SC2086
  env STATSYNC_API_PORT="$API_PORT" STATSYNC_SOCKET_PORT="$SOCKET_PORT" STATSYNC_RATE_MUTATIONS_PER_S=0 \
    STATSYNC_SHUTDOWN_DRAIN_MS=0 STATSYNC_SHUTDOWN_SPREAD_MS=0 ${BENCH_GATEWAY_ENV:-} \
    "$GATEWAY" >>"$WORK/gateway.log" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  wait_http "http://127.0.0.1:$API_PORT/health" gateway "$GW_PID"
}
# The baseline: one node process, REST and Socket.IO on BL_PORT.
BL_PID=""
start_baseline() {
  STATSYNC_JWT_SECRET=$SECRET node "$BASELINE_DIR/server.js" --port "$BL_PORT" --host 127.0.0.1 \
    >>"$WORK/baseline.log" 2>&1 &
  BL_PID=$!
  PIDS+=("$BL_PID")
  wait_http "http://127.0.0.1:$BL_PORT/health" baseline "$BL_PID"
}
# A fresh server: what an earlier step grew its heap to does not count in
# the next memory step.
fresh() { # statsync|baseline
  if [ "$1" = statsync ]; then stop_pid "$GW_PID"; start_gateway; else stop_pid "$BL_PID"; start_baseline; fi
}
start_gateway
[ -n "$BL_WHY" ] || start_baseline

# What each system is in the generator's eyes: its ports and its process.
sock_port() { if [ "$1" = statsync ]; then echo "$SOCKET_PORT"; else echo "$BL_PORT"; fi; }
rest_port() { if [ "$1" = statsync ]; then echo "$API_PORT"; else echo "$BL_PORT"; fi; }
server_pid() { if [ "$1" = statsync ]; then echo "$GW_PID"; else echo "$BL_PID"; fi; }
# The systems a step runs on: statsync, then the baseline unless it cannot run.
systems() { if [ -n "$BL_WHY" ]; then echo statsync; else echo statsync baseline; fi; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; } # pid
gw_alive() { kill -0 "$GW_PID" 2>/dev/null; }

# CPU noise: the share of both CPUs that processes other than this benchmark's
# used during a step (other people's builds and tests on a shared machine).
# Jiffies: all busy time from /proc/stat, ours from /proc/PID/stat of the
# services plus, through `times`, the generator runs this shell waited for.
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# Sets OURS. Not to be called in $(...): `times` must run in this shell to
# see the generator runs it waited for.
ours_jiffies() {
  local t=0 pid v
  for pid in "${PIDS[@]}"; do
    v=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || continue
    t=$((t + v))
  done
  # children's user and system time, "XmY.ZZZs XmY.ZZZs" on the 2nd line
  times >"$WORK/times"
  v=$(sed -n 2p "$WORK/times" | awk -v hz="$(getconf CLK_TCK)" '{ s = 0; for (i = 1; i <= 2; i++) {
    split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] } printf "%d", s * hz }')
  OURS=$((t + v))
}
# CPU time (jiffies) of one process.
pid_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Per run NAME: its system, the generator's exit code, the CPU jiffies each
# process spent from the end of the generator's connect phase to the end of
# the run (statsync: gateway, stats-service, nats-server; baseline: the node
# process; and the generator), and the other processes' CPU share (%).
declare -A SYS_OF RC_OF J_GW J_STATS J_NATS J_BL J_LOAD NOISE_OF
# statsync-load with the common flags; the report lands in
# $WORK/reports/NAME.json. Prints nothing; returns the generator's exit code.
load() { # statsync|baseline name args...
  local sys=$1 name=$2
  shift 2
  local rc=0 b0 o0 t0 g0=0 s0=0 n0=0 bl0=0 l0=0 lpid l1=0 lj=0
  t0=$(date +%s%N)
  b0=$(busy_jiffies)
  ours_jiffies
  o0=$OURS
  : >"$WORK/reports/$name.err" # there before the loop below looks at it
  "$LOAD" --host 127.0.0.1 --secret "$SECRET" --report "$WORK/reports/$name.json" "$@" \
    >/dev/null 2>"$WORK/reports/$name.err" &
  lpid=$!
  # Start the CPU count when the generator has connected (bounded: the
  # generator bounds its own connect phase).
  while kill -0 "$lpid" 2>/dev/null && ! grep -q '"phase":"connected"' "$WORK/reports/$name.err"; do
    sleep 0.02
  done
  g0=$(pid_jiffies "$GW_PID"); s0=$(pid_jiffies "$STATS_PID"); n0=$(pid_jiffies "$NATS_PID")
  [ -z "$BL_PID" ] || bl0=$(pid_jiffies "$BL_PID")
  l0=$(pid_jiffies "$lpid")
  # Its last reading before it exits: sample while it runs.
  while kill -0 "$lpid" 2>/dev/null; do
    l1=$(pid_jiffies "$lpid")
    [ "$l1" = 0 ] || lj=$((l1 - l0))
    sleep 0.1
  done
  wait "$lpid" || rc=$?
  SYS_OF[$name]=$sys
  RC_OF[$name]=$rc
  J_LOAD[$name]=$lj
  J_GW[$name]=$(($(pid_jiffies "$GW_PID") - g0)); J_STATS[$name]=$(($(pid_jiffies "$STATS_PID") - s0))
  J_NATS[$name]=$(($(pid_jiffies "$NATS_PID") - n0))
  J_BL[$name]=0
  [ -z "$BL_PID" ] || J_BL[$name]=$(($(pid_jiffies "$BL_PID") - bl0))
  # The services' counters after the step (commit times, batch sizes, queue
  # waits), cumulative since start: kept with --keep for whoever digs deeper.
  if [ "$sys" = statsync ]; then
    curl -fsS "http://127.0.0.1:$STATS_ADMIN/metrics" >"$WORK/reports/$name.stats.prom" 2>/dev/null || true
  fi
  ours_jiffies
  local db=$(($(busy_jiffies) - b0)) do=$((OURS - o0)) wall_ms=$((($(date +%s%N) - t0) / 1000000))
  NOISE_OF[$name]=$(awk -v b="$db" -v o="$do" -v w="$wall_ms" -v n="$(nproc)" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { x = w > 0 ? (b - o) * 100000 / (w * n * hz) : 0; printf "%d", x < 0 ? 0 : x }')
  return "$rc"
}
# Microseconds of CPU per update of run NAME at RATE over SECONDS: the
# server side's total (statsync: gateway + stats + nats-server; baseline:
# node), or "?".
cpu_server_us() { # name rate seconds
  local k=$1
  awk -v sys="${SYS_OF[$k]:-}" -v g="${J_GW[$k]:-0}" -v s="${J_STATS[$k]:-0}" -v n="${J_NATS[$k]:-0}" \
    -v b="${J_BL[$k]:-0}" -v r="$2" -v t="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      if (sys == "") { print "?"; exit }
      k = 1e6 / hz / (r * t); printf "%.0f", (sys == "statsync" ? g + s + n : b) * k }'
}
# "CPU per update: gateway N us, ..." for a fixed-rate run: the CPU each
# process used from the end of the generator's connect phase to the end of
# the run, divided by the updates sent meanwhile (rate x (warm-up +
# measured seconds)); what a faster pipeline must shrink.
cpu_per_update() { # name rate seconds
  local k=$1
  awk -v sys="${SYS_OF[$k]:-}" -v g="${J_GW[$k]:-0}" -v s="${J_STATS[$k]:-0}" -v n="${J_NATS[$k]:-0}" \
    -v b="${J_BL[$k]:-0}" -v l="${J_LOAD[$k]:-0}" -v r="$2" -v t="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      k = 1e6 / hz / (r * t)
      if (sys == "statsync")
        printf "CPU per update: gateway %.0f us, stats %.0f us, nats-server %.0f us, generator %.0f us (total %.0f us)",
          g * k, s * k, n * k, l * k, (g + s + n + l) * k
      else
        printf "CPU per update: node %.0f us, generator %.0f us (total %.0f us)", b * k, l * k, (b + l) * k }'
}
# ", other processes used N % of the CPUs" when that is worth knowing.
noise() { # name
  local n=${NOISE_OF[$1]:-0}
  if [ "$n" -ge 5 ]; then echo "; processes outside the benchmark (other tests, kernel threads) used ${n} % of the CPUs meanwhile"; fi
}
j() { jq -r "$2" "$WORK/reports/$1.json" 2>/dev/null || echo "?"; } # name jq-expr
ms() { awk -v us="$1" 'BEGIN { if (us == "?" || us == "" || us == "null") print "?"; else printf "%.2f", us / 1000 }'; }
num() { awk -v n="$1" 'BEGIN { if (n == "?" || n == "") { print "?"; exit } s = sprintf("%d", n); o = "";
  while (length(s) > 3) { o = " " substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
errs() { j "$1" '[.errors | to_entries[] | select(.value > 0) | "\(.key) \(.value)"] | join(", ")'; }
ran() { [ "${RC_OF[$1]:-x}" = 0 ] && [ -s "$WORK/reports/$1.json" ]; } # name: the run went through
missing() { if [ -z "${RC_OF[$1]:-}" ]; then echo "not run"; else echo "failed"; fi; } # name: the cell of no figure
cell() { if [ -n "$1" ]; then echo "$2"; else missing "$3"; fi; } # value shown name: shown, or why not
# Why run NAME gave no figure.
why_not() { # name
  if [ -z "${RC_OF[$1]:-}" ]; then echo "not run${BL_WHY:+: $BL_WHY}"; return; fi
  echo "statsync-load exit ${RC_OF[$1]}: $(tail -c 300 "$WORK/reports/$1.err" | tr '\n|' ' /')"
}
# statsync ÷ baseline, or "–" when either is missing.
ratio() { # a b
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "?" || b == "?" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'
}

# The table: | measure | target | statsync | baseline | statsync ÷ baseline | notes |
ROWS=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); } # measure target statsync baseline ratio notes
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
time_left() { echo $((DEADLINE - (SECONDS - START_S))); }
# A row of one figure per system from runs "<step>_statsync" and
# "<step>_baseline": jq expression EXPR (µs) shown in ms.
row_ms() { # step measure target expr notes
  local a="" b="" ca cb
  if ran "$1_statsync"; then a=$(j "$1_statsync" "$4"); ca="**$(ms "$a") ms**"; else ca=$(missing "$1_statsync"); fi
  if ran "$1_baseline"; then b=$(j "$1_baseline" "$4"); cb="$(ms "$b") ms"; else cb=$(missing "$1_baseline"); fi
  row "$2" "$3" "$ca" "$cb" "$(ratio "$a" "$b")" "$5"
}
# The notes of a latency run: both percentiles' neighbours, counts, CPU.
latency_notes() { # name rate seconds histogram (.latency_us | .all_devices_us) matched-count (.matched | .all_devices_matched)
  local n=$1
  if ! ran "$n"; then why_not "$n"; return; fi
  local e
  e=$(errs "$n")
  echo "p50 $(ms "$(j "$n" "$4.p50")") ms, p99.9 $(ms "$(j "$n" "$4.p999")") ms, max $(ms "$(j "$n" "$4.max")") ms; $(num "$(j "$n" "$5")") of $(num "$(j "$n" .sent)") updates matched; $(cpu_per_update "$n" "$2" "$3")${e:+; errors: $e}$(noise "$n")"
}

# ---- 0. warm the path (first LMDB pages, NATS subscriptions, V8's JIT); not reported
for sys in $(systems); do
  load "$sys" "warm_$sys" --port "$(sock_port "$sys")" --conns 50 --rate 500 --warmup 0 --duration 1 || true
done

# ---- 1. memory per idle connection ----------------------------------------------
# Sets IDLE_PER[sys] (KB per connection, or "") and IDLE_NOTE[sys].
declare -A IDLE_PER IDLE_NOTE
idle_run() { # statsync|baseline conns
  local sys=$1 n=$2 name=idle$2_$1
  IDLE_PER[$sys]=""
  fresh "$sys"
  # The same small warm-up each time (first connections, first round trips).
  load "$sys" "warm$n$sys" --port "$(sock_port "$sys")" --conns 50 --rate 500 --warmup 0 --duration 1 || true
  sleep 1
  local pid before after
  pid=$(server_pid "$sys")
  before=$(rss_kb "$pid")
  say "idle: $sys, opening $n connections"
  # The connect phase is paced by the server (at most 1 000 handshakes in
  # flight), so its bound is generous; the generator holds the sockets until
  # told to stop (SIGTERM), then writes its report.
  local ctimeout=$((30 + n / 500))
  "$LOAD" --host 127.0.0.1 --secret "$SECRET" --port "$(sock_port "$sys")" --conns "$n" --rate 0 \
    --warmup 0 --duration "$((HOLD + 60))" --connect-rate 5000 --max-connecting 1000 \
    --connect-timeout "$ctimeout" --report "$WORK/reports/$name.json" \
    >/dev/null 2>"$WORK/reports/$name.err" &
  local lpid=$!
  PIDS+=("$lpid")
  local connected=""
  for _ in $(seq 1 $((10 * (ctimeout + 10)))); do
    connected=$(grep -o '"phase":"connected","connected":[0-9]*' "$WORK/reports/$name.err" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$connected" ] && break
    kill -0 "$lpid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$connected" ]; then
    stop_pid "$lpid"
    IDLE_NOTE[$sys]="the generator did not finish connecting: $(tail -c 300 "$WORK/reports/$name.err" | tr '\n|' ' /')"
    return
  fi
  sleep "$HOLD" # idle: only Engine.IO pings
  after=$(rss_kb "$pid")
  stop_pid "$lpid"
  if [ "$connected" -eq 0 ] || ! kill -0 "$pid" 2>/dev/null; then
    IDLE_NOTE[$sys]="connected $connected; server $(kill -0 "$pid" 2>/dev/null && echo alive || echo DIED)"
    return
  fi
  local e
  e=$(errs "$name")
  IDLE_PER[$sys]=$(awk -v a="$after" -v b="$before" -v n="$connected" 'BEGIN { printf "%.2f", (a - b) / n }')
  IDLE_NOTE[$sys]="$(num "$connected") of $(num "$n") connected and joined in $(j "$name" .connect_s) s${e:+ (errors: $e)}; fresh VmRSS $(num "$before") -> $(num "$after") KB"
}
idle_rss() { # conns label
  local n=$1 label=$2 need=$(($1 + 200)) measure
  measure="RSS per idle connection, $label connections (statsync: the gateway; baseline: the node process)"
  if [ "$FD_LIMIT" -lt "$need" ]; then
    row "$measure" "<= 3 KB" "not run" "not run" "–" \
      "needs $need file descriptors per process (server and generator); RLIMIT_NOFILE here is $FD_LIMIT (hard) and raising it needs CAP_SYS_RESOURCE"
    return
  fi
  if [ "$(time_left)" -lt 90 ]; then
    row "$measure" "<= 3 KB" "not run" "not run" "–" "out of time (BENCH_DEADLINE_S)"
    return
  fi
  local sys cs cb
  IDLE_PER[baseline]=""; IDLE_NOTE[baseline]="not run${BL_WHY:+: $BL_WHY}"
  for sys in $(systems); do idle_run "$sys" "$n"; done
  cs=${IDLE_PER[statsync]:+**${IDLE_PER[statsync]} KB**}
  cb=${IDLE_PER[baseline]:+${IDLE_PER[baseline]} KB}
  row "$measure" "<= 3 KB" "${cs:-failed}" "${cb:-not run}" "$(ratio "${IDLE_PER[statsync]}" "${IDLE_PER[baseline]}")" \
    "statsync: ${IDLE_NOTE[statsync]}; baseline: ${IDLE_NOTE[baseline]}"
}
if want rss; then
idle_rss 10000 "10 000"
if [ "$QUICK" = 1 ]; then
  row "RSS per idle connection, 100 000 connections" "<= 3 KB" "not run" "not run" "–" "skipped by --quick"
else
  idle_rss 100000 "100 000"
  # Where 100 000 cannot run, the most connections the fd limit allows is the
  # next best evidence of how memory grows with the count.
  most=$(( (FD_LIMIT - 500) / 1000 * 1000 ))
  if [ "$FD_LIMIT" -lt 100200 ] && [ "$most" -gt 10000 ]; then
    idle_rss "$most" "$(num "$most") (the most this fd limit allows)"
  fi
fi
fi

OPS_NOTE=${OPIDS:+", an opId each"}
# For each system: a fresh server, the same small warm-up, then run
# "<step>_<system>" at LATENCY_RATE with CONNS connections.
latency_runs() { # step conns [generator args...]
  local step=$1 conns=$2 sys
  shift 2
  for sys in $(systems); do
    fresh "$sys"
    load "$sys" "warm_$sys" --port "$(sock_port "$sys")" --conns 50 --rate 500 --warmup 0 --duration 1 || true
    say "$step: $sys, $conns connections x $LATENCY_RATE updates/s $*"
    load "$sys" "${step}_$sys" --port "$(sock_port "$sys")" --conns "$conns" --rate "$LATENCY_RATE" \
      --warmup "$WARMUP" --duration "$DURATION" $OPIDS "$@" || true
  done
}
# "statsync: …; baseline: …" notes of a latency step's two runs.
both_notes() { # step histogram matched-count
  echo "statsync: $(latency_notes "$1_statsync" "$LATENCY_RATE" $((WARMUP + DURATION)) "$2" "$3"); baseline: $(latency_notes "$1_baseline" "$LATENCY_RATE" $((WARMUP + DURATION)) "$2" "$3")"
}
# ---- 2. end-to-end latency at 1 000 connections x 2 000 updates/s -------------
if want latency; then
latency_runs latency "$SOCKET_CONNS"
T=$((WARMUP + DURATION))
what="$(num "$SOCKET_CONNS") conns x $(num "$LATENCY_RATE") updates/s$OPS_NOTE (statsync: each durably committed; baseline: in memory)"
row_ms latency "p50 send -> own push, $what" "–" .latency_us.p50 "see the p99 row"
row_ms latency "p99 send -> own push, $what" "<= the baseline's p99, <= 2 ms" .latency_us.p99 \
  "$(both_notes latency .latency_us .matched)"
cs=""; cb=""
ran latency_statsync && cs=$(cpu_server_us latency_statsync "$LATENCY_RATE" "$T")
ran latency_baseline && cb=$(cpu_server_us latency_baseline "$LATENCY_RATE" "$T")
row "CPU per update at $(num "$LATENCY_RATE")/s, the server's processes (statsync: gateway + stats + nats-server; baseline: node)" "–" \
  "$(cell "$cs" "$cs us" latency_statsync)" "$(cell "$cb" "$cb us" latency_baseline)" "$(ratio "$cs" "$cb")" \
  "from the latency runs; the generator's share is in their notes"
fi

# ---- 3. devices: every push reaches all of a user's sockets -------------------
# DEVICE_USERS users x DEVICES sockets each; each update is sent on one device
# (round-robin over users, rotating over the user's devices) and timed to its
# own push and until every device of the user had one.
if want devices; then
latency_runs devices $((DEVICE_USERS * DEVICES)) --devices "$DEVICES"
what="$(num "$DEVICE_USERS") users x $DEVICES sockets, $(num "$LATENCY_RATE") updates/s$OPS_NOTE"
row_ms devices "p50 send -> own push, $what" "–" .latency_us.p50 "see the p99 rows"
row_ms devices "p99 send -> own push, $what" "–" .latency_us.p99 \
  "$(both_notes devices .latency_us .matched)"
row_ms devices "p50 until all $DEVICES devices have the push, $what" "–" .all_devices_us.p50 "see the next row"
row_ms devices "p99 until all $DEVICES devices have the push, $what" "<= 3 ms" .all_devices_us.p99 \
  "$(both_notes devices .all_devices_us .all_devices_matched)"
fi

# ---- 4. highest sustained update rate with p99 <= 20 ms -----------------------
# A step passes when p99 <= the limit, >= 99 % of the measured updates were
# matched, throughput >= 95 % of the rate, the generator kept its schedule and
# nothing failed. Rates go up until a step fails (or time runs short), for
# each system on its own; at each rate statsync runs first, then the baseline.
if want rate; then
declare -A BEST BEST_NOTE FAIL_NOTE STOPPED
for rate in $RATES; do
  running=0
  for sys in $(systems); do
    [ -z "${STOPPED[$sys]:-}" ] || continue
    if [ "$(time_left)" -lt $((STEP_DURATION + 40)) ]; then
      FAIL_NOTE[$sys]="${FAIL_NOTE[$sys]:+${FAIL_NOTE[$sys]}; }stopped before $(num "$rate")/s: out of time"
      STOPPED[$sys]=1
      continue
    fi
    running=1
    say "rate step: $sys, $rate updates/s"
    name=rate${rate}_$sys
    rc=0
    load "$sys" "$name" --port "$(sock_port "$sys")" --conns "$SOCKET_CONNS" --rate "$rate" --warmup 1 \
      --duration "$STEP_DURATION" --drain 3 $OPIDS || rc=$?
    if [ "$rc" != 0 ]; then
      FAIL_NOTE[$sys]="$(num "$rate")/s: statsync-load exit $rc"
      STOPPED[$sys]=1
      continue
    fi
    verdict=$(jq -r --argjson rate "$rate" --argjson lim "$P99_LIMIT_US" '
      if .error_total > 0 then "errors"
      elif .latency_us.p99 > $lim then "p99"
      elif .sent == 0 or .matched < 0.99 * .sent then "unmatched"
      elif .throughput_per_s < 0.95 * $rate then "throughput"
      elif .send_behind > 0.01 * $rate * .duration_s then "generator behind"
      else "ok" end' "$WORK/reports/$name.json")
    summary="p99 $(ms "$(j "$name" .latency_us.p99)") ms, $(num "$(j "$name" .throughput_per_s)") matched/s, $(cpu_per_update "$name" "$rate" $((1 + STEP_DURATION)))"
    if [ "$verdict" = ok ]; then
      BEST[$sys]=$rate
      BEST_NOTE[$sys]="$summary$(noise "$name")"
    else
      e=$(errs "$name")
      FAIL_NOTE[$sys]="$(num "$rate")/s failed ($verdict): $summary, $(num "$(j "$name" .unmatched)") unmatched, $(num "$(j "$name" .send_behind)") sends behind schedule${e:+, errors: $e}$(noise "$name")"
      STOPPED[$sys]=1
    fi
  done
  [ "$running" = 1 ] || break
done
rate_cell() { # sys
  if [ -n "${BEST[$1]:-}" ]; then echo "$(num "${BEST[$1]}")/s"
  elif [ "$1" = baseline ] && [ -n "$BL_WHY" ]; then echo "not run"
  else echo "none passed"; fi
}
rate_note() { # sys
  if [ -n "${BEST[$1]:-}" ]; then echo "${BEST_NOTE[$1]}${FAIL_NOTE[$1]:+; next: ${FAIL_NOTE[$1]}}"
  elif [ "$1" = baseline ] && [ -n "$BL_WHY" ]; then echo "not run: $BL_WHY"
  else echo "${FAIL_NOTE[$1]:-}"; fi
}
row "highest sustained update rate, p99 <= $((P99_LIMIT_US / 1000)) ms ($(num "$SOCKET_CONNS") conns$OPS_NOTE; statsync: gateway -> NATS -> LMDB commit -> push)" \
  ">= 40 000/s" "**$(rate_cell statsync)**" "$(rate_cell baseline)" "$(ratio "${BEST[statsync]:-}" "${BEST[baseline]:-}")" \
  "statsync: $(rate_note statsync); baseline: $(rate_note baseline)"
# The issue's CPU measure: every process (the generator too) per durable
# update at 15 000/s, from that step of the ladder (when it ran).
cpu_all_us() { # name rate seconds: the total of cpu_per_update, or ""
  cpu_per_update "$@" | sed -nE 's/.*\(total ([0-9]+) us\)$/\1/p'
}
cs=""; cb=""
ran rate15000_statsync && cs=$(cpu_all_us rate15000_statsync 15000 $((1 + STEP_DURATION)))
ran rate15000_baseline && cb=$(cpu_all_us rate15000_baseline 15000 $((1 + STEP_DURATION)))
row "CPU per update at 15 000/s, every process (statsync: gateway + stats + nats-server + generator; baseline: node + generator)$OPS_NOTE" \
  "<= 50 us" "$(cell "$cs" "**$cs us**" rate15000_statsync)" "$(cell "$cb" "$cb us" rate15000_baseline)" "$(ratio "$cs" "$cb")" \
  "from the 15 000/s step of the ladder: $(ran rate15000_statsync && cpu_per_update rate15000_statsync 15000 $((1 + STEP_DURATION)) || echo "not run")"
fi

# ---- 5. REST patches/s --------------------------------------------------------
if want rest; then
for sys in $(systems); do
  say "rest: $sys, $REST_CONNS keep-alive connections, closed loop"
  load "$sys" "rest_$sys" --mode rest --port "$(rest_port "$sys")" --conns "$REST_CONNS" --warmup "$WARMUP" \
    --duration "$REST_DURATION" --drain 5 $OPIDS || true
done
rest_note() { # name
  if ! ran "$1"; then why_not "$1"; return; fi
  local e
  e=$(errs "$1")
  echo "p50 $(ms "$(j "$1" .latency_us.p50)") ms, p99 $(ms "$(j "$1" .latency_us.p99)") ms${e:+; errors: $e}$(noise "$1")"
}
cs=""; cb=""
ran rest_statsync && cs=$(j rest_statsync .throughput_per_s)
ran rest_baseline && cb=$(j rest_baseline .throughput_per_s)
row "REST patches/s ($REST_CONNS keep-alive conns, closed loop${OPIDS:+, an Idempotency-Key each}; statsync: each a durable LMDB commit, baseline: in memory)" \
  ">= 25 000/s" "$(cell "$cs" "**$(num "$cs")/s**" rest_statsync)" "$(cell "$cb" "$(num "$cb")/s" rest_baseline)" "$(ratio "$cs" "$cb")" \
  "statsync: $(rest_note rest_statsync); baseline: $(rest_note rest_baseline)"
fi

# ---- 6. the cluster beside the single instance --------------------------------
# The single instance first (its gateway, stats, nats-server), then
# scripts/run-cluster.sh on ports from CLUSTER_BASE, driven through gateway0
# (the same generator flags; its pushes cross NATS to both stats owners and
# the other gateway's rooms). CPU per update: every process of each system
# from the processes file / PIDS, divided by the updates sent. statsync only:
# the baseline has no cluster.
# Sum of the CPU jiffies of the cluster's processes whose name starts with $1.
cluster_jiffies() { # prefix
  local t=0 name pid
  while read -r name pid; do
    case "$name" in "$1"*) t=$((t + $(pid_jiffies "$pid"))) ;; esac
  done <"$WORK/cluster/processes"
  echo "$t"
}
if want cluster; then
  declare -A SINGLE_NOTE
  for rate in $CLUSTER_RATES; do
    rc=0
    say "cluster step: single instance, $rate updates/s"
    load statsync "single$rate" --port "$SOCKET_PORT" --conns "$SOCKET_CONNS" --rate "$rate" $OPIDS \
      --warmup 1 --duration "$STEP_DURATION" --drain 3 || rc=$?
    SINGLE_NOTE[$rate]="p50 $(ms "$(j "single$rate" .latency_us.p50)") ms, p99 $(ms "$(j "single$rate" .latency_us.p99)") ms, $(cpu_per_update "single$rate" "$rate" $((1 + STEP_DURATION)))"
    [ "$rc" = 0 ] || SINGLE_NOTE[$rate]="statsync-load exit $rc"
  done
  say "cluster step: starting scripts/run-cluster.sh on ports from $CLUSTER_BASE"
  mkdir -p "$WORK/cluster"
  STATSYNC_PORT_BASE=$CLUSTER_BASE STATSYNC_RUN_DIR="$WORK/cluster" STATSYNC_BUILD_DIR="$BUILD" \
    STATSYNC_JWT_SECRET=$SECRET STATSYNC_RATE_MUTATIONS_PER_S=0 STATSYNC_MAX_SOCKETS_PER_USER=0 \
    STATSYNC_RATE_HANDSHAKE_IP_PER_S=0 STATSYNC_SHUTDOWN_DRAIN_MS=0 STATSYNC_SHUTDOWN_SPREAD_MS=0 \
    setsid bash "$ROOT/scripts/run-cluster.sh" >"$WORK/cluster.log" 2>&1 &
  CLUSTER_PID=$!
  PIDS+=("$CLUSTER_PID")
  up=0
  for _ in $(seq 1 600); do
    grep -q '^App URL:' "$WORK/cluster.log" && { up=1; break; }
    kill -0 "$CLUSTER_PID" 2>/dev/null || break
    sleep 0.2
  done
  if [ "$up" = 1 ]; then
    for rate in $CLUSTER_RATES; do
      rc=0
      say "cluster step: cluster, $rate updates/s"
      c0=(); for k in gateway stats nats presence edge; do c0+=("$(cluster_jiffies "$k")"); done
      load statsync "cluster$rate" --port $((CLUSTER_BASE + 2)) --conns "$SOCKET_CONNS" --rate "$rate" $OPIDS \
        --warmup 1 --duration "$STEP_DURATION" --drain 3 || rc=$?
      i=0; parts=""; total=0
      for k in gateway stats nats presence edge; do
        d=$(($(cluster_jiffies "$k") - c0[i])); i=$((i + 1)); total=$((total + d))
        parts="$parts$(awk -v d="$d" -v r="$rate" -v t=$((1 + STEP_DURATION + 3)) -v hz="$(getconf CLK_TCK)" -v k="$k" \
          'BEGIN { printf "%s %.0f us, ", k, d * 1e6 / hz / (r * t) }')"
      done
      if [ "$rc" = 0 ]; then
        e=$(errs "cluster$rate")
        row "cluster, $(num "$SOCKET_CONNS") conns x $(num "$rate") updates/s$OPS_NOTE, send -> own push" \
          "beside the single instance" \
          "p50 $(ms "$(j "cluster$rate" .latency_us.p50)") ms, **p99 $(ms "$(j "cluster$rate" .latency_us.p99)") ms**" "–" "–" \
          "cluster CPU per update (whole step incl. drain): ${parts}total $(awk -v d="$total" -v r="$rate" -v t=$((1 + STEP_DURATION + 3)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", d * 1e6 / hz / (r * t) }') us; single instance, same run: ${SINGLE_NOTE[$rate]}${e:+; errors: $e}$(noise "cluster$rate")"
      else
        row "cluster, $(num "$rate") updates/s" "" "failed" "–" "–" "statsync-load exit $rc: $(tail -c 300 "$WORK/reports/cluster$rate.err" | tr '\n|' ' /')"
      fi
    done
  else
    row "cluster" "" "did not start" "–" "–" "$(tail -c 300 "$WORK/cluster.log" | tr '\n|' ' /')"
  fi
  # run-cluster.sh stops its processes in order (each leads a session of its
  # own: killing the script itself would leave them running): give it time.
  kill -TERM -- "-$CLUSTER_PID" 2>/dev/null || kill -TERM "$CLUSTER_PID" 2>/dev/null || true
  for _ in $(seq 1 600); do kill -0 "$CLUSTER_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$CLUSTER_PID" 2>/dev/null && [ -f "$WORK/cluster/processes" ]; then
    say "run-cluster.sh did not stop within 60 s; stopping its processes ($WORK/cluster/processes) directly"
    # each leads a session of its own: nothing else would end them
    while read -r _ pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$WORK/cluster/processes"
    sleep 5
    while read -r _ pid; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done <"$WORK/cluster/processes"
  fi
fi

gw_alive || row "gateway" "" "DIED during the run" "" "" "see $WORK/gateway.log (use --keep)"
[ -n "$BL_WHY" ] || kill -0 "$BL_PID" 2>/dev/null || row "baseline" "" "" "DIED during the run" "" "see $WORK/baseline.log (use --keep)"

# ---- the table ----------------------------------------------------------------
{
  echo "statsync benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(uname -sr), generator on the same machine, LMDB on $(df -T "$WORK" | awk 'NR==2 { print $2 }'), load average before the run $LOADAVG0; \`tests/load/bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')$([ -z "$OPIDS" ] && echo ' --no-op-ids')\` ($((SECONDS - START_S)) s)"
  echo
  echo "Baseline: tests/load/baseline/ (node $(node --version 2>/dev/null || echo '?'), express + socket.io, one process, everything in memory: no disk, no NATS), the same generator and flags in the same run. Ratio: statsync ÷ baseline (below 1: statsync lower — latency, memory, CPU; above 1: higher — rates)."
  echo
  echo "| measure | target | statsync | baseline | ratio | notes |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee ${OUT:+"$OUT"}
