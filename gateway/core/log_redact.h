/* log_redact.h — keeps credentials out of log lines written from text the
 * gateway does not control (libwebsockets' and libmicrohttpd's own messages,
 * which may quote a request line). Our own log calls never print a URL or a
 * query string; this is the belt to that pair of braces. Pure. */
#ifndef LOG_REDACT_H
#define LOG_REDACT_H

#include <stddef.h>
#include <string.h>
#include <strings.h>

static inline char *log_redact__find(char *s, const char *mark, size_t mlen)
{
    for (; *s; s++)
        if (strncasecmp(s, mark, mlen) == 0)
            return s;
    return NULL;
}

/* Replaces in place the value of every `token=` and every `Bearer <x>` (any
 * case) with "***"; the line never grows. */
static inline void log_redact(char *line)
{
    static const char *const marks[] = {"token=", "bearer "};
    for (size_t m = 0; m < sizeof(marks) / sizeof(marks[0]); m++) {
        size_t mlen = strlen(marks[m]);
        char *p = line;
        while ((p = log_redact__find(p, marks[m], mlen)) != NULL) {
            char *v = p + mlen, *e = v;
            while (*e && strchr("& \"'\r\n,;", *e) == NULL)
                e++;
            if (e - v > 3) {
                memcpy(v, "***", 3);
                memmove(v + 3, e, strlen(e) + 1);
                e = v + 3;
            }
            p = e;
        }
    }
}

#endif
