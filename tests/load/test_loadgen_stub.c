/* test_loadgen_stub.c — statsync-load's event loops against a stub server in
 * a thread of this process: websocket upgrade, Engine.IO open and pings,
 * Socket.IO CONNECT with a checked token, presence:join, and pushes that are
 * deliberately coalesced (one push can complete several updates), to every
 * connection of the user (so --devices can be checked: which connections
 * are one user's, and a device that never gets its push); plus a keep-alive
 * HTTP stub for REST mode that keeps every Idempotency-Key it is sent. No statsync binary is involved: this
 * checks the generator's side of the protocol on its own. */
#include "lg_jwt.h"
#include "lg_options.h"
#include "lg_rest.h"
#include "lg_sio_mode.h"
#include "lg_stats.h"
#include "lg_ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>

#define SECRET "stub-secret-0123456789abcdef"
#define STUB_MAX 256
#define STUB_USERS 1024

typedef struct stub_conn {
    int fd;
    int ws;      /* past the upgrade */
    int user;    /* -1 until CONNECT */
    int nth;     /* this is the user's nth connection to CONNECT (from 1) */
    size_t len;
    uint8_t buf[65536];
} stub_conn;

typedef struct stub {
    int lfd;
    int port;
    int stop_pipe[2];
    pthread_t th;
    stub_conn *c[STUB_MAX + 1];
    int64_t xp[STUB_USERS];
    int dirty[STUB_USERS];    /* xp changed, push not sent yet (coalescing) */
    long updates[STUB_USERS];
    long pongs, pushes, patches, connects_refused;
    int refuse_every;         /* refuse every n-th update of a user (user:error 429) */
    long refused;
    long conns_of[STUB_USERS]; /* connections that CONNECTed as each user */
    long updates_of[STUB_USERS]; /* user:clientUpdate received per user */
    long dev_updates[64][8];  /* updates per (user, nth connection), users < 64, nth < 8 */
    int mute_user, mute_nth;  /* pushes never reach that connection of that user (0: none) */
    long muted_updates;       /* updates sent on the muted connection */
    long keyless;             /* REST patches without an Idempotency-Key */
    long nkeys;
    char keys[4096][48];      /* the Idempotency-Keys, in arrival order */
} stub;

static void stub__send_text(int fd, const char *txt)
{
    size_t n = strlen(txt);
    uint8_t hdr[4];
    size_t hl;
    hdr[0] = 0x81;
    if (n < 126) {
        hdr[1] = (uint8_t)n;
        hl = 2;
    } else {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(n >> 8);
        hdr[3] = (uint8_t)n;
        hl = 4;
    }
    uint8_t out[1024];
    memcpy(out, hdr, hl);
    memcpy(out + hl, txt, n);
    ssize_t w = send(fd, out, hl + n, MSG_NOSIGNAL);
    (void)w;
}

static void stub__push_user(stub *s, int u)
{
    char msg[256];
    snprintf(msg, sizeof msg,
             "42[\"user:data:updated\",{\"userId\":\"u%d\",\"lastGameResults\":{\"xp\":-1},"
             "\"xp\":%lld,\"version\":%ld}]",
             u, (long long)s->xp[u], s->updates[u]);
    for (int k = 1; k <= STUB_MAX; k++)
        if (s->c[k] && s->c[k]->user == u) {
            if (u == s->mute_user && s->c[k]->nth == s->mute_nth)
                continue; /* a device whose push is lost */
            stub__send_text(s->c[k]->fd, msg);
            s->pushes++;
        }
    s->dirty[u] = 0;
}

