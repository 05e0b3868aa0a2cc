/* sio_polling.c — Engine.IO HTTP long-polling on /socket.io/.
 *
 *   GET  ?EIO=4&transport=polling           handshake: the open packet
 *   GET  ?EIO=4&transport=polling&sid=…     parked until packets are queued
 *                                           (one at a time per session)
 *   POST ?EIO=4&transport=polling&sid=…     packets joined by 0x1e -> "ok"
 *   OPTIONS                                 CORS preflight
 * Errors are Engine.IO's own: 400 {"code":N,"message":…} (0 unknown transport,
 * 1 unknown sid, 2 bad handshake method, 3 bad request, 5 unsupported version),
 * 413 past maxPayload.
 *
 * Threads: lws service thread only. */
#include "sio_engine.h"

#include "ratelimit.h"
#include "ss_log.h"
#include "ss_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIO_POLL_MAX_BODY (256u << 10) /* one GET answer carries at most this (+1 packet) */

enum { EIO_ERR_TRANSPORT = 0, EIO_ERR_SID = 1, EIO_ERR_METHOD = 2, EIO_ERR_BAD = 3,
       EIO_ERR_VERSION = 5 };

static const char *const sio_polling__err_msg[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request", "Forbidden",
    "Unsupported protocol version"};

/* Writes a whole response (with Retry-After when retry_after_s > 0). */
static int sio_http__respond(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                             size_t len, int preflight, int64_t retry_after_s, int complete)
{
    unsigned char hdr[LWS_PRE + 768];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    char ra[24];
    int ra_len = snprintf(ra, sizeof(ra), "%lld", (long long)retry_after_s);
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        (retry_after_s > 0 &&
         lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                     (const unsigned char *)ra, ra_len, &p, end)) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                    (const unsigned char *)"*", 1, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (preflight &&
        (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
                                     (const unsigned char *)"GET, POST, OPTIONS", 18, &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
                                     (const unsigned char *)"content-type", 12, &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-max-age:",
                                     (const unsigned char *)"86400", 5, &p, end)))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    if (len) {
        unsigned char *b = malloc(LWS_PRE + len);
        if (b == NULL)
            return -1;
        memcpy(b + LWS_PRE, body, len);
        int n = lws_write(wsi, b + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
        free(b);
        if (n < 0)
            return -1;
    }
    if (!complete)
        return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Writes a whole response. complete: end the HTTP transaction (0 only where
 * lws does that itself, the upgrade refusal). Returns what the callback returns. */
int sio_http_respond(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                     size_t len, int preflight, int complete)
{
    return sio_http__respond(wsi, status, ctype, body, len, preflight, 0, complete);
}

int sio_http_rate_limited(struct lws *wsi, const char *what, int64_t wait_ms, int complete)
{
    int64_t ra = rl_retry_after_s(wait_ms);
    char body[200];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":{\"code\":\"rate_limited\",\"message\":"
                     "\"too many %s from this address: retry in %lld s\"}}",
                     what, (long long)ra);
    return sio_http__respond(wsi, 429, "application/json", body, (size_t)n, 0, ra, complete);
}

void sio_client_ip(sio_server *s, struct lws *wsi, char out[CLIENT_ADDR_MAX])
{
    char peer[CLIENT_ADDR_MAX] = "";
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    char xff[CLIENT_ADDR_XFF_MAX];
    int n = lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR);
    client_addr_resolve(s->gw->trust, peer, n > 0 ? xff : NULL, out);
}

/* The per-IP rate of new sessions from the client of wsi (none for an exempt
 * address); returns 0 to go on, else the wait in ms. */
int64_t sio_http_handshake_limit(sio_server *s, struct lws *wsi)
{
    char ip[CLIENT_ADDR_MAX];
    sio_client_ip(s, wsi, ip);
    if (ratelimit_exempt(s->gw->limits, ip))
        return 0;
    char key[RL_IP_KEY_MAX + 1];
    rl_ip_key(ip, key);
    return ratelimit_take(s->gw->limits, RL_HANDSHAKE_IP, key, ss_mono_ms());
}

