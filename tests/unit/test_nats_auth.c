/* test_nats_auth.c — common/ss_nats_auth: which settings go together, when
 * TLS is on and which name the server's certificate is checked against,
 * and how a password file is read (one trailing newline stripped, empty /
 * NUL / too long refused, a group- or world-readable file flagged), and
 * that applying unusable settings fails before any connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_nats_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_nats_auth.XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* dir/name with len bytes of text, mode; returns the path (static). */
static const char *file(const char *name, const char *text, size_t len, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_check(void **state)
{
    (void)state;
    char why[256];
    const ss_nats_auth none = {0};
    assert_int_equal(ss_nats_auth_check(&none, why, sizeof(why)), 0);
    const ss_nats_auth empty = {"", "", "", "", "", "", ""};
    assert_int_equal(ss_nats_auth_check(&empty, why, sizeof(why)), 0);
    const ss_nats_auth pw = {.user = "stats", .password_file = "/x"};
    assert_int_equal(ss_nats_auth_check(&pw, why, sizeof(why)), 0);
    const ss_nats_auth creds = {.creds_file = "/x.creds"};
    assert_int_equal(ss_nats_auth_check(&creds, why, sizeof(why)), 0);
    const ss_nats_auth mtls = {.tls_ca = "/ca", .tls_cert = "/c", .tls_key = "/k"};
    assert_int_equal(ss_nats_auth_check(&mtls, why, sizeof(why)), 0);

    const ss_nats_auth user_only = {.user = "stats"};
    assert_int_equal(ss_nats_auth_check(&user_only, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "STATSYNC_NATS_PASSWORD_FILE"));
    const ss_nats_auth file_only = {.password_file = "/x"};
    assert_int_equal(ss_nats_auth_check(&file_only, why, sizeof(why)), -1);
    const ss_nats_auth both = {.user = "stats", .password_file = "/x", .creds_file = "/c"};
    assert_int_equal(ss_nats_auth_check(&both, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "STATSYNC_NATS_CREDS"));
    const ss_nats_auth cert_only = {.tls_cert = "/c"};
    assert_int_equal(ss_nats_auth_check(&cert_only, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "STATSYNC_NATS_TLS_KEY"));
}

static void test_tls_on(void **state)
{
    (void)state;
    const ss_nats_auth none = {0};
    assert_false(ss_nats_auth_tls(NULL, "nats://127.0.0.1:4222"));
    assert_false(ss_nats_auth_tls(&none, "nats://a:4222,nats://b:4222"));
    assert_true(ss_nats_auth_tls(NULL, "tls://nats.internal:4222"));
    assert_true(ss_nats_auth_tls(&none, "nats://a:4222, tls://b:4222"));
    const ss_nats_auth ca = {.tls_ca = "/ca.pem"};
    assert_true(ss_nats_auth_tls(&ca, "nats://a:4222"));
    const ss_nats_auth cert = {.tls_cert = "/c", .tls_key = "/k"};
    assert_true(ss_nats_auth_tls(&cert, "nats://a:4222"));
}

static void test_hostname(void **state)
{
    (void)state;
    char h[64];
    const ss_nats_auth none = {0};
    ss_nats_auth_hostname(&none, "tls://nats.internal:4222", h, sizeof(h));
    assert_string_equal(h, "nats.internal");
    ss_nats_auth_hostname(NULL, "tls://127.0.0.1:4222", h, sizeof(h));
    assert_string_equal(h, "127.0.0.1");
    ss_nats_auth_hostname(NULL, "nats://u:p@nats-1:4222", h, sizeof(h));
    assert_string_equal(h, "nats-1");
    ss_nats_auth_hostname(NULL, "tls://[::1]:4222", h, sizeof(h));
    assert_string_equal(h, "::1");
    ss_nats_auth_hostname(NULL, "nats.internal", h, sizeof(h));
    assert_string_equal(h, "nats.internal");
    ss_nats_auth_hostname(NULL, "tls://a:4222,tls://b:4222", h, sizeof(h));
    assert_string_equal(h, ""); /* several servers: no single name */
    const ss_nats_auth named = {.tls_hostname = "nats.cluster"};
    ss_nats_auth_hostname(&named, "tls://a:4222,tls://b:4222", h, sizeof(h));
    assert_string_equal(h, "nats.cluster");
    char tiny[4];
    ss_nats_auth_hostname(NULL, "tls://nats.internal:4222", tiny, sizeof(tiny));
    assert_string_equal(tiny, ""); /* does not fit: no name rather than a cut one */
}

static void test_password_file(void **state)
{
    (void)state;
    char pw[SS_NATS_PASSWORD_MAX + 1];
    char why[256];
    bool loose = true;
    assert_int_equal(ss_nats_auth_read_password(file("a", "s3cret\n", 7, 0600), pw, sizeof(pw),
                                                &loose, why, sizeof(why)),
                     0);
    assert_string_equal(pw, "s3cret");
    assert_false(loose);
    assert_int_equal(ss_nats_auth_read_password(file("b", "s3cret\r\n", 8, 0400), pw, sizeof(pw),
                                                &loose, why, sizeof(why)),
                     0);
    assert_string_equal(pw, "s3cret");
    /* no newline; inner spaces and a second newline are the password's */
    assert_int_equal(ss_nats_auth_read_password(file("c", "a b\n\n", 5, 0600), pw, sizeof(pw),
                                                &loose, why, sizeof(why)),
                     0);
    assert_string_equal(pw, "a b\n");
    assert_int_equal(ss_nats_auth_read_password(file("d", "x", 1, 0644), pw, sizeof(pw), &loose,
                                                why, sizeof(why)),
                     0);
    assert_string_equal(pw, "x");
    assert_true(loose); /* readable by others: the caller warns */
    assert_int_equal(ss_nats_auth_read_password(file("e", "x", 1, 0640), pw, sizeof(pw), &loose,
                                                why, sizeof(why)),
                     0);
    assert_true(loose);
}

static void test_password_file_refused(void **state)
{
    (void)state;
    char pw[SS_NATS_PASSWORD_MAX + 1];
    char why[256];
    bool loose = false;
    assert_int_equal(ss_nats_auth_read_password(file("empty", "", 0, 0600), pw, sizeof(pw),
                                                &loose, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "empty"));
    assert_int_equal(ss_nats_auth_read_password(file("nl", "\n", 1, 0600), pw, sizeof(pw), &loose,
                                                why, sizeof(why)),
                     -1);
    assert_int_equal(ss_nats_auth_read_password(file("nul", "a\0b", 3, 0600), pw, sizeof(pw),
                                                &loose, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "NUL"));
    assert_string_equal(pw, "");
    static char big[SS_NATS_PASSWORD_MAX + 2];
    memset(big, 'p', sizeof(big));
    assert_int_equal(ss_nats_auth_read_password(file("max", big, SS_NATS_PASSWORD_MAX, 0600), pw,
                                                sizeof(pw), &loose, why, sizeof(why)),
                     0);
    assert_int_equal(strlen(pw), SS_NATS_PASSWORD_MAX);
    big[SS_NATS_PASSWORD_MAX] = '\n';
    assert_int_equal(ss_nats_auth_read_password(file("maxnl", big, SS_NATS_PASSWORD_MAX + 1, 0600),
                                                pw, sizeof(pw), &loose, why, sizeof(why)),
                     0);
    big[SS_NATS_PASSWORD_MAX] = 'p';
    assert_int_equal(ss_nats_auth_read_password(file("big", big, sizeof(big), 0600), pw,
                                                sizeof(pw), &loose, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "too long"));
    char small[4];
    assert_int_equal(ss_nats_auth_read_password(file("small", "abcd", 4, 0600), small,
                                                sizeof(small), &loose, why, sizeof(why)),
                     -1);
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    assert_int_equal(ss_nats_auth_read_password(missing, pw, sizeof(pw), &loose, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, missing));
    assert_int_equal(ss_nats_auth_read_password(dir, pw, sizeof(pw), &loose, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "regular"));
}

/* Unusable settings fail while the options are built: no connect is tried. */
static void test_apply(void **state)
{
    (void)state;
    natsOptions *o = NULL;
    assert_int_equal(natsOptions_Create(&o), NATS_OK);
    assert_int_equal(ss_nats_auth_apply(NULL, o, "nats://127.0.0.1:4222", "t"), NATS_OK);
    const ss_nats_auth user_only = {.user = "stats"};
    assert_int_equal(ss_nats_auth_apply(&user_only, o, "nats://127.0.0.1:4222", "t"),
                     NATS_INVALID_ARG);
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    const ss_nats_auth no_file = {.user = "stats", .password_file = missing};
    assert_int_equal(ss_nats_auth_apply(&no_file, o, "nats://127.0.0.1:4222", "t"),
                     NATS_INVALID_ARG);
    const ss_nats_auth ok = {.user = "stats", .password_file = file("ok", "pw\n", 3, 0600)};
    assert_int_equal(ss_nats_auth_apply(&ok, o, "nats://127.0.0.1:4222", "t"), NATS_OK);
    const ss_nats_auth bad_ca = {.tls_ca = missing};
    assert_int_not_equal(ss_nats_auth_apply(&bad_ca, o, "nats://127.0.0.1:4222", "t"), NATS_OK);
    natsOptions_Destroy(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_tls_on),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_password_file),
        cmocka_unit_test(test_password_file_refused),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
