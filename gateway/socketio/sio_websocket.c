/* sio_websocket.c — Engine.IO over websocket on /socket.io/: websocket-only
 * sessions (no sid: the open packet is the first frame) and the upgrade of a
 * polling session (sid given):
 *
 *   client (ws)  2probe  ->  server (ws)  3probe
 *                            server (GET) 6        the client pauses polling
 *   client (ws)  5       ->  the session's transport is now this websocket;
 *                            queued packets go out on it
 *
 * One text frame = one Engine.IO packet. Binary frames are refused (dropped);
 * a message past maxPayload closes the connection with 1009.
 * Writes follow Mosquitto: packets queued with LWS_PRE headroom, written in
 * SERVER_WRITEABLE until lws_send_pipe_choked(), then ask for another turn.
 *
 * Threads: lws service thread only. */
#include "sio_engine.h"

#include "ratelimit.h"
#include "ss_log.h"

#include <stdlib.h>
#include <string.h>

/* Validates an upgrade request before lws accepts it; refusals get
 * Engine.IO's HTTP 400 like the Node server sends. */
int sio_ws_on_confirm_upgrade(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in,
                              size_t len)
{
    (void)pss;
    (void)in;
    (void)len;
    char path[64];
    if (lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI) < 0 ||
        (strcmp(path, "/socket.io/") != 0 && strcmp(path, "/socket.io") != 0)) {
        sio_http_respond(wsi, 404, "text/plain", "not found", 9, 0, 0);
        return 1;
    }
    sio_query q;
    sio_query_read(wsi, &q);
    int code = -1;
    if (q.bad || strcmp(q.eio, "4") != 0) {
        code = 5;
    } else if (strcmp(q.transport, "websocket") != 0) {
        code = 3;
    } else if (q.sid[0]) {
        sio_session *ss = sio_server_find_sid(s, q.sid);
        if (ss == NULL)
            code = 1;
        else if (ss->transport != SIO_T_POLLING || ss->ws != NULL)
            code = 3; /* already upgraded, or a probe is under way */
    } else { /* a new websocket-only session: the per-IP handshake rate */
        int64_t wait = sio_http_handshake_limit(s, wsi);
        if (wait > 0) {
            sio_query_free(&q);
            sio_http_rate_limited(wsi, "new connections", wait, 0);
            return 1;
        }
    }
    sio_query_free(&q);
    if (code < 0)
        return 0;
    sio_http_error(wsi, code, 0);
    return 1;
}

int sio_ws_on_established(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused, size_t len_unused)
{
    (void)in_unused;
    (void)len_unused;
    memset(pss, 0, sizeof(*pss));
    pss->kind = SIO_CONN_WS;
    sio_query q;
    sio_query_read(wsi, &q);
    sio_session *ss;
    int rc = 0;
    if (q.sid[0] == '\0') {
        ss = sio_server_new_session(s, SIO_T_WEBSOCKET, q.token);
        if (ss == NULL) {
            rc = -1;
        } else {
            ss->ws = wsi;
            pss->session = ss;
            size_t len;
            char *open = eio_encode_open(ss->sid, 0, s->ping_interval_ms, s->ping_timeout_ms,
                                         s->max_payload, SIO_HEADROOM, &len);
            sio_server_send_mem(s, ss, open, len, SIO_BUF_PLAIN);
            ss_log(SS_LOG_DEBUG, "socket opened", "{s:s,s:s}", "sid", ss->sid, "transport",
                   "websocket");
        }
    } else {
        ss = sio_server_find_sid(s, q.sid);
        if (ss == NULL || ss->transport != SIO_T_POLLING || ss->ws != NULL) {
            rc = -1; /* raced with a close or another probe */
        } else {
            ss->ws = wsi; /* the probe */
            pss->session = ss;
        }
    }
    sio_query_free(&q);
    return rc;
}

