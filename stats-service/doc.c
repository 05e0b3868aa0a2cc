/* doc.c — stats_doc <-> statsync.Document, defaults and small helpers.
 * Field by field, each function is a walk of SS_DOC_FIELDS
 * (common/ss_doc_fields.h): DOC_<step>_<kind> below says what it does with
 * a row of that kind (d: the stats_doc; p, out: the Document).
 * Pure and thread-agnostic: callers own the stats_doc they pass. */
#include "doc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DOC_DEFAULT_INT(c, j, dflt, ...) d->c = dflt;
#define DOC_DEFAULT_DOUBLE DOC_DEFAULT_INT
#define DOC_DEFAULT_DOUBLES(...) /* []: zeroed */
#define DOC_DEFAULT_OBJECT(...)  /* null: zeroed */

void doc_init_defaults(stats_doc *d, const char *user_id)
{
    memset(d, 0, sizeof(*d));
    strncpy(d->user_id, user_id, SS_USERID_MAX);
    d->user_id[SS_USERID_MAX] = '\0';
    SS_DOC_FIELDS(DOC_EACH, DEFAULT)
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

void doc_values_append(double *vals, size_t *len, const double *v, size_t n)
{
    if (n >= SS_DOC_TIMES_MAX) {
        memcpy(vals, v + (n - SS_DOC_TIMES_MAX), SS_DOC_TIMES_MAX * sizeof(double));
        *len = SS_DOC_TIMES_MAX;
        return;
    }
    size_t keep = *len;
    if (keep + n > SS_DOC_TIMES_MAX) {
        size_t drop = keep + n - SS_DOC_TIMES_MAX;
        memmove(vals, vals + drop, (keep - drop) * sizeof(double));
        keep -= drop;
    }
    if (n > 0)
        memcpy(vals + keep, v, n * sizeof(double));
    *len = keep + n;
}

void doc_times_append(stats_doc *d, const double *v, size_t n)
{
    doc_values_append(d->times, &d->n_times, v, n);
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

#define DOC_TO_INT(c, ...)                                                                  \
    out->has_##c = 1;                                                                       \
    out->c = d->c;
#define DOC_TO_DOUBLE DOC_TO_INT
#define DOC_TO_DOUBLES(c, ...)                                                              \
    out->n_##c = d->n_times;                                                                \
    out->c = d->n_times ? (double *)d->times : NULL;
#define DOC_TO_OBJECT(c, ...) out->c = d->c;

void doc_to_proto(const stats_doc *d, Statsync__Document *out)
{
    Statsync__Document init = STATSYNC__DOCUMENT__INIT;
    *out = init;
    /* protobuf-c wants non-const pointers; packing only reads them. */
    out->user_id = (char *)d->user_id;
    SS_DOC_FIELDS(DOC_EACH, TO)
    out->has_updated_at_ms = 1;
    out->updated_at_ms = d->updated_at_ms;
    out->has_version = 1;
    out->version = d->version;
}

/* A stored document only ever holds what merge.c produced: numbers in
 * [0, 2^53-1], all finite. Anything else is a corrupt or foreign record;
 * refusing it keeps merge arithmetic free of overflow. */
#define DOC_CHECK_INT(c, ...)                                                               \
    if (p->has_##c && (p->c < 0 || p->c > SS_DOC_MAX_SAFE_INT))                             \
        return false;
#define DOC_CHECK_DOUBLE(c, ...)                                                            \
    if (p->has_##c && !isfinite(p->c))                                                      \
        return false;
#define DOC_CHECK_DOUBLES(c, ...)                                                           \
    for (size_t i = 0; i < p->n_##c; i++)                                                   \
        if (!isfinite(p->c[i]))                                                             \
            return false;
#define DOC_CHECK_OBJECT(...) /* any text: doc_set_game_results copies it */

static bool doc__proto_sane(const Statsync__Document *p)
{
    if (!ss_userid_valid_cstr(p->user_id))
        return false;
    SS_DOC_FIELDS(DOC_EACH, CHECK)
    return !p->has_updated_at_ms ||
           (p->updated_at_ms >= 0 && p->updated_at_ms <= SS_DOC_MAX_UPDATED_AT_MS);
}

#define DOC_FROM_INT(c, ...)                                                                \
    if (p->has_##c)                                                                         \
        out->c = p->c;
#define DOC_FROM_DOUBLE DOC_FROM_INT
#define DOC_FROM_DOUBLES(c, ...) doc_times_set(out, p->c, p->n_##c);
#define DOC_FROM_OBJECT(...) /* last, below: the one step that can fail */

ss_err doc_from_proto(const Statsync__Document *p, stats_doc *out)
{
    if (!doc__proto_sane(p))
        return SS_ERR_INTERNAL;
    doc_init_defaults(out, p->user_id);
    SS_DOC_FIELDS(DOC_EACH, FROM)
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