int sio_http_error(struct lws *wsi, int code, int complete)
{
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code,
                     sio_polling__err_msg[code]);
    return sio_http_respond(wsi, 400, "application/json", body, (size_t)n, 0, complete);
}

/* Counts an open polling request (a parked GET, a POST being read) against
 * the per-IP cap. Returns 0, or -1 when the client's address is at the cap. */
static int sio_polling__pending_acquire(sio_server *s, struct lws *wsi, sio_pss *pss)
{
    char ip[CLIENT_ADDR_MAX];
    sio_client_ip(s, wsi, ip);
    if (ratelimit_exempt(s->gw->limits, ip))
        return 0;
    _Static_assert(sizeof(pss->rl_ip) == RL_IP_KEY_MAX + 1, "rl_ip holds an rl_ip_key");
    rl_ip_key(ip, pss->rl_ip);
    if (!ratelimit_poll_acquire(s->gw->limits, pss->rl_ip))
        return -1;
    pss->rl_pending = 1;
    return 0;
}

static void sio_polling__pending_release(sio_server *s, sio_pss *pss)
{
    if (pss->rl_pending) {
        ratelimit_poll_release(s->gw->limits, pss->rl_ip);
        pss->rl_pending = 0;
    }
}

static void sio_polling__reset(sio_server *s, sio_pss *pss)
{
    sio_polling__pending_release(s, pss);
    sio_pss_rx_free(pss);
    pss->session = NULL;
    pss->kind = SIO_CONN_NONE;
    pss->answer = 0;
    pss->sid[0] = '\0';
}

static int sio_polling__handshake(sio_server *s, struct lws *wsi, const sio_query *q)
{
    int64_t wait = sio_http_handshake_limit(s, wsi);
    if (wait > 0)
        return sio_http_rate_limited(wsi, "new connections", wait, 1);
    sio_session *ss = sio_server_new_session(s, SIO_T_POLLING, q->token);
    if (ss == NULL)
        return sio_http_respond(wsi, 503, "text/plain", "unavailable", 11, 0, 1);
    size_t len;
    char *open = eio_encode_open(ss->sid, 1, s->ping_interval_ms, s->ping_timeout_ms,
                                 s->max_payload, 0, &len);
    if (open == NULL) {
        sio_server_close_session(s, ss, "out of memory");
        return -1;
    }
    ss_log(SS_LOG_DEBUG, "socket opened", "{s:s,s:s}", "sid", ss->sid, "transport", "polling");
    int rc = sio_http_respond(wsi, 200, "text/plain; charset=UTF-8", open, len, 0, 1);
    free(open);
    return rc;
}

/* An Engine.IO error: now for a GET, after the body for a POST (so the
 * connection stays in step for keep-alive). */
static int sio_polling__refuse(struct lws *wsi, sio_pss *pss, int code)
{
    if (pss->kind == SIO_CONN_POST) {
        pss->answer = (uint8_t)(SIO_ANSWER_EIO_ERR + code);
        return 0;
    }
    return sio_http_error(wsi, code, 1);
}

/* A GET of an existing session: park it until there is something to send. */
static int sio_polling__park(sio_server *s, struct lws *wsi, sio_pss *pss, sio_session *ss)
{
    if (ss->get != NULL) { /* overlap: Engine.IO closes such a session */
        sio_server_close_session(s, ss, "overlapping polling GET");
        return sio_http_error(wsi, EIO_ERR_BAD, 1);
    }
    if (sio_polling__pending_acquire(s, wsi, pss) != 0)
        return sio_http_rate_limited(wsi, "open polling requests", 1000, 1);
    ss->get = wsi;
    pss->session = ss;
    pss->kind = SIO_CONN_GET;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    if (!sio_outq_empty(&ss->outq) || ss->upgrading)
        lws_callback_on_writable(wsi);
    return 0;
}

