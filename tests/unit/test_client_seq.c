/* test_client_seq.c — exactly-once per client, the pure parts: what a
 * clientId and a seq are and how a mutation's ops may be numbered
 * (common/ss_client_seq.c), and the judging and recording of seqs against a
 * client's record (stats-service/clients.c). The LMDB side, in one
 * transaction with the change, is test_writer.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clients.h"
#include "ss_client_seq.h"

#include <string.h>

static void test_client_id_rules(void **state)
{
    (void)state;
    assert_true(ss_client_id_valid_cstr("a"));
    assert_true(ss_client_id_valid_cstr("install_1-A"));
    assert_true(ss_client_id_valid_cstr("3f2b6c1e-8d4a-4b7e-9c2d-0a1b2c3d4e5f")); /* a UUID */
    char id[SS_CLIENT_ID_MAX + 2];
    memset(id, 'z', sizeof(id));
    id[SS_CLIENT_ID_MAX] = '\0';
    assert_true(ss_client_id_valid_cstr(id));
    id[SS_CLIENT_ID_MAX] = 'z';
    id[SS_CLIENT_ID_MAX + 1] = '\0';
    assert_false(ss_client_id_valid_cstr(id)); /* 65 */
    static const char *bad[] = {"", "a b", "a.b", "a/b", "a\\b", "a:b", "\xc3\xbc", "a\tb", "{}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(ss_client_id_valid_cstr(bad[i]));
    assert_false(ss_client_id_valid_cstr(NULL));
    assert_false(ss_client_id_valid("ab\0c", 4)); /* an embedded NUL */
    assert_false(ss_seq_valid(0));
    assert_true(ss_seq_valid(1));
    assert_true(ss_seq_valid(SS_SEQ_MAX));
    assert_false(ss_seq_valid(SS_SEQ_MAX + 1));
}

/* n ops; ids[i] NULL: not numbered. */
static bool numbering(const char *const *ids, const uint64_t *seqs, size_t n, ss_client_seqs *out,
                      char *why)
{
    Statsync__Operation ops[8], *p[8];
    for (size_t i = 0; i < n; i++) {
        statsync__operation__init(&ops[i]);
        ops[i].client_id = (char *)ids[i];
        ops[i].has_seq = seqs[i] != 0;
        ops[i].seq = seqs[i];
        p[i] = &ops[i];
    }
    return ss_client_seqs_of(p, n, out, why, 160);
}

static void test_numbering_of_a_mutation(void **state)
{
    (void)state;
    ss_client_seqs s;
    char why[160];
    const char *c3[] = {"c", "c", "c"}, *mixed[] = {NULL, "c", NULL, "c"};
    assert_true(numbering(c3, (uint64_t[]){4, 5, 6}, 3, &s, why));
    assert_string_equal(s.client_id, "c");
    assert_int_equal(s.first, 4);
    assert_int_equal(s.last, 6);
    assert_int_equal(s.numbered, 3);
    /* ops without a number may sit between numbered ones */
    assert_true(numbering(mixed, (uint64_t[]){0, 9, 0, 10}, 4, &s, why));
    assert_int_equal(s.first, 9);
    assert_int_equal(s.last, 10);
    assert_int_equal(s.numbered, 2);
    const char *none[] = {NULL, NULL};
    assert_true(numbering(none, (uint64_t[]){0, 0}, 2, &s, why));
    assert_int_equal(s.numbered, 0);
    assert_null(s.client_id);
    /* refused, naming the op */
    assert_false(numbering(c3, (uint64_t[]){4, 6, 7}, 3, &s, why)); /* not consecutive */
    assert_non_null(strstr(why, "ops[1]"));
    assert_false(numbering(c3, (uint64_t[]){5, 4, 3}, 3, &s, why)); /* backwards */
    assert_false(numbering(c3, (uint64_t[]){4, 4, 5}, 3, &s, why)); /* twice */
    const char *two[] = {"c", "d"};
    assert_false(numbering(two, (uint64_t[]){1, 2}, 2, &s, why)); /* two clients */
    assert_non_null(strstr(why, "one clientId"));
    assert_false(numbering(c3, (uint64_t[]){1, 0, 2}, 3, &s, why)); /* clientId without seq */
    const char *noid[] = {NULL};
    assert_false(numbering(noid, (uint64_t[]){3}, 1, &s, why)); /* seq without clientId */
    const char *badid[] = {"a.b"};
    assert_false(numbering(badid, (uint64_t[]){3}, 1, &s, why));
    assert_false(numbering(c3, (uint64_t[]){SS_SEQ_MAX + 1}, 1, &s, why));
}

static ss_client_seqs seqs(uint64_t first, uint64_t last)
{
    return (ss_client_seqs){"c", first, last, (size_t)(last - first + 1)};
}

