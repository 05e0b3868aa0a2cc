/* stats_json.c — client JSON <-> protobuf mapping (see stats_json.h).
 *
 * One table names every document field once: its JSON name, its kind and
 * where it lives in StatsFields and in Document. Parsing walks the input
 * object and looks each key up in the table, so an unknown key, a wrong type
 * or an out-of-range value is caught at the key that carries it. Nothing is
 * kept from a rejected input (all-or-nothing). Pure: no I/O, no globals. */
#include "stats_json.h"

#include "ss_time.h"
#include "ss_userid.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum sj_kind {
    SJ_INT,    /* integer within +-(2^53-1) */
    SJ_NUM,    /* finite number */
    SJ_TIMES,  /* array of finite numbers, at most STATS_JSON_MAX_TIMES */
    SJ_RESULTS /* object or null, at most STATS_JSON_MAX_GAME_RESULTS compact */
} sj_kind;

typedef struct sj_field {
    const char *name;
    sj_kind kind;
    size_t f_has, f_val; /* offsets in Statsync__StatsFields */
    size_t d_has, d_val; /* offsets in Statsync__Document */
    int64_t def;         /* default of a never-written user */
} sj_field;

#define SJ_F(m) offsetof(Statsync__StatsFields, m)
#define SJ_D(m) offsetof(Statsync__Document, m)
#define SJ_NUMERIC(json, m, kind, def)                                                       \
    {json, kind, SJ_F(has_##m), SJ_F(m), SJ_D(has_##m), SJ_D(m), def}

/* Every stats field, in the order documents are rendered. */
static const sj_field sj_fields[] = {
    SJ_NUMERIC("xp", xp, SJ_INT, 0),
    SJ_NUMERIC("hearts", hearts, SJ_INT, 5),
    SJ_NUMERIC("diamonds", diamonds, SJ_INT, 0),
    SJ_NUMERIC("level", level, SJ_INT, 1),
    SJ_NUMERIC("streak", streak, SJ_INT, 0),
    SJ_NUMERIC("maxStreak", max_streak, SJ_INT, 0),
    SJ_NUMERIC("accuracy", accuracy, SJ_INT, 0),
    SJ_NUMERIC("completedQuestions", completed_questions, SJ_INT, 0),
    SJ_NUMERIC("correctAnswers", correct_answers, SJ_INT, 0),
    SJ_NUMERIC("wrongAnswers", wrong_answers, SJ_INT, 0),
    SJ_NUMERIC("totalQuestions", total_questions, SJ_INT, 0),
    SJ_NUMERIC("totalTimeSpent", total_time_spent, SJ_NUM, 0),
    {"timePerQuestion", SJ_TIMES, 0, SJ_F(time_per_question), 0, 0, 0},
    {"lastGameResults", SJ_RESULTS, 0, SJ_F(last_game_results), 0, SJ_D(last_game_results), 0},
};
#define SJ_NFIELDS (sizeof(sj_fields) / sizeof(sj_fields[0]))

/* ---- errors ---------------------------------------------------------------------- */

static ss_err sj__fail(stats_json_err *e, ss_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ss_err sj__fail(stats_json_err *e, ss_err err, const char *fmt, ...)
{
    if (e != NULL) {
        e->err = err;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
    }
    return err;
}

static void sj__ok(stats_json_err *e)
{
    if (e != NULL) {
        e->err = SS_OK;
        e->message[0] = '\0';
    }
}

/* A client-chosen key as it may appear in a message: at most SJ_KEY_MAX-4
 * bytes of printable ASCII (anything else becomes '?', so the message stays
 * valid UTF-8 whatever the key held). Returns buf. */
#define SJ_KEY_MAX 48
const char *stats_json_printable(const char *key, char *buf, size_t bufsz)
{
    size_t i = 0;
    if (bufsz < 8) {
        if (bufsz > 0)
            buf[0] = '\0';
        return buf;
    }
    for (; key[i] != '\0' && i < bufsz - 4; i++)
        buf[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
    if (key[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static const char *sj__printable(const char *key, char buf[SJ_KEY_MAX])
{
    return stats_json_printable(key, buf, SJ_KEY_MAX);
}

static const sj_field *sj__lookup(const char *key)
{
    for (size_t i = 0; i < SJ_NFIELDS; i++)
        if (strcmp(sj_fields[i].name, key) == 0)
            return &sj_fields[i];
    return NULL;
}

/* ---- JSON -> protobuf ------------------------------------------------------------ */

/* An integer field: a JSON integer, or a real with an integral value
 * (10.0), within +-(2^53-1). */
static ss_err sj__int(const json_t *v, const char *path, int64_t *out, stats_json_err *e)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > STATS_JSON_MAX_SAFE_INT || i < -STATS_JSON_MAX_SAFE_INT)
            return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: integer outside +-(2^53-1)", path);
        *out = (int64_t)i;
        return SS_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d))
            return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: not a finite number", path);
        if (d != trunc(d))
            return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be an integer", path);
        if (d > (double)STATS_JSON_MAX_SAFE_INT || d < -(double)STATS_JSON_MAX_SAFE_INT)
            return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: integer outside +-(2^53-1)", path);
        *out = (int64_t)d;
        return SS_OK;
    }
    return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be an integer, not %s", path,
                    json_is_null(v) ? "null" : "this type");
}

static ss_err sj__num(const json_t *v, const char *path, double *out, stats_json_err *e)
{
    if (!json_is_number(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be a number, not %s", path,
                        json_is_null(v) ? "null" : "this type");
    double d = json_number_value(v);
    if (!isfinite(d))
        return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: not a finite number", path);
    *out = d;
    return SS_OK;
}

static ss_err sj__times(const json_t *v, const char *path, Statsync__DoubleList **out,
                        stats_json_err *e)
{
    if (!json_is_array(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be an array of numbers", path);
    size_t n = json_array_size(v);
    if (n > STATS_JSON_MAX_TIMES)
        return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: more than %d values", path,
                        STATS_JSON_MAX_TIMES);
    Statsync__DoubleList *l = malloc(sizeof(*l));
    if (l == NULL)
        return sj__fail(e, SS_ERR_INTERNAL, "out of memory");
    statsync__double_list__init(l);
    if (n > 0) {
        l->values = malloc(n * sizeof(double));
        if (l->values == NULL) {
            free(l);
            return sj__fail(e, SS_ERR_INTERNAL, "out of memory");
        }
    }
    for (size_t i = 0; i < n; i++) {
        char ipath[96];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        ss_err rc = sj__num(json_array_get(v, i), ipath, &l->values[i], e);
        if (rc != SS_OK) {
            statsync__double_list__free_unpacked(l, NULL);
            return rc;
        }
        l->n_values = i + 1;
    }
    *out = l;
    return SS_OK;
}

static ss_err sj__results(const json_t *v, const char *path, char **out, stats_json_err *e)
{
    if (!json_is_object(v) && !json_is_null(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be an object or null", path);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return sj__fail(e, SS_ERR_INTERNAL, "out of memory");
    if (strlen(text) > STATS_JSON_MAX_GAME_RESULTS) {
        free(text);
        return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: larger than %d bytes", path,
                        STATS_JSON_MAX_GAME_RESULTS);
    }
    *out = text;
    return SS_OK;
}

/* Sets one table field of f from v. path names the field in messages. */
static ss_err sj__set_field(Statsync__StatsFields *f, const sj_field *fd, const json_t *v,
                            const char *path, stats_json_err *e)
{
    char *base = (char *)f;
    switch (fd->kind) {
    case SJ_INT: {
        int64_t x = 0;
        ss_err rc = sj__int(v, path, &x, e);
        if (rc != SS_OK)
            return rc;
        *(protobuf_c_boolean *)(base + fd->f_has) = 1;
        *(int64_t *)(base + fd->f_val) = x;
        return SS_OK;
    }
    case SJ_NUM: {
        double x = 0;
        ss_err rc = sj__num(v, path, &x, e);
        if (rc != SS_OK)
            return rc;
        *(protobuf_c_boolean *)(base + fd->f_has) = 1;
        *(double *)(base + fd->f_val) = x;
        return SS_OK;
    }
    case SJ_TIMES:
        return sj__times(v, path, (Statsync__DoubleList **)(base + fd->f_val), e);
    case SJ_RESULTS:
        return sj__results(v, path, (char **)(base + fd->f_val), e);
    }
    return sj__fail(e, SS_ERR_INTERNAL, "bad field table");
}

static Statsync__StatsFields *sj__new_fields(void)
{
    Statsync__StatsFields *f = malloc(sizeof(*f));
    if (f != NULL)
        statsync__stats_fields__init(f);
    return f;
}

/* A userId given in the body: a string passing the userId rules. */
static ss_err sj__user_id(const json_t *v, const char *path, const char **out,
                          stats_json_err *e)
{
    if (!json_is_string(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be a string", path);
    ss_userid_rule why = ss_userid_check(json_string_value(v), json_string_length(v));
    if (why != SS_USERID_OK)
        return sj__fail(e, SS_ERR_INVALID_USER_ID, "%s: %s", path, ss_userid_rule_text(why));
    *out = json_string_value(v);
    return SS_OK;
}

/* The document fields of a __set object; prefix is "__set". Returns the
 * number of fields set in *nset. */
static ss_err sj__parse_set(const json_t *obj, Statsync__StatsFields *f, size_t *nset,
                            stats_json_err *e)
{
    if (!json_is_object(obj))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "__set: must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char path[96];
        snprintf(path, sizeof(path), "__set.%s", sj__printable(key, (char[SJ_KEY_MAX]){0}));
        const sj_field *fd = sj__lookup(key);
        if (fd == NULL)
            return sj__fail(e, SS_ERR_UNKNOWN_FIELD, "%s: unknown field", path);
        ss_err rc = sj__set_field(f, fd, v, path, e);
        if (rc != SS_OK)
            return rc;
        (*nset)++;
    }
    return SS_OK;
}

/* The envelope members of a REST patch body an SDK may add: ignored. */
static bool sj__patch_envelope(const char *key)
{
    return strcmp(key, "clientId") == 0 || strcmp(key, "seq") == 0 || strcmp(key, "opId") == 0;
}

/* A delta object; patch: a REST patch body (sj__patch_envelope members ignored). */
static ss_err sj__delta(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                        bool patch, stats_json_err *e)
{
    *out = NULL;
    if (user_id_out != NULL)
        *user_id_out = NULL;
    if (!json_is_object(obj))
        return sj__fail(e, SS_ERR_INVALID_JSON, "a delta must be a JSON object");

    Statsync__Delta *d = malloc(sizeof(*d));
    Statsync__StatsFields *add = sj__new_fields();
    Statsync__StatsFields *set = sj__new_fields();
    if (d == NULL || add == NULL || set == NULL) {
        free(d);
        free(add);
        free(set);
        return sj__fail(e, SS_ERR_INTERNAL, "out of memory");
    }
    statsync__delta__init(d);
    d->add = add;
    d->set = set;

    ss_err rc = SS_OK;
    size_t nadd = 0, nset = 0;
    const char *uid = NULL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "__set") == 0) {
            rc = sj__parse_set(v, set, &nset, e);
        } else if (strcmp(key, "userId") == 0 && user_id_out != NULL) {
            rc = sj__user_id(v, "userId", &uid, e);
        } else if (patch && sj__patch_envelope(key)) {
            continue;
        } else {
            const sj_field *fd = sj__lookup(key);
            if (fd == NULL)
                rc = sj__fail(e, SS_ERR_UNKNOWN_FIELD, "%s: unknown field",
                              sj__printable(key, (char[SJ_KEY_MAX]){0}));
            else
                rc = sj__set_field(add, fd, v, fd->name, e);
            nadd++;
        }
        if (rc != SS_OK)
            goto fail;
    }
    if (nadd == 0 && nset == 0) {
        rc = sj__fail(e, SS_ERR_BAD_REQUEST, "empty delta: give at least one stats field");
        goto fail;
    }
    /* An empty part is left out of the message rather than sent empty. */
    if (nadd == 0) {
        statsync__stats_fields__free_unpacked(d->add, NULL);
        d->add = NULL;
    }
    if (nset == 0) {
        statsync__stats_fields__free_unpacked(d->set, NULL);
        d->set = NULL;
    }
    if (user_id_out != NULL)
        *user_id_out = uid;
    *out = d;
    sj__ok(e);
    return SS_OK;
fail:
    statsync__delta__free_unpacked(d, NULL);
    return rc;
}

ss_err stats_json_to_delta(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                           stats_json_err *e)
{
    return sj__delta(obj, out, user_id_out, false, e);
}

ss_err stats_json_patch_body(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                             stats_json_err *e)
{
    return sj__delta(obj, out, user_id_out, true, e);
}

ss_err stats_json_to_full(const json_t *stats, Statsync__StatsFields **out,
                          const char **user_id_out, stats_json_err *e)
{
    *out = NULL;
    if (user_id_out != NULL)
        *user_id_out = NULL;
    if (!json_is_object(stats))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "stats: must be an object");

    Statsync__StatsFields *f = sj__new_fields();
    if (f == NULL)
        return sj__fail(e, SS_ERR_INTERNAL, "out of memory");
    ss_err rc = SS_OK;
    const char *uid = NULL;
    bool have_updated = false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)stats, key, v) {
        if (strcmp(key, "updatedAt") == 0) {
            if (!json_is_string(v)) {
                rc = sj__fail(e, SS_ERR_INVALID_TYPE, "updatedAt: must be an RFC 3339 string");
            } else if (ss_rfc3339_parse(json_string_value(v), json_string_length(v),
                                        &f->updated_at_ms) != 0) {
                rc = sj__fail(e, SS_ERR_INVALID_VALUE,
                              "updatedAt: not an RFC 3339 date-time (e.g. "
                              "2024-01-15T10:30:00.000Z)");
            } else {
                f->has_updated_at_ms = 1;
                have_updated = true;
            }
        } else if (strcmp(key, "version") == 0) {
            int64_t ignored;
            rc = sj__int(v, "version", &ignored, e);
            if (rc == SS_OK && ignored < 0)
                rc = sj__fail(e, SS_ERR_INVALID_VALUE, "version: must not be negative");
        } else if (strcmp(key, "userId") == 0) {
            rc = sj__user_id(v, "userId", &uid, e);
        } else {
            const sj_field *fd = sj__lookup(key);
            if (fd == NULL)
                rc = sj__fail(e, SS_ERR_UNKNOWN_FIELD, "%s: unknown field",
                              sj__printable(key, (char[SJ_KEY_MAX]){0}));
            else
                rc = sj__set_field(f, fd, v, fd->name, e);
        }
        if (rc != SS_OK)
            goto fail;
    }
    if (!have_updated) {
        rc = sj__fail(e, SS_ERR_BAD_REQUEST,
                      "updatedAt: required for a full write (last write wins on it)");
        goto fail;
    }
    if (user_id_out != NULL)
        *user_id_out = uid;
    *out = f;
    sj__ok(e);
    return SS_OK;
