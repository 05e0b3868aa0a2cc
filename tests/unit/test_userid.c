/* test_userid.c — the userId rules (ss_userid) and the one userId -> subject
 * token encoding (ss_subjects): identity-provider ids pass, everything the
 * contract excludes is refused with the rule it broke, and the encoding is a
 * fixed, reversible, injective table that no character can break out of. */
#include "ss_subjects.h"
#include "ss_userid.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* 42 CJK characters (3 bytes each) + "xy": exactly 128 bytes. */
#define CJK6 "\u6f22\u5b57\u6f22\u5b57\u6f22\u5b57"
#define CJK128 CJK6 CJK6 CJK6 CJK6 CJK6 CJK6 CJK6 "xy"

static void test_valid_ids(void **state)
{
    (void)state;
    const char *good[] = {
        "alice", "auth0|5f7c8ec7c33c6c004bbafe82", "google-oauth2|112233445566778899000",
        "apple:001234.abcd.0815", "ana.maria+duo@example.com",
        "9b2c3e1a-6f0d-4c1e-9f5a-2d7b8e4c1a00", "a.b", "*", ">", "a b", "a%7Cb", "\u00fc",
        "x", CJK128, "line\u2028inside",
    };
    assert_int_equal(strlen(CJK128), 128);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(ss_userid_check(good[i], strlen(good[i])), SS_USERID_OK);
        assert_true(ss_userid_valid_cstr(good[i]));
    }
}

static void test_invalid_ids(void **state)
{
    (void)state;
    char big[130];
    memset(big, 'a', 129);
    big[129] = '\0';
    struct {
        const char *s;
        size_t len;
        ss_userid_rule rule;
    } bad[] = {
        {"", 0, SS_USERID_EMPTY},
        {big, 129, SS_USERID_TOO_LONG},
        {CJK128 "z", 129, SS_USERID_TOO_LONG},
        {"a\x01z", 3, SS_USERID_CONTROL},
        {"a\tb", 3, SS_USERID_CONTROL},
        {"a\nb", 3, SS_USERID_CONTROL},
        {"a\0b", 3, SS_USERID_CONTROL},
        {"a\x7f", 2, SS_USERID_CONTROL},
        {"a\xc2\x85z", 4, SS_USERID_CONTROL},   /* U+0085, C1 */
        {"a\xc2\x9fz", 4, SS_USERID_CONTROL},   /* U+009F, C1 */
        {"\xc0\x80", 2, SS_USERID_BAD_UTF8},    /* overlong NUL */
        {"a\xed\xa0\x80", 4, SS_USERID_BAD_UTF8}, /* surrogate */
        {"\xf5\x80\x80\x80", 4, SS_USERID_BAD_UTF8},
        {"\xe6\xbc", 2, SS_USERID_BAD_UTF8},    /* truncated */
        {"a\xff", 2, SS_USERID_BAD_UTF8},
        {" alice", 6, SS_USERID_EDGE_SPACE},
        {"alice ", 6, SS_USERID_EDGE_SPACE},
        {"alice\xc2\xa0", 7, SS_USERID_EDGE_SPACE},        /* NBSP */
        {"\xe3\x80\x80" "alice", 8, SS_USERID_EDGE_SPACE}, /* U+3000 */
        {" ", 1, SS_USERID_EDGE_SPACE},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ss_userid_check(bad[i].s, bad[i].len), bad[i].rule);
        assert_false(ss_userid_valid(bad[i].s, bad[i].len));
        assert_non_null(strstr(ss_userid_rule_text(bad[i].rule), "userId"));
    }
    assert_false(ss_userid_valid_cstr(NULL));
    assert_false(ss_userid_valid_cstr(big));
}

/* The encoding is part of the wire contract: this table must never change. */
static void test_encoding_table(void **state)
{
    (void)state;
    struct {
        const char *id, *subject;
    } t[] = {
        {"alice", "statsync.user.alice"},
        {"Bob_9-x", "statsync.user.Bob_9-x"},
        {"a.b", "statsync.user.a=2Eb"},
        {"a_b", "statsync.user.a_b"},
        {"a|b", "statsync.user.a=7Cb"},
        {"a%7Cb", "statsync.user.a=257Cb"},
        {"a=7Cb", "statsync.user.a=3D7Cb"},
        {"*", "statsync.user.=2A"},
        {">", "statsync.user.=3E"},
        {"a b", "statsync.user.a=20b"},
        {"auth0|5f7c", "statsync.user.auth0=7C5f7c"},
        {"apple:001234.abcd.0815", "statsync.user.apple=3A001234=2Eabcd=2E0815"},
        {"ana@example.com", "statsync.user.ana=40example=2Ecom"},
        {"\u00fc", "statsync.user.=C3=BC"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char buf[SS_SUBJECT_MAX], back[SS_USERID_MAX + 1];
        assert_true(ss_subject_user(buf, sizeof(buf), SS_SUBJ_USER, t[i].id));
        assert_string_equal(buf, t[i].subject);
        assert_true(ss_subject_user_is(t[i].subject, SS_SUBJ_USER, t[i].id));
        assert_true(ss_subject_user_parse(buf, SS_SUBJ_USER, back, sizeof(back)));
        assert_string_equal(back, t[i].id);
        /* the token is one subject token of NATS-safe characters */
        for (const char *p = buf + strlen(SS_SUBJ_USER) + 1; *p; p++)
            assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789_-=",
                                   *p));
    }
}

