/* lg_options.h — statsync-load's command line.
 *
 * Every flag has an environment fallback only where a secret is involved
 * (--secret / STATSYNC_JWT_SECRET). The target must be on this machine:
 * 127.0.0.0/8, ::1 or "localhost" (resolved here, without DNS). */
#ifndef LG_OPTIONS_H
#define LG_OPTIONS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

typedef enum lg_mode { LG_MODE_SIO = 0, LG_MODE_REST } lg_mode;

typedef struct lg_options {
    lg_mode mode;
    char host[64];               /* numeric form of the target            */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int port;
    long conns;
    long users;                  /* distinct users (lg_group.h: who owns which connection) */
    long devices;                /* --devices N: conns grouped N per user; 0 = by --users */
    double rate;                 /* total sends/s; 0 = idle (sio) / closed loop (rest) */
    double duration_s;           /* measured window                         */
    double warmup_s;             /* sending, not measured                   */
    double connect_rate;         /* new connections per second              */
    long max_connecting;         /* handshakes in flight at once            */
    double connect_timeout_s;    /* bound on the whole connect phase        */
    double drain_s;              /* wait for outstanding pushes after the run */
    double deadline_s;           /* hard bound on the whole process         */
    const char *secret;
    int src_ips;                 /* source addresses 127.0.x.y to spread over; 0 = auto */
    const char *report_file;     /* also write the JSON report here         */
    const char *user_prefix;     /* user ids are <prefix><n>                */
    const char *path;            /* websocket path + query (sio)            */
    int op_ids;                  /* sio: an opId per update; rest: an Idempotency-Key per patch */
    char op_prefix[24];          /* opIds / keys are <op_prefix><n>: unique per process run */
    int progress;                /* one JSON line per second on stderr      */
} lg_options;

/* Parses argv into o. Returns 0, 1 after printing --help, or -1 after
 * printing the reason on stderr. */
int lg_options_parse(lg_options *o, int argc, char **argv);

/* 1 when host is 127.0.0.0/8, ::1 or localhost; fills addr with port. */
int lg_options_resolve_loopback(const char *host, int port, struct sockaddr_storage *addr,
                                socklen_t *addr_len, char *numeric, size_t numeric_cap);

#endif
