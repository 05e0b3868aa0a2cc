/* rest_server.c — the REST edge on libmicrohttpd: daemon lifecycle, the
 * per-request state machine (headers -> body -> route -> maybe wait for NATS
 * -> answer), suspend/resume around NATS, responses, logs and metrics.
 * Routes themselves live in rest_routes.c and rest_health.c.
 *
 * Threads: rest__handler and rest__completed run on MHD's internal polling
 * thread(s) (epoll). rest__on_rpc runs on a cnats delivery thread or the
 * nats_rpc timer thread; it only copies the reply and resumes the connection.
 * rest_server_stop runs on the main thread.
 *
 * Ownership: a rest_req is refcounted — one reference for MHD (dropped in
 * rest__completed) and one per NATS request in flight (dropped by its
 * completion). The server is refcounted too (one per live request), so a NATS
 * completion arriving after rest_server_stop still finds valid memory.
 * A suspended connection is resumed exactly once: by whoever sets
 * req->resumed under rs->mu (the last completion, or shutdown). */
#include "nats_rpc.h"
#include "rest_input.h"
#include "client_addr.h"
#include "rest_internal.h"

#include "auth.h"
#include "json_bounds.h"
#include "log_redact.h"
#include "ratelimit.h"
#include "ss_log.h"
#include "ss_sockaddr.h"
#include "ss_time.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REST_THREADS 2
/* The body of a refused request (413 past max_body_bytes, 401, 415, ...) is
 * read and dropped so the client gets its answer (MHD 0.9 cannot answer
 * mid-upload); past this many times max_body_bytes the connection is cut. */
#define REST_DISCARD_FACTOR 4
#define REST_BODY_INITIAL 4096

/* ---- lifetime ------------------------------------------------------------------- */

static void rest__server_unref(rest_server *rs)
{
    if (atomic_fetch_sub(&rs->refs, 1) == 1) {
        pthread_mutex_destroy(&rs->mu);
        free(rs);
    }
}

static void rest__req_unref(rest_req *req)
{
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    rest_server *rs = req->rs;
    free(req->body);
    json_decref(req->json);
    for (int i = 0; i < REST_MAX_SLOTS; i++)
        free(req->slots[i].data);
    free(req);
    rest__server_unref(rs);
}

static rest_req *rest__req_new(rest_server *rs, struct MHD_Connection *conn)
{
    rest_req *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->rs = rs;
    req->conn = conn;
    req->start_ns = ss_mono_ns();
    atomic_init(&req->refs, 1);
    atomic_fetch_add(&rs->refs, 1);
    atomic_fetch_add(&rs->inflight, 1);
    return req;
}

/* ---- answering ------------------------------------------------------------------ */

static ss_counter *rest__status_counter(rest_route *route, int status)
{
    static _Atomic(ss_counter *) unrouted[600];
    _Atomic(ss_counter *) *slot = route ? &route->by_status[status] : &unrouted[status];
    ss_counter *c = atomic_load_explicit(slot, memory_order_acquire);
    if (c == NULL) {
        char labels[96], code[8];
        snprintf(code, sizeof(code), "%d", status);
        ss_metric_labels(labels, sizeof(labels), "route", route ? route->name : "unknown",
                         "status", code, NULL);
        c = ss_counter_get("statsync_http_requests_total", "REST requests answered", labels);
        atomic_store_explicit(slot, c, memory_order_release);
    }
    return c;
}

/* Metrics and the access line of an answered request (info: one per
 * request; the route's name, never the path, which may hold a userId). */
static void rest__account(rest_req *req)
{
    int64_t ns = ss_mono_ns() - req->start_ns;
    rest_route *route = req->route;
    int status = req->status >= 100 && req->status < 600 ? req->status : 500;
    ss_counter_add(rest__status_counter(route, status), 1);
    if (route != NULL)
        ss_histogram_observe(route->duration, ns);
    atomic_fetch_sub(&req->rs->inflight, 1);
    ss_log(SS_LOG_INFO, "http request", "{s:s,s:s,s:i,s:f,s:s,s:s}", "method", req->method,
           "route", route ? route->name : "unknown", "status", req->status, "duration_ms",
           (double)(ns / 1000) / 1000.0, "request_id", req->request_id, "client", req->client_ip);
}

