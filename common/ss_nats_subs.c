/* ss_nats_subs.c — counting subscriptions until cnats completes them. */
#include "ss_nats_subs.h"

#include "ss_time.h"

#include <time.h>

static void ss_nats_subs__complete(void *closure)
{
    ss_nats_subs *g = closure;
    pthread_mutex_lock(&g->mu);
    g->live--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void ss_nats_subs_init(ss_nats_subs *g)
{
    pthread_mutex_init(&g->mu, NULL);
    ss_cond_init_mono(&g->cv);
    g->live = 0;
}

natsStatus ss_nats_subscribe(ss_nats_subs *g, natsSubscription **out, natsConnection *nc,
                             const char *subject, const char *queue, natsMsgHandler cb,
                             void *closure)
{
    *out = NULL;
    natsSubscription *sub = NULL;
    natsStatus s = queue != NULL ? natsConnection_QueueSubscribe(&sub, nc, subject, queue, cb, closure)
                                 : natsConnection_Subscribe(&sub, nc, subject, cb, closure);
    if (s != NATS_OK)
        return s;
    /* Counted before the callback is set: it may fire as soon as it is. */
    pthread_mutex_lock(&g->mu);
    g->live++;
    pthread_mutex_unlock(&g->mu);
    s = natsSubscription_SetOnCompleteCB(sub, ss_nats_subs__complete, g);
    if (s != NATS_OK) { /* closed already (connection closed): never completes through us */
        pthread_mutex_lock(&g->mu);
        g->live--;
        pthread_mutex_unlock(&g->mu);
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
        return s;
    }
    *out = sub;
    return NATS_OK;
}

void ss_nats_unsubscribe(natsSubscription **sub)
{
    if (*sub == NULL)
        return;
    natsSubscription_Unsubscribe(*sub);
    natsSubscription_Destroy(*sub);
    *sub = NULL;
}

bool ss_nats_subs_wait(ss_nats_subs *g, int64_t timeout_ms)
{
    struct timespec ts = ss_mono_deadline(timeout_ms);
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    while (g->live > 0 && rc == 0)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    bool done = g->live == 0;
    pthread_mutex_unlock(&g->mu);
    return done;
}

void ss_nats_subs_destroy(ss_nats_subs *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}
