/* sio_output.c — what leaves a session: its bounded output queue (a
 * document superseded by a newer one, past the bound the session is closed),
 * the direct websocket write when nothing is queued, and the wake-up of the
 * transport that carries it. Threads: service thread only. */
#include "sio_engine.h"

#include "ss_log.h"
#include "ss_metrics.h"

void sio_server_wake(sio_server *s, sio_session *ss)
{
    if (s->stopped || ss->closing)
        return;
    if (ss->transport == SIO_T_WEBSOCKET && ss->ws)
        lws_callback_on_writable(ss->ws);
    else if (ss->get)
        lws_callback_on_writable(ss->get);
}

/* Writes b at once when it would be the next packet out anyway: a websocket
 * session with nothing queued (so order is kept) and a socket that takes
 * bytes now. That saves the round through poll() for POLLOUT and the
 * SERVER_WRITEABLE callback (one poll() over every connection) per packet.
 * The guard is lws_partial_buffered(), not lws_send_pipe_choked(): the latter
 * is a poll() syscall per packet (one per update at 10 000/s). A write the
 * kernel cannot take whole is kept by lws and finished on POLLOUT; until
 * then lws_partial_buffered() is true and packets queue in outq as before.
 * Returns 1 when b went out (or the write failed and the session is
 * closing), 0 when b is to be queued. */
static int sio_server__write_now(sio_server *s, sio_session *ss, sio_buf *b)
{
    if (s->stopped || ss->transport != SIO_T_WEBSOCKET || ss->ws == NULL ||
        !sio_outq_empty(&ss->outq))
        return 0;
    sio_pss *pss = lws_wsi_user(ss->ws);
    if (pss == NULL || pss->session != ss || pss->probe_reply || lws_partial_buffered(ss->ws))
        return 0;
    if (lws_write(ss->ws, (unsigned char *)sio_buf_data(b), b->len, LWS_WRITE_TEXT) < 0) {
        lws_set_timeout(ss->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        sio_server_close_session(s, ss, "write failed");
    }
    return 1;
}

int sio_server_send(sio_server *s, sio_session *ss, sio_buf *b)
{
    if (ss->closing || b == NULL)
        return -1;
    ss_counter_add(s->m.msgs_out, 1);
    if (sio_server__write_now(s, ss, b))
        return ss->closing ? -1 : 0;
    sio_outq_rc rc = sio_outq_push(&ss->outq, b, &s->outq_limits);
    if (rc < 0) {
        ss_counter_add(s->m.overflow, 1);
        ss_log(SS_LOG_WARN, "socket output queue full: closing the socket", "{s:s,s:i,s:I}",
               "sid", ss->sid, "queued", (int)ss->outq.count, "bytes",
               (json_int_t)ss->outq.bytes);
        sio_server_close_session(s, ss, "output queue full");
        return -1;
    }
    sio_server_wake(s, ss);
    return 0;
}

int sio_server_send_mem(sio_server *s, sio_session *ss, char *mem, size_t len, sio_buf_kind kind)
{
    sio_buf *b = sio_buf_wrap(mem, len, kind);
    if (b == NULL)
        return -1;
    int rc = sio_server_send(s, ss, b);
    sio_buf_unref(b);
    return rc;
}

const sio_limits *sio_server_limits(const sio_server *s)
{
    return &s->limits;
}
