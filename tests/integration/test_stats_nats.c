/* test_stats_nats.c — the real statsync-stats binary against a real
 * nats-server, spoken to with cnats + protobuf-c, as the gateway does:
 * defaults for a never-written user, a delta and its ChangeEvent, an
 * idempotent repeat, a change answered by its event alone (reply_in_event),
 * refusals, 200 concurrent xp:+1 (sum exactly 200),
 * health over NATS and HTTP, durability of every acknowledged write across
 * kill -9, a SIGTERM drain, and storage_full on a tiny map that recovers
 * after a restart with a larger one.
 *
 * Binaries: nats-server from PATH; $STATSYNC_BIN_DIR/stats-service/statsync-stats.
 * Every wait is bounded; children are killed on every exit path (group
 * teardown, atexit, fatal signals, an alarm, and PR_SET_PDEATHSIG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_partition.h"
#include "ss_subjects.h"
#include "statsync.pb-c.h"
#include "test_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define REQ_TIMEOUT_MS 5000
#define TEST_ALARM_S 240

/* ---- clocks ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- child processes ---- */

#define MAX_CHILDREN 8
static volatile pid_t children[MAX_CHILDREN];

static void children_add(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
}

static void children_forget(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

static void children_kill_all(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
}

static void on_fatal_signal(int sig)
{
    children_kill_all(); /* kill + waitpid are async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* fork + exec with stdout/stderr appended to log; env NULL = inherit. */
static pid_t spawn(const char *file, char *const argv[], char *const env[], const char *log)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (env)
            execvpe(file, argv, env);
        else
            execvp(file, argv);
        _exit(127);
    }
    children_add(pid);
    return pid;
}

