/* ss_subjects.c — the userId <-> subject token encoding (see ss_subjects.h). */
#include "ss_subjects.h"

#include <string.h>

static const char ss_subj__hex[] = "0123456789ABCDEF";

static bool ss_subj__plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static int ss_subj__unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower case is not canonical */
}

bool ss_subject_user(char *buf, size_t cap, const char *prefix, const char *user_id)
{
    if (cap > 0)
        buf[0] = '\0';
    if (!ss_userid_valid_cstr(user_id))
        return false;
    size_t pl = strlen(prefix), w = 0;
    if (pl + 2 > cap)
        return false;
    memcpy(buf, prefix, pl);
    w = pl;
    buf[w++] = '.';
    for (const unsigned char *p = (const unsigned char *)user_id; *p; p++) {
        if (w + 4 > cap) { /* worst case "=XX" + NUL */
            buf[0] = '\0';
            return false;
        }
        if (ss_subj__plain(*p)) {
            buf[w++] = (char)*p;
        } else {
            buf[w++] = '=';
            buf[w++] = ss_subj__hex[*p >> 4];
            buf[w++] = ss_subj__hex[*p & 0x0F];
        }
    }
    buf[w] = '\0';
    return true;
}

bool ss_subject_user_is(const char *subject, const char *prefix, const char *user_id)
{
    char want[SS_SUBJECT_MAX];
    return subject != NULL && ss_subject_user(want, sizeof(want), prefix, user_id) &&
           strcmp(subject, want) == 0;
}

bool ss_subject_user_event(char *buf, size_t cap, const char *user_id, const char *kind)
{
    if (!ss_subject_user(buf, cap, SS_SUBJ_USER, user_id))
        return false;
    size_t w = strlen(buf), kl = strlen(kind);
    if (w + 1 + kl + 1 > cap) {
        buf[0] = '\0';
        return false;
    }
    buf[w] = '.';
    memcpy(buf + w + 1, kind, kl + 1);
    return true;
}

const char *ss_subject_user_event_kind(const char *subject, const char *user_id)
{
    char want[SS_SUBJECT_MAX];
    if (subject == NULL || !ss_subject_user(want, sizeof(want), SS_SUBJ_USER, user_id))
        return NULL;
    size_t n = strlen(want);
    if (strncmp(subject, want, n) != 0 || subject[n] != '.' || subject[n + 1] == '\0' ||
        strchr(subject + n + 1, '.') != NULL)
        return NULL;
    return subject + n + 1;
}

bool ss_subject_user_parse(const char *subject, const char *prefix, char *out, size_t cap)
{
    if (cap > 0)
        out[0] = '\0';
    size_t pl = strlen(prefix);
    if (subject == NULL || cap < SS_USERID_MAX + 1 || strncmp(subject, prefix, pl) != 0 ||
        subject[pl] != '.')
        return false;
    size_t w = 0;
    for (const char *p = subject + pl + 1; *p; p++) {
        if (w >= SS_USERID_MAX) {
            out[0] = '\0';
            return false;
        }
        unsigned char c = (unsigned char)*p;
        if (ss_subj__plain(c)) {
            out[w++] = (char)c;
            continue;
        }
        int hi = c == '=' ? ss_subj__unhex(p[1]) : -1;
        int lo = hi >= 0 ? ss_subj__unhex(p[2]) : -1;
        unsigned char b = (unsigned char)(hi * 16 + lo);
        if (lo < 0 || ss_subj__plain(b)) { /* not "=XX", or an escape that need not be */
            out[0] = '\0';
            return false;
        }
        out[w++] = (char)b;
        p += 2;
    }
    out[w] = '\0';
    if (!ss_userid_valid(out, w)) {
        out[0] = '\0';
        return false;
    }
    return true;
}
