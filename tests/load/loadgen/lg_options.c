/* lg_options.c — see lg_options.h. */
#include "lg_options.h"

#include "lg_group.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void options__usage(FILE *f)
{
    fprintf(f,
        "usage: statsync-load [flags]   (loopback targets only)\n"
        "  --mode sio|rest        Socket.IO pushes (default) or REST patches\n"
        "  --host H --port P      target (127.0.0.0/8, ::1, localhost; default 127.0.0.1:3001)\n"
        "  --conns N              connections (default 100)\n"
        "  --users N              distinct users, conn i is user u<i %% N> (default = conns)\n"
        "  --devices N            instead: conns grouped N per user, conn i is device i %% N\n"
        "                         of user u<i / N>; an update is sent on one device and\n"
        "                         timed until every device of the user has its push\n"
        "  --rate R               total updates/s over all connections (sio: 0 = hold idle;\n"
        "                         rest: 0 = closed loop, as fast as responses come)\n"
        "  --duration S           measured seconds (default 10)\n"
        "  --warmup S             seconds of load before measuring (default 1)\n"
        "  --connect-rate R       new connections per second (default 5000)\n"
        "  --max-connecting N     handshakes in flight at once (default 1000)\n"
        "  --connect-timeout S    bound on the connect phase (default 10 + conns/connect-rate*2)\n"
        "  --drain S              wait for outstanding pushes after the run (default 2)\n"
        "  --deadline S           hard bound on the whole run (default: sum of the above + 10)\n"
        "  --secret K             HS256 secret (default $STATSYNC_JWT_SECRET)\n"
        "  --src-ips N            spread sources over N addresses 127.0.x.y (default: one per\n"
        "                         20000 connections)\n"
        "  --user-prefix P        user ids are P<n> (default u)\n"
        "  --path P               websocket path (default /socket.io/?EIO=4&transport=websocket)\n"
        "  --op-ids               sio: give every update an opId; rest: send an\n"
        "                         Idempotency-Key with every patch (--idempotency-keys);\n"
        "                         both exercise the idempotency records, as the SDK does\n"
        "  --progress             one JSON line per second on stderr\n"
        "  --report FILE          also write the JSON report to FILE\n"
        "Prints one JSON report on stdout. Exit: 0 ran, 2 bad flags or setup failure.\n");
}

int lg_options_resolve_loopback(const char *host, int port, struct sockaddr_storage *addr,
                                socklen_t *addr_len, char *numeric, size_t numeric_cap)
{
    memset(addr, 0, sizeof *addr);
    const char *h = host;
    if (strcmp(h, "localhost") == 0)
        h = "127.0.0.1";
    struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
        if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
            return 0;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *addr_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            return 0;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *addr_len = sizeof *a6;
    } else {
        return 0;
    }
    snprintf(numeric, numeric_cap, "%s", h);
    return 1;
}

