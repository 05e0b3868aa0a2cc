/* ss_config.h — 12-factor configuration: every setting is a STATSYNC_*
 * environment variable and a --flag; the flag wins. --help prints the table.
 *
 *   static ss_opt opts[] = {
 *       SS_OPT_STR("nats-url", "STATSYNC_NATS_URL", &cfg.nats_url,
 *                  "nats://127.0.0.1:4222", "NATS server URL(s), comma separated"),
 *       SS_OPT_INT("api-port", "STATSYNC_API_PORT", &cfg.api_port, "3000", "REST port"),
 *   };
 *   int rc = ss_config_parse(opts, SS_COUNT(opts), argc, argv, "gateway", "REST + Socket.IO edge");
 *   // rc == 0 go on, rc == 1 --help was printed (exit 0), rc < 0 error printed (exit 2)
 *
 * Strings are owned by the config module (valid until exit). */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include <stdint.h>

#define SS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef enum ss_opt_type { SS_OPT_T_STR, SS_OPT_T_INT, SS_OPT_T_BOOL } ss_opt_type;

typedef struct ss_opt {
    const char *flag; /* without "--" */
    const char *env;
    ss_opt_type type;
    void *out;        /* const char ** | int64_t * | int * */
    const char *def;  /* default as text; NULL = required for strings */
    const char *help;
} ss_opt;

#define SS_OPT_STR(f, e, p, d, h) {(f), (e), SS_OPT_T_STR, (p), (d), (h)}
#define SS_OPT_INT(f, e, p, d, h) {(f), (e), SS_OPT_T_INT, (p), (d), (h)}
#define SS_OPT_BOOL(f, e, p, d, h) {(f), (e), SS_OPT_T_BOOL, (p), (d), (h)}

int ss_config_parse(const ss_opt *opts, int n, int argc, char **argv, const char *prog,
                    const char *summary);

#endif
