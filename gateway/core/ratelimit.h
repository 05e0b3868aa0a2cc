/* ratelimit.h — the gateway's rate limits: token buckets keyed by a string
 * (a userId or a client IP), in tables bounded in size, and a count of
 * concurrent sockets per user.
 *
 * Pure: no sockets, no clock of its own — every call takes `now_ms` (a
 * monotonic clock, injected so the unit tests control time).
 *
 * Scope: the buckets live in one gateway process. With N gateways behind a
 * load balancer a user or an IP can get up to N times each limit; the limits
 * bound what one gateway spends on one client, they are not a cluster quota.
 *
 * Bounded memory: a bucket idle long enough to have refilled completely is
 * indistinguishable from a new one and is dropped; on top of that a table never
 * holds more than max_keys buckets (the least recently used one is dropped to
 * make room, which at worst hands that key a fresh burst).
 *
 * Threads: rl_table and ratelimit calls are safe from any thread (one mutex
 * per table: REST's MHD threads and the lws service thread share the mutation
 * table). rl_slots is not locked: the socket counts are kept on the lws
 * service thread only. */
#ifndef RATELIMIT_H
#define RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ss_userid.h"

#define RL_KEY_MAX SS_USERID_MAX /* a userId, or an IP key */
#define RL_IP_KEY_MAX 64         /* an IP key ("<ipv6 /64 prefix>/64") */

/* ---- token buckets ------------------------------------------------------------ */

typedef struct rl_table rl_table;

/* A table of buckets of `burst` tokens refilled at `per_s` tokens a second.
 * per_s <= 0 means unlimited (every take succeeds, nothing is stored).
 * Returns 0, or -1 when out of memory. */
int rl_table_create(rl_table **out, double per_s, double burst, size_t max_keys);
void rl_table_destroy(rl_table *t);

/* Takes one token from key's bucket. Returns 0 when allowed, else how many ms
 * until a token will be there (>= 1); a refusal takes nothing. Keys longer
 * than RL_KEY_MAX bytes are cut. Any thread. */
int64_t rl_table_take(rl_table *t, const char *key, int64_t now_ms);

/* Buckets held (for tests and the metrics gauge). Any thread. */
size_t rl_table_count(rl_table *t);

/* Retry-After in whole seconds for a wait of wait_ms: rounded up, at least 1. */
int64_t rl_retry_after_s(int64_t wait_ms);

/* ---- concurrent sockets per key ---------------------------------------------- */

typedef struct rl_slots rl_slots;

/* max <= 0 means unlimited. Returns 0 or -1 (no memory). */
int rl_slots_create(rl_slots **out, int64_t max);
void rl_slots_destroy(rl_slots *s);
/* Takes a slot for key; false when key holds max already (or no memory). */
bool rl_slots_acquire(rl_slots *s, const char *key);
/* Gives back a slot taken by rl_slots_acquire. */
void rl_slots_release(rl_slots *s, const char *key);
/* Slots key holds now. */
int64_t rl_slots_held(const rl_slots *s, const char *key);
/* Keys with at least one slot (entries are removed at 0: the table is as
 * large as the set of connected users). */
size_t rl_slots_count(const rl_slots *s);

/* ---- client addresses --------------------------------------------------------- */

/* The rate-limit key of a client address in text form: IPv4 as is (an
 * IPv4-mapped IPv6 address becomes plain IPv4), IPv6 cut to its /64 prefix
 * (one subscriber usually holds a whole /64). Returns false for text that is
 * no address (out is then the text, cut). */
bool rl_ip_key(const char *ip, char out[RL_IP_KEY_MAX + 1]);

/* ---- the gateway's limits ---------------------------------------------------- */

typedef enum rl_kind {
    RL_MUTATION = 0,   /* per user: REST writes + socket user:clientUpdate together */
    RL_REST_IP,        /* per client IP: REST requests                              */
    RL_HANDSHAKE_IP,   /* per client IP: new Engine.IO sessions (handshakes)        */
    RL_SOCKETS_USER,   /* per user: concurrent sockets past CONNECT (a cap)         */
    RL_POLLING_IP,     /* per client IP: polling requests open at once (a cap)      */
    RL_KIND__COUNT
} rl_kind;

typedef struct ratelimit_config {
    double mutation_per_s, mutation_burst;
    double rest_ip_per_s, rest_ip_burst;
    double handshake_ip_per_s, handshake_ip_burst;
    int64_t sockets_per_user;  /* <= 0: no cap */
    int64_t polls_per_ip;      /* <= 0: no cap */
    size_t max_keys;           /* per table */
    const char *exempt;        /* comma list: "loopback", exact IPs; "none" or "" = nobody */
} ratelimit_config;

typedef struct ratelimit ratelimit;

/* Returns 0, or -1 (no memory, or an exempt entry that is no address). */
int ratelimit_create(ratelimit **out, const ratelimit_config *c);
void ratelimit_destroy(ratelimit *r);

/* A token of kind (RL_MUTATION, RL_REST_IP, RL_HANDSHAKE_IP) for key.
 * 0 = go on; else the wait in ms, and the refusal is counted in
 * statsync_rate_limited_total{kind}. Any thread. */
int64_t ratelimit_take(ratelimit *r, rl_kind kind, const char *key, int64_t now_ms);

/* The per-user socket cap (lws service thread only). acquire false = refused
 * (counted in the metrics). */
bool ratelimit_socket_acquire(ratelimit *r, const char *user);
void ratelimit_socket_release(ratelimit *r, const char *user);
int64_t ratelimit_sockets_per_user(const ratelimit *r);

/* The per-IP cap on open polling requests (lws service thread only); ip_key
 * in rl_ip_key form. acquire false = refused (counted in the metrics). */
bool ratelimit_poll_acquire(ratelimit *r, const char *ip_key);
void ratelimit_poll_release(ratelimit *r, const char *ip_key);

/* True when the client address (text, as the transport reports it) is on
 * the exempt list: no per-IP limit applies to it (per-user limits still do). */
bool ratelimit_exempt(const ratelimit *r, const char *ip);

/* "mutation", "rest_ip", ... (the metric label). */
const char *ratelimit_kind_name(rl_kind kind);

#endif