fail:
    statsync__stats_fields__free_unpacked(f, NULL);
    return rc;
}

/* ---- envelopes (DESIGN §2: tolerant; the data inside stays strict) -------------- */

ss_err stats_json_op_id(const json_t *v, const char **out, stats_json_err *e)
{
    *out = NULL;
    if (v == NULL)
        return SS_OK;
    if (!json_is_string(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "opId must be a string");
    size_t n = json_string_length(v);
    if (n == 0 || n > STATS_JSON_OPID_MAX)
        return sj__fail(e, SS_ERR_INVALID_VALUE, "opId must be 1-%d characters",
                        STATS_JSON_OPID_MAX);
    *out = json_string_value(v);
    return SS_OK;
}

ss_err stats_json_update_envelope(const json_t *arg, stats_json_update *u, stats_json_err *e)
{
    memset(u, 0, sizeof(*u));
    if (!json_is_object(arg))
        return sj__fail(e, SS_ERR_INVALID_JSON, "expected an object");
    /* Only these members are looked at; any other (ts, seq, clientId,
     * source, ...) is the client's own and ignored. */
    const json_t *op_id = json_object_get(arg, "opId");
    u->delta = json_object_get(arg, "delta");
    u->stats = json_object_get(arg, "stats");
    u->ops = json_object_get(arg, "ops");
    if ((u->delta != NULL) + (u->stats != NULL) + (u->ops != NULL) != 1) {
        memset(u, 0, sizeof(*u));
        return sj__fail(e, SS_ERR_BAD_REQUEST, "exactly one of delta, stats or ops is required");
    }
    ss_err rc = SS_OK;
    if (u->ops != NULL) {
        /* a batch-wide opId would let a retry double-apply: each op has its own */
        if (op_id != NULL)
            rc = sj__fail(e, SS_ERR_BAD_REQUEST, "opId goes inside each of ops");
        else if (!json_is_array(u->ops) || json_array_size(u->ops) == 0 ||
                 json_array_size(u->ops) > STATS_JSON_MAX_OPS)
            rc = sj__fail(e, SS_ERR_INVALID_VALUE, "ops must be an array of 1-%d operations",
                          STATS_JSON_MAX_OPS);
    } else {
        rc = stats_json_op_id(op_id, &u->op_id, e);
    }
    if (rc != SS_OK) {
        memset(u, 0, sizeof(*u));
        return rc;
    }
    sj__ok(e);
    return SS_OK;
}

ss_err stats_json_batch_op(const json_t *op, size_t i, const json_t **op_id,
                           const json_t **delta, stats_json_err *e)
{
    *op_id = NULL;
    *delta = NULL;
    if (!json_is_object(op))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "each of ops must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)op, key, v) {
        /* clientId / seq: how the SDK numbers its ops (DESIGN §4); accepted
         * here so an SDK batch is not refused, not used yet */
        if (strcmp(key, "opId") && strcmp(key, "delta") && strcmp(key, "clientId") &&
            strcmp(key, "seq")) {
            char k[40];
            return sj__fail(e, SS_ERR_UNKNOWN_FIELD, "ops[%zu].%s: unknown field", i,
                            stats_json_printable(key, k, sizeof(k)));
        }
    }
    const json_t *d = json_object_get(op, "delta");
    if (d == NULL)
        return sj__fail(e, SS_ERR_BAD_REQUEST, "ops[%zu]: each of ops needs a delta", i);
    *op_id = json_object_get(op, "opId");
    *delta = d;
    sj__ok(e);
    return SS_OK;
}

