/* gateway.h — the gateway's one server struct (Redis-style: no scattered globals).
 *
 * The gateway is a stateless edge: REST on libmicrohttpd (rest_server.c),
 * Socket.IO on libwebsockets (sio_server.c), both turning client traffic into
 * protobuf requests on NATS through nats_rpc. Nothing here is needed by
 * another gateway: any number of them can run side by side. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "ss_nats_auth.h"

#include <nats/nats.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct gw_config {
    const char *nats_url;
    ss_nats_auth nats_auth;     /* NATS credentials and TLS (ss_nats_auth.h) */
    int64_t api_port;
    int64_t socket_port;
    const char *bind_address;   /* "" = all interfaces */
    const char *jwt_secret;
    const char *log_level;
    const char *gateway_id;     /* "" = <hostname>-<pid> */
    int64_t request_timeout_ms; /* NATS round trip bound for client requests */
    int64_t partition_count;    /* the cluster's STATSYNC_PARTITION_COUNT (stats subjects) */
    int64_t health_timeout_ms;  /* NATS round trip bound for /health probes */
    int64_t max_body_bytes;     /* REST body limit (413 past it) */
    int64_t json_max_depth;     /* nesting limit for client JSON */
    int64_t shutdown_grace_ms;  /* bound on finishing in-flight REST work, once sockets are closed */
    int64_t shutdown_drain_ms;  /* SIGTERM: serve on, not ready, this long (shutdown.h) */
    int64_t shutdown_spread_ms; /* then close the sockets spread over this long */
    const char *publish_addr;   /* where a deployment publishes us ("" = unknown) */
    int64_t ping_interval_ms;   /* Engine.IO pingInterval sent to clients */
    int64_t ping_timeout_ms;    /* Engine.IO pingTimeout: close after no pong */
    int64_t token_grace_ms;     /* a socket's token is honoured this long past its exp */
    int64_t handover_max;       /* tasks waiting for the Socket.IO thread, at most */
    int reply_in_event;         /* socket updates: answered by the change event alone */
    /* rate limits (ratelimit.h); per gateway: N gateways allow N times these */
    int64_t rate_mutations_per_s;   /* per user, REST + socket writes together; 0 = off */
    int64_t rate_mutations_burst;
    int64_t rate_rest_ip_per_s;     /* per client IP, REST requests; 0 = off */
    int64_t rate_rest_ip_burst;
    int64_t rate_handshake_ip_per_s; /* per client IP, new Socket.IO sessions; 0 = off */
    int64_t rate_handshake_ip_burst;
    int64_t max_sockets_per_user;   /* concurrent sockets past CONNECT; 0 = no cap */
    int64_t rate_limit_max_keys;    /* buckets per table (LRU past it) */
    const char *rate_limit_exempt;  /* "loopback", IPs, comma separated; "none" */
    /* behind the edge (client_addr.h) */
    const char *trusted_proxies;    /* peers whose X-Forwarded-For names the client */
    const char *route_tag;          /* "" or the "<tag>." every sid starts with */
    /* slow and hostile clients */
    int64_t rest_connection_timeout_s; /* MHD: idle connection closed after this */
    int64_t rest_max_connections;      /* MHD: connections at once */
    int64_t rest_per_ip_connections;   /* MHD: connections at once from one IP; 0 = off */
    int64_t socket_connect_timeout_ms; /* Engine.IO session without CONNECT closed */
    int64_t json_max_elements;         /* array items + object members of client JSON */
    int64_t poll_max_pending_per_ip;   /* parked polling GETs + POSTs in progress, per IP */
    int64_t presence_heartbeat_ms;    /* presence heartbeat interval */
    int64_t presence_ping_timeout_ms; /* presence:ping answered locally past it */
} gw_config;

struct rest_server;
struct sio_server;
struct ratelimit;
struct client_addr_trust;
struct nats_rpc;

typedef struct gateway {
    gw_config cfg;
    char id[80];            /* this gateway instance, unique across the cluster */
    struct ss_nats *nats;   /* owns nc and the thread serving its socket (ss_nats.h) */
    natsConnection *nc;     /* ss_nats_conn(nats), set before the edges start */
    struct nats_rpc *rpc;
    struct rest_server *rest;
    struct sio_server *sio;
    struct ratelimit *limits;  /* shared by both edges (any thread) */
    struct client_addr_trust *trust; /* trusted proxies, read-only (any thread) */
    int64_t started_ms;     /* wall clock */
    atomic_int stopping;    /* SIGTERM taken: /readyz answers 503 from here on */
    /* Monotonic ms of the Socket.IO loop's last tick (its ping cycle, at
     * least every 100 ms), written on the service thread; /livez reads it.
     * 0 until the first tick. */
    _Atomic int64_t loop_tick_ms;
    /* Maintained by the Socket.IO edge, read by /health and /metrics.
     * Local to this gateway; the presence-service has the cluster-wide counts. */
    atomic_long sockets_connected; /* Socket.IO sessions past CONNECT */
    atomic_long users_connected;   /* distinct users with >= 1 such session */
} gateway;

#endif
