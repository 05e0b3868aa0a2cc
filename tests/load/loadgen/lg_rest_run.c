/* lg_rest_run.c — REST mode: --conns keep-alive HTTP/1.1 connections, each
 * POSTing {"xp":1} to /api/users/data/patch as its own user (Bearer token),
 * one request in flight per connection.
 *
 *   --rate 0  closed loop: every connection sends its next patch as soon as
 *             the answer to the previous one is in (peak throughput);
 *   --rate R  open loop: R patches/s handed to idle connections (a send with
 *             no idle connection is counted in send_behind).
 *
 * --op-ids (--idempotency-keys) gives every patch an Idempotency-Key of its
 * own, as the SDK does: the stats-service then records each one.
 *
 * A 2xx counts as matched, with its latency; other statuses count as errors.
 * A connection the server closes is reopened (server_closed).
 * Threads: one (the caller's). */
#include "lg_http.h"
#include "lg_jwt.h"
#include "lg_net.h"
#include "lg_rest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REST_EVENTS 512
#define REST_IN_MAX (256u * 1024u)
#define REST_HEAD_MAX 8192u

enum { R_IDLE = 0, R_TCP, R_FREE, R_BUSY, R_DEAD };

typedef struct rest_conn {
    int fd;
    uint8_t state;
    uint8_t measured;
    uint32_t free_pos; /* index in lg_rest.free, or UINT32_MAX */
    uint32_t in_len;
    uint32_t out_off;  /* bytes of req already written while BUSY */
    uint32_t req_len;
    uint32_t key_off;  /* where the Idempotency-Key's counter digits are; 0 = none */
    uint64_t sent_ns;
    char *req;
    char *in;
} rest_conn;

typedef struct lg_rest {
    const lg_options *o;
    lg_stats *st;
    int ep;
    rest_conn *c;
    uint32_t *free; /* connected connections with no request in flight */
    uint32_t nfree;
    long open;      /* connected (FREE or BUSY)                          */
    long busy;
    long connecting;
    uint64_t key_seq;  /* Idempotency-Keys handed out */
} lg_rest;

#define REST_KEY_DIGITS 16

static void rest__free_add(lg_rest *r, uint32_t i)
{
    r->c[i].free_pos = r->nfree;
    r->free[r->nfree++] = i;
}

static void rest__free_remove(lg_rest *r, uint32_t i)
{
    uint32_t pos = r->c[i].free_pos;
    if (pos == UINT32_MAX)
        return;
    uint32_t last = r->free[--r->nfree];
    r->free[pos] = last;
    r->c[last].free_pos = pos;
    r->c[i].free_pos = UINT32_MAX;
}

static void rest__epoll(lg_rest *r, uint32_t i, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = i};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, r->c[i].fd, &ev);
}

static void rest__start(lg_rest *r, uint32_t i)
{
    rest_conn *c = &r->c[i];
    int src = r->o->src_ips > 1 ? (int)(i % (uint32_t)r->o->src_ips) : -1;
    int fd = lg_net_connect(r->o, src);
    if (fd < 0) {
        r->st->errors[fd == -ECONNREFUSED ? LG_ERR_connect_refused : LG_ERR_connect_failed]++;
        c->state = R_DEAD;
        return;
    }
    c->fd = fd;
    c->state = R_TCP;
    c->in_len = 0;
    r->connecting++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Closes connection i; reopen: start a fresh one in its place. */
static void rest__close(lg_rest *r, uint32_t i, lg_err why, int reopen)
{
    rest_conn *c = &r->c[i];
    if (c->state == R_DEAD || c->state == R_IDLE)
        return;
    r->st->errors[why]++;
    if (c->state == R_TCP)
        r->connecting--;
    else
        r->open--;
    if (c->state == R_BUSY)
        r->busy--;
    rest__free_remove(r, i);
    close(c->fd);
    c->fd = -1;
    c->state = R_DEAD;
    if (reopen)
        rest__start(r, i);
}

static void rest__write(lg_rest *r, uint32_t i)
{
    rest_conn *c = &r->c[i];
    while (c->out_off < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->out_off, c->req_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                rest__epoll(r, i, EPOLLIN | EPOLLOUT);
                return;
            }
            rest__close(r, i, LG_ERR_send_failed, 1);
            return;
        }
        c->out_off += (uint32_t)w;
    }
    rest__epoll(r, i, EPOLLIN);
}

static void rest__send(lg_rest *r, uint32_t i, uint64_t now, int measured)
{
    rest_conn *c = &r->c[i];
    rest__free_remove(r, i);
    c->state = R_BUSY;
    c->measured = (uint8_t)measured;
    c->sent_ns = now;
    c->out_off = 0;
    if (c->key_off) { /* a key of its own: the counter, zero-padded, in place */
        uint64_t k = ++r->key_seq;
        for (int d = REST_KEY_DIGITS - 1; d >= 0; d--, k /= 10)
            c->req[c->key_off + (uint32_t)d] = (char)('0' + k % 10);
    }
    r->busy++;
    if (measured)
        r->st->sent++;
    else
        r->st->warmup_sent++;
    rest__write(r, i);
}

