/* auth.h — client tokens: HS256 JWTs whose `sub` is the userId (DESIGN §2).
 *
 * Pure functions: a token, the secret and the time in, a userId or an error
 * out; no I/O, no globals, safe from any thread. Tokens and secrets are never
 * logged, and messages never quote them. */
#ifndef AUTH_H
#define AUTH_H

#include "ss_error.h"
#include "ss_userid.h"

#include <stddef.h>
#include <stdint.h>

/* Longest token looked at; anything longer is refused unread. */
#define AUTH_TOKEN_MAX 4096

typedef struct auth_result {
    ss_err err;                     /* SS_OK or SS_ERR_UNAUTHORIZED */
    char user_id[SS_USERID_MAX + 1]; /* on SS_OK: the token's sub */
    int64_t exp_s;                  /* on SS_OK: the token's exp (seconds, floored) */
    char message[96];               /* on error: why, for the client */
} auth_result;

/* Verifies a compact JWT: signature with `secret`, header alg exactly HS256
 * (none and every other algorithm refused), claims: `exp` required, a number,
 * and later than now_s; `nbf`, when present, not after now_s; `sub` a string
 * that passes ss_userid_valid. Fills *r and returns r->err. */
ss_err auth_verify(const char *token, const char *secret, int64_t now_s, auth_result *r);

/* "Bearer <token>" (scheme case-insensitive) -> pointer to the token inside
 * header (borrowed), or NULL when the header is absent or has another form. */
const char *auth_bearer(const char *header);

/* Mints an HS256 token {sub, iat: now_s, exp: now_s + ttl_s}. Returns a
 * malloc'ed string (caller frees) or NULL (bad userId, ttl <= 0, no memory). */
char *auth_mint(const char *user_id, const char *secret, int64_t now_s, int64_t ttl_s);

#endif
