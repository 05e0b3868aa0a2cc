/* test_error.c — the one error type of every layer: each code's HTTP status
 * and client string, their inverse, and the one map from a bare status (a
 * service reply without a code) to an error, which REST and Socket.IO share. */
#include "ss_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_codes_round_trip(void **state)
{
    (void)state;
    for (int e = 0; e < SS_ERR__COUNT; e++) {
        const char *code = ss_err_code((ss_err)e);
        assert_non_null(code);
        assert_int_equal(ss_err_from_code(code), e);
        int st = ss_err_http_status((ss_err)e);
        assert_true(st == 200 || (st >= 400 && st <= 599));
    }
    assert_int_equal(ss_err_from_code("no such code"), SS_ERR_INTERNAL);
    assert_int_equal(ss_err_from_code(NULL), SS_ERR_INTERNAL);
    assert_string_equal(ss_err_code((ss_err)9999), "internal");
}

static void test_from_status(void **state)
{
    (void)state;
    struct {
        int status;
        const char *code;
    } t[] = {
        {400, "bad_request"}, {403, "forbidden"},    {404, "not_found"},
        {409, "conflict"},    {429, "rate_limited"}, {503, "unavailable"},
        {507, "storage_full"}, {500, "internal"},    {502, "internal"},
        {200, "internal"},    {0, "internal"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ss_err e = ss_err_from_status(t[i].status);
        assert_string_equal(ss_err_code(e), t[i].code);
        if (strcmp(t[i].code, "internal") != 0)
            assert_int_equal(ss_err_http_status(e), t[i].status);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_round_trip),
        cmocka_unit_test(test_from_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
