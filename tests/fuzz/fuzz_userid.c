/* fuzz_userid.c — libFuzzer target for userIds as clients send them (token
 * sub, REST path, event payloads) and their subject tokens
 * (common/ss_userid.c, common/ss_subjects.c).
 *
 * Invariants: a valid id encodes to one subject token of [A-Za-z0-9_=-] that
 * decodes back to the same bytes; an invalid id never reaches a subject;
 * parsing any subject yields a valid id or nothing, and re-encoding a parsed
 * id gives the subject back (one canonical token per id). */
#include "fuzz_common.h"
#include "ss_subjects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    /* the bytes as given (a NUL inside is a control character) ... */
    if (ss_userid_check(s, size) == SS_USERID_OK)
        FUZZ_CHECK(strlen(s) == size && ss_userid_valid_cstr(s));
    /* ... and as the C string the services handle */
    char subj[SS_SUBJECT_MAX], back[SS_USERID_MAX + 1];
    bool enc = ss_subject_user(subj, sizeof(subj), SS_SUBJ_STATS_APPLY, s);
    FUZZ_CHECK(enc == ss_userid_valid(s, strlen(s)));
    if (enc) {
        const char *tok = subj + strlen(SS_SUBJ_STATS_APPLY) + 1;
        FUZZ_CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_=-") ==
                   strlen(tok));
        FUZZ_CHECK(ss_subject_user_parse(subj, SS_SUBJ_STATS_APPLY, back, sizeof(back)));
        FUZZ_CHECK(strcmp(back, s) == 0);
        FUZZ_CHECK(ss_subject_user_is(subj, SS_SUBJ_STATS_APPLY, s));
    }
    /* the input as a subject */
    if (ss_subject_user_parse(s, SS_SUBJ_STATS_APPLY, back, sizeof(back))) {
        FUZZ_CHECK(ss_userid_valid_cstr(back));
        FUZZ_CHECK(ss_subject_user(subj, sizeof(subj), SS_SUBJ_STATS_APPLY, back));
        FUZZ_CHECK(strcmp(subj, s) == 0);
    }
    free(s);
    return 0;
}
