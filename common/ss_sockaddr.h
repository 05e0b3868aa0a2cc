/* ss_sockaddr.h — a numeric listen address and a port as a socket address,
 * for the HTTP servers that take a bind address (the services' admin port,
 * the gateway's REST port). Threads: any. */
#ifndef SS_SOCKADDR_H
#define SS_SOCKADDR_H

#include <stdint.h>
#include <sys/socket.h>

/* host is a numeric IPv4 or IPv6 address ("127.0.0.1", "::1", "0.0.0.0").
 * Fills *out (its family tells which). Returns 0, or -1 when host is not
 * such an address (names are not resolved). */
int ss_sockaddr_numeric(const char *host, uint16_t port, struct sockaddr_storage *out);

#endif
