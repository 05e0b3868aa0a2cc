/* json_bounds.c — see json_bounds.h. */
#include "json_bounds.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

void json_bounds_scan(const char *text, size_t len, int depth_limit, size_t elem_limit,
                      json_bounds *out)
{
    int depth = 0;
    bool in_string = false;
    bool opened = false; /* just after '[' or '{': the next token is a first item */
    out->depth = 0;
    out->elements = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped char; \uXXXX digits are harmless */
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (opened && c != ']' && c != '}')
            out->elements++;
        opened = false;
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '[':
        case '{':
            opened = true;
            if (++depth > out->depth) {
                out->depth = depth;
                if (depth > depth_limit) {
                    out->depth = depth_limit + 1;
                    return;
                }
            }
            break;
        case ']':
        case '}':
            if (depth > 0) /* stray closers are the parser's to refuse */
                depth--;
            break;
        case ',':
            out->elements++;
            break;
        default:
            break;
        }
        if (out->elements > elem_limit) {
            out->elements = elem_limit + 1;
            return;
        }
    }
}

size_t json_bounds_elements(const char *text, size_t len, size_t limit)
{
    json_bounds b;
    json_bounds_scan(text, len, INT_MAX - 1, limit, &b);
    return b.elements;
}
