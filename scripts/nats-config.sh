#!/usr/bin/env bash
# scripts/nats-config.sh — the NATS users of statsync and what each may
# publish and subscribe: the ONE place they are written. Everything else is
# rendered from here — the nats-server configuration that run-local.sh,
# compose (service nats-auth) and the tests (tests/lib/system.js) start
# nats-server with, and the "NATS permissions" table of proto/README.md
# (tests/integration/nats_permissions.test.js checks that table against
# `table`, the lists against the subject map, and the running server against
# both).
#
#   scripts/nats-config.sh render DIR [--rotate] [--tls-cert F --tls-key F [--tls-verify-ca F]]
#                                     [--jetstream STORE_DIR]
#       DIR/nats-server.conf (mode 0600): an `authorization` block with one
#       user per service and its permissions (plus a `tls` block when asked,
#       and a `jetstream` block storing in STORE_DIR with --jetstream: the
#       stats-service keeps its partition leases in a JetStream KV bucket, so
#       every server statsync runs on has JetStream on).
#       No listen address or port: give them on the command line,
#       `nats-server -c DIR/nats-server.conf -a 127.0.0.1 -p 4222`.
#       DIR/<user>/password (mode 0600, directory 0700): each user's random
#       password, kept when the file exists (--rotate: new ones for all), so
#       a service started with STATSYNC_NATS_USER=<user>
#       STATSYNC_NATS_PASSWORD_FILE=DIR/<user>/password gets in.
#     A cluster: add --cluster NAME and one --node NAME=HOST:PORT per node
#     (HOST:PORT: where the others reach its route port) [--cluster-listen ADDR]
#       DIR/nats-server.conf then holds what every node shares (users,
#       permissions, TLS), and DIR/<node>.conf each node's own part: it
#       includes nats-server.conf, names the node (server_name), listens for
#       routes on its HOST:PORT (ADDR:PORT with --cluster-listen, e.g.
#       0.0.0.0 in a container), routes to every other node as user "route"
#       (its password in DIR/route/password, kept and rotated like the
#       others'), and stores JetStream in STORE_DIR/<node>. Run each with
#       `nats-server -c DIR/<node>.conf -a ADDR -p PORT` and give every
#       service all the nodes' URLs (STATSYNC_NATS_URL, comma separated).
#   scripts/nats-config.sh table    the permissions table (markdown)
#   scripts/nats-config.sh users    the users, one per line
#
# Subjects are the subject map's (proto/README.md, common/ss_subjects.h); a
# userId is always exactly one token, so `*` stands for it. Lists are allow
# lists: nats-server refuses whatever a list does not name. `responses`
# (nats-server's allow_responses) lets a service publish one reply to the
# reply subject of each request it received, without a general publish right.
set -euo pipefail

USERS=(gateway stats presence admin)

declare -A WHO PUB SUB RESP
WHO[gateway]='statsync-gateway (every gateway)'
PUB[gateway]='statsync.stats.apply.*.* statsync.stats.get.*.* statsync.health.stats statsync.health.presence statsync.presence.join statsync.presence.leave statsync.presence.ping statsync.presence.heartbeat statsync.presence.snapshot'
SUB[gateway]='statsync.user.*.* statsync.presence.sync _INBOX.>'
RESP[gateway]=no

WHO[stats]='statsync-stats (stats-service)'
# The JetStream API of its two key-value buckets (partition leases, the
# cluster's partition count) and their entries; _INBOX.> for the API's replies.
JS_STATS_BUCKETS='KV_statsync_partitions KV_statsync_partitions_config'
js_api() {
  local b out=''
  for b in $JS_STATS_BUCKETS; do
    out+=" \$JS.API.STREAM.INFO.$b \$JS.API.STREAM.CREATE.$b \$JS.API.STREAM.MSG.GET.$b \$JS.API.DIRECT.GET.$b.> \$KV.${b#KV_}.>"
  done
  printf '%s' "${out# }"
}
PUB[stats]="statsync.user.*.changed $(js_api)"
SUB[stats]='statsync.stats.apply.*.* statsync.stats.get.*.* statsync.health.stats statsync.ctl.stats.* _INBOX.>'
RESP[stats]=yes

WHO[presence]='statsync-presence (presence-service)'
PUB[presence]='statsync.presence.sync statsync.user.*.presence statsync.presence.instance'
SUB[presence]='statsync.presence.join statsync.presence.leave statsync.presence.ping statsync.presence.heartbeat statsync.presence.snapshot statsync.presence.instance statsync.health.presence'
RESP[presence]=yes

