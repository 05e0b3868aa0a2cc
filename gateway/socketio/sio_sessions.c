/* sio_sessions.c — the session table (by sid and by id), opening, closing
 * and reaping sessions, and the Engine.IO packets that reach a session.
 * Sessions are freed only at the end of the outermost lws callback (reap),
 * so code that walks a room or a packet batch may close sessions freely.
 * Threads: service thread only (sio_server_random_id: any thread). */
#include "sio_engine.h"

#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_time.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- session table --------------------------------------------------------- */

static bool sio_table__sid_eq(const ss_hnode *n, const void *sid)
{
    return strcmp(SS_HTAB_ENTRY(n, sio_session, h_sid)->sid, sid) == 0;
}

static bool sio_table__id_eq(const ss_hnode *n, const void *id)
{
    return SS_HTAB_ENTRY(n, sio_session, h_id)->id == *(const uint64_t *)id;
}

static uint64_t sio_table__hash_sid(const char *sid)
{
    return ss_hash(SS_HASH_INIT, sid, strlen(sid));
}

static uint64_t sio_table__hash_id(uint64_t id)
{
    return ss_hash(SS_HASH_INIT, &id, sizeof(id));
}

sio_session *sio_server_find_sid(sio_server *s, const char *sid)
{
    ss_hnode *n = ss_htab_find(&s->sessions.by_sid, sio_table__hash_sid(sid), sid);
    sio_session *ss = n ? SS_HTAB_ENTRY(n, sio_session, h_sid) : NULL;
    return ss && !ss->closing ? ss : NULL;
}

sio_session *sio_server_find_id(sio_server *s, uint64_t id)
{
    ss_hnode *n = ss_htab_find(&s->sessions.by_id, sio_table__hash_id(id), &id);
    sio_session *ss = n ? SS_HTAB_ENTRY(n, sio_session, h_id) : NULL;
    return ss && !ss->closing ? ss : NULL;
}

/* 15 random bytes as 20 base64url characters (like Node's base64id). */
void sio_server_random_id(char out[SIO_SID_LEN + 1])
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[15];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t x = (uint64_t)ss_mono_ns() ^ ((uint64_t)rand() << 32);
        for (size_t i = 0; i < sizeof(r); i++, x = x * 6364136223846793005ULL + 1)
            r[i] = (unsigned char)(x >> 56);
    }
    for (int i = 0, o = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    out[SIO_SID_LEN] = '\0';
}

/* ---- sessions -------------------------------------------------------------- */

sio_session *sio_server_new_session(sio_server *s, sio_transport t, const char *query_token)
{
    sio_session *ss = calloc(1, sizeof(*ss));
    if (ss == NULL)
        return NULL;
    if (query_token && (ss->query_token = strdup(query_token)) == NULL) {
        free(ss);
        return NULL;
    }
    ss->id = ++s->next_session_id;
    /* "<route tag>." first: the edge sends every request of this session here */
    const char *tag = s->gw->cfg.route_tag ? s->gw->cfg.route_tag : "";
    size_t tl = strnlen(tag, SIO_ROUTE_TAG_MAX);
    if (tl > 0) {
        memcpy(ss->sid, tag, tl);
        ss->sid[tl++] = '.';
    }
    do
        sio_server_random_id(ss->sid + tl);
    while (sio_server_find_sid(s, ss->sid) != NULL);
    ss->transport = (uint8_t)t;
    ss->opened_ms = ss_mono_ms();
    ss_htab_add(&s->sessions.by_sid, &ss->h_sid, sio_table__hash_sid(ss->sid));
    ss_htab_add(&s->sessions.by_id, &ss->h_id, sio_table__hash_id(ss->id));
    sio_ping_schedule(s, ss, ss->opened_ms);
    ss_gauge_add(s->m.sessions, 1);
    return ss;
}

void sio_server_close_session(sio_server *s, sio_session *ss, const char *reason)
{
    if (ss->closing)
        return;
    ss->closing = 1;
    ss_log(SS_LOG_DEBUG, "socket closed", "{s:s,s:s}", "sid", ss->sid, "reason", reason);
    sio_ping_unlink(s, ss);
    /* the reap list reuses the ping link: a closing session is in no ping list */
    ss_list_push_back(&s->reaping, &ss->ping);
}

void sio_sessions_reap(sio_server *s)
{
    while (s->reaping.head) {
        sio_session *ss = SS_LIST_ENTRY(s->reaping.head, sio_session, ping);
        ss_list_remove(&s->reaping, &ss->ping);
        if (s->hooks.on_close)
            s->hooks.on_close(s->hooks.arg, s, ss);
        ss_htab_del(&s->sessions.by_sid, &ss->h_sid);
        ss_htab_del(&s->sessions.by_id, &ss->h_id);
        if (ss->ws) {
            sio_pss *pss = lws_wsi_user(ss->ws);
            if (pss)
                pss->session = NULL;
            if (!s->stopped)
                lws_set_timeout(ss->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
        if (ss->get) {
            sio_pss *pss = lws_wsi_user(ss->get);
            if (pss) {
                pss->session = NULL;
                pss->answer = SIO_ANSWER_CLOSE;
            }
            if (!s->stopped)
                lws_callback_on_writable(ss->get);
        }
        sio_outq_clear(&ss->outq);
        free(ss->query_token);
        free(ss);
        ss_gauge_add(s->m.sessions, -1);
    }
}

void sio_server_on_eio(sio_server *s, sio_session *ss, const eio_packet *p)
{
    if (ss->closing)
        return;
    switch (p->type) {
    case EIO_PONG:
        sio_ping_on_pong(s, ss);
        break;
    case EIO_PING: { /* v4 clients do not ping; answer anyway */
        size_t len;
        char *m = eio_encode(EIO_PONG, p->data, p->len, SIO_HEADROOM, &len);
        sio_server_send_mem(s, ss, m, len, SIO_BUF_PLAIN);
        break;
    }
    case EIO_CLOSE:
        sio_server_close_session(s, ss, "client close");
        break;
    case EIO_MESSAGE:
        if (s->hooks.on_message)
            s->hooks.on_message(s->hooks.arg, s, ss, p->data, p->len);
        break;
    case EIO_OPEN:
    case EIO_UPGRADE:
    case EIO_NOOP:
        break;
    }
}

int sio_sessions_init(sio_session_table *t)
{
    if (ss_htab_init(&t->by_sid, 1024, sio_table__sid_eq) != 0)
        return -1;
    if (ss_htab_init(&t->by_id, 1024, sio_table__id_eq) != 0) {
        ss_htab_free(&t->by_sid);
        return -1;
    }
    return 0;
}

void sio_sessions_free(sio_session_table *t)
{
    ss_htab_free(&t->by_sid);
    ss_htab_free(&t->by_id);
}

void sio_sessions_close_all(sio_server *s, const char *reason)
{
    ss_htab_iter it;
    for (ss_hnode *n = ss_htab_first(&it, &s->sessions.by_id); n; n = ss_htab_next(&it)) {
        sio_session *ss = SS_HTAB_ENTRY(n, sio_session, h_id);
        if (!ss->closing) {
            ss->ws = NULL;
            ss->get = NULL;
            sio_server_close_session(s, ss, reason);
        }
    }
}
