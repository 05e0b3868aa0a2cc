/* fmt.h — snprintf for statsync-admin's messages (cut when long: a
 * message may be) and paths (never cut: a path that does not fit aborts —
 * it cannot happen for paths built from directories admin_abs_path took,
 * and a cut path must never be used). Pure; any thread. */
#ifndef ADMIN_FMT_H
#define ADMIN_FMT_H

#include <stddef.h>

void admin_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void admin_path(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