/* Sends sig, waits up to timeout_ms, then SIGKILL. Returns the wait status. */
static int stop_proc(pid_t pid, int sig, int64_t timeout_ms)
{
    int status = 0;
    kill(pid, sig);
    int64_t end = mono_ms() + timeout_ms;
    while (mono_ms() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            children_forget(pid);
            return status;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    children_forget(pid);
    return status;
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool wait_port(int port, int64_t timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    while (mono_ms() < end) {
        int fd = tcp_connect(port);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        usleep(20000);
    }
    return false;
}

/* Minimal HTTP/1.0 GET; returns the status and a malloc'ed body (caller frees). */
static int http_get(int port, const char *path, char **body)
{
    *body = NULL;
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = -1;
    sscanf(buf, "HTTP/%*s %d", &status);
    char *sep = strstr(buf, "\r\n\r\n");
    *body = strdup(sep ? sep + 4 : "");
    free(buf);
    return status;
}

/* ---- the system under test ---- */

typedef struct sut {
    char tmp[64];
    char data_dir[128];
    char url[64];
    int nats_port, admin_port;
    pid_t nats_pid, stats_pid;
    const char *stats_bin;
    natsConnection *nc;
} sut;

static sut S;

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* environ without STATSYNC_*, plus the given overrides. Static storage. */
static char **stats_env(const char *data_dir, const char *map_mb)
{
    static char *env[512];
    static char vars[6][256];
    size_t n = 0;
    for (char **e = environ; *e && n < 490; e++)
        if (strncmp(*e, "STATSYNC_", 9) != 0)
            env[n++] = *e;
    snprintf(vars[0], sizeof(vars[0]), "STATSYNC_NATS_URL=%s", S.url);
    snprintf(vars[1], sizeof(vars[1]), "STATSYNC_DATA_DIR=%s", data_dir);
    snprintf(vars[2], sizeof(vars[2]), "STATSYNC_ADMIN_PORT=%d", S.admin_port);
    snprintf(vars[3], sizeof(vars[3]), "STATSYNC_LOG_LEVEL=info");
    snprintf(vars[4], sizeof(vars[4]), "STATSYNC_MAP_SIZE_MB=%s", map_mb ? map_mb : "64");
    snprintf(vars[5], sizeof(vars[5]), "STATSYNC_SHUTDOWN_GRACE_MS=10000");
    for (int i = 0; i < 6; i++)
        env[n++] = vars[i];
    env[n] = NULL;
    return env;
}

static bool health_ok(int64_t timeout_ms);

/* Starts statsync-stats on data_dir and waits until it answers. */
static void start_stats(const char *data_dir, const char *map_mb)
{
    char log[160];
    snprintf(log, sizeof(log), "%s/stats.log", S.tmp);
    char *argv[] = {(char *)S.stats_bin, NULL};
    S.stats_pid = spawn(S.stats_bin, argv, stats_env(data_dir, map_mb), log);
    assert_true(S.stats_pid > 0);
    assert_true(wait_port(S.admin_port, 20000));
    assert_true(health_ok(20000));
}

static void dump_log(const char *name)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", S.tmp, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 4000 ? size - 4000 : 0, SEEK_SET);
    char buf[4001];
    size_t n = fread(buf, 1, 4000, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "==== %s (tail) ====\n%s\n", name, buf);
}

static int group_setup(void **state)
{
    (void)state;
    const char *bin_dir = getenv("STATSYNC_BIN_DIR");
    if (bin_dir == NULL) {
        fprintf(stderr, "STATSYNC_BIN_DIR not set\n");
        return -1;
    }
    static char bin[512];
    snprintf(bin, sizeof(bin), "%s/stats-service/statsync-stats", bin_dir);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "%s is not executable\n", bin);
        return -1;
    }
    S.stats_bin = bin;
    atexit(children_kill_all);
    signal(SIGALRM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGPIPE, SIG_IGN);
    alarm(TEST_ALARM_S);

    strcpy(S.tmp, "/tmp/statsync-it-XXXXXX");
    if (mkdtemp(S.tmp) == NULL)
        return -1;
    snprintf(S.data_dir, sizeof(S.data_dir), "%s/data", S.tmp);
    S.nats_port = test_port_free();
    S.admin_port = test_port_free();
    snprintf(S.url, sizeof(S.url), "nats://127.0.0.1:%d", S.nats_port);
    char port[16], log[160], store[160];
    snprintf(port, sizeof(port), "%d", S.nats_port);
    snprintf(log, sizeof(log), "%s/nats.log", S.tmp);
    /* JetStream on, as on every server statsync runs on (partition leases). */
    snprintf(store, sizeof(store), "%s/nats-jetstream", S.tmp);
    char *argv[] = {"nats-server", "-a", "127.0.0.1", "-p", port, "-js", "-sd", store, NULL};
    S.nats_pid = spawn("nats-server", argv, NULL, log);
    if (S.nats_pid <= 0 || !wait_port(S.nats_port, 10000)) {
        fprintf(stderr, "nats-server did not start\n");
        children_kill_all();
        return -1;
    }
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, S.url);
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 100);
    natsOptions_SetMaxPendingMsgs(o, 1 << 20);
    natsStatus s = natsConnection_Connect(&S.nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fprintf(stderr, "cnats connect: %s\n", natsStatus_GetText(s));
        children_kill_all();
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (S.stats_pid > 0) {
        int st = stop_proc(S.stats_pid, SIGTERM, 15000);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            dump_log("stats.log");
        S.stats_pid = 0;
    }
    natsConnection_Destroy(S.nc);
    S.nc = NULL;
    children_kill_all();
    nats_Close();
    if (getenv("STATSYNC_KEEP_TMP") == NULL)
        nftw(S.tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- messages ---- */

typedef struct opspec {
    const char *op_id;
    bool reply_in_event; /* sets the Mutation's flag (read from the first op's spec) */
    int64_t xp, diamonds;
    const char *game_results;
    bool full;
    int64_t updated_at_ms;
} opspec;

/* Packs a Mutation (malloc'ed, *len) for user with the given ops. */
static uint8_t *pack_mutation(const char *user, const opspec *spec, size_t n, size_t *len)
{
    Statsync__Mutation m = STATSYNC__MUTATION__INIT;
    Statsync__Operation ops[4], *opp[4];
    Statsync__Delta deltas[4];
    Statsync__StatsFields fields[4];
    for (size_t i = 0; i < n && i < 4; i++) {
        Statsync__Operation o = STATSYNC__OPERATION__INIT;
        Statsync__Delta d = STATSYNC__DELTA__INIT;
        Statsync__StatsFields f = STATSYNC__STATS_FIELDS__INIT;
        ops[i] = o;
        deltas[i] = d;
        fields[i] = f;
        ops[i].op_id = (char *)spec[i].op_id;
        if (spec[i].xp) {
            fields[i].has_xp = 1;
            fields[i].xp = spec[i].xp;
        }
        if (spec[i].diamonds) {
            fields[i].has_diamonds = 1;
            fields[i].diamonds = spec[i].diamonds;
        }
        fields[i].last_game_results = (char *)spec[i].game_results;
        if (spec[i].full) {
            fields[i].has_updated_at_ms = 1;
            fields[i].updated_at_ms = spec[i].updated_at_ms;
            ops[i].kind_case = STATSYNC__OPERATION__KIND_FULL;
            ops[i].full = &fields[i];
        } else {
            deltas[i].add = &fields[i];
            ops[i].kind_case = STATSYNC__OPERATION__KIND_DELTA;
            ops[i].delta = &deltas[i];
        }
        opp[i] = &ops[i];
    }
    m.user_id = (char *)user;
    m.n_ops = n;
    m.ops = opp;
    m.has_source = 1;
    m.source = STATSYNC__SOURCE__SOURCE_SOCKET;
    m.origin = "gw-test/sock-1";
    m.has_reply_in_event = m.reply_in_event = n > 0 && spec[0].reply_in_event;
    *len = statsync__mutation__get_packed_size(&m);
    uint8_t *buf = malloc(*len ? *len : 1);
    statsync__mutation__pack(&m, buf);
    return buf;
}

/* Request/reply on subject; returns the decoded StatsReply or NULL. */
static Statsync__StatsReply *request_raw(const char *subject, const void *data, size_t len)
{
    natsMsg *msg = NULL;
    natsStatus s = natsConnection_Request(&msg, S.nc, subject, data, (int)len, REQ_TIMEOUT_MS);
    if (s != NATS_OK) {
        print_message("request on %s: %s\n", subject, natsStatus_GetText(s));
        return NULL;
    }
    Statsync__StatsReply *r = statsync__stats_reply__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    return r;
}

static Statsync__StatsReply *apply(const char *user, const opspec *spec, size_t n)
{
    size_t len = 0;
    uint8_t *buf = pack_mutation(user, spec, n, &len);
    char subject[SS_SUBJECT_MAX];
    ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_APPLY, 64, user);
    Statsync__StatsReply *r = request_raw(subject, buf, len);
    free(buf);
    return r;
}

static Statsync__StatsReply *get(const char *user)
{
    Statsync__GetRequest g = STATSYNC__GET_REQUEST__INIT;
    g.user_id = (char *)user;
    uint8_t buf[128];
    size_t len = statsync__get_request__pack(&g, buf);
    char subject[SS_SUBJECT_MAX];
    ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_GET, 64, user);
    return request_raw(subject, buf, len);
}

