/* lg_sio_conn.c — one Socket.IO connection of the load generator: its
 * handshakes, the packets it answers, and the matching of pushes to sends.
 * Runs on the event-loop thread (see lg_sio_mode.h). */
#include "lg_jwt.h"
#include "lg_net.h"
#include "lg_sio.h"
#include "lg_sio_mode.h"
#include "lg_ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void lg_sio_user_id(const lg_options *o, uint32_t n, char *out, size_t cap)
{
    snprintf(out, cap, "%s%u", o->user_prefix, n);
}

static uint32_t conn__mask(lg_sio *s)
{
    uint64_t x = s->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return (uint32_t)(x >> 16);
}

static void conn__epoll(lg_sio *s, uint32_t i, int out)
{
    lg_conn *c = &s->conns[i];
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.u32 = i};
    epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = (uint8_t)out;
}

static void conn__pop_done(lg_user *u)
{
    lg_pring *p = u->pend;
    while (p && p->count && p->e[p->head].done) {
        p->head = (p->head + 1) & (p->cap - 1);
        p->count--;
    }
}

/* Entry e of user u has been seen by every device it needed. */
static void conn__complete(lg_sio *s, lg_pending *e, uint64_t *now)
{
    e->done = 1;
    if (!e->measured)
        return;
    s->open_measured--;
    if (e->lost)
        return;
    if (!*now)
        *now = lg_now_ns();
    lg_hist_record(&s->st->all_hist, *now > e->sent_ns ? (*now - e->sent_ns) / 1000u : 0);
    s->st->all_matched++;
}

/* Ready connection i leaves its user's devices: no later update waits for
 * it, and the updates that still did can never reach every device (their
 * all-devices latency stays unmatched). */
static void conn__device_gone(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    lg_user *u = &s->users[c->user];
    uint32_t bit = 1u << lg_group_device_of(s->o, i);
    s->nready--;
    u->ready_mask &= ~bit;
    if (!u->ready_mask && u->ready_pos != LG_USER_NOT_READY) {
        uint32_t pos = u->ready_pos;
        uint32_t last = s->ready_users[--s->nready_users];
        s->ready_users[pos] = last;
        s->users[last].ready_pos = pos;
        u->ready_pos = LG_USER_NOT_READY;
    }
    lg_pring *p = u->pend;
    uint64_t now = 0;
    for (uint32_t k = 0; p && k < p->count; k++) {
        lg_pending *e = &p->e[(p->head + k) & (p->cap - 1)];
        if (e->done || !(e->need & bit))
            continue;
        if (!(e->seen & bit))
            e->lost = 1;
        e->need &= ~bit;
        if ((e->seen & e->need) == e->need)
            conn__complete(s, e, &now);
    }
    conn__pop_done(u);
}

void lg_sio_conn_fail(lg_sio *s, uint32_t i, lg_err why)
{
    lg_conn *c = &s->conns[i];
    if (c->state == LG_C_DEAD || c->state == LG_C_IDLE)
        return;
    s->st->errors[why]++;
    if (c->state != LG_C_READY) {
        s->connecting--;
        s->failed++;
    } else {
        conn__device_gone(s, i);
    }
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = LG_C_DEAD;
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->out_len = 0;
}

void lg_sio_conn_start(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    int src = s->o->src_ips > 1 ? (int)(i % (uint32_t)s->o->src_ips) : -1;
    s->connecting++;
    c->state = LG_C_TCP;
    int fd = lg_net_connect(s->o, src);
    if (fd < 0) {
        c->fd = -1;
        c->state = LG_C_TCP; /* so fail() accounts for it */
        s->st->errors[fd == -ECONNREFUSED      ? LG_ERR_connect_refused
                      : fd == -EADDRNOTAVAIL ? LG_ERR_no_source_port
                                             : LG_ERR_connect_failed]++;
        s->connecting--;
        s->failed++;
        c->state = LG_C_DEAD;
        return;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        lg_sio_conn_fail(s, i, LG_ERR_connect_failed);
        return;
    }
    c->want_out = 1;
}

/* Writes bytes now, queueing what the socket does not take. -1: the
 * connection failed (already closed). */
static int conn__write(lg_sio *s, uint32_t i, const void *buf, size_t n)
{
    lg_conn *c = &s->conns[i];
    const uint8_t *b = buf;
    if (c->out_len == 0) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w == (ssize_t)n)
            return 0;
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                lg_sio_conn_fail(s, i, LG_ERR_send_failed);
                return -1;
            }
            w = 0;
        }
        b += w;
        n -= (size_t)w;
    }
    if (c->out_len + n > LG_OUT_MAX) {
        lg_sio_conn_fail(s, i, LG_ERR_send_failed);
        return -1;
    }
    uint8_t *nb = realloc(c->out, c->out_len + n);
    if (!nb) {
        lg_sio_conn_fail(s, i, LG_ERR_send_failed);
        return -1;
    }
    memcpy(nb + c->out_len, b, n);
    c->out = nb;
    c->out_len += (uint32_t)n;
    if (!c->want_out)
        conn__epoll(s, i, 1);
    return 0;
}

