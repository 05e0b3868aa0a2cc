/* ss_subjects.h — every NATS subject of statsync, in one place.
 * proto/README.md documents them; keep both in step.
 * userIds are validated (ss_userid_valid) before they are put in a subject. */
#ifndef SS_SUBJECTS_H
#define SS_SUBJECTS_H

#define SS_SUBJ_STATS_APPLY "statsync.stats.apply"     /* .<userId>  req/rep Mutation -> StatsReply */
#define SS_SUBJ_STATS_GET "statsync.stats.get"         /* .<userId>  req/rep GetRequest -> StatsReply */
#define SS_SUBJ_STATS_CHANGED "statsync.stats.changed" /* .<userId>  event ChangeEvent */
#define SS_SUBJ_HEALTH "statsync.health"               /* .<service> req/rep HealthRequest -> HealthReply */

/* presence (proto/README.md): gateway -> presence-service, and back */
#define SS_SUBJ_PRESENCE_JOIN "statsync.presence.join"           /* event PresenceMembership */
#define SS_SUBJ_PRESENCE_LEAVE "statsync.presence.leave"         /* event PresenceMembership */
#define SS_SUBJ_PRESENCE_PING "statsync.presence.ping"           /* req/rep PresencePing -> PresencePong */
#define SS_SUBJ_PRESENCE_HEARTBEAT "statsync.presence.heartbeat" /* req/rep PresenceHeartbeat -> ...Reply */
#define SS_SUBJ_PRESENCE_SYNC "statsync.presence.sync"           /* event PresenceSyncRequest */
#define SS_SUBJ_PRESENCE_SNAPSHOT "statsync.presence.snapshot"   /* event PresenceSnapshot */
#define SS_SUBJ_PRESENCE_UPDATE "statsync.presence.update"       /* .<userId> event PresenceUpdate */

#define SS_QUEUE_STATS "stats-service"
#define SS_QUEUE_PRESENCE "presence-service"

/* Buffer large enough for any subject prefix above + '.' + a userId + NUL. */
#define SS_SUBJECT_MAX 128

#endif
