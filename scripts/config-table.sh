#!/usr/bin/env bash
# scripts/config-table.sh [BUILD_DIR] — prints the README's configuration table
# from each binary's --help, so the table is never written by hand.
set -euo pipefail
B=${1:-build}
echo "| variable | flag | service | default | meaning |"
echo "|---|---|---|---|---|"
for bin in gateway/statsync-gateway stats-service/statsync-stats presence-service/statsync-presence; do
  svc=$(basename "$bin" | sed 's/statsync-//')
  "$B/$bin" --help | awk -v svc="$svc" '
    /^  --/ && $2 ~ /^STATSYNC_/ {
      flag=$1; env=$2; $1=""; $2=""; sub(/^ +/, "");
      def="";
      if (match($0, /\((default: [^)]*|required)\)$/)) {
        def=substr($0, RSTART+1, RLENGTH-2); sub(/^default: /, "", def);
        $0=substr($0, 1, RSTART-2);
      }
      gsub(/\|/, "\\|");
      printf "| `%s` | `%s` | %s | %s | %s |\n", env, flag, svc, (def=="" ? "" : "`" def "`"), $0
    }'
done
