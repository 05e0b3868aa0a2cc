/* ss_config.c — environment + flag parsing for every statsync binary: the
 * values, secrets from files (*_FILE), --help, and the STATSYNC_* variables
 * no statsync program reads. Threads: the main thread, at start-up. */
#include "ss_config.h"

#include "ss_env_names.h"
#include "ss_log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest secret file read (a JWT secret is tens of bytes). */
#define SS_CONFIG_SECRET_MAX 65536
/* Longest variable or flag name, "_FILE" / "-file" included. */
#define SS_CONFIG_NAME_MAX 128

extern char **environ;

int ss_opt_store(const ss_opt *o, const char *val)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    switch (o->type) {
    case SS_OPT_T_STR:
        *(const char **)o->out = val;
        return 0;
    case SS_OPT_T_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0')
            return -1;
        *(int64_t *)o->out = v;
        return 0;
    }
    case SS_OPT_T_BOOL:
        for (size_t i = 0; i < SS_COUNT(yes); i++) {
            if (strcmp(val, yes[i]) == 0)
                return *(int *)o->out = 1, 0;
            if (strcmp(val, no[i]) == 0)
                return *(int *)o->out = 0, 0;
        }
        return -1;
    }
    return -1;
}

static int ss_config__set(const ss_opt *o, const char *val, const char *from)
{
    if (ss_opt_store(o, val) == 0)
        return 0;
    fprintf(stderr, "invalid %s for %s: '%s'\n", o->type == SS_OPT_T_INT ? "integer" : "boolean",
            from, val);
    return -1;
}

/* ---- secrets from files ---------------------------------------------------- */

/* Values read from files: kept (and reachable) until exit, like the
 * environment's strings the other options point into. */
typedef struct ss_config_kept {
    struct ss_config_kept *next;
    char text[];
} ss_config_kept;
static ss_config_kept *ss_config__kept;

/* The content of the secret file at path less trailing CR / LF, kept until
 * exit; NULL (said on stderr, `from` naming the setting) when it cannot be
 * read, is empty, is too large or holds a NUL byte. */
static const char *ss_config__read_secret(const char *path, const char *from)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot read '%s': %s\n", from, path, strerror(errno));
        return NULL;
    }
    ss_config_kept *k = malloc(sizeof(*k) + SS_CONFIG_SECRET_MAX + 1);
    char *buf = k ? k->text : NULL;
    size_t n = buf ? fread(buf, 1, SS_CONFIG_SECRET_MAX + 1, f) : 0;
    bool failed = buf == NULL || ferror(f);
    fclose(f);
    const char *why = failed ? "cannot be read"
                      : n > SS_CONFIG_SECRET_MAX ? "is larger than 64 KiB"
                      : memchr(buf, '\0', n) ? "holds a NUL byte"
                                             : NULL;
    while (why == NULL && n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (why == NULL && n == 0)
        why = "is empty";
    if (why != NULL) {
        fprintf(stderr, "%s: the file '%s' %s\n", from, path, why);
        free(k);
        return NULL;
    }
    buf[n] = '\0';
    k->next = ss_config__kept;
    ss_config__kept = k;
    return buf;
}

int ss_config_secret_env(const char *env, const char *prog, const char **val)
{
    char file_env[SS_CONFIG_NAME_MAX];
    snprintf(file_env, sizeof(file_env), "%s_FILE", env);
    const char *v = getenv(env), *path = getenv(file_env);
    v = v && v[0] ? v : NULL;
    *val = v;
    if (path == NULL || path[0] == '\0')
        return 0;
    if (v != NULL) {
        fprintf(stderr, "%s: set %s or %s, not both\n", prog, env, file_env);
        return -1;
    }
    *val = ss_config__read_secret(path, file_env);
    return *val ? 0 : -1;
}

/* ---- --help ---------------------------------------------------------------- */

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
        if (opts[i].flags & SS_OPT_F_FILE) {
            char flag[SS_CONFIG_NAME_MAX], env[SS_CONFIG_NAME_MAX];
            snprintf(flag, sizeof(flag), "%s-file", opts[i].flag);
            snprintf(env, sizeof(env), "%s_FILE", opts[i].env);
            printf("  --%-24s %-30s a file holding %s (trailing newline dropped); not with %s\n",
                   flag, env, opts[i].env, opts[i].env);
        }
    }
    printf("  --%-24s %-30s %s\n", "help", "", "print this help and exit");
}

/* ---- parsing --------------------------------------------------------------- */