static int conn__send_frame(lg_sio *s, uint32_t i, int opcode, const void *payload, size_t n)
{
    uint8_t stackbuf[1024];
    uint8_t *f = n + LG_WS_HEADER_MAX <= sizeof stackbuf ? stackbuf : malloc(n + LG_WS_HEADER_MAX);
    if (!f) {
        lg_sio_conn_fail(s, i, LG_ERR_send_failed);
        return -1;
    }
    size_t fl = lg_ws_encode(f, opcode, payload, n, conn__mask(s));
    int rc = conn__write(s, i, f, fl);
    if (f != stackbuf)
        free(f);
    return rc;
}

static int conn__send_text(lg_sio *s, uint32_t i, const char *txt, size_t n)
{
    return conn__send_frame(s, i, LG_WS_OP_TEXT, txt, n);
}

static void conn__flush(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    while (c->out_len) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            lg_sio_conn_fail(s, i, LG_ERR_send_failed);
            return;
        }
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (uint32_t)w;
    }
    free(c->out);
    c->out = NULL;
    conn__epoll(s, i, 0);
}

static void conn__tcp_done(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    int err = lg_net_socket_error(c->fd);
    if (err) {
        lg_sio_conn_fail(s, i,
                         err == ECONNREFUSED    ? LG_ERR_connect_refused
                         : err == EADDRNOTAVAIL ? LG_ERR_no_source_port
                                                : LG_ERR_connect_failed);
        return;
    }
    c->state = LG_C_WS;
    conn__epoll(s, i, 0);
    conn__write(s, i, s->hs_req, s->hs_len);
}

static void conn__became_ready(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    lg_user *u = &s->users[c->user];
    c->state = LG_C_READY;
    s->nready++;
    s->connecting--;
    if (u->ready_pos == LG_USER_NOT_READY) {
        u->ready_pos = s->nready_users;
        s->ready_users[s->nready_users++] = c->user;
    }
    u->ready_mask |= 1u << lg_group_device_of(s->o, i);
}

/* A push with xp reached device `dev` of user u: credits it to every pending
 * update xp covers (the sender's own push, and the last device's). */
static void conn__match(lg_sio *s, lg_user *u, uint32_t dev, int64_t xp)
{
    lg_pring *p = u->pend;
    if (!p || !p->count)
        return;
    uint32_t bit = 1u << dev;
    uint64_t now = 0;
    for (uint32_t k = 0; k < p->count; k++) {
        lg_pending *e = &p->e[(p->head + k) & (p->cap - 1)];
        if (e->expect > xp)
            break; /* sent in order: the rest expect more */
        if (e->done || (e->seen & bit))
            continue;
        e->seen |= bit;
        if (dev == e->sender && e->measured) {
            if (!now)
                now = lg_now_ns();
            lg_hist_record(&s->st->hist, now > e->sent_ns ? (now - e->sent_ns) / 1000u : 0);
            s->st->matched++;
        }
        if ((e->seen & e->need) == e->need)
            conn__complete(s, e, &now);
    }
    conn__pop_done(u);
}

/* The server refused one of this connection's updates (user:error, sent
 * because updates carry no ack id, so which one is not said). It will never
 * apply: take it out of the user's count. The connection's newest pending
 * update is taken as the refused one; should it have been an older one, the
 * later updates match one push late (their latency reads high), and the
 * error is counted either way. */
static void conn__refused_update(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    lg_user *u = &s->users[c->user];
    lg_pring *p = u->pend;
    uint32_t dev = lg_group_device_of(s->o, i), mask = p ? p->cap - 1 : 0;
    uint32_t k = p ? p->count : 0;
    while (k > 0) {
        lg_pending *e = &p->e[(p->head + k - 1) & mask];
        if (e->sender == dev && !e->done && !(e->seen & (1u << dev)))
            break;
        k--;
    }
    if (k == 0)
        return;
    k--; /* the refused one's place; the later ones move up and expect one less */
    if (p->e[(p->head + k) & mask].measured)
        s->open_measured--;
    for (; k + 1 < p->count; k++) {
        lg_pending *to = &p->e[(p->head + k) & mask];
        *to = p->e[(p->head + k + 1) & mask];
        to->expect--;
    }
    p->count--;
    u->next--;
}

