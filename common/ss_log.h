/* ss_log.h — structured logs: one JSON object per line on stdout.
 *
 *   {"time":"...","level":"info","service":"gateway","msg":"listening","port":3000}
 *
 * Fields are given as a jansson json_pack() format and its arguments:
 *   ss_log(SS_LOG_INFO, "listening", "{s:i}", "port", port);
 *   ss_log(SS_LOG_WARN, "nats down", NULL);
 * Thread-safe (one write(2) per line). Never pass tokens or secrets.
 * A line written while the thread works on a request (ss_reqid.h) carries
 * its id as "request_id". */
#ifndef SS_LOG_H
#define SS_LOG_H

typedef enum ss_log_level {
    SS_LOG_DEBUG = 0,
    SS_LOG_INFO,
    SS_LOG_WARN,
    SS_LOG_ERROR,
} ss_log_level;

/* Sets the service name and minimum level. Call once at start-up. */
void ss_log_init(const char *service, ss_log_level min_level);
/* "debug" | "info" | "warn" | "error" -> level; -1 when unknown. */
int ss_log_level_parse(const char *s);
/* True when a line at `level` would be written (to skip building fields). */
int ss_log_enabled(ss_log_level level);

void ss_log(ss_log_level level, const char *msg, const char *fields_fmt, ...);

#endif
