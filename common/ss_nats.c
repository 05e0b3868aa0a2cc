/* ss_nats.c — the NATS connection handle shared by all services (ss_nats.h). */
#include "ss_nats.h"

#include "ss_log.h"
#include "ss_stop.h"
#include "ss_metrics.h"
#include "ss_nats_loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

/* Registered when a connection is made, so /metrics shows 0 before any outage. */
static ss_counter *ss_nats__reconnects(void)
{
    return ss_counter_get("statsync_nats_reconnects_total", "NATS reconnections since start",
                          NULL);
}

static void ss_nats__on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    ss_log(SS_LOG_WARN, "nats disconnected", "{s:s}", "conn", (const char *)closure);
}

static void ss_nats__on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    ss_counter_add(ss_nats__reconnects(), 1);
    ss_log(SS_LOG_INFO, "nats reconnected", "{s:s}", "conn", (const char *)closure);
}

static void ss_nats__on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    ss_log(SS_LOG_INFO, "nats connection closed", "{s:s}", "conn", (const char *)closure);
}

/* cnats sets the server's text ("Permissions Violation for Publish to ...")
 * as this thread's last error before calling us: a missing permission is
 * named in the log. */
static void ss_nats__on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
                              void *closure)
{
    (void)nc;
    (void)sub;
    const char *detail = nats_GetLastError(NULL);
    ss_log(SS_LOG_WARN, "nats async error", "{s:s,s:s,s:s}", "conn", (const char *)closure,
           "error", natsStatus_GetText(err), "detail", detail != NULL ? detail : "");
}

/* Backoff 100 ms doubling to 2 s, plus up to 25% jitter; never gives up. */
static int64_t ss_nats__delay(natsConnection *nc, int attempts, void *closure)
{
    (void)nc;
    (void)closure;
    int64_t d = 100;
    for (int i = 1; i < attempts && d < 2000; i++)
        d *= 2;
    if (d > 2000)
        d = 2000;
    return d + (int64_t)(rand() % (int)(d / 4 + 1));
}

/* STATSYNC_NATS_URL may name several servers, comma separated (the nodes
 * of a cluster): cnats' SetURL takes one URL only (a list there connects to
 * nothing), so a list goes to SetServers, which copies the strings. Spaces
 * around each URL are dropped, empty entries skipped; no URL at all, a blank
 * one or more than SS_NATS__MAX_URLS is refused. */
#define SS_NATS__MAX_URLS 32
static natsStatus ss_nats__set_urls(natsOptions *o, const char *list)
{
    if (strchr(list, ',') == NULL)
        return natsOptions_SetURL(o, list);
    char *copy = strdup(list);
    if (copy == NULL)
        return NATS_NO_MEMORY;
    const char *urls[SS_NATS__MAX_URLS];
    int n = 0;
    natsStatus s = NATS_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        tok += strspn(tok, " \t");
        size_t len = strlen(tok);
        while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (len == 0 || n == SS_NATS__MAX_URLS) {
            s = NATS_INVALID_ARG;
            break;
        }
        urls[n++] = tok;
    }
    if (s == NATS_OK)
        s = n > 0 ? natsOptions_SetServers(o, urls, n) : NATS_INVALID_ARG;
    free(copy);
    return s;
}

struct ss_nats {
    natsConnection *nc; /* set once the first connect has returned */
    ss_nats_loop *loop; /* the thread serving nc's socket */
    struct ss_nats *next_live; /* in ss_nats__live while nc is open */
};

/* The handles whose connection is open, for statsync_nats_connected: a
 * scrape asks each connection's status (never of one being closed). */
static pthread_mutex_t ss_nats__live_mu = PTHREAD_MUTEX_INITIALIZER;
static ss_nats *ss_nats__live;

static void ss_nats__live_add(ss_nats *n)
{
    pthread_mutex_lock(&ss_nats__live_mu);
    n->next_live = ss_nats__live;
    ss_nats__live = n;
    pthread_mutex_unlock(&ss_nats__live_mu);
}

static void ss_nats__live_remove(ss_nats *n)
{
    pthread_mutex_lock(&ss_nats__live_mu);
    for (ss_nats **p = &ss_nats__live; *p != NULL; p = &(*p)->next_live)
        if (*p == n) {
            *p = n->next_live;
            break;
        }
    pthread_mutex_unlock(&ss_nats__live_mu);
}

/* statsync_nats_connected (the scraping thread): 1 while every connection
 * of the process is up, 0 while one is connecting, reconnecting or none
 * is open yet. */