# Operators' tools (`nats sub`, `nats req`): watch every statsync subject,
# probe health, read a document; never change one or speak for a service.
WHO[admin]="operators' tools (nats CLI)"
PUB[admin]='statsync.health.stats statsync.health.presence statsync.stats.get.*.* statsync.ctl.stats.*'
SUB[admin]='statsync.> _INBOX.>'
RESP[admin]=no

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# "a b c" -> "a", "b", "c" (nats-server config strings)
quoted() {
  local out='' s
  for s in $1; do out+="${out:+, }\"$s\""; done
  printf '%s' "$out"
}

# "a b c" -> `a`, `b`, `c` (markdown)
ticked() {
  local out='' s
  for s in $1; do out+="${out:+, }\`$s\`"; done
  printf '%s' "${out:-–}"
}

# shellcheck disable=SC2016 # the backticks are markdown, not expansions
cmd_table() {
  echo '| user | who | publish | subscribe | replies to requests it receives (`allow_responses`) |'
  echo '|---|---|---|---|---|'
  local u
  for u in "${USERS[@]}"; do
    printf '| `%s` | %s | %s | %s | %s |\n' "$u" "${WHO[$u]}" "$(ticked "${PUB[$u]}")" \
      "$(ticked "${SUB[$u]}")" "${RESP[$u]}"
  done
}

# A path that can stand in a config string as it is: absolute, no quote,
# backslash, space or newline.
conf_path_ok() {
  [[ $1 =~ ^/[A-Za-z0-9/._+@:-]*$ ]]
}

# A new random password: 32 bytes as 43 URL-safe base64 characters (no
# character the config or the CONNECT JSON would need to escape).
new_password() {
  head -c 32 /dev/urandom | base64 | tr -d '=\n' | tr '+/' '-_'
}

# ensure_password DIR NAME ROTATE: NAME's password file DIR/NAME/password
# (directory 0700, file 0600), made when missing or when ROTATE is 1.
ensure_password() {
  local d="$1/$2" pw
  mkdir -p "$d"
  chmod 0700 "$d"
  if [ "$3" = 1 ] || [ ! -s "$d/password" ]; then
    new_password >"$d/password.tmp"
    chmod 0600 "$d/password.tmp"
    mv -f "$d/password.tmp" "$d/password"
  fi
  pw=$(head -n 1 "$d/password")
  case "$pw" in
    *[!A-Za-z0-9_-]*|'')
      echo "nats-config.sh: $d/password must be 1+ of A-Za-z0-9_- (--rotate makes new ones)" >&2
      exit 1 ;;
  esac
}

# write_conf FILE: stdin to FILE (mode 0600), replacing it atomically.
write_conf() {
  local tmp
  tmp=$(mktemp "$(dirname "$1")/.$(basename "$1").XXXXXX")
  cat >"$tmp"
  chmod 0600 "$tmp"
  mv -f "$tmp" "$1"
}

# The part every server shares: users and permissions, TLS; JetStream too
# for a single server (a cluster node gets its own store in its node file).
render_shared() { # dir cert key verify js
  local dir=$1 cert=$2 key=$3 verify=$4 js=$5 u pw
  echo "# Rendered by scripts/nats-config.sh — do not edit: change the script and render again."
  echo "# One user per statsync service; passwords are in <user>/password beside this file."
  echo "authorization {"
  echo "  users = ["
  for u in "${USERS[@]}"; do
    pw=$(head -n 1 "$dir/$u/password")
    echo "    # ${WHO[$u]}"
    echo "    { user: \"$u\", password: \"$pw\""
    echo "      permissions: {"
    echo "        publish: { allow: [$(quoted "${PUB[$u]}")] }"
    echo "        subscribe: { allow: [$(quoted "${SUB[$u]}")] }"
    if [ "${RESP[$u]}" = yes ]; then echo "        allow_responses: true"; fi
    echo "      } }"
  done
  echo "  ]"
  echo "}"
  if [ -n "$cert" ]; then
    echo "tls {"
    echo "  cert_file: \"$cert\""
    echo "  key_file: \"$key\""
    if [ -n "$verify" ]; then
      echo "  ca_file: \"$verify\""
      echo "  verify: true"
    fi
    echo "}"
  fi
  if [ -n "$js" ]; then
    echo "# JetStream (the stats-service's partition leases live in a KV bucket)."
    echo "jetstream {"
    echo "  store_dir: \"$js\""
    echo "}"
  fi
}

