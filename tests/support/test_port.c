/* test_port.c — see test_port.h. Main thread only. */
#include "test_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEST_PORT_MAX_HELD 64

static int s_held[TEST_PORT_MAX_HELD];
static int s_nheld;
static pid_t s_owner; /* a forked child exiting must not release the parent's */

static const char *test_port__dir(void)
{
    static char dir[512];
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/statsync-test-ports", tmp && *tmp ? tmp : "/tmp");
    }
    return dir;
}

/* The reservation file of port into file. */
static void test_port__file(char *file, size_t cap, int port)
{
    snprintf(file, cap, "%s/%d", test_port__dir(), port);
}

static void test_port__release_all(void)
{
    if (getpid() != s_owner)
        return;
    char file[600];
    for (int i = 0; i < s_nheld; i++) {
        test_port__file(file, sizeof(file), s_held[i]);
        unlink(file);
    }
    s_nheld = 0;
}

static int test_port__ephemeral_low(void)
{
    int lo = 32768, hi = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2 || lo <= 0)
            lo = 32768;
        fclose(f);
    }
    return lo;
}

/* 1 when this process now holds port's reservation file. */
static int test_port__reserve(int port)
{
    char file[600], buf[32];
    test_port__file(file, sizeof(file), port);
    mkdir(test_port__dir(), 0777);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            int n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
            int ok = write(fd, buf, (size_t)n) == n;
            close(fd);
            return ok;
        }
        if (errno != EEXIST)
            return 0;
        long owner = 0;
        FILE *f = fopen(file, "r");
        if (f == NULL)
            continue; /* just released */
        if (fscanf(f, "%ld", &owner) != 1)
            owner = 0;
        fclose(f);
        if (owner > 0 && (kill((pid_t)owner, 0) == 0 || errno == EPERM))
            return 0;
        unlink(file); /* its process is gone */
    }
    return 0;
}

/* https://fetch.spec.whatwg.org/#bad-port above 2000 (tests/lib/ports.js). */
static int test_port__bad(int port)
{
    static const int bad[] = {2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
                              6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (bad[i] == port)
            return 1;
    return 0;
}

static int test_port__can_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int test_port_free(void)
{
    if (s_owner == 0) {
        s_owner = getpid();
        srand((unsigned)getpid() ^ (unsigned)time(NULL));
        atexit(test_port__release_all);
    }
    if (s_nheld == TEST_PORT_MAX_HELD)
        return -1;
    /* tests/lib/ports.js's pool (12000-27999: run_cluster's blocks) */
    int eph = test_port__ephemeral_low();
    int lo = eph - 28000 >= 2000 ? 28000 : 2000;
    int hi = eph - 28000 >= 2000 ? eph : (eph < 12000 ? eph : 12000);
    for (int i = 0; i < 500 && hi > lo; i++) {
        int port = lo + rand() % (hi - lo);
        int mine = test_port__bad(port);
        for (int j = 0; j < s_nheld; j++)
            mine |= s_held[j] == port;
        if (mine || !test_port__reserve(port))
            continue;
        if (test_port__can_listen(port)) {
            s_held[s_nheld++] = port;
            return port;
        }
        char file[600];
        test_port__file(file, sizeof(file), port);
        unlink(file);
    }
    return -1;
}