static void rest__response(lg_rest *r, uint32_t i, int status)
{
    rest_conn *c = &r->c[i];
    if (status >= 200 && status < 300) {
        if (c->measured) {
            uint64_t now = lg_now_ns();
            lg_hist_record(&r->st->hist, (now - c->sent_ns) / 1000u);
            r->st->matched++;
        }
    } else {
        r->st->errors[status == 429 ? LG_ERR_http_429
                      : status >= 500 ? LG_ERR_http_5xx
                                      : LG_ERR_http_4xx]++;
    }
    r->busy--;
    c->state = R_FREE;
    rest__free_add(r, i);
}

static void rest__readable(lg_rest *r, uint32_t i)
{
    rest_conn *c = &r->c[i];
    ssize_t n = recv(c->fd, c->in + c->in_len, REST_IN_MAX - c->in_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        rest__close(r, i, LG_ERR_server_closed, 1);
        return;
    }
    if (n < 0)
        return;
    c->in_len += (uint32_t)n;
    for (;;) {
        int status = 0, closing = 0;
        size_t total = 0;
        lg_http_rc rc = lg_http_response(c->in, c->in_len, REST_HEAD_MAX, &status, &total, &closing);
        if (rc == LG_HTTP_INCOMPLETE) {
            if (c->in_len >= REST_IN_MAX)
                rest__close(r, i, LG_ERR_http_protocol, 1);
            return;
        }
        if (rc == LG_HTTP_BAD || c->state != R_BUSY) {
            rest__close(r, i, LG_ERR_http_protocol, 1);
            return;
        }
        memmove(c->in, c->in + total, c->in_len - total);
        c->in_len -= (uint32_t)total;
        rest__response(r, i, status);
        if (closing) {
            rest__close(r, i, LG_ERR_server_closed, 1);
            return;
        }
        if (!c->in_len)
            return;
    }
}

static void rest__event(lg_rest *r, uint32_t i, uint32_t events)
{
    rest_conn *c = &r->c[i];
    if (c->state == R_TCP) {
        int err = lg_net_socket_error(c->fd);
        if (err) {
            r->connecting--;
            r->st->errors[err == ECONNREFUSED ? LG_ERR_connect_refused : LG_ERR_connect_failed]++;
            close(c->fd);
            c->fd = -1;
            c->state = R_DEAD;
            return;
        }
        r->connecting--;
        r->open++;
        c->state = R_FREE;
        rest__epoll(r, i, EPOLLIN);
        rest__free_add(r, i);
        return;
    }
    if (c->state == R_DEAD)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        rest__readable(r, i);
        if (c->state == R_DEAD || c->state == R_TCP)
            return;
    }
    if ((events & EPOLLOUT) && c->state == R_BUSY && c->out_off < c->req_len)
        rest__write(r, i);
}

static void rest__poll(lg_rest *r, struct epoll_event *evs, int timeout_ms)
{
    int n = epoll_wait(r->ep, evs, REST_EVENTS, timeout_ms);
    for (int k = 0; k < n; k++)
        rest__event(r, evs[k].data.u32, evs[k].events);
}

static int rest__build_requests(lg_rest *r)
{
    const lg_options *o = r->o;
    int64_t iat = (int64_t)time(NULL);
    int64_t exp = iat + (int64_t)o->deadline_s + 3600;
    size_t slen = strlen(o->secret);
    for (long i = 0; i < o->conns; i++) {
        char uid[64], tok[LG_JWT_MAX];
        snprintf(uid, sizeof uid, "%s%ld", o->user_prefix, i % o->users);
        if (lg_jwt_mint(tok, sizeof tok, o->secret, slen, uid, iat, exp) < 0)
            return -1;
        char *req = NULL, key[64] = "";
        int key_at = 0;
        if (o->op_ids) {
            key_at = snprintf(key, sizeof key, "Idempotency-Key: %s", o->op_prefix);
            snprintf(key + key_at, sizeof key - (size_t)key_at, "%0*d\r\n", REST_KEY_DIGITS, 0);
        }
        int head = snprintf(NULL, 0, "POST /api/users/data/patch HTTP/1.1\r\nHost: %s:%d\r\n",
                            o->host, o->port);
        int n = asprintf(&req,
                         "POST /api/users/data/patch HTTP/1.1\r\n"
                         "Host: %s:%d\r\n"
                         "%s"
                         "Authorization: Bearer %s\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: 8\r\n"
                         "\r\n"
                         "{\"xp\":1}",
                         o->host, o->port, key, tok);
        if (n < 0)
            return -1;
        r->c[i].key_off = o->op_ids ? (uint32_t)(head + key_at) : 0;
        r->c[i].req = req;
        r->c[i].req_len = (uint32_t)n;
        r->c[i].in = malloc(REST_IN_MAX);
        if (!r->c[i].in)
            return -1;
    }
    return 0;
}

