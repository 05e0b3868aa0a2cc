/* rest_routes.c — the REST route table and the stats routes (DESIGN §2):
 *
 *   GET  /api/users/:userId/stats  -> statsync.stats.get.<id>    GetRequest
 *   POST /api/users/updateStats    -> statsync.stats.apply.<id>  Mutation (full write)
 *   POST /api/users/data/patch     -> statsync.stats.apply.<id>  Mutation (delta)
 *   GET  /metrics                  -> ss_metrics_render()
 *   GET  /health                   -> rest_health.c
 *   GET  /livez, /readyz           -> rest_probes.c
 *
 * Every function here runs on an MHD thread. A route validates completely
 * (stats_json.c) and checks the userId against the token before anything is
 * put on NATS; the StatsReply's status becomes the HTTP status. */
#include "rest_internal.h"

#include "ss_log.h"
#include "ss_partition.h"
#include "ss_subjects.h"
#include "stats_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char routes__forbidden[] = "you may only read and change your own stats";

/* ---- replies -------------------------------------------------------------------- */

/* A NATS-level failure of slot 0 (the stats-service did not answer). */
static void routes__rpc_failed(rest_req *req, ss_err err)
{
    if (err == SS_ERR_TIMEOUT)
        rest_req_reply_error(req, err, "the stats service did not answer in time");
    else if (err == SS_ERR_UNAVAILABLE)
        rest_req_reply_error(req, err, "the stats service is unavailable");
    else if (err == SS_ERR_PARTITION_UNAVAILABLE)
        rest_req_reply_error(req, err, "no stats-service serves this user's partition now; retry");
    else
        rest_req_reply_error(req, err, "could not reach the stats service");
}

/* StatsReply -> HTTP, for all three stats routes. A read answers the bare
 * document; a write {success:true, stats}. An error carries the stored
 * document as "stats" when the service sent one (409), and a seq_gap the
 * client's expected seq as error.expectedSeq. */
static void routes__stats_finish(rest_req *req)
{
    rest_slot *s = &req->slots[0];
    if (s->err != SS_OK) {
        routes__rpc_failed(req, s->err);
        return;
    }
    Statsync__StatsReply *r = statsync__stats_reply__unpack(NULL, s->len, s->data);
    if (r == NULL) {
        ss_log(SS_LOG_ERROR, "unreadable StatsReply", "{s:s,s:i}", "route", req->route->name,
               "bytes", (int)s->len);
        rest_req_reply_error(req, SS_ERR_INTERNAL, "unreadable reply from the stats service");
        return;
    }
    const char *uid = req->path_user[0] ? req->path_user : req->user;
    if (r->status == 200) {
        json_t *doc = r->doc ? stats_json_from_doc(r->doc) : stats_json_default_doc(uid);
        if (req->route->body) {
            json_t *body = json_pack("{s:b,s:o}", "success", 1, "stats", doc);
            if (body != NULL && r->has_duplicate && r->duplicate)
                json_object_set_new(body, "duplicate", json_true());
            rest_req_reply_json(req, 200, body);
        } else {
            rest_req_reply_json(req, 200, doc);
        }
    } else {
        int status = r->status >= 400 && r->status <= 599 ? (int)r->status : 500;
        const char *code = r->error_code && r->error_code[0]
                               ? r->error_code
                               : ss_err_code(ss_err_from_status(status));
        if (status >= 500)
            ss_log(SS_LOG_WARN, "stats service error", "{s:s,s:i,s:s,s:s}", "route",
                   req->route->name, "status", status, "code", code, "user", uid);
        json_t *extra = r->doc ? json_pack("{s:o}", "stats", stats_json_from_doc(r->doc)) : NULL;
        if (r->has_expected_seq) { /* a seq_gap: the seq to re-send from, in the error */
            if (extra == NULL)
                extra = json_object();
            json_object_set_new(extra, "error",
                                json_pack("{s:I}", "expectedSeq", (json_int_t)r->expected_seq));
        }
        rest_req_reply_error_raw(req, status, code,
                                 r->error_message ? r->error_message : code, extra);
    }
    statsync__stats_reply__free_unpacked(r, NULL);
}

