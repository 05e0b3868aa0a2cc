/* ss_userid.c — the userId alphabet check (see ss_userid.h). */
#include "ss_userid.h"

#include <string.h>

bool ss_userid_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > SS_USERID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool ss_userid_valid_cstr(const char *s)
{
    return s != NULL && ss_userid_valid(s, strnlen(s, SS_USERID_MAX + 1));
}
