/* test_metrics.c — the Prometheus text renderer (ss_metrics.c): label values
 * and help texts escaped as the exposition format wants (backslash, double
 * quote, newline), label text that never comes out broken, scrape-time
 * series from collectors, fractional values, and the process_* /
 * statsync_build_info families every service registers. */
#include "ss_metrics.h"
#include "ss_process_metrics.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* The whole rendering, NUL-terminated (caller frees). */
static char *render(void)
{
    size_t len = 0;
    char *t = ss_metrics_render(&len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

/* The line of text starting with prefix, or NULL (borrowed from text). */
static const char *line_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, prefix, n) == 0)
            return p;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

static void assert_line(const char *text, const char *line)
{
    const char *l = line_of(text, line);
    if (l == NULL || (l[strlen(line)] != '\n' && l[strlen(line)] != '\0'))
        fail_msg("no line `%s` in:\n%s", line, text);
}

static void test_label_escape(void **state)
{
    (void)state;
    char buf[64];
    assert_true(ss_metric_label_escape(buf, sizeof(buf), "plain"));
    assert_string_equal(buf, "plain");
    assert_true(ss_metric_label_escape(buf, sizeof(buf), "a\"b\\c\nd"));
    assert_string_equal(buf, "a\\\"b\\\\c\\nd");
    assert_true(ss_metric_label_escape(buf, sizeof(buf), ""));
    assert_string_equal(buf, "");
    /* too long: nothing, never half an escape */
    assert_false(ss_metric_label_escape(buf, 4, "ab\""));
    assert_string_equal(buf, "");
    assert_true(ss_metric_label_escape(buf, 5, "ab\""));
    assert_string_equal(buf, "ab\\\"");
}

static void test_labels_builder(void **state)
{
    (void)state;
    char buf[96];
    assert_string_equal(ss_metric_labels(buf, sizeof(buf), "route", "patch", "status", "200", NULL),
                        "route=\"patch\",status=\"200\"");
    assert_string_equal(ss_metric_labels(buf, sizeof(buf), "code", "x\"y", NULL),
                        "code=\"x\\\"y\"");
    /* a value that does not fit: no labels at all rather than broken ones */
    assert_string_equal(ss_metric_labels(buf, 12, "route", "abcdefghijkl", NULL), "");
    assert_string_equal(ss_metric_labels(buf, 11, "route", "abc", NULL), "");
    assert_string_equal(ss_metric_labels(buf, 12, "route", "abc", NULL), "route=\"abc\"");
}

/* A registered counter whose label value holds every character that must
 * be escaped renders escaped, and its help text too. */
static void test_render_escapes(void **state)
{
    (void)state;
    char labels[128];
    ss_metric_labels(labels, sizeof(labels), "who", "a\"b\\c\nd", NULL);
    ss_counter *c =
        ss_counter_get("test_escaped_total", "help with \\ backslash\nand a newline", labels);
    ss_counter_add(c, 3);
    char *t = render();
    assert_line(t, "# HELP test_escaped_total help with \\\\ backslash\\nand a newline");
    assert_line(t, "# TYPE test_escaped_total counter");
    assert_line(t, "test_escaped_total{who=\"a\\\"b\\\\c\\nd\"} 3");
    free(t);
}

static double frac(void *arg)
{
    return *(double *)arg;
}

static void test_fractional_values(void **state)
{
    (void)state;
    static double cpu = 1.25, start = 1700000000.5, whole = 42, nan_v;
    nan_v = NAN;
    ss_counter_fn_double("test_cpu_seconds_total", "cpu", NULL, frac, &cpu);
    ss_gauge_fn_double("test_start_time_seconds", "start", NULL, frac, &start);
    ss_gauge_fn_double("test_whole", "whole", NULL, frac, &whole);
    ss_gauge_fn_double("test_nan", "nan", NULL, frac, &nan_v);
    char *t = render();
    assert_line(t, "# TYPE test_cpu_seconds_total counter");
    assert_line(t, "test_cpu_seconds_total 1.25");
    assert_line(t, "# TYPE test_start_time_seconds gauge");
    assert_line(t, "test_start_time_seconds 1700000000.5");
    assert_line(t, "test_whole 42");
    assert_line(t, "test_nan NaN");
    free(t);
}

static int collected;

static void collect(ss_metrics_out *out, void *arg)
{
    const char *odd = arg;
    collected++;
    ss_metrics_family(out, "test_collected_bytes", "per thing", SS_METRIC_GAUGE);
    ss_metrics_sample(out, "thing", "3", 4096);
    ss_metrics_sample(out, "thing", odd, 0.5);
    ss_metrics_family(out, "test_collected_total_bytes", "all things", SS_METRIC_GAUGE);
    ss_metrics_sample(out, NULL, NULL, 4096.5);
}

/* Collectors run at every scrape (outside the registry's lock, after the
 * registered metrics) and their label values are escaped too. */
static void test_collector(void **state)
{
    (void)state;
    ss_metrics_collector(collect, "q\"b\\n\n");
    char *t = render();
    assert_int_equal(collected, 1);
    assert_line(t, "# TYPE test_collected_bytes gauge");
    assert_line(t, "test_collected_bytes{thing=\"3\"} 4096");
    assert_line(t, "test_collected_bytes{thing=\"q\\\"b\\\\n\\n\"} 0.5");
    assert_line(t, "test_collected_total_bytes 4096.5");
    free(t);
    free(render());
    assert_int_equal(collected, 2);
}

/* process_* under the client libraries' names, with plausible values, and
 * statsync_build_info{version,commit,service} 1. */
static void test_process_metrics(void **state)
{
    (void)state;
    ss_process_metrics_init("unit \"test\"");
    char *t = render();
    const char *names[] = {"process_cpu_seconds_total ",   "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ", "process_open_fds ",
                           "process_max_fds ",              "process_start_time_seconds "};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *l = line_of(t, names[i]);
        if (l == NULL)
            fail_msg("no %s in:\n%s", names[i], t);
        double v = strtod(l + strlen(names[i]), NULL);
        if (strcmp(names[i], "process_cpu_seconds_total ") == 0)
            assert_true(v >= 0);
        else
            assert_true(v > 0);
    }
    assert_line(t, "# TYPE process_cpu_seconds_total counter");
    assert_line(t, "# TYPE process_start_time_seconds gauge");
    const char *bi = line_of(t, "statsync_build_info{version=\"");
    assert_non_null(bi);
    assert_non_null(strstr(bi, ",service=\"unit \\\"test\\\"\"} 1\n"));
    assert_non_null(strstr(bi, ",commit=\""));
    /* the start time is this process's: within a day of now */
    double start = strtod(line_of(t, "process_start_time_seconds ") + 27, NULL);
    double now = (double)time(NULL);
    assert_true(start <= now + 1 && start > now - 86400);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escape),     cmocka_unit_test(test_labels_builder),
        cmocka_unit_test(test_render_escapes),   cmocka_unit_test(test_fractional_values),
        cmocka_unit_test(test_collector),        cmocka_unit_test(test_process_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