static int conn__push(lg_sio *s, uint32_t i, const char *txt, size_t n)
{
    lg_conn *c = &s->conns[i];
    int64_t xp;
    const char *uid;
    size_t uid_len;
    int r = lg_sio_parse_data_updated(txt, n, &xp, &uid, &uid_len);
    if (r == 0) {
        int status, about_update;
        if (lg_sio_parse_user_error(txt, n, &status, &about_update)) {
            s->st->errors[status == 429     ? LG_ERR_rate_limited
                          : about_update ? LG_ERR_update_refused
                                         : LG_ERR_other_refused]++;
            if (about_update && c->state == LG_C_READY)
                conn__refused_update(s, i);
        }
        return 0; /* another event (user:update, presence:pong, …) */
    }
    if (r < 0) {
        s->st->errors[LG_ERR_bad_push]++;
        return 0;
    }
    s->st->pushes++;
    char want[64];
    lg_sio_user_id(s->o, c->user, want, sizeof want);
    if (uid && (uid_len != strlen(want) || memcmp(uid, want, uid_len) != 0)) {
        s->st->errors[LG_ERR_foreign_push]++;
        return 0;
    }
    lg_user *u = &s->users[c->user];
    if (c->state == LG_C_JOIN) {
        if (xp > u->next)
            u->next = xp;
        conn__became_ready(s, i);
        return 0;
    }
    if (c->state == LG_C_READY)
        conn__match(s, u, lg_group_device_of(s->o, i), xp);
    return 0;
}

/* One Engine.IO packet (the text of one frame). -1: the connection failed. */
static int conn__packet(lg_sio *s, uint32_t i, const char *txt, size_t n)
{
    lg_conn *c = &s->conns[i];
    char buf[LG_JWT_MAX + 64];
    switch (lg_sio_classify(txt, n)) {
    case LG_PKT_EIO_OPEN: {
        if (c->state != LG_C_EIO)
            break;
        char uid[64], tok[LG_JWT_MAX];
        lg_sio_user_id(s->o, c->user, uid, sizeof uid);
        if (lg_jwt_mint(tok, sizeof tok, s->o->secret, s->secret_len, uid, s->iat, s->exp) < 0) {
            lg_sio_conn_fail(s, i, LG_ERR_connect_failed);
            return -1;
        }
        size_t len = lg_sio_connect(buf, sizeof buf, tok);
        c->state = LG_C_SIO;
        return conn__send_text(s, i, buf, len);
    }
    case LG_PKT_EIO_PING:
        return conn__send_text(s, i, "3", 1);
    case LG_PKT_SIO_CONNECT: {
        if (c->state != LG_C_SIO) {
            s->st->errors[LG_ERR_eio_unexpected]++;
            return 0;
        }
        char uid[64];
        lg_sio_user_id(s->o, c->user, uid, sizeof uid);
        size_t len = lg_sio_join(buf, sizeof buf, uid);
        c->state = LG_C_JOIN;
        return conn__send_text(s, i, buf, len);
    }
    case LG_PKT_SIO_EVENT:
        return conn__push(s, i, txt, n);
    case LG_PKT_SIO_CONNECT_ERROR:
        lg_sio_conn_fail(s, i, LG_ERR_sio_connect_refused);
        return -1;
    case LG_PKT_EIO_CLOSE:
    case LG_PKT_SIO_DISCONNECT:
        lg_sio_conn_fail(s, i, LG_ERR_server_closed);
        return -1;
    case LG_PKT_EIO_NOOP:
    case LG_PKT_SIO_ACK:
    case LG_PKT_OTHER:
        return 0;
    }
    s->st->errors[LG_ERR_eio_unexpected]++;
    return 0;
}

static int conn__frame(lg_sio *s, uint32_t i, const lg_ws_frame *f)
{
    if (!f->fin || f->opcode == LG_WS_OP_CONT) {
        lg_sio_conn_fail(s, i, LG_ERR_ws_fragmented);
        return -1;
    }
    switch (f->opcode) {
    case LG_WS_OP_TEXT:
        return conn__packet(s, i, (const char *)f->payload, f->len);
    case LG_WS_OP_PING:
        return conn__send_frame(s, i, LG_WS_OP_PONG, f->payload, f->len);
    case LG_WS_OP_CLOSE:
        lg_sio_conn_fail(s, i, LG_ERR_server_closed);
        return -1;
    default: /* pong, binary: nothing to do */
        return 0;
    }
}

