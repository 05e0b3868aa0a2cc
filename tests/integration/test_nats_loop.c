/* test_nats_loop.c — ss_nats connections (cnats in event-loop mode on a libev
 * thread, common/ss_nats_loop.c) against a real nats-server: publishes from
 * several threads all arrive, each thread's in order, also inside batches
 * (ss_nats_batch); a synchronous subscription drained on the I/O thread
 * (ss_nats_set_reader); request/reply both ways;
 * ss_nats_destroy() writes out everything published before it; and after the
 * server is killed and restarted on the same port the connection comes back
 * and carries messages again.
 *
 * nats-server comes from PATH. Every wait is bounded; the server is killed on
 * every exit path (teardown, atexit, an alarm, PR_SET_PDEATHSIG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_nats.h"
#include "test_port.h"

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PUBLISHERS 4
#define PER_PUBLISHER 5000

static volatile pid_t server_pid;
static int server_port;
static char server_url[64];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void server_kill(void)
{
    pid_t pid = server_pid;
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        server_pid = 0;
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
    _exit(3);
}

/* Starts nats-server on server_port and waits (bounded) until it accepts. */
static int server_start(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", server_port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *devnull = freopen("/dev/null", "w", stderr);
        (void)devnull;
        execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port, (char *)NULL);
        _exit(127);
    }
    server_pid = pid;
    for (int64_t end = now_ms() + 10000; now_ms() < end; usleep(20000)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)server_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
    }
    return -1;
}

static bool wait_connected(natsConnection *nc, int64_t timeout_ms)
{
    for (int64_t end = now_ms() + timeout_ms; now_ms() < end; usleep(10000))
        if (ss_nats_connected(nc))
            return true;
    return false;
}

/* ---- a counting subscriber: per-publisher sequence must only go up by 1 ---- */

typedef struct {
    atomic_int received;
    atomic_int out_of_order;
    int next[PUBLISHERS];
} counter;

static void on_counted(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc;
    (void)sub;
    counter *c = closure;
    int who = -1, seq = -1;
    char buf[32];
    int n = natsMsg_GetDataLength(m);
    if (n > 0 && n < (int)sizeof(buf)) {
        memcpy(buf, natsMsg_GetData(m), (size_t)n);
        buf[n] = '\0';
        if (sscanf(buf, "%d:%d", &who, &seq) != 2)
            who = -1;
    }
    if (who < 0 || who >= PUBLISHERS || seq != c->next[who])
        atomic_fetch_add(&c->out_of_order, 1);
    else
        c->next[who]++;
    atomic_fetch_add(&c->received, 1);
    natsMsg_Destroy(m);
}

static bool wait_count(counter *c, int want, int64_t timeout_ms)
{
    for (int64_t end = now_ms() + timeout_ms; now_ms() < end; usleep(5000))
        if (atomic_load(&c->received) >= want)
            return true;
    return atomic_load(&c->received) >= want;
}

typedef struct {
    ss_nats *nats;
    const char *subject;
    int who;
    int failed;
} publisher;

static void *publish_main(void *arg)
{
    publisher *p = arg;
    char buf[32];
    for (int i = 0; i < PER_PUBLISHER; i++) {
        int n = snprintf(buf, sizeof(buf), "%d:%d", p->who, i);
        if (natsConnection_Publish(ss_nats_conn(p->nats), p->subject, buf, n) != NATS_OK)
            p->failed++;
    }
    return NULL;
}

static ss_nats *connect_or_fail(const char *name)
{
    ss_nats *n = NULL;
    assert_int_equal(ss_nats_create(&n, server_url, NULL, name, 0), SS_OK);
    assert_non_null(n);
    assert_non_null(ss_nats_conn(n));
    assert_true(wait_connected(ss_nats_conn(n), 10000));
    return n;
}

/* An asynchronous subscription counting into c, known to the server. */
static natsSubscription *count_on(ss_nats *n, const char *subject, counter *c)
{
    natsConnection *nc = ss_nats_conn(n);
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_Subscribe(&sub, nc, subject, on_counted, c), NATS_OK);
    assert_int_equal(natsSubscription_SetPendingLimits(sub, -1, -1), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(nc, 5000), NATS_OK);
    return sub;
}

/* PUBLISHERS threads each run fn (publish_main or publish_batched_main). */
static void publish_from_threads(ss_nats *pub, const char *subject, void *(*fn)(void *))
{
    pthread_t th[PUBLISHERS];
    publisher p[PUBLISHERS];
    for (int i = 0; i < PUBLISHERS; i++) {
        p[i] = (publisher){.nats = pub, .subject = subject, .who = i};
        assert_int_equal(pthread_create(&th[i], NULL, fn, &p[i]), 0);
    }
    for (int i = 0; i < PUBLISHERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].failed, 0);
    }
}

