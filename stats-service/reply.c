/* reply.c — StatsReply / ChangeEvent packing and publishing. */
#include "reply.h"

#include "ss_log.h"
#include "ss_nats.h"
#include "ss_subjects.h"

#include <stdio.h>
#include <stdlib.h>

void reply_stats(natsConnection *nc, const char *reply_to, ss_err err, const char *message,
                 const stats_doc *doc, bool duplicate, uint64_t expected_seq)
{
    Statsync__StatsReply r = STATSYNC__STATS_REPLY__INIT;
    Statsync__Document d;
    r.status = (uint32_t)ss_err_http_status(err);
    if (err != SS_OK) {
        r.error_code = (char *)ss_err_code(err);
        r.error_message = (char *)(message && message[0] ? message : ss_err_code(err));
    }
    if (doc != NULL) {
        doc_to_proto(doc, &d);
        r.doc = &d;
    }
    if (duplicate) {
        r.has_duplicate = 1;
        r.duplicate = 1;
    }
    if (expected_seq > 0) {
        r.has_expected_seq = 1;
        r.expected_seq = expected_seq;
    }
    ss_nats_publish_proto(nc, reply_to, &r.base, SS_LOG_WARN);
}

void reply_change_event(natsConnection *nc, const stats_doc *doc, const Statsync__Delta *delta,
                        const Statsync__Mutation *m, const char *reply_to)
{
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_user_event(subject, sizeof(subject), doc->user_id, SS_USER_EV_CHANGED))
        return; /* stored documents passed the same check: cannot happen */
    Statsync__ChangeEvent ev = STATSYNC__CHANGE_EVENT__INIT;
    Statsync__Document d;
    doc_to_proto(doc, &d);
    ev.doc = &d;
    ev.delta = (Statsync__Delta *)delta;
    if (m->has_source) {
        ev.has_source = 1;
        ev.source = m->source;
    }
    ev.origin = m->origin;
    ev.reply_to = (char *)reply_to;
    ss_nats_publish_proto(nc, subject, &ev.base, SS_LOG_WARN);
}
