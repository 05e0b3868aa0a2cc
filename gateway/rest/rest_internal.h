/* rest_internal.h — what the REST files share: the server, one request's
 * state, the route table entry, and the calls a route makes to answer or to
 * wait for NATS. Not for use outside gateway/rest_*.c.
 *
 * Life of a request (all on an MHD thread unless said otherwise):
 *   0. its request id: the client's X-Request-Id when sane, else a new one
 *      (ss_reqid.h); the thread's current request while MHD calls us for it,
 *      so its log lines and its NATS requests carry it; on every response
 *   1. headers: route lookup (404/405), auth (401), Content-Type (415),
 *      Content-Length (413), Idempotency-Key (400) — rest_server.c
 *   2. body: counted and buffered up to cfg.max_body_bytes (413), depth
 *      checked (400), parsed with jansson (400) — rest_server.c
 *   3. route->start(req): validates, then either answers at once or calls
 *      rest_req_wait() + rest_req_send(): the connection is suspended and no
 *      thread waits for NATS
 *   4. the NATS reply / timeout arrives on a cnats / rpc timer thread: the
 *      bytes are copied into the request's slot and the connection resumed
 *   5. route->finish(req) back on the MHD thread turns the reply into JSON. */
#ifndef REST_INTERNAL_H
#define REST_INTERNAL_H

#include "client_addr.h"
#include "nats_rpc.h"
#include "gateway.h"
#include "rest_server.h"
#include "ss_error.h"
#include "ss_list.h"
#include "ss_metrics.h"
#include "ss_reqid.h"
#include "ss_userid.h"
#include "statsync.pb-c.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most NATS requests one HTTP request makes at once (/health: stats + presence). */
#define REST_MAX_SLOTS 2
/* Longest Idempotency-Key accepted. */
#define REST_IDEM_KEY_MAX 128

typedef struct rest_req rest_req;

typedef struct rest_route {
    const char *name;   /* label in logs and metrics */
    const char *method; /* the one method allowed (405 + Allow otherwise) */
    bool auth;          /* Bearer token required */
    bool body;          /* JSON body required (Content-Type, size, depth) */
    /* Called once the request is complete and checked; must answer
     * (rest_req_reply*) or start waiting (rest_req_wait + rest_req_send). */
    void (*start)(rest_req *req);
    /* Called after every slot completed (never when start answered). */
    void (*finish)(rest_req *req);
    /* metrics, created at start-up */
    ss_histogram *duration;
    _Atomic(ss_counter *) by_status[600];
} rest_route;

/* One NATS request of an HTTP request. Written by the completing thread
 * before the connection is resumed, read by the MHD thread after. */
typedef struct rest_slot {
    rest_req *req;
    ss_histogram *nats_duration;
    int64_t sent_ns;
    ss_err err;     /* SS_OK: data/len hold the reply */
    const struct rest_gather *gather; /* set for a scatter-gather slot */
    uint8_t *data;  /* malloc'ed copy of the reply */
    size_t len;
} rest_slot;

typedef enum rest_state {
    REST_HEADERS = 0, /* first call done, body (if any) to come */
    REST_WAITING,     /* suspended, NATS requests in flight */
    REST_DONE,        /* response queued */
} rest_state;

struct rest_req {
    rest_server *rs;
    struct MHD_Connection *conn;
    rest_route *route;
    rest_state state;
    char method[8];                      /* for the log line */
    char request_id[SS_REQID_MAX + 1];   /* the client's X-Request-Id, or a new one */
    char client_ip[CLIENT_ADDR_MAX];     /* as the gateway sees it (client_addr.h) */
    int64_t start_ns;
    int status;                          /* answered status, for the log */
    enum MHD_Result mhd_ret;             /* what MHD_queue_response said */

    char user[SS_USERID_MAX + 1];        /* authenticated userId ("" when none) */
    char path_user[SS_USERID_MAX + 1];   /* :userId of the path, when the route has one */
    char idem_key[REST_IDEM_KEY_MAX + 1]; /* Idempotency-Key, "" when absent */

    /* refused (rest__refuse): answered on the final call, body dropped */
    ss_err refused;
    char refused_msg[120];
    int retry_after_s;                   /* Retry-After of a 429 */

    /* body */
    char *body;
    size_t body_len, body_cap;
    uint64_t body_discarded;
    json_t *json;                        /* parsed body (owned) */

