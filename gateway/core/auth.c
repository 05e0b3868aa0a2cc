/* auth.c — HS256 JWT verification and minting on libjwt 1.10 (see auth.h).
 *
 * libjwt checks the signature; everything it leaves open is decided here:
 * the header must name HS256 exactly (libjwt would also verify HS384/HS512
 * with the same secret, and accepts alg "none"), and the claims are read as
 * JSON with jansson so a string `exp` or a numeric `sub` is refused rather
 * than coerced. */
#include "auth.h"

#include <jansson.h>
#include <jwt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static ss_err auth__fail(auth_result *r, const char *msg)
{
    r->err = SS_ERR_UNAUTHORIZED;
    r->user_id[0] = '\0';
    snprintf(r->message, sizeof(r->message), "%s", msg);
    return r->err;
}

static int auth__b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url s[0..len) into out (size >= len). Returns the
 * decoded length or -1. */
static long auth__b64url_decode(const char *s, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = auth__b64url_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* The JOSE header must be a JSON object whose "alg" is exactly "HS256". */
static bool auth__header_is_hs256(const char *token, size_t head_len)
{
    unsigned char buf[AUTH_TOKEN_MAX];
    long n = auth__b64url_decode(token, head_len, buf);
    if (n <= 0)
        return false;
    json_t *h = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    json_t *alg = json_object_get(h, "alg");
    bool ok = json_is_object(h) && json_is_string(alg) &&
              strcmp(json_string_value(alg), "HS256") == 0 && json_object_get(h, "crit") == NULL;
    json_decref(h);
    return ok;
}

/* A NumericDate claim: a finite JSON number (seconds since the epoch). */
static bool auth__numeric_date(const json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (!isfinite(d))
        return false;
    *out = d;
    return true;
}

static ss_err auth__check_claims(jwt_t *jwt, int64_t now_s, auth_result *r)
{
    char *text = jwt_get_grants_json(jwt, NULL);
    json_t *claims = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    ss_err rc = SS_ERR_UNAUTHORIZED;
    double exp, nbf;
    const json_t *sub = json_object_get(claims, "sub");
    const json_t *jnbf = json_object_get(claims, "nbf");
    if (!json_is_object(claims)) {
        auth__fail(r, "token claims are not a JSON object");
    } else if (json_object_get(claims, "exp") == NULL) {
        auth__fail(r, "token has no exp");
    } else if (!auth__numeric_date(json_object_get(claims, "exp"), &exp)) {
        auth__fail(r, "token exp is not a number");
    } else if ((double)now_s >= exp) {
        auth__fail(r, "token expired");
    } else if (jnbf != NULL && (!auth__numeric_date(jnbf, &nbf) || (double)now_s < nbf)) {
        auth__fail(r, "token not valid yet (nbf)");
    } else if (!json_is_string(sub)) {
        auth__fail(r, "token sub is missing or not a string");
    } else if (ss_userid_check(json_string_value(sub), json_string_length(sub)) != SS_USERID_OK) {
        char why[96];
        snprintf(why, sizeof(why), "token sub: %s",
                 ss_userid_rule_text(ss_userid_check(json_string_value(sub),
                                                     json_string_length(sub))));
        auth__fail(r, why);
    } else {
        memcpy(r->user_id, json_string_value(sub), json_string_length(sub) + 1);
        r->exp_s = exp < 9.2e18 ? (int64_t)exp : INT64_MAX;
        r->err = SS_OK;
        r->message[0] = '\0';
        rc = SS_OK;
    }
    json_decref(claims);
    return rc;
}

ss_err auth_verify(const char *token, const char *secret, int64_t now_s, auth_result *r)
{
    if (token == NULL || token[0] == '\0')
        return auth__fail(r, "missing token");
    size_t len = strnlen(token, AUTH_TOKEN_MAX + 1);
    if (len > AUTH_TOKEN_MAX)
        return auth__fail(r, "token too long");
    /* Compact serialization: three base64url segments. */
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return auth__fail(r, "malformed token");
    if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
        return auth__fail(r, "malformed token");
    for (size_t i = 0; i < len; i++)
        if (token[i] != '.' && auth__b64url_val((unsigned char)token[i]) < 0)
            return auth__fail(r, "malformed token");
    if (!auth__header_is_hs256(token, (size_t)(dot1 - token)))
        return auth__fail(r, "token algorithm must be HS256");

    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
        jwt == NULL)
        return auth__fail(r, "bad token signature");
    ss_err rc;
    if (jwt_get_alg(jwt) != JWT_ALG_HS256)
        rc = auth__fail(r, "token algorithm must be HS256");
    else
        rc = auth__check_claims(jwt, now_s, r);
    jwt_free(jwt);
    return rc;
}

const char *auth_bearer(const char *header)
{
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    return *t ? t : NULL;
}

char *auth_mint(const char *user_id, const char *secret, int64_t now_s, int64_t ttl_s)
{
    if (!ss_userid_valid_cstr(user_id) || ttl_s <= 0 || secret == NULL || secret[0] == '\0')
        return NULL;
    jwt_t *jwt = NULL;
    char *out = NULL;
    if (jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_add_grant(jwt, "sub", user_id) == 0 &&
        jwt_add_grant_int(jwt, "iat", (long)now_s) == 0 &&
        jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
}
