/* commit_pool.h — runs the store groups of one writer batch at the same time.
 *
 * One LMDB environment per partition: a batch that touches k partitions
 * makes k write transactions, each with its own durable commit (two
 * fdatasyncs). One after the other they cost k commit times; on threads of
 * their own the syncs overlap (the file system journals concurrent syncs
 * together), and a batch costs about one.
 *
 * Threads: commit_pool_run() from the writer thread only (one run at a time);
 * the workers ("commit-<i>") run the items it hands out, and so does the
 * writer thread itself. fn must be safe to call for different items at once
 * (the writer's groups are: each has its own store and jobs). */
#ifndef STATS_COMMIT_POOL_H
#define STATS_COMMIT_POOL_H

#include "ss_error.h"

#include <stddef.h>

typedef struct commit_pool commit_pool;
typedef void (*commit_pool_fn)(void *arg, size_t item);

/* threads: how many may run at once, the writer thread included (>= 1; 1 =
 * no worker thread, everything on the caller). */
ss_err commit_pool_create(commit_pool **out, size_t threads);
/* Calls fn(arg, i) once for every i in [0, n), spread over the workers and
 * the calling thread; returns when every call has returned (everything
 * they wrote is then visible to the caller). */
void commit_pool_run(commit_pool *p, size_t n, commit_pool_fn fn, void *arg);
/* Stops and joins the workers (none may be running a batch); NULL is fine. */
void commit_pool_destroy(commit_pool *p);

#endif
