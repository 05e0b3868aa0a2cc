/* ss_reqid.c — request ids and the thread's current request (ss_reqid.h). */
#include "ss_reqid.h"

#include "ss_time.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

bool ss_reqid_valid(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= SS_REQID_MAX)
            return false;
    }
    return true;
}

static pthread_once_t ss_reqid__once = PTHREAD_ONCE_INIT;
static uint64_t ss_reqid__seed;
static _Atomic uint64_t ss_reqid__next;

static void ss_reqid__init(void)
{
    if (getrandom(&ss_reqid__seed, sizeof(ss_reqid__seed), 0) != (ssize_t)sizeof(ss_reqid__seed))
        ss_reqid__seed = (uint64_t)ss_now_ms() << 20 ^ (uint64_t)getpid() ^ (uint64_t)ss_mono_ns();
}

/* splitmix64's finaliser: a bijection, so distinct inputs give distinct ids. */
static uint64_t ss_reqid__mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void ss_reqid_new(char out[SS_REQID_MAX + 1])
{
    pthread_once(&ss_reqid__once, ss_reqid__init);
    uint64_t n = atomic_fetch_add_explicit(&ss_reqid__next, 1, memory_order_relaxed);
    snprintf(out, SS_REQID_MAX + 1, "%016llx",
             (unsigned long long)ss_reqid__mix(ss_reqid__seed + n * 0x9e3779b97f4a7c15ULL));
}

const char *ss_reqid_take(const char *in, char out[SS_REQID_MAX + 1])
{
    if (ss_reqid_valid(in))
        memcpy(out, in, strlen(in) + 1);
    else
        ss_reqid_new(out);
    return out;
}

/* The thread's current request: an id, or a message whose header holds it. */
static _Thread_local struct {
    const char *id;
    natsMsg *msg;
    char buf[SS_REQID_MAX + 1];
} ss_reqid__cur;

void ss_reqid_set(const char *id)
{
    ss_reqid__cur.id = id;
    ss_reqid__cur.msg = NULL;
}

void ss_reqid_set_msg(natsMsg *msg)
{
    ss_reqid__cur.id = NULL;
    ss_reqid__cur.msg = msg;
}

void ss_reqid_clear(void)
{
    ss_reqid__cur.id = NULL;
    ss_reqid__cur.msg = NULL;
}

const char *ss_reqid_current(void)
{
    natsMsg *msg = ss_reqid__cur.msg;
    if (msg != NULL) { /* first ask since set_msg: read the header once */
        ss_reqid__cur.msg = NULL;
        const char *v = NULL;
        if (natsMsgHeader_Get(msg, SS_REQID_HEADER, &v) == NATS_OK && ss_reqid_valid(v)) {
            memcpy(ss_reqid__cur.buf, v, strlen(v) + 1);
            ss_reqid__cur.id = ss_reqid__cur.buf;
        }
    }
    return ss_reqid__cur.id;
}

static natsStatus ss_reqid__plain(natsConnection *nc, const char *subject, const char *reply,
                                  const void *data, int len)
{
    return reply != NULL ? natsConnection_PublishRequest(nc, subject, reply, data, len)
                         : natsConnection_Publish(nc, subject, data, len);
}

#define SS_REQID_HELD_MAX 256

/* The messages held by the calling thread (ss_reqid_hold). */
static _Thread_local struct {
    bool on;
    size_t n;
    natsMsg *msgs[SS_REQID_HELD_MAX];
} ss_reqid__held;

void ss_reqid_hold(bool on)
{
    ss_reqid__held.on = on;
    if (on)
        return;
    for (size_t i = 0; i < ss_reqid__held.n; i++)
        natsMsg_Destroy(ss_reqid__held.msgs[i]);
    ss_reqid__held.n = 0;
}

/* Frees m now, or at the end of the hold. */
static void ss_reqid__release(natsMsg *m)
{
    if (m != NULL && ss_reqid__held.on && ss_reqid__held.n < SS_REQID_HELD_MAX)
        ss_reqid__held.msgs[ss_reqid__held.n++] = m;
    else
        natsMsg_Destroy(m);
}

natsStatus ss_reqid_publish(natsConnection *nc, const char *subject, const char *reply,
                            const void *data, int len, const char *id)
{
    if (id == NULL)
        return ss_reqid__plain(nc, subject, reply, data, len);
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, reply, data, len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, SS_REQID_HEADER, id);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(nc, m);
    ss_reqid__release(m);
    if (s == NATS_NO_SERVER_SUPPORT) /* a server before 2.2: no headers */
        s = ss_reqid__plain(nc, subject, reply, data, len);
    return s;
}