static void stub__ws_text(stub *s, stub_conn *c, const char *p, size_t n)
{
    char msg[256];
    if (n == 1 && p[0] == '3') {
        s->pongs++;
    } else if (n > 11 && memcmp(p, "40{\"token\":\"", 12) == 0) {
        char tok[512];
        size_t tl = n - 12 - 2;
        memcpy(tok, p + 12, tl);
        tok[tl] = '\0';
        jwt_t *j = NULL;
        if (jwt_decode(&j, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)) != 0) {
            s->connects_refused++;
            stub__send_text(c->fd, "44{\"message\":\"invalid token\"}");
            return;
        }
        c->user = atoi(jwt_get_grant(j, "sub") + 1);
        jwt_free(j);
        c->nth = (int)++s->conns_of[c->user];
        stub__send_text(c->fd, "40{\"sid\":\"stub\"}");
    } else if (n > 20 && memcmp(p, "42[\"presence:join\"", 18) == 0) {
        snprintf(msg, sizeof msg, "42[\"user:data:updated\",{\"userId\":\"u%d\",\"xp\":%lld}]",
                 c->user, (long long)s->xp[c->user]);
        stub__send_text(c->fd, msg);
    } else if (n > 20 && memcmp(p, "42[\"user:clientUpdate\"", 22) == 0) {
        int u = c->user;
        s->updates_of[u]++;
        if (u < 64 && c->nth < 8)
            s->dev_updates[u][c->nth]++;
        if (u == s->mute_user && c->nth == s->mute_nth)
            s->muted_updates++;
        if (s->refuse_every && ++s->updates[u] % s->refuse_every == 0) {
            s->refused++;
            stub__send_text(c->fd, "42[\"user:error\",{\"event\":\"user:clientUpdate\","
                                   "\"error\":{\"code\":\"rate_limited\",\"message\":\"slow down\","
                                   "\"status\":429}}]");
            return;
        }
        if (s->refuse_every)
            s->updates[u]--; /* keep the coalescing pattern of the plain runs */
        s->xp[u]++;
        s->updates[u]++;
        s->dirty[u] = 1;
        if (s->updates[u] % 3 != 1) /* coalesce: some updates wait for the next push */
            stub__push_user(s, u);
    }
}

static int stub__http(stub *s, stub_conn *c)
{
    char *head_end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!head_end)
        return 0;
    size_t head = (size_t)(head_end - (char *)c->buf) + 4;
    if (memcmp(c->buf, "GET /socket.io/", 15) == 0) {
        char *k = memmem(c->buf, head, "Sec-WebSocket-Key: ", 19);
        if (!k)
            return -1;
        char key[64];
        char *ke = memchr(k + 19, '\r', head);
        memcpy(key, k + 19, (size_t)(ke - (k + 19)));
        key[ke - (k + 19)] = '\0';
        char acc[29], resp[256];
        lg_ws_accept_for_key(key, acc);
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                 acc);
        ssize_t w = send(c->fd, resp, strlen(resp), MSG_NOSIGNAL);
        (void)w;
        stub__send_text(c->fd, "0{\"sid\":\"stub\",\"upgrades\":[],\"pingInterval\":25000,"
                               "\"pingTimeout\":20000,\"maxPayload\":1000000}");
        stub__send_text(c->fd, "2"); /* a ping straight away: the client must answer */
        c->ws = 1;
        memmove(c->buf, c->buf + head, c->len - head);
        c->len -= head;
        return 1;
    }
    /* REST: POST with a Content-Length body and a Bearer token. */
    char *cl = memmem(c->buf, head, "Content-Length: ", 16);
    size_t body = cl ? (size_t)atoi(cl + 16) : 0;
    if (c->len < head + body)
        return 0;
    char *auth = memmem(c->buf, head, "Authorization: Bearer ", 22);
    int ok = 0;
    if (auth) {
        char tok[512];
        char *te = memchr(auth + 22, '\r', head);
        memcpy(tok, auth + 22, (size_t)(te - (auth + 22)));
        tok[te - (auth + 22)] = '\0';
        jwt_t *j = NULL;
        ok = jwt_decode(&j, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)) == 0;
        jwt_free(j);
    }
    char *key = memmem(c->buf, head, "Idempotency-Key: ", 17);
    if (!key) {
        s->keyless++;
    } else if (s->nkeys < 4096) {
        char *ke = memchr(key + 17, '\r', head);
        size_t kl = (size_t)(ke - (key + 17));
        snprintf(s->keys[s->nkeys++], sizeof s->keys[0], "%.*s", (int)kl, key + 17);
    }
    const char *resp = ok ? "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 16\r\n\r\n{\"success\":true}"
                          : "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n";
    s->patches++;
    ssize_t w = send(c->fd, resp, strlen(resp), MSG_NOSIGNAL);
    (void)w;
    memmove(c->buf, c->buf + head + body, c->len - head - body);
    c->len -= head + body;
    return 1;
}