static void expect_all_in_order(counter *c, int want)
{
    assert_true(wait_count(c, want, 20000));
    assert_int_equal(atomic_load(&c->received), want);
    assert_int_equal(atomic_load(&c->out_of_order), 0);
}

static void test_publishes_from_threads_all_arrive_in_order(void **state)
{
    (void)state;
    ss_nats *pub = connect_or_fail("test-pub");
    ss_nats *subc = connect_or_fail("test-sub");
    counter c = {0};
    natsSubscription *sub = count_on(subc, "t.order", &c);
    publish_from_threads(pub, "t.order", publish_main);
    expect_all_in_order(&c, PUBLISHERS * PER_PUBLISHER);
    natsSubscription_Destroy(sub);
    ss_nats_destroy(pub, 2000);
    ss_nats_destroy(subc, 2000);
}

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)sub;
    (void)closure;
    natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m),
                           natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

static void test_request_reply_round_trips(void **state)
{
    (void)state;
    ss_nats *a = connect_or_fail("test-requester");
    ss_nats *b = connect_or_fail("test-responder");
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_Subscribe(&sub, ss_nats_conn(b), "t.echo", on_echo, NULL),
                     NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(b), 5000), NATS_OK);
    for (int i = 0; i < 300; i++) {
        char body[32];
        int n = snprintf(body, sizeof(body), "ping %d", i);
        natsMsg *reply = NULL;
        assert_int_equal(natsConnection_Request(&reply, ss_nats_conn(a), "t.echo", body, n, 5000),
                         NATS_OK);
        assert_int_equal(natsMsg_GetDataLength(reply), n);
        assert_memory_equal(natsMsg_GetData(reply), body, (size_t)n);
        natsMsg_Destroy(reply);
    }
    natsSubscription_Destroy(sub);
    ss_nats_destroy(a, 2000);
    ss_nats_destroy(b, 2000);
}

static void test_close_writes_out_everything_published(void **state)
{
    (void)state;
    ss_nats *subc = connect_or_fail("test-sub");
    counter c = {0};
    natsSubscription *sub = count_on(subc, "t.close", &c);
    ss_nats *pub = connect_or_fail("test-pub");
    publisher p = {.nats = pub, .subject = "t.close", .who = 0};
    publish_main(&p);
    assert_int_equal(p.failed, 0);
    ss_nats_destroy(pub, 5000); /* right away: nothing may stay in the buffer */
    expect_all_in_order(&c, PER_PUBLISHER);
    natsSubscription_Destroy(sub);
    ss_nats_destroy(subc, 2000);
}

/* A batch (ss_nats_batch) from several threads at once, nested: everything
 * arrives, each thread's messages in order, once the last batch ends. */
static void *publish_batched_main(void *arg)
{
    publisher *p = arg;
    ss_nats_batch(p->nats, true);
    ss_nats_batch(p->nats, true);
    publish_main(p);
    ss_nats_batch(p->nats, false);
    ss_nats_batch(p->nats, false);
    return NULL;
}

static void test_batches_from_threads_all_arrive_in_order(void **state)
{
    (void)state;
    ss_nats *pub = connect_or_fail("test-pub");
    ss_nats *subc = connect_or_fail("test-sub");
    counter c = {0};
    natsSubscription *sub = count_on(subc, "t.batch", &c);
    publish_from_threads(pub, "t.batch", publish_batched_main);
    expect_all_in_order(&c, PUBLISHERS * PER_PUBLISHER);
    ss_nats_batch(NULL, true); /* no handle: nothing happens */
    ss_nats_batch(NULL, false);
    natsSubscription_Destroy(sub);
    ss_nats_destroy(pub, 2000);
    ss_nats_destroy(subc, 2000);
}

/* Inline delivery: a synchronous subscription drained by the reader on the
 * I/O thread. Messages queued before the reader was set are drained by the
 * run that setting it schedules; after it is removed, no call happens. */
typedef struct {
    natsSubscription *sub;
    counter c;
    atomic_int calls;
    atomic_int wrong_thread;
    pthread_t main_thread;
} drained;

static void drain_reader(void *arg)
{
    drained *d = arg;
    atomic_fetch_add(&d->calls, 1);
    if (pthread_equal(pthread_self(), d->main_thread))
        atomic_fetch_add(&d->wrong_thread, 1);
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, d->sub, 0) == NATS_OK)
        on_counted(NULL, d->sub, m, &d->c);
}