static void rest__queue(rest_req *req, int status, struct MHD_Response *r)
{
    if (r == NULL) {
        req->mhd_ret = MHD_NO;
        req->status = 500;
    } else {
        MHD_add_response_header(r, "Cache-Control", "no-store");
        MHD_add_response_header(r, SS_REQID_HEADER, req->request_id);
        /* stopping, or draining (the lame duck): the client's next request
         * opens a new connection, which the balancer sends elsewhere */
        if (atomic_load(&req->rs->stopping) || atomic_load(&req->rs->gw->stopping))
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        if (status == 401)
            MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        if (status == 405 && req->route != NULL)
            MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, req->route->method);
        if (status == 503)
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        if (status == 429) {
            char ra[24];
            snprintf(ra, sizeof(ra), "%d", req->retry_after_s > 0 ? req->retry_after_s : 1);
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
        }
        req->mhd_ret = MHD_queue_response(req->conn, (unsigned)status, r);
        MHD_destroy_response(r);
        req->status = status;
    }
    req->state = REST_DONE;
    rest__account(req);
}

void rest_req_reply_text(rest_req *req, int status, const char *content_type, char *text,
                         size_t len)
{
    struct MHD_Response *r = NULL;
    if (text != NULL) {
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (r == NULL)
            free(text);
        else
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    rest__queue(req, status, r);
}

void rest_req_reply_json(rest_req *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) { /* out of memory: say so without allocating */
        static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof(oom) - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
        if (r != NULL)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        rest__queue(req, 500, r);
        return;
    }
    rest_req_reply_text(req, status, "application/json", text, strlen(text));
}

void rest_req_reply_error_raw(rest_req *req, int status, const char *code, const char *message,
                              json_t *extra)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
                             message ? message : "");
    if (body == NULL) /* code or message not UTF-8 (from a service): say less */
        body = json_pack("{s:{s:s,s:s}}", "error", "code", ss_err_code(SS_ERR_INTERNAL),
                         "message", "unprintable error");
    json_t *more = extra ? json_object_get(extra, "error") : NULL;
    if (body != NULL && json_is_object(more)) { /* members of the error object itself */
        json_object_update_missing(json_object_get(body, "error"), more);
        json_object_del(extra, "error");
    }
    if (body != NULL && extra != NULL)
        json_object_update(body, extra);
    json_decref(extra);
    rest_req_reply_json(req, status, body);
}

void rest_req_reply_error(rest_req *req, ss_err err, const char *message)
{
    rest_req_reply_error_raw(req, ss_err_http_status(err), ss_err_code(err), message, NULL);
}

/* ---- waiting for NATS ----------------------------------------------------------- */

/* Resumes req's connection unless someone already did. Caller holds rs->mu.
 * The connection is suspended, and MHD never closes a suspended connection
 * (rest_server_stop resumes every one before stopping the daemon), so conn
 * is valid here. */
static void rest__resume_locked(rest_req *req, bool forced)
{
    rest_server *rs = req->rs;
    if (req->resumed)
        return;
    req->resumed = true;
    req->forced = forced;
    ss_list_remove(&rs->waiting, &req->waiting);
    MHD_resume_connection(req->conn);
}

static void rest__slot_done(rest_slot *s)
{
    rest_req *req = s->req;
    if (atomic_fetch_sub(&req->slots_left, 1) == 1) {
        pthread_mutex_lock(&req->rs->mu);
        rest__resume_locked(req, false);
        pthread_mutex_unlock(&req->rs->mu);
    }
    rest__req_unref(req);
}

/* nats_rpc completion: cnats delivery thread or rpc timer thread. */
static void rest__on_rpc(void *arg, ss_err err, const uint8_t *data, size_t len)
{
    rest_slot *s = arg;
    if (s->nats_duration != NULL)
        ss_histogram_observe(s->nats_duration, ss_mono_ns() - s->sent_ns);
    s->err = err;
    if (err == SS_OK) {
        s->data = malloc(len ? len : 1);
        if (s->data == NULL) {
            s->err = SS_ERR_INTERNAL;
        } else {
            memcpy(s->data, data, len);
            s->len = len;
        }
    }
    rest__slot_done(s);
}

static void rest__on_gather(void *arg, ss_err err, const nats_rpc_part *parts, size_t n)
{
    rest_slot *s = arg;
    size_t len = 0;
    uint8_t *merged = err == SS_OK ? s->gather->merge(s, parts, n, &len) : NULL;
    if (err == SS_OK && merged == NULL)
        err = SS_ERR_INTERNAL;
    rest__on_rpc(s, err, merged, len);
    free(merged);
}