static void stub__close(stub *s, int k)
{
    close(s->c[k]->fd);
    free(s->c[k]);
    s->c[k] = NULL;
}

static void stub__input(stub *s, int k)
{
    stub_conn *c = s->c[k];
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0) {
        stub__close(s, k);
        return;
    }
    c->len += (size_t)r;
    for (;;) {
        if (!c->ws) {
            int h = stub__http(s, c);
            if (h < 0) {
                stub__close(s, k);
                return;
            }
            if (h == 0)
                return;
            continue;
        }
        lg_ws_frame f;
        ssize_t used = lg_ws_decode(c->buf, c->len, sizeof c->buf, &f);
        if (used == 0)
            return;
        if (used < 0) {
            stub__close(s, k);
            return;
        }
        if (f.opcode == LG_WS_OP_TEXT)
            stub__ws_text(s, c, (const char *)f.payload, f.len);
        memmove(c->buf, c->buf + used, c->len - (size_t)used);
        c->len -= (size_t)used;
    }
}

static void *stub__main(void *arg)
{
    stub *s = arg;
    for (;;) {
        struct pollfd pf[STUB_MAX + 2];
        int idx[STUB_MAX + 2];
        int n = 0;
        pf[n].fd = s->stop_pipe[0];
        pf[n++].events = POLLIN;
        pf[n].fd = s->lfd;
        pf[n++].events = POLLIN;
        for (int k = 1; k <= STUB_MAX; k++)
            if (s->c[k]) {
                idx[n] = k;
                pf[n].fd = s->c[k]->fd;
                pf[n++].events = POLLIN;
            }
        int r = poll(pf, (nfds_t)n, 5);
        if (r < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            break;
        if (pf[1].revents & POLLIN) {
            int fd = accept(s->lfd, NULL, NULL);
            int nodelay = 1; /* many small pushes per socket: no Nagle/delayed-ACK stalls */
            if (fd >= 0)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
            int slot = 0;
            for (int k = 1; k <= STUB_MAX && fd >= 0; k++)
                if (!s->c[k]) {
                    slot = k;
                    break;
                }
            if (slot) {
                s->c[slot] = calloc(1, sizeof(stub_conn));
                s->c[slot]->fd = fd;
                s->c[slot]->user = -1;
            } else if (fd >= 0) {
                close(fd);
            }
        }
        for (int q = 2; q < n; q++)
            if (pf[q].revents && s->c[idx[q]] && s->c[idx[q]]->fd == pf[q].fd)
                stub__input(s, idx[q]);
        /* Flush coalesced changes (what a server's push batching does). */
        for (int u = 0; u < STUB_USERS; u++)
            if (s->dirty[u])
                stub__push_user(s, u);
    }
    for (int k = 1; k <= STUB_MAX; k++)
        if (s->c[k])
            stub__close(s, k);
    return NULL;
}

static int stub_start(void **state)
{
    stub *s = calloc(1, sizeof *s);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 512) != 0)
        return -1;
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    for (int u = 0; u < STUB_USERS; u++)
        s->xp[u] = 1000 + u; /* users start with some xp: the generator must read it */
    if (pipe(s->stop_pipe) != 0)
        return -1;
    pthread_create(&s->th, NULL, stub__main, s);
    *state = s;
    return 0;
}

static int stub_stop(void **state)
{
    stub *s = *state;
    ssize_t w = write(s->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(s->th, NULL);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    free(s);
    return 0;
}

/* Between runs (no client connected): forget who connected and what they sent. */
static void stub_reset_counts(stub *s)
{
    memset(s->conns_of, 0, sizeof s->conns_of);
    memset(s->updates_of, 0, sizeof s->updates_of);
    memset(s->dev_updates, 0, sizeof s->dev_updates);
    s->mute_user = s->mute_nth = 0;
    s->muted_updates = s->keyless = s->nkeys = 0;
}

/* Parses a command line (NULL-terminated list) into o. */
static void opts(lg_options *o, stub *s, const char *secret, ...)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[40] = {"statsync-load", "--port", port, "--secret", secret};
    int argc = 5;
    va_list ap;
    va_start(ap, secret);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL)
        argv[argc++] = a;
    va_end(ap);
    optind = 1;
    assert_int_equal(lg_options_parse(o, argc, (char **)argv), 0);
}

