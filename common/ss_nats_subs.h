/* ss_nats_subs.h — subscription lifetimes: when may an owner free what its
 * NATS handlers use?
 *
 * natsSubscription_Unsubscribe() returns while cnats may still be running the
 * handler, or still holding messages (and, with pooled delivery, a control
 * message) for the subscription in a delivery queue. Freeing the handler's
 * state then is a use-after-free; calling nats_Close() then races cnats' own
 * shutdown (its garbage collector may stop before a delivery thread destroys
 * the last messages, which then leak). A group counts the subscriptions made
 * through it until cnats reports each one complete (its on-complete callback:
 * every message delivered or dropped, the handler never called again), so an
 * owner can unsubscribe everything, wait, and only then free.
 *
 * Threads: ss_nats_subscribe() and ss_nats_unsubscribe() from any thread;
 * the completion runs on the subscription's delivery thread;
 * ss_nats_subs_wait() from any thread that is not a NATS delivery thread. */
#ifndef SS_NATS_SUBS_H
#define SS_NATS_SUBS_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ss_nats_subs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int live; /* subscriptions made and not yet complete */
} ss_nats_subs;

void ss_nats_subs_init(ss_nats_subs *g);

/* Subscribes cb to subject (queue group when queue is non-NULL) and counts
 * the subscription in g until it completes. On failure *out is NULL and
 * nothing is counted. */
natsStatus ss_nats_subscribe(ss_nats_subs *g, natsSubscription **out, natsConnection *nc,
                             const char *subject, const char *queue, natsMsgHandler cb,
                             void *closure);

/* Unsubscribes, releases the handle and sets *sub to NULL; NULL *sub does
 * nothing. Does not wait: the handler may run once more until the group's
 * wait returns. */
void ss_nats_unsubscribe(natsSubscription **sub);

/* Waits until every subscription of g is complete (call after unsubscribing
 * them all, or after closing their connection). Returns false if timeout_ms
 * passed first; then the group must not be destroyed. */
bool ss_nats_subs_wait(ss_nats_subs *g, int64_t timeout_ms);

/* After a successful wait. */
void ss_nats_subs_destroy(ss_nats_subs *g);

#endif