static void test_reader_drains_a_sync_subscription_on_the_io_thread(void **state)
{
    (void)state;
    ss_nats *subc = connect_or_fail("test-sub");
    ss_nats *pub = connect_or_fail("test-pub");
    drained d = {.main_thread = pthread_self()};
    assert_int_equal(natsConnection_SubscribeSync(&d.sub, ss_nats_conn(subc), "t.inline"),
                     NATS_OK);
    assert_int_equal(natsSubscription_SetPendingLimits(d.sub, -1, -1), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(subc), 5000), NATS_OK);
    /* Before the reader exists: these wait in the subscription. */
    publisher early = {.nats = pub, .subject = "t.inline", .who = 0};
    publish_main(&early);
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(pub), 5000), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(subc), 5000), NATS_OK);
    assert_int_equal(ss_nats_set_reader(subc, drain_reader, &d), SS_OK);
    assert_true(wait_count(&d.c, PER_PUBLISHER, 10000));
    publisher late = {.nats = pub, .subject = "t.inline", .who = 1};
    publish_main(&late);
    assert_true(wait_count(&d.c, 2 * PER_PUBLISHER, 10000));
    assert_int_equal(atomic_load(&d.c.received), 2 * PER_PUBLISHER);
    assert_int_equal(atomic_load(&d.c.out_of_order), 0);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);

    assert_int_equal(ss_nats_set_reader(subc, NULL, NULL), SS_OK);
    int calls = atomic_load(&d.calls);
    publish_main(&late); /* queued, and nobody drains them now */
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(pub), 5000), NATS_OK);
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(subc), 5000), NATS_OK);
    assert_int_equal(atomic_load(&d.calls), calls);
    int queued = 0;
    assert_int_equal(natsSubscription_GetPending(d.sub, &queued, NULL), NATS_OK);
    assert_int_equal(queued, PER_PUBLISHER);

    /* no handle: refused */
    assert_int_equal(ss_nats_set_reader(NULL, drain_reader, &d), SS_ERR_INTERNAL);
    natsSubscription_Destroy(d.sub);
    ss_nats_destroy(pub, 2000);
    ss_nats_destroy(subc, 2000);
}

static void test_reconnects_after_server_restart(void **state)
{
    (void)state;
    ss_nats *pub = connect_or_fail("test-pub");
    ss_nats *subc = connect_or_fail("test-sub");
    counter c = {0};
    natsSubscription *sub = NULL;
    assert_int_equal(
        natsConnection_Subscribe(&sub, ss_nats_conn(subc), "t.again", on_counted, &c), NATS_OK);

    server_kill();
    for (int64_t end = now_ms() + 10000; now_ms() < end && ss_nats_connected(ss_nats_conn(pub));)
        usleep(10000);
    assert_false(ss_nats_connected(ss_nats_conn(pub)));
    assert_int_equal(server_start(), 0);
    assert_true(wait_connected(ss_nats_conn(pub), 15000));
    assert_true(wait_connected(ss_nats_conn(subc), 15000));
    /* The subscription is re-sent on reconnect; a flush round trip proves the
     * server has it before we publish. */
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(subc), 5000), NATS_OK);
    publisher p = {.nats = pub, .subject = "t.again", .who = 0};
    publish_main(&p);
    assert_int_equal(p.failed, 0);
    assert_int_equal(natsConnection_FlushTimeout(ss_nats_conn(pub), 5000), NATS_OK);
    assert_true(wait_count(&c, PER_PUBLISHER, 10000));
    assert_int_equal(atomic_load(&c.out_of_order), 0);
    natsSubscription_Destroy(sub);
    ss_nats_destroy(pub, 2000);
    ss_nats_destroy(subc, 2000);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGALRM, on_alarm);
    alarm(180);
    atexit(server_kill);
    server_port = test_port_free();
    if (server_port <= 0)
        return -1;
    snprintf(server_url, sizeof(server_url), "nats://127.0.0.1:%d", server_port);
    return server_start();
}

static int group_teardown(void **state)
{
    (void)state;
    server_kill();
    nats_Close();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publishes_from_threads_all_arrive_in_order),
        cmocka_unit_test(test_request_reply_round_trips),
        cmocka_unit_test(test_close_writes_out_everything_published),
        cmocka_unit_test(test_batches_from_threads_all_arrive_in_order),
        cmocka_unit_test(test_reader_drains_a_sync_subscription_on_the_io_thread),
        cmocka_unit_test(test_reconnects_after_server_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