/* A fresh report for one run (large: on the heap); free() it. */
static lg_stats *stats_new(void)
{
    lg_stats *st = malloc(sizeof *st);
    assert_non_null(st);
    lg_stats_init(st);
    return st;
}

static void sio_run_matches_every_update(void **state)
{
    stub *s = *state;
    lg_options o;
    opts(&o, s, SECRET, "--conns", "60", "--users", "20", "--rate", "600", "--duration", "1",
         "--warmup", "0.3", "--src-ips", "3", "--op-ids", NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_sio_run(&o, st), 0);
    assert_int_equal(st->connected, 60);
    assert_int_equal(st->connect_errors, 0);
    assert_int_equal(lg_stats_error_total(st), 0);
    /* Counts only, never speed: a loaded machine may send fewer. */
    assert_true(st->sent > 0);
    assert_true(st->sent + st->warmup_sent + st->send_behind <= 780 + 2); /* 600/s x 1.3 s */
    assert_int_equal(st->matched, st->sent);
    assert_int_equal(st->hist.total, st->matched);
    assert_true(st->pushes > st->matched); /* 3 sockets per user see every push */
    assert_true(s->pongs >= 60);
    lg_report_write(stdout, st);
    free(st);
}

/* --devices 3: connections i = 3u..3u+2 are user u's three devices (10
 * connections: the fourth user has one); updates go round-robin over the
 * users, each user's rotating over its devices; each is timed to its
 * sender's own push and until every device of the user had one. */
static void sio_devices_group_and_time_every_device(void **state)
{
    stub *s = *state;
    stub_reset_counts(s);
    lg_options o;
    opts(&o, s, SECRET, "--conns", "10", "--devices", "3", "--rate", "300", "--duration", "1",
         "--warmup", "0.2", "--op-ids", NULL);
    assert_int_equal(o.users, 4);
    lg_stats *st = stats_new();
    assert_int_equal(lg_sio_run(&o, st), 0);
    assert_int_equal(st->connected, 10);
    assert_int_equal(lg_stats_error_total(st), 0);
    for (int u = 0; u < 3; u++)
        assert_int_equal(s->conns_of[u], 3); /* three devices each,    */
    assert_int_equal(s->conns_of[3], 1);     /* what is left for u3,   */
    assert_int_equal(s->conns_of[4], 0);     /* and no fifth user      */
    long total = 0;
    for (int u = 0; u < 4; u++) {
        total += s->updates_of[u];
        /* round-robin over users, and over each user's devices */
        assert_true(labs(s->updates_of[u] - s->updates_of[0]) <= 1);
        for (int d = 1; d <= s->conns_of[u]; d++)
            assert_true(labs(s->dev_updates[u][d] - s->updates_of[u] / s->conns_of[u]) <= 1);
    }
    assert_int_equal((uint64_t)total, st->sent + st->warmup_sent);
    assert_true(st->sent > 0);
    assert_int_equal(st->matched, st->sent);
    assert_int_equal(st->all_matched, st->sent);
    assert_int_equal(st->hist.total, st->sent);
    assert_int_equal(st->all_hist.total, st->sent);
    /* each update's last device is never earlier than its sender */
    assert_true(lg_hist_percentile(&st->all_hist, 50) >= lg_hist_percentile(&st->hist, 50));
    assert_true(lg_hist_percentile(&st->all_hist, 99) >= lg_hist_percentile(&st->hist, 99));
    assert_true(st->all_hist.max >= st->hist.max);
    lg_report_write(stdout, st);
    free(st);
}

/* A device that never gets the pushes: every update of its user stays
 * unmatched for all devices, and the ones sent on it for its own push too;
 * the other users' updates are all matched. */
