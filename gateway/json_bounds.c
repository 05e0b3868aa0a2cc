/* json_bounds.c — see json_bounds.h. */
#include "json_bounds.h"

#include <stdbool.h>

size_t json_bounds_elements(const char *text, size_t len, size_t limit)
{
    size_t n = 0;
    bool in_string = false;
    bool opened = false; /* just after '[' or '{': the next token is a first item */
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (opened && c != ']' && c != '}')
            n++;
        opened = false;
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '[':
        case '{':
            opened = true;
            break;
        case ',':
            n++;
            break;
        default:
            break;
        }
        if (n > limit)
            return limit + 1;
    }
    return n;
}