/* A POST of an existing session: its body is read by sio_polling_on_body. */
static int sio_polling__post(sio_server *s, struct lws *wsi, sio_pss *pss, sio_session *ss)
{
    if (sio_polling__pending_acquire(s, wsi, pss) != 0) {
        /* not worth reading: answer and hang up */
        sio_http_rate_limited(wsi, "open polling requests", 1000, 0);
        return -1;
    }
    char cl[24] = "";
    lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
    long long n = atoll(cl);
    if (n <= s->max_payload)
        return 0;
    sio_server_close_session(s, ss, "POST past maxPayload");
    if (n > 4 * s->max_payload) { /* not worth reading: answer and hang up */
        sio_http_respond(wsi, 413, "text/plain", "payload too large", 17, 0, 0);
        return -1;
    }
    pss->answer = SIO_ANSWER_413;
    return 0;
}

/* An Engine.IO request on /socket.io/, by its query: a handshake, or a GET /
 * POST of a polling session, or one of Engine.IO's refusals. */
static int sio_polling__dispatch(sio_server *s, struct lws *wsi, sio_pss *pss,
                                 const sio_query *q, int is_get)
{
    if (q->bad || strcmp(q->eio, "4") != 0)
        return sio_polling__refuse(wsi, pss, EIO_ERR_VERSION);
    if (strcmp(q->transport, "polling") != 0)
        return sio_polling__refuse(wsi, pss, strcmp(q->transport, "websocket") == 0
                                                 ? EIO_ERR_BAD
                                                 : EIO_ERR_TRANSPORT);
    if (q->sid[0] == '\0')
        return is_get ? sio_polling__handshake(s, wsi, q)
                      : sio_polling__refuse(wsi, pss, EIO_ERR_METHOD);
    sio_session *ss = sio_server_find_sid(s, q->sid);
    if (ss == NULL)
        return sio_polling__refuse(wsi, pss, EIO_ERR_SID);
    if (ss->transport != SIO_T_POLLING)
        return sio_polling__refuse(wsi, pss, EIO_ERR_BAD);
    return is_get ? sio_polling__park(s, wsi, pss, ss) : sio_polling__post(s, wsi, pss, ss);
}

int sio_polling_on_request(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused, size_t len_unused)
{
    (void)in_unused;
    (void)len_unused;
    sio_polling__reset(s, pss);
    char path[64];
    int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
    int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
    int is_options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
    enum lws_token_indexes uri_tok = is_get    ? WSI_TOKEN_GET_URI
                                     : is_post ? WSI_TOKEN_POST_URI
                                               : WSI_TOKEN_OPTIONS_URI;
    if (!is_get && !is_post && !is_options)
        return sio_http_respond(wsi, 405, "text/plain", "method not allowed", 18, 0, 1);
    if (lws_hdr_copy(wsi, path, sizeof(path), uri_tok) < 0 ||
        (strcmp(path, "/socket.io/") != 0 && strcmp(path, "/socket.io") != 0))
        return sio_http_respond(wsi, 404, "text/plain", "not found", 9, 0, 1);
    if (is_options)
        return sio_http_respond(wsi, 204, NULL, NULL, 0, 1, 1);
    sio_query q;
    sio_query_read(wsi, &q);
    if (is_post) { /* every POST answer waits for the end of its body */
        pss->kind = SIO_CONN_POST;
        size_t n = strlen(q.sid);
        if (n <= SIO_SID_MAX) /* a longer one matches no session */
            memcpy(pss->sid, q.sid, n + 1);
    }
    int rc = sio_polling__dispatch(s, wsi, pss, &q, is_get);
    sio_query_free(&q);
    return rc;
}

int sio_polling_on_body(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len)
{
    (void)wsi;
    if (pss->kind != SIO_CONN_POST || pss->answer)
        return 0;
    if (pss->rx_len + len > (size_t)s->max_payload) {
        pss->answer = SIO_ANSWER_413;
        sio_pss_rx_free(pss);
        return 0;
    }
    return sio_pss_append(pss, in, len);
}