static bool health_ok(int64_t timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;
    while (mono_ms() < end) {
        natsMsg *msg = NULL;
        uint8_t empty[1];
        if (natsConnection_Request(&msg, S.nc, SS_SUBJ_HEALTH ".stats", empty, 0, 500) ==
            NATS_OK) {
            Statsync__HealthReply *h = statsync__health_reply__unpack(
                NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
            natsMsg_Destroy(msg);
            bool ok = h && h->has_ok && h->ok && strcmp(h->service, "stats") == 0;
            if (h)
                statsync__health_reply__free_unpacked(h, NULL);
            if (ok)
                return true;
        }
        usleep(50000);
    }
    return false;
}

/* ---- async bursts: many requests in flight on one wildcard inbox ---- */

typedef struct burst {
    natsSubscription *sub;
    char prefix[64];
    size_t n;
    int *status; /* per request: 0 = no reply yet, else StatsReply.status */
    int64_t *xp; /* per request: doc.xp in the reply */
} burst;

static void burst_start(burst *b, size_t n)
{
    static int seq;
    memset(b, 0, sizeof(*b));
    snprintf(b->prefix, sizeof(b->prefix), "_INBOX.it%d.%d", (int)getpid(), ++seq);
    char wild[96];
    snprintf(wild, sizeof(wild), "%s.*", b->prefix);
    assert_int_equal(natsConnection_SubscribeSync(&b->sub, S.nc, wild), NATS_OK);
    natsSubscription_SetPendingLimits(b->sub, -1, -1);
    assert_int_equal(natsConnection_Flush(S.nc), NATS_OK);
    b->n = n;
    b->status = calloc(n, sizeof(int));
    b->xp = calloc(n, sizeof(int64_t));
}

static void burst_send(burst *b, size_t i, const char *user, const opspec *spec, size_t nops)
{
    size_t len = 0;
    uint8_t *buf = pack_mutation(user, spec, nops, &len);
    char subject[SS_SUBJECT_MAX], reply[96];
    ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_APPLY, 64, user);
    snprintf(reply, sizeof(reply), "%s.%zu", b->prefix, i);
    assert_int_equal(natsConnection_PublishRequest(S.nc, subject, reply, buf, (int)len), NATS_OK);
    free(buf);
}