static int options__num(const char *name, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "statsync-load: --%s wants a number in [%g, %g], got '%s'\n", name, lo,
                hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

int lg_options_parse(lg_options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->mode = LG_MODE_SIO;
    o->port = 3001;
    o->conns = 100;
    o->duration_s = 10;
    o->warmup_s = 1;
    o->connect_rate = 5000;
    o->max_connecting = 1000;
    o->drain_s = 2;
    o->user_prefix = "u";
    o->path = "/socket.io/?EIO=4&transport=websocket";
    o->secret = getenv("STATSYNC_JWT_SECRET");
    const char *host = "127.0.0.1";
    double users = 0, devices = 0, connect_timeout = -1, deadline = -1, d = 0; /* scratch of options__num (read even when it refused) */

    enum { O_MODE = 256, O_HOST, O_PORT, O_CONNS, O_USERS, O_RATE, O_DURATION, O_WARMUP,
           O_CRATE, O_MAXC, O_CTIMEOUT, O_DRAIN, O_DEADLINE, O_SECRET, O_SRC, O_REPORT,
           O_PREFIX, O_PATH, O_OPIDS, O_PROGRESS, O_DEVICES, O_HELP };
    static const struct option longopts[] = {
        {"mode", required_argument, 0, O_MODE},       {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},       {"conns", required_argument, 0, O_CONNS},
        {"users", required_argument, 0, O_USERS},     {"rate", required_argument, 0, O_RATE},
        {"duration", required_argument, 0, O_DURATION},
        {"warmup", required_argument, 0, O_WARMUP},
        {"connect-rate", required_argument, 0, O_CRATE},
        {"max-connecting", required_argument, 0, O_MAXC},
        {"connect-timeout", required_argument, 0, O_CTIMEOUT},
        {"drain", required_argument, 0, O_DRAIN},     {"deadline", required_argument, 0, O_DEADLINE},
        {"secret", required_argument, 0, O_SECRET},   {"src-ips", required_argument, 0, O_SRC},
        {"report", required_argument, 0, O_REPORT},
        {"user-prefix", required_argument, 0, O_PREFIX},
        {"path", required_argument, 0, O_PATH},       {"op-ids", no_argument, 0, O_OPIDS},
        {"idempotency-keys", no_argument, 0, O_OPIDS},
        {"devices", required_argument, 0, O_DEVICES},
        {"progress", no_argument, 0, O_PROGRESS},     {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case O_MODE:
            if (strcmp(optarg, "sio") == 0 || strcmp(optarg, "socketio") == 0)
                o->mode = LG_MODE_SIO;
            else if (strcmp(optarg, "rest") == 0)
                o->mode = LG_MODE_REST;
            else {
                fprintf(stderr, "statsync-load: --mode is sio or rest, got '%s'\n", optarg);
                return -1;
            }
            break;
        case O_HOST: host = optarg; break;
        case O_PORT: rc = options__num("port", optarg, 1, 65535, &d); o->port = (int)d; break;
        case O_CONNS: rc = options__num("conns", optarg, 1, 1000000, &d); o->conns = (long)d; break;
        case O_USERS: rc = options__num("users", optarg, 1, 10000000, &users); break;
        case O_DEVICES:
            rc = options__num("devices", optarg, 1, LG_GROUP_MAX_DEVICES, &devices);
            break;
        case O_RATE: rc = options__num("rate", optarg, 0, 10000000, &o->rate); break;
        case O_DURATION: rc = options__num("duration", optarg, 0, 3600, &o->duration_s); break;
        case O_WARMUP: rc = options__num("warmup", optarg, 0, 600, &o->warmup_s); break;
        case O_CRATE: rc = options__num("connect-rate", optarg, 1, 1000000, &o->connect_rate); break;
        case O_MAXC: rc = options__num("max-connecting", optarg, 1, 1000000, &d); o->max_connecting = (long)d; break;
        case O_CTIMEOUT: rc = options__num("connect-timeout", optarg, 0.1, 3600, &connect_timeout); break;
        case O_DRAIN: rc = options__num("drain", optarg, 0, 600, &o->drain_s); break;
        case O_DEADLINE: rc = options__num("deadline", optarg, 1, 7200, &deadline); break;
        case O_SECRET: o->secret = optarg; break;
        case O_SRC: rc = options__num("src-ips", optarg, 1, 65000, &d); o->src_ips = (int)d; break;
        case O_REPORT: o->report_file = optarg; break;
        case O_PREFIX: o->user_prefix = optarg; break;
        case O_PATH: o->path = optarg; break;
        case O_OPIDS: o->op_ids = 1; break;
        case O_PROGRESS: o->progress = 1; break;
        case 'h':
        case O_HELP: options__usage(stdout); return 1;
        default: options__usage(stderr); return -1;
        }
        if (rc)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "statsync-load: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!lg_options_resolve_loopback(host, o->port, &o->addr, &o->addr_len, o->host,
                                     sizeof o->host)) {
        fprintf(stderr,
                "statsync-load: refusing target '%s': only 127.0.0.0/8, ::1 or localhost\n", host);
        return -1;
    }
    if (!o->secret || !*o->secret) {
        fprintf(stderr, "statsync-load: no JWT secret: pass --secret or set STATSYNC_JWT_SECRET\n");
        return -1;
    }
    size_t plen = strlen(o->user_prefix);
    if (plen > 40 || strspn(o->user_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789_-") != plen) {
        fprintf(stderr, "statsync-load: --user-prefix must be <= 40 chars of [A-Za-z0-9_-]\n");
        return -1;
    }
    if (devices > 0 && users > 0) {
        fprintf(stderr, "statsync-load: --devices and --users are two ways to say who owns a "
                        "connection: give one\n");
        return -1;
    }
    o->devices = (long)devices;
    o->users = o->devices ? (o->conns + o->devices - 1) / o->devices
                          : users > 0 ? (long)users : o->conns;
    if (!o->devices && (o->conns + o->users - 1) / o->users > LG_GROUP_MAX_DEVICES) {
        fprintf(stderr, "statsync-load: --users %ld gives a user more than %d of the %ld "
                        "connections\n", o->users, LG_GROUP_MAX_DEVICES, o->conns);
        return -1;
    }
    /* opIds and Idempotency-Keys of this run: a prefix no other run shares
     * (the stats-service remembers keys for a day, and the users are the same
     * from run to run). */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(o->op_prefix, sizeof o->op_prefix, "lg%x%08llx-", (unsigned)getpid() & 0xfffffu,
             (unsigned long long)((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) &
                 0xffffffffull);
    if (o->src_ips == 0)
        o->src_ips = (int)((o->conns + 19999) / 20000);
    if (o->addr.ss_family == AF_INET6 && o->src_ips > 1) {
        fprintf(stderr, "statsync-load: --src-ips > 1 needs an IPv4 target (::1 is one address)\n");
        return -1;
    }
    o->connect_timeout_s =
        connect_timeout > 0 ? connect_timeout : 10.0 + 2.0 * (double)o->conns / o->connect_rate;
    o->deadline_s = deadline > 0 ? deadline
                                 : o->connect_timeout_s + o->warmup_s + o->duration_s + o->drain_s +
                                       10.0;
    return 0;
}
