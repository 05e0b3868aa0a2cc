/* lg_net.h — sockets, clocks and the stop flag for the load generator's
 * event loops. */
#ifndef LG_NET_H
#define LG_NET_H

#include "lg_options.h"

#include <signal.h>
#include <stdint.h>

/* Set by SIGINT/SIGTERM (main.c): the loops end their phase early and the run
 * reports what it measured so far. */
extern volatile sig_atomic_t lg_stop_requested;

uint64_t lg_now_ns(void); /* CLOCK_MONOTONIC */

/* Raises RLIMIT_NOFILE to at least need (soft, and hard when permitted).
 * Returns 0, or -1 after saying on stderr what limit stands in the way. */
int lg_net_raise_nofile(long need);

/* A non-blocking TCP socket (TCP_NODELAY) whose connect to o->addr is under
 * way. src >= 0 binds it first to source address number src (127.0.x.y,
 * x.y counted from 0.1, the port left to connect() through
 * IP_BIND_ADDRESS_NO_PORT so each source address has its own 4-tuple space).
 * Returns the fd, or -errno. */
int lg_net_connect(const lg_options *o, int src);

/* The pending error of a socket whose connect finished (SO_ERROR). */
int lg_net_socket_error(int fd);

#endif