/* Ids a careless encoding would fold together stay apart. */
static void test_injective(void **state)
{
    (void)state;
    const char *pairs[][2] = {
        {"a.b", "a_b"}, {"A", "a"}, {"a|b", "a%7Cb"}, {"a|b", "a=7Cb"}, {"a b", "a_b"},
        {"a.b", "a=2Eb"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char x[SS_SUBJECT_MAX], y[SS_SUBJECT_MAX];
        assert_true(ss_subject_user(x, sizeof(x), SS_SUBJ_STATS_APPLY, pairs[i][0]));
        assert_true(ss_subject_user(y, sizeof(y), SS_SUBJ_STATS_APPLY, pairs[i][1]));
        assert_string_not_equal(x, y);
        assert_false(ss_subject_user_is(x, SS_SUBJ_STATS_APPLY, pairs[i][1]));
        assert_false(ss_subject_user_is(y, SS_SUBJ_STATS_APPLY, pairs[i][0]));
    }
}

static void test_longest_and_bounds(void **state)
{
    (void)state;
    char buf[SS_SUBJECT_MAX], back[SS_USERID_MAX + 1];
    assert_true(ss_subject_user(buf, sizeof(buf), SS_SUBJ_USER, CJK128));
    assert_true(ss_subject_user_parse(buf, SS_SUBJ_USER, back, sizeof(back)));
    assert_string_equal(back, CJK128);
    /* 128 bytes that all need escaping still fit */
    char worst[SS_USERID_MAX + 1];
    memset(worst, '.', SS_USERID_MAX);
    worst[SS_USERID_MAX] = '\0';
    assert_true(ss_subject_user(buf, sizeof(buf), SS_SUBJ_USER, worst));
    assert_int_equal(strlen(buf), strlen(SS_SUBJ_USER) + 1 + SS_SUBJECT_TOKEN_MAX);
    /* too small a buffer, an invalid id: false and "" */
    char small[16];
    assert_false(ss_subject_user(small, sizeof(small), SS_SUBJ_STATS_GET, "alice"));
    assert_string_equal(small, "");
    assert_false(ss_subject_user(buf, sizeof(buf), SS_SUBJ_STATS_GET, " alice"));
    assert_string_equal(buf, "");
    assert_false(ss_subject_user(buf, sizeof(buf), SS_SUBJ_STATS_GET, ""));
}

static void test_parse_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "statsync.user.a=7cb",       /* lower-case hex: not canonical */
        "statsync.user.=41",         /* an escape that need not be */
        "statsync.user.a=7",         /* truncated */
        "statsync.user.a=",          /* truncated */
        "statsync.user.a.b",         /* two tokens */
        "statsync.user.*",           /* wildcard */
        "statsync.user.",            /* empty */
        "statsync.user",             /* no token */
        "statsync.userx.alice",      /* another prefix */
        "statsync.stats.get.alice",           /* another prefix */
        "statsync.user.=20alice",    /* decodes to a leading space */
        "statsync.user.a=01b",       /* decodes to a control character */
        "statsync.user.=FF",         /* decodes to bad UTF-8 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[SS_USERID_MAX + 1] = "x";
        assert_false(ss_subject_user_parse(bad[i], SS_SUBJ_USER, out, sizeof(out)));
        assert_string_equal(out, "");
    }
    char big[SS_SUBJECT_MAX + 16];
    int n = snprintf(big, sizeof(big), "%s.", SS_SUBJ_USER);
    memset(big + n, 'a', SS_USERID_MAX + 1);
    big[n + SS_USERID_MAX + 1] = '\0';
    char out[SS_USERID_MAX + 1];
    assert_false(ss_subject_user_parse(big, SS_SUBJ_USER, out, sizeof(out)));
    assert_false(ss_subject_user_is(NULL, SS_SUBJ_USER, "alice"));
}

/* A user's event subjects: statsync.user.<token>.<kind>, one wildcard for all
 * of them; the kind read back only from a subject of that very user. */
static void test_user_events(void **state)
{
    (void)state;
    char buf[SS_SUBJECT_MAX];
    assert_true(ss_subject_user_event(buf, sizeof(buf), "a.b", SS_USER_EV_CHANGED));
    assert_string_equal(buf, "statsync.user.a=2Eb.changed");
    assert_true(ss_subject_user_event(buf, sizeof(buf), "auth0|5f7c", SS_USER_EV_ANY));
    assert_string_equal(buf, "statsync.user.auth0=7C5f7c.*");
    assert_string_equal(ss_subject_user_event_kind("statsync.user.a=2Eb.presence", "a.b"),
                        "presence");
    const char *not_hers[] = {
        "statsync.user.a=2Eb.presence", /* another user's (a.b is not ab) */
        "statsync.user.ab",             /* no kind */
        "statsync.user.ab.",            /* empty kind */
        "statsync.user.ab.x.y",         /* two tokens */
        "statsync.users.ab.changed",    /* another prefix */
    };
    for (size_t i = 0; i < sizeof(not_hers) / sizeof(not_hers[0]); i++)
        assert_null(ss_subject_user_event_kind(not_hers[i], "ab"));
    assert_null(ss_subject_user_event_kind(NULL, "ab"));
    assert_null(ss_subject_user_event_kind("statsync.user.=20a.changed", " a"));
    /* the longest userId with the longest kind still fits */
    char worst[SS_USERID_MAX + 1];
    memset(worst, '.', SS_USERID_MAX);
    worst[SS_USERID_MAX] = '\0';
    assert_true(ss_subject_user_event(buf, sizeof(buf), worst, SS_USER_EV_PRESENCE));
    assert_string_equal(ss_subject_user_event_kind(buf, worst), SS_USER_EV_PRESENCE);
    char small[24];
    assert_false(ss_subject_user_event(small, sizeof(small), "alice", SS_USER_EV_PRESENCE));
    assert_string_equal(small, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ids),        cmocka_unit_test(test_invalid_ids),
        cmocka_unit_test(test_encoding_table),   cmocka_unit_test(test_injective),
        cmocka_unit_test(test_longest_and_bounds), cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_user_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
