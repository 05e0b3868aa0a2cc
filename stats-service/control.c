/* control.c — partition commands (see control.h). Threads: control_poll on
 * the keeper thread only. */
#include "control.h"

#include "partitions.h"
#include "ss_log.h"
#include "ss_nats.h"
#include "ss_subjects.h"

#include <stdio.h>

ss_err control_subscribe(stats_service *svc)
{
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_user(subject, sizeof(subject), SS_SUBJ_CTL_STATS, svc->instance_id) ||
        natsConnection_SubscribeSync(&svc->ctl_sub, svc->core.nc, subject) != NATS_OK) {
        ss_log(SS_LOG_ERROR, "control subject not subscribed", "{s:s}", "instance",
               svc->instance_id);
        return SS_ERR_UNAVAILABLE;
    }
    return SS_OK;
}

/* Runs one command into r (status, error, owned partitions). */
static void control__run(stats_service *svc, const Statsync__PartitionCommand *c,
                         Statsync__PartitionCommandReply *r, char *why, size_t cap)
{
    ss_err e = SS_OK;
    why[0] = '\0';
    if (c->action != STATSYNC__PARTITION_COMMAND__ACTION__STATUS &&
        (!c->has_partition || c->partition >= (uint32_t)svc->partition_count)) {
        e = SS_ERR_INVALID_VALUE;
        snprintf(why, cap, "partition must be 0-%u", (unsigned)svc->partition_count - 1);
    } else if (c->action == STATSYNC__PARTITION_COMMAND__ACTION__RELEASE) {
        partition_release(svc, c->partition, true);
    } else if (c->action == STATSYNC__PARTITION_COMMAND__ACTION__ACQUIRE) {
        e = partition_acquire(svc, c->partition, why, cap);
    }
    r->status = (uint32_t)ss_err_http_status(e);
    if (e != SS_OK) {
        r->error_code = (char *)ss_err_code(e);
        r->error_message = why;
    }
    ss_log(e == SS_OK ? SS_LOG_INFO : SS_LOG_WARN, "partition command", "{s:i,s:i,s:s,s:s}",
           "action", (int)c->action, "partition", c->has_partition ? (int)c->partition : -1,
           "outcome", ss_err_code(e), "error", why);
}

static void control__answer(stats_service *svc, natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    Statsync__PartitionCommand *c = (Statsync__PartitionCommand *)ss_nats_unpack(
        msg, &statsync__partition_command__descriptor);
    Statsync__PartitionCommandReply r = STATSYNC__PARTITION_COMMAND_REPLY__INIT;
    char why[300] = "";
    if (c == NULL) {
        r.status = 400;
        r.error_code = (char *)ss_err_code(SS_ERR_BAD_REQUEST);
        r.error_message = "payload is not a statsync.PartitionCommand";
    } else {
        control__run(svc, c, &r, why, sizeof(why));
    }
    uint32_t owned[SS_PARTITION_COUNT_MAX];
    r.instance = (char *)svc->instance_id;
    r.data_dir = (char *)svc->data_dir;
    r.n_partitions = partitions_serving(svc, owned, SS_PARTITION_COUNT_MAX);
    r.partitions = owned;
    r.has_partition_count = 1;
    r.partition_count = (uint32_t)svc->partition_count;
    if (reply != NULL && reply[0] != '\0')
        ss_nats_publish_proto(svc->core.nc, reply, &r.base, SS_LOG_WARN);
    if (c != NULL)
        statsync__partition_command__free_unpacked(c, NULL);
    natsMsg_Destroy(msg);
}

void control_poll(stats_service *svc)
{
    natsMsg *msg = NULL;
    while (svc->ctl_sub != NULL && natsSubscription_NextMsg(&msg, svc->ctl_sub, 0) == NATS_OK) {
        control__answer(svc, msg);
        msg = NULL;
    }
}
