/* ss_log.c — JSON-lines logger on top of jansson. */
#include "ss_log.h"

#include "ss_reqid.h"
#include "ss_time.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ss_log__service = "statsync";
static ss_log_level ss_log__min = SS_LOG_INFO;
static const char *const ss_log__names[] = {"debug", "info", "warn", "error"};

void ss_log_init(const char *service, ss_log_level min_level)
{
    ss_log__service = service;
    ss_log__min = min_level;
}

int ss_log_level_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, ss_log__names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return SS_LOG_WARN;
    return -1;
}

int ss_log_enabled(ss_log_level level)
{
    return level >= ss_log__min;
}

void ss_log(ss_log_level level, const char *msg, const char *fields_fmt, ...)
{
    if (level < ss_log__min)
        return;
    char ts[SS_RFC3339_LEN];
    ss_rfc3339_format(ss_now_ms(), ts);
    json_t *line = json_pack("{s:s,s:s,s:s,s:s}", "time", ts, "level",
                             ss_log__names[level], "service", ss_log__service, "msg",
                             msg ? msg : "");
    if (line == NULL)
        return;
    if (fields_fmt != NULL) {
        va_list ap;
        va_start(ap, fields_fmt);
        json_error_t jerr;
        json_t *fields = json_vpack_ex(&jerr, 0, fields_fmt, ap);
        va_end(ap);
        if (fields != NULL && json_is_object(fields))
            json_object_update_missing(line, fields);
        else
            json_object_set_new(line, "log_error", json_string(jerr.text));
        json_decref(fields);
    }
    const char *rid = ss_reqid_current(); /* the request this thread works on */
    if (rid != NULL && json_object_get(line, "request_id") == NULL)
        json_object_set_new(line, "request_id", json_string(rid));
    /* reals (durations) with 10 significant digits: 0.694, not 0.69399999999999995 */
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(line);
    if (text == NULL)
        return;
    size_t n = strlen(text);
    text[n] = '\n'; /* overwrite NUL: one write per line keeps lines whole */
    ssize_t off = 0;
    while ((size_t)off < n + 1) {
        ssize_t w = write(STDOUT_FILENO, text + off, n + 1 - (size_t)off);
        if (w <= 0)
            break;
        off += w;
    }
    free(text);
}
