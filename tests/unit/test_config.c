/* test_config.c — common/ss_config: a secret from its *_FILE variable or
 * --<flag>-file (content less its trailing newline), both set refused, an
 * empty or missing file refused; and the STATSYNC_* variables no statsync
 * program reads found (a typo), while the binary's own, another binary's,
 * a secret's *_FILE and the scripts' are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *secret, *name;

static const ss_opt opts[] = {
    SS_OPT_SECRET("secret", "STATSYNC_TEST_X_SECRET", &secret, NULL, "a secret"),
    SS_OPT_STR("name", "STATSYNC_TEST_X_NAME", &name, "n", "a plain string"),
};

static int parse(int argc, char **argv)
{
    secret = name = NULL;
    return ss_config_parse(opts, (int)SS_COUNT(opts), argc, argv, "test", "config tests");
}

/* A temporary file holding text; its path in path (64 bytes). */
static void temp_file(char *path, const char *text)
{
    strcpy(path, "/tmp/statsync-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int clean_env(void **state)
{
    (void)state;
    unsetenv("STATSYNC_TEST_X_SECRET");
    unsetenv("STATSYNC_TEST_X_SECRET_FILE");
    unsetenv("STATSYNC_TEST_X_NAME");
    unsetenv("STATSYNC_JWT_SECRT");
    unsetenv("STATSYNC_DATA_DIR");
    unsetenv("STATSYNC_EDGE_WORKERS");
    unsetenv("STATSYNC_APP_PORT");
    return 0;
}

static void test_secret_from_environment(void **state)
{
    (void)state;
    char *argv[] = {"test"};
    setenv("STATSYNC_TEST_X_SECRET", "from-env", 1);
    assert_int_equal(parse(1, argv), 0);
    assert_string_equal(secret, "from-env");
}

static void test_secret_from_file_drops_trailing_newline(void **state)
{
    (void)state;
    char path[64];
    temp_file(path, "s3cr3t value\r\n\n");
    setenv("STATSYNC_TEST_X_SECRET_FILE", path, 1);
    char *argv[] = {"test"};
    assert_int_equal(parse(1, argv), 0);
    assert_string_equal(secret, "s3cr3t value");
    unlink(path);
}

static void test_secret_and_its_file_is_an_error(void **state)
{
    (void)state;
    char path[64];
    temp_file(path, "one\n");
    setenv("STATSYNC_TEST_X_SECRET_FILE", path, 1);
    setenv("STATSYNC_TEST_X_SECRET", "two", 1);
    char *argv[] = {"test"};
    assert_true(parse(1, argv) < 0);
    unlink(path);
}

static void test_secret_file_missing_or_empty_is_an_error(void **state)
{
    (void)state;
    char *argv[] = {"test"};
    setenv("STATSYNC_TEST_X_SECRET_FILE", "/nonexistent/statsync-secret", 1);
    assert_true(parse(1, argv) < 0);
    char path[64];
    temp_file(path, "\n");
    setenv("STATSYNC_TEST_X_SECRET_FILE", path, 1);
    assert_true(parse(1, argv) < 0);
    unlink(path);
}

static void test_secret_file_flag(void **state)
{
    (void)state;
    char path[64];
    temp_file(path, "by-flag\n");
    char arg[80];
    snprintf(arg, sizeof(arg), "--secret-file=%s", path);
    char *argv[] = {"test", arg};
    assert_int_equal(parse(2, argv), 0);
    assert_string_equal(secret, "by-flag");
    char *bad[] = {"test", "--name-file=x"}; /* only secrets have a -file flag */
    assert_true(parse(2, bad) < 0);
    unlink(path);
}

static void test_required_secret_satisfied_by_file(void **state)
{
    (void)state;
    char *argv[] = {"test"};
    assert_true(parse(1, argv) < 0); /* required: neither is set */
    const char *v = NULL;
    assert_int_equal(ss_config_secret_env("STATSYNC_TEST_X_SECRET", "test", &v), 0);
    assert_null(v);
}

static bool typo_seen;
static void on_unknown(const char *n, size_t len, void *arg)
{
    (void)arg;
    if (len == strlen("STATSYNC_JWT_SECRT") && memcmp(n, "STATSYNC_JWT_SECRT", len) == 0)
        typo_seen = true;
}

static void test_unknown_variables(void **state)
{
    (void)state;
    const int n = (int)SS_COUNT(opts);
    size_t before = ss_config_unknown_env(opts, n, NULL, NULL); /* whatever the caller's env has */
    setenv("STATSYNC_TEST_X_NAME", "own option", 1);
    setenv("STATSYNC_TEST_X_SECRET_FILE", "/x", 1); /* a secret's file */
    setenv("STATSYNC_DATA_DIR", "/d", 1);           /* another binary's */
    setenv("STATSYNC_APP_PORT", "8080", 1);         /* a script's */
    setenv("STATSYNC_EDGE_WORKERS", "2", 1);        /* the edge's family */
    assert_int_equal(ss_config_unknown_env(opts, n, NULL, NULL), before);
    setenv("STATSYNC_JWT_SECRT", "typo", 1);
    typo_seen = false;
    assert_int_equal(ss_config_unknown_env(opts, n, on_unknown, NULL), before + 1);
    assert_true(typo_seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_secret_from_environment, clean_env),
        cmocka_unit_test_setup(test_secret_from_file_drops_trailing_newline, clean_env),
        cmocka_unit_test_setup(test_secret_and_its_file_is_an_error, clean_env),
        cmocka_unit_test_setup(test_secret_file_missing_or_empty_is_an_error, clean_env),
        cmocka_unit_test_setup(test_secret_file_flag, clean_env),
        cmocka_unit_test_setup(test_required_secret_satisfied_by_file, clean_env),
        cmocka_unit_test_setup(test_unknown_variables, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
