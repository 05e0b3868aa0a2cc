/* test_auth.c — token verification and minting (gateway/auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "unit-test-secret-0123456789abcdef"
#define NOW 1700000000LL

/* Signs an arbitrary claims JSON with libjwt (alg HS256/384/512 or none). */
static char *sign(const char *claims_json, jwt_alg_t alg, const char *secret)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    if (claims_json)
        assert_int_equal(jwt_add_grants_json(jwt, claims_json), 0);
    if (alg == JWT_ALG_NONE)
        assert_int_equal(jwt_set_alg(jwt, alg, NULL, 0), 0);
    else
        assert_int_equal(
            jwt_set_alg(jwt, alg, (const unsigned char *)secret, (int)strlen(secret)), 0);
    char *t = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(t);
    return t;
}

static void b64url(const char *in, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(in), o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | (unsigned char)in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = tbl[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = tbl[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

static void expect_refused(const char *token, const char *why)
{
    auth_result r;
    ss_err e = auth_verify(token, SECRET, NOW, &r);
    if (e != SS_ERR_UNAUTHORIZED)
        fail_msg("token accepted but must be refused (%s)", why);
    assert_int_equal(r.err, SS_ERR_UNAUTHORIZED);
    assert_true(r.message[0] != '\0');
    assert_string_equal(r.user_id, "");
}

static void test_good_token(void **state)
{
    (void)state;
    char *t = auth_mint("alice_01-X", SECRET, NOW, 3600);
    assert_non_null(t);
    auth_result r;
    assert_int_equal(auth_verify(t, SECRET, NOW, &r), SS_OK);
    assert_string_equal(r.user_id, "alice_01-X");
    assert_int_equal(r.err, SS_OK);
    /* still good one second before exp */
    assert_int_equal(auth_verify(t, SECRET, NOW + 3599, &r), SS_OK);
    free(t);
}

static void test_libjwt_signed_hs256_accepted(void **state)
{
    (void)state;
    char *t = sign("{\"sub\":\"bob\",\"exp\":1700003600}", JWT_ALG_HS256, SECRET);
    auth_result r;
    assert_int_equal(auth_verify(t, SECRET, NOW, &r), SS_OK);
    assert_string_equal(r.user_id, "bob");
    free(t);
    /* a fractional NumericDate is a number too */
    t = sign("{\"sub\":\"bob\",\"exp\":1700000000.5}", JWT_ALG_HS256, SECRET);
    assert_int_equal(auth_verify(t, SECRET, NOW, &r), SS_OK);
    free(t);
}

static void test_expired(void **state)
{
    (void)state;
    char *t = auth_mint("alice", SECRET, NOW - 7200, 3600);
    expect_refused(t, "expired an hour ago");
    free(t);
    t = auth_mint("alice", SECRET, NOW - 60, 60); /* exp == now */
    expect_refused(t, "exp equal to now");
    free(t);
}

static void test_wrong_secret(void **state)
{
    (void)state;
    char *t = auth_mint("alice", "another-secret-0123456789", NOW, 3600);
    expect_refused(t, "wrong secret");
    free(t);
}

static void test_alg_none(void **state)
{
    (void)state;
    char *t = sign("{\"sub\":\"alice\",\"exp\":1700003600}", JWT_ALG_NONE, NULL);
    expect_refused(t, "alg none, empty signature");
    /* none with some signature bytes appended */
    char *t2 = malloc(strlen(t) + 8);
    sprintf(t2, "%sAAAA", t);
    expect_refused(t2, "alg none with a signature");
    free(t2);
    free(t);
    /* hand-made header variants */
    char h[128], p[128], tok[512];
    b64url("{\"sub\":\"alice\",\"exp\":1700003600}", p);
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"hs256\"}",
                             "{\"typ\":\"JWT\"}", "{\"alg\":256}", "[\"HS256\"]",
                             "{\"alg\":\"HS256\",\"crit\":[\"x\"]}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        b64url(headers[i], h);
        snprintf(tok, sizeof(tok), "%s.%s.c2lnbmF0dXJl", h, p);
        expect_refused(tok, headers[i]);
    }
}

static void test_other_hmac_algs(void **state)
{
    (void)state;
    /* Same secret, correct HS512/HS384 signature: libjwt would accept these. */
    char *t = sign("{\"sub\":\"alice\",\"exp\":1700003600}", JWT_ALG_HS512, SECRET);
    expect_refused(t, "HS512");
    free(t);
    t = sign("{\"sub\":\"alice\",\"exp\":1700003600}", JWT_ALG_HS384, SECRET);
    expect_refused(t, "HS384");
    free(t);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_refused("", "empty");
    expect_refused(NULL, "NULL");
    expect_refused("abc", "one segment");
    expect_refused("abc.def", "two segments");
    expect_refused("a.b.c.d", "four segments");
    expect_refused("..", "empty segments");
    expect_refused("eyJhbGciOiJIUzI1NiJ9..sig", "empty payload");
    expect_refused("eyJhbGciOiJIUzI1NiJ9.e30.", "empty signature");
    expect_refused("eyJhbGciOiJIUzI1NiJ9.e30=.sig", "padding char");
    expect_refused("eyJhbGciOiJIUzI1NiJ9.e3 0.sig", "space");
    expect_refused("bm90IGpzb24.e30.c2ln", "header not JSON");
    char *t = auth_mint("alice", SECRET, NOW, 3600);
    t[strlen(t) - 2] ^= 1; /* flip a signature bit */
    expect_refused(t, "tampered signature");
    free(t);
    /* tampered payload: swap the sub, keep the signature */
    t = auth_mint("alice", SECRET, NOW, 3600);
    char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
    char p[128], tok[1024];
    b64url("{\"sub\":\"mallory\",\"exp\":1700003600}", p);
    snprintf(tok, sizeof(tok), "%.*s.%s%s", (int)(dot1 - t), t, p, dot2);
    expect_refused(tok, "tampered payload");
    free(t);
    /* too long */
    char *big = malloc(AUTH_TOKEN_MAX + 100);
    memset(big, 'a', AUTH_TOKEN_MAX + 99);
    big[10] = '.';
    big[20] = '.';
    big[AUTH_TOKEN_MAX + 99] = '\0';
    expect_refused(big, "too long");
    free(big);
}

static void test_claims(void **state)
{
    (void)state;
    struct {
        const char *claims, *why;
    } bad[] = {
        {"{\"exp\":1700003600}", "missing sub"},
        {"{\"sub\":42,\"exp\":1700003600}", "numeric sub"},
        {"{\"sub\":null,\"exp\":1700003600}", "null sub"},
        {"{\"sub\":\"\",\"exp\":1700003600}", "empty sub"},
        {"{\"sub\":\" alice\",\"exp\":1700003600}", "sub with a leading space"},
        {"{\"sub\":\"alice\\u3000\",\"exp\":1700003600}", "sub with a trailing ideographic space"},
        {"{\"sub\":\"a\\u0007b\",\"exp\":1700003600}", "sub with a control character"},
        {"{\"sub\":\"a\\u0085b\",\"exp\":1700003600}", "sub with a C1 control"},
        {"{\"sub\":\"a\\u007fb\",\"exp\":1700003600}", "sub with DEL"},
        {"{\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
         "\"exp\":1700003600}",
         "sub of 129 bytes"},
        {"{\"sub\":\"alice\"}", "missing exp"},
        {"{\"sub\":\"alice\",\"exp\":\"1700003600\"}", "string exp"},
        {"{\"sub\":\"alice\",\"exp\":null}", "null exp"},
        {"{\"sub\":\"alice\",\"exp\":true}", "bool exp"},
        {"{\"sub\":\"alice\",\"exp\":1699999999}", "expired"},
        {"{\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":1700000100}", "nbf in the future"},
        {"{\"sub\":\"alice\",\"exp\":1700003600,\"nbf\":\"x\"}", "string nbf"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = sign(bad[i].claims, JWT_ALG_HS256, SECRET);
        expect_refused(t, bad[i].why);
        free(t);
    }
    /* identity-provider ids are userIds, 128 bytes is the limit, and nbf in
     * the past is fine */
    const char *good[] = {
        "auth0|5f7c8ec7c33c6c004bbafe82", "google-oauth2|112233445566778899000",
        "apple:001234.abcd.0815", "ana.maria+duo@example.com",
        "9b2c3e1a-6f0d-4c1e-9f5a-2d7b8e4c1a00", "a.b", "*", ">", "a b",
        /* 42 CJK characters of 3 bytes = 126 bytes, plus "xy" = 128 */
        "\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57"
        "\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57"
        "\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57"
        "\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57xy",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char claims[1024];
        snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"exp\":1700003600,\"nbf\":1699999000}",
                 good[i]);
        char *t = sign(claims, JWT_ALG_HS256, SECRET);
        auth_result r;
        assert_int_equal(auth_verify(t, SECRET, NOW, &r), SS_OK);
        free(t);
    }
    char *t = sign("{\"sub\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                   "\"exp\":1700003600}",
                   JWT_ALG_HS256, SECRET);
    auth_result r;
    assert_int_equal(auth_verify(t, SECRET, NOW, &r), SS_OK);
    assert_int_equal(strlen(r.user_id), 128);
    free(t);
    /* the refusal names the rule */
    t = sign("{\"sub\":\" alice\",\"exp\":1700003600}", JWT_ALG_HS256, SECRET);
    assert_int_equal(auth_verify(t, SECRET, NOW, &r), SS_ERR_UNAUTHORIZED);
    assert_non_null(strstr(r.message, "whitespace"));
    free(t);
}

static void test_bearer(void **state)
{
    (void)state;
    assert_string_equal(auth_bearer("Bearer abc.def.ghi"), "abc.def.ghi");
    assert_string_equal(auth_bearer("bearer   x"), "x");
    assert_null(auth_bearer(NULL));
    assert_null(auth_bearer(""));
    assert_null(auth_bearer("Bearer "));
    assert_null(auth_bearer("Basic dXNlcjpwYXNz"));
    assert_null(auth_bearer("Bearerabc"));
}

static void test_mint_refuses(void **state)
{
    (void)state;
    assert_null(auth_mint(" a", SECRET, NOW, 60));
    assert_null(auth_mint("a\x01b", SECRET, NOW, 60));
    assert_null(auth_mint("", SECRET, NOW, 60));
    assert_null(auth_mint("alice", SECRET, NOW, 0));
    assert_null(auth_mint("alice", "", NOW, 60));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token),
        cmocka_unit_test(test_libjwt_signed_hs256_accepted),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_wrong_secret),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_other_hmac_algs),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_mint_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
