/* reply.c — StatsReply / ChangeEvent packing and publishing. */
#include "reply.h"

#include "ss_log.h"
#include "ss_subjects.h"

#include <stdio.h>
#include <stdlib.h>

/* Packs msg into a malloc'ed buffer and publishes it on subject. */
static void reply__publish(natsConnection *nc, const char *subject, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        ss_log(SS_LOG_ERROR, "out of memory packing a reply", "{s:s}", "subject", subject);
        return;
    }
    n = protobuf_c_message_pack(msg, buf);
    natsStatus s = natsConnection_Publish(nc, subject, buf, (int)n);
    if (s != NATS_OK)
        ss_log(SS_LOG_WARN, "nats publish failed", "{s:s,s:s}", "subject", subject, "error",
               natsStatus_GetText(s));
    free(buf);
}

void reply_stats(natsConnection *nc, const char *reply_to, ss_err err, const char *message,
                 const stats_doc *doc, bool duplicate)
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
    reply__publish(nc, reply_to, &r.base);
}

void reply_change_event(natsConnection *nc, const stats_doc *doc, const Statsync__Delta *delta,
                        const Statsync__Mutation *m)
{
    char subject[SS_SUBJECT_MAX];
    snprintf(subject, sizeof(subject), SS_SUBJ_STATS_CHANGED ".%s", doc->user_id);
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
    reply__publish(nc, subject, &ev.base);
}