/* ---- GET /api/users/:userId/stats ----------------------------------------------- */

static void routes__get_start(rest_req *req)
{
    if (strcmp(req->path_user, req->user) != 0) {
        rest_req_reply_error(req, SS_ERR_FORBIDDEN, routes__forbidden);
        return;
    }
    Statsync__GetRequest g = STATSYNC__GET_REQUEST__INIT;
    g.user_id = req->path_user;
    uint8_t buf[SS_USERID_MAX + 16];
    size_t n = statsync__get_request__pack(&g, buf);
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_GET,
                                (uint32_t)req->rs->gw->cfg.partition_count, req->path_user)) {
        rest_req_reply_error(req, SS_ERR_INVALID_USER_ID, "invalid userId");
        return;
    }
    if (!rest_req_wait(req, 1))
        return;
    rest_req_send(req, 0, subject, buf, n, req->rs->gw->cfg.request_timeout_ms,
                  req->rs->nats_get);
}

/* ---- the two writes --------------------------------------------------------------- */

/* Sends one operation for `user` as a REST mutation and waits for the reply. */
static void routes__send_op(rest_req *req, const char *user, Statsync__Operation *op)
{
    op->op_id = req->idem_key[0] ? req->idem_key : NULL;
    Statsync__Mutation m = STATSYNC__MUTATION__INIT;
    m.user_id = (char *)user;
    m.n_ops = 1;
    m.ops = &op;
    m.has_source = 1;
    m.source = STATSYNC__SOURCE__SOURCE_REST;
    size_t n = statsync__mutation__get_packed_size(&m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        rest_req_reply_error(req, SS_ERR_INTERNAL, "out of memory");
        return;
    }
    statsync__mutation__pack(&m, buf);
    char subject[SS_SUBJECT_MAX];
    if (!ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_APPLY,
                                (uint32_t)req->rs->gw->cfg.partition_count, user))
        rest_req_reply_error(req, SS_ERR_INVALID_USER_ID, "invalid userId");
    else if (rest_req_wait(req, 1))
        rest_req_send(req, 0, subject, buf, n, req->rs->gw->cfg.request_timeout_ms,
                      req->rs->nats_apply);
    free(buf); /* the publish copied it */
}

/* Answers a body the JSON mapping refused; true when it was refused. */
static bool routes__refused(rest_req *req, ss_err rc, const stats_json_err *e)
{
    if (rc == SS_OK)
        return false;
    rest_req_reply_error(req, e->err, e->message);
    return true;
}

/* Sends op for the caller when every userId the body named (NULL: none) is
 * the caller's own; 403 otherwise. */
static void routes__send_own(rest_req *req, const char *a, const char *b, Statsync__Operation *op)
{
    if ((a != NULL && strcmp(a, req->user) != 0) || (b != NULL && strcmp(b, req->user) != 0))
        rest_req_reply_error(req, SS_ERR_FORBIDDEN, routes__forbidden);
    else
        routes__send_op(req, req->user, op);
}

/* The write of a REST body as one operation: a delta (the patch body is the
 * delta, strict but for its envelope members userId, clientId, seq, opId:
 * stats_json_patch_body; clientId + seq number the op, exactly-once per
 * client) or a full write (the updateStats envelope {userId, stats} around
 * strict data: stats_json_update_body). */
static void routes__write(rest_req *req, bool full)
{
    const json_t *stats = NULL;
    const char *body_uid = NULL, *stats_uid = NULL;
    Statsync__Operation op = STATSYNC__OPERATION__INIT;
    stats_json_seq sq = {NULL, 0};
    stats_json_err e;
    ss_err rc = full ? stats_json_update_body(req->json, &stats, &body_uid, &e)
                     : stats_json_patch_body(req->json, &op.delta, &body_uid, &sq, &e);
    if (rc == SS_OK && full)
        rc = stats_json_to_full(stats, &op.full, &stats_uid, &e);
    if (!routes__refused(req, rc, &e)) {
        op.kind_case = full ? STATSYNC__OPERATION__KIND_FULL : STATSYNC__OPERATION__KIND_DELTA;
        op.client_id = (char *)sq.client_id; /* borrowed from req->json */
        op.has_seq = sq.client_id != NULL;
        op.seq = sq.seq;
        routes__send_own(req, body_uid, stats_uid, &op);
    }
    if (full) /* delta and full share a oneof */
        statsync__stats_fields__free_unpacked(op.full, NULL);
    else
        statsync__delta__free_unpacked(op.delta, NULL);
}

