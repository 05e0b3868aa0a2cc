/* control.h — operators' partition commands to this instance:
 *   statsync.ctl.stats.<instance>  PartitionCommand -> PartitionCommandReply
 * (STATUS, RELEASE p, ACQUIRE p; statsync-admin sends them as the NATS
 * user admin). A synchronous subscription, polled by the lease keeper
 * thread (partitions.c), so commands and lease renewals never overlap and
 * no NATS delivery thread blocks on JetStream or LMDB. */
#ifndef STATS_CONTROL_H
#define STATS_CONTROL_H

#include "service.h"

/* Subscribes the instance's control subject (main thread, before the keeper). */
ss_err control_subscribe(stats_service *svc);
/* Answers every command waiting (keeper thread). */
void control_poll(stats_service *svc);

#endif
