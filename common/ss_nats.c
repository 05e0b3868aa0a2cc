/* ss_nats.c — NATS connection set-up shared by all services. */
#include "ss_nats.h"

#include "ss_log.h"
#include "ss_metrics.h"

#include <stdlib.h>

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

static ss_err ss_nats__connect(const char *url, const char *name, int pool_threads,
                              natsConnection **out)
{
    natsOptions *o = NULL;
    ss_nats__reconnects();
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK && pool_threads > 0) {
        s = nats_SetMessageDeliveryPoolSize(pool_threads);
        if (s == NATS_OK)
            s = natsOptions_UseGlobalMessageDelivery(o, true);
    }
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
    if (s != NATS_OK) {
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
    natsConnection_Destroy(nc);
}
