/* ss_nats.c — NATS connection set-up shared by all services. */
#include "ss_nats.h"

#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_nats_loop.h"

#include <pthread.h>

#include <stdlib.h>
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

static void ss_nats__on_error(natsConnection *nc, natsSubscription *sub, natsStatus err,
                              void *closure)
{
    (void)nc;
    (void)sub;
    ss_log(SS_LOG_WARN, "nats async error", "{s:s,s:s}", "conn", (const char *)closure,
           "error", natsStatus_GetText(err));
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

/* Which loop thread serves which connection, for ss_nats_close(). A service
 * holds one or two connections; tests a few more. */
typedef struct ss_nats__entry {
    natsConnection *nc;
    ss_nats_loop *loop;
    struct ss_nats__entry *next;
} ss_nats__entry;
static ss_nats__entry *ss_nats__entries;
static pthread_mutex_t ss_nats__entries_mu = PTHREAD_MUTEX_INITIALIZER;

static int ss_nats__remember(natsConnection *nc, ss_nats_loop *loop)
{
    ss_nats__entry *e = malloc(sizeof(*e));
    if (e == NULL)
        return -1;
    e->nc = nc;
    e->loop = loop;
    pthread_mutex_lock(&ss_nats__entries_mu);
    e->next = ss_nats__entries;
    ss_nats__entries = e;
    pthread_mutex_unlock(&ss_nats__entries_mu);
    return 0;
}

static ss_nats_loop *ss_nats__find(natsConnection *nc)
{
    ss_nats_loop *loop = NULL;
    pthread_mutex_lock(&ss_nats__entries_mu);
    for (ss_nats__entry *e = ss_nats__entries; e != NULL && loop == NULL; e = e->next)
        if (e->nc == nc)
            loop = e->loop;
    pthread_mutex_unlock(&ss_nats__entries_mu);
    return loop;
}

void ss_nats_batch(natsConnection *nc, bool begin)
{
    ss_nats_loop *loop = nc != NULL ? ss_nats__find(nc) : NULL;
    if (begin)
        ss_nats_loop_cork(loop);
    else
        ss_nats_loop_uncork(loop);
}

ss_err ss_nats_set_reader(natsConnection *nc, void (*fn)(void *), void *arg)
{
    ss_nats_loop *loop = nc != NULL ? ss_nats__find(nc) : NULL;
    if (loop == NULL)
        return SS_ERR_INTERNAL;
    ss_nats_loop_set_reader(loop, fn, arg);
    return SS_OK;
}

static ss_nats_loop *ss_nats__forget(natsConnection *nc)
{
    ss_nats_loop *loop = NULL;
    pthread_mutex_lock(&ss_nats__entries_mu);
    for (ss_nats__entry **pp = &ss_nats__entries; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->nc == nc) {
            ss_nats__entry *e = *pp;
            *pp = e->next;
            loop = e->loop;
            free(e);
            break;
        }
    }
    pthread_mutex_unlock(&ss_nats__entries_mu);
    return loop;
}

static ss_err ss_nats__connect(const char *url, const char *name, int pool_threads,
                              natsConnection **out)
{
    *out = NULL;
    natsOptions *o = NULL;
    ss_nats__reconnects();
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK && pool_threads > 0) {
        s = nats_SetMessageDeliveryPoolSize(pool_threads);
        if (s == NATS_OK)
            s = natsOptions_UseGlobalMessageDelivery(o, true);
    }
    ss_nats_loop *loop = NULL;
    if (s == NATS_OK && ss_nats_loop_start(&loop) != 0)
        s = NATS_NO_MEMORY;
    if (s == NATS_OK)
        s = ss_nats_loop_use(loop, o);
    /* In event-loop mode "send asap" only marks the socket writable for the
     * loop (no write in the publisher); without it publishes would still go
     * through cnats' flusher thread and its ~1 ms wait. */
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetURL(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetCustomReconnectDelay(o, ss_nats__delay, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, 8 * 1024 * 1024);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, ss_nats__on_disconnected, (void *)name);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, ss_nats__on_reconnected, (void *)name);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, ss_nats__on_closed, (void *)name);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, ss_nats__on_error, (void *)name);
    if (s == NATS_OK) {
        s = natsConnection_Connect(out, o);
        /* With retry-on-failed-connect, NATS_NOT_YET_CONNECTED means "in progress". */
        if (s == NATS_NOT_YET_CONNECTED) {
            ss_log(SS_LOG_WARN, "nats not reachable yet; retrying in background", "{s:s}",
                   "url", url);
            s = NATS_OK;
        }
    }
    natsOptions_Destroy(o);
    if (s == NATS_OK && ss_nats__remember(*out, loop) != 0)
        s = NATS_NO_MEMORY;
    if (s != NATS_OK) {
        if (*out != NULL) {
            natsConnection_Close(*out);
            ss_nats_loop_stop(loop);
            natsConnection_Destroy(*out);
            *out = NULL;
        } else {
            ss_nats_loop_stop(loop);
        }
        ss_log(SS_LOG_ERROR, "nats connect failed", "{s:s,s:s}", "url", url, "error",
               natsStatus_GetText(s));
        return SS_ERR_UNAVAILABLE;
    }
    ss_log(SS_LOG_INFO, "nats connection created", "{s:s,s:s}", "url", url, "conn", name);
    return SS_OK;
}

ss_err ss_nats_connect(const char *url, const char *name, natsConnection **out)
{
    return ss_nats__connect(url, name, 0, out);
}

ss_err ss_nats_connect_pooled(const char *url, const char *name, int pool_threads,
                              natsConnection **out)
{
    return ss_nats__connect(url, name, pool_threads, out);
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

bool ss_nats_connected(natsConnection *nc)
{
    return nc != NULL && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED;
}

void ss_nats_close(natsConnection *nc, int64_t timeout_ms)
{
    if (nc == NULL)
        return;
    if (ss_nats_connected(nc))
        natsConnection_FlushTimeout(nc, timeout_ms);
    natsConnection_Close(nc);
    ss_nats_loop_stop(ss_nats__forget(nc)); /* no cnats call on its thread after this */
    natsConnection_Destroy(nc);
}
