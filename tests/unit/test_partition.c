/* test_partition.c — the partition function (pinned by a fixed table: it must
 * never change between versions, or users would lose their documents),
 * partition sets (parsing, refusals with the item named, canonical text) and
 * the partitioned subjects. */
#include "ss_partition.h"
#include "ss_subjects.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* userId -> FNV-1a 32, partition of 64 (the default), of 2, of 1024.
 * Computed independently; NEVER edit a row. */
static const struct {
    const char *id;
    uint32_t hash, p64, p2, p1024;
} FIXED[] = {
    {"alice", 0x872213e7u, 39, 1, 999},
    {"bob", 0x86c6a0d4u, 20, 0, 212},
    {"auth0|5f7c8ec7c33c6c004bbafe82", 0xe312f41cu, 28, 0, 28},
    {"google-oauth2|112233445566778899000", 0x6653128cu, 12, 0, 652},
    {"apple:001234.abcd.0815", 0xb5abc575u, 53, 1, 373},
    {"ana.maria+duo@example.com", 0x6a26e4e3u, 35, 1, 227},
    {"9b2c3e1a-6f0d-4c1e-9f5a-2d7b8e4c1a00", 0xbba6070cu, 12, 0, 780},
    {"\u00fc", 0x119dd44au, 10, 0, 74},
    {"x", 0xfd0c5087u, 7, 1, 135},
    {"user-1", 0xf5537974u, 52, 0, 372},
    {"user-2", 0xf8537e2du, 45, 1, 557},
    {"user-3", 0xf7537c9au, 26, 0, 154},
};

static void test_fixed_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(FIXED) / sizeof(FIXED[0]); i++) {
        assert_int_equal(ss_partition_hash(FIXED[i].id, strlen(FIXED[i].id)), FIXED[i].hash);
        assert_int_equal(ss_partition_of(FIXED[i].id, 64), FIXED[i].p64);
        assert_int_equal(ss_partition_of(FIXED[i].id, 2), FIXED[i].p2);
        assert_int_equal(ss_partition_of(FIXED[i].id, 1024), FIXED[i].p1024);
        assert_int_equal(ss_partition_of(FIXED[i].id, 1), 0);
    }
}

static void test_spread(void **state)
{
    (void)state;
    unsigned hits[64] = {0};
    char id[32];
    for (int i = 0; i < 64000; i++) {
        snprintf(id, sizeof(id), "user-%d", i);
        hits[ss_partition_of(id, 64)]++;
    }
    for (int p = 0; p < 64; p++) /* 1000 expected each */
        assert_in_range(hits[p], 850, 1150);
}

static void expect_set(const char *spec, uint32_t count, const char *canonical, uint32_t size)
{
    ss_partition_set s;
    char why[160], text[256];
    assert_true(ss_partition_set_parse(&s, spec, count, why, sizeof(why)));
    assert_string_equal(why, "");
    assert_int_equal(ss_partition_set_size(&s), size);
    assert_true(ss_partition_set_format(&s, text, sizeof(text)));
    assert_string_equal(text, canonical);
}

static void test_set_parse(void **state)
{
    (void)state;
    expect_set("0-31", 64, "0-31", 32);
    expect_set("32-63", 64, "32-63", 32);
    expect_set("0,5,9", 64, "0,5,9", 3);
    expect_set(" 9 , 0-3,5 ", 64, "0-3,5,9", 6);
    expect_set("", 64, "0-63", 64);
    expect_set("all", 8, "0-7", 8);
    expect_set("7", 8, "7", 1);
    expect_set("0-0", 1, "0", 1);
    ss_partition_set s;
    char why[160];
    assert_true(ss_partition_set_parse(&s, "0-3,8", 16, why, sizeof(why)));
    assert_true(ss_partition_set_has(&s, 3));
    assert_false(ss_partition_set_has(&s, 4));
    assert_true(ss_partition_set_has(&s, 8));
    assert_false(ss_partition_set_has(&s, 16));
    ss_partition_set_del(&s, 8);
    ss_partition_set_add(&s, 15);
    char text[64];
    assert_true(ss_partition_set_format(&s, text, sizeof(text)));
    assert_string_equal(text, "0-3,15");

    /* the walk: every member once, in order, and nothing past the count */
    char walked[64] = "";
    SS_PARTITION_SET_EACH(p, &s)
        snprintf(walked + strlen(walked), sizeof(walked) - strlen(walked), "%u ", p);
    assert_string_equal(walked, "0 1 2 3 15 ");
    assert_int_equal(ss_partition_set_next(&s, 4), 15);
    assert_int_equal(ss_partition_set_next(&s, 16), 16);
    ss_partition_set empty = {.count = 8};
    assert_int_equal(ss_partition_set_next(&empty, 0), 8);
}