/* Collects replies until `want` arrived or timeout; returns how many have. */
static size_t burst_collect(burst *b, size_t want, int64_t timeout_ms)
{
    size_t got = 0;
    for (size_t i = 0; i < b->n; i++)
        got += b->status[i] != 0;
    int64_t end = mono_ms() + timeout_ms;
    while (got < want) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, b->sub, left) != NATS_OK)
            break;
        const char *subj = natsMsg_GetSubject(msg);
        size_t idx = (size_t)strtoull(strrchr(subj, '.') + 1, NULL, 10);
        Statsync__StatsReply *r = statsync__stats_reply__unpack(
            NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
        if (r && idx < b->n && b->status[idx] == 0) {
            b->status[idx] = (int)r->status;
            b->xp[idx] = r->doc ? r->doc->xp : -1;
            got++;
        }
        if (r)
            statsync__stats_reply__free_unpacked(r, NULL);
        natsMsg_Destroy(msg);
    }
    return got;
}

static void burst_end(burst *b)
{
    natsSubscription_Unsubscribe(b->sub);
    natsSubscription_Destroy(b->sub);
    free(b->status);
    free(b->xp);
}

/* ---- tests ---- */

static void test_defaults_for_new_user(void **state)
{
    (void)state;
    Statsync__StatsReply *r = get("newbie");
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_non_null(r->doc);
    assert_string_equal(r->doc->user_id, "newbie");
    assert_int_equal(r->doc->hearts, 5);
    assert_int_equal(r->doc->level, 1);
    assert_int_equal(r->doc->xp, 0);
    assert_int_equal(r->doc->n_time_per_question, 0);
    assert_null(r->doc->last_game_results);
    assert_int_equal(r->doc->updated_at_ms, 0);
    assert_int_equal(r->doc->version, 0);
    statsync__stats_reply__free_unpacked(r, NULL);
}

/* Publishes a Mutation for user with spec on the user's apply subject,
 * its reply subject `reply`. */
static void publish_mutation(const char *user, const opspec *spec, const char *reply)
{
    size_t len = 0;
    uint8_t *buf = pack_mutation(user, spec, 1, &len);
    char subject[SS_SUBJECT_MAX];
    ss_subject_partitioned(subject, sizeof(subject), SS_SUBJ_STATS_APPLY, 64, user);
    assert_int_equal(natsConnection_PublishRequest(S.nc, subject, reply, buf, (int)len), NATS_OK);
    free(buf);
}

/* The next ChangeEvent on sub (waits up to 5 s), decoded. */
static Statsync__ChangeEvent *next_event(natsSubscription *sub)
{
    natsMsg *msg = NULL;
    assert_int_equal(natsSubscription_NextMsg(&msg, sub, 5000), NATS_OK);
    Statsync__ChangeEvent *ce = statsync__change_event__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    assert_non_null(ce);
    return ce;
}

/* The StatsReply waiting on sub (wait_ms 0: already there, else fails). */
static Statsync__StatsReply *next_reply(natsSubscription *sub, int64_t wait_ms)
{
    natsMsg *msg = NULL;
    natsStatus s = natsSubscription_NextMsg(&msg, sub, wait_ms);
    if (s != NATS_OK)
        return NULL;
    Statsync__StatsReply *r = statsync__stats_reply__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    return r;
}

