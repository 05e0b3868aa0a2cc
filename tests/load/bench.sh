#!/usr/bin/env bash
# tests/load/bench.sh — the statsync benchmark (issue 6), one command:
#
#   tests/load/bench.sh [--quick] [--build DIR] [--no-build] [--keep] [--out FILE]
#
# Builds (RelWithDebInfo) and starts the whole system on free loopback ports — a real
# nats-server, statsync-stats on a fresh LMDB directory on disk, statsync-presence
# and one statsync-gateway, with a throwaway JWT secret — waits for /health,
# drives it with statsync-load on the same machine, and prints ONE markdown
# table:
#
#   gateway RSS per idle connection at 10 000 and 100 000 connections
#   end-to-end latency at 1 000 connections x 2 000 updates/s
#   the highest sustained update rate with p99 <= 20 ms (stepped up)
#   REST patches/s (each one a durable LMDB commit)
#   the cluster (scripts/run-cluster.sh: 3 NATS nodes, 2 stats-service
#   partition owners, 2 presence, 2 gateways, the edge) at 1 000 sockets x
#   2 000 and x 10 000 updates/s with op ids, beside the single instance at
#   the same rates with op ids in the same run, CPU per update of every
#   process of each
#
# A step that cannot run on this machine (fd limits, ...) says why in the table
# instead of failing. Bounded: the full run takes about 6 minutes (hard stop at
# BENCH_DEADLINE_S, default 600), --quick about 1 minute (hard stop 150 s).
# Every process it starts is stopped on exit, whatever the exit.
#
#   --quick      short steps, fewer rates, no 100 000-connection step
#   --build DIR  build directory (default $STATSYNC_BUILD_DIR or ./build-bench)
#   --no-build   use the binaries already in DIR
#   --keep       keep the work directory (logs, LMDB, every JSON report)
#   --out FILE   also write the table to FILE
#
# Tunables (environment): BENCH_SOCKET_CONNS (1000), BENCH_LATENCY_RATE (2000),
# BENCH_RATES ("5000 10000 15000 20000 25000 30000 40000 50000 60000 80000 100000"),
# BENCH_BUILD_TYPE (RelWithDebInfo), BENCH_DEADLINE_S,
# BENCH_REST_CONNS (64), BENCH_P99_US (20000), BENCH_GATEWAY_ENV /
# BENCH_STATS_ENV (extra VAR=value words for those services), BENCH_ONLY
# (the steps to run, default "rss latency rate rest cluster"),
# BENCH_CLUSTER_PORT_BASE (27100: the cluster takes 40 ports from it),
# BENCH_CLUSTER_RATES ("2000 10000").
#
# The gateway runs with STATSYNC_RATE_MUTATIONS_PER_S=0: 1 000 sockets at
# 50 000 updates/s are 50 writes/s per user, over the product's per-user limit
# (20/s), and the benchmark measures the pipeline, not the limiter; and with
# no lame duck (STATSYNC_SHUTDOWN_DRAIN_MS / _SPREAD_MS 0): a restart between
# steps need not wait for a drain delay.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

QUICK=0
BUILD=${STATSYNC_BUILD_DIR:-$ROOT/build-bench}
DO_BUILD=1
KEEP=0
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --build) BUILD=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --keep) KEEP=1 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)

if [ "$QUICK" = 1 ]; then
  DEADLINE=${BENCH_DEADLINE_S:-150}
  WARMUP=1; DURATION=4; STEP_DURATION=2; REST_DURATION=3; HOLD=3
  RATES=${BENCH_RATES:-"5000 20000 50000"}
else
  DEADLINE=${BENCH_DEADLINE_S:-600}
  WARMUP=2; DURATION=10; STEP_DURATION=5; REST_DURATION=10; HOLD=5
  RATES=${BENCH_RATES:-"5000 10000 15000 20000 25000 30000 40000 50000 60000 80000 100000"}
fi
# -O2 -g: the build the tests use, and one perf can put names on.
BUILD_TYPE=${BENCH_BUILD_TYPE:-RelWithDebInfo}
SOCKET_CONNS=${BENCH_SOCKET_CONNS:-1000}
LATENCY_RATE=${BENCH_LATENCY_RATE:-2000}
REST_CONNS=${BENCH_REST_CONNS:-64}
P99_LIMIT_US=${BENCH_P99_US:-20000}
ONLY=${BENCH_ONLY:-"rss latency rate rest cluster"}
for step in $ONLY; do
  case "$step" in rss|latency|rate|rest|cluster) ;; *) echo "bench.sh: BENCH_ONLY: unknown step '$step' (rss latency rate rest cluster)" >&2; exit 2 ;; esac
