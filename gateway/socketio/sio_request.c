/* sio_request.c — what a connection brings in: the Engine.IO query
 * parameters of its request (EIO, transport, sid, token) and its receive
 * buffer (a websocket message in fragments, a polling POST body).
 * Threads: service thread only. */
#include "sio_engine.h"

#include <stdlib.h>
#include <string.h>

/* ---- receive buffer ---------------------------------------------------------- */

int sio_pss_append(sio_pss *pss, const void *in, size_t len)
{
    if (pss->rx_len + len + 1 > pss->rx_cap) {
        size_t cap = pss->rx_cap ? pss->rx_cap : 4096;
        while (cap < pss->rx_len + len + 1)
            cap *= 2;
        char *n = realloc(pss->rx, cap);
        if (n == NULL)
            return -1;
        pss->rx = n;
        pss->rx_cap = cap;
    }
    memcpy(pss->rx + pss->rx_len, in, len);
    pss->rx_len += len;
    pss->rx[pss->rx_len] = '\0';
    return 0;
}

void sio_pss_rx_free(sio_pss *pss)
{
    free(pss->rx);
    pss->rx = NULL;
    pss->rx_len = 0;
    pss->rx_cap = 0;
}

/* ---- query parameters ------------------------------------------------------ */

static int sio_query__set(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

void sio_query_read(struct lws *wsi, sio_query *q)
{
    memset(q, 0, sizeof(*q));
    char buf[4096];
    for (int i = 0; i < 32; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) {
            if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
                q->bad = 1; /* too long for buf */
            break;
        }
        char *eq = strchr(buf, '=');
        const char *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(buf, "EIO") == 0)
            q->bad |= sio_query__set(q->eio, sizeof(q->eio), v) != 0;
        else if (strcmp(buf, "transport") == 0)
            q->bad |= sio_query__set(q->transport, sizeof(q->transport), v) != 0;
        else if (strcmp(buf, "sid") == 0)
            q->bad |= sio_query__set(q->sid, sizeof(q->sid), v) != 0;
        else if (strcmp(buf, "token") == 0 && q->token == NULL && v[0])
            q->token = strdup(v);
    }
}

void sio_query_free(sio_query *q)
{
    free(q->token);
    q->token = NULL;
}
