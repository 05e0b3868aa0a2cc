/* lg_sio.c — see lg_sio.h. */
#include "lg_sio.h"

#include <stdio.h>
#include <string.h>

lg_pkt lg_sio_classify(const char *p, size_t n)
{
    if (n == 0)
        return LG_PKT_OTHER;
    switch (p[0]) {
    case '0': return LG_PKT_EIO_OPEN;
    case '1': return LG_PKT_EIO_CLOSE;
    case '2': return LG_PKT_EIO_PING;
    case '6': return LG_PKT_EIO_NOOP;
    case '4': break;
    default: return LG_PKT_OTHER;
    }
    if (n < 2)
        return LG_PKT_OTHER;
    /* A namespace other than "/" would follow as "/name,": not ours. */
    if (n > 2 && p[2] == '/')
        return LG_PKT_OTHER;
    switch (p[1]) {
    case '0': return LG_PKT_SIO_CONNECT;
    case '1': return LG_PKT_SIO_DISCONNECT;
    case '2': return LG_PKT_SIO_EVENT;
    case '3': return LG_PKT_SIO_ACK;
    case '4': return LG_PKT_SIO_CONNECT_ERROR;
    default: return LG_PKT_OTHER;
    }
}

static const char *sio__ws(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++;
    return s;
}

/* s at '"': returns the byte after the closing quote, or NULL. */
static const char *sio__skip_string(const char *s, const char *e)
{
    for (s++; s < e; s++) {
        if (*s == '\\')
            s++;
        else if (*s == '"')
            return s + 1;
    }
    return NULL;
}

/* Skips one JSON value (not validated beyond nesting and strings). */
static const char *sio__skip_value(const char *s, const char *e)
{
    if (s >= e)
        return NULL;
    if (*s == '"')
        return sio__skip_string(s, e);
    if (*s == '{' || *s == '[') {
        int depth = 0;
        while (s < e) {
            char c = *s;
            if (c == '"') {
                s = sio__skip_string(s, e);
                if (!s)
                    return NULL;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return s + 1;
            }
            s++;
        }
        return NULL;
    }
    while (s < e && *s != ',' && *s != '}' && *s != ']' && *s != ' ' && *s != '\t' &&
           *s != '\r' && *s != '\n')
        s++;
    return s;
}

static int sio__parse_int(const char *s, const char *e, int64_t *out)
{
    int neg = 0;
    if (s < e && *s == '-') {
        neg = 1;
        s++;
    }
    if (s >= e || *s < '0' || *s > '9')
        return -1;
    int64_t v = 0;
    while (s < e && *s >= '0' && *s <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s < e && (*s == '.' || *s == 'e' || *s == 'E'))
        return -1; /* xp is an integer */
    *out = neg ? -v : v;
    return 0;
}

/* p/n: an EVENT packet. When its name is `name` (quoted, e.g. "\"x\""),
 * returns the start of the first argument (after the comma), else NULL. */
static const char *sio__event_arg(const char *p, size_t n, const char *qname, size_t qlen)
{
    const char *s = p, *e = p + n;
    if (n < 2 || s[0] != '4' || s[1] != '2')
        return NULL;
    s += 2;
    while (s < e && *s >= '0' && *s <= '9') /* an ack id, should the server ask for one */
        s++;
    s = sio__ws(s, e);
    if (s >= e || *s != '[')
        return NULL;
    s = sio__ws(s + 1, e);
    if ((size_t)(e - s) < qlen || memcmp(s, qname, qlen) != 0)
        return NULL;
    s = sio__ws(s + qlen, e);
    if (s >= e || *s != ',')
        return e; /* the event, without an argument */
    return sio__ws(s + 1, e);
}

/* Finds top-level key in the object at s (< e); returns the value's start
 * and sets *ve past it, or NULL. */
