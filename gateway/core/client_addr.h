/* client_addr.h — who the client is behind a reverse proxy.
 *
 * The peer of a connection is the client unless it is a trusted proxy (the
 * edge, `STATSYNC_TRUSTED_PROXIES`): then the client is the rightmost
 * X-Forwarded-For entry that is not itself a trusted proxy (nginx's
 * real_ip_recursive), so an address a client writes into the header is
 * believed only when every hop after it is trusted. From an untrusted peer
 * the header is ignored. Per-IP limits then apply to real clients.
 *
 * Pure: no sockets; the trust list is read-only after creation and may be
 * used from any thread. */
#ifndef CLIENT_ADDR_H
#define CLIENT_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define CLIENT_ADDR_MAX 46 /* INET6_ADDRSTRLEN */
#define CLIENT_ADDR_XFF_MAX 4096 /* longest X-Forwarded-For read */

typedef struct client_addr_trust client_addr_trust;

/* list: comma separated `loopback`, IPv4/IPv6 addresses and CIDRs
 * (10.0.0.0/8, fd00::/8); "" or "none" = trust nobody. Returns 0, or -1 with
 * the offending entry copied to bad (cap bad_cap) when one is not an address. */
int client_addr_trust_create(client_addr_trust **out, const char *list, char *bad,
                             size_t bad_cap);
void client_addr_trust_destroy(client_addr_trust *t);
/* No proxy is trusted (NULL too). */
bool client_addr_trust_empty(const client_addr_trust *t);

/* ip (text) is on the trust list. False for NULL, "" or an unparsable text. */
bool client_addr_trusted(const client_addr_trust *t, const char *ip);

/* The client's address in canonical text form (IPv4-mapped IPv6 written as
 * IPv4) into out (CLIENT_ADDR_MAX): peer itself, or, when peer is trusted and
 * xff is given, the address the X-Forwarded-For chain yields. An entry that
 * is not an address ends the walk (the hop after it is the client). */
void client_addr_resolve(const client_addr_trust *t, const char *peer, const char *xff,
                         char *out);

#endif
