/* ctl.h — statsync-admin on NATS: the partition commands an instance
 * answers on statsync.ctl.stats.<instance> (PartitionCommand ->
 * PartitionCommandReply, proto/README.md), finding the instances that run
 * (every stats-service answers statsync.health.stats), and reading the
 * partition leases themselves (the JetStream KV bucket statsync_partitions;
 * needs read rights on it, which the `admin` NATS user does not have today:
 * stats-service/README.md).
 *
 * One connection, with the credentials and TLS of ss_nats_auth.h (the
 * services' STATSYNC_NATS_* settings), no retrying of the first connect: a
 * tool says at once that it cannot reach the server.
 *
 * Threads: the caller's; every call blocks for at most the timeout. */
#ifndef ADMIN_CTL_H
#define ADMIN_CTL_H

#include "ss_error.h"
#include "ss_nats_auth.h"
#include "ss_partition.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADMIN_NAME_MAX 128

typedef struct admin_ctl admin_ctl;

/* What an instance said about itself in a PartitionCommandReply. */
typedef struct admin_instance {
    char name[ADMIN_NAME_MAX];
    char data_dir[4096];
    uint32_t partition_count;
    ss_partition_set parts; /* served after the command */
} admin_instance;

/* The command actions (statsync.PartitionCommand.Action). */
typedef enum admin_action { ADMIN_STATUS = 0, ADMIN_RELEASE = 1, ADMIN_ACQUIRE = 2 } admin_action;

ss_err admin_ctl_open(admin_ctl **out, const char *url, const ss_nats_auth *auth,
                      int64_t timeout_ms, char *why, size_t cap);
void admin_ctl_close(admin_ctl *c);

/* Sends one command to instance (partition < 0: none) and waits for its
 * reply. SS_OK: done, *out filled. An error: why says it — SS_ERR_NOT_FOUND
 * when no instance of that name runs, SS_ERR_TIMEOUT when it did not answer
 * (the command may still have run: ask again with ADMIN_STATUS), or the
 * instance's refusal (SS_ERR_CONFLICT: the lease is someone else's; *out is
 * then still filled). */
ss_err admin_ctl_command(admin_ctl *c, const char *instance, admin_action action,
                         int64_t partition, admin_instance *out, char *why, size_t cap);

/* The names of the stats-service instances that answer a health probe,
 * into names (at most cap, in order of answer): waits until their
 * partitions cover their partition count (then a little longer for
 * stragglers) or the timeout. Returns how many. */
size_t admin_ctl_discover(admin_ctl *c, char (*names)[ADMIN_NAME_MAX], size_t cap);

/* The value of partition p's lease ("stats1/9f2c…"; "" when free), read
 * from the bucket. SS_ERR_UNAVAILABLE with why when it cannot be read (no
 * JetStream, no read right on the bucket). */
ss_err admin_ctl_lease(admin_ctl *c, uint32_t p, char *owner, size_t cap, char *why,
                       size_t why_cap);

#endif