/* Every option from its environment variable (or secret file), else its default. */
static int ss_config__environment(const ss_opt *opts, int n, const char *prog)
{
    for (int i = 0; i < n; i++) {
        const char *env = NULL;
        if (opts[i].flags & SS_OPT_F_FILE) {
            if (ss_config_secret_env(opts[i].env, prog, &env) != 0)
                return -1;
        } else if (opts[i].env != NULL) {
            env = getenv(opts[i].env);
            env = env && env[0] ? env : NULL;
        }
        const char *val = env != NULL ? env : opts[i].def;
        if (val != NULL && ss_config__set(&opts[i], val, env ? opts[i].env : "default") < 0)
            return -1;
    }
    return 0;
}

/* The option of "--key" (klen bytes of key); *file is set for a secret's
 * "--<flag>-file". NULL when there is none. */
static const ss_opt *ss_config__flag(const ss_opt *opts, int n, const char *key, size_t klen,
                                     bool *file)
{
    static const char sfx[] = "-file";
    const size_t sl = sizeof(sfx) - 1;
    for (int k = 0; k < n; k++) {
        size_t fl = strlen(opts[k].flag);
        *file = false;
        if (fl == klen && !strncmp(opts[k].flag, key, klen))
            return &opts[k];
        *file = (opts[k].flags & SS_OPT_F_FILE) && klen == fl + sl &&
                !strncmp(opts[k].flag, key, fl) && !strncmp(key + fl, sfx, sl);
        if (*file)
            return &opts[k];
    }
    return NULL;
}

/* argv[*i]'s value: after '=', or the next argument (or "true" for a bare
 * boolean flag). NULL (said) when there is none. */
static const char *ss_config__flag_value(const ss_opt *o, bool file, const char *eq, int argc,
                                         char **argv, int *i, const char *prog)
{
    if (eq != NULL)
        return eq + 1;
    if (!file && o->type == SS_OPT_T_BOOL &&
        (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0))
        return "true";
    if (*i + 1 < argc)
        return argv[++*i];
    fprintf(stderr, "%s: flag '--%s%s' needs a value\n", prog, o->flag, file ? "-file" : "");
    return NULL;
}

static int ss_config__flags(const ss_opt *opts, int n, int argc, char **argv, const char *prog)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog, a);
            return -1;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        bool file = false;
        const ss_opt *o = ss_config__flag(opts, n, a, klen, &file);
        if (o == NULL) {
            fprintf(stderr, "%s: unknown flag '--%.*s' (try --help)\n", prog, (int)klen, a);
            return -1;
        }
        const char *from = argv[i];
        const char *val = ss_config__flag_value(o, file, eq, argc, argv, &i, prog);
        if (val != NULL && file)
            val = ss_config__read_secret(val, from);
        if (val == NULL || ss_config__set(o, val, from) < 0)
            return -1;
    }
    return 0;
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
    if (ss_config__environment(opts, n, prog) != 0 || ss_config__flags(opts, n, argc, argv, prog))
        return -1;
    for (int i = 0; i < n; i++) {
        if (opts[i].type == SS_OPT_T_STR && *(const char **)opts[i].out == NULL) {
            fprintf(stderr, "%s: --%s / %s is required\n", prog, opts[i].flag, opts[i].env);
            return -1;
        }
    }
    return 0;
}

/* ---- unknown variables ----------------------------------------------------- */

/* True when one of opts reads the variable (len bytes of name). */
static bool ss_config__reads(const ss_opt *opts, int n, const char *name, size_t len)
{
    static const char sfx[] = "_FILE";
    const size_t sl = sizeof(sfx) - 1;
    for (int i = 0; i < n; i++) {
        if (opts[i].env == NULL)
            continue;
        size_t el = strlen(opts[i].env);
        if (el == len && !memcmp(opts[i].env, name, len))
            return true;
        if ((opts[i].flags & SS_OPT_F_FILE) && len == el + sl && !memcmp(opts[i].env, name, el) &&
            !memcmp(name + el, sfx, sl))
            return true;
    }
    return false;
}

size_t ss_config_unknown_env(const ss_opt *opts, int n,
                             void (*fn)(const char *name, size_t len, void *arg), void *arg)
{
    size_t count = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "STATSYNC_", 9) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        if (ss_config__reads(opts, n, *e, len) || ss_env_name_known(*e, len))
            continue;
        count++;
        if (fn != NULL)
            fn(*e, len, arg);
    }
    return count;
}

static void ss_config__warn(const char *name, size_t len, void *arg)
{
    (void)arg;
    ss_log(SS_LOG_WARN, "unknown environment variable: no statsync program reads it (a typo?)",
           "{s:s%}", "name", name, len);
}

void ss_config_warn_unknown_env(const ss_opt *opts, int n)
{
    ss_config_unknown_env(opts, n, ss_config__warn, NULL);
}