bool rest_req_wait(rest_req *req, int n)
{
    rest_server *rs = req->rs;
    pthread_mutex_lock(&rs->mu);
    if (rs->closing) { /* too late to wait: the daemon is about to stop */
        pthread_mutex_unlock(&rs->mu);
        rest_req_reply_error(req, SS_ERR_UNAVAILABLE, "the gateway is shutting down");
        return false;
    }
    req->nslots = n;
    atomic_store(&req->slots_left, n);
    req->state = REST_WAITING;
    for (int i = 0; i < n; i++) {
        req->slots[i].req = req;
        req->slots[i].err = SS_ERR_UNAVAILABLE;
    }
    /* Suspend before sending: a reply may arrive before this handler returns,
     * and MHD accepts a resume of a connection suspended in this call. */
    MHD_suspend_connection(req->conn);
    ss_list_push_front(&rs->waiting, &req->waiting);
    pthread_mutex_unlock(&rs->mu);
    return true;
}

void rest_req_send(rest_req *req, int i, const char *subject, const void *data, size_t len,
                   int64_t timeout_ms, ss_histogram *nats_duration)
{
    rest_slot *s = &req->slots[i];
    s->nats_duration = nats_duration;
    s->sent_ns = ss_mono_ns();
    atomic_fetch_add(&req->refs, 1);
    ss_err err = nats_rpc_request(req->rs->gw->rpc, subject, data, len, timeout_ms,
                                  rest__on_rpc, s);
    if (err != SS_OK) { /* never sent: complete the slot now */
        s->err = err;
        rest__slot_done(s);
    }
}

void rest_req_gather(rest_req *req, int i, const char *subject, const void *data, size_t len,
                     int64_t timeout_ms, ss_histogram *nats_duration, const rest_gather *g)
{
    rest_slot *s = &req->slots[i];
    s->nats_duration = nats_duration;
    s->sent_ns = ss_mono_ns();
    s->gather = g;
    atomic_fetch_add(&req->refs, 1);
    ss_err err = nats_rpc_gather(req->rs->gw->rpc, subject, data, len, timeout_ms, g->max_parts,
                                 g->enough, rest__on_gather, s);
    if (err != SS_OK) {
        s->err = err;
        rest__slot_done(s);
    }
}

/* ---- the request state machine -------------------------------------------------- */

static const char *rest__header(rest_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* Bytes of a refused body read and dropped before the connection is cut. */
static uint64_t rest__discard_bound(const rest_req *req)
{
    return (uint64_t)req->rs->gw->cfg.max_body_bytes * REST_DISCARD_FACTOR;
}

/* Refuses the request; the answer goes out on the request's final call,
 * after any body has been read and dropped. Answering before the body is
 * read would make MHD close a socket with unread data, and the kernel's RST
 * can destroy the answer before the client reads it. Exceptions, answered
 * at once: a client waiting for "100 Continue" (it has sent no body yet),
 * and a declared body too large to be worth reading. */
static void rest__refuse(rest_req *req, ss_err err, const char *message)
{
    req->refused = err;
    snprintf(req->refused_msg, sizeof(req->refused_msg), "%s", message);
    const char *expect = rest__header(req, MHD_HTTP_HEADER_EXPECT);
    const char *cl = rest__header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if ((expect != NULL && strcasecmp(expect, "100-continue") == 0) ||
        (cl != NULL && rest_parse_content_length(cl, &n) == 0 && n > rest__discard_bound(req)))
        rest_req_reply_error(req, err, message);
}

/* The client's address as text ("" when MHD cannot say): the peer, or what
 * X-Forwarded-For says when the peer is a trusted proxy (client_addr.h). */
static void rest__client_ip(rest_req *req, char out[CLIENT_ADDR_MAX])
{
    char peer[CLIENT_ADDR_MAX] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, peer,
                  sizeof(peer));
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, peer,
                  sizeof(peer));
    client_addr_resolve(req->rs->gw->trust, peer, rest__header(req, "X-Forwarded-For"), out);
}