static int64_t ss_nats__connected_gauge(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ss_nats__live_mu);
    int64_t up = ss_nats__live != NULL;
    for (ss_nats *n = ss_nats__live; n != NULL; n = n->next_live)
        if (!ss_nats_connected(n->nc))
            up = 0;
    pthread_mutex_unlock(&ss_nats__live_mu);
    return up;
}

/* The policy of every connection. Each setter only records a field of o and
 * none depends on another, so all of them run and the first failure is the
 * answer. */
static natsStatus ss_nats__policy(natsOptions *o, const char *url, const char *name)
{
    void *conn = (void *)name; /* the "conn" of the state callbacks' log lines */
    const natsStatus set[] = {
        ss_nats__set_urls(o, url),
        natsOptions_SetName(o, name),
        /* In event-loop mode "send asap" only marks the socket writable for
         * the loop (no write in the publisher); without it publishes would
         * still go through cnats' flusher thread and its ~1 ms wait. */
        natsOptions_SetSendAsap(o, true),
        natsOptions_SetMaxReconnect(o, -1),
        natsOptions_SetCustomReconnectDelay(o, ss_nats__delay, NULL),
        natsOptions_SetReconnectBufSize(o, 8 * 1024 * 1024),
        natsOptions_SetPingInterval(o, 2000),
        natsOptions_SetMaxPingsOut(o, 2),
        natsOptions_SetDisconnectedCB(o, ss_nats__on_disconnected, conn),
        natsOptions_SetReconnectedCB(o, ss_nats__on_reconnected, conn),
        natsOptions_SetClosedCB(o, ss_nats__on_closed, conn),
        natsOptions_SetErrorHandler(o, ss_nats__on_error, conn),
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        if (set[i] != NATS_OK)
            return set[i];
    return NATS_OK;
}

/* New options for a connection served by loop (*o NULL when creation fails). */
static natsStatus ss_nats__options(natsOptions **o, const char *url, const ss_nats_auth *auth,
                                   const char *name, int pool_threads, ss_nats_loop *loop)
{
    natsStatus s = natsOptions_Create(o);
    if (s == NATS_OK && pool_threads > 0) {
        s = nats_SetMessageDeliveryPoolSize(pool_threads);
        if (s == NATS_OK)
            s = natsOptions_UseGlobalMessageDelivery(*o, true);
    }
    if (s == NATS_OK)
        s = ss_nats_loop_use(loop, *o);
    if (s == NATS_OK)
        s = ss_nats__policy(*o, url, name);
    if (s == NATS_OK)
        s = ss_nats_auth_apply(auth, *o, url, name);
    return s;
}

/* Connects, trying again every SS_NATS__RETRY_MS until a server lets us in
 * — or until SIGTERM / SIGINT is pending (ss_stop.h: a service asked to stop
 * while it waits for its first connection stops, instead of waiting on in
 * cnats with the signal blocked). The first failure is logged with its
 * reason, then one line a minute. Once connected, cnats' reconnect policy
 * (ss_nats__policy) takes over. */
#define SS_NATS__RETRY_MS 500
#define SS_NATS__LOG_EVERY (60000 / SS_NATS__RETRY_MS)

/* Waits SS_NATS__RETRY_MS; true when a stop was asked meanwhile. */
static bool ss_nats__pause_or_stop(void)
{
    for (int waited = 0; waited < SS_NATS__RETRY_MS; waited += 50) {
        if (ss_stop_pending())
            return true;
        usleep(50 * 1000);
    }
    return ss_stop_pending();
}

static natsStatus ss_nats__connect(natsConnection **nc, natsOptions *o, const char *url,
                                   const char *name)
{
    natsStatus s = natsOptions_SetRetryOnFailedConnect(o, false, NULL, NULL);
    if (s != NATS_OK)
        return s;
    for (int attempt = 0;; attempt++) {
        *nc = NULL;
        s = natsConnection_Connect(nc, o);
        if (s == NATS_OK)
            return s;
        if (attempt % SS_NATS__LOG_EVERY == 0) {
            const char *why = nats_GetLastError(NULL);
            ss_log(s == NATS_CONNECTION_AUTH_FAILED ? SS_LOG_ERROR : SS_LOG_WARN,
                   s == NATS_CONNECTION_AUTH_FAILED
                       ? "nats refused our credentials; retrying until it accepts them"
                       : "nats connect failed; retrying until a server answers",
                   "{s:s,s:s,s:s,s:s}", "url", url, "conn", name, "error",
                   natsStatus_GetText(s), "detail", why != NULL ? why : "");
        }
        if (ss_nats__pause_or_stop()) {
            ss_log(SS_LOG_INFO, "stop asked before nats connected; not connecting", "{s:s,s:s}",
                   "url", url, "conn", name);
            *nc = NULL;
            return NATS_CONNECTION_CLOSED;
        }
    }
}

/* Closes the connection (if any), then stops its loop: no cnats call runs on
 * the loop thread once the connection is closed, and none may run on it
 * after the stop; then frees everything. */
static void ss_nats__free(ss_nats *n)
{
    ss_nats__live_remove(n);
    if (n->nc != NULL)
        natsConnection_Close(n->nc);
    ss_nats_loop_stop(n->loop);
    if (n->nc != NULL)
        natsConnection_Destroy(n->nc);
    free(n);
}

ss_err ss_nats_create(ss_nats **out, const char *url, const ss_nats_auth *auth, const char *name,
                      int pool_threads)
{
    *out = NULL;
    ss_nats__reconnects();
    ss_gauge_fn("statsync_nats_connected",
                "1 while the NATS connection is up, 0 while it connects or reconnects", NULL,
                ss_nats__connected_gauge, NULL);
    ss_nats *n = calloc(1, sizeof(*n));
    natsOptions *o = NULL;
    natsStatus s = n != NULL && ss_nats_loop_start(&n->loop) == 0 ? NATS_OK : NATS_NO_MEMORY;
    if (s == NATS_OK)
        s = ss_nats__options(&o, url, auth, name, pool_threads, n->loop);
    if (s == NATS_OK)
        s = ss_nats__connect(&n->nc, o, url, name);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        if (n != NULL)
            ss_nats__free(n);
        if (!ss_stop_pending()) /* else: logged as a stop, not a failure */
            ss_log(SS_LOG_ERROR, "nats connect failed", "{s:s,s:s}", "url", url, "error",
                   natsStatus_GetText(s));
        return SS_ERR_UNAVAILABLE;
    }
    ss_nats__live_add(n);
    ss_log(SS_LOG_INFO, "nats connection created", "{s:s,s:s,s:s,s:b}", "url", url, "conn", name,
           "user", ss_nats_auth_who(auth), "tls",
           ss_nats_auth_tls(auth, url));
    *out = n;
    return SS_OK;
}