static void test_delta_event_and_idempotent_repeat(void **state)
{
    (void)state;
    natsSubscription *ev = NULL;
    assert_int_equal(
        natsConnection_SubscribeSync(&ev, S.nc, SS_SUBJ_USER ".alice.changed"), NATS_OK);
    assert_int_equal(natsConnection_Flush(S.nc), NATS_OK);

    opspec op = {.op_id = "op-1", .xp = 10, .diamonds = 3, .game_results = "{\"score\":7}"};
    Statsync__StatsReply *r = apply("alice", &op, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_false(r->has_duplicate && r->duplicate);
    assert_int_equal(r->doc->xp, 10);
    assert_int_equal(r->doc->diamonds, 3);
    assert_int_equal(r->doc->version, 1);
    assert_true(r->doc->updated_at_ms > 0);
    assert_string_equal(r->doc->last_game_results, "{\"score\":7}");
    statsync__stats_reply__free_unpacked(r, NULL);

    Statsync__ChangeEvent *ce = next_event(ev);
    assert_int_equal(ce->doc->version, 1);
    assert_int_equal(ce->doc->xp, 10);
    assert_non_null(ce->delta);
    assert_non_null(ce->delta->add);
    assert_int_equal(ce->delta->add->xp, 10);
    assert_true(ce->has_source);
    assert_int_equal(ce->source, STATSYNC__SOURCE__SOURCE_SOCKET);
    assert_string_equal(ce->origin, "gw-test/sock-1");
    assert_null(ce->reply_to); /* not asked for: the reply above answered it */
    statsync__change_event__free_unpacked(ce, NULL);

    /* the same op again: 200, duplicate, current doc, no event */
    r = apply("alice", &op, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_true(r->has_duplicate && r->duplicate);
    assert_int_equal(r->doc->xp, 10);
    assert_int_equal(r->doc->version, 1);
    statsync__stats_reply__free_unpacked(r, NULL);
    natsMsg *msg = NULL;
    assert_int_equal(natsSubscription_NextMsg(&msg, ev, 300), NATS_TIMEOUT);

    r = get("alice");
    assert_non_null(r);
    assert_int_equal(r->doc->xp, 10);
    assert_int_equal(r->doc->version, 1);
    statsync__stats_reply__free_unpacked(r, NULL);
    natsSubscription_Unsubscribe(ev);
    natsSubscription_Destroy(ev);
}

/* Mutation.reply_in_event (proto/README.md, "One message per socket
 * update"): a committed change is answered by its ChangeEvent alone, which
 * names the request's reply subject; a repeat and a refusal by a StatsReply
 * and no event. A reply would have left before the event (the writer sends
 * the reply first, on one connection, and ours reads in order): once the
 * event is here, an empty inbox proves none was sent; and a next change's
 * event being the next one proves a refusal published none. */
static void test_reply_in_event(void **state)
{
    (void)state;
    natsSubscription *ev = NULL, *inbox = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&ev, S.nc, SS_SUBJ_USER ".dora.changed"), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&inbox, S.nc, "_INBOX.rie.*"), NATS_OK);
    assert_int_equal(natsConnection_Flush(S.nc), NATS_OK);

    opspec op = {.op_id = "rie-1", .reply_in_event = true, .xp = 4};
    publish_mutation("dora", &op, "_INBOX.rie.1");
    Statsync__ChangeEvent *ce = next_event(ev);
    assert_string_equal(ce->reply_to, "_INBOX.rie.1");
    assert_int_equal(ce->doc->version, 1);
    assert_int_equal(ce->doc->xp, 4);
    statsync__change_event__free_unpacked(ce, NULL);
    assert_null(next_reply(inbox, 0)); /* no StatsReply for it */

    publish_mutation("dora", &op, "_INBOX.rie.2"); /* a repeat: a reply, duplicate */
    Statsync__StatsReply *r = next_reply(inbox, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_true(r->has_duplicate && r->duplicate);
    statsync__stats_reply__free_unpacked(r, NULL);

    opspec broke = {.reply_in_event = true, .diamonds = -100}; /* a refusal: a reply */
    publish_mutation("dora", &broke, "_INBOX.rie.3");
    r = next_reply(inbox, 5000);
    assert_non_null(r);
    assert_int_equal(r->status, 409);
    assert_string_equal(r->error_code, "insufficient_funds");
    statsync__stats_reply__free_unpacked(r, NULL);

    opspec next = {.op_id = "rie-2", .reply_in_event = true, .xp = 1};
    publish_mutation("dora", &next, "_INBOX.rie.4");
    ce = next_event(ev); /* the next event is this change's: none for the two above */
    assert_int_equal(ce->doc->version, 2);
    assert_string_equal(ce->reply_to, "_INBOX.rie.4");
    statsync__change_event__free_unpacked(ce, NULL);
    assert_null(next_reply(inbox, 0));
    natsSubscription_Unsubscribe(ev);
    natsSubscription_Destroy(ev);
    natsSubscription_Unsubscribe(inbox);
    natsSubscription_Destroy(inbox);
}