/* POST /api/users/data/patch {xp:10, hearts:-1, __set:{...}, userId?} */
static void routes__patch_start(rest_req *req)
{
    routes__write(req, false);
}

/* POST /api/users/updateStats {userId, stats:{..., updatedAt}} */
static void routes__update_start(rest_req *req)
{
    routes__write(req, true);
}

/* ---- GET /metrics --------------------------------------------------------------- */

static void routes__metrics_start(rest_req *req)
{
    size_t len = 0;
    char *text = ss_metrics_render(&len);
    if (text == NULL) {
        rest_req_reply_error(req, SS_ERR_INTERNAL, "out of memory");
        return;
    }
    rest_req_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* ---- the table ------------------------------------------------------------------ */

enum { R_STATS_GET, R_UPDATE, R_PATCH, R_HEALTH, R_METRICS, R_LIVEZ, R_READYZ, R_COUNT };

static rest_route routes__table[R_COUNT] = {
    [R_STATS_GET] = {.name = "stats_get", .method = "GET", .auth = true,
                     .start = routes__get_start, .finish = routes__stats_finish},
    [R_UPDATE] = {.name = "update_stats", .method = "POST", .auth = true, .body = true,
                  .start = routes__update_start, .finish = routes__stats_finish},
    [R_PATCH] = {.name = "patch", .method = "POST", .auth = true, .body = true,
                 .start = routes__patch_start, .finish = routes__stats_finish},
    [R_HEALTH] = {.name = "health", .method = "GET", .start = rest_health_start,
                  .finish = rest_health_finish},
    [R_METRICS] = {.name = "metrics", .method = "GET", .start = routes__metrics_start},
    [R_LIVEZ] = {.name = "livez", .method = "GET", .start = rest_livez_start},
    [R_READYZ] = {.name = "readyz", .method = "GET", .start = rest_readyz_start,
                  .finish = rest_readyz_finish},
};

rest_route *rest_routes_find(const char *url, const char *method, bool *method_ok,
                             const char **seg, size_t *seg_len)
{
    static const char users[] = "/api/users/", stats[] = "/stats";
    rest_route *r = NULL;
    *seg = NULL;
    *seg_len = 0;
    if (strcmp(url, "/health") == 0) {
        r = &routes__table[R_HEALTH];
    } else if (strcmp(url, "/metrics") == 0) {
        r = &routes__table[R_METRICS];
    } else if (strcmp(url, "/livez") == 0) {
        r = &routes__table[R_LIVEZ];
    } else if (strcmp(url, "/readyz") == 0) {
        r = &routes__table[R_READYZ];
    } else if (strcmp(url, "/api/users/updateStats") == 0) {
        r = &routes__table[R_UPDATE];
    } else if (strcmp(url, "/api/users/data/patch") == 0) {
        r = &routes__table[R_PATCH];
    } else if (strncmp(url, users, sizeof(users) - 1) == 0) {
        /* /api/users/<userId>/stats: url is already percent-decoded, and a
         * userId may hold '/' ("a%2Fb"), so the id is everything between
         * the prefix and the final "/stats" */
        const char *id = url + sizeof(users) - 1;
        size_t n = strlen(id), sl = sizeof(stats) - 1;
        if (n >= sl && strcmp(id + n - sl, stats) == 0) {
            r = &routes__table[R_STATS_GET];
            *seg = id;
            *seg_len = n - sl;
        }
    }
    if (r != NULL)
        *method_ok = strcmp(method, r->method) == 0;
    return r;
}

void rest_routes_init_metrics(void)
{
    for (int i = 0; i < R_COUNT; i++) {
        char labels[64];
        ss_metric_labels(labels, sizeof(labels), "route", routes__table[i].name, NULL);
        routes__table[i].duration = ss_histogram_get(
            "statsync_http_request_duration_seconds", "REST request latency", labels);
    }
}
