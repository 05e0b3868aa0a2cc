/* lg_sio_run.c — the Socket.IO mode's phases on one epoll loop:
 *
 *   connect  open --conns connections at --connect-rate (at most
 *            --max-connecting handshakes at once) until each is ready (joined)
 *            or dead, bounded by --connect-timeout;
 *   run      --rate 0: hold the connections idle for warmup + duration;
 *            else send user:clientUpdate at a fixed total rate, round-robin over
 *            the users with a ready connection, each user's sends rotating
 *            over its ready devices (one token bucket, no per-connection
 *            timers); sends after --warmup and before its end are measured;
 *   drain    wait up to --drain for the pushes of measured sends (on every
 *            device of their user).
 *
 * Threads: one (the caller's). */
#include "lg_net.h"
#include "lg_sio_mode.h"
#include "lg_ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define RUN_EVENTS 1024

static void run__poll(lg_sio *s, struct epoll_event *evs, int timeout_ms)
{
    int n = epoll_wait(s->ep, evs, RUN_EVENTS, timeout_ms);
    for (int k = 0; k < n; k++)
        lg_sio_conn_event(s, evs[k].data.u32, evs[k].events);
}

static void run__progress(lg_sio *s, const char *phase, uint64_t t0, uint64_t *last)
{
    uint64_t now = lg_now_ns();
    if (!s->o->progress || now - *last < 1000000000ull)
        return;
    *last = now;
    fprintf(stderr,
            "{\"t\":%.1f,\"phase\":\"%s\",\"ready\":%u,\"connecting\":%ld,\"failed\":%ld,"
            "\"sent\":%llu,\"matched\":%llu,\"pushes\":%llu,\"errors\":%llu}\n",
            (double)(now - t0) / 1e9, phase, s->nready, s->connecting, s->failed,
            (unsigned long long)(s->st->sent + s->st->warmup_sent),
            (unsigned long long)s->st->matched, (unsigned long long)s->st->pushes,
            (unsigned long long)lg_stats_error_total(s->st));
}

static void run__connect_phase(lg_sio *s, struct epoll_event *evs)
{
    const lg_options *o = s->o;
    uint64_t t0 = lg_now_ns(), last = t0;
    uint64_t end = t0 + (uint64_t)(o->connect_timeout_s * 1e9);
    for (;;) {
        uint64_t now = lg_now_ns();
        if (s->launched == o->conns && s->connecting == 0)
            break;
        if (now >= end || lg_stop_requested)
            break;
        double allowed = o->connect_rate * (double)(now - t0) / 1e9 + 1.0;
        while (s->launched < o->conns && (double)s->launched < allowed &&
               s->connecting < o->max_connecting)
            lg_sio_conn_start(s, (uint32_t)s->launched++);
        run__poll(s, evs, 1);
        run__progress(s, "connect", t0, &last);
    }
    /* Whatever has not made it by now counts as a connect timeout. */
    for (long i = 0; i < s->launched; i++) {
        uint8_t st = s->conns[i].state;
        if (st != LG_C_READY && st != LG_C_DEAD)
            lg_sio_conn_fail(s, (uint32_t)i, LG_ERR_connect_timeout);
    }
    s->st->errors[LG_ERR_connect_timeout] += (uint64_t)(o->conns - s->launched);
    s->failed += o->conns - s->launched;
    s->st->connected = s->nready;
    s->st->connect_errors = o->conns - s->nready;
    s->st->connect_s = (double)(lg_now_ns() - t0) / 1e9;
    fprintf(stderr, "{\"phase\":\"connected\",\"connected\":%ld,\"connect_errors\":%ld,"
                    "\"connect_s\":%.3f}\n",
            s->st->connected, s->st->connect_errors, s->st->connect_s);
}

/* Returns the seconds actually held. */
static double run__hold(lg_sio *s, struct epoll_event *evs, double seconds)
{
    uint64_t t0 = lg_now_ns(), last = t0, end = t0 + (uint64_t)(seconds * 1e9);
    while (lg_now_ns() < end && !lg_stop_requested) {
        run__poll(s, evs, 50);
        run__progress(s, "hold", t0, &last);
    }
    return (double)(lg_now_ns() - t0) / 1e9;
}