static void test_refusals(void **state)
{
    (void)state;
    /* not a Mutation */
    Statsync__StatsReply *r = request_raw(SS_SUBJ_STATS_APPLY ".20.bob", "\xff\xff\xff\xff", 4);
    assert_non_null(r);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->error_code, "bad_request");
    statsync__stats_reply__free_unpacked(r, NULL);

    /* userId in the payload does not match the subject */
    size_t len = 0;
    opspec op = {.xp = 1};
    uint8_t *buf = pack_mutation("bob", &op, 1, &len);
    r = request_raw(SS_SUBJ_STATS_APPLY ".20.mallory", buf, len);
    assert_non_null(r);
    assert_int_equal(r->status, 400);
    statsync__stats_reply__free_unpacked(r, NULL);
    /* bob (partition 20 of 64) sent to partition 21: the sender counts
     * partitions differently — refused, never applied */
    r = request_raw(SS_SUBJ_STATS_APPLY ".21.bob", buf, len);
    free(buf);
    assert_non_null(r);
    assert_int_equal(r->status, 500);
    assert_string_equal(r->error_code, "partition_mismatch");
    assert_non_null(strstr(r->error_message, "STATSYNC_PARTITION_COUNT"));
    statsync__stats_reply__free_unpacked(r, NULL);

    /* insufficient funds: 409 with the stored document */
    opspec spend = {.op_id = "spend", .diamonds = -5};
    r = apply("bob", &spend, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 409);
    assert_string_equal(r->error_code, "insufficient_funds");
    assert_non_null(r->doc);
    assert_int_equal(r->doc->diamonds, 0);
    statsync__stats_reply__free_unpacked(r, NULL);

    /* full write LWW: newer stored, equal conflicts with the stored doc */
    int64_t t = wall_ms() - 1000;
    opspec full = {.op_id = "full-1", .xp = 77, .full = true, .updated_at_ms = t};
    r = apply("bob", &full, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->doc->updated_at_ms, t);
    statsync__stats_reply__free_unpacked(r, NULL);
    opspec same = {.op_id = "full-2", .xp = 1, .full = true, .updated_at_ms = t};
    r = apply("bob", &same, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 409);
    assert_string_equal(r->error_code, "conflict");
    assert_int_equal(r->doc->xp, 77);
    statsync__stats_reply__free_unpacked(r, NULL);
    opspec future = {.xp = 1, .full = true, .updated_at_ms = wall_ms() + 10 * 60 * 1000};
    r = apply("bob", &future, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 400);
    assert_string_equal(r->error_code, "invalid_value");
    statsync__stats_reply__free_unpacked(r, NULL);

    /* a request without a reply subject is ignored, not applied */
    buf = pack_mutation("bob", &(opspec){.xp = 1000}, 1, &len);
    assert_int_equal(natsConnection_Publish(S.nc, SS_SUBJ_STATS_APPLY ".20.bob", buf, (int)len),
                     NATS_OK);
    free(buf);
    natsConnection_Flush(S.nc);
    usleep(200000);
    r = get("bob");
    assert_non_null(r);
    assert_int_equal(r->doc->xp, 77);
    statsync__stats_reply__free_unpacked(r, NULL);
}

static void print_batch_histogram(void)
{
    char *body = NULL;
    int st = http_get(S.admin_port, "/metrics", &body);
    assert_int_equal(st, 200);
    assert_non_null(strstr(body, "statsync_stats_mutations_total"));
    assert_non_null(strstr(body, "statsync_stats_commit_seconds_bucket"));
    assert_non_null(strstr(body, "statsync_stats_queue_depth"));
    print_message("group-commit batch sizes (cumulative buckets):\n");
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "statsync_stats_batch_size", 25) == 0)
            print_message("  %s\n", line);
    free(body);
}