/* A rate limit said no: 429 with Retry-After, after the body like any refusal. */
static void rest__refuse_rate(rest_req *req, int64_t wait_ms, const char *what)
{
    req->retry_after_s = (int)rl_retry_after_s(wait_ms);
    char msg[120];
    snprintf(msg, sizeof(msg), "too many %s: retry in %d s", what, req->retry_after_s);
    rest__refuse(req, SS_ERR_RATE_LIMITED, msg);
}

/* ---- headers complete: the checks, in order ------------------------------------- */

/* What the checks share: the request line and the route's :userId segment. */
typedef struct rest_head {
    const char *url, *method;
    const char *seg; /* :userId of the path (not NUL-terminated), or NULL */
    size_t seg_len;
} rest_head;

/* Each check refuses the request (rest__refuse) and returns false, or
 * returns true to go on. MHD thread. */
typedef bool (*rest_check)(rest_req *req, rest_head *h);

static bool rest__check_ip_rate(rest_req *req, rest_head *h)
{
    (void)h;
    ratelimit *rl = req->rs->gw->limits;
    const char *ip = req->client_ip;
    if (ratelimit_exempt(rl, ip))
        return true;
    char key[RL_IP_KEY_MAX + 1];
    rl_ip_key(ip, key);
    int64_t wait = ratelimit_take(rl, RL_REST_IP, key, ss_mono_ms());
    if (wait > 0)
        rest__refuse_rate(req, wait, "requests from this address");
    return wait <= 0;
}

static bool rest__check_route(rest_req *req, rest_head *h)
{
    bool method_ok = false;
    req->route = rest_routes_find(h->url, h->method, &method_ok, &h->seg, &h->seg_len);
    if (req->route == NULL) {
        rest__refuse(req, SS_ERR_NOT_FOUND, "no such route");
        return false;
    }
    if (!method_ok) {
        char msg[64];
        snprintf(msg, sizeof(msg), "use %s", req->route->method);
        rest__refuse(req, SS_ERR_METHOD_NOT_ALLOWED, msg);
        return false;
    }
    if (atomic_load(&req->rs->stopping)) {
        rest__refuse(req, SS_ERR_UNAVAILABLE, "the gateway is shutting down");
        return false;
    }
    return true;
}

static bool rest__check_token(rest_req *req, rest_head *h)
{
    (void)h;
    if (!req->route->auth)
        return true;
    const char *token = auth_bearer(rest__header(req, MHD_HTTP_HEADER_AUTHORIZATION));
    if (token == NULL) {
        rest__refuse(req, SS_ERR_UNAUTHORIZED, "missing Authorization: Bearer <token> header");
        return false;
    }
    auth_result ar;
    if (auth_verify(token, req->rs->gw->cfg.jwt_secret, ss_now_ms() / 1000, &ar) != SS_OK) {
        rest__refuse(req, SS_ERR_UNAUTHORIZED, ar.message);
        return false;
    }
    memcpy(req->user, ar.user_id, sizeof(req->user));
    return true;
}

static bool rest__check_path_user(rest_req *req, rest_head *h)
{
    if (h->seg == NULL)
        return true;
    ss_userid_rule why = ss_userid_check(h->seg, h->seg_len);
    if (why != SS_USERID_OK) {
        rest__refuse(req, SS_ERR_INVALID_USER_ID, ss_userid_rule_text(why));
        return false;
    }
    memcpy(req->path_user, h->seg, h->seg_len);
    req->path_user[h->seg_len] = '\0';
    return true;
}

/* A write's body: JSON, not declared larger than the bound, a valid
 * Idempotency-Key when there is one. */
