/* ss_userid.c — the userId rules (see ss_userid.h). Pure. */
#include "ss_userid.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 sequence at s[0..left); returns its length and the code
 * point, or 0 for an ill-formed sequence (overlong, surrogate, > U+10FFFF,
 * truncated), per RFC 3629. */
static size_t ss_userid__utf8(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

static bool ss_userid__control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* Unicode White_Space (the ones that are not controls already). */
static bool ss_userid__space(uint32_t cp)
{
    return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

ss_userid_rule ss_userid_check(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return SS_USERID_EMPTY;
    if (len > SS_USERID_MAX)
        return SS_USERID_TOO_LONG;
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp = 0;
    bool first = true;
    for (size_t i = 0; i < len;) {
        size_t n = ss_userid__utf8(u + i, len - i, &cp);
        if (n == 0)
            return SS_USERID_BAD_UTF8;
        if (ss_userid__control(cp))
            return SS_USERID_CONTROL;
        if (first && ss_userid__space(cp))
            return SS_USERID_EDGE_SPACE;
        first = false;
        i += n;
    }
    return ss_userid__space(cp) ? SS_USERID_EDGE_SPACE : SS_USERID_OK; /* cp: the last one */
}

const char *ss_userid_rule_text(ss_userid_rule r)
{
    switch (r) {
    case SS_USERID_OK:
        return "userId is valid";
    case SS_USERID_EMPTY:
        return "userId must not be empty";
    case SS_USERID_TOO_LONG:
        return "userId must be at most 128 bytes";
    case SS_USERID_BAD_UTF8:
        return "userId must be valid UTF-8";
    case SS_USERID_CONTROL:
        return "userId must not contain control characters";
    case SS_USERID_EDGE_SPACE:
        return "userId must not begin or end with whitespace";
    }
    return "userId is invalid";
}

bool ss_userid_valid(const char *s, size_t len)
{
    return ss_userid_check(s, len) == SS_USERID_OK;
}

bool ss_userid_valid_cstr(const char *s)
{
    return s != NULL && ss_userid_valid(s, strnlen(s, SS_USERID_MAX + 1));
}
