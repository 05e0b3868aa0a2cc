/* json_bounds.h — bounds on a client's JSON text (nesting depth and how many
 * values it holds), checked on the raw bytes before any parser allocates for
 * them: REST bodies and Socket.IO packets alike. Pure; one scanner serves
 * every caller. */
#ifndef JSON_BOUNDS_H
#define JSON_BOUNDS_H

#include <stddef.h>

typedef struct json_bounds {
    int depth;       /* deepest array/object nesting seen (top-level object = 1) */
    size_t elements; /* array items + object members over every container */
} json_bounds;

/* Scans text once. Brackets, commas and escapes inside strings do not count;
 * stray closers never take the depth below 0; malformed text is measured as
 * far as it goes (the parser refuses it later). Stops early as soon as depth
 * passes depth_limit (out->depth = depth_limit + 1) or the element count
 * passes elem_limit (out->elements = elem_limit + 1). */
void json_bounds_scan(const char *text, size_t len, int depth_limit, size_t elem_limit,
                      json_bounds *out);

/* Counts array items plus object members (so `{"a":[1,2]}` holds 3); returns
 * limit + 1 once past limit. */
size_t json_bounds_elements(const char *text, size_t len, size_t limit);

#endif
