/* ss_userid.h — userId validation. userIds become NATS subject tokens, so
 * only 1..64 bytes of [A-Za-z0-9_-] pass: never '.', '*', '>' or whitespace. */
#ifndef SS_USERID_H
#define SS_USERID_H

#include <stdbool.h>
#include <stddef.h>

#define SS_USERID_MAX 64

bool ss_userid_valid(const char *s, size_t len);
/* NUL-terminated variant; false for NULL. */
bool ss_userid_valid_cstr(const char *s);

#endif
