/* ss_userid.h — what a userId is.
 *
 * A userId is what identity providers issue as a token's `sub`
 * (`auth0|5f7c…`, `google-oauth2|1234…`, `apple:001234.abcd.0815`, an email,
 * a UUID): 1–128 bytes of well-formed UTF-8 with no control character (C0,
 * DEL, C1) and no whitespace at either end. It is stored and logged as it
 * is; it reaches a NATS subject only through ss_subject_user() (one
 * reversible encoding, ss_subjects.h). */
#ifndef SS_USERID_H
#define SS_USERID_H

#include <stdbool.h>
#include <stddef.h>

#define SS_USERID_MAX 128 /* bytes */

typedef enum ss_userid_rule {
    SS_USERID_OK = 0,
    SS_USERID_EMPTY,
    SS_USERID_TOO_LONG,
    SS_USERID_BAD_UTF8,
    SS_USERID_CONTROL,
    SS_USERID_EDGE_SPACE,
} ss_userid_rule;

/* Which rule s (len bytes, may contain NUL) breaks, or SS_USERID_OK. */
ss_userid_rule ss_userid_check(const char *s, size_t len);
/* "userId must be …" for a broken rule (static text). */
const char *ss_userid_rule_text(ss_userid_rule r);

bool ss_userid_valid(const char *s, size_t len);
/* NUL-terminated variant; false for NULL. */
bool ss_userid_valid_cstr(const char *s);

#endif
