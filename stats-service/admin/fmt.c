/* fmt.c — snprintf for statsync-admin's messages and paths (see fmt.h). */
#include "fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void admin_path(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "statsync-admin: internal error: a path does not fit in %zu bytes\n", cap);
        abort();
    }
}

void admin_fmt(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