done
CLUSTER_BASE=${BENCH_CLUSTER_PORT_BASE:-27100}
CLUSTER_RATES=${BENCH_CLUSTER_RATES:-"2000 10000"}
START_S=$SECONDS

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
# A fresh gateway: what an earlier step grew its heap to does not count in
# the next memory step.
restart_gateway() {
  kill -TERM "$GW_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$GW_PID" 2>/dev/null || true
  wait "$GW_PID" 2>/dev/null || true
  start_gateway
}
start_gateway

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$GW_PID/status"; }
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
NOISE=0
# CPU time (jiffies) of one process.
pid_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
CPU_GW=0; CPU_STATS=0; CPU_NATS=0; CPU_LOAD=0
# "CPU per update: gateway N us, ..." for a fixed-rate step: the CPU each
# process used from the end of the generator's connect phase to the end of
# the step, divided by the updates sent meanwhile (rate x (warm-up +
# measured seconds)); what a faster pipeline must shrink.
cpu_per_update() { # rate seconds
  awk -v g="$CPU_GW" -v s="$CPU_STATS" -v n="$CPU_NATS" -v l="$CPU_LOAD" -v r="$1" -v t="$2" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN { k = 1e6 / hz / (r * t);
      printf "CPU per update: gateway %.0f us, stats %.0f us, nats-server %.0f us, generator %.0f us (total %.0f us)",
        g * k, s * k, n * k, l * k, (g + s + n + l) * k }'
}
# statsync-load with the common flags; the report lands in $WORK/reports/NAME.json
# and NOISE is set to the other processes' CPU share (%) during the run.
# Prints nothing; returns the generator's exit code.
load() { # name args...
  local name=$1
  shift
  local rc=0 b0 o0 t0 g0=0 s0=0 n0=0 l0=0 lpid l1=0
  t0=$(date +%s%N)
  b0=$(busy_jiffies)
  ours_jiffies
  o0=$OURS
  "$LOAD" --host 127.0.0.1 --secret "$SECRET" --report "$WORK/reports/$name.json" "$@" \
    >/dev/null 2>"$WORK/reports/$name.err" &
  lpid=$!
  # Start the CPU count when the generator has connected (bounded: the
  # generator bounds its own connect phase).
  while kill -0 "$lpid" 2>/dev/null && ! grep -q '"phase":"connected"' "$WORK/reports/$name.err"; do
    sleep 0.02
  done
  g0=$(pid_jiffies "$GW_PID"); s0=$(pid_jiffies "$STATS_PID"); n0=$(pid_jiffies "$NATS_PID")
  l0=$(pid_jiffies "$lpid")
  # Its last reading before it exits: sample while it runs.
  while kill -0 "$lpid" 2>/dev/null; do
    l1=$(pid_jiffies "$lpid")
    [ "$l1" = 0 ] || CPU_LOAD=$((l1 - l0))
    sleep 0.1
  done
  wait "$lpid" || rc=$?
  CPU_GW=$(($(pid_jiffies "$GW_PID") - g0)); CPU_STATS=$(($(pid_jiffies "$STATS_PID") - s0))
  CPU_NATS=$(($(pid_jiffies "$NATS_PID") - n0))
  # The services' counters after the step (commit times, batch sizes, queue
  # waits), cumulative since start: kept with --keep for whoever digs deeper.
  curl -fsS "http://127.0.0.1:$STATS_ADMIN/metrics" >"$WORK/reports/$name.stats.prom" 2>/dev/null || true
  ours_jiffies
  local db=$(($(busy_jiffies) - b0)) do=$((OURS - o0)) wall_ms=$((($(date +%s%N) - t0) / 1000000))
  NOISE=$(awk -v b="$db" -v o="$do" -v w="$wall_ms" -v n="$(nproc)" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { x = w > 0 ? (b - o) * 100000 / (w * n * hz) : 0; printf "%d", x < 0 ? 0 : x }')
  return "$rc"
}
# ", other processes used N % of the CPUs" when that is worth knowing.
noise() { if [ "$NOISE" -ge 5 ]; then echo "; processes outside the benchmark (other tests, kernel threads) used ${NOISE} % of the CPUs meanwhile"; fi; }
j() { jq -r "$2" "$WORK/reports/$1.json" 2>/dev/null || echo "?"; } # name jq-expr
ms() { awk -v us="$1" 'BEGIN { if (us == "?" || us == "") print "?"; else printf "%.2f", us / 1000 }'; }
num() { awk -v n="$1" 'BEGIN { if (n == "?" || n == "") { print "?"; exit } s = sprintf("%d", n); o = "";
  while (length(s) > 3) { o = " " substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
errs() { j "$1" '[.errors | to_entries[] | select(.value > 0) | "\(.key) \(.value)"] | join(", ")'; }

ROWS=()
declare -A SINGLE_NOTE
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); }
want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
time_left() { echo $((DEADLINE - (SECONDS - START_S))); }

# ---- 0. warm the path (first LMDB pages, NATS subscriptions); not reported ---
load warm --port "$SOCKET_PORT" --conns 50 --rate 500 --warmup 0 --duration 1 || true

# ---- 1. gateway memory per idle connection ------------------------------------
idle_rss() { # conns label
  local n=$1 label=$2 need=$(($1 + 200))
  if [ "$FD_LIMIT" -lt "$need" ]; then
    row "gateway RSS per idle connection, $label connections" "<= 4 KB" "not run" \
      "needs $need file descriptors per process (gateway and generator); RLIMIT_NOFILE here is $FD_LIMIT (hard) and raising it needs CAP_SYS_RESOURCE"
    return
  fi
  if [ "$(time_left)" -lt 60 ]; then
    row "gateway RSS per idle connection, $label connections" "<= 4 KB" "not run" "out of time (BENCH_DEADLINE_S)"
    return
  fi
  restart_gateway
  # The same small warm-up each time (first connections, first NATS round trips).
  load "warm$n" --port "$SOCKET_PORT" --conns 50 --rate 500 --warmup 0 --duration 1 || true
  sleep 1
  local before after name=idle$n
  before=$(rss_kb)
  say "idle: opening $n connections"
  # The connect phase is paced by the server (at most 1 000 handshakes in
  # flight), so its bound is generous; the generator holds the sockets until
  # told to stop (SIGTERM), then writes its report.
  local ctimeout=$((30 + n / 500))
  "$LOAD" --host 127.0.0.1 --secret "$SECRET" --port "$SOCKET_PORT" --conns "$n" --rate 0 \
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
    kill -TERM "$lpid" 2>/dev/null || true
    wait "$lpid" 2>/dev/null || true
    row "gateway RSS per idle connection, $label connections" "<= 4 KB" "failed" \
      "the generator did not finish connecting: $(tail -c 300 "$WORK/reports/$name.err" | tr '\n|' ' /')"
    return
  fi
  sleep "$HOLD" # idle: only Engine.IO pings
  after=$(rss_kb)
  kill -TERM "$lpid" 2>/dev/null || true
  wait "$lpid" 2>/dev/null || true
  if [ "$connected" -eq 0 ] || ! gw_alive; then
    row "gateway RSS per idle connection, $label connections" "<= 4 KB" "failed" \
      "connected $connected; gateway $(gw_alive && echo alive || echo DIED)"
    return
  fi
  local per e cs
  per=$(awk -v a="$after" -v b="$before" -v n="$connected" 'BEGIN { printf "%.2f", (a - b) / n }')
  e=$(errs "$name")
  cs=$(j "$name" .connect_s)
  row "gateway RSS per idle connection, $label connections" "<= 4 KB" "**$per KB**" \
    "$(num "$connected") of $(num "$n") connected and joined in $cs s${e:+ (errors: $e)}; fresh gateway's VmRSS $(num "$before") -> $(num "$after") KB"
}
if want rss; then
idle_rss 10000 "10 000"
if [ "$QUICK" = 1 ]; then
  row "gateway RSS per idle connection, 100 000 connections" "<= 4 KB" "not run" "skipped by --quick"
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

# ---- 2. end-to-end latency at 1 000 connections x 2 000 updates/s -------------
if want latency; then
restart_gateway
load warm --port "$SOCKET_PORT" --conns 50 --rate 500 --warmup 0 --duration 1 || true
say "latency: $SOCKET_CONNS connections x $LATENCY_RATE updates/s"
rc=0
load latency --port "$SOCKET_PORT" --conns "$SOCKET_CONNS" --rate "$LATENCY_RATE" \
  --warmup "$WARMUP" --duration "$DURATION" || rc=$?
if [ "$rc" = 0 ]; then
  e=$(errs latency)
  row "p99 latency, $(num "$SOCKET_CONNS") conns x $(num "$LATENCY_RATE") updates/s, each durably committed, send -> own push" \
    "<= 2 ms" "**p99 $(ms "$(j latency .latency_us.p99)") ms**" \
    "p50 $(ms "$(j latency .latency_us.p50)") ms, p99.9 $(ms "$(j latency .latency_us.p999)") ms, max $(ms "$(j latency .latency_us.max)") ms; $(num "$(j latency .matched)") of $(num "$(j latency .sent)") updates matched in ${DURATION} s; $(cpu_per_update "$LATENCY_RATE" $((WARMUP + DURATION)))${e:+; errors: $e}$(noise)"
else
  row "p99 latency, 1 000 conns x 2 000 updates/s" "<= 2 ms" "failed" \
    "statsync-load exit $rc: $(tail -c 300 "$WORK/reports/latency.err" | tr '\n|' ' /')"
fi
fi

# ---- 3. highest sustained update rate with p99 <= 20 ms -----------------------
# A step passes when p99 <= the limit, >= 99 % of the measured updates were
# matched, throughput >= 95 % of the rate, the generator kept its schedule and
# nothing failed. Rates go up until a step fails (or time runs short).
if want rate; then
best=""; best_note=""; fail_note=""
for rate in $RATES; do
  if [ "$(time_left)" -lt $((STEP_DURATION + 40)) ]; then
    fail_note="${fail_note:+$fail_note; }stopped before $(num "$rate")/s: out of time"
    break
  fi
  say "rate step: $rate updates/s"
  name=rate$rate
  rc=0
  load "$name" --port "$SOCKET_PORT" --conns "$SOCKET_CONNS" --rate "$rate" --warmup 1 \
    --duration "$STEP_DURATION" --drain 3 || rc=$?
  if [ "$rc" != 0 ]; then
    fail_note="$(num "$rate")/s: statsync-load exit $rc"
    break
  fi
  verdict=$(jq -r --argjson rate "$rate" --argjson lim "$P99_LIMIT_US" '
    if .error_total > 0 then "errors"
    elif .latency_us.p99 > $lim then "p99"
    elif .sent == 0 or .matched < 0.99 * .sent then "unmatched"
    elif .throughput_per_s < 0.95 * $rate then "throughput"
    elif .send_behind > 0.01 * $rate * .duration_s then "generator behind"
    else "ok" end' "$WORK/reports/$name.json")
  summary="p99 $(ms "$(j "$name" .latency_us.p99)") ms, $(num "$(j "$name" .throughput_per_s)") matched/s, $(cpu_per_update "$rate" $((1 + STEP_DURATION)))"
  if [ "$verdict" = ok ]; then
    best=$rate
    best_note="$summary$(noise)"
  else
    e=$(errs "$name")
    fail_note="$(num "$rate")/s failed ($verdict): $summary, $(num "$(j "$name" .unmatched)") unmatched, $(num "$(j "$name" .send_behind)") sends behind schedule${e:+, errors: $e}$(noise)"
    break
  fi
done
if [ -n "$best" ]; then
  row "highest sustained update rate, p99 <= $((P99_LIMIT_US / 1000)) ms ($(num "$SOCKET_CONNS") conns, gateway -> NATS -> LMDB commit -> push)" \
    ">= 50 000/s" "**$(num "$best")/s**" "$best_note${fail_note:+; next: $fail_note}"
else
  row "highest sustained update rate, p99 <= $((P99_LIMIT_US / 1000)) ms" ">= 50 000/s" "none passed" "$fail_note"
fi
fi

# ---- 4. REST patches/s --------------------------------------------------------
if want rest; then
say "rest: $REST_CONNS keep-alive connections, closed loop"
rc=0
load rest --mode rest --port "$API_PORT" --conns "$REST_CONNS" --warmup "$WARMUP" \
  --duration "$REST_DURATION" --drain 5 || rc=$?
if [ "$rc" = 0 ]; then
  e=$(errs rest)
  row "REST patches/s, each a durable LMDB commit ($REST_CONNS keep-alive conns, closed loop)" \
    ">= 20 000/s" "**$(num "$(j rest .throughput_per_s)")/s**" \
    "p50 $(ms "$(j rest .latency_us.p50)") ms, p99 $(ms "$(j rest .latency_us.p99)") ms${e:+; errors: $e}$(noise)"
else
  row "REST patches/s" ">= 20 000/s" "failed" \
    "statsync-load exit $rc: $(tail -c 300 "$WORK/reports/rest.err" | tr '\n|' ' /')"
fi
fi

# ---- 5. the cluster beside the single instance, with op ids --------------------
# The single instance first (its gateway, stats, nats-server), then
# scripts/run-cluster.sh on ports from CLUSTER_BASE, driven through gateway0
# (the same generator flags; its pushes cross NATS to both stats owners and
# the other gateway's rooms). CPU per update: every process of each system
# from the processes file / PIDS, divided by the updates sent.
# Sum of the CPU jiffies of the cluster's processes whose name starts with $1.
cluster_jiffies() { # prefix
  local t=0 name pid
  while read -r name pid; do
    case "$name" in "$1"*) t=$((t + $(pid_jiffies "$pid"))) ;; esac
  done <"$WORK/cluster/processes"
  echo "$t"
}
if want cluster; then
  for rate in $CLUSTER_RATES; do
    rc=0
    say "cluster step: single instance, $rate updates/s with op ids"
    load "single$rate" --port "$SOCKET_PORT" --conns "$SOCKET_CONNS" --rate "$rate" --op-ids \
      --warmup 1 --duration "$STEP_DURATION" --drain 3 || rc=$?
    SINGLE_NOTE[$rate]="p50 $(ms "$(j "single$rate" .latency_us.p50)") ms, p99 $(ms "$(j "single$rate" .latency_us.p99)") ms, $(cpu_per_update "$rate" $((1 + STEP_DURATION)))"
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
      say "cluster step: cluster, $rate updates/s with op ids"
      c0=(); for k in gateway stats nats presence edge; do c0+=("$(cluster_jiffies "$k")"); done
      load "cluster$rate" --port $((CLUSTER_BASE + 2)) --conns "$SOCKET_CONNS" --rate "$rate" --op-ids \
        --warmup 1 --duration "$STEP_DURATION" --drain 3 || rc=$?
      i=0; parts=""; total=0
      for k in gateway stats nats presence edge; do
        d=$(($(cluster_jiffies "$k") - c0[i])); i=$((i + 1)); total=$((total + d))
        parts="$parts$(awk -v d="$d" -v r="$rate" -v t=$((1 + STEP_DURATION + 3)) -v hz="$(getconf CLK_TCK)" -v k="$k" \
          'BEGIN { printf "%s %.0f us, ", k, d * 1e6 / hz / (r * t) }')"
      done
      if [ "$rc" = 0 ]; then
        e=$(errs "cluster$rate")
        row "cluster, $(num "$SOCKET_CONNS") conns x $(num "$rate") updates/s with op ids, send -> own push" \
          "beside the single instance" \
          "p50 $(ms "$(j "cluster$rate" .latency_us.p50)") ms, **p99 $(ms "$(j "cluster$rate" .latency_us.p99)") ms**" \
          "cluster CPU per update (whole step incl. drain): ${parts}total $(awk -v d="$total" -v r="$rate" -v t=$((1 + STEP_DURATION + 3)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", d * 1e6 / hz / (r * t) }') us; single instance, same run: ${SINGLE_NOTE[$rate]}${e:+; errors: $e}$(noise)"
      else
        row "cluster, $(num "$rate") updates/s" "" "failed" "statsync-load exit $rc: $(tail -c 300 "$WORK/reports/cluster$rate.err" | tr '\n|' ' /')"
      fi
    done
  else
    row "cluster" "" "did not start" "$(tail -c 300 "$WORK/cluster.log" | tr '\n|' ' /')"
  fi
  kill -TERM -- "-$CLUSTER_PID" 2>/dev/null || kill -TERM "$CLUSTER_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$CLUSTER_PID" 2>/dev/null || break; sleep 0.1; done
fi

gw_alive || row "gateway" "" "DIED during the run" "see $WORK/gateway.log (use --keep)"

# ---- the table ----------------------------------------------------------------
{
  echo "statsync benchmark — $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(uname -sr), generator on the same machine, LMDB on $(df -T "$WORK" | awk 'NR==2 { print $2 }'); \`tests/load/bench.sh$([ "$QUICK" = 1 ] && echo ' --quick')\` ($((SECONDS - START_S)) s)"
  echo
  echo "| measure | target | result | notes |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee ${OUT:+"$OUT"}
