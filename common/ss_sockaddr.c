/* ss_sockaddr.c — numeric listen addresses (ss_sockaddr.h). */
#include "ss_sockaddr.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>

int ss_sockaddr_numeric(const char *host, uint16_t port, struct sockaddr_storage *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    memset(out, 0, sizeof(*out));
    if (host == NULL || getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL)
        return -1;
    int rc = ai->ai_addrlen <= sizeof(*out) ? 0 : -1;
    if (rc == 0)
        memcpy(out, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return rc;
}
