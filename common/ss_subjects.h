/* ss_subjects.h — every NATS subject of statsync, in one place.
 * proto/README.md documents them; keep both in step.
 * userIds are validated (ss_userid_valid) before they are put in a subject. */
#ifndef SS_SUBJECTS_H
#define SS_SUBJECTS_H

#define SS_SUBJ_STATS_APPLY "statsync.stats.apply"     /* .<userId>  req/rep Mutation -> StatsReply */
#define SS_SUBJ_STATS_GET "statsync.stats.get"         /* .<userId>  req/rep GetRequest -> StatsReply */
#define SS_SUBJ_STATS_CHANGED "statsync.stats.changed" /* .<userId>  event ChangeEvent */
#define SS_SUBJ_HEALTH "statsync.health"               /* .<service> req/rep HealthRequest -> HealthReply */

#define SS_QUEUE_STATS "stats-service"
#define SS_QUEUE_PRESENCE "presence-service"

/* Buffer large enough for any subject prefix above + '.' + a userId + NUL. */
#define SS_SUBJECT_MAX 128

#endif