ss_err stats_json_update_body(const json_t *body, const json_t **stats,
                              const char **user_id_out, stats_json_err *e)
{
    *stats = NULL;
    *user_id_out = NULL;
    if (!json_is_object(body))
        return sj__fail(e, SS_ERR_INVALID_JSON, "the body must be a JSON object");
    /* Only these members are looked at; any other (clientTs, seq, ...) is
     * the client's own and ignored. */
    const json_t *s = json_object_get(body, "stats");
    const json_t *uid = json_object_get(body, "userId");
    const char *u = NULL;
    if (uid != NULL) {
        ss_err rc = sj__user_id(uid, "userId", &u, e);
        if (rc != SS_OK)
            return rc;
    }
    if (s == NULL)
        return sj__fail(e, SS_ERR_BAD_REQUEST, "stats: required");
    *stats = s;
    *user_id_out = u;
    sj__ok(e);
    return SS_OK;
}

/* ---- protobuf -> JSON ------------------------------------------------------------ */

/* Stored lastGameResults text -> JSON (null when absent, "null" or unreadable). */
static json_t *sj__results_json(const char *text)
{
    if (text == NULL)
        return json_null();
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return json_null();
    }
    return j;
}

static json_t *sj__doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_real(isfinite(v[i]) ? v[i] : 0.0));
    return a;
}