static const char *sio__field(const char *s, const char *e, const char *key, const char **ve)
{
    size_t want = strlen(key);
    if (s >= e || *s != '{')
        return NULL;
    s++;
    for (;;) {
        s = sio__ws(s, e);
        if (s >= e || *s != '"')
            return NULL;
        const char *k = s + 1;
        const char *ke = sio__skip_string(s, e);
        if (!ke)
            return NULL;
        s = sio__ws(ke, e);
        if (s >= e || *s != ':')
            return NULL;
        s = sio__ws(s + 1, e);
        const char *v_end = sio__skip_value(s, e);
        if (!v_end)
            return NULL;
        if ((size_t)(ke - 1 - k) == want && memcmp(k, key, want) == 0) {
            *ve = v_end;
            return s;
        }
        s = sio__ws(v_end, e);
        if (s >= e || *s != ',')
            return NULL;
        s++;
    }
}

int lg_sio_parse_user_error(const char *p, size_t n, int *status, int *about_update)
{
    static const char ev[] = "\"user:error\"";
    static const char upd[] = "\"user:clientUpdate\"";
    const char *e = p + n;
    const char *arg = sio__event_arg(p, n, ev, sizeof ev - 1);
    if (!arg)
        return 0;
    *status = 0;
    *about_update = 0;
    const char *ve;
    const char *v = sio__field(arg, e, "event", &ve);
    if (v && (size_t)(ve - v) == sizeof upd - 1 && memcmp(v, upd, sizeof upd - 1) == 0)
        *about_update = 1;
    const char *err = sio__field(arg, e, "error", &ve);
    if (err) {
        const char *st = sio__field(err, ve, "status", &ve);
        int64_t code;
        if (st && sio__parse_int(st, ve, &code) == 0 && code > 0 && code < 1000)
            *status = (int)code;
    }
    return 1;
}

int lg_sio_parse_data_updated(const char *p, size_t n, int64_t *xp, const char **uid,
                              size_t *uid_len)
{
    static const char ev[] = "\"user:data:updated\"";
    const char *e = p + n;
    const char *s = sio__event_arg(p, n, ev, sizeof ev - 1);
    if (!s)
        return 0;
    if (s >= e || *s != '{')
        return -1;

    int have_xp = 0;
    *uid = NULL;
    *uid_len = 0;
    s++;
    for (;;) {
        s = sio__ws(s, e);
        if (s >= e)
            return -1;
        if (*s == '}')
            break;
        if (*s != '"')
            return -1;
        const char *k = s + 1;
        const char *ke = sio__skip_string(s, e);
        if (!ke)
            return -1;
        size_t klen = (size_t)(ke - 1 - k);
        s = sio__ws(ke, e);
        if (s >= e || *s != ':')
            return -1;
        s = sio__ws(s + 1, e);
        const char *ve = sio__skip_value(s, e);
        if (!ve)
            return -1;
        if (klen == 2 && memcmp(k, "xp", 2) == 0) {
            if (sio__parse_int(s, ve, xp) != 0)
                return -1;
            have_xp = 1;
        } else if (klen == 6 && memcmp(k, "userId", 6) == 0 && *s == '"') {
            *uid = s + 1;
            *uid_len = (size_t)(ve - 1 - (s + 1));
        }
        if (have_xp && *uid)
            return 1;
        s = sio__ws(ve, e);
        if (s < e && *s == ',') {
            s++;
            continue;
        }
        if (s < e && *s == '}')
            break;
        return -1;
    }
    return have_xp ? 1 : -1;
}

static size_t sio__done(int n, size_t cap)
{
    return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

size_t lg_sio_connect(char *out, size_t cap, const char *token)
{
    return sio__done(snprintf(out, cap, "40{\"token\":\"%s\"}", token), cap);
}

size_t lg_sio_join(char *out, size_t cap, const char *user_id)
{
    return sio__done(snprintf(out, cap, "42[\"presence:join\",{\"userId\":\"%s\"}]", user_id), cap);
}

size_t lg_sio_update(char *out, size_t cap, const char *op_id)
{
    if (op_id)
        return sio__done(snprintf(out, cap,
                                  "42[\"user:clientUpdate\",{\"opId\":\"%s\",\"delta\":{\"xp\":1}}]",
                                  op_id),
                         cap);
    return sio__done(snprintf(out, cap, "42[\"user:clientUpdate\",{\"delta\":{\"xp\":1}}]"), cap);
}
