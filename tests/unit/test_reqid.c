/* test_reqid.c — request ids (ss_reqid.c): what a sane X-Request-Id is,
 * fresh ids (valid, never the same twice), the thread's current request
 * (set, cleared, read lazily from a NATS message's header, per thread) and
 * the log lines that carry it. */
#include "ss_log.h"
#include "ss_reqid.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_valid(void **state)
{
    (void)state;
    assert_true(ss_reqid_valid("a"));
    assert_true(ss_reqid_valid("abc-DEF_012.3"));
    char max[SS_REQID_MAX + 2];
    memset(max, 'x', SS_REQID_MAX);
    max[SS_REQID_MAX] = '\0';
    assert_true(ss_reqid_valid(max));
    max[SS_REQID_MAX] = 'x';
    max[SS_REQID_MAX + 1] = '\0';
    assert_false(ss_reqid_valid(max)); /* 65 */
    const char *bad[] = {"", "a b", "a\"b", "a\\b", "a\nb", "a/b", "a:b", "ü", "a\tb", "{x}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(ss_reqid_valid(bad[i]));
    assert_false(ss_reqid_valid(NULL));
}

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void test_new_and_take(void **state)
{
    (void)state;
    enum { N = 5000 };
    char(*ids)[SS_REQID_MAX + 1] = calloc(N, sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        ss_reqid_new(ids[i]);
        assert_true(ss_reqid_valid(ids[i]));
        assert_int_equal(strlen(ids[i]), 16);
    }
    qsort(ids, N, sizeof(*ids), cmp);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
    char out[SS_REQID_MAX + 1];
    assert_string_equal(ss_reqid_take("client-id.1", out), "client-id.1");
    ss_reqid_take("no spaces allowed", out);
    assert_true(ss_reqid_valid(out));
    assert_string_not_equal(out, "no spaces allowed");
    ss_reqid_take(NULL, out);
    assert_true(ss_reqid_valid(out));
}

static void test_current(void **state)
{
    (void)state;
    assert_null(ss_reqid_current());
    ss_reqid_set("req-1");
    assert_string_equal(ss_reqid_current(), "req-1");
    ss_reqid_clear();
    assert_null(ss_reqid_current());

    natsMsg *m = NULL;
    assert_int_equal(nats_Open(-1), NATS_OK); /* messages are freed through the library */
    assert_int_equal(natsMsg_Create(&m, "statsync.x", "_INBOX.y", "d", 1), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(m, SS_REQID_HEADER, "from-header"), NATS_OK);
    ss_reqid_set_msg(m);
    assert_string_equal(ss_reqid_current(), "from-header");
    natsMsg_Destroy(m); /* read once: the id outlives the message */
    assert_string_equal(ss_reqid_current(), "from-header");
    ss_reqid_clear();

    /* an insane header, or none, is no id */
    assert_int_equal(natsMsg_Create(&m, "statsync.x", NULL, "d", 1), NATS_OK);
    ss_reqid_set_msg(m);
    assert_null(ss_reqid_current());
    assert_int_equal(natsMsgHeader_Set(m, SS_REQID_HEADER, "bad id"), NATS_OK);
    ss_reqid_set_msg(m);
    assert_null(ss_reqid_current());
    natsMsg_Destroy(m);
    ss_reqid_clear();
    nats_Close();
}

static void *other_thread(void *arg)
{
    (void)arg;
    return (void *)ss_reqid_current();
}

static void test_per_thread(void **state)
{
    (void)state;
    ss_reqid_set("mine");
    pthread_t t;
    void *seen = (void *)1;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &seen);
    assert_null(seen);
    assert_string_equal(ss_reqid_current(), "mine");
    ss_reqid_clear();
}

/* What ss_log writes to stdout while fn runs (NUL-terminated, caller frees). */
static char *captured(void (*fn)(void))
{
    fflush(stdout);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDOUT_FILENO);
    dup2(fileno(tmp), STDOUT_FILENO);
    fn();
    dup2(saved, STDOUT_FILENO);
    close(saved);
    long n = ftell(tmp);
    rewind(tmp);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    assert_non_null(buf);
    if (n > 0)
        assert_int_equal(fread(buf, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return buf;
}

/* The line of text holding needle (fails when none). */
static const char *line_with(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (p == NULL)
        fail_msg("no line with %s in:\n%s", needle, text);
    while (p > text && p[-1] != '\n')
        p--;
    return p;
}

static bool in_line(const char *line, const char *needle)
{
    const char *end = strchr(line, '\n');
    const char *p = strstr(line, needle);
    return p != NULL && (end == NULL || p < end);
}

static void log_lines(void)
{
    ss_log(SS_LOG_INFO, "outside", NULL);
    ss_reqid_set("rid-42");
    ss_log(SS_LOG_INFO, "inside", "{s:i}", "n", 1);
    ss_log(SS_LOG_INFO, "own id", "{s:s}", "request_id", "explicit");
    ss_reqid_clear();
    ss_log(SS_LOG_INFO, "after", NULL);
}

static void test_log_lines_carry_it(void **state)
{
    (void)state;
    ss_log_init("test", SS_LOG_DEBUG);
    char *out = captured(log_lines);
    const char *outside = line_with(out, "\"msg\":\"outside\"");
    const char *inside = line_with(out, "\"msg\":\"inside\"");
    const char *own = line_with(out, "\"msg\":\"own id\"");
    const char *after = line_with(out, "\"msg\":\"after\"");
    assert_false(in_line(outside, "request_id"));
    assert_true(in_line(inside, "\"request_id\":\"rid-42\""));
    assert_true(in_line(own, "\"request_id\":\"explicit\"")); /* a field of its own wins */
    assert_false(in_line(own, "rid-42"));
    assert_false(in_line(after, "request_id"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),      cmocka_unit_test(test_new_and_take),
        cmocka_unit_test(test_current),    cmocka_unit_test(test_per_thread),
        cmocka_unit_test(test_log_lines_carry_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
