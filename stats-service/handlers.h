/* handlers.h — the stats-service's NATS subscriptions (queue group
 * "stats-service"):
 *   statsync.stats.apply.*  Mutation -> (writer) -> StatsReply + ChangeEvent
 *   statsync.stats.get.*    GetRequest -> StatsReply, from a read transaction
 *   statsync.health.stats   HealthRequest -> HealthReply
 * Callbacks run on cnats delivery threads; handlers_on_done runs on the
 * writer thread. */
#ifndef STATS_HANDLERS_H
#define STATS_HANDLERS_H

#include "service.h"
#include "ss_error.h"
#include "writer.h"

/* Subscribes the three subjects. svc->nc, store, writer and svc->subs (initialised
 * once by main) must be ready. */
ss_err handlers_subscribe(stats_service *svc);

/* Stops taking work: drains every subscription (no new messages; the ones
 * already received are still handled) and waits up to timeout_ms for the
 * callbacks to finish. Then unsubscribes and destroys the subscriptions. */
void handlers_drain(stats_service *svc, int64_t timeout_ms);

/* The writer's done callback (writer thread): replies to the requester,
 * publishes the ChangeEvent when something changed, frees job and msg. */
void handlers_on_done(stats_job *job, void *arg);
/* Writer thread, around one batch of handlers_on_done: the batch's replies and
 * change events leave in one write (ss_nats_batch). */
void handlers_on_batch(void *arg, bool begin);

/* Total documents stored (0 when the store is closing). Any thread. */
uint64_t handlers_total_users(stats_service *svc);

#endif