static bool rest__check_body_headers(rest_req *req, rest_head *h)
{
    (void)h;
    if (!req->route->body)
        return true;
    if (!rest_content_type_is_json(rest__header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
        rest__refuse(req, SS_ERR_UNSUPPORTED_MEDIA, "Content-Type must be application/json");
        return false;
    }
    int64_t max = req->rs->gw->cfg.max_body_bytes;
    const char *cl = rest__header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if (cl != NULL && rest_parse_content_length(cl, &n) == 0 && n > (uint64_t)max) {
        char msg[80];
        snprintf(msg, sizeof(msg), "body larger than %lld bytes", (long long)max);
        rest__refuse(req, SS_ERR_PAYLOAD_TOO_LARGE, msg);
        return false;
    }
    const char *key = rest__header(req, "Idempotency-Key");
    if (key != NULL && !rest_idem_key_valid(key, REST_IDEM_KEY_MAX)) {
        rest__refuse(req, SS_ERR_BAD_REQUEST,
                     "Idempotency-Key must be 1-128 printable ASCII characters");
        return false;
    }
    if (key != NULL)
        snprintf(req->idem_key, sizeof(req->idem_key), "%s", key);
    return true;
}

/* A write, counted with the user's socket writes. Per user, whatever the
 * address: an exempt address never lifts a user's limit. */
static bool rest__check_user_rate(rest_req *req, rest_head *h)
{
    (void)h;
    if (!req->route->body)
        return true;
    int64_t wait = ratelimit_take(req->rs->gw->limits, RL_MUTATION, req->user, ss_mono_ms());
    if (wait > 0)
        rest__refuse_rate(req, wait, "writes for this user");
    return wait <= 0;
}

static const rest_check rest__checks[] = {
    rest__check_ip_rate,   rest__check_route,        rest__check_token,
    rest__check_path_user, rest__check_body_headers, rest__check_user_rate,
};

/* Headers complete: every check in order; the first that fails refuses. */
static void rest__on_headers(rest_req *req, const char *url, const char *method)
{
    rest_head h = {.url = url, .method = method};
    for (size_t i = 0; i < sizeof(rest__checks) / sizeof(rest__checks[0]); i++)
        if (!rest__checks[i](req, &h))
            return;
}

/* A piece of the body. Returns MHD_NO to cut a connection that keeps
 * sending far past the limit. */
static enum MHD_Result rest__on_upload(rest_req *req, const char *data, size_t n)
{
    size_t max = (size_t)req->rs->gw->cfg.max_body_bytes;
    if (req->refused != SS_OK || !req->route->body) { /* nobody will read it */
        req->body_discarded += n;
        return req->body_discarded > rest__discard_bound(req) ? MHD_NO : MHD_YES;
    }
    if (req->body_len + n > max) {
        char msg[80];
        snprintf(msg, sizeof(msg), "body larger than %zu bytes", max);
        rest__refuse(req, SS_ERR_PAYLOAD_TOO_LARGE, msg);
        req->body_discarded = req->body_len + n;
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
        return MHD_YES;
    }
    if (req->body_len + n > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : REST_BODY_INITIAL;
        while (cap < req->body_len + n)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *b = realloc(req->body, cap);
        if (b == NULL)
            return MHD_NO;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    return MHD_YES;
}

/* The whole request is in: parse the body (if the route takes one), then
 * hand over to the route. */
static void rest__on_complete(rest_req *req)
{
    const gw_config *cfg = &req->rs->gw->cfg;
    if (req->refused != SS_OK) {
        rest_req_reply_error(req, req->refused, req->refused_msg);
        return;
    }
    if (req->route->body) {
        if (req->body_len == 0) {
            rest_req_reply_error(req, SS_ERR_INVALID_JSON, "empty body: a JSON object is expected");
            return;
        }
        size_t max_elems = cfg->json_max_elements > 0 ? (size_t)cfg->json_max_elements : SIZE_MAX - 1;
        json_bounds b;
        json_bounds_scan(req->body, req->body_len, (int)cfg->json_max_depth, max_elems, &b);
        if (b.depth > (int)cfg->json_max_depth) {
            char msg[80];
            snprintf(msg, sizeof(msg), "JSON nested deeper than %lld levels",
                     (long long)cfg->json_max_depth);
            rest_req_reply_error(req, SS_ERR_INVALID_JSON, msg);
            return;
        }
        if (b.elements > max_elems) {
            char msg[80];
            snprintf(msg, sizeof(msg), "JSON holds more than %zu elements", max_elems);
            rest_req_reply_error(req, SS_ERR_INVALID_JSON, msg);
            return;
        }
        json_error_t jerr;
        req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (req->json == NULL) {
            char msg[200];
            snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
            rest_req_reply_error(req, SS_ERR_INVALID_JSON, msg);
            return;
        }
        if (!json_is_object(req->json)) {
            rest_req_reply_error(req, SS_ERR_INVALID_JSON, "the body must be a JSON object");
            return;
        }
    }
    req->route->start(req);
}

/* Back from NATS (or shut down while waiting). */
static void rest__on_resumed(rest_req *req)
{
    rest_server *rs = req->rs;
    pthread_mutex_lock(&rs->mu);
    bool forced = req->forced;
    pthread_mutex_unlock(&rs->mu);
    if (forced)
        rest_req_reply_error(req, SS_ERR_UNAVAILABLE, "the gateway is shutting down");
    else
        req->route->finish(req);
}

/* One call of MHD for a request (rest__handler): the first, with the
 * headers, makes its state, request id and client address. */
static enum MHD_Result rest__handle(rest_server *rs, struct MHD_Connection *conn,
                                    const char *url, const char *method,
                                    const char *upload_data, size_t *upload_size,
                                    void **con_cls)
{
    rest_req *req = *con_cls;
    if (req == NULL) {
        req = rest__req_new(rs, conn);
        if (req == NULL)
            return MHD_NO;
        *con_cls = req;
        snprintf(req->method, sizeof(req->method), "%s", method);
        ss_reqid_take(rest__header(req, SS_REQID_HEADER), req->request_id);
        rest__client_ip(req, req->client_ip);
        ss_reqid_set(req->request_id);
        rest__on_headers(req, url, method);
        return req->state == REST_DONE ? req->mhd_ret : MHD_YES;
    }
    ss_reqid_set(req->request_id);
    switch (req->state) {
    case REST_HEADERS:
        if (*upload_size != 0) {
            enum MHD_Result ok = rest__on_upload(req, upload_data, *upload_size);
            *upload_size = 0;
            return ok;
        }
        rest__on_complete(req);
        break;
    case REST_WAITING:
        rest__on_resumed(req);
        break;
    case REST_DONE:
        *upload_size = 0;
        return MHD_YES;
    }
    return req->state == REST_DONE ? req->mhd_ret : MHD_YES;
}

/* Every call for a request runs as that request (ss_reqid.h): the lines it
 * logs and the NATS requests it sends carry its id. */
static enum MHD_Result rest__handler(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_size,
                                     void **con_cls)
{
    (void)version;
    enum MHD_Result r = rest__handle(cls, conn, url, method, upload_data, upload_size, con_cls);
    ss_reqid_clear();
    return r;
}

/* MHD is done with the connection's request (answered, or the connection
 * broke). MHD thread. */
static void rest__completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    rest_req *req = *con_cls;
    if (req == NULL)
        return;
    *con_cls = NULL;
    if (req->state != REST_DONE) { /* never answered: the client went away */
        req->status = 499;
        req->state = REST_DONE;
        rest__account(req);
    }
    rest__req_unref(req);
}

/* ---- start / stop --------------------------------------------------------------- */

/* libmicrohttpd's own complaints, as JSON log lines. Any MHD thread. */
static void rest__mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[256];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    log_redact(buf);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    ss_log(SS_LOG_WARN, "libmicrohttpd", "{s:s}", "detail", buf);
}