    /* waiting for NATS: see rest_req_wait */
    rest_slot slots[REST_MAX_SLOTS];
    int nslots;
    atomic_int slots_left;
    atomic_int refs;                     /* MHD's + one per slot in flight */
    bool resumed;                        /* guarded by rs->mu */
    bool forced;                         /* resumed by shutdown; slots not read */
    ss_link waiting;                     /* in rs->waiting, guarded by rs->mu */
};

struct rest_server {
    gateway *gw;
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    ss_list waiting;           /* suspended requests (rest_req.waiting), for shutdown; mu */
    bool closing;              /* set by rest_server_stop; guarded by mu */
    atomic_int refs;           /* 1 for the server + 1 per live request */
    atomic_long inflight;      /* requests begun and not yet answered */
    atomic_int stopping;
    ss_histogram *nats_get, *nats_apply, *nats_health;
    /* The last stats-service health probe (/health or /readyz): monotonic
     * ms * 2, + 1 when it answered ok; 0 = none yet. */
    _Atomic int64_t stats_probe;
};

/* ---- rest_server.c: answering ---------------------------------------------------- */

/* Queues `body` (stolen) as the JSON response with `status`. */
void rest_req_reply_json(rest_req *req, int status, json_t *body);
/* {"error":{"code","message"}} with err's code and HTTP status. */
void rest_req_reply_error(rest_req *req, ss_err err, const char *message);
/* Same, with an explicit status and code (for codes from a StatsReply). */
void rest_req_reply_error_raw(rest_req *req, int status, const char *code, const char *message,
                              json_t *extra /* stolen, merged into the top object; its "error"
                                               object's members into the error object */);
/* A non-JSON response; text is malloc'ed and stolen. */
void rest_req_reply_text(rest_req *req, int status, const char *content_type, char *text,
                         size_t len);

/* ---- rest_server.c: waiting for NATS --------------------------------------------- */

/* Suspends the connection before n (1..REST_MAX_SLOTS) requests are sent with
 * rest_req_send; route->finish runs once all n have completed. Returns false
 * (and has answered 503) when the server is closing: send nothing then. */
bool rest_req_wait(rest_req *req, int n);
/* Sends slot i. Never blocks; a failure to send completes the slot at once
 * with the error (the route sees it in slots[i].err). */
void rest_req_send(rest_req *req, int i, const char *subject, const void *data, size_t len,
                   int64_t timeout_ms, ss_histogram *nats_duration);
/* A scatter-gather slot (nats_rpc_gather): every responder's reply is
 * collected until enough(slot, …) or the timeout, then merge(slot, …) makes
 * the one reply the route sees (malloc'ed, *len; NULL = internal error).
 * Both run on NATS threads. */
typedef struct rest_gather {
    bool (*enough)(void *slot, const nats_rpc_part *parts, size_t n);
    uint8_t *(*merge)(rest_slot *slot, const nats_rpc_part *parts, size_t n, size_t *len);
    size_t max_parts;
} rest_gather;
void rest_req_gather(rest_req *req, int i, const char *subject, const void *data, size_t len,
                     int64_t timeout_ms, ss_histogram *nats_duration, const rest_gather *g);

/* ---- rest_routes.c / rest_health.c ----------------------------------------------- */

/* The route table: NULL for 404; otherwise the route, with *method_ok false
 * for 405. When the path has a :userId segment, *seg / *seg_len point at it
 * inside url (unvalidated); else *seg is NULL. */
rest_route *rest_routes_find(const char *url, const char *method, bool *method_ok,
                             const char **seg, size_t *seg_len);
void rest_routes_init_metrics(void);
void rest_health_start(rest_req *req);
void rest_health_finish(rest_req *req);
/* Sends a HealthRequest to subject as slot `slot` (after rest_req_wait),
 * bounded by cfg.health_timeout_ms. */
void rest_health_send(rest_req *req, int slot, const char *subject);
/* A completed health probe: the reply (caller frees; NULL when none came or
 * it is unreadable, *err then says which) and *ok when the service said ok. */
Statsync__HealthReply *rest_health_reply(const rest_slot *s, bool *ok, const char **err);
/* Remembers a stats-service probe's outcome for /readyz. Any thread. */
void rest_health_note_stats(rest_server *rs, bool ok);

/* ---- rest_probes.c: /livez and /readyz -------------------------------------------- */

void rest_livez_start(rest_req *req);
void rest_readyz_start(rest_req *req);
void rest_readyz_finish(rest_req *req);

#endif
