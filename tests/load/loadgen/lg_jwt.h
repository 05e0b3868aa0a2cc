/* lg_jwt.h — HS256 JSON Web Tokens minted in-process, and base64.
 *
 * The token is exactly what tests/lib/system.js mints:
 *   b64url({"alg":"HS256","typ":"JWT"}) . b64url({"sub":…,"iat":…,"exp":…}) . b64url(HMAC-SHA256)
 * Pure apart from OpenSSL's HMAC; no allocation. */
#ifndef LG_JWT_H
#define LG_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Longest sub accepted (userIds are 1-64 chars of [A-Za-z0-9_-]). */
#define LG_JWT_SUB_MAX 64
/* Enough for any token lg_jwt_mint writes. */
#define LG_JWT_MAX 256

/* base64 of len bytes into out (NUL-terminated); url = base64url without
 * padding, else standard base64 with padding. Returns the length written,
 * or 0 when out (cap bytes) is too small. */
size_t lg_base64(char *out, size_t cap, const void *in, size_t len, int url);

/* Writes the token for sub into out (NUL-terminated). sub must be 1-64 chars
 * of [A-Za-z0-9_-]. Returns the token length, or -1 (bad sub, out too small,
 * HMAC failure). */
int lg_jwt_mint(char *out, size_t cap, const char *secret, size_t secret_len, const char *sub,
                int64_t iat, int64_t exp);

#endif