int sio_polling_on_body_done(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused,
                             size_t len_unused)
{
    (void)in_unused;
    (void)len_unused;
    /* Note: lws may free pss while answering (end of the transaction), so
     * everything in it is used up and reset before the answer is written. */
    if (pss->kind != SIO_CONN_POST) {
        sio_polling__reset(s, pss);
        return sio_http_error(wsi, EIO_ERR_BAD, 1);
    }
    sio_session *ss = sio_server_find_sid(s, pss->sid);
    int answer = pss->answer;
    if (answer == 0 && ss != NULL && ss->transport == SIO_T_POLLING) {
        eio_payload_iter it;
        eio_packet p;
        int r;
        eio_payload_init(&it, pss->rx ? pss->rx : "", pss->rx_len);
        while ((r = eio_payload_next(&it, &p)) != 0 && !ss->closing) {
            if (r < 0) {
                ss_log(SS_LOG_DEBUG, "polling packet refused", "{s:s,s:s}", "sid", ss->sid,
                       "error", sio_codec_strerror((sio_codec_err)-r));
                continue;
            }
            sio_server_on_eio(s, ss, &p);
        }
    }
    sio_polling__reset(s, pss);
    if (answer >= SIO_ANSWER_EIO_ERR)
        return sio_http_error(wsi, answer - SIO_ANSWER_EIO_ERR, 1);
    if (answer == SIO_ANSWER_413) {
        if (ss)
            sio_server_close_session(s, ss, "POST past maxPayload");
        return sio_http_respond(wsi, 413, "text/plain", "payload too large", 17, 0, 1);
    }
    if (ss == NULL || ss->transport != SIO_T_POLLING)
        return sio_http_error(wsi, ss ? EIO_ERR_BAD : EIO_ERR_SID, 1);
    return sio_http_respond(wsi, 200, "text/html", "ok", 2, 0, 1);
}

int sio_polling_on_writeable(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused,
                             size_t len_unused)
{
    (void)in_unused;
    (void)len_unused;
    (void)s;
    if (pss->kind != SIO_CONN_GET)
        return 0;
    sio_session *ss = pss->session;
    char *body = NULL;
    size_t len = 0;
    if (ss == NULL || pss->answer) {
        body = strdup("1"); /* the session is gone: a close packet */
        len = 1;
    } else if (ss->transport != SIO_T_POLLING || sio_outq_empty(&ss->outq)) {
        if (!ss->upgrading && ss->transport == SIO_T_POLLING)
            return 0; /* spurious: nothing to say yet */
        body = strdup("6"); /* upgrading: let the client pause polling */
        len = 1;
    } else {
        size_t cap = 0;
        for (sio_outq_node *n = ss->outq.head; n; n = n->next) {
            if (cap && cap + n->buf->len + 1 > SIO_POLL_MAX_BODY)
                break;
            cap += n->buf->len + 1;
        }
        body = malloc(cap + 1);
        if (body == NULL)
            return -1;
        while (!sio_outq_empty(&ss->outq) && len + ss->outq.head->buf->len + 1 <= cap) {
            sio_buf *b = sio_outq_pop(&ss->outq);
            if (len)
                body[len++] = SIO_RECORD_SEP;
            memcpy(body + len, sio_buf_data(b), b->len);
            len += b->len;
            sio_buf_unref(b);
        }
    }
    if (ss && ss->get == wsi)
        ss->get = NULL;
    sio_polling__pending_release(s, pss);
    pss->session = NULL;
    pss->kind = SIO_CONN_NONE;
    pss->answer = 0;
    int rc = body ? sio_http_respond(wsi, 200, "text/plain; charset=UTF-8", body, len, 0, 1) : -1;
    free(body);
    return rc;
}

int sio_polling_on_closed(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused, size_t len_unused)
{
    if (pss == NULL)
        return 0;
    (void)in_unused;
    (void)len_unused;
    (void)s;
    if (pss->kind == SIO_CONN_WS)
        return 0;
    if (pss->kind == SIO_CONN_GET && pss->session && pss->session->get == wsi)
        pss->session->get = NULL;
    sio_polling__reset(s, pss);
    return 0;
}

void sio_polling_flush(sio_server *s, sio_session *ss)
{
    if (!s->stopped && ss->get)
        lws_callback_on_writable(ss->get);
}