static json_t *sj__int_json(int64_t v)
{
    return json_integer((json_int_t)v);
}

json_t *stats_json_from_doc(const Statsync__Document *doc)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    const char *base = (const char *)doc;
    json_object_set_new(o, "userId", json_string(doc->user_id ? doc->user_id : ""));
    for (size_t i = 0; i < SJ_NFIELDS; i++) {
        const sj_field *fd = &sj_fields[i];
        json_t *v = NULL;
        switch (fd->kind) {
        case SJ_INT: /* absent = 0: proto2 semantics of an optional without default */
            v = sj__int_json(*(const protobuf_c_boolean *)(base + fd->d_has)
                                 ? *(const int64_t *)(base + fd->d_val)
                                 : 0);
            break;
        case SJ_NUM: {
            double d = *(const protobuf_c_boolean *)(base + fd->d_has)
                           ? *(const double *)(base + fd->d_val)
                           : 0.0;
            v = json_real(isfinite(d) ? d : 0.0);
            break;
        }
        case SJ_TIMES:
            v = sj__doubles(doc->time_per_question, doc->n_time_per_question);
            break;
        case SJ_RESULTS:
            v = sj__results_json(doc->last_game_results);
            break;
        }
        json_object_set_new(o, fd->name, v);
    }
    char ts[SS_RFC3339_LEN];
    ss_rfc3339_format(doc->has_updated_at_ms ? doc->updated_at_ms : 0, ts);
    json_object_set_new(o, "updatedAt", json_string(ts));
    uint64_t ver = doc->has_version ? doc->version : 0;
    json_object_set_new(o, "version",
                        json_integer((json_int_t)(ver > (uint64_t)STATS_JSON_MAX_SAFE_INT
                                                      ? (uint64_t)STATS_JSON_MAX_SAFE_INT
                                                      : ver)));
    return o;
}

