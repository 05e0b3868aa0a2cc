/* ss_nats_loop.c — cnats' external-event-loop mode on a libev loop thread.
 *
 * Why: in its default mode cnats writes from a flusher thread that, once
 * kicked by a publish, sleeps about a millisecond before it writes ("yield to
 * batch"). Every hop of an update (gateway -> stats-service -> gateway) paid
 * that millisecond: p50 ~2.0 ms end to end at 2 000 updates/s. sendAsap
 * removes the wait but costs one write(2) per message (20 000 updates/s:
 * p99 14 -> 53 ms in a quick A/B, tests/load/RESULTS.md). Here the socket belongs to a
 * libev loop in its own thread: a publish from any thread marks "want write"
 * and wakes the loop (ev_async: no syscall while a wake is already pending),
 * and the loop writes everything buffered in one go just before it polls
 * again (ev_prepare) — no timer, no epoll_ctl, and as many messages per
 * write(2) as arrived while the loop was busy.
 *
 * cnats calls attach / read / write / detach from any thread (connect caller,
 * reconnect thread, ping timer, publishers, the loop itself), always holding
 * the connection's lock, so these only record the wanted state under `mu` and
 * never call back into cnats. The loop thread applies that state to its one
 * ev_io watcher and is the only caller of natsConnection_Process*Event. */
/* _GNU_SOURCE (pthread_setname_np) comes from the build flags */
#include "ss_nats_loop.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct ss_nats_loop {
    struct ev_loop *loop;
    pthread_t thread;
    ev_async wake;
    ev_prepare prepare;
    ev_io io;
    pthread_mutex_t mu;
    /* wanted state, under mu */
    natsConnection *nc;
    int fd; /* -1: detached */
    unsigned gen; /* +1 per attach: a new socket may reuse the old number */
    bool want_read, want_write, stop;
    /* ss_nats_loop_cork(): write wake-ups wait for the uncork */
    atomic_int corked;
    atomic_bool wake_deferred;
    atomic_bool reader_kick; /* run the reader once at the next wake-up */
    /* ss_nats_loop_set_reader(): runs after every read; rmu is held around it */
    pthread_mutex_t rmu;
    void (*reader)(void *);
    void *reader_arg;
    /* applied state, loop thread only */
    int cur_fd, cur_events;
    unsigned cur_gen;
    bool blocked; /* a write left data behind: wait for EV_WRITE */
};

static bool ss_nats_loop__on_thread(ss_nats_loop *l)
{
    return pthread_equal(pthread_self(), l->thread) != 0;
}

/* Loop thread: make the watcher match the wanted state. EV_WRITE is asked
 * of epoll only while the socket is full (blocked): normally the prepare
 * watcher writes before the loop polls, which costs no epoll_ctl at all. */
static void ss_nats_loop__apply(ss_nats_loop *l)
{
    pthread_mutex_lock(&l->mu);
    int fd = l->fd;
    unsigned gen = l->gen;
    bool want_write = l->want_write;
    int events = fd < 0 ? 0 : (l->want_read ? EV_READ : 0);
    pthread_mutex_unlock(&l->mu);
    if (!want_write)
        l->blocked = false;
    if (fd >= 0 && l->blocked)
        events |= EV_WRITE;
    /* A reconnect may detach and attach before the loop sees either, with the
     * new socket on the old number: libev must be told it is a new fd
     * (epoll dropped the closed one), hence the generation. */
    if (fd != l->cur_fd || events != l->cur_events || gen != l->cur_gen) {
        ev_io_stop(l->loop, &l->io);
        if (events != 0) {
            ev_io_set(&l->io, fd, events);
            ev_io_start(l->loop, &l->io);
        }
        l->cur_fd = fd;
        l->cur_events = events;
        l->cur_gen = gen;
    }
}

/* Any thread, called by cnats with the connection locked: record, then
 * apply now (loop thread) or wake the loop — for a write, not while a
 * publisher holds a cork (its batch goes out in one write at the uncork). */
static void ss_nats_loop__changed(ss_nats_loop *l, bool write)
{
    if (ss_nats_loop__on_thread(l)) {
        ss_nats_loop__apply(l); /* a wanted write happens in on_prepare */
        return;
    }
    if (write && atomic_load(&l->corked) > 0) {
        atomic_store(&l->wake_deferred, true);
        /* uncorked in between: its owner may have missed the flag */
        if (atomic_load(&l->corked) > 0 || !atomic_exchange(&l->wake_deferred, false))
            return;
    }
    ev_async_send(l->loop, &l->wake);
}

void ss_nats_loop_cork(ss_nats_loop *l)
{
    if (l != NULL)
        atomic_fetch_add(&l->corked, 1);
}

void ss_nats_loop_uncork(ss_nats_loop *l)
{
    if (l != NULL && atomic_fetch_sub(&l->corked, 1) == 1 &&
        atomic_exchange(&l->wake_deferred, false))
        ev_async_send(l->loop, &l->wake);
}

static void ss_nats_loop__run_reader(ss_nats_loop *l)
{
    pthread_mutex_lock(&l->rmu);
    if (l->reader != NULL)
        l->reader(l->reader_arg);
    pthread_mutex_unlock(&l->rmu);
}

static void ss_nats_loop__on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    ss_nats_loop *l = w->data;
    pthread_mutex_lock(&l->mu);
    bool stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    if (stop) {
        ev_io_stop(loop, &l->io);
        ev_prepare_stop(loop, &l->prepare);
        ev_async_stop(loop, &l->wake);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    ss_nats_loop__apply(l);
    if (atomic_exchange(&l->reader_kick, false))
        ss_nats_loop__run_reader(l);
}

