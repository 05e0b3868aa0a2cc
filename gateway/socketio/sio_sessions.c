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

static size_t sio_server__hash_sid(const char *sid)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *sid; sid++)
        h = (h ^ (unsigned char)*sid) * 1099511628211ULL;
    return (size_t)h;
}

static size_t sio_server__hash_id(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id;
}

static void sio_table__link(sio_session_table *t, sio_session *ss)
{
    size_t a = sio_server__hash_sid(ss->sid) & (t->nbuckets - 1);
    size_t b = sio_server__hash_id(ss->id) & (t->nbuckets - 1);
    ss->h_sid_next = t->by_sid[a];
    t->by_sid[a] = ss;
    ss->h_id_next = t->by_id[b];
    t->by_id[b] = ss;
}

static int sio_table__grow(sio_session_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 1024;
    sio_session **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return -1;
    }
    sio_session **old = t->by_id;
    size_t oldn = t->nbuckets;
    free(t->by_sid);
    t->by_sid = a;
    t->by_id = b;
    t->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        sio_session *ss = old[i];
        while (ss) {
            sio_session *next = ss->h_id_next;
            sio_table__link(t, ss);
            ss = next;
        }
    }
    free(old);
    return 0;
}

static void sio_table__remove(sio_session_table *t, sio_session *ss)
{
    sio_session **pp = &t->by_sid[sio_server__hash_sid(ss->sid) & (t->nbuckets - 1)];
    while (*pp && *pp != ss)
        pp = &(*pp)->h_sid_next;
    if (*pp)
        *pp = ss->h_sid_next;
    pp = &t->by_id[sio_server__hash_id(ss->id) & (t->nbuckets - 1)];
    while (*pp && *pp != ss)
        pp = &(*pp)->h_id_next;
    if (*pp)
        *pp = ss->h_id_next;
    t->count--;
}

sio_session *sio_server_find_sid(sio_server *s, const char *sid)
{
    sio_session_table *t = &s->sessions;
    if (t->nbuckets == 0)
        return NULL;
    for (sio_session *ss = t->by_sid[sio_server__hash_sid(sid) & (t->nbuckets - 1)]; ss;
         ss = ss->h_sid_next)
        if (strcmp(ss->sid, sid) == 0)
            return ss->closing ? NULL : ss;
    return NULL;
}

sio_session *sio_server_find_id(sio_server *s, uint64_t id)
{
    sio_session_table *t = &s->sessions;
    if (t->nbuckets == 0)
        return NULL;
    for (sio_session *ss = t->by_id[sio_server__hash_id(id) & (t->nbuckets - 1)]; ss;
         ss = ss->h_id_next)
        if (ss->id == id)
            return ss->closing ? NULL : ss;
    return NULL;
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
    if (s->sessions.count + 1 > s->sessions.nbuckets && sio_table__grow(&s->sessions) != 0)
        return NULL;
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
    sio_table__link(&s->sessions, ss);
    s->sessions.count++;
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
    /* the reap list reuses the ping links: a closing session is in no ping list */
    ss->ping_next = s->reap_head;
    s->reap_head = ss;
}

void sio_sessions_reap(sio_server *s)
{
    while (s->reap_head) {
        sio_session *ss = s->reap_head;
        s->reap_head = ss->ping_next;
        if (s->hooks.on_close)
            s->hooks.on_close(s->hooks.arg, s, ss);
        sio_table__remove(&s->sessions, ss);
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
    return sio_table__grow(t);
}

void sio_sessions_free(sio_session_table *t)
{
    free(t->by_sid);
    free(t->by_id);
    t->by_sid = t->by_id = NULL;
}

void sio_sessions_close_all(sio_server *s, const char *reason)
{
    for (size_t i = 0; i < s->sessions.nbuckets; i++)
        for (sio_session *ss = s->sessions.by_id[i]; ss; ss = ss->h_id_next)
            if (!ss->closing) {
                ss->ws = NULL;
                ss->get = NULL;
                sio_server_close_session(s, ss, reason);
            }
}