# One node of a cluster: the shared file included, its name, its route
# listener, routes to every other node (as user "route"), its JetStream store.
render_node() { # dir cluster me listen-host js node...
  local dir=$1 cluster=$2 me=$3 listen_host=$4 js=$5 pw e name addr
  shift 5
  pw=$(head -n 1 "$dir/route/password")
  echo "# Rendered by scripts/nats-config.sh — do not edit: change the script and render again."
  echo "# Node $me of NATS cluster $cluster. Users and permissions: nats-server.conf"
  echo "# (the same for every node); client address and port on the command line."
  echo "include \"nats-server.conf\""
  echo "server_name: \"$me\""
  echo "cluster {"
  echo "  name: \"$cluster\""
  for e in "$@"; do
    name=${e%%=*} addr=${e#*=}
    [ "$name" = "$me" ] && echo "  listen: \"${listen_host:-${addr%:*}}:${addr##*:}\""
  done
  echo "  # Nodes connect to each other as user \"route\" (password in route/password)."
  echo "  authorization {"
  echo "    user: \"route\""
  echo "    password: \"$pw\""
  echo "  }"
  echo "  routes = ["
  for e in "$@"; do
    name=${e%%=*} addr=${e#*=}
    [ "$name" = "$me" ] || echo "    \"nats-route://route:$pw@$addr\""
  done
  echo "  ]"
  echo "}"
  if [ -n "$js" ]; then
    echo "# JetStream (the stats-service's partition leases live in a KV bucket);"
    echo "# this node's own store."
    echo "jetstream {"
    echo "  store_dir: \"$js/$me\""
    echo "}"
  fi
}

cmd_render() {
  local dir='' rotate=0 cert='' key='' verify='' js='' cluster='' listen_host='' nodes=() e
  while [ $# -gt 0 ]; do
    case "$1" in
      --rotate) rotate=1 ;;
      --jetstream) js=$2; shift ;;
      --tls-cert) cert=$2; shift ;;
      --tls-key) key=$2; shift ;;
      --tls-verify-ca) verify=$2; shift ;;
      --cluster) cluster=$2; shift ;;
      --node) nodes+=("$2"); shift ;;
      --cluster-listen) listen_host=$2; shift ;;
      -*) echo "nats-config.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
      *) [ -z "$dir" ] || { echo "nats-config.sh: one DIR only" >&2; exit 2; }; dir=$1 ;;
    esac
    shift
  done
  bad() { echo "nats-config.sh render: $*" >&2; exit 2; }
  [ -n "$dir" ] || bad "DIR missing (try --help)"
  if [ -n "$cert$key$verify" ] && { [ -z "$cert" ] || [ -z "$key" ]; }; then
    bad "--tls-cert and --tls-key go together"
  fi
  if [ -n "$js" ] && ! conf_path_ok "$js"; then
    bad "--jetstream '$js' must be an absolute path of A-Z a-z 0-9 / . _ + @ : -"
  fi
  if [ -n "$cluster" ] || [ "${#nodes[@]}" -gt 0 ] || [ -n "$listen_host" ]; then
    [[ $cluster =~ ^[A-Za-z0-9_-]{1,32}$ ]] || bad "--cluster NAME (1-32 of A-Z a-z 0-9 _ -) is needed with --node and --cluster-listen"
    [ "${#nodes[@]}" -ge 1 ] || bad "--cluster $cluster needs its nodes: --node NAME=HOST:PORT for each"
    [ -z "$listen_host" ] || [[ $listen_host =~ ^[A-Za-z0-9.:-]+$ ]] || bad "--cluster-listen '$listen_host' is not an address"
    local -A seen=()
    for e in "${nodes[@]}"; do
      if ! [[ $e =~ ^([A-Za-z0-9_-]{1,32})=([A-Za-z0-9.-]+):([1-9][0-9]{0,4})$ ]] || [ "${BASH_REMATCH[3]}" -gt 65535 ]; then
        bad "--node '$e' is not NAME=HOST:PORT (NAME 1-32 of A-Z a-z 0-9 _ -)"
      fi
      [ -z "${seen[${BASH_REMATCH[1]}]:-}" ] || bad "--node ${BASH_REMATCH[1]} is given twice"
      seen[${BASH_REMATCH[1]}]=1
    done
  fi
  umask 077
  mkdir -p "$dir"
  local u
  for u in "${USERS[@]}"; do ensure_password "$dir" "$u" "$rotate"; done
  if [ -n "$cluster" ]; then
    ensure_password "$dir" route "$rotate"
    render_shared "$dir" "$cert" "$key" "$verify" "" | write_conf "$dir/nats-server.conf"
    for e in "${nodes[@]}"; do
      render_node "$dir" "$cluster" "${e%%=*}" "$listen_host" "$js" "${nodes[@]}" | write_conf "$dir/${e%%=*}.conf"
    done
  else
    render_shared "$dir" "$cert" "$key" "$verify" "$js" | write_conf "$dir/nats-server.conf"
  fi
}

case "${1:-}" in
  render) shift; cmd_render "$@" ;;
  table) cmd_table ;;
  users) printf '%s\n' "${USERS[@]}" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
