/* ss_config.c — environment + flag parsing for every statsync binary. */
#include "ss_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ss_config__set(const ss_opt *o, const char *val, const char *from)
{
    switch (o->type) {
    case SS_OPT_T_STR:
        *(const char **)o->out = val;
        return 0;
    case SS_OPT_T_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0') {
            fprintf(stderr, "invalid integer for %s: '%s'\n", from, val);
            return -1;
        }
        *(int64_t *)o->out = v;
        return 0;
    }
    case SS_OPT_T_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") ||
            !strcmp(val, "on")) {
            *(int *)o->out = 1;
        } else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") ||
                   !strcmp(val, "off")) {
            *(int *)o->out = 0;
        } else {
            fprintf(stderr, "invalid boolean for %s: '%s'\n", from, val);
            return -1;
        }
        return 0;
    }
    return -1;
}

static void ss_config__usage(const ss_opt *opts, int n, const char *prog, const char *summary)
{
    printf("%s — %s\n\nUsage: %s [--flag value ...]\n\n", prog, summary, prog);
    printf("Every flag can also be set by its environment variable; the flag wins.\n\n");
    for (int i = 0; i < n; i++) {
        printf("  --%-24s %-30s %s", opts[i].flag, opts[i].env, opts[i].help);
        if (opts[i].def)
            printf(" (default: %s)", opts[i].def[0] ? opts[i].def : "\"\"");
        else
            printf(" (required)");
        printf("\n");
    }
    printf("  --%-24s %-30s %s\n", "help", "", "print this help and exit");
}

int ss_config_parse(const ss_opt *opts, int n, int argc, char **argv, const char *prog,
                    const char *summary)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            ss_config__usage(opts, n, prog, summary);
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        const char *env = opts[i].env ? getenv(opts[i].env) : NULL;
        const char *val = (env != NULL && env[0] != '\0') ? env : opts[i].def;
        if (val != NULL && ss_config__set(&opts[i], val, env ? opts[i].env : "default") < 0)
            return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog, a);
            return -1;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        const ss_opt *o = NULL;
        for (int k = 0; k < n; k++)
            if (strlen(opts[k].flag) == klen && !strncmp(opts[k].flag, a, klen))
                o = &opts[k];
        if (o == NULL) {
            fprintf(stderr, "%s: unknown flag '--%.*s' (try --help)\n", prog, (int)klen, a);
            return -1;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (val == NULL) {
            if (o->type == SS_OPT_T_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
                val = "true";
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                fprintf(stderr, "%s: flag '--%s' needs a value\n", prog, o->flag);
                return -1;
            }
        }
        if (ss_config__set(o, val, argv[i]) < 0)
            return -1;
    }
    for (int i = 0; i < n; i++) {
        if (opts[i].type == SS_OPT_T_STR && *(const char **)opts[i].out == NULL) {
            fprintf(stderr, "%s: --%s / %s is required\n", prog, opts[i].flag, opts[i].env);
            return -1;
        }
    }
    return 0;
}
