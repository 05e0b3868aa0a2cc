/* ss_doc_fields.c — SS_DOC_FIELDS as a run-time table (see ss_doc_fields.h).
 * Constant data; any thread. */
#include "ss_doc_fields.h"

#include <string.h>

#define SS_DOC__SF(m) offsetof(Statsync__StatsFields, m)
#define SS_DOC__DOC(m) offsetof(Statsync__Document, m)

/* The quantifiers of a row, by kind: .has and .doc_has. */
#define SS_DOC__HAS_INT(c) .has = SS_DOC__SF(has_##c), .doc_has = SS_DOC__DOC(has_##c)
#define SS_DOC__HAS_DOUBLE(c) SS_DOC__HAS_INT(c)
#define SS_DOC__HAS_DOUBLES(c) .has = 0, .doc_has = SS_DOC__DOC(n_##c)
#define SS_DOC__HAS_OBJECT(c) .has = 0, .doc_has = 0

#define SS_DOC__ROW(knd, c, j, dflt, mn, mx, rule, ...)                                          \
    [SS_DOC_F_##c] = {.name = j,                                                                   \
                      .kind = SS_DOC_##knd,                                                       \
                      SS_DOC__HAS_##knd(c),                                                       \
                      .val = SS_DOC__SF(c),                                                        \
                      .doc_val = SS_DOC__DOC(c),                                                   \
                      .def = dflt,                                                                 \
                      .min = mn,                                                                   \
                      .max = mx},

const ss_doc_field ss_doc_fields[SS_DOC_NFIELDS] = {SS_DOC_FIELDS(SS_DOC__ROW)};

const ss_doc_field *ss_doc_field_find(const char *name)
{
    for (size_t i = 0; i < SS_DOC_NFIELDS; i++)
        if (strcmp(ss_doc_fields[i].name, name) == 0)
            return &ss_doc_fields[i];
    return NULL;
}
