/* sio_session.c — shared packet buffers and the bounded per-session output
 * queue (see sio_session.h). Service thread only, except sio_buf_wrap(). */
#include "sio_session.h"

#include "ss_list.h"

#include <stdlib.h>

sio_buf *sio_buf_wrap(char *mem, size_t len, sio_buf_kind kind)
{
    if (mem == NULL)
        return NULL;
    sio_buf *b = malloc(sizeof(*b));
    if (b == NULL) {
        free(mem);
        return NULL;
    }
    b->refs = 1;
    b->kind = (uint8_t)kind;
    b->version = 0;
    b->len = len;
    b->mem = mem;
    return b;
}

sio_buf *sio_buf_ref(sio_buf *b)
{
    b->refs++;
    return b;
}

void sio_buf_unref(sio_buf *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    free(b->mem);
    free(b);
}

/* The queued document older than `version`, dropped: 1; none queued: 0;
 * one as new or newer: -1 (nothing dropped). */
static int sio_outq__drop_older_doc(sio_outq *q, uint64_t version)
{
    sio_outq_node *prev = NULL;
    for (sio_outq_node *n = q->head; n; prev = n, n = n->next) {
        if (n->buf->kind != SIO_BUF_DOC)
            continue;
        if (n->buf->version >= version)
            return -1;
        if (prev)
            prev->next = n->next;
        else
            q->head = n->next;
        if (q->tail == n)
            q->tail = prev;
        q->count--;
        q->bytes -= n->buf->len;
        sio_buf_unref(n->buf);
        free(n);
        return 1;
    }
    return 0;
}

sio_outq_rc sio_outq_push(sio_outq *q, sio_buf *b, const sio_outq_limits *lim)
{
    int superseded = 0;
    if (b->kind == SIO_BUF_DOC && (superseded = sio_outq__drop_older_doc(q, b->version)) < 0)
        return SIO_OUTQ_STALE;
    if (lim && ((lim->max_msgs && q->count + 1 > lim->max_msgs) ||
                (lim->max_bytes && q->bytes + b->len > lim->max_bytes)))
        return SIO_OUTQ_FULL;
    sio_outq_node *n = malloc(sizeof(*n));
    if (n == NULL)
        return SIO_OUTQ_NOMEM;
    n->next = NULL;
    n->buf = sio_buf_ref(b);
    SS_FIFO_PUSH(q->head, q->tail, n);
    q->count++;
    q->bytes += b->len;
    return superseded ? SIO_OUTQ_SUPERSEDED : SIO_OUTQ_OK;
}

sio_buf *sio_outq_pop(sio_outq *q)
{
    sio_outq_node *n = q->head;
    if (n == NULL)
        return NULL;
    q->head = n->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    q->bytes -= n->buf->len;
    sio_buf *b = n->buf;
    free(n);
    return b;
}

void sio_outq_clear(sio_outq *q)
{
    sio_buf *b;
    while ((b = sio_outq_pop(q)) != NULL)
        sio_buf_unref(b);
}
