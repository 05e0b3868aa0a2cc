/* fuzz_common.h — helpers shared by the libFuzzer targets (header only, so
 * the fuzz_*.c glob stays one file per target).
 *
 * Everything here is deterministic: a fixed clock, fixed documents, no
 * randomness, no I/O. A violated invariant calls FUZZ_CHECK, which prints
 * the condition and aborts, so libFuzzer saves the input as a crash. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "doc.h"
#include "merge.h"
#include "ss_error.h"
#include "ss_userid.h"
#include "statsync.pb-c.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fixed clock of every target: 2023-11-14T22:13:20Z plus one minute. */
#define FUZZ_NOW_MS 1700000060000LL
#define FUZZ_NOW_S (FUZZ_NOW_MS / 1000)

#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* A message meant for a client: non-empty, NUL-terminated, and valid UTF-8
 * (it is put in a JSON string; jansson refuses invalid UTF-8). */
static inline void fuzz_check_message(const char *msg, size_t cap)
{
    FUZZ_CHECK(msg != NULL);
    FUZZ_CHECK(memchr(msg, '\0', cap) != NULL);
    FUZZ_CHECK(msg[0] != '\0');
    json_t *s = json_string(msg);
    FUZZ_CHECK(s != NULL);
    json_decref(s);
}

/* A stored-looking document with every field away from its default, the
 * timePerQuestion ring full (so appends drop the oldest) and results set. */
static inline void fuzz_populated_doc(stats_doc *d)
{
    doc_init_defaults(d, "fuzz-user_1");
    d->xp = 1000;
    d->hearts = 3;
    d->diamonds = 50;
    d->level = 7;
    d->streak = 4;
    d->max_streak = 9;
    d->completed_questions = 10;
    d->correct_answers = 8;
    d->wrong_answers = 2;
    d->total_questions = 10;
    d->accuracy = 80;
    d->total_time_spent = 123.5;
    for (size_t i = 0; i < DOC_MAX_TIMES; i++)
        d->times[i] = 0.5 + (double)i;
    d->n_times = DOC_MAX_TIMES;
    FUZZ_CHECK(doc_set_game_results(d, "{\"score\":10,\"mode\":\"daily\"}") == SS_OK);
    d->updated_at_ms = FUZZ_NOW_MS - 3600000;
    d->version = 41;
}

/* The first field of d outside the limits of its row of SS_DOC_FIELDS
 * (INT, DOUBLE: [min, max], finite; DOUBLES: at most max values, all finite;
 * OBJECT: at most max bytes of a JSON object), as its JSON name; NULL when
 * every field is within them. */
#define FUZZ__WITHIN_INT(c, mn, mx) (d->c >= (mn) && d->c <= (mx))
#define FUZZ__WITHIN_DOUBLE(c, mn, mx)                                                      \
    (isfinite(d->c) && d->c >= (double)(mn) && d->c <= (double)(mx))