static void test_200_concurrent_increments(void **state)
{
    (void)state;
    enum { N = 200 };
    burst b;
    burst_start(&b, N);
    for (size_t i = 0; i < N; i++)
        burst_send(&b, i, "carol", &(opspec){.xp = 1}, 1);
    assert_int_equal(natsConnection_Flush(S.nc), NATS_OK);
    assert_int_equal(burst_collect(&b, N, 20000), N);
    bool seen[N + 1] = {false};
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(b.status[i], 200);
        assert_true(b.xp[i] >= 1 && b.xp[i] <= N);
        assert_false(seen[b.xp[i]]); /* every reply saw a distinct sum */
        seen[b.xp[i]] = true;
    }
    burst_end(&b);
    Statsync__StatsReply *r = get("carol");
    assert_non_null(r);
    assert_int_equal(r->doc->xp, N);
    assert_int_equal(r->doc->version, N);
    statsync__stats_reply__free_unpacked(r, NULL);
    print_batch_histogram();
}

static void test_health(void **state)
{
    (void)state;
    natsMsg *msg = NULL;
    assert_int_equal(
        natsConnection_Request(&msg, S.nc, SS_SUBJ_HEALTH ".stats", "", 0, REQ_TIMEOUT_MS),
        NATS_OK);
    Statsync__HealthReply *h = statsync__health_reply__unpack(
        NULL, (size_t)natsMsg_GetDataLength(msg), (const uint8_t *)natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    assert_non_null(h);
    assert_string_equal(h->service, "stats");
    assert_true(h->ok);
    assert_true(h->total_users >= 3); /* alice, bob, carol */
    assert_true(h->has_uptime_s);
    statsync__health_reply__free_unpacked(h, NULL);

    char *body = NULL;
    assert_int_equal(http_get(S.admin_port, "/health", &body), 200);
    assert_non_null(strstr(body, "\"status\":\"OK\""));
    assert_non_null(strstr(body, "\"service\":\"stats\""));
    assert_non_null(strstr(body, "\"nats\":true"));
    assert_non_null(strstr(body, "\"totalUsers\":"));
    free(body);
}

/* Checks every write acknowledged in b (status 200) against a fresh read. */
static void check_acked(burst *b, const char *prefix)
{
    size_t checked = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->status[i] != 200)
            continue;
        char user[64];
        snprintf(user, sizeof(user), "%s%zu", prefix, i);
        Statsync__StatsReply *r = get(user);
        assert_non_null(r);
        assert_int_equal(r->status, 200);
        assert_int_equal(r->doc->xp, (int64_t)i + 1);
        assert_int_equal(r->doc->version, 1);
        statsync__stats_reply__free_unpacked(r, NULL);
        checked++;
    }
    print_message("%zu acknowledged writes present after restart\n", checked);
}

static void test_acked_writes_survive_kill9(void **state)
{
    (void)state;
    enum { N = 400 };
    burst b;
    burst_start(&b, N);
    for (size_t i = 0; i < N; i++) {
        char user[32], op[32];
        snprintf(user, sizeof(user), "dur%zu", i);
        snprintf(op, sizeof(op), "d-%zu", i);
        burst_send(&b, i, user, &(opspec){.op_id = op, .xp = (int64_t)i + 1}, 1);
    }
    natsConnection_Flush(S.nc);
    size_t before = burst_collect(&b, N / 4, 20000); /* in mid-stream ... */
    assert_true(before >= N / 4);
    int st = stop_proc(S.stats_pid, SIGKILL, 5000); /* ... kill -9 */
    S.stats_pid = 0;
    assert_true(WIFSIGNALED(st));
    size_t acked = burst_collect(&b, N, 300); /* replies already on the wire */
    print_message("kill -9 after %zu replies (%zu in total)\n", before, acked);

    start_stats(S.data_dir, NULL);
    check_acked(&b, "dur");
    /* a retry of every op (an offline queue flushed again) never double counts */
    burst retry;
    burst_start(&retry, N);
    for (size_t i = 0; i < N; i++) {
        char user[32], op[32];
        snprintf(user, sizeof(user), "dur%zu", i);
        snprintf(op, sizeof(op), "d-%zu", i);
        burst_send(&retry, i, user, &(opspec){.op_id = op, .xp = (int64_t)i + 1}, 1);
    }
    natsConnection_Flush(S.nc);
    assert_int_equal(burst_collect(&retry, N, 20000), N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(retry.status[i], 200);
        assert_int_equal(retry.xp[i], (int64_t)i + 1);
    }
    burst_end(&retry);
    burst_end(&b);
}

