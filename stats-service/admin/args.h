/* args.h — statsync-admin's command lines: after the command words
 * ("partition move"), options in an ss_opt table as every statsync binary
 * has (ss_config.h: a flag, its STATSYNC_* variable, a default), plus what a
 * tool needs and a service does not: options given more than once
 * (--instance a --instance b) and positional arguments (move 5).
 *
 * Values: the variable's when set and not empty, else the default; a flag
 * wins. Strings point into argv / the environment (valid until exit).
 *
 * Pure but for getenv; any thread (the tool has one). */
#ifndef ADMIN_ARGS_H
#define ADMIN_ARGS_H

#include "ss_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ss_opt.flags bit of a repeatable string option: its out is an admin_list. */
#define ADMIN_OPT_LIST (1u << 8)
#define ADMIN_LIST_MAX 32
#define ADMIN_POS_MAX 4

typedef struct admin_list {
    const char *v[ADMIN_LIST_MAX];
    size_t n;
} admin_list;

typedef struct admin_positional {
    const char *v[ADMIN_POS_MAX];
    size_t n;
} admin_positional;

/* Parses argv[0..argc) against opts. 0: parsed; 1: --help / -h was asked
 * (nothing else checked); -1: why says what is wrong (an unknown flag, a
 * missing or bad value, a required option missing, too many values). */
int admin_args_parse(const ss_opt *opts, size_t n, int argc, char **argv, admin_positional *pos,
                     char *why, size_t why_cap);

/* --help of one command: usage line, what it does, its options. */
void admin_args_usage(FILE *f, const char *usage, const char *text, const ss_opt *opts,
                      size_t n);

/* "5" -> 5: a decimal number 0..max, no sign, no leading zero. */
bool admin_args_uint(const char *s, unsigned long max, unsigned long *out);

#endif
