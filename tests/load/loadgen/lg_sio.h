/* lg_sio.h — the Engine.IO v4 / Socket.IO v5 packets the load generator
 * sends and the few it reads, on the main namespace.
 *
 * Pure and cheap: classification looks at the first bytes only, and the one
 * payload that matters (user:data:updated) is scanned once, at the top level
 * of its object, for "xp" and "userId" — no JSON tree, no allocation. */
#ifndef LG_SIO_H
#define LG_SIO_H

#include <stddef.h>
#include <stdint.h>

typedef enum lg_pkt {
    LG_PKT_OTHER = 0,      /* anything not listed (upgrade, binary, other namespaces…) */
    LG_PKT_EIO_OPEN,       /* 0{…}                         */
    LG_PKT_EIO_CLOSE,      /* 1                            */
    LG_PKT_EIO_PING,       /* 2                            */
    LG_PKT_EIO_NOOP,       /* 6                            */
    LG_PKT_SIO_CONNECT,    /* 40{"sid":…}                  */
    LG_PKT_SIO_DISCONNECT, /* 41                           */
    LG_PKT_SIO_EVENT,      /* 42[…]                        */
    LG_PKT_SIO_ACK,        /* 43<id>[…]                    */
    LG_PKT_SIO_CONNECT_ERROR, /* 44{"message":…} */
} lg_pkt;

lg_pkt lg_sio_classify(const char *p, size_t n);

/* For an EVENT packet (the whole frame text, "42…"): 1 when it is
 * user:data:updated with a top-level integer "xp" — *xp set, and *uid and *uid_len
 * set to the top-level "userId" string (borrowed; NULL/0 when absent);
 * 0 when it is another event; -1 when it is user:data:updated but malformed
 * (no object, no integer xp). */
int lg_sio_parse_data_updated(const char *p, size_t n, int64_t *xp, const char **uid,
                              size_t *uid_len);

/* For an EVENT packet: 1 when it is user:error — the gateway's refusal of a
 * request sent without an ack id: {event, error:{code, message, status}} —
 * with *status its error.status (0 when absent) and *about set when the
 * refused event was user:clientUpdate; 0 when it is another event. */
int lg_sio_parse_user_error(const char *p, size_t n, int *status, int *about_update);

/* Packet builders: return the length written (NUL-terminated), 0 when out is
 * too small. token, user_id and op_id are written as given: callers pass
 * JSON-safe text (base64url, [A-Za-z0-9_-]). */
size_t lg_sio_connect(char *out, size_t cap, const char *token);
size_t lg_sio_join(char *out, size_t cap, const char *user_id);
size_t lg_sio_update(char *out, size_t cap, const char *op_id /* NULL: none */);

#endif