static void test_sigterm_drains_and_exits_zero(void **state)
{
    (void)state;
    enum { N = 300 };
    burst b;
    burst_start(&b, N);
    for (size_t i = 0; i < N; i++) {
        char user[32];
        snprintf(user, sizeof(user), "term%zu", i);
        burst_send(&b, i, user, &(opspec){.xp = (int64_t)i + 1}, 1);
    }
    natsConnection_Flush(S.nc); /* all 300 at the server, most not yet answered */
    int st = stop_proc(S.stats_pid, SIGTERM, 15000);
    S.stats_pid = 0;
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        dump_log("stats.log");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    size_t got = burst_collect(&b, N, 500);
    size_t ok = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(b.status[i] == 0 || b.status[i] == 200 || b.status[i] == 503);
        ok += b.status[i] == 200;
    }
    print_message("SIGTERM: %zu of %d answered (%zu applied) before exit 0\n", got, N, ok);
    start_stats(S.data_dir, NULL);
    check_acked(&b, "term");
    burst_end(&b);
}

/* The i-th of the users "fat<k>" in fat0's partition: the map size is per
 * partition, so only users of one partition fill it. */
static void fat_user(char *buf, size_t cap, int i)
{
    uint32_t p = ss_partition_of("fat0", 64);
    for (int k = 0, seen = 0;; k++) {
        snprintf(buf, cap, "fat%d", k);
        if (ss_partition_of(buf, 64) == p && seen++ == i)
            return;
    }
}

static void test_storage_full_and_recovery(void **state)
{
    (void)state;
    /* a second data dir with a 1 MiB map */
    int st = stop_proc(S.stats_pid, SIGTERM, 15000);
    S.stats_pid = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char small[160];
    snprintf(small, sizeof(small), "%s/small", S.tmp);
    start_stats(small, "1");

    size_t big_len = 16000;
    char *big = malloc(big_len + 1);
    memset(big, 'x', big_len);
    memcpy(big, "{\"k\":\"", 6);
    big[big_len - 2] = '"';
    big[big_len - 1] = '}';
    big[big_len] = '\0';
    int ok = 0, full = 0;
    for (int i = 0; i < 200 && full == 0; i++) {
        char user[32];
        fat_user(user, sizeof(user), i);
        Statsync__StatsReply *r = apply(user, &(opspec){.xp = i + 1, .game_results = big}, 1);
        assert_non_null(r);
        if (r->status == 200)
            ok++;
        else {
            assert_int_equal(r->status, 507);
            assert_string_equal(r->error_code, "storage_full");
            full++;
        }
        statsync__stats_reply__free_unpacked(r, NULL);
    }
    print_message("1 MiB map: %d documents stored before storage_full\n", ok);
    assert_int_equal(full, 1);
    assert_true(ok > 0);
    /* still alive and serving what it has */
    assert_true(health_ok(2000));
    Statsync__StatsReply *r = get("fat0");
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    assert_int_equal(r->doc->xp, 1);
    statsync__stats_reply__free_unpacked(r, NULL);

    /* restart with a larger map: writes work again, nothing lost */
    st = stop_proc(S.stats_pid, SIGTERM, 15000);
    S.stats_pid = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    start_stats(small, "16");
    char after[32];
    fat_user(after, sizeof(after), 999);
    r = apply(after, &(opspec){.xp = 5, .game_results = big}, 1);
    assert_non_null(r);
    assert_int_equal(r->status, 200);
    statsync__stats_reply__free_unpacked(r, NULL);
    for (int i = 0; i < ok; i++) {
        char user[32];
        fat_user(user, sizeof(user), i);
        r = get(user);
        assert_non_null(r);
        assert_int_equal(r->doc->xp, i + 1);
        statsync__stats_reply__free_unpacked(r, NULL);
    }
    free(big);
}

static int test_setup(void **state)
{
    (void)state;
    if (S.stats_pid <= 0)
        start_stats(S.data_dir, NULL);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_for_new_user, test_setup),
        cmocka_unit_test_setup(test_delta_event_and_idempotent_repeat, test_setup),
        cmocka_unit_test_setup(test_reply_in_event, test_setup),
        cmocka_unit_test_setup(test_refusals, test_setup),
        cmocka_unit_test_setup(test_200_concurrent_increments, test_setup),
        cmocka_unit_test_setup(test_health, test_setup),
        cmocka_unit_test_setup(test_acked_writes_survive_kill9, test_setup),
        cmocka_unit_test_setup(test_sigterm_drains_and_exits_zero, test_setup),
        cmocka_unit_test_setup(test_storage_full_and_recovery, test_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
