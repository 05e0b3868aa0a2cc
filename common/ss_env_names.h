/* ss_env_names.h — the STATSYNC_* environment variables some statsync
 * program or script reads (ss_env_names.c), so that a binary can tell a
 * typo from a setting meant for another binary. */
#ifndef SS_ENV_NAMES_H
#define SS_ENV_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* True when the first len bytes of name are a variable some statsync
 * binary, the edge or a script reads. Any thread. */
bool ss_env_name_known(const char *name, size_t len);

#endif
