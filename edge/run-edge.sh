#!/usr/bin/env bash
# edge/run-edge.sh — start the edge: render nginx.conf from the environment
# (edge/render-nginx.sh, the one renderer) into $STATSYNC_EDGE_PREFIX and run
# nginx there in the foreground. The script execs nginx, so the process that
# started it (run-local.sh, tests/lib/edge.js, Docker as the image's
# ENTRYPOINT) holds nginx's master process itself: SIGTERM stops it at once,
# SIGQUIT lets requests finish first (websockets at most
# worker_shutdown_timeout, 10 s). Nothing is written outside the prefix:
# no /var/log/nginx, no /run, no /var/lib/nginx.
#
#   STATSYNC_EDGE_PREFIX=/tmp/edge STATSYNC_EDGE_GATEWAYS=g0=127.0.0.1:3000:3001 edge/run-edge.sh
#
# Every other setting: `edge/render-nginx.sh --help`. Exit 2 on bad settings.
set -euo pipefail

here=$(dirname "$(readlink -f "$0")")
case "${1:-}" in
  -h | --help)
    echo "usage: run-edge.sh   (renders \$STATSYNC_EDGE_PREFIX/nginx.conf and execs nginx in the foreground)"
    echo
    "$here/render-nginx.sh" --help
    exit 0
    ;;
  "") ;;
  *) echo "run-edge.sh takes no arguments (settings come from the environment; see --help)" >&2; exit 2 ;;
esac

prefix=${STATSYNC_EDGE_PREFIX:-}
[ -n "$prefix" ] || { echo "run-edge.sh: STATSYNC_EDGE_PREFIX (a writable run directory) is not set" >&2; exit 2; }
[[ $prefix == /* ]] || { echo "run-edge.sh: STATSYNC_EDGE_PREFIX must be an absolute path, not '$prefix'" >&2; exit 2; }
mkdir -p "$prefix" || { echo "run-edge.sh: cannot create $prefix" >&2; exit 2; }
[ -w "$prefix" ] || { echo "run-edge.sh: $prefix is not writable by $(id -un 2>/dev/null || id -u)" >&2; exit 2; }

nginx_bin=$(command -v nginx || true)
[ -n "$nginx_bin" ] || { [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx; }
[ -n "$nginx_bin" ] || { echo "run-edge.sh: nginx is not installed (Debian: apt-get install nginx)" >&2; exit 2; }

# Certificate paths relative to where this was started (nginx would take them
# relative to the prefix).
for v in STATSYNC_EDGE_TLS_CERT STATSYNC_EDGE_TLS_KEY; do
  if [ -n "${!v:-}" ] && [[ ${!v} != /* ]]; then export "$v=$PWD/${!v}"; fi
done

conf="$prefix/nginx.conf"
"$here/render-nginx.sh" >"$conf.tmp" || { rc=$?; rm -f "$conf.tmp"; exit "$rc"; }
mv -f "$conf.tmp" "$conf"
exec "$nginx_bin" -p "${prefix%/}/" -c "$conf" -g 'daemon off;'
