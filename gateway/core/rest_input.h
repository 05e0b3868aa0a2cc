/* rest_input.h — pure checks of REST request input (no MHD, no I/O), so the
 * rules on headers and raw bodies can be unit-tested on their own. */
#ifndef REST_INPUT_H
#define REST_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "application/json", any case, optionally followed by parameters
 * ("; charset=utf-8"). NULL (no header) is false. */
bool rest_content_type_is_json(const char *content_type);

/* Idempotency-Key: 1..max bytes of printable ASCII (0x20..0x7e). */
bool rest_idem_key_valid(const char *key, size_t max);

/* True when the JSON text nests arrays/objects deeper than max_depth
 * (a top-level object is depth 1). Brackets inside strings do not count.
 * Run before parsing, so a hostile body never reaches the parser's
 * recursion; malformed text is left for the parser to refuse. */
bool rest_json_too_deep(const char *text, size_t len, int max_depth);

/* Content-Length value: digits only, no overflow. Returns 0 or -1. */
int rest_parse_content_length(const char *s, uint64_t *out);

#endif
