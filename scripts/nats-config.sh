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
SUB[gateway]='statsync.stats.changed.* statsync.presence.update.* statsync.presence.sync _INBOX.>'
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
PUB[stats]="statsync.stats.changed.* $(js_api)"
SUB[stats]='statsync.stats.apply.*.* statsync.stats.get.*.* statsync.health.stats statsync.ctl.stats.* _INBOX.>'
RESP[stats]=yes

WHO[presence]='statsync-presence (presence-service)'
PUB[presence]='statsync.presence.sync statsync.presence.update.* statsync.presence.instance'
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

cmd_render() {
  local dir='' rotate=0 cert='' key='' verify='' js=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --rotate) rotate=1 ;;
      --jetstream) js=$2; shift ;;
      --tls-cert) cert=$2; shift ;;
      --tls-key) key=$2; shift ;;
      --tls-verify-ca) verify=$2; shift ;;
      -*) echo "nats-config.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
      *) [ -z "$dir" ] || { echo "nats-config.sh: one DIR only" >&2; exit 2; }; dir=$1 ;;
    esac
    shift
  done
  [ -n "$dir" ] || { echo "nats-config.sh render: DIR missing (try --help)" >&2; exit 2; }
  if [ -n "$cert$key$verify" ] && { [ -z "$cert" ] || [ -z "$key" ]; }; then
    echo "nats-config.sh render: --tls-cert and --tls-key go together" >&2
    exit 2
  fi
  if [ -n "$js" ] && ! conf_path_ok "$js"; then
    echo "nats-config.sh render: --jetstream '$js' must be an absolute path of A-Z a-z 0-9 / . _ + @ : -" >&2
    exit 2
  fi
  umask 077
  mkdir -p "$dir"
  local u pw conf tmp
  conf="$dir/nats-server.conf"
  tmp=$(mktemp "$dir/.nats-server.conf.XXXXXX")
  {
    echo "# Rendered by scripts/nats-config.sh — do not edit: change the script and render again."
    echo "# One user per statsync service; passwords are in <user>/password beside this file."
    echo "authorization {"
    echo "  users = ["
    for u in "${USERS[@]}"; do
      mkdir -p "$dir/$u"
      chmod 0700 "$dir/$u"
      if [ "$rotate" = 1 ] || [ ! -s "$dir/$u/password" ]; then
        new_password >"$dir/$u/password.tmp"
        chmod 0600 "$dir/$u/password.tmp"
        mv -f "$dir/$u/password.tmp" "$dir/$u/password"
      fi
      pw=$(head -n 1 "$dir/$u/password")
      case "$pw" in
        *[!A-Za-z0-9_-]*|'') echo "nats-config.sh: $dir/$u/password must be 1+ of A-Za-z0-9_- (--rotate makes new ones)" >&2
          rm -f "$tmp"; exit 1 ;;
      esac
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
  } >"$tmp"
  chmod 0600 "$tmp"
  mv -f "$tmp" "$conf"
}

case "${1:-}" in
  render) shift; cmd_render "$@" ;;
  table) cmd_table ;;
  users) printf '%s\n' "${USERS[@]}" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
