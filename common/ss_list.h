/* ss_list.h — the one intrusive doubly linked list: for every "list of
 * things that leave from the middle" (a room's sockets, the ping cycle, the
 * requests waiting for a deadline or a reply, LRU orders).
 *
 * Intrusive: the caller embeds an ss_link (two pointers, nothing allocated)
 * and gets its struct back with SS_LIST_ENTRY. The list never owns an
 * entry. Header only: every operation is a few pointer moves.
 *
 *   typedef struct job { ss_link link; int n; } job;
 *   ss_list q = {0};
 *   ss_list_push_back(&q, &j->link);
 *   for (ss_link *k = q.head; k; k = k->next) SS_LIST_ENTRY(k, job, link)->n++;
 *   ss_list_remove(&q, &j->link);
 *
 * Threads: none inside; the caller serialises every call on one list. */
#ifndef SS_LIST_H
#define SS_LIST_H

#include <stddef.h>

typedef struct ss_link {
    struct ss_link *prev, *next;
} ss_link;

typedef struct ss_list {
    ss_link *head, *tail;
} ss_list;

/* The struct of type `type` whose member `member` is the link l. */
#define SS_LIST_ENTRY(l, type, member) ((type *)(void *)((char *)(l) - offsetof(type, member)))

/* Links n (in no list) after `at`, an entry of l; at NULL: at the front. */
static inline void ss_list_insert_after(ss_list *l, ss_link *at, ss_link *n)
{
    n->prev = at;
    n->next = at ? at->next : l->head;
    if (n->next)
        n->next->prev = n;
    else
        l->tail = n;
    if (at)
        at->next = n;
    else
        l->head = n;
}

static inline void ss_list_push_front(ss_list *l, ss_link *n)
{
    ss_list_insert_after(l, NULL, n);
}

static inline void ss_list_push_back(ss_list *l, ss_link *n)
{
    ss_list_insert_after(l, l->tail, n);
}

/* Unlinks n, an entry of l, and clears its links. */
static inline void ss_list_remove(ss_list *l, ss_link *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* The one singly linked FIFO, for queues only pushed at the back and taken
 * from the front (the writer's jobs, the hand-over tasks, a session's
 * output): any struct with a `next` pointer, its owner keeping head and
 * tail. Pushes n, whose next is NULL, at the back.
 *   SS_FIFO_PUSH(q->head, q->tail, job);  */
#define SS_FIFO_PUSH(head, tail, n)                                                          \
    do {                                                                                     \
        if ((tail) != NULL)                                                                  \
            (tail)->next = (n);                                                              \
        else                                                                                 \
            (head) = (n);                                                                    \
        (tail) = (n);                                                                        \
    } while (0)

#endif
