/* reply.h — packing and sending the stats-service's NATS answers:
 * StatsReply to a request's reply subject, ChangeEvent on
 * statsync.user.<userId>.changed. Any thread (natsConnection_Publish is
 * thread-safe); nothing here keeps a pointer after returning. */
#ifndef STATS_REPLY_H
#define STATS_REPLY_H

#include "doc.h"
#include "ss_error.h"
#include "statsync.pb-c.h"

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

/* StatsReply{status, error_code/message unless SS_OK, doc if not NULL,
 * duplicate, expected_seq if > 0}. message may be NULL (then the code's
 * generic text). */
void reply_stats(natsConnection *nc, const char *reply_to, ss_err err, const char *message,
                 const stats_doc *doc, bool duplicate, uint64_t expected_seq);

/* ChangeEvent{doc, delta (NULL for a full write), source and origin of m,
 * reply_to (NULL: none) — the request's reply subject when the event is its
 * answer too (Mutation.reply_in_event)}. */
void reply_change_event(natsConnection *nc, const stats_doc *doc, const Statsync__Delta *delta,
                        const Statsync__Mutation *m, const char *reply_to);

#endif