static int rest__hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the path in place, like MHD's default, except for %00: a
 * decoded NUL would cut the path short and turn a bad userId into a
 * different route, so it becomes 0x01 instead — another control character,
 * which the userId rule refuses just the same. Returns the new length. MHD
 * thread. */
static size_t rest__unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r != '\0'; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = rest__hex(r[1])) >= 0 && (lo = rest__hex(r[2])) >= 0) {
            *w++ = (hi | lo) != 0 ? (char)(hi * 16 + lo) : '\x01';
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static struct MHD_Daemon *rest__listen(rest_server *rs, unsigned flags, uint16_t port,
                                       const struct sockaddr *addr)
{
    const gw_config *c = &rs->gw->cfg;
    /* Against slowloris: an idle or trickling connection is closed after the
     * timeout, and one address cannot hold more than its share of connections. */
    unsigned timeout_s = c->rest_connection_timeout_s > 0 ? (unsigned)c->rest_connection_timeout_s : 30u;
    unsigned max_conns = c->rest_max_connections > 0 ? (unsigned)c->rest_max_connections : 4096u;
    unsigned per_ip = c->rest_per_ip_connections > 0 ? (unsigned)c->rest_per_ip_connections : 0u;
    /* MHD counts TCP peers: behind the edge every connection is the edge's,
     * and the edge holds (and limits) the clients' connections itself. */
    if (per_ip > 0 && !client_addr_trust_empty(rs->gw->trust)) {
        ss_log(SS_LOG_INFO, "REST per-IP connection limit off: peers include trusted proxies",
               NULL);
        per_ip = 0;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, max_conns, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, REST_THREADS, NULL},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, 0, (void *)addr},
        {MHD_OPTION_END, 0, NULL},
    };
    return MHD_start_daemon(flags, port, NULL, NULL, rest__handler, rs,
                            MHD_OPTION_UNESCAPE_CALLBACK, rest__unescape, NULL,
                            MHD_OPTION_EXTERNAL_LOGGER, rest__mhd_log, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, rest__completed, rs,
                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

static int64_t rest__inflight_metric(void *arg)
{
    return atomic_load(&((rest_server *)arg)->inflight);
}

int rest_server_start(gateway *gw, rest_server **out)
{
    *out = NULL;
    rest_server *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return -1;
    rs->gw = gw;
    pthread_mutex_init(&rs->mu, NULL);
    atomic_init(&rs->refs, 1);
    rest_routes_init_metrics();
    const char *h = "Round trip of NATS requests made by the REST edge";
    rs->nats_get = ss_histogram_get("statsync_nats_request_duration_seconds", h, "op=\"stats_get\"");
    rs->nats_apply =
        ss_histogram_get("statsync_nats_request_duration_seconds", h, "op=\"stats_apply\"");
    rs->nats_health = ss_histogram_get("statsync_nats_request_duration_seconds", h, "op=\"health\"");

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    uint16_t port = (uint16_t)gw->cfg.api_port;
    const char *bind = gw->cfg.bind_address;
    if (bind != NULL && bind[0] != '\0') {
        struct sockaddr_storage addr;
        if (ss_sockaddr_numeric(bind, port, &addr) != 0) {
            ss_log(SS_LOG_ERROR, "bad bind address", "{s:s}", "bind_address", bind);
            goto fail;
        }
        rs->d = rest__listen(rs, flags | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0u), port,
                             (const struct sockaddr *)&addr);
    } else {
        rs->d = rest__listen(rs, flags | MHD_USE_DUAL_STACK, port, NULL);
        if (rs->d == NULL) /* no IPv6 in some containers */
            rs->d = rest__listen(rs, flags, port, NULL);
    }
    if (rs->d == NULL) {
        ss_log(SS_LOG_ERROR, "REST listen failed", "{s:i}", "port", (int)port);
        goto fail;
    }
    ss_gauge_fn("statsync_http_inflight_requests", "REST requests begun and not yet answered",
                NULL, rest__inflight_metric, rs);
    ss_log(SS_LOG_INFO, "REST listening", "{s:i,s:i}", "port", (int)port, "threads",
           REST_THREADS);
    *out = rs;
    return 0;
fail:
    rest__server_unref(rs);
    return -1;
}

