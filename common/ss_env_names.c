/* ss_env_names.c — every STATSYNC_* environment variable that some statsync
 * binary, the edge or a script reads. The local runner, compose and the test
 * harness hand every process the same environment, so a service sees the
 * gateway's settings too: a name is warned about at start
 * (ss_config_warn_unknown_env) only when it is neither the binary's own
 * option nor listed here — a typo, most likely.
 *
 * Kept complete by tests/integration/config_env.test.js, which starts every
 * binary with every name the others' --help and the scripts use and fails
 * on any warning. Threads: any (constant data). */
#include "ss_env_names.h"

#include <string.h>

static const char *const ss_env__names[] = {
    /* every back-end service (common/ss_service.c) */
    "STATSYNC_NATS_URL", "STATSYNC_LOG_LEVEL", "STATSYNC_ADMIN_PORT", "STATSYNC_ADMIN_BIND",
    /* gateway (gateway/main.c) */
    "STATSYNC_API_PORT", "STATSYNC_SOCKET_PORT", "STATSYNC_BIND_ADDRESS", "STATSYNC_JWT_SECRET",
    "STATSYNC_JWT_SECRET_FILE", "STATSYNC_PUBLISH_ADDR", "STATSYNC_GATEWAY_ID",
    "STATSYNC_REQUEST_TIMEOUT_MS", "STATSYNC_HEALTH_TIMEOUT_MS", "STATSYNC_MAX_BODY_BYTES",
    "STATSYNC_JSON_MAX_DEPTH", "STATSYNC_SHUTDOWN_GRACE_MS", "STATSYNC_SHUTDOWN_DRAIN_MS",
    "STATSYNC_SHUTDOWN_SPREAD_MS", "STATSYNC_PING_INTERVAL_MS", "STATSYNC_PING_TIMEOUT_MS",
    "STATSYNC_PRESENCE_HEARTBEAT_MS", "STATSYNC_PRESENCE_PING_TIMEOUT_MS",
    "STATSYNC_RATE_MUTATIONS_PER_S", "STATSYNC_RATE_MUTATIONS_BURST",
    "STATSYNC_RATE_REST_IP_PER_S", "STATSYNC_RATE_REST_IP_BURST",
    "STATSYNC_RATE_HANDSHAKE_IP_PER_S", "STATSYNC_RATE_HANDSHAKE_IP_BURST",
    "STATSYNC_MAX_SOCKETS_PER_USER", "STATSYNC_RATE_LIMIT_MAX_KEYS", "STATSYNC_RATE_LIMIT_EXEMPT",
    "STATSYNC_TRUSTED_PROXIES", "STATSYNC_ROUTE_TAG", "STATSYNC_REST_CONNECTION_TIMEOUT_S",
    "STATSYNC_REST_MAX_CONNECTIONS", "STATSYNC_REST_PER_IP_CONNECTIONS",
    "STATSYNC_SOCKET_CONNECT_TIMEOUT_MS", "STATSYNC_JSON_MAX_ELEMENTS",
    "STATSYNC_POLL_MAX_PENDING_PER_IP", "STATSYNC_HANDOVER_MAX", "STATSYNC_TOKEN_GRACE_MS",
    "STATSYNC_REPLY_IN_EVENT", /* the stats-service's too */
    /* stats-service (stats-service/main.c); STATSYNC_INSTANCE_ID: the
     * presence-service's too (presence-service/main.c) */
    "STATSYNC_DATA_DIR", "STATSYNC_MAP_SIZE_MB", "STATSYNC_IDEMPOTENCY_TTL_S",
    "STATSYNC_MAX_CLIENTS_PER_USER", "STATSYNC_MAX_BATCH", "STATSYNC_COMMIT_THREADS", "STATSYNC_MAX_QUEUE", "STATSYNC_INSTANCE_ID",
    "STATSYNC_PARTITION_COUNT", "STATSYNC_PARTITIONS", "STATSYNC_LEASE_TTL_MS",
    "STATSYNC_LEASE_REPLICAS",
    /* presence-service (presence-service/main.c) */
    "STATSYNC_PRESENCE_SOCKET_TTL_MS", "STATSYNC_PRESENCE_MAX_SOCKETS",
    "STATSYNC_PRESENCE_MAX_GATEWAYS",
    /* scripts/run-local.sh, compose/, tests/load/bench.sh, the test harness */
    "STATSYNC_APP_PORT", "STATSYNC_BUILD_DIR", "STATSYNC_NATS_PORT", "STATSYNC_NATS_URL_EXTERNAL",
    "STATSYNC_STATS_ADMIN_PORT", "STATSYNC_PRESENCE_ADMIN_PORT", "STATSYNC_COMPOSE_NET",
    "STATSYNC_PROMETHEUS_PORT", "STATSYNC_GRAFANA_PORT",
    "STATSYNC_PORT_BASE", "STATSYNC_BIN_DIR", "STATSYNC_KEEP_TMP", "STATSYNC_LONG_TESTS",
    "STATSYNC_SANITIZED", "STATSYNC_SANITIZE", "STATSYNC_TSAN", "STATSYNC_TESTS",
    "STATSYNC_CLIENT_DEBUG", "STATSYNC_SEED_DIR",
    /* scripts/run-cluster.sh */
    "STATSYNC_RUN_DIR",
    /* CMake: the commit statsync_build_info names when built without git
     * (common/CMakeLists.txt) */
    "STATSYNC_COMMIT",
};

/* Families of names: the edge's renderer (edge/render-nginx.sh --help),
 * scripts/test.sh and fuzz.sh, scripts/deps.sh. */
static const char *const ss_env__prefixes[] = {
    "STATSYNC_EDGE_", "STATSYNC_TEST_", "STATSYNC_FUZZ", "STATSYNC_DEPS_",
};

bool ss_env_name_known(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(ss_env__names) / sizeof(ss_env__names[0]); i++)
        if (strlen(ss_env__names[i]) == len && memcmp(ss_env__names[i], name, len) == 0)
            return true;
    for (size_t i = 0; i < sizeof(ss_env__prefixes) / sizeof(ss_env__prefixes[0]); i++) {
        size_t pl = strlen(ss_env__prefixes[i]);
        if (len >= pl && memcmp(ss_env__prefixes[i], name, pl) == 0)
            return true;
    }
    return false;
}
