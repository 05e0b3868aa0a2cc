/* ss_stop.c — a pending SIGTERM / SIGINT (ss_stop.h). */
#include "ss_stop.h"

#include <signal.h>

bool ss_stop_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}