static void conn__readable(lg_sio *s, uint32_t i)
{
    lg_conn *c = &s->conns[i];
    uint8_t *b = s->rbuf;
    size_t have = c->in_len;
    if (have)
        memcpy(b, c->in, have);
    ssize_t r = recv(c->fd, b + have, LG_RBUF - have, 0);
    if (r == 0) {
        lg_sio_conn_fail(s, i, LG_ERR_server_closed);
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            lg_sio_conn_fail(s, i, LG_ERR_server_closed);
        return;
    }
    have += (size_t)r;
    size_t off = 0;
    if (c->state == LG_C_WS) {
        size_t head = 0;
        int status = 0;
        lg_ws_hs hs = lg_ws_handshake_check((const char *)b, have, LG_HEAD_MAX, s->accept, &head,
                                            &status);
        if (hs == LG_WS_HS_INCOMPLETE) {
            off = 0;
            goto carry;
        }
        if (hs != LG_WS_HS_OK) {
            lg_sio_conn_fail(s, i, LG_ERR_ws_handshake);
            return;
        }
        off = head;
        c->state = LG_C_EIO;
    }
    while (off < have) {
        lg_ws_frame f;
        ssize_t k = lg_ws_decode(b + off, have - off, LG_FRAME_MAX, &f);
        if (k == 0)
            break;
        if (k < 0) {
            lg_sio_conn_fail(s, i, LG_ERR_ws_protocol);
            return;
        }
        off += (size_t)k;
        if (conn__frame(s, i, &f) != 0)
            return; /* the connection is gone */
    }
carry:
    if (off == have) {
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
        return;
    }
    size_t tail = have - off;
    uint8_t *nb = tail <= c->in_len ? c->in : realloc(c->in, tail);
    if (!nb) {
        lg_sio_conn_fail(s, i, LG_ERR_ws_protocol);
        return;
    }
    memcpy(nb, b + off, tail);
    c->in = nb;
    c->in_len = (uint32_t)tail;
}

void lg_sio_conn_event(lg_sio *s, uint32_t i, uint32_t events)
{
    lg_conn *c = &s->conns[i];
    if (c->state == LG_C_DEAD || c->state == LG_C_IDLE)
        return;
    if (c->state == LG_C_TCP) {
        conn__tcp_done(s, i);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        conn__readable(s, i);
        if (c->state == LG_C_DEAD)
            return;
    }
    if ((events & EPOLLOUT) && c->out_len)
        conn__flush(s, i);
}

/* Room for one more pending update of u, not yet counted in the ring. */
static lg_pending *conn__pending_slot(lg_sio *s, lg_user *u)
{
    lg_pring *p = u->pend;
    if (!p || p->count == p->cap) {
        uint32_t cap = p ? p->cap * 2 : 4;
        if (p && p->cap >= LG_PENDING_MAX) {
            /* Full at its bound: the oldest stays unmatched. */
            lg_pending *old = &p->e[p->head];
            s->st->errors[LG_ERR_pending_overflow]++;
            if (old->measured && !old->done)
                s->open_measured--;
            p->head = (p->head + 1) & (p->cap - 1);
            p->count--;
        } else {
            lg_pring *np = malloc(sizeof *np + cap * sizeof(lg_pending));
            if (!np)
                return NULL;
            np->cap = cap;
            np->head = 0;
            np->count = 0;
            for (uint32_t k = 0; p && k < p->count; k++)
                np->e[np->count++] = p->e[(p->head + k) & (p->cap - 1)];
            free(p);
            u->pend = p = np;
        }
    }
    return &p->e[(p->head + p->count) & (p->cap - 1)]; /* taken by count++ */
}

void lg_sio_user_send_update(lg_sio *s, uint32_t ui, uint64_t now_ns, int measured)
{
    lg_user *u = &s->users[ui];
    uint32_t ndev = lg_group_devices_of(s->o, ui), dev = u->rr;
    for (uint32_t k = 0; k < ndev && !(u->ready_mask & (1u << (dev % ndev))); k++)
        dev++;
    dev %= ndev;
    u->rr = (dev + 1) % ndev;
    uint32_t i = lg_group_conn_of(s->o, ui, dev);
    char buf[160], op[48];
    size_t n;
    if (s->o->op_ids) {
        snprintf(op, sizeof op, "%s%llu", s->o->op_prefix, (unsigned long long)++s->op_seq);
        n = lg_sio_update(buf, sizeof buf, op);
    } else {
        n = lg_sio_update(buf, sizeof buf, NULL);
    }
    lg_pending *e = conn__pending_slot(s, u);
    if (!e) {
        s->st->errors[LG_ERR_send_failed]++;
        return;
    }
    if (measured)
        s->st->sent++;
    else
        s->st->warmup_sent++;
    /* A send that fails closes the connection: that update never went out
     * whole, the server will not apply it, and it is not counted in the
     * user's document (it stays unmatched). */
    if (conn__send_text(s, i, buf, n) != 0)
        return;
    *e = (lg_pending){.expect = ++u->next, .sent_ns = now_ns, .need = u->ready_mask,
                      .sender = (uint8_t)dev, .measured = (uint8_t)measured};
    u->pend->count++;
    if (measured)
        s->open_measured++;
}