/* Before every poll: write out what was published since the last one (by
 * any thread, or by cnats itself while reading). The socket is almost always
 * writable; only when the kernel buffer is full is EV_WRITE armed, until
 * cnats says everything is out. */
static void ss_nats_loop__on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    ss_nats_loop *l = w->data;
    if (l->blocked)
        return; /* EV_WRITE will tell */
    pthread_mutex_lock(&l->mu);
    natsConnection *nc = l->fd >= 0 && l->want_write ? l->nc : NULL;
    pthread_mutex_unlock(&l->mu);
    if (nc == NULL)
        return;
    natsConnection_ProcessWriteEvent(nc);
    pthread_mutex_lock(&l->mu);
    bool still = l->fd >= 0 && l->want_write;
    pthread_mutex_unlock(&l->mu);
    if (still) {
        l->blocked = true;
        ss_nats_loop__apply(l);
    }
}

static void ss_nats_loop__on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    ss_nats_loop *l = w->data;
    pthread_mutex_lock(&l->mu);
    natsConnection *nc = l->nc;
    pthread_mutex_unlock(&l->mu);
    if (nc == NULL)
        return;
    if (revents & (EV_READ | EV_ERROR)) {
        natsConnection_ProcessReadEvent(nc);
        ss_nats_loop__run_reader(l);
    }
    if (revents & EV_WRITE) {
        natsConnection_ProcessWriteEvent(nc);
        l->blocked = false; /* on_prepare retries; blocks again if still full */
        ss_nats_loop__apply(l);
    }
}

/* A new socket (fd >= 0, maybe under an old socket's number) or none (-1):
 * read while there is one, no write wanted yet. */
static void ss_nats_loop__socket(ss_nats_loop *l, natsConnection *nc, int fd)
{
    pthread_mutex_lock(&l->mu);
    if (fd >= 0) {
        l->nc = nc;
        l->gen++;
    }
    l->fd = fd;
    l->want_read = fd >= 0;
    l->want_write = false;
    pthread_mutex_unlock(&l->mu);
    ss_nats_loop__changed(l, false);
}

/* Sets one wanted direction (want_read or want_write); returns the old value. */
static bool ss_nats_loop__want(ss_nats_loop *l, bool *want, bool value)
{
    pthread_mutex_lock(&l->mu);
    bool was = *want;
    *want = value;
    pthread_mutex_unlock(&l->mu);
    return was;
}

static natsStatus ss_nats_loop__attach(void **user, void *loop, natsConnection *nc, natsSock fd)
{
    *user = loop;
    ss_nats_loop__socket(loop, nc, (int)fd);
    return NATS_OK;
}

static natsStatus ss_nats_loop__read(void *user, bool add)
{
    ss_nats_loop *l = user;
    ss_nats_loop__want(l, &l->want_read, add);
    ss_nats_loop__changed(l, false);
    return NATS_OK;
}

static natsStatus ss_nats_loop__write(void *user, bool add)
{
    ss_nats_loop *l = user;
    if (ss_nats_loop__want(l, &l->want_write, add) != add)
        ss_nats_loop__changed(l, add);
    return NATS_OK;
}

static natsStatus ss_nats_loop__detach(void *user)
{
    ss_nats_loop__socket(user, NULL, -1);
    return NATS_OK;
}

static void *ss_nats_loop__main(void *arg)
{
    ss_nats_loop *l = arg;
    pthread_setname_np(pthread_self(), "nats-io"); /* for top -H and perf */
    ev_run(l->loop, 0);
    return NULL;
}

int ss_nats_loop_start(ss_nats_loop **out)
{
    *out = NULL;
    ss_nats_loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -1;
    l->fd = l->cur_fd = -1;
    l->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (l->loop == NULL) {
        free(l);
        return -1;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->rmu, NULL);
    ev_async_init(&l->wake, ss_nats_loop__on_wake);
    l->wake.data = l;
    ev_async_start(l->loop, &l->wake);
    ev_prepare_init(&l->prepare, ss_nats_loop__on_prepare);
    l->prepare.data = l;
    ev_prepare_start(l->loop, &l->prepare);
    ev_init(&l->io, ss_nats_loop__on_io);
    l->io.data = l;
    if (pthread_create(&l->thread, NULL, ss_nats_loop__main, l) != 0) {
        ev_loop_destroy(l->loop);
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->rmu);
        free(l);
        return -1;
    }
    *out = l;
    return 0;
}

natsStatus ss_nats_loop_use(ss_nats_loop *l, natsOptions *o)
{
    return natsOptions_SetEventLoop(o, l, ss_nats_loop__attach, ss_nats_loop__read,
                                    ss_nats_loop__write, ss_nats_loop__detach);
}

void ss_nats_loop_stop(ss_nats_loop *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    l->nc = NULL;
    pthread_mutex_unlock(&l->mu);
    ev_async_send(l->loop, &l->wake);
    pthread_join(l->thread, NULL);
    ev_loop_destroy(l->loop);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->rmu);
    free(l);
}

void ss_nats_loop_set_reader(ss_nats_loop *l, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&l->rmu); /* waits for a running call to return */
    l->reader = fn;
    l->reader_arg = arg;
    pthread_mutex_unlock(&l->rmu);
    if (fn != NULL) { /* one run now: messages read before it was set */
        atomic_store(&l->reader_kick, true);
        ev_async_send(l->loop, &l->wake);
    }
}
