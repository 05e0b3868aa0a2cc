/* handlers.h — the stats-service's NATS handlers (no queue groups):
 *   statsync.stats.apply.<p>.*  Mutation -> (writer) -> StatsReply + ChangeEvent
 *   statsync.stats.get.<p>.*    GetRequest -> StatsReply, from a read transaction
 *   statsync.health.stats       HealthRequest -> HealthReply (every instance
 *                               answers: the gateway gathers them)
 * (the per-partition subscriptions are made by partitions.c). Callbacks run
 * on cnats delivery threads, apply on the NATS I/O thread; handlers_on_done
 * runs on the writer thread. */
#ifndef STATS_HANDLERS_H
#define STATS_HANDLERS_H

#include "service.h"
#include "ss_error.h"
#include "writer.h"

/* Subscribes the health subject. */
ss_err handlers_subscribe(stats_service *svc);
/* A partition's GetRequest handler (closure: its stats_partition). */
void handlers_on_get(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);
/* Answers a request with the error (unless it has no reply subject) and
 * destroys msg. Any thread. */
void handlers_refuse_msg(stats_service *svc, natsMsg *msg, ss_err e, const char *why);
/* (Re)installs the apply drain on the NATS I/O thread: waits for a drain in
 * progress and runs it once more (partitions.c, after changing a
 * partition's apply subscription). */
void handlers_kick(stats_service *svc);

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

/* Total documents stored in the partitions served now. Any thread. */
uint64_t handlers_total_users(stats_service *svc);

#endif
