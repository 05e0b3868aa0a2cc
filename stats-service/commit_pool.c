/* commit_pool.c — the writer's store groups run at once (commit_pool.h).
 *
 * Threads: commit_pool_run() on the writer thread; commit__worker() on the
 * "commit-<i>" threads. `mu` guards the run (fn, arg, n, next, left,
 * generation) and `stop`. A run hands out items by index under mu; the
 * caller takes items too, then waits until `left` is 0. */
#include "commit_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct commit_pool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a run started, or stop */
    pthread_cond_t done; /* left reached 0 */
    commit_pool_fn fn;
    void *arg;
    size_t n, next, left;
    uint64_t generation;
    bool stop;
    pthread_t *threads;
    size_t n_threads;
};

/* Takes and runs items of the current run until none is left to take. mu held
 * on entry and on return. */
static void commit__drain(commit_pool *p)
{
    while (p->next < p->n) {
        size_t i = p->next++;
        commit_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, i);
        pthread_mutex_lock(&p->mu);
        if (--p->left == 0)
            pthread_cond_signal(&p->done);
    }
}

static void *commit__worker(void *arg)
{
    commit_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (p->generation == seen || p->next >= p->n) {
            seen = p->generation;
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        commit__drain(p);
        seen = p->generation;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ss_err commit_pool_create(commit_pool **out, size_t threads)
{
    *out = NULL;
    commit_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SS_ERR_INTERNAL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    size_t workers = threads > 1 ? threads - 1 : 0;
    p->threads = workers ? calloc(workers, sizeof(*p->threads)) : NULL;
    if (workers && p->threads == NULL) {
        commit_pool_destroy(p);
        return SS_ERR_INTERNAL;
    }
    for (size_t i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, commit__worker, p) != 0) {
            commit_pool_destroy(p);
            return SS_ERR_INTERNAL;
        }
        char name[16];
        snprintf(name, sizeof(name), "commit-%u", (unsigned)(i % 1000));
        pthread_setname_np(p->threads[i], name);
        p->n_threads++;
    }
    *out = p;
    return SS_OK;
}

void commit_pool_run(commit_pool *p, size_t n, commit_pool_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (n == 1 || p->n_threads == 0) { /* nothing to overlap */
        for (size_t i = 0; i < n; i++)
            fn(arg, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn, p->arg = arg, p->n = n, p->next = 0, p->left = n;
    p->generation++;
    /* as many workers as there are items beside the caller's first: a
     * broadcast woke all of them for a batch of two groups (at 2 000/s most
     * batches), each wake-up a context switch on a 2-core machine. A worker
     * not waiting now checks the run before it waits again. */
    if (n - 1 >= p->n_threads) {
        pthread_cond_broadcast(&p->work); /* every worker has an item */
    } else {
        for (size_t i = 0; i + 1 < n; i++)
            pthread_cond_signal(&p->work);
    }
    commit__drain(p);
    while (p->left > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->fn = NULL, p->arg = NULL, p->n = 0, p->next = 0;
    pthread_mutex_unlock(&p->mu);
}

void commit_pool_destroy(commit_pool *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
