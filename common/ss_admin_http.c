/* ss_admin_http.c — /livez, /readyz, /health and /metrics for the back-end
 * services (libmicrohttpd). Threads: start / stop on the main thread, the
 * handler on libmicrohttpd's. */
#include "ss_admin_http.h"

#include "ss_log.h"
#include "ss_metrics.h"
#include "ss_sockaddr.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

struct ss_admin_http {
    struct MHD_Daemon *d;
    ss_admin_config c;
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

/* /livez: answering at all is the proof (this thread and the process run). */
static json_t *ss_admin__live(void *arg, int *status)
{
    (void)arg;
    *status = 200;
    return json_pack("{s:s}", "status", "ok");
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
    ss_admin_health_fn fn = strcmp(url, "/health") == 0   ? a->c.health
                            : strcmp(url, "/readyz") == 0 ? a->c.ready
                            : strcmp(url, "/livez") == 0  ? ss_admin__live
                                                          : NULL;
    if (fn != NULL) {
        int status = 200;
        json_t *j = fn(a->c.arg, &status);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return ss_admin__send(c, status, "application/json", text, strlen(text));
    }
    char *b = strdup("{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}");
    return ss_admin__send(c, 404, "application/json", b, strlen(b));
}

/* libmicrohttpd's own thread on epoll, idle connections closed after 10 s,
 * at most 64 at once. flags adds MHD_USE_DUAL_STACK / MHD_USE_IPv6 or not;
 * addr NULL = every interface. */
static struct MHD_Daemon *ss_admin__listen(ss_admin_http *a, unsigned flags,
                                           const struct sockaddr_storage *addr)
{
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | flags,
                            a->c.port, NULL, NULL, ss_admin__handler, a,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                            addr ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, addr, MHD_OPTION_END);
}

/* The daemon on c->bind, or on every interface: dual stack, else IPv4 only
 * (no IPv6 in some containers). NULL when it cannot listen (logged). */
static struct MHD_Daemon *ss_admin__open(ss_admin_http *a)
{
    const char *bind = a->c.bind;
    if (bind == NULL || bind[0] == '\0') {
        struct MHD_Daemon *d = ss_admin__listen(a, MHD_USE_DUAL_STACK, NULL);
        return d ? d : ss_admin__listen(a, 0, NULL);
    }
    struct sockaddr_storage addr;
    if (ss_sockaddr_numeric(bind, a->c.port, &addr) != 0) {
        ss_log(SS_LOG_ERROR, "admin http: bind address is not a numeric IP", "{s:s}", "bind",
               bind);
        return NULL;
    }
    return ss_admin__listen(a, addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0u, &addr);
}

int ss_admin_http_start(ss_admin_http **out, const ss_admin_config *c)
{
    *out = NULL;
    if (c->port == 0)
        return 0;
    ss_admin_http *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    a->c = *c;
    a->d = ss_admin__open(a);
    if (a->d == NULL) {
        ss_log(SS_LOG_ERROR, "admin http listen failed", "{s:i,s:s}", "port", (int)c->port,
               "bind", c->bind && c->bind[0] ? c->bind : "*");
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
