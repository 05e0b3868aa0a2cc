/* stats_json.c — client JSON <-> protobuf mapping (see stats_json.h).
 *
 * The document's fields are the table of common/ss_doc_fields.h
 * (ss_doc_fields: JSON name, kind, where each lives in StatsFields and in
 * Document, default, limits). Parsing walks the input object and looks each
 * key up in the table, so an unknown key, a wrong type or an out-of-range
 * value is caught at the key that carries it; rendering walks the table.
 * Nothing is kept from a rejected input (all-or-nothing). Pure: no I/O, no
 * globals. */
#include "stats_json.h"

#include "ss_client_seq.h"
#include "ss_time.h"
#include "ss_userid.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static ss_err sj__oom(stats_json_err *e)
{
    return sj__fail(e, SS_ERR_INTERNAL, "out of memory");
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

/* ---- JSON -> protobuf ------------------------------------------------------------ */

/* An integer field: a JSON integer, or a real with an integral value
 * (10.0), within +-(2^53-1). */
static ss_err sj__int(const json_t *v, const char *path, int64_t *out, stats_json_err *e)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > SS_DOC_MAX_SAFE_INT || i < -SS_DOC_MAX_SAFE_INT)
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
        if (d > (double)SS_DOC_MAX_SAFE_INT || d < -(double)SS_DOC_MAX_SAFE_INT)
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

