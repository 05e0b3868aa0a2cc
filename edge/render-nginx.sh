#!/usr/bin/env bash
# edge/render-nginx.sh — the one renderer of the edge's nginx.conf. Reads the
# STATSYNC_* variables below and writes a complete nginx.conf on stdout; bad
# input is reported on stderr with exit status 2. Every runner uses it through
# edge/run-edge.sh (which renders into the prefix and runs nginx):
# scripts/run-local.sh, the compose `edge` image, tests/lib/edge.js.
#
#   STATSYNC_EDGE_GATEWAYS=g0=127.0.0.1:3000:3001,g1=127.0.0.1:4000:4001 \
#   STATSYNC_EDGE_PREFIX=/tmp/edge edge/render-nginx.sh > /tmp/edge/nginx.conf
#   nginx -p /tmp/edge -c /tmp/edge/nginx.conf -g 'daemon off;'
#
# What the config does (see edge/README.md for the why):
#   /socket.io/  -> the gateways' Socket.IO ports. A request carrying an
#                   Engine.IO sid (polling GET/POST, the websocket upgrade of a
#                   polling session) goes to the gateway whose route tag starts
#                   the sid ("g0.xxxx" -> g0); a handshake or a websocket-only
#                   connection (no sid) goes to the least busy gateway.
#   /demo/       -> the browser demo's static files (demo/ of this checkout,
#                   or STATSYNC_EDGE_DEMO_DIR; none when neither exists).
#   everything else -> the gateways' REST ports (least_conn).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")

