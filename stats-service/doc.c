/* doc.c — stats_doc <-> statsync.Document, defaults and small helpers.
 * Pure and thread-agnostic: callers own the stats_doc they pass. */
#include "doc.h"

#include <math.h>

/* 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write. */
#define DOC_MAX_UPDATED_AT_MS 253402300799999LL

#include <stdlib.h>
#include <string.h>

void doc_init_defaults(stats_doc *d, const char *user_id)
{
    memset(d, 0, sizeof(*d));
    strncpy(d->user_id, user_id, SS_USERID_MAX);
    d->user_id[SS_USERID_MAX] = '\0';
    d->hearts = DOC_DEFAULT_HEARTS;
    d->level = DOC_DEFAULT_LEVEL;
}

void doc_free(stats_doc *d)
{
    free(d->last_game_results);
    d->last_game_results = NULL;
}

ss_err doc_copy(stats_doc *dst, const stats_doc *src)
{
    *dst = *src;
    dst->last_game_results = NULL;
    if (src->last_game_results != NULL) {
        dst->last_game_results = strdup(src->last_game_results);
        if (dst->last_game_results == NULL)
            return SS_ERR_INTERNAL;
    }
    return SS_OK;
}

void doc_times_append(stats_doc *d, const double *v, size_t n)
{
    if (n >= DOC_MAX_TIMES) {
        memcpy(d->times, v + (n - DOC_MAX_TIMES), DOC_MAX_TIMES * sizeof(double));
        d->n_times = DOC_MAX_TIMES;
        return;
    }
    size_t keep = d->n_times;
    if (keep + n > DOC_MAX_TIMES) {
        size_t drop = keep + n - DOC_MAX_TIMES;
        memmove(d->times, d->times + drop, (keep - drop) * sizeof(double));
        keep -= drop;
    }
    if (n > 0)
        memcpy(d->times + keep, v, n * sizeof(double));
    d->n_times = keep + n;
}

void doc_times_set(stats_doc *d, const double *v, size_t n)
{
    d->n_times = 0;
    doc_times_append(d, v, n);
}

ss_err doc_set_game_results(stats_doc *d, const char *json)
{
    char *copy = NULL;
    if (json != NULL && strcmp(json, "null") != 0) {
        copy = strdup(json);
        if (copy == NULL)
            return SS_ERR_INTERNAL;
    }
    free(d->last_game_results);
    d->last_game_results = copy;
    return SS_OK;
}

void doc_to_proto(const stats_doc *d, Statsync__Document *out)
{
    Statsync__Document init = STATSYNC__DOCUMENT__INIT;
    *out = init;
    /* protobuf-c wants non-const pointers; packing only reads them. */
    out->user_id = (char *)d->user_id;
#define DOC__TO(c, j)                                                                       \
    out->has_##c = 1;                                                                       \
    out->c = d->c;
    DOC_INT_FIELDS(DOC__TO)
#undef DOC__TO
    out->has_total_time_spent = 1;
    out->total_time_spent = d->total_time_spent;
    out->n_time_per_question = d->n_times;
    out->time_per_question = d->n_times ? (double *)d->times : NULL;
    out->last_game_results = d->last_game_results;
    out->has_updated_at_ms = 1;
    out->updated_at_ms = d->updated_at_ms;
    out->has_version = 1;
    out->version = d->version;
}

ss_err doc_from_proto(const Statsync__Document *p, stats_doc *out)
{
    if (!ss_userid_valid_cstr(p->user_id))
        return SS_ERR_INTERNAL;
    /* A stored document only ever holds what merge.c produced: counters in
     * [0, 2^53-1], finite numbers. Anything else is a corrupt or foreign
     * record; refusing it keeps merge arithmetic free of overflow. */
#define DOC__CHECK(c, j)                                                                    \
    if (p->has_##c && (p->c < 0 || p->c > DOC_MAX_SAFE_INT))                                \
        return SS_ERR_INTERNAL;
    DOC_INT_FIELDS(DOC__CHECK)
#undef DOC__CHECK
    if (p->has_total_time_spent && !isfinite(p->total_time_spent))
        return SS_ERR_INTERNAL;
    for (size_t i = 0; i < p->n_time_per_question; i++)
        if (!isfinite(p->time_per_question[i]))
            return SS_ERR_INTERNAL;
    if (p->has_updated_at_ms && (p->updated_at_ms < 0 || p->updated_at_ms > DOC_MAX_UPDATED_AT_MS))
        return SS_ERR_INTERNAL;
    doc_init_defaults(out, p->user_id);
#define DOC__FROM(c, j)                                                                     \
    if (p->has_##c)                                                                         \
        out->c = p->c;
    DOC_INT_FIELDS(DOC__FROM)
#undef DOC__FROM
    if (p->has_total_time_spent)
        out->total_time_spent = p->total_time_spent;
    doc_times_set(out, p->time_per_question, p->n_time_per_question);
    if (p->has_updated_at_ms)
        out->updated_at_ms = p->updated_at_ms;
    if (p->has_version)
        out->version = p->version;
    return doc_set_game_results(out, p->last_game_results);
}

ss_err doc_pack(const stats_doc *d, uint8_t **buf, size_t *len)
{
    Statsync__Document p;
    doc_to_proto(d, &p);
    size_t n = statsync__document__get_packed_size(&p);
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL)
        return SS_ERR_INTERNAL;
    *len = statsync__document__pack(&p, b);
    *buf = b;
    return SS_OK;
}

ss_err doc_unpack(const uint8_t *buf, size_t len, stats_doc *out)
{
    Statsync__Document *p = statsync__document__unpack(NULL, len, buf);
    if (p == NULL)
        return SS_ERR_INTERNAL;
    ss_err e = doc_from_proto(p, out);
    statsync__document__free_unpacked(p, NULL);
    return e;
}