natsConnection *ss_nats_conn(const ss_nats *n)
{
    return n != NULL ? n->nc : NULL;
}

void ss_nats_batch(ss_nats *n, bool begin)
{
    if (n == NULL)
        return;
    if (begin)
        ss_nats_loop_cork(n->loop);
    else
        ss_nats_loop_uncork(n->loop);
}

ss_err ss_nats_set_reader(ss_nats *n, void (*fn)(void *), void *arg)
{
    if (n == NULL)
        return SS_ERR_INTERNAL;
    ss_nats_loop_set_reader(n->loop, fn, arg);
    return SS_OK;
}

natsStatus ss_nats_publish_proto(natsConnection *nc, const char *subject,
                                 const ProtobufCMessage *msg, int level)
{
    uint8_t stack[512];
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = n <= sizeof(stack) ? stack : malloc(n);
    natsStatus s = NATS_NO_MEMORY;
    if (buf != NULL) {
        n = protobuf_c_message_pack(msg, buf);
        s = natsConnection_Publish(nc, subject, buf, (int)n);
        if (buf != stack)
            free(buf);
    }
    if (s != NATS_OK)
        ss_log((ss_log_level)level, "nats publish failed", "{s:s,s:s}", "subject", subject,
               "error", natsStatus_GetText(s));
    return s;
}

ProtobufCMessage *ss_nats_unpack(natsMsg *msg, const ProtobufCMessageDescriptor *type)
{
    return protobuf_c_message_unpack(type, NULL, (size_t)natsMsg_GetDataLength(msg),
                                     (const uint8_t *)natsMsg_GetData(msg));
}

bool ss_nats_connected(natsConnection *nc)
{
    return nc != NULL && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
}

void ss_nats_destroy(ss_nats *n, int64_t flush_timeout_ms)
{
    if (n == NULL)
        return;
    if (ss_nats_connected(n->nc))
        natsConnection_FlushTimeout(n->nc, flush_timeout_ms);
    ss_nats__free(n);
}
