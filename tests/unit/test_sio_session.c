/* test_sio_session.c — shared buffers and the bounded output queue:
 * FIFO order, supersede of older documents, the bound, refcounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sio_session.h"

#include <stdlib.h>
#include <string.h>

static sio_buf *mk(const char *text, sio_buf_kind kind)
{
    size_t len = strlen(text);
    char *mem = malloc(SIO_HEADROOM + len + 1);
    memcpy(mem + SIO_HEADROOM, text, len + 1);
    return sio_buf_wrap(mem, len, kind);
}

static void test_fifo_and_refs(void **st)
{
    (void)st;
    sio_outq q = {0};
    sio_outq_limits lim = {.max_msgs = 10, .max_bytes = 1000};
    sio_buf *a = mk("2", SIO_BUF_PLAIN), *b = mk("42[\"x\"]", SIO_BUF_PLAIN);
    assert_int_equal(sio_outq_push(&q, a, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, b, &lim), SIO_OUTQ_OK);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.bytes, 1 + 7);
    assert_int_equal(a->refs, 2);
    sio_buf *x = sio_outq_pop(&q);
    assert_ptr_equal(x, a);
    sio_buf_unref(x);
    x = sio_outq_pop(&q);
    assert_ptr_equal(x, b);
    assert_string_equal(sio_buf_data(x), "42[\"x\"]");
    sio_buf_unref(x);
    assert_null(sio_outq_pop(&q));
    assert_true(sio_outq_empty(&q));
    assert_int_equal(q.bytes, 0);
    sio_buf_unref(a);
    sio_buf_unref(b);
}

static void test_supersede(void **st)
{
    (void)st;
    sio_outq q = {0};
    sio_outq_limits lim = {.max_msgs = 10, .max_bytes = 1000};
    sio_buf *d1 = mk("doc1", SIO_BUF_DOC), *u = mk("upd", SIO_BUF_PLAIN),
            *d2 = mk("doc2", SIO_BUF_DOC);
    d1->version = 1;
    d2->version = 2;
    assert_int_equal(sio_outq_push(&q, d1, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, u, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, d2, &lim), SIO_OUTQ_SUPERSEDED);
    assert_int_equal(q.count, 2);
    assert_int_equal(d1->refs, 1); /* the queue dropped its reference */
    sio_buf *x = sio_outq_pop(&q);
    assert_ptr_equal(x, u);
    sio_buf_unref(x);
    x = sio_outq_pop(&q);
    assert_ptr_equal(x, d2); /* the latest document comes last */
    sio_buf_unref(x);
    sio_buf_unref(d1);
    sio_buf_unref(u);
    sio_buf_unref(d2);
}

/* A document is only ever replaced by a newer version: a join reply read
 * before a concurrent commit (older) never replaces the pushed newer one. */
static void test_version_order(void **st)
{
    (void)st;
    sio_outq q = {0};
    sio_outq_limits lim = {.max_msgs = 10, .max_bytes = 1000};
    sio_buf *v7 = mk("doc7", SIO_BUF_DOC), *v5 = mk("doc5", SIO_BUF_DOC),
            *again = mk("doc7", SIO_BUF_DOC), *v8 = mk("doc8", SIO_BUF_DOC);
    v7->version = 7;
    v5->version = 5;
    again->version = 7;
    v8->version = 8;
    assert_int_equal(sio_outq_push(&q, v7, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, v5, &lim), SIO_OUTQ_STALE);    /* older: dropped */
    assert_int_equal(sio_outq_push(&q, again, &lim), SIO_OUTQ_STALE); /* the same: dropped */
    assert_int_equal(q.count, 1);
    assert_int_equal(v5->refs, 1); /* never queued */
    assert_int_equal(sio_outq_push(&q, v8, &lim), SIO_OUTQ_SUPERSEDED); /* newer: replaces */
    assert_int_equal(q.count, 1);
    sio_buf *x = sio_outq_pop(&q);
    assert_ptr_equal(x, v8);
    sio_buf_unref(x);
    /* once sent, an older one may be queued again (the client drops it by version) */
    assert_int_equal(sio_outq_push(&q, v5, &lim), SIO_OUTQ_OK);
    sio_outq_clear(&q);
    sio_buf_unref(v7);
    sio_buf_unref(v5);
    sio_buf_unref(again);
    sio_buf_unref(v8);
}

static void test_bound(void **st)
{
    (void)st;
    sio_outq q = {0};
    sio_outq_limits lim = {.max_msgs = 3, .max_bytes = 10};
    sio_buf *p = mk("abc", SIO_BUF_PLAIN);
    assert_int_equal(sio_outq_push(&q, p, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, p, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, p, &lim), SIO_OUTQ_OK);
    assert_int_equal(sio_outq_push(&q, p, &lim), SIO_OUTQ_FULL); /* count */
    assert_int_equal(q.count, 3);
    assert_int_equal(p->refs, 4);
    sio_outq_clear(&q);
    assert_int_equal(p->refs, 1);

    sio_buf *big = mk("0123456789X", SIO_BUF_PLAIN);
    assert_int_equal(sio_outq_push(&q, big, &lim), SIO_OUTQ_FULL); /* bytes */
    assert_true(sio_outq_empty(&q));

    /* documents never pile up: a stream of them stays at one queued */
    sio_outq_limits l2 = {.max_msgs = 2, .max_bytes = 100};
    for (int i = 0; i < 50; i++) {
        sio_buf *d = mk("doc", SIO_BUF_DOC);
        d->version = (uint64_t)i + 1;
        assert_true(sio_outq_push(&q, d, &l2) >= 0);
        sio_buf_unref(d);
    }
    assert_int_equal(q.count, 1);
    sio_outq_clear(&q);
    sio_buf_unref(p);
    sio_buf_unref(big);
}

static void test_wrap_null(void **st)
{
    (void)st;
    assert_null(sio_buf_wrap(NULL, 0, SIO_BUF_PLAIN));
    sio_buf_unref(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_refs),
        cmocka_unit_test(test_supersede),
        cmocka_unit_test(test_version_order),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_wrap_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