static void test_judge_against_the_record(void **state)
{
    (void)state;
    store_client rec;
    memset(&rec, 0x5a, sizeof(rec)); /* not read for a client without a record */
    clients_verdict v;
    ss_client_seqs s = seqs(5, 5);
    /* no record: a new client starts at whatever seq it sends */
    clients_judge(&s, &rec, false, &v);
    assert_false(v.gap);
    assert_true(v.has_new);
    assert_int_equal(v.repeats, 0);
    clients_record(&rec, false, 5, 5, SS_OK, 100);
    assert_int_equal(rec.last_seq, 5);
    assert_int_equal(rec.used_at_ms, 100);
    assert_int_equal(rec.n_refused, 0);
    /* in order */
    s = seqs(6, 6);
    clients_judge(&s, &rec, true, &v);
    assert_true(v.has_new && !v.gap && v.repeats == 0);
    clients_record(&rec, true, 6, 6, SS_ERR_INSUFFICIENT_FUNDS, 200);
    assert_int_equal(rec.last_seq, 6);
    assert_int_equal(rec.n_refused, 1);
    /* a repeat of the applied 5 and of the refused 6 */
    s = seqs(5, 5);
    clients_judge(&s, &rec, true, &v);
    assert_false(v.has_new);
    assert_int_equal(v.repeats, 1);
    assert_int_equal(v.repeat_err, SS_OK);
    s = seqs(6, 6);
    clients_judge(&s, &rec, true, &v);
    assert_int_equal(v.repeat_err, SS_ERR_INSUFFICIENT_FUNDS);
    assert_int_equal(v.repeat_seq, 6);
    /* a gap: expected last + 1 */
    s = seqs(9, 9);
    clients_judge(&s, &rec, true, &v);
    assert_true(v.gap);
    assert_int_equal(v.expected, 7);
    /* partly decided: 6 repeated, 7 new */
    s = seqs(5, 7);
    clients_judge(&s, &rec, true, &v);
    assert_false(v.gap);
    assert_true(v.has_new);
    assert_int_equal(v.repeats, 2);
    assert_int_equal(v.repeat_err, SS_ERR_INSUFFICIENT_FUNDS);
    /* a repeat below a new client's first seq: decided before its record */
    s = seqs(1, 1);
    clients_judge(&s, &rec, true, &v);
    assert_false(v.has_new);
    assert_int_equal(v.repeat_err, SS_OK);
}

static void test_record_keeps_refusals_bounded(void **state)
{
    (void)state;
    store_client rec;
    memset(&rec, 0x5a, sizeof(rec)); /* a fresh record is cleared first */
    clients_record(&rec, false, 1, 1, SS_ERR_CONFLICT, 1);
    clients_record(&rec, true, 2, 2, SS_ERR_CONFLICT, 2); /* adjacent, same code: merged */
    assert_int_equal(rec.n_refused, 1);
    assert_int_equal(rec.refused[0].first, 1);
    assert_int_equal(rec.refused[0].last, 2);
    clients_record(&rec, true, 3, 5, SS_ERR_BAD_REQUEST, 3); /* a refused batch: one range */
    assert_int_equal(rec.n_refused, 2);
    assert_int_equal(clients_outcome(&rec, 4), SS_ERR_BAD_REQUEST);
    /* every other seq refused: one range each, the oldest go */
    uint64_t seq = 6;
    for (int i = 0; i < 2 * STORE_CLIENT_REFUSALS_MAX; i++, seq += 2) {
        clients_record(&rec, true, seq, seq, SS_OK, 10 + i);
        clients_record(&rec, true, seq + 1, seq + 1, SS_ERR_OVERFLOW, 10 + i);
    }
    assert_int_equal(rec.n_refused, STORE_CLIENT_REFUSALS_MAX);
    assert_int_equal(rec.last_seq, seq - 1);
    uint64_t oldest = rec.refused[0].first;
    assert_true(rec.refused_floor < oldest);
    assert_true(rec.refused_floor >= 5); /* 1..5 fell out */
    assert_int_equal(clients_outcome(&rec, seq - 1), SS_ERR_OVERFLOW);
    assert_int_equal(clients_outcome(&rec, seq - 2), SS_OK);
    assert_int_equal(clients_outcome(&rec, oldest), SS_ERR_OVERFLOW);
    /* below the floor the record no longer knows: answered as applied */
    assert_int_equal(clients_outcome(&rec, 4), SS_OK);
    assert_false(clients_outcome_exact(&rec, 4));
    assert_true(clients_outcome_exact(&rec, oldest));
    /* deciding an old seq again changes nothing */
    store_client before = rec;
    clients_record(&rec, true, 3, 3, SS_ERR_CONFLICT, 999);
    assert_memory_equal(&before, &rec, sizeof(rec));
}

static void test_what_is_recorded(void **state)
{
    (void)state;
    static const ss_err yes[] = {SS_ERR_INVALID_VALUE, SS_ERR_OVERFLOW, SS_ERR_INVALID_TYPE,
                                 SS_ERR_UNKNOWN_FIELD, SS_ERR_BAD_REQUEST, SS_ERR_CONFLICT,
                                 SS_ERR_INSUFFICIENT_FUNDS};
    static const ss_err no[] = {SS_OK, SS_ERR_INTERNAL, SS_ERR_UNAVAILABLE, SS_ERR_STORAGE_FULL,
                                SS_ERR_TIMEOUT, SS_ERR_PARTITION_UNAVAILABLE,
                                SS_ERR_PARTITION_MISMATCH, SS_ERR_SEQ_GAP, SS_ERR_RATE_LIMITED,
                                SS_ERR_INVALID_USER_ID};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(clients_recordable(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(clients_recordable(no[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_id_rules),
        cmocka_unit_test(test_numbering_of_a_mutation),
        cmocka_unit_test(test_judge_against_the_record),
        cmocka_unit_test(test_record_keeps_refusals_bounded),
        cmocka_unit_test(test_what_is_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
