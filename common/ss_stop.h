/* ss_stop.h — "has an operator asked this process to stop?" for the phases
 * before a service's signal wait runs (its first NATS connect, taking its
 * partitions): the services block SIGTERM and SIGINT in every thread and take
 * them with sigwait later, so a stop asked meanwhile is pending, not lost.
 * Any thread. */
#ifndef SS_STOP_H
#define SS_STOP_H

#include <stdbool.h>

/* True when SIGTERM or SIGINT is pending for the process or this thread. */
bool ss_stop_pending(void);

#endif
