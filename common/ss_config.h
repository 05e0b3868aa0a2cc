/* ss_config.h — 12-factor configuration: every setting is a STATSYNC_*
 * environment variable and a --flag; the flag wins. --help prints the table.
 *
 *   static ss_opt opts[] = {
 *       SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &cfg.nats_url,
 *                  "nats://127.0.0.1:4222", "NATS server URL(s), comma separated"),
 *       SS_OPT_INT("api-port", "STATSYNC_API_PORT", &cfg.api_port, "3000", "REST port"),
 *       SS_OPT_SECRET("jwt-secret", "STATSYNC_JWT_SECRET", &cfg.jwt_secret, NULL, "…"),
 *   };
 *   int rc = ss_config_parse(opts, SS_COUNT(opts), argc, argv, "gateway", "REST + Socket.IO edge");
 *   // rc == 0 go on, rc == 1 --help was printed (exit 0), rc < 0 error printed (exit 2)
 *   ss_log_init(...);
 *   ss_config_warn_unknown_env(opts, SS_COUNT(opts));
 *
 * A secret (SS_OPT_SECRET) may instead come from a file: <ENV>_FILE or
 * --<flag>-file names it, and its content less trailing CR / LF is the
 * value (Docker and Kubernetes secrets are files). Setting both <ENV> and
 * <ENV>_FILE is an error.
 *
 * Strings are owned by the config module (valid until exit).
 * Threads: the main thread, at start-up, before other threads exist
 * (getenv / environ). */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef enum ss_opt_type { SS_OPT_T_STR, SS_OPT_T_INT, SS_OPT_T_BOOL } ss_opt_type;

/* ss_opt.flags */
#define SS_OPT_F_FILE 1u /* a secret: <ENV>_FILE / --<flag>-file may name a file holding it */

typedef struct ss_opt {
    const char *flag; /* without "--" */
    const char *env;
    ss_opt_type type;
    void *out;        /* const char ** | int64_t * | int * */
    const char *def;  /* default as text; NULL = required for strings */
    const char *help;
    unsigned flags;   /* SS_OPT_F_* */
} ss_opt;

#define SS_OPT_STR(f, e, p, d, h) {(f), (e), SS_OPT_T_STR, (p), (d), (h), 0u}
#define SS_OPT_INT(f, e, p, d, h) {(f), (e), SS_OPT_T_INT, (p), (d), (h), 0u}
#define SS_OPT_BOOL(f, e, p, d, h) {(f), (e), SS_OPT_T_BOOL, (p), (d), (h), 0u}
#define SS_OPT_SECRET(f, e, p, d, h) {(f), (e), SS_OPT_T_STR, (p), (d), (h), SS_OPT_F_FILE}

int ss_config_parse(const ss_opt *opts, int n, int argc, char **argv, const char *prog,
                    const char *summary);

/* Stores the text val into o->out as its type says: a string as it is
 * (borrowed), an integer in decimal, a boolean as 1 / true / yes / on or
 * 0 / false / no / off. 0, or -1 when val is not of the type (out is left
 * as it was; the caller says so in its own words). */
int ss_opt_store(const ss_opt *o, const char *val);

/* A secret from the environment: <env> or the file <env>_FILE names. *val
 * is NULL when neither is set. Returns 0, or -1 (said on stderr, prefixed
 * with prog) when both are set or the file cannot be used. */
int ss_config_secret_env(const char *env, const char *prog, const char **val);

/* Calls fn for every STATSYNC_* variable of the environment that none of
 * opts reads (nor a secret's *_FILE) and that ss_env_name_known() does not
 * know either: a typo, most likely. name is the "NAME=value" entry, len the
 * length of its NAME. Returns how many. */
size_t ss_config_unknown_env(const ss_opt *opts, int n,
                             void (*fn)(const char *name, size_t len, void *arg), void *arg);
/* ss_config_unknown_env with one warning log line per name (after ss_log_init). */
void ss_config_warn_unknown_env(const ss_opt *opts, int n);

#endif
