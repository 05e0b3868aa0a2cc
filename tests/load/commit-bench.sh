#!/usr/bin/env bash
# tests/load/commit-bench.sh — what a replicated partition would cost: one
# durable LMDB commit vs one JetStream publish acknowledged by R1 and R3
# streams, on a 3-node nats-server cluster on loopback (ports from
# COMMIT_BENCH_PORT, default 24220..24225; data in a temp dir).
#
#   tests/load/commit-bench.sh [--build DIR] [--n N]
#
# Results: stats-service/README.md ("Next: replicas of a partition").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD="$ROOT/build"
N=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--n N]" >&2; exit 2 ;;
  esac
done
BENCH="$BUILD/tests/load/statsync-commit-bench"
[ -x "$BENCH" ] || { echo "build first: cmake --build $BUILD --target statsync-commit-bench" >&2; exit 1; }
P=${COMMIT_BENCH_PORT:-24220}
TMP=$(mktemp -d /tmp/statsync-commit-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
routes="nats://127.0.0.1:$((P + 3)),nats://127.0.0.1:$((P + 4)),nats://127.0.0.1:$((P + 5))"
for i in 0 1 2; do
  nats-server -a 127.0.0.1 -p $((P + i)) -js -sd "$TMP/js$i" -n "n$i" --cluster_name bench \
    --cluster "nats://127.0.0.1:$((P + 3 + i))" --routes "$routes" >"$TMP/n$i.log" 2>&1 &
  pids+=($!)
done
# JetStream in a cluster is usable once a meta leader is elected
for _ in $(seq 1 100); do
  grep -q "JetStream cluster new metadata leader\|Self is new JetStream cluster metadata leader" "$TMP"/n*.log 2>/dev/null && break
  sleep 0.1
done
echo "# $(nproc) cores, $(uname -r), data on $(df -T "$TMP" | awk 'NR==2{print $2}')"
"$BENCH" --lmdb "$TMP/lmdb" --n "$N"
"$BENCH" --lmdb "$TMP/lmdb" --n $((N / 10)) --batch 100
for r in 1 3; do
  "$BENCH" --nats "nats://127.0.0.1:$P" --replicas "$r" --n "$N"
  "$BENCH" --nats "nats://127.0.0.1:$P" --replicas "$r" --n $((N / 10)) --batch 100
done