/* An array of at most max finite numbers. */
static ss_err sj__times(const json_t *v, const char *path, int64_t max, Statsync__DoubleList **out,
                        stats_json_err *e)
{
    if (!json_is_array(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be an array of numbers", path);
    size_t n = json_array_size(v);
    if (n > (size_t)max)
        return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: more than %d values", path, (int)max);
    Statsync__DoubleList *l = malloc(sizeof(*l));
    if (l == NULL)
        return sj__oom(e);
    statsync__double_list__init(l);
    if (n > 0) {
        l->values = malloc(n * sizeof(double));
        if (l->values == NULL) {
            free(l);
            return sj__oom(e);
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

/* An object or null, at most max bytes of compact JSON text. */
static ss_err sj__results(const json_t *v, const char *path, int64_t max, char **out,
                          stats_json_err *e)
{
    if (!json_is_object(v) && !json_is_null(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%s: must be an object or null", path);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return sj__oom(e);
    if (strlen(text) > (size_t)max) {
        free(text);
        return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: larger than %d bytes", path, (int)max);
    }
    *out = text;
    return SS_OK;
}

/* Sets one table field of f from v. path names the field in messages. */
static ss_err sj__set_field(Statsync__StatsFields *f, const ss_doc_field *fd, const json_t *v,
                            const char *path, stats_json_err *e)
{
    void *slot = ss_doc_slot(fd, f);
    ss_err rc;
    switch (fd->kind) {
    case SS_DOC_INT:
        rc = sj__int(v, path, slot, e);
        break;
    case SS_DOC_DOUBLE:
        rc = sj__num(v, path, slot, e);
        break;
    case SS_DOC_DOUBLES:
        return sj__times(v, path, fd->max, slot, e);
    case SS_DOC_OBJECT:
        return sj__results(v, path, fd->max, slot, e);
    default:
        return sj__fail(e, SS_ERR_INTERNAL, "bad field table");
    }
    if (rc == SS_OK)
        ss_doc_set_given(fd, f);
    return rc;
}

/* The stats field named key, from v, into f. path names it in messages;
 * NULL: the key itself (a top-level member). */
static ss_err sj__data_field(Statsync__StatsFields *f, const char *key, const json_t *v,
                             const char *path, stats_json_err *e)
{
    const ss_doc_field *fd = ss_doc_field_find(key);
    if (fd == NULL)
        return sj__fail(e, SS_ERR_UNKNOWN_FIELD, "%s: unknown field",
                        path != NULL ? path : sj__printable(key, (char[SJ_KEY_MAX]){0}));
    return sj__set_field(f, fd, v, path != NULL ? path : fd->name, e);
}

/* A new, initialised message of desc, or NULL (out of memory). Freed with
 * protobuf_c_message_free_unpacked, like a decoded one. */
static void *sj__new(const ProtobufCMessageDescriptor *desc)
{
    void *m = malloc(desc->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

/* *part, allocated on first use: a delta part that stays NULL is left out
 * of the message rather than sent empty. */
static ss_err sj__part(Statsync__StatsFields **part, stats_json_err *e)
{
    if (*part == NULL && (*part = sj__new(&statsync__stats_fields__descriptor)) == NULL)
        return sj__oom(e);
    return SS_OK;
}

/* The end of every parse into the new message m (NULL: out of memory, rc
 * says so). On SS_OK returns m and hands out uid when the caller wants it;
 * else frees m and returns NULL, the userId NULL too. */
static void *sj__end(ss_err rc, void *m, const char **user_id_out, const char *uid,
                     stats_json_err *e)
{
    if (user_id_out != NULL)
        *user_id_out = rc == SS_OK ? uid : NULL;
    if (rc == SS_OK) {
        sj__ok(e);
        return m;
    }
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    return NULL;
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

/* The document fields of a __set object into d->set; prefix is "__set". */
static ss_err sj__parse_set(const json_t *obj, Statsync__Delta *d, stats_json_err *e)
{
    if (!json_is_object(obj))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "__set: must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        char path[96];
        snprintf(path, sizeof(path), "__set.%s", sj__printable(key, (char[SJ_KEY_MAX]){0}));
        ss_err rc = sj__part(&d->set, e);
        if (rc == SS_OK)
            rc = sj__data_field(d->set, key, v, path, e);
        if (rc != SS_OK)
            return rc;
    }
    return SS_OK;
}

ss_err stats_json_client_seq(const json_t *client_id, const json_t *seq, const char *where,
                             stats_json_seq *out, stats_json_err *e)
{
    out->client_id = NULL;
    out->seq = 0;
    const char *w = where ? where : "";
    if ((client_id == NULL) != (seq == NULL))
        return sj__fail(e, SS_ERR_BAD_REQUEST, "%sclientId and %sseq go together: give both or "
                        "neither", w, w);
    if (client_id == NULL)
        return SS_OK;
    if (!json_is_string(client_id))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "%sclientId: must be a string", w);
    if (!ss_client_id_valid(json_string_value(client_id), json_string_length(client_id)))
        return sj__fail(e, SS_ERR_INVALID_VALUE,
                        "%sclientId: must be 1-%d characters of A-Z a-z 0-9 _ - (a UUID is fine)",
                        w, SS_CLIENT_ID_MAX);
    char path[48];
    snprintf(path, sizeof(path), "%sseq", w);
    int64_t n = 0;
    ss_err rc = sj__int(seq, path, &n, e);
    if (rc != SS_OK)
        return rc;
    if (n < 1)
        return sj__fail(e, SS_ERR_INVALID_VALUE, "%s: must be 1 or more", path);
    out->client_id = json_string_value(client_id);
    out->seq = (uint64_t)n;
    return SS_OK;
}

/* The envelope members of a REST patch body an SDK may add: opId (ignored:
 * REST idempotency is the Idempotency-Key header), clientId and seq (read
 * after the data, stats_json_client_seq). */
static bool sj__patch_envelope(const char *key)
{
    return strcmp(key, "clientId") == 0 || strcmp(key, "seq") == 0 || strcmp(key, "opId") == 0;
}

/* The members of a delta object into d; *uid: its userId when uid is not
 * NULL (else "userId" is an unknown field); patch: a REST patch body
 * (sj__patch_envelope members are not data). */
static ss_err sj__delta_members(const json_t *obj, Statsync__Delta *d, bool patch,
                                const char **uid, stats_json_err *e)
{
    if (!json_is_object(obj))
        return sj__fail(e, SS_ERR_INVALID_JSON, "a delta must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        ss_err rc;
        if (strcmp(key, "__set") == 0) {
            rc = sj__parse_set(v, d, e);
        } else if (strcmp(key, "userId") == 0 && uid != NULL) {
            rc = sj__user_id(v, "userId", uid, e);
        } else if (patch && sj__patch_envelope(key)) {
            continue;
        } else {
            rc = sj__part(&d->add, e);
            if (rc == SS_OK)
                rc = sj__data_field(d->add, key, v, NULL, e);
        }
        if (rc != SS_OK)
            return rc;
    }
    if (d->add == NULL && d->set == NULL)
        return sj__fail(e, SS_ERR_BAD_REQUEST, "empty delta: give at least one stats field");
    return SS_OK;
}

/* A delta; patch: a REST patch body, whose clientId / seq go to *sq. */
static ss_err sj__delta(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                        bool patch, stats_json_seq *sq, stats_json_err *e)
{
    Statsync__Delta *d = sj__new(&statsync__delta__descriptor);
    const char *uid = NULL;
    stats_json_seq numbering = {NULL, 0};
    ss_err rc = d == NULL ? sj__oom(e)
                          : sj__delta_members(obj, d, patch, user_id_out != NULL ? &uid : NULL, e);
    if (rc == SS_OK && patch) /* after the data: its errors are named first */
        rc = stats_json_client_seq(json_object_get(obj, "clientId"), json_object_get(obj, "seq"),
                                   NULL, &numbering, e);
    if (sq != NULL)
        *sq = numbering;
    *out = sj__end(rc, d, user_id_out, uid, e);
    return rc;
}

ss_err stats_json_to_delta(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                           stats_json_err *e)
{
    return sj__delta(obj, out, user_id_out, false, NULL, e);
}

ss_err stats_json_patch_body(const json_t *obj, Statsync__Delta **out, const char **user_id_out,
                             stats_json_seq *sq, stats_json_err *e)
{
    return sj__delta(obj, out, user_id_out, true, sq, e);
}

/* A full write's updatedAt: an RFC 3339 string, into f. */
static ss_err sj__updated_at(const json_t *v, Statsync__StatsFields *f, stats_json_err *e)
{
    if (!json_is_string(v))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "updatedAt: must be an RFC 3339 string");
    if (ss_rfc3339_parse(json_string_value(v), json_string_length(v), &f->updated_at_ms) != 0)
        return sj__fail(e, SS_ERR_INVALID_VALUE,
                        "updatedAt: not an RFC 3339 date-time (e.g. "
                        "2024-01-15T10:30:00.000Z)");
    f->has_updated_at_ms = 1;
    return SS_OK;
}

/* The members of a full write's stats object into f; *uid: its userId. */
static ss_err sj__full_members(const json_t *stats, Statsync__StatsFields *f, const char **uid,
                               stats_json_err *e)
{
    if (!json_is_object(stats))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "stats: must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)stats, key, v) {
        ss_err rc;
        if (strcmp(key, "updatedAt") == 0) {
            rc = sj__updated_at(v, f, e);
        } else if (strcmp(key, "version") == 0) {
            int64_t ignored;
            rc = sj__int(v, "version", &ignored, e);
            if (rc == SS_OK && ignored < 0)
                rc = sj__fail(e, SS_ERR_INVALID_VALUE, "version: must not be negative");
        } else if (strcmp(key, "userId") == 0) {
            rc = sj__user_id(v, "userId", uid, e);
        } else {
            rc = sj__data_field(f, key, v, NULL, e);
        }
        if (rc != SS_OK)
            return rc;
    }
    if (!f->has_updated_at_ms)
        return sj__fail(e, SS_ERR_BAD_REQUEST,
                        "updatedAt: required for a full write (last write wins on it)");
    return SS_OK;
}

ss_err stats_json_to_full(const json_t *stats, Statsync__StatsFields **out,
                          const char **user_id_out, stats_json_err *e)
{
    Statsync__StatsFields *f = sj__new(&statsync__stats_fields__descriptor);
    const char *uid = NULL;
    ss_err rc = f == NULL ? sj__oom(e) : sj__full_members(stats, f, &uid, e);
    *out = sj__end(rc, f, user_id_out, uid, e);
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
                           const json_t **delta, stats_json_seq *sq, stats_json_err *e)
{
    *op_id = NULL;
    *delta = NULL;
    *sq = (stats_json_seq){NULL, 0};
    if (!json_is_object(op))
        return sj__fail(e, SS_ERR_INVALID_TYPE, "each of ops must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)op, key, v) {
        /* clientId / seq: how the SDK numbers its ops (DESIGN §4) */
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
    char where[32];
    snprintf(where, sizeof(where), "ops[%zu].", i);
    ss_err rc = stats_json_client_seq(json_object_get(op, "clientId"), json_object_get(op, "seq"),
                                      where, sq, e);
    if (rc != SS_OK)
        return rc;
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

/* An INT or DOUBLE value as JSON; NULL val = absent = 0 (proto2 semantics of
 * an optional without default). A non-finite double becomes 0. */
static json_t *sj__scalar_json(ss_doc_kind kind, const void *val)
{
    if (kind == SS_DOC_INT) {
        int64_t i = val != NULL ? *(const int64_t *)val : 0;
        return json_integer((json_int_t)i);
    }
    double d = val != NULL ? *(const double *)val : 0.0;
    return json_real(isfinite(d) ? d : 0.0);
}

/* Field fd of a Document as JSON. */
static json_t *sj__doc_field_json(const ss_doc_field *fd, const Statsync__Document *doc)
{
    const char *base = (const char *)doc;
    const void *val = base + fd->doc_val;
    switch (fd->kind) {
    case SS_DOC_INT:
    case SS_DOC_DOUBLE: {
        bool has = *(const protobuf_c_boolean *)(base + fd->doc_has);
        return sj__scalar_json(fd->kind, has ? val : NULL);
    }
    case SS_DOC_DOUBLES:
        return sj__doubles(*(double *const *)val, *(const size_t *)(base + fd->doc_has));
    case SS_DOC_OBJECT:
        return sj__results_json(*(char *const *)val);
    }
    return NULL;
}

json_t *stats_json_from_doc(const Statsync__Document *doc)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "userId", json_string(doc->user_id ? doc->user_id : ""));
    for (size_t i = 0; i < SS_DOC_NFIELDS; i++)
        json_object_set_new(o, ss_doc_fields[i].name, sj__doc_field_json(&ss_doc_fields[i], doc));
    char ts[SS_RFC3339_LEN];
    ss_rfc3339_format(doc->has_updated_at_ms ? doc->updated_at_ms : 0, ts);
    json_object_set_new(o, "updatedAt", json_string(ts));
    uint64_t ver = doc->has_version ? doc->version : 0;
    json_object_set_new(o, "version",
                        json_integer((json_int_t)(ver > (uint64_t)SS_DOC_MAX_SAFE_INT
                                                      ? (uint64_t)SS_DOC_MAX_SAFE_INT
                                                      : ver)));
    return o;
}

/* ---- the document as JSON text, directly -------------------------------------- */

typedef struct sj_text {
    char *p;
    size_t len, cap;
    bool failed;
} sj_text;

static void sj__put(sj_text *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sj__puts(sj_text *b, const char *s)
{
    sj__put(b, s, strlen(s));
}

/* A string as jansson writes it (valid UTF-8 as is; '"', '\\' and control
 * characters escaped). */
static void sj__string(sj_text *b, const char *s)
{
    sj__put(b, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '\0' && c != '"' && c != '\\' && c >= 0x20)
            continue;
        sj__put(b, run, (size_t)(s - run));
        if (c == '\0')
            break;
        char esc[8];
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                      : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (e == NULL) {
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            e = esc;
        }
        sj__puts(b, e);
        run = s + 1;
    }
    sj__put(b, "\"", 1);
}

/* A JSON value jansson writes (compact): the field kinds not worth doing by
 * hand (a stored lastGameResults is parsed and written again, as before). */
static void sj__json(sj_text *b, json_t *v)
{
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (t == NULL)
        b->failed = true;
    else
        sj__puts(b, t);
    free(t);
    json_decref(v);
}

/* A real as jansson writes it: "%.17g", with ".0" when that reads as an
 * integer and the exponent without '+' or leading zeros. */
static void sj__real(sj_text *b, double d)
{
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.17g", isfinite(d) ? d : 0.0);
    if (n < 0 || (size_t)n >= sizeof(buf) - 3) {
        b->failed = true;
        return;
    }
    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL)
        memcpy(buf + n, ".0", 3);
    char *e = strchr(buf, 'e');
    if (e != NULL) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        memmove(start, end, strlen(end) + 1);
    }
    sj__puts(b, buf);
}

static void sj__int_text(sj_text *b, int64_t i)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, i);
    sj__put(b, buf, (size_t)n);
}

/* ,"name":value of field fd of doc (as sj__doc_field_json). */
static void sj__doc_field_text(sj_text *b, const ss_doc_field *fd, const Statsync__Document *doc)
{
    const char *base = (const char *)doc;
    const void *val = base + fd->doc_val;
    sj__put(b, ",\"", 2);
    sj__puts(b, fd->name);
    sj__put(b, "\":", 2);
    bool has = fd->kind == SS_DOC_INT || fd->kind == SS_DOC_DOUBLE
                   ? *(const protobuf_c_boolean *)(base + fd->doc_has)
                   : false;
    if (fd->kind == SS_DOC_INT) {
        sj__int_text(b, has ? *(const int64_t *)val : 0);
    } else if (fd->kind == SS_DOC_DOUBLE) {
        sj__real(b, has ? *(const double *)val : 0.0);
    } else if (fd->kind == SS_DOC_DOUBLES) {
        const double *v = *(double *const *)val;
        size_t n = *(const size_t *)(base + fd->doc_has);
        sj__put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                sj__put(b, ",", 1);
            sj__real(b, v[i]);
        }
        sj__put(b, "]", 1);
    } else {
        const char *text = *(char *const *)val;
        if (text == NULL)
            sj__put(b, "null", 4);
        else
            sj__json(b, sj__results_json(text));
    }
}

char *stats_json_doc_text(const Statsync__Document *doc, size_t *len)
{
    const char *uid = doc->user_id ? doc->user_id : "";
    if (!ss_userid_valid_cstr(uid) && uid[0] != '\0') { /* jansson's own checks, as before */
        json_t *o = stats_json_from_doc(doc);
        char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        *len = t ? strlen(t) : 0;
        return t;
    }
    sj_text b = {NULL, 0, 0, false};
    sj__puts(&b, "{\"userId\":");
    sj__string(&b, uid);
    for (size_t i = 0; i < SS_DOC_NFIELDS; i++)
        sj__doc_field_text(&b, &ss_doc_fields[i], doc);
    char ts[SS_RFC3339_LEN];
    ss_rfc3339_format(doc->has_updated_at_ms ? doc->updated_at_ms : 0, ts);
    sj__puts(&b, ",\"updatedAt\":\"");
    sj__puts(&b, ts);
    uint64_t ver = doc->has_version ? doc->version : 0;
    sj__puts(&b, "\",\"version\":");
    sj__int_text(&b, (int64_t)(ver > (uint64_t)SS_DOC_MAX_SAFE_INT ? (uint64_t)SS_DOC_MAX_SAFE_INT : ver));
    sj__put(&b, "}", 1);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* Field fd of f as JSON; f gives it. */
static json_t *sj__given_field_json(const ss_doc_field *fd, const Statsync__StatsFields *f)
{
    const void *val = ss_doc_in(fd, f);
    switch (fd->kind) {
    case SS_DOC_INT:
    case SS_DOC_DOUBLE:
        return sj__scalar_json(fd->kind, val);
    case SS_DOC_DOUBLES: {
        const Statsync__DoubleList *l = *(Statsync__DoubleList *const *)val;
        return sj__doubles(l->values, l->n_values);
    }
    case SS_DOC_OBJECT:
        return sj__results_json(*(char *const *)val);
    }
    return NULL;
}

/* The fields present in f as a JSON object. */
static json_t *sj__fields_json(const Statsync__StatsFields *f)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < SS_DOC_NFIELDS; i++) {
        const ss_doc_field *fd = &ss_doc_fields[i];
        if (ss_doc_given(fd, f))
            json_object_set_new(o, fd->name, sj__given_field_json(fd, f));
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
    for (size_t i = 0; i < SS_DOC_NFIELDS; i++) {
        const ss_doc_field *fd = &ss_doc_fields[i];
        if (fd->kind == SS_DOC_INT)
            *(int64_t *)(base + fd->doc_val) = fd->def;
        else if (fd->kind == SS_DOC_DOUBLE)
            *(double *)(base + fd->doc_val) = (double)fd->def;
        else
            continue; /* DOUBLES: [], OBJECT: null */
        *(protobuf_c_boolean *)(base + fd->doc_has) = 1;
    }
    return stats_json_from_doc(&doc);
}
