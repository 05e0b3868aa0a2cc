/* test_service.c — common/ss_service: the options every service has come
 * first and take their defaults (the admin port's from the service), a
 * flag beats the environment, --help and bad settings give the exit codes
 * the services return (0 and 2), the range checks, the signal wait, and the
 * admin / NATS parts when there is nothing to serve or close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ss_service.h"
#include "ss_time.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_service {
    ss_service core;
    const char *name;
    int64_t limit;
} fake_service;

static fake_service svc;

static int run(int argc, char **argv)
{
    memset(&svc, 0, sizeof(svc));
    const ss_opt opts[] = {
        SS_OPT_STR("name", "STATSYNC_TEST_NAME", &svc.name, "fake", "a string of its own"),
        SS_OPT_INT("limit", "STATSYNC_TEST_LIMIT", &svc.limit, "10", "an integer of its own"),
    };
    const ss_range ranges[] = {{"STATSYNC_TEST_LIMIT", &svc.limit, 1, 100, NULL}};
    const ss_service_desc desc = {
        .prog = "statsync-test",
        .summary = "a service for tests",
        .log_service = "test-service",
        .admin_port = "3999",
        .opts = opts,
        .nopts = SS_COUNT(opts),
        .ranges = ranges,
        .nranges = SS_COUNT(ranges),
    };
    return ss_service_configure(&svc.core, &desc, argc, argv);
}

static int clean_env(void **state)
{
    (void)state;
    const char *vars[] = {"STATSYNC_NATS_URL", "STATSYNC_LOG_LEVEL", "STATSYNC_ADMIN_PORT",
                          "STATSYNC_TEST_NAME", "STATSYNC_TEST_LIMIT"};
    for (size_t i = 0; i < SS_COUNT(vars); i++)
        unsetenv(vars[i]);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    char *argv[] = {"statsync-test", NULL};
    int64_t before = ss_now_ms();
    assert_int_equal(run(1, argv), -1);
    assert_string_equal(svc.core.nats_url, "nats://127.0.0.1:4222");
    assert_string_equal(svc.core.log_level, "info");
    assert_int_equal(svc.core.admin_port, 3999);
    assert_string_equal(svc.name, "fake");
    assert_int_equal(svc.limit, 10);
    assert_true(svc.core.started_ms >= before);
    assert_null(svc.core.nats);
    assert_null(svc.core.nc);
}

static void test_flags_and_environment(void **state)
{
    (void)state;
    setenv("STATSYNC_NATS_URL", "nats://from-env:4222", 1);
    setenv("STATSYNC_TEST_LIMIT", "42", 1);
    setenv("STATSYNC_ADMIN_PORT", "4000", 1);
    char *argv[] = {"statsync-test", "--nats-url=nats://from-flag:4222", "--name", "x",
                    "--log-level", "debug", NULL};
    assert_int_equal(run(6, argv), -1);
    assert_string_equal(svc.core.nats_url, "nats://from-flag:4222"); /* the flag wins */
    assert_int_equal(svc.core.admin_port, 4000);
    assert_int_equal(svc.limit, 42);
    assert_string_equal(svc.name, "x");
    assert_string_equal(svc.core.log_level, "debug");
}

static void test_help_exits_zero(void **state)
{
    (void)state;
    char *argv[] = {"statsync-test", "--help", NULL};
    assert_int_equal(run(2, argv), 0);
}

static void test_bad_settings_exit_two(void **state)
{
    (void)state;
    const char *bad[] = {
        "--admin-port=65536", "--admin-port=-1", "--limit=101",   "--limit=0",
        "--log-level=loud",   "--no-such-flag=1", "--limit=ten",
    };
    for (size_t i = 0; i < SS_COUNT(bad); i++) {
        char *argv[] = {"statsync-test", (char *)bad[i], NULL};
        assert_int_equal(run(2, argv), 2);
    }
    char *edges[] = {"statsync-test", "--admin-port=0", "--limit=100", NULL};
    assert_int_equal(run(3, edges), -1); /* the bounds themselves are allowed */
}

static void test_too_many_options(void **state)
{
    (void)state;
    static int64_t v[SS_SERVICE_MAX_OPTS];
    ss_opt opts[SS_SERVICE_MAX_OPTS];
    for (size_t i = 0; i < SS_COUNT(opts); i++)
        opts[i] = (ss_opt)SS_OPT_INT("x", "STATSYNC_TEST_X", &v[i], "1", "one of many");
    ss_service core;
    memset(&core, 0, sizeof(core));
    const ss_service_desc desc = {.prog = "statsync-test", .summary = "", .log_service = "t",
                                  .admin_port = "0", .opts = opts, .nopts = SS_COUNT(opts)};
    char *argv[] = {"statsync-test", NULL};
    assert_int_equal(ss_service_configure(&core, &desc, 1, argv), 2);
}

static void test_wait_times_out_then_takes_a_signal(void **state)
{
    (void)state;
    ss_service core;
    memset(&core, 0, sizeof(core));
    ss_service_block_signals(&core);
    int64_t t0 = ss_mono_ms();
    assert_int_equal(ss_service_wait(&core, 50), 0);
    assert_true(ss_mono_ms() - t0 >= 40);
    raise(SIGTERM); /* blocked: stays pending for the wait */
    assert_int_equal(ss_service_wait(&core, 5000), SIGTERM);
    raise(SIGINT);
    assert_int_equal(ss_service_wait(&core, -1), SIGINT);
}

static void test_admin_port_zero_does_not_listen(void **state)
{
    (void)state;
    char *argv[] = {"statsync-test", "--admin-port=0", NULL};
    assert_int_equal(run(2, argv), -1);
    assert_int_equal(ss_service_admin_start(&svc.core, NULL, NULL, NULL), 0);
    assert_null(svc.core.admin);
    ss_service_admin_stop(&svc.core);
}

/* Never connected (a start that failed early): harmless, twice too.
 * (Last: nats_Close() ends cnats for the process. Connecting needs a server:
 * tests/integration/test_nats_loop.c.) */
static void test_disconnect_when_never_connected(void **state)
{
    (void)state;
    char *argv[] = {"statsync-test", NULL};
    assert_int_equal(run(1, argv), -1);
    ss_service_disconnect(&svc.core, 100);
    assert_null(svc.core.nats);
    assert_null(svc.core.nc);
    ss_service_disconnect(&svc.core, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clean_env),
        cmocka_unit_test_setup(test_flags_and_environment, clean_env),
        cmocka_unit_test_setup(test_help_exits_zero, clean_env),
        cmocka_unit_test_setup(test_bad_settings_exit_two, clean_env),
        cmocka_unit_test_setup(test_too_many_options, clean_env),
        cmocka_unit_test(test_wait_times_out_then_takes_a_signal),
        cmocka_unit_test_setup(test_admin_port_zero_does_not_listen, clean_env),
        cmocka_unit_test_setup(test_disconnect_when_never_connected, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