int lg_rest_run(const lg_options *o, lg_stats *st)
{
    int rc = 2;
    lg_rest r;
    memset(&r, 0, sizeof r);
    r.ep = -1;
    if (lg_net_raise_nofile(o->conns + 64) != 0)
        return 2; /* no report: nothing was tried */
    r.o = o;
    r.st = st;
    st->mode = "rest";
    st->conns = o->conns;
    st->users = o->users;
    st->target_rate = o->rate;
    struct epoll_event *evs = malloc(REST_EVENTS * sizeof *evs);
    r.c = calloc((size_t)o->conns, sizeof *r.c);
    r.free = calloc((size_t)o->conns, sizeof *r.free);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!evs || !r.c || !r.free || r.ep < 0) {
        fprintf(stderr, "statsync-load: out of memory or epoll_create1 failed\n");
        goto out;
    }
    for (long i = 0; i < o->conns; i++) {
        r.c[i].fd = -1;
        r.c[i].free_pos = UINT32_MAX;
    }
    if (rest__build_requests(&r) != 0) {
        fprintf(stderr, "statsync-load: cannot build requests (out of memory or bad user id)\n");
        goto out;
    }

    /* Connect phase. */
    uint64_t t0 = lg_now_ns();
    uint64_t cend = t0 + (uint64_t)(o->connect_timeout_s * 1e9);
    long launched = 0;
    while (lg_now_ns() < cend && (launched < o->conns || r.connecting > 0) && !lg_stop_requested) {
        double allowed = o->connect_rate * (double)(lg_now_ns() - t0) / 1e9 + 1.0;
        while (launched < o->conns && (double)launched < allowed && r.connecting < o->max_connecting)
            rest__start(&r, (uint32_t)launched++);
        rest__poll(&r, evs, 1);
    }
    for (long i = 0; i < launched; i++)
        if (r.c[i].state == R_TCP)
            rest__close(&r, (uint32_t)i, LG_ERR_connect_timeout, 0);
    st->errors[LG_ERR_connect_timeout] += (uint64_t)(o->conns - launched);
    st->connected = r.open;
    st->connect_errors = o->conns - r.open;
    st->connect_s = (double)(lg_now_ns() - t0) / 1e9;
    fprintf(stderr, "{\"phase\":\"connected\",\"connected\":%ld,\"connect_errors\":%ld,"
                    "\"connect_s\":%.3f}\n",
            st->connected, st->connect_errors, st->connect_s);
    if (r.open == 0) {
        fprintf(stderr, "statsync-load: no connection got through (see the report's errors)\n");
        goto out;
    }

    /* Run: warmup, then the measured window. */
    uint64_t s0 = lg_now_ns();
    uint64_t m0 = s0 + (uint64_t)(o->warmup_s * 1e9);
    uint64_t m1 = m0 + (uint64_t)(o->duration_s * 1e9);
    double issued = 0, burst = o->rate * 0.02 < 1.0 ? 1.0 : o->rate * 0.02;
    uint64_t now;
    for (;;) {
        now = lg_now_ns();
        if (now >= m1 || lg_stop_requested)
            break;
        int measured = now >= m0;
        if (o->rate <= 0) {
            while (r.nfree)
                rest__send(&r, r.free[r.nfree - 1], now, measured);
        } else {
            double due = o->rate * (double)(now - s0) / 1e9 - issued;
            if (due > burst) {
                uint64_t skip = (uint64_t)(due - burst);
                st->send_behind += skip;
                issued += (double)skip;
                due -= (double)skip;
            }
            while (due >= 1.0) {
                due -= 1.0;
                issued += 1.0;
                if (!r.nfree) {
                    st->send_behind++;
                    continue;
                }
                rest__send(&r, r.free[r.nfree - 1], now, measured);
            }
        }
        rest__poll(&r, evs, 1);
    }
    /* Drain: answers to requests already sent. */
    st->duration_s = now > m0 ? (double)((now < m1 ? now : m1) - m0) / 1e9 : 0.0;
    uint64_t dend = lg_now_ns() + (uint64_t)(o->drain_s * 1e9);
    while (r.busy > 0 && lg_now_ns() < dend && !lg_stop_requested)
        rest__poll(&r, evs, 5);
    rc = 0;
out:
    if (r.c) {
        for (long i = 0; i < o->conns; i++) {
            if (r.c[i].fd >= 0)
                close(r.c[i].fd);
            free(r.c[i].req);
            free(r.c[i].in);
        }
    }
    if (r.ep >= 0)
        close(r.ep);
    free(r.c);
    free(r.free);
    free(evs);
    return rc;
}