static void sio_devices_missing_push_is_unmatched(void **state)
{
    stub *s = *state;
    stub_reset_counts(s);
    s->mute_user = 1;
    s->mute_nth = 2;
    lg_options o;
    opts(&o, s, SECRET, "--conns", "9", "--devices", "3", "--rate", "300", "--duration", "1",
         "--warmup", "0", "--drain", "0.5", NULL);
    lg_stats *st = stats_new();
    int rc = lg_sio_run(&o, st);
    long muted = s->muted_updates, of_user = s->updates_of[1];
    stub_reset_counts(s);
    assert_int_equal(rc, 0);
    assert_int_equal(st->connected, 9);
    assert_int_equal(lg_stats_error_total(st), 0);
    assert_true(muted > 0);
    assert_int_equal(st->sent + st->warmup_sent, st->sent); /* no warm-up: all measured */
    assert_int_equal(st->sent - st->matched, (uint64_t)muted);
    assert_int_equal(st->sent - st->all_matched, (uint64_t)of_user);
    assert_int_equal(st->hist.total, st->matched);
    assert_int_equal(st->all_hist.total, st->all_matched);
    free(st);
}

static void sio_refusals_keep_the_count_exact(void **state)
{
    stub *s = *state;
    s->refuse_every = 7;
    s->refused = 0;
    lg_options o;
    opts(&o, s, SECRET, "--conns", "30", "--users", "30", "--user-prefix", "u", "--rate", "300",
         "--duration", "1", "--warmup", "0", NULL);
    lg_stats *st = stats_new();
    int rc = lg_sio_run(&o, st);
    s->refuse_every = 0;
    assert_int_equal(rc, 0);
    assert_int_equal(st->connected, 30);
    assert_true(s->refused > 0);
    assert_int_equal(st->errors[LG_ERR_rate_limited], s->refused);
    assert_int_equal(lg_stats_error_total(st), s->refused);
    /* Every update the stub applied was matched; only the refused ones were not. */
    assert_int_equal(st->matched, st->sent - (uint64_t)s->refused);
    free(st);
}

static void sio_idle_hold(void **state)
{
    stub *s = *state;
    lg_options o;
    opts(&o, s, SECRET, "--conns", "30", "--rate", "0", "--duration", "0.2", "--warmup", "0",
         NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_sio_run(&o, st), 0);
    assert_int_equal(st->connected, 30);
    assert_int_equal(st->sent, 0);
    assert_int_equal(lg_stats_error_total(st), 0);
    free(st);
}

static void sio_refused_connect_is_counted(void **state)
{
    stub *s = *state;
    lg_options o;
    opts(&o, s, "wrong-secret-0123456789", "--conns", "5", "--duration", "0.1", NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_sio_run(&o, st), 2); /* nothing got through: setup failure */
    assert_int_equal(st->connected, 0);
    assert_int_equal(st->connect_errors, 5);
    assert_int_equal(st->errors[LG_ERR_sio_connect_refused], 5);
    free(st);
}

static void sio_nothing_listening(void **state)
{
    (void)state;
    stub dead = {.port = 1}; /* port 1: nothing listens there */
    lg_options o;
    opts(&o, &dead, SECRET, "--conns", "3", "--duration", "0.1", "--connect-timeout", "2", NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_sio_run(&o, st), 2);
    assert_int_equal(st->errors[LG_ERR_connect_refused], 3);
    free(st);
}

