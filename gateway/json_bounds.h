/* json_bounds.h — a bound on how many values a client's JSON text holds,
 * checked on the raw bytes before any parser allocates for them (REST bodies
 * and Socket.IO packets alike). Pure. */
#ifndef JSON_BOUNDS_H
#define JSON_BOUNDS_H

#include <stddef.h>

/* Counts array items plus object members over every container of the text
 * (so `{"a":[1,2]}` holds 3). Brackets and commas inside strings do not
 * count; malformed text is counted as far as it goes (the parser refuses it
 * later). Stops early and returns limit + 1 once past `limit`. */
size_t json_bounds_elements(const char *text, size_t len, size_t limit);

#endif