static void expect_refused(const char *spec, uint32_t count, const char *why_part)
{
    ss_partition_set s;
    char why[160];
    assert_false(ss_partition_set_parse(&s, spec, count, why, sizeof(why)));
    assert_non_null(strstr(why, why_part));
    assert_int_equal(ss_partition_set_size(&s), 0);
}

static void test_set_refused(void **state)
{
    (void)state;
    expect_refused("64", 64, "'64' is not within partitions 0-63");
    expect_refused("0-64", 64, "'0-64' is not within");
    expect_refused("31-0", 64, "reversed");
    expect_refused("0-31,16", 64, "partition 16 is listed twice");
    expect_refused("0,,5", 64, "an empty item");
    expect_refused("0,", 64, "an empty item");
    expect_refused("a-b", 64, "'a-b' is not a partition number");
    expect_refused("-1", 64, "'-1' is not a partition number");
    expect_refused("01", 64, "'01' is not a partition number");
    expect_refused("1-2-3", 64, "'1-2-3' is not a partition number");
    expect_refused("0x10", 64, "'0x10'");
    expect_refused("99999999", 64, "'99999999'");
    expect_refused("0", 0, "the partition count must be 1-1024");
    expect_refused("0", 1025, "the partition count must be 1-1024");
}

static void test_subjects(void **state)
{
    (void)state;
    char buf[SS_SUBJECT_MAX];
    assert_true(ss_subject_partitioned(buf, sizeof(buf), SS_SUBJ_STATS_APPLY, 64, "alice"));
    assert_string_equal(buf, "statsync.stats.apply.39.alice");
    assert_true(ss_subject_partitioned(buf, sizeof(buf), SS_SUBJ_STATS_GET, 64, "auth0|5f7c8ec7c33c6c004bbafe82"));
    assert_string_equal(buf, "statsync.stats.get.28.auth0=7C5f7c8ec7c33c6c004bbafe82");
    assert_false(ss_subject_partitioned(buf, sizeof(buf), SS_SUBJ_STATS_GET, 64, ""));
    assert_string_equal(buf, "");
    uint32_t p = 99;
    assert_true(ss_subject_partition_parse("statsync.stats.apply.39.alice", SS_SUBJ_STATS_APPLY, &p));
    assert_int_equal(p, 39);
    assert_true(ss_subject_partition_parse("statsync.stats.apply.0.x", SS_SUBJ_STATS_APPLY, &p));
    assert_int_equal(p, 0);
    assert_false(ss_subject_partition_parse("statsync.stats.apply.alice", SS_SUBJ_STATS_APPLY, &p));
    assert_false(ss_subject_partition_parse("statsync.stats.apply.039.a", SS_SUBJ_STATS_APPLY, &p));
    assert_false(ss_subject_partition_parse("statsync.stats.get.3.a", SS_SUBJ_STATS_APPLY, &p));
    assert_false(ss_subject_partition_parse("statsync.stats.apply.3", SS_SUBJ_STATS_APPLY, &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_table), cmocka_unit_test(test_spread),
        cmocka_unit_test(test_set_parse),   cmocka_unit_test(test_set_refused),
        cmocka_unit_test(test_subjects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