static void rest_closed_loop(void **state)
{
    stub *s = *state;
    stub_reset_counts(s);
    lg_options o;
    opts(&o, s, SECRET, "--mode", "rest", "--conns", "4", "--duration", "0.5", "--warmup", "0.1",
         NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_rest_run(&o, st), 0);
    assert_int_equal(st->connected, 4);
    assert_int_equal(lg_stats_error_total(st), 0);
    assert_true(st->matched > 0);
    assert_int_equal(st->matched, st->sent);
    assert_int_equal(s->nkeys, 0); /* no Idempotency-Key unless asked for */
    assert_true(s->keyless > 0);
    free(st);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* --op-ids in REST mode: every patch carries an Idempotency-Key of its own. */
static void rest_idempotency_keys_are_unique(void **state)
{
    stub *s = *state;
    stub_reset_counts(s);
    lg_options o;
    opts(&o, s, SECRET, "--mode", "rest", "--conns", "4", "--rate", "400", "--duration", "0.5",
         "--warmup", "0", "--idempotency-keys", NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_rest_run(&o, st), 0);
    assert_int_equal(lg_stats_error_total(st), 0);
    assert_true(st->matched > 10);
    assert_int_equal(s->keyless, 0);
    assert_int_equal(s->nkeys, (long)st->matched);
    qsort(s->keys, (size_t)s->nkeys, sizeof s->keys[0], cmp_str);
    for (long k = 0; k < s->nkeys; k++) {
        assert_true(strncmp(s->keys[k], o.op_prefix, strlen(o.op_prefix)) == 0);
        assert_true(strlen(s->keys[k]) >= 1 && strlen(s->keys[k]) <= 128);
        if (k)
            assert_true(strcmp(s->keys[k - 1], s->keys[k]) != 0);
    }
    free(st);
}

static void rest_open_loop_and_401(void **state)
{
    stub *s = *state;
    lg_options o;
    opts(&o, s, "wrong-secret-0123456789", "--mode", "rest", "--conns", "2", "--rate", "100",
         "--duration", "0.3", "--warmup", "0", NULL);
    lg_stats *st = stats_new();
    assert_int_equal(lg_rest_run(&o, st), 0);
    assert_int_equal(st->matched, 0);
    assert_true(st->errors[LG_ERR_http_4xx] > 0);
    assert_int_equal(st->errors[LG_ERR_http_4xx], st->sent + st->warmup_sent);
    free(st);
}

static void options_refuse_remote_targets(void **state)
{
    (void)state;
    lg_options o;
    const char *bad[] = {"10.0.0.1", "192.168.1.1", "8.8.8.8", "example.com", "::2", "0.0.0.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *argv[] = {"statsync-load", "--host", bad[i], "--secret", "x"};
        optind = 1;
        assert_int_equal(lg_options_parse(&o, 5, (char **)argv), -1);
    }
    const char *good[] = {"127.0.0.1", "127.1.2.3", "localhost", "::1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *argv[] = {"statsync-load", "--host", good[i], "--secret", "x"};
        optind = 1;
        assert_int_equal(lg_options_parse(&o, 5, (char **)argv), 0);
    }
    const char *many[] = {"statsync-load", "--secret", "x", "--conns", "100000"};
    optind = 1;
    assert_int_equal(lg_options_parse(&o, 5, (char **)many), 0);
    assert_int_equal(o.src_ips, 5); /* one source address per 20 000 connections */
    assert_int_equal(o.users, 100000);
}

static void options_devices(void **state)
{
    (void)state;
    lg_options o;
    const char *ten[] = {"statsync-load", "--secret", "x", "--conns", "10", "--devices", "3"};
    optind = 1;
    assert_int_equal(lg_options_parse(&o, 7, (char **)ten), 0);
    assert_int_equal(o.users, 4); /* the last user has one device */
    const char *both[] = {"statsync-load", "--secret", "x", "--devices", "3", "--users", "5"};
    optind = 1;
    assert_int_equal(lg_options_parse(&o, 7, (char **)both), -1);
    const char *many[] = {"statsync-load", "--secret", "x", "--devices", "33"};
    optind = 1;
    assert_int_equal(lg_options_parse(&o, 5, (char **)many), -1);
    const char *crowd[] = {"statsync-load", "--secret", "x", "--conns", "100", "--users", "3"};
    optind = 1;
    assert_int_equal(lg_options_parse(&o, 7, (char **)crowd), -1); /* 34 conns for one user */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sio_run_matches_every_update),
        cmocka_unit_test(sio_devices_group_and_time_every_device),
        cmocka_unit_test(sio_devices_missing_push_is_unmatched),
        cmocka_unit_test(sio_refusals_keep_the_count_exact),
        cmocka_unit_test(sio_idle_hold),
        cmocka_unit_test(sio_refused_connect_is_counted),
        cmocka_unit_test(sio_nothing_listening),
        cmocka_unit_test(rest_closed_loop),
        cmocka_unit_test(rest_idempotency_keys_are_unique),
        cmocka_unit_test(rest_open_loop_and_401),
        cmocka_unit_test(options_refuse_remote_targets),
        cmocka_unit_test(options_devices),
    };
    return cmocka_run_group_tests(tests, stub_start, stub_stop);
}