/* Polls until no request is in flight or the deadline passes. */
static void rest__wait_idle(rest_server *rs, int64_t deadline_ms)
{
    while (atomic_load(&rs->inflight) != 0 && ss_mono_ms() < deadline_ms)
        usleep(5000);
}

void rest_server_stop(rest_server *rs)
{
    if (rs == NULL)
        return;
    atomic_store(&rs->stopping, 1);
    /* 1. stop accepting; requests on open connections get 503 + close */
    MHD_socket lsock = MHD_quiesce_daemon(rs->d);
    /* 2. let requests in flight finish, within the grace period */
    int64_t grace = rs->gw->cfg.shutdown_grace_ms;
    rest__wait_idle(rs, ss_mono_ms() + (grace > 0 ? grace : 0));
    /* 3. whoever still waits for NATS is answered 503 (MHD must not be
     *    stopped with suspended connections) */
    pthread_mutex_lock(&rs->mu);
    rs->closing = true; /* no request may start waiting from now on */
    int forced = 0;
    while (rs->waiting.head != NULL) { /* resuming unlinks the head */
        rest__resume_locked(SS_LIST_ENTRY(rs->waiting.head, rest_req, waiting), true);
        forced++;
    }
    pthread_mutex_unlock(&rs->mu);
    if (forced > 0) {
        ss_log(SS_LOG_WARN, "REST requests cut by shutdown", "{s:i}", "count", forced);
        rest__wait_idle(rs, ss_mono_ms() + 500);
    }
    MHD_stop_daemon(rs->d);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    ss_log(SS_LOG_INFO, "REST stopped", NULL);
    rest__server_unref(rs);
}
