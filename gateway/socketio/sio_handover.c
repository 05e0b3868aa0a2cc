/* sio_handover.c — how other threads (cnats delivery, the rpc timer) hand
 * work to the service thread: sio_server_post() appends a task to `q_head`
 * under `q_mu` and calls lws_cancel_service() when the queue was empty; the
 * service thread runs every queued task in LWS_CALLBACK_EVENT_WAIT_CANCELLED
 * (sio_handover_drain). After sio_handover_close() a post frees its task at
 * once.
 *
 * Bounded: at most `q_cap` tasks wait (STATSYNC_HANDOVER_MAX). A post that
 * finds the queue full waits for the service thread to take it — nothing is
 * dropped, least of all an RPC completion; the posting cnats delivery thread
 * stops taking messages meanwhile, so NATS buffers them and its per-
 * subscription pending limits (slow-consumer drops, counted by cnats) are
 * where an overload ends. Change events do not pile up behind it: while
 * the queue is half full (sio_server_behind) fanout.c keeps one per user,
 * the newest version (fanout__hand_over).
 * Metrics: statsync_socket_handover_depth, _waits_total.
 *
 * Threads: sio_server_post any thread but the service thread (it never
 * posts to itself); the rest service thread. */
#include "sio_engine.h"

#include "ss_list.h"

void sio_server_post(sio_server *s, sio_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&s->q_mu);
    if (!s->q_closed && s->q_depth >= s->q_cap) {
        ss_counter_add(s->m.handover_waits, 1);
        while (!s->q_closed && s->q_depth >= s->q_cap)
            pthread_cond_wait(&s->q_room, &s->q_mu);
    }
    if (s->q_closed) {
        pthread_mutex_unlock(&s->q_mu);
        t->run(NULL, t);
        return;
    }
    /* One wake per batch: a non-empty queue already has a wake on its way
     * (posted with its first task), and the service thread takes the whole
     * queue in one go when it arrives. Each wake costs the service thread a
     * poll() over every connection. */
    int wake = s->q_head == NULL;
    SS_FIFO_PUSH(s->q_head, s->q_tail, t);
    s->q_depth++;
    if (wake)
        lws_cancel_service(s->ctx); /* under q_mu: ctx is not destroyed while q_closed == 0 */
    pthread_mutex_unlock(&s->q_mu);
}

bool sio_server_behind(sio_server *s)
{
    pthread_mutex_lock(&s->q_mu);
    bool behind = s->q_depth >= s->q_cap / 2;
    pthread_mutex_unlock(&s->q_mu);
    return behind;
}

void sio_handover_drain(sio_server *s, int discard)
{
    pthread_mutex_lock(&s->q_mu);
    sio_task *t = s->q_head;
    s->q_head = s->q_tail = NULL;
    ss_gauge_set(s->m.handover_depth, (int64_t)s->q_depth); /* the depth this turn found */
    s->q_depth = 0;
    pthread_cond_broadcast(&s->q_room);
    pthread_mutex_unlock(&s->q_mu);
    while (t) {
        sio_task *next = t->next;
        t->run(discard ? NULL : s, t);
        t = next;
    }
}

void sio_handover_close(sio_server *s)
{
    pthread_mutex_lock(&s->q_mu);
    s->q_closed = 1;
    pthread_cond_broadcast(&s->q_room); /* waiting posts free their tasks */
    pthread_mutex_unlock(&s->q_mu);
}
