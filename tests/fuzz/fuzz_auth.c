/* fuzz_auth.c — libFuzzer target for token parsing (gateway/auth.c) with a
 * fixed secret and a fixed clock.
 *
 * Byte 0 of the input picks a mode; the rest is its data:
 *   mode % 4 == 0  the data is a compact token as a client would send it
 *                  (also as an Authorization header through auth_bearer);
 *   mode % 4 == 1  the data is "<header JSON>\xff<claims JSON>": the target
 *                  base64url-encodes both parts and signs them with the
 *                  secret (HMAC-SHA256), so the fuzzer reaches the claim
 *                  checks behind the signature; bit 2 of mode signs with a
 *                  wrong secret, bit 3 flips a signature byte (both must be
 *                  refused);
 *   mode % 4 == 2  the data is a userId: auth_mint -> auth_verify round trip;
 *   mode % 4 == 3  the data is claims JSON under the canonical header
 *                  {"alg":"HS256","typ":"JWT"}.
 *
 * Oracle for every accepted token: the header decodes to an object whose alg
 * is exactly "HS256" with no crit; the claims have a numeric exp later than
 * now, no nbf after now, and a string sub that is a valid userId equal to the
 * user the verifier returned. A refusal always carries a message and no user. */
#include "auth.h"
#include "fuzz_common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define FUZZ_SECRET "fuzz-secret-0123456789abcdef"

static size_t fuzz__b64url(const uint8_t *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = tbl[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = tbl[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

/* Independent check of what auth_verify accepted. */
static void fuzz__oracle(const uint8_t *head, size_t head_len, const uint8_t *claims,
                         size_t claims_len, const auth_result *r)
{
    json_t *h = json_loadb((const char *)head, head_len, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(json_is_object(h));
    const json_t *alg = json_object_get(h, "alg");
    FUZZ_CHECK(json_is_string(alg) && strcmp(json_string_value(alg), "HS256") == 0);
    FUZZ_CHECK(json_object_get(h, "crit") == NULL);
    json_decref(h);
    /* libjwt reads the decoded claims as a C string: bytes after a NUL are
     * ignored (harmless: they are covered by the signature). */
    json_t *c = json_loadb((const char *)claims, strnlen((const char *)claims, claims_len), 0,
                           NULL);
    FUZZ_CHECK(json_is_object(c));
    const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"),
                 *sub = json_object_get(c, "sub");
    FUZZ_CHECK(json_is_number(exp) && json_number_value(exp) > (double)FUZZ_NOW_S);
    FUZZ_CHECK(nbf == NULL || (json_is_number(nbf) && json_number_value(nbf) <= (double)FUZZ_NOW_S));
    FUZZ_CHECK(json_is_string(sub));
    FUZZ_CHECK(ss_userid_valid(json_string_value(sub), json_string_length(sub)));
    FUZZ_CHECK(strcmp(json_string_value(sub), r->user_id) == 0);
    json_decref(c);
}

static ss_err fuzz__verify(const char *token, auth_result *r)
{
    ss_err e = auth_verify(token, FUZZ_SECRET, FUZZ_NOW_S, r);
    FUZZ_CHECK(e == r->err);
    if (e == SS_OK) {
        FUZZ_CHECK(ss_userid_valid_cstr(r->user_id));
    } else {
        FUZZ_CHECK(e == SS_ERR_UNAUTHORIZED);
        FUZZ_CHECK(r->user_id[0] == '\0');
        fuzz_check_message(r->message, sizeof(r->message));
    }
    return e;
}

/* A raw token: whatever it is, an accepted one must pass the oracle. */
static void fuzz__raw(const uint8_t *data, size_t size)
{
    char *tok = malloc(size + 1);
    FUZZ_CHECK(tok != NULL);
    memcpy(tok, data, size);
    tok[size] = '\0';
    auth_result r;
    if (fuzz__verify(tok, &r) == SS_OK) /* only a forged HMAC gets here */
        FUZZ_CHECK(strchr(tok, '.') != NULL);
    /* the same as an Authorization header */
    size_t hn = strlen(tok) + 8;
    char *hdr = malloc(hn);
    FUZZ_CHECK(hdr != NULL);
    snprintf(hdr, hn, "Bearer %s", tok);
    const char *t = auth_bearer(hdr);
    if (t != NULL)
        fuzz__verify(t, &r);
    free(hdr);
    free(tok);
}

/* header.claims signed with key (the real secret or not). */
static void fuzz__signed(const uint8_t *head, size_t head_len, const uint8_t *claims,
                         size_t claims_len, unsigned mode)
{
    if (head_len > AUTH_TOKEN_MAX || claims_len > AUTH_TOKEN_MAX)
        return; /* longer than any token looked at */
    size_t cap = 4 * (head_len + claims_len) / 3 + 64;
    char *tok = malloc(cap);
    FUZZ_CHECK(tok != NULL);
    size_t n = fuzz__b64url(head, head_len, tok);
    tok[n++] = '.';
    n += fuzz__b64url(claims, claims_len, tok + n);
    bool wrong_key = (mode & 4) != 0, flip = (mode & 8) != 0;
    const char *key = wrong_key ? FUZZ_SECRET "x" : FUZZ_SECRET;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), key, (int)strlen(key), (const uint8_t *)tok, n, mac,
                    &mac_len) != NULL);
    if (flip)
        mac[(mode >> 4) % mac_len] ^= (uint8_t)(1u << ((mode >> 2) & 7));
    tok[n++] = '.';
    n += fuzz__b64url(mac, mac_len, tok + n);
    FUZZ_CHECK(n < cap);
    auth_result r;
    ss_err e = fuzz__verify(tok, &r);
    if (wrong_key || flip)
        FUZZ_CHECK(e != SS_OK); /* the signature is what makes a token */
    if (e == SS_OK)
        fuzz__oracle(head, head_len, claims, claims_len, &r);
    free(tok);
}

static void fuzz__mint(const uint8_t *data, size_t size)
{
    char uid[128];
    size_t n = size < sizeof(uid) - 1 ? size : sizeof(uid) - 1;
    memcpy(uid, data, n);
    uid[n] = '\0';
    bool valid = ss_userid_valid_cstr(uid);
    char *tok = auth_mint(uid, FUZZ_SECRET, FUZZ_NOW_S, 3600);
    FUZZ_CHECK((tok != NULL) == valid);
    if (tok == NULL)
        return;
    auth_result r;
    FUZZ_CHECK(auth_verify(tok, FUZZ_SECRET, FUZZ_NOW_S, &r) == SS_OK);
    FUZZ_CHECK(strcmp(r.user_id, uid) == 0);
    FUZZ_CHECK(auth_verify(tok, FUZZ_SECRET, FUZZ_NOW_S + 3600, &r) != SS_OK); /* expired */
    FUZZ_CHECK(auth_verify(tok, FUZZ_SECRET "x", FUZZ_NOW_S, &r) != SS_OK);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    switch (mode % 4) {
    case 0:
        fuzz__raw(data, size);
        break;
    case 1: {
        const uint8_t *sep = memchr(data, 0xff, size);
        if (sep == NULL)
            fuzz__signed(data, size, (const uint8_t *)"{}", 2, mode);
        else
            fuzz__signed(data, (size_t)(sep - data), sep + 1, size - (size_t)(sep - data) - 1,
                         mode);
        break;
    }
    case 2:
        fuzz__mint(data, size);
        break;
    default: {
        static const char head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        fuzz__signed((const uint8_t *)head, sizeof(head) - 1, data, size, mode & ~12u);
        break;
    }
    }
    return 0;
}
