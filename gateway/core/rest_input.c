/* rest_input.c — pure checks of REST request input (see rest_input.h). */
#include "rest_input.h"

#include "json_bounds.h"

#include <string.h>
#include <strings.h>

bool rest_content_type_is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    ct += sizeof(want) - 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

bool rest_idem_key_valid(const char *key, size_t max)
{
    if (key == NULL || key[0] == '\0')
        return false;
    size_t i = 0;
    for (; key[i] != '\0'; i++) {
        if (i >= max)
            return false;
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c > 0x7e)
            return false;
    }
    return true;
}

bool rest_json_too_deep(const char *text, size_t len, int max_depth)
{
    json_bounds b;
    json_bounds_scan(text, len, max_depth, SIZE_MAX - 1, &b);
    return b.depth > max_depth;
}

int rest_parse_content_length(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}
