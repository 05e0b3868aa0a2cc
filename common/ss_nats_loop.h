/* ss_nats_loop.h — run one NATS connection's socket on a libev loop thread
 * (cnats' external event-loop mode) instead of cnats' reader + flusher
 * threads: publishes are written as soon as the loop wakes, batched, without
 * the flusher's ~1 ms wait. Used by ss_nats.c for every connection. */
#ifndef SS_NATS_LOOP_H
#define SS_NATS_LOOP_H

#include <nats/nats.h>

typedef struct ss_nats_loop ss_nats_loop;

/* Starts the loop thread. 0 or -1 (out of memory / no thread). */
int ss_nats_loop_start(ss_nats_loop **out);
/* Points the options' event-loop callbacks at this loop (before connect). */
natsStatus ss_nats_loop_use(ss_nats_loop *l, natsOptions *o);
/* Between cork and uncork, publishes from any thread only buffer; the uncork
 * wakes the loop once to write them all (a group commit's replies). Nests. */
void ss_nats_loop_cork(ss_nats_loop *l);
void ss_nats_loop_uncork(ss_nats_loop *l);
/* fn(arg) runs on the loop thread after every read from the socket, when
 * the messages of that read are queued in their subscriptions: a service
 * drains its synchronous subscriptions there, with no hand-off to another
 * thread. Setting it also runs it once soon (what was read before). NULL
 * removes it; returns only once a running call has ended. */
void ss_nats_loop_set_reader(ss_nats_loop *l, void (*fn)(void *), void *arg);
/* Stops and joins the thread, frees the loop. Call after natsConnection_Close
 * and before natsConnection_Destroy: no cnats call runs on it afterwards. */
void ss_nats_loop_stop(ss_nats_loop *l);

#endif