#define FUZZ__WITHIN_DOUBLES(c, mn, mx) (d->n_times <= (size_t)(mx) && fuzz__times_finite(d))
#define FUZZ__WITHIN_OBJECT(c, mn, mx) (d->c == NULL || fuzz__json_object(d->c, (size_t)(mx)))
#define FUZZ__WITHIN(kind, c, j, dflt, mn, mx, ...)                                         \
    if (!FUZZ__WITHIN_##kind(c, mn, mx))                                                    \
        return j;

static inline bool fuzz__times_finite(const stats_doc *d)
{
    for (size_t i = 0; i < d->n_times; i++)
        if (!isfinite(d->times[i]))
            return false;
    return true;
}

/* text is a JSON object of at most max bytes. */
static inline bool fuzz__json_object(const char *text, size_t max)
{
    json_t *j = json_loads(text, 0, NULL);
    bool ok = json_is_object(j) && strlen(text) <= max;
    json_decref(j);
    return ok;
}

static inline const char *fuzz_doc_outside_limits(const stats_doc *d)
{
    SS_DOC_FIELDS(FUZZ__WITHIN)
    return NULL;
}

/* The invariants every document the merge rules produce must hold
 * (DESIGN.md §3, proto/README.md). */
static inline void fuzz_check_doc(const stats_doc *d)
{
    FUZZ_CHECK(ss_userid_valid_cstr(d->user_id));
    const char *outside = fuzz_doc_outside_limits(d);
    if (outside != NULL)
        fprintf(stderr, "%s is outside the limits of its row in SS_DOC_FIELDS\n", outside);
    FUZZ_CHECK(outside == NULL);
    FUZZ_CHECK(d->max_streak >= d->streak);
    /* accuracy is derived only after an op that moves correct/total without
     * giving accuracy (stats-service/merge.c); a given one is stored as
     * given, so only its range (above) holds for every document */
    FUZZ_CHECK(d->updated_at_ms >= 0);
}

/* The value ranges of a document the service wrote itself (no derived-field
 * consistency: that is what the rules restore after every change). */
static inline bool fuzz_doc_in_range(const stats_doc *d)
{
    return fuzz_doc_outside_limits(d) == NULL && d->updated_at_ms >= 0 &&
           d->updated_at_ms <= SS_DOC_MAX_UPDATED_AT_MS;
}

/* Two documents hold the same values (doubles compared bit for bit). */
static inline bool fuzz_doc_equal(const stats_doc *a, const stats_doc *b)
{
    if (strcmp(a->user_id, b->user_id) != 0)
        return false;
#define FUZZ__EQ(c, j)                                                                      \
    if (a->c != b->c)                                                                       \
        return false;
    DOC_INT_FIELDS(FUZZ__EQ)
#undef FUZZ__EQ
    if (memcmp(&a->total_time_spent, &b->total_time_spent, sizeof(double)) != 0)
        return false;
    if (a->n_times != b->n_times || memcmp(a->times, b->times, a->n_times * sizeof(double)) != 0)
        return false;
    if ((a->last_game_results == NULL) != (b->last_game_results == NULL))
        return false;
    if (a->last_game_results && strcmp(a->last_game_results, b->last_game_results) != 0)
        return false;
    return a->updated_at_ms == b->updated_at_ms && a->version == b->version;
}

/* doc -> stored bytes -> doc gives the same document. */
static inline void fuzz_check_doc_roundtrip(const stats_doc *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(doc_pack(d, &buf, &len) == SS_OK);
    stats_doc back;
    FUZZ_CHECK(doc_unpack(buf, len, &back) == SS_OK);
    FUZZ_CHECK(fuzz_doc_equal(d, &back));
    doc_free(&back);
    free(buf);
}

/* Packs any protobuf-c message into a malloc'ed buffer. */
static inline uint8_t *fuzz_pack(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);
    FUZZ_CHECK(b != NULL);
    *len = protobuf_c_message_pack(m, b);
    FUZZ_CHECK(*len == n);
    return b;
}

/* True when m or a message inside it kept unknown fields. */
static inline bool fuzz_has_unknown(const ProtobufCMessage *m)
{
    if (m->n_unknown_fields > 0)
        return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                if (arr[k] != NULL && fuzz_has_unknown(arr[k]))
                    return true;
            continue;
        }
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
        if (sub != NULL && fuzz_has_unknown(sub))
            return true;
    }
    return false;
}

/* The re-encoding of a decoded message is canonical: decoding it and
 * encoding again gives the same bytes. Returns the first encoding
 * (malloc'ed, caller frees).
 *
 * Not checked when unknown fields were kept: protobuf-c 1.4 accepts a tag
 * written in a non-minimal varint (e.g. 0x80 0x00, field number 0) as an
 * unknown field and re-emits it as 0x00, which no decoder accepts. No
 * statsync code re-packs a decoded message (replies and events are built
 * from fresh structs), so unknown fields never travel on. */
static inline uint8_t *fuzz_check_canonical(const ProtobufCMessage *m, size_t *len)
{
    size_t n1 = 0, n2 = 0;
    uint8_t *b1 = fuzz_pack(m, &n1);
    if (fuzz_has_unknown(m)) {
        *len = n1;
        return b1;
    }
    ProtobufCMessage *again = protobuf_c_message_unpack(m->descriptor, NULL, n1, b1);
    FUZZ_CHECK(again != NULL);
    uint8_t *b2 = fuzz_pack(again, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    protobuf_c_message_free_unpacked(again, NULL);
    free(b2);
    *len = n1;
    return b1;
}

#endif
