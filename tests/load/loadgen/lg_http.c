/* lg_http.c — see lg_http.h. */
#include "lg_http.h"

#include <string.h>
#include <strings.h>

static int http__header_is(const char *line, size_t n, const char *name, const char **value,
                           size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *value = v;
    *vlen = (size_t)(e - v);
    return 1;
}

/* Walks a chunked body from b; returns its length, 0 when incomplete, or
 * (size_t)-1 when malformed. Trailers are not supported (none are sent). */
static size_t http__chunked(const char *b, size_t n)
{
    size_t o = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (o < n) {
            char c = b[o];
            int d = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                break;
            if (++digits > 8)
                return (size_t)-1;
            size = size * 16 + (size_t)d;
            o++;
        }
        while (o < n && b[o] != '\n') /* chunk extensions, then CRLF */
            o++;
        if (o >= n)
            return 0;
        if (!digits)
            return (size_t)-1;
        o++;
        if (size == 0) {
            if (n - o < 2)
                return 0;
            return memcmp(b + o, "\r\n", 2) == 0 ? o + 2 : (size_t)-1;
        }
        if (n - o < size + 2)
            return 0;
        o += size;
        if (memcmp(b + o, "\r\n", 2) != 0)
            return (size_t)-1;
        o += 2;
    }
}

lg_http_rc lg_http_response(const char *buf, size_t len, size_t max_head, int *status,
                            size_t *total, int *close)
{
    const char *end = NULL;
    for (size_t i = 0; i + 4 <= len && i < max_head; i++)
        if (buf[i] == '\r' && memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            end = buf + i;
            break;
        }
    if (!end)
        return len >= max_head ? LG_HTTP_BAD : LG_HTTP_INCOMPLETE;
    size_t head = (size_t)(end - buf) + 4;
    if (head < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return LG_HTTP_BAD;
    int code = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return LG_HTTP_BAD;
        code = code * 10 + (buf[i] - '0');
    }
    *status = code;
    *close = buf[7] == '0'; /* HTTP/1.0 closes unless told otherwise */
    long clen = -1;
    int chunked = 0;
    const char *p = memchr(buf, '\n', head);
    while (p && p + 1 < end) {
        const char *line = p + 1;
        const char *eol = memchr(line, '\n', (size_t)(buf + head - line));
        if (!eol)
            break;
        const char *v;
        size_t vl;
        size_t ln = (size_t)(eol - line);
        if (http__header_is(line, ln, "content-length", &v, &vl)) {
            clen = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9' || clen > 100000000L)
                    return LG_HTTP_BAD;
                clen = clen * 10 + (v[i] - '0');
            }
        } else if (http__header_is(line, ln, "transfer-encoding", &v, &vl)) {
            chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
        } else if (http__header_is(line, ln, "connection", &v, &vl)) {
            if (vl == 5 && strncasecmp(v, "close", 5) == 0)
                *close = 1;
            else if (vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
                *close = 0;
        }
        p = eol;
    }
    if (code == 204 || code == 304 || (code >= 100 && code < 200)) {
        *total = head;
        return LG_HTTP_OK;
    }
    if (chunked) {
        size_t body = http__chunked(buf + head, len - head);
        if (body == (size_t)-1)
            return LG_HTTP_BAD;
        if (body == 0)
            return LG_HTTP_INCOMPLETE;
        *total = head + body;
        return LG_HTTP_OK;
    }
    if (clen < 0)
        return LG_HTTP_BAD; /* a body delimited by close: not for keep-alive load */
    if (len - head < (size_t)clen)
        return LG_HTTP_INCOMPLETE;
    *total = head + (size_t)clen;
    return LG_HTTP_OK;
}
