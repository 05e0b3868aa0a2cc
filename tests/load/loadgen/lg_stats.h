/* lg_stats.h — what a run counts, and the JSON report it prints.
 *
 * One lg_stats per process, filled by the mode's event loop (one thread), read
 * by lg_report_write at the end. Every error counter is always printed (zero
 * included), so a consumer can check "no errors" by summing them. */
#ifndef LG_STATS_H
#define LG_STATS_H

#include "lg_hist.h"

#include <stdint.h>
#include <stdio.h>

#define LG_ERRORS(X)                                                                             \
    X(connect_refused)      /* ECONNREFUSED                                   */                 \
    X(connect_failed)       /* any other connect/socket error                 */                 \
    X(no_source_port)       /* EADDRNOTAVAIL: ephemeral ports exhausted       */                 \
    X(connect_timeout)      /* still handshaking when the connect phase ended */                 \
    X(ws_handshake)         /* no 101 or a wrong Sec-WebSocket-Accept         */                 \
    X(ws_protocol)          /* a frame we cannot decode                       */                 \
    X(ws_fragmented)        /* a fragmented message (not used by the server)  */                 \
    X(eio_unexpected)       /* a packet out of order for the session state    */                 \
    X(sio_connect_refused)  /* 44{...}: the server refused CONNECT            */                 \
    X(server_closed)        /* EOF, reset, ws close, eio close or sio disconnect */              \
    X(update_refused)       /* user:error for user:clientUpdate (not 429)     */                 \
    X(rate_limited)         /* user:error with status 429                     */                 \
    X(other_refused)        /* user:error for another event                   */                 \
    X(foreign_push)         /* a push for another user reached this socket    */                 \
    X(bad_push)             /* user:data:updated without an integer xp        */                 \
    X(pending_overflow)     /* too many updates awaiting their push on one conn */               \
    X(send_failed)          /* write error or output backlog over its bound   */                 \
    X(http_429)             /* rest: rate limited                             */                 \
    X(http_4xx)             /* rest: other 4xx                                */                 \
    X(http_5xx)             /* rest: 5xx                                      */                 \
    X(http_protocol)        /* rest: unparseable response                     */

typedef enum lg_err {
#define LG_ERR_ENUM(name) LG_ERR_##name,
    LG_ERRORS(LG_ERR_ENUM)
#undef LG_ERR_ENUM
    LG_ERR__COUNT
} lg_err;

typedef struct lg_stats {
    const char *mode;
    long conns;
    long users;
    long devices;            /* --devices (0: by --users)                  */
    double target_rate;
    long connected;          /* sessions that reached the ready state      */
    long connect_errors;     /* connections that never got there           */
    double connect_s;        /* length of the connect phase                */
    uint64_t sent;           /* measured sends (after warmup)              */
    uint64_t matched;        /* measured sends whose sender got its push   */
    uint64_t all_matched;    /* measured sends every device of the user got */
    uint64_t warmup_sent;
    uint64_t pushes;         /* user:data:updated received (all phases)    */
    uint64_t send_behind;    /* sends skipped: loop behind schedule / no idle conn */
    uint64_t errors[LG_ERR__COUNT];
    double duration_s;       /* measured window                            */
    lg_hist hist;            /* µs to the own push, measured sends only    */
    lg_hist all_hist;        /* µs until every device had it (sio mode)    */
} lg_stats;

void lg_stats_init(lg_stats *s);
uint64_t lg_stats_error_total(const lg_stats *s);
/* The JSON report, one line. */
void lg_report_write(FILE *f, const lg_stats *s);

#endif