/* Returns the length of the measured window actually run (seconds). */
static double run__load(lg_sio *s, struct epoll_event *evs)
{
    const lg_options *o = s->o;
    uint64_t t0 = lg_now_ns(), last = t0;
    uint64_t m0 = t0 + (uint64_t)(o->warmup_s * 1e9);
    uint64_t m1 = m0 + (uint64_t)(o->duration_s * 1e9);
    /* Up to 20 ms of sends may be issued late in one go; a loop further
     * behind than that skips them (send_behind) rather than bursting. */
    double burst = o->rate * 0.02 < 1.0 ? 1.0 : o->rate * 0.02;
    double issued = 0;
    uint32_t rr = 0;
    uint64_t now;
    for (;;) {
        now = lg_now_ns();
        if (now >= m1 || lg_stop_requested)
            break;
        double due = o->rate * (double)(now - t0) / 1e9 - issued;
        if (due > burst) {
            s->st->send_behind += (uint64_t)(due - burst);
            issued += (double)(uint64_t)(due - burst);
            due -= (double)(uint64_t)(due - burst);
        }
        int measured = now >= m0;
        while (due >= 1.0) {
            due -= 1.0;
            issued += 1.0;
            if (s->nready_users == 0) {
                s->st->send_behind++;
                continue;
            }
            if (rr >= s->nready_users)
                rr = 0;
            lg_sio_user_send_update(s, s->ready_users[rr++], now, measured);
        }
        run__poll(s, evs, 1);
        run__progress(s, now >= m0 ? "run" : "warmup", t0, &last);
    }
    return now > m0 ? (double)((now < m1 ? now : m1) - m0) / 1e9 : 0.0;
}

static void run__drain(lg_sio *s, struct epoll_event *evs)
{
    uint64_t t0 = lg_now_ns(), last = t0, end = t0 + (uint64_t)(s->o->drain_s * 1e9);
    while (s->open_measured > 0 && lg_now_ns() < end && !lg_stop_requested) {
        run__poll(s, evs, 5);
        run__progress(s, "drain", t0, &last);
    }
}

int lg_sio_run(const lg_options *o, lg_stats *st)
{
    int rc = 2;
    lg_sio s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.st = st;
    s.ep = -1;
    if (lg_net_raise_nofile(o->conns + 64) != 0)
        return 2; /* no report: nothing was tried */
    st->mode = "sio";
    st->conns = o->conns;
    st->users = o->users;
    st->devices = o->devices;
    st->target_rate = o->rate;
    s.conns = calloc((size_t)o->conns, sizeof *s.conns);
    s.users = calloc((size_t)o->users, sizeof *s.users);
    s.ready_users = calloc((size_t)o->users, sizeof *s.ready_users);
    s.rbuf = malloc(LG_RBUF);
    struct epoll_event *evs = malloc(RUN_EVENTS * sizeof *evs);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!s.conns || !s.users || !s.ready_users || !s.rbuf || !evs || s.ep < 0) {
        fprintf(stderr, "statsync-load: out of memory or epoll_create1 failed\n");
        goto out;
    }
    for (long i = 0; i < o->conns; i++) {
        s.conns[i].fd = -1;
        s.conns[i].user = lg_group_user_of(o, (uint32_t)i);
    }
    for (long u = 0; u < o->users; u++) {
        s.users[u].next = INT64_MIN;
        s.users[u].ready_pos = LG_USER_NOT_READY;
    }
    uint64_t seed = lg_now_ns() ^ ((uint64_t)getpid() << 32);
    s.rng = seed | 1;
    char key[25];
    lg_ws_make_key(key, seed);
    lg_ws_accept_for_key(key, s.accept);
    s.hs_len = lg_ws_handshake_request(s.hs_req, sizeof s.hs_req, o->host, o->port, o->path, key);
    if (!s.hs_len) {
        fprintf(stderr, "statsync-load: --path too long\n");
        goto out;
    }
    s.secret_len = strlen(o->secret);
    s.iat = (int64_t)time(NULL);
    s.exp = s.iat + (int64_t)o->deadline_s + 3600;

    run__connect_phase(&s, evs);
    if (st->connected == 0) {
        fprintf(stderr, "statsync-load: no connection got through (see the report's errors)\n");
        goto out;
    }
    if (o->rate <= 0) {
        st->duration_s = run__hold(&s, evs, o->warmup_s + o->duration_s);
    } else {
        st->duration_s = run__load(&s, evs);
        run__drain(&s, evs);
    }
    rc = 0;
out:
    if (s.conns) {
        for (long i = 0; i < o->conns; i++) {
            lg_conn *c = &s.conns[i];
            if (c->fd >= 0)
                close(c->fd);
            free(c->in);
            free(c->out);
        }
    }
    for (long u = 0; s.users && u < o->users; u++)
        free(s.users[u].pend);
    if (s.ep >= 0)
        close(s.ep);
    free(s.conns);
    free(s.users);
    free(s.ready_users);
    free(s.rbuf);
    free(evs);
    return rc;
}