usage() {
  cat <<'EOF'
usage: render-nginx.sh            (writes nginx.conf on stdout; settings from the environment)

  STATSYNC_EDGE_GATEWAYS   required: comma list of tag=host:apiPort:socketPort, e.g.
                           g0=127.0.0.1:3000:3001,g1=127.0.0.1:4000:4001. tag is the
                           gateway's STATSYNC_ROUTE_TAG (1-16 of A-Z a-z 0-9 _ -); host
                           a name, an IPv4 address or [an IPv6 address]
  STATSYNC_APP_PORT        port the edge listens on (default 8080)
  STATSYNC_EDGE_BIND       address it listens on (default 127.0.0.1; 0.0.0.0 = all IPv4,
                           :: = all IPv6)
  STATSYNC_EDGE_TLS_CERT   PEM certificate (chain) file; with STATSYNC_EDGE_TLS_KEY the
  STATSYNC_EDGE_TLS_KEY    edge serves HTTPS/WSS only (TLS 1.2/1.3, HTTP/1.1)
  STATSYNC_EDGE_PREFIX     absolute run directory for the pid file, temp files and the
                           access log (default: paths relative to nginx -p <prefix>)
  STATSYNC_EDGE_ACCESS_LOG access log: a path, or "off" (default <prefix>/access.log);
                           one JSON object per request, without query strings
  STATSYNC_EDGE_ERROR_LOG  error log: "stderr" (default) or a path
  STATSYNC_EDGE_WORKERS    nginx worker processes (default auto = one per core)
  STATSYNC_EDGE_MAX_BODY   largest request body nginx passes on (default 2m; keep it
                           above the gateway's 1 MB so the gateway answers the 413)
  STATSYNC_EDGE_DEMO_DIR   directory served at /demo/ (the browser demo's static files):
                           an absolute path, or "off"; default the demo/ folder beside
                           edge/ when it exists (a checkout), else off (the image)
EOF
}

die() {
  echo "render-nginx.sh: $*" >&2
  exit 2
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && [ "$((10#$1))" -ge 1 ] && [ "$((10#$1))" -le 65535 ]; }

# ---- settings -------------------------------------------------------------

app_port=${STATSYNC_APP_PORT:-8080}
valid_port "$app_port" || die "STATSYNC_APP_PORT must be a port number 1-65535, not '$app_port'"
app_port=$((10#$app_port))

bind=${STATSYNC_EDGE_BIND:-127.0.0.1}
if [[ $bind =~ ^\[[0-9A-Fa-f:.]+\]$ ]]; then
  :
elif [[ $bind =~ ^[0-9A-Fa-f:.]+$ && $bind == *:* ]]; then
  bind="[$bind]"
elif [[ $bind =~ ^[A-Za-z0-9.-]+$ || $bind == '*' ]]; then
  :
else
  die "STATSYNC_EDGE_BIND must be an address or a host name, not '$bind'"
fi

prefix=${STATSYNC_EDGE_PREFIX:-}
if [ -n "$prefix" ]; then
  [[ $prefix == /* ]] || die "STATSYNC_EDGE_PREFIX must be an absolute path, not '$prefix'"
  [[ $prefix =~ ^[A-Za-z0-9/._+@:-]+$ ]] || die "STATSYNC_EDGE_PREFIX may only hold A-Z a-z 0-9 / . _ + @ : - ('$prefix')"
  p="${prefix%/}/"
else
  p="" # relative to nginx -p <prefix>
fi

safe_path() { [[ $1 =~ ^[A-Za-z0-9/._+@:-]+$ ]]; }

access_log=${STATSYNC_EDGE_ACCESS_LOG:-${p}access.log}
if [ "$access_log" != off ]; then
  safe_path "$access_log" || die "STATSYNC_EDGE_ACCESS_LOG must be a path of A-Z a-z 0-9 / . _ + @ : - or 'off', not '$access_log'"
fi
error_log=${STATSYNC_EDGE_ERROR_LOG:-stderr}
safe_path "$error_log" || die "STATSYNC_EDGE_ERROR_LOG must be 'stderr' or a path, not '$error_log'"

workers=${STATSYNC_EDGE_WORKERS:-auto}
[[ $workers == auto || ( $workers =~ ^[0-9]{1,3}$ && $((10#$workers)) -ge 1 ) ]] \
  || die "STATSYNC_EDGE_WORKERS must be 'auto' or a number >= 1, not '$workers'"

max_body=${STATSYNC_EDGE_MAX_BODY:-2m}
[[ $max_body =~ ^[1-9][0-9]*[kKmM]?$ ]] || die "STATSYNC_EDGE_MAX_BODY must be a size like 2m or 1200k, not '$max_body'"

# The browser demo (demo/): static files, served only when there is a
# directory to serve. Checked like every other path of the config.
demo_dir=${STATSYNC_EDGE_DEMO_DIR:-}
if [ -z "$demo_dir" ]; then
  demo_dir=off
  [ -f "$here/../demo/index.html" ] && demo_dir=$(readlink -f "$here/../demo")
fi
if [ "$demo_dir" != off ]; then
  [[ $demo_dir == /* ]] || die "STATSYNC_EDGE_DEMO_DIR must be an absolute path or 'off', not '$demo_dir'"
  safe_path "$demo_dir" || die "STATSYNC_EDGE_DEMO_DIR may only hold A-Z a-z 0-9 / . _ + @ : - ('$demo_dir'); set it to 'off' or move the checkout"
  [ -f "$demo_dir/index.html" ] || die "STATSYNC_EDGE_DEMO_DIR '$demo_dir' holds no index.html"
  [ "$demo_dir" = / ] || demo_dir=${demo_dir%/}
fi

cert=${STATSYNC_EDGE_TLS_CERT:-}
key=${STATSYNC_EDGE_TLS_KEY:-}
tls=0
if [ -n "$cert" ] || [ -n "$key" ]; then
  [ -n "$cert" ] && [ -n "$key" ] || die "TLS needs both STATSYNC_EDGE_TLS_CERT and STATSYNC_EDGE_TLS_KEY (got only one)"
  for f in "$cert" "$key"; do
    [[ $f == /* ]] || die "TLS file path '$f' must be absolute"
    safe_path "$f" || die "TLS file path '$f' may only hold A-Z a-z 0-9 / . _ + @ : -"
    [ -f "$f" ] && [ -r "$f" ] || die "TLS file '$f' does not exist or is not readable by $(id -un 2>/dev/null || id -u)"
  done
  grep -q -- '-----BEGIN .*CERTIFICATE-----' "$cert" || die "STATSYNC_EDGE_TLS_CERT '$cert' holds no PEM certificate"
  grep -q -- '-----BEGIN .*PRIVATE KEY-----' "$key" || die "STATSYNC_EDGE_TLS_KEY '$key' holds no PEM private key"
  tls=1
fi

# Gateways: tag=host:apiPort:socketPort, comma separated.
gateways=${STATSYNC_EDGE_GATEWAYS:-}
[ -n "${gateways//[[:space:],]/}" ] || die "STATSYNC_EDGE_GATEWAYS is empty: give at least one tag=host:apiPort:socketPort (e.g. g0=127.0.0.1:3000:3001)"
tags=()
hosts=()
api_ports=()
sock_ports=()
declare -A seen_tag=()
IFS=',' read -r -a entries <<<"$gateways"
[[ $gateways == *, ]] && die "STATSYNC_EDGE_GATEWAYS ends with a comma: '$gateways'"
for raw in "${entries[@]}"; do
  e=$raw
  e=${e#"${e%%[![:space:]]*}"} # trim leading
  e=${e%"${e##*[![:space:]]}"} # and trailing whitespace
  [ -n "$e" ] || die "STATSYNC_EDGE_GATEWAYS has an empty entry: '$gateways'"
  [[ $e =~ ^([^=]+)=(.+):([^:]+):([^:]+)$ ]] || die "gateway entry '$e' is not tag=host:apiPort:socketPort"
  tag=${BASH_REMATCH[1]} host=${BASH_REMATCH[2]} api=${BASH_REMATCH[3]} sock=${BASH_REMATCH[4]}
  [[ $tag =~ ^[A-Za-z0-9_-]{1,16}$ ]] || die "gateway entry '$e': tag '$tag' must be 1-16 of A-Z a-z 0-9 _ -"
  # nginx compares upstream names without regard to case: so must we.
  lower=${tag,,}
  [ -z "${seen_tag[$lower]:-}" ] || die "gateway entry '$e': tag '$tag' is given twice (tags are compared ignoring case)"
  seen_tag[$lower]=1
  if [[ $host =~ ^\[[0-9A-Fa-f:.]+\]$ ]]; then
    :
  elif [[ $host =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
    :
  else
    die "gateway entry '$e': host '$host' must be a name, an IPv4 address or [an IPv6 address]"
  fi
  valid_port "$api" || die "gateway entry '$e': API port '$api' is not a port number 1-65535"
  valid_port "$sock" || die "gateway entry '$e': socket port '$sock' is not a port number 1-65535"
  tags+=("$tag") hosts+=("$host") api_ports+=("$((10#$api))") sock_ports+=("$((10#$sock))")
done

# Open files: two per proxied connection (client + gateway), a few spare.
nofile=$(ulimit -Hn 2>/dev/null || echo 4096)
[[ $nofile =~ ^[0-9]+$ ]] || nofile=65536
[ "$nofile" -le 65536 ] || nofile=65536
conns=$(((nofile - 64) / 2))
[ "$conns" -ge 512 ] || conns=512

# As root, nginx's workers would switch to nobody, who may not be able to
# reach a prefix inside a private directory (a 0700 mkdtemp, /root/...):
# they stay the user that started nginx. Run as non-root (the image does),
# no user directive applies at all.
user_line="# workers run as the user that started nginx"
if [ "$(id -u)" -eq 0 ]; then
  user_line="user root root;  # started as root: workers stay root, nobody could not reach a private prefix (edge/README.md)"
fi

# ---- output ---------------------------------------------------------------

# With several gateways, a sid that none of them issued is answered here.
unknown_sid_block() {
  [ "${#tags[@]}" -gt 1 ] || return 0
  cat <<'EOF'
            if ($statsync_socket_upstream = statsync_sid_unknown) {
                add_header Cache-Control no-store always;
                return 400 '{"code":1,"message":"Session ID unknown"}';
            }
EOF
}

n=${#tags[@]}

# /demo/: the browser demo's static files (demo/README.md), GET and HEAD
# only. Anything missing there is nginx's 404: no gateway is asked. An
# add_header here replaces the server's, so HSTS is repeated.
demo_block() {
  [ "$demo_dir" != off ] || return 0
  cat <<EOF
        location = /demo {
            return 301 /demo/;
        }
        location /demo/ {
            set \$statsync_route demo;
            limit_except GET { deny all; }
            alias ${demo_dir%/}/;
            index index.html;
            types {
                text/html html;
                text/css css;
                text/javascript js;
                text/markdown md;
            }
            default_type application/octet-stream;
            charset utf-8;
            charset_types text/css text/javascript text/markdown;
            # Revalidated at every load: an edited demo shows at once.
            add_header Cache-Control no-cache always;
            add_header X-Content-Type-Options nosniff always;
            # The token comes in the URL fragment, which is never sent;
            # scripts, styles and connections from this origin only.
            add_header Referrer-Policy no-referrer always;
            add_header Content-Security-Policy "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'" always;
EOF
  if [ "$tls" = 1 ]; then
    echo '            add_header Strict-Transport-Security "max-age=63072000" always;'
  fi
  echo '        }'
  echo
}

proxy_headers() { # indentation
  local i=$1
  cat <<EOF
${i}proxy_set_header Host \$statsync_host;
${i}proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
${i}proxy_set_header X-Forwarded-Proto \$scheme;
${i}proxy_set_header X-Forwarded-Host \$statsync_host;
${i}proxy_set_header X-Real-IP \$remote_addr;
EOF
}

server_list() { # port-array-name indentation
  local -n ports=$1
  local i
  for ((i = 0; i < n; i++)); do
    echo "$2server ${hosts[$i]}:${ports[$i]} max_fails=1 fail_timeout=5s;"
  done
}

cat <<EOF
# nginx.conf of the statsync edge — generated by edge/render-nginx.sh; do not
# edit (change the STATSYNC_* variables and render again).
# Gateways: $(IFS=,; echo "${tags[*]}"); listen ${bind}:${app_port}$([ "$tls" = 1 ] && echo " (TLS)").
$user_line
worker_processes $workers;
worker_rlimit_nofile $nofile;
pid ${p}nginx.pid;
error_log $error_log warn;
# SIGQUIT (the image's stop signal) lets requests finish, but a websocket
# never does: after this long the rest are closed (clients reconnect).
worker_shutdown_timeout 10s;

events {
    worker_connections $conns;
}

http {
    server_tokens off;
    default_type application/octet-stream;
    # Every temp path inside the prefix: nothing under /var/lib/nginx.
    client_body_temp_path ${p}client_body_temp;
    proxy_temp_path ${p}proxy_temp;
    fastcgi_temp_path ${p}fastcgi_temp;
    uwsgi_temp_path ${p}uwsgi_temp;
    scgi_temp_path ${p}scgi_temp;

    # One JSON object per request. \$uri, not \$request_uri: a Socket.IO
    # client may carry its token in the query string, which must never be logged.
    log_format statsync_json escape=json '{"time":"\$time_iso8601","service":"edge",'
        '"remote":"\$remote_addr","xff":"\$http_x_forwarded_for","method":"\$request_method",'
        '"path":"\$uri","status":\$status,"bytes":\$body_bytes_sent,'
        '"ms":\$request_time,"upstream":"\$upstream_addr","upstream_status":"\$upstream_status",'
        '"upstream_s":"\$upstream_response_time","route":"\$statsync_route","tls":"\$ssl_protocol"}';
    access_log $( [ "$access_log" = off ] && echo off || echo "$access_log statsync_json" );

    # Clients: a body may be up to the gateway's limit (1 MB) and a bit more,
    # so that the gateway, not nginx, answers 413 (with its JSON error).
    client_max_body_size $max_body;
    client_body_buffer_size 128k;
    client_header_timeout 30s;
    client_body_timeout 30s;
    send_timeout 60s;
    keepalive_timeout 75s;
    keepalive_requests 10000;
    tcp_nodelay on;
    large_client_header_buffers 4 16k;

    # Host as the client sent it (with its port); \$host when it sent none.
    map \$http_host \$statsync_host {
        ""      \$host;
        default \$http_host;
    }
    # A websocket upgrade is passed on as one; any other Socket.IO request
    # closes its gateway connection when done: no idle connection to a
    # gateway is kept that the gateway could close just as nginx reuses it
    # (a poll POST lost that way is not retried, and the session would end).
    # A new loopback/LAN connection per poll costs far less than that.
    map \$http_upgrade \$statsync_sock_connection {
        default upgrade;
        ""      close;
    }
    # Sticky polling sessions: the gateway that issued an Engine.IO sid put its
    # route tag in front of it ("g0.<random>"); every later request of that
    # session (polling GET/POST, the websocket upgrade) carries ?sid= and goes
    # back to that gateway. No sid (handshake, websocket-only): the pool.
    map \$arg_sid \$statsync_socket_upstream {
EOF
for ((i = 0; i < n; i++)); do
  echo "        ~^${tags[$i]}\\. statsync_sock_${tags[$i]};"
done
if [ "$n" -gt 1 ]; then
  cat <<EOF
        ""      statsync_sock_all;
        # A sid no gateway here issued (a removed gateway, a made-up one): the
        # edge answers 400 as Engine.IO does and the client starts a new
        # session; a gateway never sees it.
        default statsync_sid_unknown;
    }
EOF
else
  cat <<EOF
        # One gateway: every session is its own, tagged or not.
        default statsync_sock_all;
    }
EOF
fi
cat <<EOF

EOF
for ((i = 0; i < n; i++)); do
  cat <<EOF
    upstream statsync_sock_${tags[$i]} {
        zone statsync_sock_${tags[$i]} 64k;
        server ${hosts[$i]}:${sock_ports[$i]};
    }
EOF
done
cat <<EOF
    upstream statsync_sock_all {
        zone statsync_sock_all 64k;
        least_conn;
$(server_list sock_ports "        ")
    }
    upstream statsync_rest {
        zone statsync_rest 64k;
        least_conn;
$(server_list api_ports "        ")
        # Below the gateway's idle cut (STATSYNC_REST_CONNECTION_TIMEOUT_S, 30 s),
        # so nginx never reuses a connection the gateway is closing.
        keepalive 32;
        keepalive_timeout 15s;
        keepalive_requests 1000;
    }

    server {
EOF
if [ "$tls" = 1 ]; then
  cat <<EOF
        listen ${bind}:${app_port} ssl default_server;
        # HTTP/1.1 only (no http2): websockets over HTTP/2 (RFC 8441) are not
        # something nginx 1.22 or the React Native client do.
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        # Mozilla "intermediate": forward secrecy and AEAD ciphers only.
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:statsync_tls:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;
        add_header Strict-Transport-Security "max-age=63072000" always;
EOF
else
  cat <<EOF
        listen ${bind}:${app_port} default_server;
EOF
fi
cat <<EOF
        server_name _;
        absolute_redirect off;
        # Which upstream took the request (the access log's "route").
        set \$statsync_route "";

        # Errors nginx makes itself (no gateway answered, a body past
        # client_max_body_size) in the gateway's JSON error shape.
        error_page 502 503 504 = @statsync_unavailable;
        error_page 413 = @statsync_too_large;

        # Socket.IO: long-polling (a GET is held up to pingInterval, 25 s),
        # the websocket upgrade, websocket-only connections.
        location /socket.io/ {
            default_type application/json;
            set \$statsync_route \$statsync_socket_upstream;
$(unknown_sid_block)
            proxy_pass http://\$statsync_socket_upstream;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$statsync_sock_connection;
$(proxy_headers "            ")
            # Stream both ways: a poll answer or a websocket frame goes out
            # the moment the gateway writes it; a POST is not spooled first.
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_cache off;
            # Well above pingInterval + pingTimeout (25 s + 20 s): a quiet
            # websocket (or a held poll) is never cut between two pings.
            proxy_connect_timeout 5s;
            proxy_read_timeout 120s;
            proxy_send_timeout 120s;
            proxy_redirect off;
        }

        # REST: everything else (/api/..., /health, /metrics, ...).
        location / {
            set \$statsync_route statsync_rest;
            proxy_pass http://statsync_rest;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
$(proxy_headers "            ")
            proxy_connect_timeout 5s;
            # The gateway answers within STATSYNC_REQUEST_TIMEOUT_MS (5 s).
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_max_temp_file_size 0;
            proxy_redirect off;
        }

$(demo_block)
        location @statsync_unavailable {
            default_type application/json;
            add_header Retry-After 1 always;
            return 503 '{"error":{"code":"unavailable","message":"no gateway answered the edge"}}\n';
        }
        location @statsync_too_large {
            default_type application/json;
            return 413 '{"error":{"code":"payload_too_large","message":"request body too large"}}\n';
        }
    }
}
EOF
