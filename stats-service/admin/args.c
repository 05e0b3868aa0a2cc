/* args.c — statsync-admin's option parsing (see args.h). */
#include "args.h"

#include "fmt.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Stores v into o's out; from names the source for a message. */
static int args__set(const ss_opt *o, const char *v, const char *from, char *why, size_t cap)
{
    if (o->flags & ADMIN_OPT_LIST) {
        admin_list *l = o->out;
        if (l->n >= ADMIN_LIST_MAX) {
            admin_fmt(why, cap, "%s: at most %d values", from, ADMIN_LIST_MAX);
            return -1;
        }
        l->v[l->n++] = v;
        return 0;
    }
    if (ss_opt_store(o, v) == 0)
        return 0;
    if (o->type == SS_OPT_T_INT)
        admin_fmt(why, cap, "%s: '%s' is not an integer", from, v);
    else
        admin_fmt(why, cap, "%s: '%s' is not a boolean (true / false)", from, v);
    return -1;
}

static const ss_opt *args__find(const ss_opt *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].flag) == len && strncmp(opts[i].flag, name, len) == 0)
            return &opts[i];
    return NULL;
}

/* Defaults, then the environment: every option starts with a value (lists empty). */
static int args__defaults(const ss_opt *opts, size_t n, char *why, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        const ss_opt *o = &opts[i];
        if (o->flags & ADMIN_OPT_LIST) {
            ((admin_list *)o->out)->n = 0;
            continue;
        }
        const char *env = o->env != NULL ? getenv(o->env) : NULL;
        const char *v = env != NULL && env[0] != '\0' ? env : o->def;
        if (o->type == SS_OPT_T_STR)
            *(const char **)o->out = NULL;
        if (v != NULL && args__set(o, v, env != NULL && env[0] ? o->env : "default", why, cap))
            return -1;
    }
    return 0;
}

int admin_args_parse(const ss_opt *opts, size_t n, int argc, char **argv, admin_positional *pos,
                     char *why, size_t why_cap)
{
    why[0] = '\0';
    pos->n = 0;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    if (args__defaults(opts, n, why, why_cap) != 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (pos->n >= ADMIN_POS_MAX) {
                admin_fmt(why, why_cap, "unexpected argument '%s'", a);
                return -1;
            }
            pos->v[pos->n++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const ss_opt *o = args__find(opts, n, name, len);
        if (o == NULL) {
            admin_fmt(why, why_cap, "unknown option '--%.*s'", (int)len, name);
            return -1;
        }
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL && o->type == SS_OPT_T_BOOL)
            v = "true";
        else if (v == NULL && i + 1 < argc)
            v = argv[++i];
        if (v == NULL) {
            admin_fmt(why, why_cap, "option '--%s' needs a value", o->flag);
            return -1;
        }
        if (args__set(o, v, a, why, why_cap) != 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const ss_opt *o = &opts[i];
        if (!(o->flags & ADMIN_OPT_LIST) && o->type == SS_OPT_T_STR && o->def == NULL &&
            *(const char **)o->out == NULL) {
            admin_fmt(why, why_cap, "--%s is required", o->flag);
            return -1;
        }
    }
    return 0;
}

void admin_args_usage(FILE *f, const char *usage, const char *text, const ss_opt *opts, size_t n)
{
    fprintf(f, "Usage: %s\n\n%s\n", usage, text);
    if (n > 0)
        fprintf(f, "\nOptions (a flag wins over its environment variable):\n");
    for (size_t i = 0; i < n; i++) {
        const ss_opt *o = &opts[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s%s", o->flag, o->type == SS_OPT_T_BOOL ? "" : " V");
        fprintf(f, "  %-24s %s", flag, o->help);
        if (o->flags & ADMIN_OPT_LIST)
            fprintf(f, " (may be repeated)");
        else if (o->def == NULL && o->type == SS_OPT_T_STR)
            fprintf(f, " (required)");
        else if (o->def != NULL && o->type != SS_OPT_T_BOOL && strcmp(o->def, "") != 0 &&
                 strcmp(o->def, "0") != 0)
            fprintf(f, " (default: %s)", o->def);
        if (o->env != NULL)
            fprintf(f, " [%s]", o->env);
        fprintf(f, "\n");
    }
    fprintf(f, "  %-24s %s\n", "--help", "print this help and exit");
}

bool admin_args_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
        return false;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        unsigned long d = (unsigned long)(*p - '0');
        if (*p < '0' || *p > '9' || d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}
