/* ss_admin_http.c — /health and /metrics for the back-end services (libmicrohttpd). */
#include "ss_admin_http.h"

#include "ss_log.h"
#include "ss_metrics.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

struct ss_admin_http {
    struct MHD_Daemon *d;
    ss_admin_health_fn fn;
    void *arg;
};

static enum MHD_Result ss_admin__send(struct MHD_Connection *c, int status, const char *ctype,
                                      char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ss_admin__handler(void *cls, struct MHD_Connection *c, const char *url,
                                         const char *method, const char *version,
                                         const char *upload_data, size_t *upload_size,
                                         void **con_cls)
{
    (void)version;
    (void)upload_data;
    ss_admin_http *a = cls;
    if (*con_cls == NULL) { /* first call: headers only */
        *con_cls = a;
        return MHD_YES;
    }
    if (*upload_size != 0) { /* discard bodies */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        char *b = strdup("{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"use GET\"}}");
        return ss_admin__send(c, 405, "application/json", b, strlen(b));
    }
    if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *text = ss_metrics_render(&len);
        return ss_admin__send(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    }
    if (strcmp(url, "/health") == 0) {
        int status = 200;
        json_t *j = a->fn(a->arg, &status);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return ss_admin__send(c, status, "application/json", text, strlen(text));
    }
    char *b = strdup("{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}");
    return ss_admin__send(c, 404, "application/json", b, strlen(b));
}

/* libmicrohttpd's own thread on epoll, idle connections closed after 10 s,
 * at most 64 at once. flags adds MHD_USE_DUAL_STACK or not. */
static struct MHD_Daemon *ss_admin__listen(ss_admin_http *a, uint16_t port, unsigned flags)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | flags,
                            port, NULL, NULL, ss_admin__handler, a, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                            MHD_OPTION_END);
}

int ss_admin_http_start(ss_admin_http **out, uint16_t port, ss_admin_health_fn fn, void *arg)
{
    *out = NULL;
    if (port == 0)
        return 0;
    ss_admin_http *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    a->fn = fn;
    a->arg = arg;
    a->d = ss_admin__listen(a, port, MHD_USE_DUAL_STACK);
    if (a->d == NULL) /* no IPv6 in some containers: retry IPv4 only */
        a->d = ss_admin__listen(a, port, 0);
    if (a->d == NULL) {
        ss_log(SS_LOG_ERROR, "admin http listen failed", "{s:i}", "port", (int)port);
        free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void ss_admin_http_stop(ss_admin_http *a)
{
    if (a == NULL)
        return;
    MHD_stop_daemon(a->d);
    free(a);
}