/* The fields present in f as a JSON object. */
static json_t *sj__fields_json(const Statsync__StatsFields *f)
{
    json_t *o = json_object();
    const char *base = (const char *)f;
    for (size_t i = 0; o != NULL && i < SJ_NFIELDS; i++) {
        const sj_field *fd = &sj_fields[i];
        json_t *v = NULL;
        switch (fd->kind) {
        case SJ_INT:
            if (*(const protobuf_c_boolean *)(base + fd->f_has))
                v = sj__int_json(*(const int64_t *)(base + fd->f_val));
            break;
        case SJ_NUM:
            if (*(const protobuf_c_boolean *)(base + fd->f_has)) {
                double d = *(const double *)(base + fd->f_val);
                v = json_real(isfinite(d) ? d : 0.0);
            }
            break;
        case SJ_TIMES:
            if (f->time_per_question != NULL)
                v = sj__doubles(f->time_per_question->values, f->time_per_question->n_values);
            break;
        case SJ_RESULTS:
            if (f->last_game_results != NULL)
                v = sj__results_json(f->last_game_results);
            break;
        }
        if (v != NULL)
            json_object_set_new(o, fd->name, v);
    }
    return o;
}

json_t *stats_json_from_delta(const Statsync__Delta *d)
{
    json_t *o = d->add ? sj__fields_json(d->add) : json_object();
    if (o != NULL && d->set != NULL)
        json_object_set_new(o, "__set", sj__fields_json(d->set));
    return o;
}

json_t *stats_json_default_doc(const char *user_id)
{
    Statsync__Document doc = STATSYNC__DOCUMENT__INIT;
    doc.user_id = (char *)user_id;
    char *base = (char *)&doc;
    for (size_t i = 0; i < SJ_NFIELDS; i++) {
        const sj_field *fd = &sj_fields[i];
        if (fd->kind == SJ_INT) {
            *(protobuf_c_boolean *)(base + fd->d_has) = 1;
            *(int64_t *)(base + fd->d_val) = fd->def;
        }
    }
    return stats_json_from_doc(&doc);
}
