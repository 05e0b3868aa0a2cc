/* sio_handover.c — how other threads (cnats delivery, the rpc timer) hand
 * work to the service thread: sio_server_post() appends a task to `q_head`
 * under `q_mu` and calls lws_cancel_service() when the queue was empty; the
 * service thread runs every queued task in LWS_CALLBACK_EVENT_WAIT_CANCELLED
 * (sio_handover_drain). After sio_handover_close() a post frees its task at
 * once. Threads: sio_server_post any thread; the rest service thread. */
#include "sio_engine.h"

void sio_server_post(sio_server *s, sio_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&s->q_mu);
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
    if (s->q_tail)
        s->q_tail->next = t;
    else
        s->q_head = t;
    s->q_tail = t;
    if (wake)
        lws_cancel_service(s->ctx); /* under q_mu: ctx is not destroyed while q_closed == 0 */
    pthread_mutex_unlock(&s->q_mu);
}

void sio_handover_drain(sio_server *s, int discard)
{
    pthread_mutex_lock(&s->q_mu);
    sio_task *t = s->q_head;
    s->q_head = s->q_tail = NULL;
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
    pthread_mutex_unlock(&s->q_mu);
}