static void sio_ws__probe_packet(sio_server *s, sio_session *ss, struct lws *wsi, sio_pss *pss,
                                 const eio_packet *p)
{
    if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
        pss->probe_reply = 1;
        ss->upgrading = 1;
        lws_callback_on_writable(wsi);
        sio_polling_flush(s, ss); /* a noop to the parked GET */
    } else if (p->type == EIO_UPGRADE && ss->upgrading) {
        ss->transport = SIO_T_WEBSOCKET;
        ss->upgrading = 0;
        sio_polling_flush(s, ss); /* a GET still parked gets a noop */
        ss_log(SS_LOG_DEBUG, "socket upgraded", "{s:s}", "sid", ss->sid);
        lws_callback_on_writable(wsi);
    }
    /* anything else on a probe is ignored */
}

int sio_ws_on_receive(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in, size_t len)
{
    sio_session *ss = pss->session;
    if (ss == NULL || ss->closing)
        return 0;
    if (lws_is_first_fragment(wsi)) {
        sio_pss_rx_free(pss);
        pss->rx_refused = 0;
    }
    int final = lws_is_final_fragment(wsi);
    if (lws_frame_is_binary(wsi) || pss->rx_refused) {
        if (!pss->rx_refused)
            ss_log(SS_LOG_DEBUG, "binary websocket frame refused", "{s:s}", "sid", ss->sid);
        pss->rx_refused = !final;
        return 0;
    }
    const char *data = in;
    size_t dlen = len;
    if (!final || pss->rx) {
        if (pss->rx_len + len + lws_remaining_packet_payload(wsi) > (size_t)s->max_payload) {
            ss_log(SS_LOG_INFO, "websocket message past maxPayload: closing", "{s:s}", "sid",
                   ss->sid);
            lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                             (unsigned char *)"message too large", 17);
            return -1;
        }
        if (sio_pss_append(pss, in, len) != 0)
            return -1;
        if (!final)
            return 0;
        data = pss->rx;
        dlen = pss->rx_len;
    }
    eio_packet p;
    sio_codec_err e = eio_decode(data, dlen, &p);
    if (e != SIO_OK) {
        ss_log(SS_LOG_DEBUG, "websocket packet refused", "{s:s,s:s}", "sid", ss->sid, "error",
               sio_codec_strerror(e));
    } else if (ss->ws == wsi && ss->transport == SIO_T_POLLING) {
        sio_ws__probe_packet(s, ss, wsi, pss, &p);
    } else if (ss->ws == wsi) {
        sio_server_on_eio(s, ss, &p);
    }
    sio_pss_rx_free(pss);
    return 0;
}

int sio_ws_on_writeable(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused, size_t len_unused)
{
    (void)in_unused;
    (void)len_unused;
    (void)s;
    sio_session *ss = pss->session;
    if (ss == NULL || ss->closing)
        return -1;
    if (pss->probe_reply) {
        unsigned char buf[LWS_PRE + 8];
        memcpy(buf + LWS_PRE, "3probe", 6);
        pss->probe_reply = 0;
        if (lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_TEXT) < 0)
            return -1;
    }
    if (ss->transport != SIO_T_WEBSOCKET || ss->ws != wsi)
        return 0;
    while (!sio_outq_empty(&ss->outq) && !lws_send_pipe_choked(wsi)) {
        sio_buf *b = sio_outq_pop(&ss->outq);
        int n = lws_write(wsi, (unsigned char *)sio_buf_data(b), b->len, LWS_WRITE_TEXT);
        sio_buf_unref(b);
        if (n < 0)
            return -1;
    }
    if (!sio_outq_empty(&ss->outq))
        lws_callback_on_writable(wsi);
    return 0;
}

int sio_ws_on_closed(sio_server *s, struct lws *wsi, sio_pss *pss, const void *in_unused, size_t len_unused)
{
    if (pss == NULL)
        return 0;
    (void)in_unused;
    (void)len_unused;
    if (pss->kind != SIO_CONN_WS)
        return 0;
    sio_session *ss = pss->session;
    if (ss && ss->ws == wsi) {
        ss->ws = NULL;
        if (ss->transport == SIO_T_WEBSOCKET)
            sio_server_close_session(s, ss, "transport close");
        else
            ss->upgrading = 0; /* the probe went away: stay on polling */
    }
    pss->session = NULL;
    sio_pss_rx_free(pss);
    return 0;
}
