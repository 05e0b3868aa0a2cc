/* test_commit_pool.c — the writer's commit pool (stats-service/commit_pool.c):
 * every item of a run is called exactly once, the run returns only after all
 * of them, items really run on several threads at once, and a pool of one
 * runs everything on the caller. In the TSan pass too (scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "commit_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define ITEMS 64

typedef struct run_state {
    atomic_int calls[ITEMS];
    atomic_int running, most_at_once;
    pthread_t caller;
    atomic_int on_caller;
    int sleep_us;
} run_state;

static void item(void *arg, size_t i)
{
    run_state *s = arg;
    int now = atomic_fetch_add(&s->running, 1) + 1;
    int most = atomic_load(&s->most_at_once);
    while (now > most && !atomic_compare_exchange_weak(&s->most_at_once, &most, now))
        ;
    if (pthread_equal(pthread_self(), s->caller))
        atomic_fetch_add(&s->on_caller, 1);
    if (s->sleep_us > 0)
        usleep((useconds_t)s->sleep_us); /* a commit waiting for the disk */
    atomic_fetch_add(&s->calls[i], 1);
    atomic_fetch_sub(&s->running, 1);
}

static void run_once(commit_pool *p, run_state *s, size_t n, int sleep_us)
{
    memset(s, 0, sizeof(*s));
    s->caller = pthread_self();
    s->sleep_us = sleep_us;
    commit_pool_run(p, n, item, s);
    assert_int_equal(atomic_load(&s->running), 0); /* every call returned */
    for (size_t i = 0; i < ITEMS; i++)
        assert_int_equal(atomic_load(&s->calls[i]), i < n ? 1 : 0);
}

static void test_every_item_once_over_many_runs(void **state)
{
    (void)state;
    commit_pool *p = NULL;
    assert_int_equal(commit_pool_create(&p, 8), SS_OK);
    run_state s;
    for (int r = 0; r < 500; r++)
        run_once(p, &s, (size_t)(r % ITEMS) + 1, 0);
    commit_pool_run(p, 0, item, &s); /* nothing to do: returns */
    commit_pool_destroy(p);
}

static void test_items_overlap(void **state)
{
    (void)state;
    commit_pool *p = NULL;
    assert_int_equal(commit_pool_create(&p, 8), SS_OK);
    run_state s;
    /* 16 items of 20 ms: they overlap on the pool's threads (a state: how
     * many ran at once, not how long it took) */
    run_once(p, &s, 16, 20000);
    assert_true(atomic_load(&s.most_at_once) >= 2);
    assert_true(atomic_load(&s.most_at_once) <= 8);
    commit_pool_destroy(p);
}

static void test_one_thread_runs_on_the_caller(void **state)
{
    (void)state;
    commit_pool *p = NULL;
    assert_int_equal(commit_pool_create(&p, 1), SS_OK);
    run_state s;
    run_once(p, &s, 10, 0);
    assert_int_equal(atomic_load(&s.on_caller), 10);
    assert_int_equal(atomic_load(&s.most_at_once), 1);
    commit_pool_destroy(p);
    commit_pool_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once_over_many_runs),
        cmocka_unit_test(test_items_overlap),
        cmocka_unit_test(test_one_thread_runs_on_the_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
