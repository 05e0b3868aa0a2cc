/* ss_subjects.h — every NATS subject of statsync, in one place, and the one
 * way a userId becomes part of a subject. proto/README.md documents them;
 * keep both in step.
 *
 * A userId never reaches a subject raw: ss_subject_user() writes it as a
 * token in which [A-Za-z0-9_-] stand for themselves and every other byte is
 * "=XX" (two upper-case hex digits). The encoding is reversible and
 * injective ('=' itself is always escaped, hex is upper case only), so `.`,
 * `*`, `>`, spaces or non-ASCII can never alter a subject and two userIds
 * never share one ("a.b" -> "a=2Eb", "a_b" -> "a_b", "a|b" -> "a=7Cb",
 * "a%7Cb" -> "a=257Cb"). Receivers check the userId carried in the message
 * against the subject (the subject it must have, built here, or
 * ss_subject_user_event_kind()). Pure functions. */
#ifndef SS_SUBJECTS_H
#define SS_SUBJECTS_H

#include "ss_userid.h"

#include <stdbool.h>
#include <stddef.h>

/* apply and get carry the user's partition (ss_partition.h) */
#define SS_SUBJ_STATS_APPLY "statsync.stats.apply"     /* .<p>.<userId> req/rep Mutation -> StatsReply */
#define SS_SUBJ_STATS_GET "statsync.stats.get"         /* .<p>.<userId> req/rep GetRequest -> StatsReply */
#define SS_SUBJ_HEALTH "statsync.health"               /* .<service> req/rep HealthRequest -> HealthReply */
#define SS_SUBJ_CTL_STATS "statsync.ctl.stats"         /* .<instance> req/rep PartitionCommand -> ...Reply */

/* presence (proto/README.md): gateway -> presence-service, and back */
#define SS_SUBJ_PRESENCE_JOIN "statsync.presence.join"           /* event PresenceMembership */
#define SS_SUBJ_PRESENCE_LEAVE "statsync.presence.leave"         /* event PresenceMembership */
#define SS_SUBJ_PRESENCE_PING "statsync.presence.ping"           /* req/rep PresencePing -> PresencePong */
#define SS_SUBJ_PRESENCE_HEARTBEAT "statsync.presence.heartbeat" /* event PresenceHeartbeat */
#define SS_SUBJ_PRESENCE_SYNC "statsync.presence.sync"           /* event PresenceSyncRequest */
#define SS_SUBJ_PRESENCE_SNAPSHOT "statsync.presence.snapshot"   /* event PresenceSnapshot */
#define SS_SUBJ_PRESENCE_INSTANCE "statsync.presence.instance"   /* event PresenceInstance */

/* A user's events, under one prefix so that a gateway's room holds one
 * subscription for all of them (statsync.user.<userId>.*):
 * "statsync.user.<userId>.<kind>" (ss_subject_user_event). */
#define SS_SUBJ_USER "statsync.user"
#define SS_USER_EV_CHANGED "changed"   /* event ChangeEvent, stats-service -> gateways */
#define SS_USER_EV_PRESENCE "presence" /* event PresenceUpdate, presence-service -> gateways */
#define SS_USER_EV_ANY "*"             /* the room's subscription */

#define SS_QUEUE_STATS "stats-service"
#define SS_QUEUE_PRESENCE "presence-service"

/* Longest encoded userId, and a buffer large enough for any subject prefix
 * above + '.' + an encoded userId + NUL. */
#define SS_SUBJECT_TOKEN_MAX (3 * SS_USERID_MAX)
#define SS_SUBJECT_MAX 512

/* "<prefix>.<token of user_id>" into buf. False (buf "") when user_id is not
 * a valid userId or the subject does not fit in cap. */
bool ss_subject_user(char *buf, size_t cap, const char *prefix, const char *user_id);

/* "statsync.user.<token of user_id>.<kind>" into buf (kind one of
 * SS_USER_EV_*). False (buf "") as ss_subject_user. */
bool ss_subject_user_event(char *buf, size_t cap, const char *user_id, const char *kind);

/* The kind of "statsync.user.<token of user_id>.<kind>" (a pointer into
 * subject), or NULL when subject is not an event subject of user_id. */
const char *ss_subject_user_event_kind(const char *subject, const char *user_id);

/* True when subject is exactly ss_subject_user(prefix, user_id). */
bool ss_subject_user_is(const char *subject, const char *prefix, const char *user_id);

/* The userId of "<prefix>.<token>" into out (cap >= SS_USERID_MAX + 1).
 * False when the subject has another prefix, the token is not in canonical
 * form, or it does not decode to a valid userId. */
bool ss_subject_user_parse(const char *subject, const char *prefix, char *out, size_t cap);

#endif
