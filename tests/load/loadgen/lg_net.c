/* lg_net.c — see lg_net.h. */
#include "lg_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

volatile sig_atomic_t lg_stop_requested = 0;

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int lg_net_raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("statsync-load: getrlimit(RLIMIT_NOFILE)");
        return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= (rlim_t)need)
        return 0;
    struct rlimit want = rl;
    want.rlim_cur = (rlim_t)need;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need)
        want.rlim_max = (rlim_t)need; /* needs CAP_SYS_RESOURCE and fs.nr_open >= need */
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return 0;
    fprintf(stderr,
            "statsync-load: need %ld file descriptors, but RLIMIT_NOFILE is %llu (hard %llu) and "
            "raising it failed: %s. Raise the hard limit (ulimit -Hn as root, or "
            "CAP_SYS_RESOURCE; fs.nr_open bounds it) or run fewer --conns per process.\n",
            need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
            strerror(errno));
    return -1;
}

int lg_net_connect(const lg_options *o, int src)
{
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src >= 0 && o->addr.ss_family == AF_INET) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        uint32_t host = (127u << 24) | ((uint32_t)(src / 254) << 8) | (uint32_t)(src % 254 + 1);
        sa.sin_addr.s_addr = htonl(host);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int lg_net_socket_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}
