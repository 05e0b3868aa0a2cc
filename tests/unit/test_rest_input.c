/* test_rest_input.c — pure REST input checks (gateway/rest_input.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rest_input.h"

#include <stdlib.h>
#include <string.h>

static void test_content_type(void **state)
{
    (void)state;
    assert_true(rest_content_type_is_json("application/json"));
    assert_true(rest_content_type_is_json("Application/JSON"));
    assert_true(rest_content_type_is_json("application/json; charset=utf-8"));
    assert_true(rest_content_type_is_json("application/json;charset=UTF-8"));
    assert_true(rest_content_type_is_json("  application/json  "));
    assert_false(rest_content_type_is_json(NULL));
    assert_false(rest_content_type_is_json(""));
    assert_false(rest_content_type_is_json("text/plain"));
    assert_false(rest_content_type_is_json("application/jsonx"));
    assert_false(rest_content_type_is_json("application/json-patch+json"));
    assert_false(rest_content_type_is_json("application/x-www-form-urlencoded"));
    assert_false(rest_content_type_is_json("multipart/form-data; boundary=x"));
}

static void test_idem_key(void **state)
{
    (void)state;
    char key[200];
    assert_true(rest_idem_key_valid("a", 128));
    assert_true(rest_idem_key_valid("op-123e4567-e89b-12d3-a456-426614174000", 128));
    assert_true(rest_idem_key_valid("with space ~!@#$%^&*()", 128));
    memset(key, 'k', 128);
    key[128] = '\0';
    assert_true(rest_idem_key_valid(key, 128));
    key[128] = 'k';
    key[129] = '\0';
    assert_false(rest_idem_key_valid(key, 128));
    assert_false(rest_idem_key_valid("", 128));
    assert_false(rest_idem_key_valid(NULL, 128));
    assert_false(rest_idem_key_valid("tab\there", 128));
    assert_false(rest_idem_key_valid("caf\xc3\xa9", 128));
    assert_false(rest_idem_key_valid("del\x7f", 128));
}

static void test_depth(void **state)
{
    (void)state;
    const char *t = "{\"a\":[{\"b\":1}]}";
    assert_false(rest_json_too_deep(t, strlen(t), 3));
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    /* brackets inside strings, also after escaped quotes, do not count */
    t = "{\"a\":\"[[[[[[\\\"{{{{{\"}";
    assert_false(rest_json_too_deep(t, strlen(t), 1));
    t = "{\"a\\\\\":[[1]]}"; /* key ends in an escaped backslash */
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    assert_false(rest_json_too_deep(t, strlen(t), 3));
    /* siblings do not add up */
    t = "[[1],[2],[3],{\"x\":[]}]";
    assert_false(rest_json_too_deep(t, strlen(t), 3));
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    /* deep nesting: exactly at the limit passes, one more does not */
    char buf[200];
    int n = 0;
    for (int i = 0; i < 32; i++)
        buf[n++] = '[';
    for (int i = 0; i < 32; i++)
        buf[n++] = ']';
    assert_false(rest_json_too_deep(buf, (size_t)n, 32));
    assert_true(rest_json_too_deep(buf, (size_t)n, 31));
    /* stray closers cannot buy extra depth */
    t = "]]]]][[[";
    assert_true(rest_json_too_deep(t, strlen(t), 2));
    /* only len bytes are looked at */
    assert_false(rest_json_too_deep("[[[", 1, 1));
}

static void test_content_length(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(rest_parse_content_length("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(rest_parse_content_length("1048577", &v), 0);
    assert_int_equal(v, 1048577);
    assert_int_equal(rest_parse_content_length("18446744073709551615", &v), -1);
    assert_int_equal(rest_parse_content_length("99999999999999999999999", &v), -1);
    assert_int_equal(rest_parse_content_length("", &v), -1);
    assert_int_equal(rest_parse_content_length(NULL, &v), -1);
    assert_int_equal(rest_parse_content_length("12a", &v), -1);
    assert_int_equal(rest_parse_content_length("-1", &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_idem_key),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_content_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
